package agentdesk

import (
	"bytes"
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ringdesk/ringdesk"
)

// maxTrackedPops bounds the pops a desk remembers for their acks.
const maxTrackedPops = 16

// desk is one WebSocket connection of an agent's desk. Its writer goroutine
// (writePump) is the only one writing to conn, its reader goroutine
// (readPump) the only one reading; everyone else talks to it through send,
// which never blocks them: a full queue closes the desk.
type desk struct {
	hub     *Hub
	conn    *websocket.Conn
	user    *ringdesk.User
	agentID string

	send       chan []byte
	quit       chan struct{} // closed by close: the writer ends the connection
	readerDone chan struct{} // closed when readPump returns
	ctx        context.Context
	cancel     context.CancelFunc

	once      sync.Once
	closeCode int
	closeText string
	drain     bool // write what is queued before the close frame

	mu   sync.Mutex
	pops map[string]popSent // pops delivered to this desk, by call id

	// Reader goroutine only.
	invalidStart time.Time
	invalidCount int
}

// popInfo is what the hub reads of a pop's payload.
type popInfo struct {
	CallID  string    `json:"call_id"`
	AgentID string    `json:"agent_id"`
	SentAt  time.Time `json:"sent_at"`
}

type popSent struct {
	sentAt time.Time
	live   bool // delivered as it was sent, not replayed on (re)connect
	acked  bool
	seq    int
}

func newDesk(h *Hub, conn *websocket.Conn, user *ringdesk.User) *desk {
	ctx, cancel := context.WithCancel(context.Background())
	return &desk{
		hub:        h,
		conn:       conn,
		user:       user,
		agentID:    agentIDOf(user),
		send:       make(chan []byte, h.opt.sendQueue),
		quit:       make(chan struct{}),
		readerDone: make(chan struct{}),
		ctx:        ctx,
		cancel:     cancel,
		pops:       make(map[string]popSent),
	}
}

// close asks the writer to end the connection with a close frame. Only the
// first call counts.
func (d *desk) close(code int, text string, drain bool) {
	d.once.Do(func() {
		d.closeCode, d.closeText, d.drain = code, text, drain
		d.cancel()
		close(d.quit)
	})
}

// closeReason is valid once close was called.
func (d *desk) closeReason() string {
	if d.closeText == "" {
		return "closed"
	}
	return d.closeText
}

// enqueue queues a message for the desk without ever blocking: a desk whose
// queue is full is too slow and is disconnected.
func (d *desk) enqueue(data []byte) bool {
	select {
	case <-d.quit:
		return false
	default:
	}
	select {
	case d.send <- data:
		return true
	default:
		d.hub.logger.Warn("desk too slow: send queue full, disconnecting", "agent_id", d.agentID)
		d.close(websocket.ClosePolicyViolation, "send queue full", false)
		return false
	}
}

func (d *desk) sendMessage(m ringdesk.DeskMessage) { d.enqueue(mustJSON(m)) }

func (d *desk) sendError(id string, err error) {
	d.sendMessage(encode(TypeError, id, errorPayload(err)))
}

// sendCurrent sends the agent's current call (pop, then progress).
func (d *desk) sendCurrent(ctx context.Context) {
	msgs, err := d.hub.bus.Current(ctx, d.agentID)
	if err != nil {
		d.hub.logger.Error("read current call", "agent_id", d.agentID, "error", err)
		d.sendError("", err)
		return
	}
	for _, m := range msgs {
		if m.Type == TypePop {
			var p popInfo
			if err := json.Unmarshal(m.Payload, &p); err != nil || p.AgentID != d.agentID {
				continue
			}
			if !d.notePop(p, false) {
				continue
			}
		}
		d.sendMessage(m)
	}
}

// notePop remembers a pop sent to this desk, for its ack, and reports
// whether to send it: a replayed pop the desk already has is not sent
// again, nor is a live pop the desk got replayed a moment before (it is
// marked live, so that its ack is reported). A live pop sent again is sent.
func (d *desk) notePop(p popInfo, live bool) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if old, ok := d.pops[p.CallID]; ok {
		if !live {
			return false
		}
		if !old.live {
			old.live, old.sentAt = true, p.SentAt
			d.pops[p.CallID] = old
			return false
		}
	}
	seq := 0
	for _, s := range d.pops {
		seq = max(seq, s.seq+1)
	}
	d.pops[p.CallID] = popSent{sentAt: p.SentAt, live: live, seq: seq}
	if len(d.pops) > maxTrackedPops {
		oldest, minSeq := "", seq
		for id, s := range d.pops {
			if s.seq < minSeq {
				oldest, minSeq = id, s.seq
			}
		}
		delete(d.pops, oldest)
	}
	return true
}

func (d *desk) write(mt int, data []byte) error {
	if err := d.conn.SetWriteDeadline(time.Now().Add(d.hub.opt.writeWait)); err != nil {
		return err
	}
	return d.conn.WriteMessage(mt, data)
}

// writePump is the connection's only writer: queued messages, pings, and
// at the end the close frame.
func (d *desk) writePump() {
	ticker := time.NewTicker(d.hub.pingPeriod())
	defer func() {
		ticker.Stop()
		_ = d.conn.Close()
	}()
	for {
		select {
		case data := <-d.send:
			if err := d.write(websocket.TextMessage, data); err != nil {
				d.close(websocket.CloseAbnormalClosure, "write failed", false)
				return
			}
		case <-ticker.C:
			if err := d.write(websocket.PingMessage, nil); err != nil {
				d.close(websocket.CloseAbnormalClosure, "ping failed", false)
				return
			}
		case <-d.quit:
			d.finish()
			return
		}
	}
}

