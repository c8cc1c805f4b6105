package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ringdesk/ringdesk"
	"github.com/ringdesk/ringdesk/agentdesk"
	"github.com/ringdesk/ringdesk/routing"
)

// runDesk is a terminal agent desk: it logs an agent in over the desk
// socket, prints every screen-pop and call update as it arrives, and
// acknowledges pops — the demo's way to see a pop before the web desk
// exists, and a probe for operators.
func runDesk(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(env.stderr, "desk: a terminal agent desk\n\nUsage:\n  ringdesk desk AGENT [--ready=true] [--url ws://localhost:8080/desk/ws]")
			return nil
		}
		fmt.Fprintln(env.stderr, "desk: the agent's user name comes first: ringdesk desk AGENT [flags]")
		return errUsage
	}
	name, args := args[0], args[1:]
	fs := newFlagSet(env, "desk")
	ready := fs.Bool("ready", true, "log in ready (available for calls); false logs in away")
	socket := fs.String("url", "", "desk socket URL; default ws://localhost:<http.listen port>/desk/ws")
	cfg, err := parseFlags(env, fs, args)
	if err != nil {
		return err
	}
	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	u, err := db.FindUserByUsername(ctx, name)
	db.Close()
	if err != nil {
		return err
	}
	rdb, err := routing.OpenRedis(ctx, routing.RedisOptions{Addrs: cfg.Redis.Addrs, MasterName: cfg.Redis.MasterName,
		Username: cfg.Redis.Username, Password: cfg.Redis.Password, DB: cfg.Redis.DB})
	if err != nil {
		return err
	}
	auth, err := deskAuth(ctx, rdb, cfg.Redis.Site)
	rdb.Close()
	if err != nil {
		return err
	}
	token, err := auth.Issue(u, time.Now().Add(12*time.Hour))
	if err != nil {
		return err
	}
	if *socket == "" {
		*socket = "ws://localhost:" + cfg.HTTP.Listen[strings.LastIndex(cfg.HTTP.Listen, ":")+1:] + "/desk/ws"
	}
	c, err := agentdesk.Dial(ctx, *socket, token)
	if err != nil {
		return err
	}
	defer c.Close()
	go func() { <-ctx.Done(); c.Close() }()
	loginID, err := c.Send(agentdesk.TypeLogin, map[string]bool{"ready": *ready})
	if err != nil {
		return err
	}
	for {
		msg, err := c.Next(context.Background())
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if msg.Type == agentdesk.TypeAck && msg.ID == loginID {
			var ack agentdesk.Ack
			if agentdesk.Decode(msg, &ack) == nil && !ack.OK && ack.Code == ringdesk.ECONFLICT && *ready {
				// Already logged in (another desk, or an earlier run): just go ready.
				if _, err := c.Send(agentdesk.TypeReady, nil); err != nil {
					return err
				}
			}
		}
		if err := printDeskMessage(env.stdout, msg); err != nil {
			return err
		}
		if msg.Type == agentdesk.TypePop {
			var pop ringdesk.Pop
			if agentdesk.Decode(msg, &pop) == nil {
				if _, err := c.Send(agentdesk.TypePopAck, map[string]string{"call_id": pop.CallID}); err != nil {
					return err
				}
			}
		}
	}
}

// printDeskMessage writes one message for a person to read.
func printDeskMessage(w io.Writer, msg ringdesk.DeskMessage) error {
	now := time.Now().Format("15:04:05.000")
	switch msg.Type {
	case agentdesk.TypeHello:
		var h agentdesk.Hello
		if err := agentdesk.Decode(msg, &h); err != nil {
			return err
		}
		fmt.Fprintf(w, "%s connected as %s (agent %s, %s) to node %s\n", now, h.Username, h.AgentID, h.Role, h.Node)
	case agentdesk.TypePop:
		var p ringdesk.Pop
		if err := agentdesk.Decode(msg, &p); err != nil {
			return err
		}
		fmt.Fprintf(w, "%s ══ SCREEN-POP ══ call %s, queue %s, waited %.1fs\n", now, p.CallID, p.Queue, float64(p.WaitMS)/1000)
		fmt.Fprintf(w, "    caller: %q %s (%s)\n", p.CallerName, p.CallerE164, p.CallerRaw)
		switch p.Match {
		case ringdesk.MatchOne:
			if c := p.Customer; c != nil {
				fmt.Fprintf(w, "    customer: %s — %s, account %s, %s, tags %s\n", c.Name, c.Company, c.AccountNumber, c.Status, strings.Join(c.Tags, ","))
			}
		case ringdesk.MatchSeveral:
			fmt.Fprintf(w, "    shared number: %d customers\n", len(p.Candidates))
			for _, c := range p.Candidates {
				fmt.Fprintf(w, "      - %s — %s (account %s)\n", c.Name, c.Company, c.AccountNumber)
			}
		case ringdesk.MatchUnknown:
			fmt.Fprintf(w, "    unknown caller: new customer form pre-filled with %s\n", p.CallerE164)
		default:
			fmt.Fprintf(w, "    customer lookup unavailable\n")
		}
		for _, h := range p.RecentCalls {
			fmt.Fprintf(w, "    %s %s %s %s\n", h.At.Format("2006-01-02 15:04"), h.Kind, h.Title, h.Status)
		}
		for _, cs := range p.OpenCases {
			fmt.Fprintf(w, "    open case #%d %s (%s)\n", cs.ID, cs.Subject, cs.Priority)
		}
	case agentdesk.TypeCall:
		var cp ringdesk.CallProgress
		if err := agentdesk.Decode(msg, &cp); err != nil {
			return err
		}
		fmt.Fprintf(w, "%s call %s: %s %s\n", now, cp.CallID, cp.State, cp.Reason)
	case agentdesk.TypeState:
		var st ringdesk.AgentStateChange
		if err := agentdesk.Decode(msg, &st); err != nil {
			return err
		}
		fmt.Fprintf(w, "%s state: %s %s\n", now, st.State, st.Reason)
	case agentdesk.TypeAck:
		var ack agentdesk.Ack
		if err := agentdesk.Decode(msg, &ack); err != nil {
			return err
		}
		if !ack.OK {
			fmt.Fprintf(w, "%s %s refused: %s\n", now, ack.Command, ack.Message)
		}
	case agentdesk.TypeError:
		var e agentdesk.ErrorPayload
		if err := agentdesk.Decode(msg, &e); err != nil {
			return err
		}
		return errors.New(e.Message)
	}
	return nil
}
