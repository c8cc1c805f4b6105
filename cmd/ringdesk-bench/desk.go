package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ringdesk/ringdesk"
	"github.com/ringdesk/ringdesk/agentdesk"
)

// desks are the agents' desk WebSocket clients: logged in ready, they ack
// every pop, end every wrap-up at once, and go ready again after a missed
// call. They time each pop from the caller's INVITE (its send time rides
// in the caller name) to its arrival.
type desks struct {
	wrapUp bool // end wrap-up when the state says so

	mu          sync.Mutex
	pops        []time.Duration // this step's INVITE→pop times
	noStamp     int             // pops whose caller name carried no send time
	unavailable int             // pops whose customer lookup did not make it

	ackErrors atomic.Int64 // commands refused
	dropped   atomic.Int64 // connections lost before Close
	closing   atomic.Bool
	clients   []*agentdesk.Client
	wg        sync.WaitGroup
}

// connectDesks dials one desk per token and logs each in ready.
func connectDesks(ctx context.Context, url string, tokens []string, wrapUp bool) (*desks, error) {
	d := &desks{wrapUp: wrapUp}
	for i, tok := range tokens {
		c, err := agentdesk.Dial(ctx, url, tok)
		if err != nil {
			d.Close()
			return nil, fmt.Errorf("desk %d: %w", i+1, err)
		}
		d.clients = append(d.clients, c)
		// hello (and the routing state) come first; login is answered by
		// an ack, which the reader below counts if it is a refusal.
		if _, err := c.Send(agentdesk.TypeLogin, map[string]bool{"ready": true}); err != nil {
			d.Close()
			return nil, fmt.Errorf("desk %d login: %w", i+1, err)
		}
		d.wg.Add(1)
		go d.read(c)
	}
	return d, nil
}

// deskMsg is the part of a desk message the bench desks act on: decoding
// only these fields keeps the load generator's CPU (on the same machine as
// ringdesk) low.
type deskMsg struct {
	Type    string `json:"type"`
	Payload struct {
		CallID     string `json:"call_id"`
		CallerName string `json:"caller_name"`
		Match      string `json:"match"`
		State      string `json:"state"`
		OK         *bool  `json:"ok"`
	} `json:"payload"`
}

func (d *desks) read(c *agentdesk.Client) {
	defer d.wg.Done()
	ctx := context.Background()
	for {
		b, err := c.NextRaw(ctx)
		if err != nil {
			if !d.closing.Load() {
				d.dropped.Add(1)
			}
			return
		}
		at := time.Now()
		var msg deskMsg
		if err := json.Unmarshal(b, &msg); err != nil {
			continue
		}
		p := &msg.Payload
		switch msg.Type {
		case agentdesk.TypePop:
			sent, ok := sentTime(p.CallerName)
			d.mu.Lock()
			if ok {
				d.pops = append(d.pops, at.Sub(sent))
			} else {
				d.noStamp++
			}
			if p.Match == ringdesk.MatchUnavailable {
				d.unavailable++
			}
			d.mu.Unlock()
			_, _ = c.Send(agentdesk.TypePopAck, map[string]string{"call_id": p.CallID})
		case agentdesk.TypeState:
			switch ringdesk.AgentState(p.State) {
			case ringdesk.AgentWrapUp:
				if d.wrapUp {
					_, _ = c.Send(agentdesk.TypeEndWrapUp, nil)
				}
			case ringdesk.AgentAway:
				_, _ = c.Send(agentdesk.TypeReady, nil)
			}
		case agentdesk.TypeAck:
			if p.OK != nil && !*p.OK {
				d.ackErrors.Add(1)
			}
		}
	}
}

// take returns this step's pop times, the pops without a send time and
// those without the lookup, and starts the next step's.
func (d *desks) take() ([]time.Duration, int, int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p, n, u := d.pops, d.noStamp, d.unavailable
	d.pops, d.noStamp, d.unavailable = nil, 0, 0
	return p, n, u
}

// Close logs the desks out and closes them.
func (d *desks) Close() {
	d.closing.Store(true)
	for _, c := range d.clients {
		_, _ = c.Send(agentdesk.TypeLogout, nil)
	}
	// Let the server act on the logouts before the sockets go: a command
	// whose connection closes under it is logged as failed.
	time.Sleep(time.Second)
	for _, c := range d.clients {
		_ = c.Close()
	}
	d.wg.Wait()
}