// finish sends what is left (when asked to), then the close frame, and
// gives the desk a moment to answer it before the connection is closed.
func (d *desk) finish() {
	wait := d.hub.opt.writeWait
	deadline := time.Now().Add(wait)
	if d.drain {
	drain:
		for {
			select {
			case data := <-d.send:
				_ = d.conn.SetWriteDeadline(deadline)
				if d.conn.WriteMessage(websocket.TextMessage, data) != nil {
					return
				}
			default:
				break drain
			}
		}
	}
	err := d.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(d.closeCode, d.closeText), deadline)
	if err != nil {
		return
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-d.readerDone:
	case <-t.C:
	}
}

// readPump is the connection's only reader. Any message or pong from the
// desk proves it alive; silence for pongWait ends the connection.
func (d *desk) readPump() {
	defer close(d.readerDone)
	defer d.close(websocket.CloseNormalClosure, "", false)
	c := d.conn
	pongWait := d.hub.opt.pongWait
	c.SetReadLimit(d.hub.opt.readLimit)
	_ = c.SetReadDeadline(time.Now().Add(pongWait))
	c.SetPongHandler(func(string) error { return c.SetReadDeadline(time.Now().Add(pongWait)) })
	// One buffer for the connection's messages: ParseCommand keeps no part
	// of them (ReadMessage allocated one per message, two per call).
	var buf bytes.Buffer
	for {
		mt, r, err := c.NextReader()
		if err == nil {
			buf.Reset()
			_, err = buf.ReadFrom(r)
		}
		data := buf.Bytes()
		if err != nil {
			if websocket.IsUnexpectedCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseNoStatusReceived) {
				d.hub.logger.Debug("desk read", "agent_id", d.agentID, "error", err)
			}
			d.close(websocket.CloseNormalClosure, "", false)
			return
		}
		_ = c.SetReadDeadline(time.Now().Add(pongWait))
		if mt != websocket.TextMessage {
			d.invalid("", ringdesk.Errorf(ringdesk.EINVALID, "Desk messages are JSON text."))
		} else {
			d.handle(data)
		}
		select {
		case <-d.quit:
			return
		default:
		}
	}
}

// invalid answers a bad message with an error and closes a desk that sends
// too many of them.
func (d *desk) invalid(id string, err error) {
	now := time.Now()
	if now.Sub(d.invalidStart) > d.hub.opt.invalidWindow {
		d.invalidStart, d.invalidCount = now, 0
	}
	d.invalidCount++
	d.sendError(id, err)
	if d.invalidCount > d.hub.opt.invalidLimit {
		d.hub.logger.Warn("desk sent too many invalid messages, disconnecting", "agent_id", d.agentID)
		d.close(websocket.ClosePolicyViolation, "too many invalid messages", true)
	}
}

// handle runs one message from the desk and answers it with an ack.
func (d *desk) handle(data []byte) {
	cmd, err := ParseCommand(data)
	if err != nil {
		id := ""
		if cmd != nil {
			id = cmd.ID
		}
		d.invalid(id, err)
		return
	}
	switch cmd.Type {
	case TypePing:
	case TypePopAck:
		err = d.popAck(cmd.CallID)
	default:
		err = d.command(cmd)
	}
	ack := Ack{Command: cmd.Type, OK: err == nil}
	if err != nil {
		ack.Code, ack.Message = ringdesk.ErrorCode(err), ringdesk.ErrorMessage(err)
	}
	d.sendMessage(encode(TypeAck, cmd.ID, ack))
}

func (d *desk) popAck(callID string) error {
	d.mu.Lock()
	p, ok := d.pops[callID]
	report := ok && p.live && !p.acked
	if ok {
		p.acked = true
		d.pops[callID] = p
	}
	d.mu.Unlock()
	if !ok {
		return ringdesk.Errorf(ringdesk.ENOTFOUND, "This desk was sent no pop for call %s.", callID)
	}
	if report && d.hub.opt.onPopAck != nil {
		d.hub.opt.onPopAck(d.agentID, callID, max(0, time.Since(p.sentAt)))
	}
	return nil
}

// command runs an agent state command through AgentControl.
func (d *desk) command(cmd *Command) error {
	h := d.hub
	ctx, cancel := context.WithTimeout(d.ctx, h.opt.commandTimeout)
	defer cancel()
	var err error
	switch cmd.Type {
	case TypeReady:
		err = h.control.SetReady(ctx, d.agentID)
	case TypeAway:
		err = h.control.SetAway(ctx, d.agentID, cmd.Reason)
	case TypeEndWrapUp:
		err = h.control.EndWrapUp(ctx, d.agentID)
	case TypeLogin:
		err = h.control.Login(ctx, d.agentID, cmd.Ready)
	case TypeLogout:
		err = h.control.Logout(ctx, d.agentID)
	}
	if err != nil {
		if ringdesk.ErrorCode(err) == ringdesk.EINTERNAL {
			h.logger.Error("desk command", "agent_id", d.agentID, "command", cmd.Type, "error", err)
		}
		return err
	}
	if f, ok := h.control.(DeskCallForgetter); ok && f.ForgetsDeskCall() {
		return nil
	}
	switch cmd.Type {
	case TypeReady, TypeEndWrapUp, TypeLogout:
		// The agent is done with any call: a desk that reconnects now
		// must not pop it again.
		if err := h.bus.ClearCurrent(ctx, d.agentID, ""); err != nil {
			h.logger.Error("clear current call", "agent_id", d.agentID, "error", err)
		}
	}
	return nil
}
