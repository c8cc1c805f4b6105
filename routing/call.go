package routing

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ringdesk/ringdesk"
)

// Enqueue implements ringdesk.Router.
func (r *Router) Enqueue(ctx context.Context, c *ringdesk.WaitingCall) (*ringdesk.Placement, error) {
	if !ringdesk.ValidID(c.ID) {
		return nil, ringdesk.Errorf(ringdesk.EINVALID, "Call id %q is not valid.", c.ID)
	}
	if len(c.Queues) == 0 {
		return nil, ringdesk.Errorf(ringdesk.EINVALID, "Call %s has no queue.", c.ID)
	}
	seen := map[string]bool{}
	for _, q := range c.Queues {
		if !ringdesk.ValidID(q) || seen[q] {
			return nil, ringdesk.Errorf(ringdesk.EINVALID, "Call %s: queue %q is not valid or listed twice.", c.ID, q)
		}
		seen[q] = true
	}
	if c.Priority < ringdesk.MinPriority || c.Priority > ringdesk.MaxPriority {
		return nil, ringdesk.Errorf(ringdesk.EINVALID, "Call priority must be %d-%d.", ringdesk.MinPriority, ringdesk.MaxPriority)
	}
	if c.Node == "" {
		c.Node = r.cfg.Node
	}
	if !ringdesk.ValidID(c.Node) || strings.Contains(c.Node, ":") {
		return nil, ringdesk.Errorf(ringdesk.EINVALID, "Node id %q is not valid.", c.Node)
	}
	replied := "0"
	if r.cfg.OfferInReply && c.Node == r.cfg.Node {
		replied = "1"
	}
	v, err := r.b.do(ctx, "enqueue call", "enqueue", c.ID, c.Node, c.Priority, c.CallerE164, strings.Join(c.Queues, ","), replied)
	if err != nil {
		return nil, err
	}
	res, ok := v.([]any)
	if !ok || len(res) != 6 {
		return nil, fmt.Errorf("enqueue call: unexpected reply %v", v)
	}
	p := &ringdesk.Placement{
		Status: ringdesk.CallStatus(asString(res[0])),
		Result: asString(res[1]),
		Queue:  asString(res[2]),
	}
	if p.Status == ringdesk.CallRinging {
		p.AgentID = asString(res[4])
		if ms, ok := res[5].(int64); ok {
			p.RingTimeout = time.Duration(ms) * time.Millisecond
		}
	}
	if n, ok := res[3].(int64); ok {
		p.Position = int(n)
	}
	return p, nil
}

func asString(v any) string {
	s, _ := v.(string)
	return s
}

// Answer implements ringdesk.Router.
func (r *Router) Answer(ctx context.Context, callID, agentID string) error {
	if !ringdesk.ValidID(callID) || !ringdesk.ValidID(agentID) {
		return ringdesk.Errorf(ringdesk.EINVALID, "Call or agent id is not valid.")
	}
	_, err := r.b.do(ctx, "answer call", "answer", callID, agentID)
	return err
}

// AnswerAndTell implements ringdesk.ProgressTeller: Answer, then, in the
// same script run, what DeskBus.SetCurrentProgress does with msg, when the
// answer succeeded. The desks on this node get msg once the answer is in.
func (r *Router) AnswerAndTell(ctx context.Context, callID, agentID string, msg ringdesk.DeskMessage, ttl time.Duration) error {
	if !ringdesk.ValidID(callID) || !ringdesk.ValidID(agentID) {
		return ringdesk.Errorf(ringdesk.EINVALID, "Call or agent id is not valid.")
	}
	tell, err := r.tell("answer call", agentID, callID, msg, ttl)
	if err != nil {
		return err
	}
	_, errs, err := r.b.seq(ctx, "answer call", []any{"answer", callID, agentID}, append([]any{"?dprogress"}, tell...))
	if err != nil {
		return err
	}
	if errs[0] != nil {
		return errs[0]
	}
	r.desks.deliverLocal(agentID, msg)
	if errs[1] != nil {
		// The answer stands; only the desk's copy for a reconnect and the
		// other nodes' desks missed it.
		r.log.Warn("call answered, but its progress was not kept for the desk", "call_id", callID, "agent_id", agentID, "error", errs[1])
	}
	return nil
}

// EndAndTell implements ringdesk.ProgressTeller: End, then, in the same
// script run and whatever End's outcome, what DeskBus.SetCurrentProgress
// does with msg. The desks on this node get msg first, as SetCurrentProgress
// hands it to them. It returns End's error.
func (r *Router) EndAndTell(ctx context.Context, callID, agentID string, msg ringdesk.DeskMessage, ttl time.Duration) error {
	if !ringdesk.ValidID(callID) || !ringdesk.ValidID(agentID) {
		return ringdesk.Errorf(ringdesk.EINVALID, "Call or agent id is not valid.")
	}
	tell, err := r.tell("end call", agentID, callID, msg, ttl)
	if err != nil {
		return err
	}
	r.desks.deliverLocal(agentID, msg)
	_, errs, err := r.b.seq(ctx, "end call", []any{"end", callID}, append([]any{"dprogress"}, tell...))
	if err != nil {
		return err
	}
	if errs[1] != nil {
		r.log.Warn("call ended, but its progress was not kept for the desk", "call_id", callID, "agent_id", agentID, "error", errs[1])
	}
	return errs[0]
}

// tell returns the arguments of the batch script's dprogress operation
// (lua_fast.lua): agent, call, kept message, ttl ms, the head of its
// published envelope, this bus's local nodes.
func (r *Router) tell(label, agentID, callID string, msg ringdesk.DeskMessage, ttl time.Duration) ([]any, error) {
	if err := deskCheckIDs(agentID, callID); err != nil {
		return nil, err
	}
	ms, err := deskTTL(ttl)
	if err != nil {
		return nil, err
	}
	data, head, err := deskPayloads(agentID, msg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", label, err)
	}
	return []any{agentID, callID, data, ms, head, r.desks.localNodes()}, nil
}

// RingNoAnswer implements ringdesk.Router.
func (r *Router) RingNoAnswer(ctx context.Context, callID, agentID string) error {
	if !ringdesk.ValidID(callID) || !ringdesk.ValidID(agentID) {
		return ringdesk.Errorf(ringdesk.EINVALID, "Call or agent id is not valid.")
	}
	_, err := r.b.do(ctx, "ring no answer", "rna", callID, agentID, "rejected")
	return err
}

// Abandon implements ringdesk.Router.
func (r *Router) Abandon(ctx context.Context, callID string) error {
	if !ringdesk.ValidID(callID) {
		return ringdesk.Errorf(ringdesk.EINVALID, "Call id %q is not valid.", callID)
	}
	_, err := r.b.do(ctx, "abandon call", "abandon", callID)
	return err
}

// End implements ringdesk.Router.
func (r *Router) End(ctx context.Context, callID string) error {
	if !ringdesk.ValidID(callID) {
		return ringdesk.Errorf(ringdesk.EINVALID, "Call id %q is not valid.", callID)
	}
	_, err := r.b.do(ctx, "end call", "end", callID)
	return err
}

// FindCall implements ringdesk.Router.
func (r *Router) FindCall(ctx context.Context, callID string) (*ringdesk.RoutedCall, error) {
	if !ringdesk.ValidID(callID) {
		return nil, ringdesk.Errorf(ringdesk.EINVALID, "Call id %q is not valid.", callID)
	}
	h, err := r.rdb.HGetAll(ctx, r.prefix+"c:"+callID).Result()
	if err != nil {
		return nil, formatError("find call", err)
	}
	if len(h) == 0 {
		return nil, ringdesk.Errorf(ringdesk.ENOTFOUND, "Call %s does not exist.", callID)
	}
	return callFromHash(callID, h), nil
}

func callFromHash(id string, h map[string]string) *ringdesk.RoutedCall {
	c := &ringdesk.RoutedCall{
		ID:         id,
		Status:     ringdesk.CallStatus(h["state"]),
		Result:     h["result"],
		Queues:     strings.Split(h["queues"], ","),
		Queue:      h["queue"],
		AgentID:    h["agent"],
		Node:       h["node"],
		Priority:   intField(h, "prio"),
		CallerE164: h["caller"],
		Offers:     intField(h, "offers"),
		EnqueuedAt: msTime(h["enq"]),
		OfferedAt:  msTime(h["offered"]),
		AnsweredAt: msTime(h["answered"]),
		EndedAt:    msTime(h["ended"]),
	}
	return c
}

// waitingInfo reads what Position and EstimatedWait need in one round trip.
type waitingInfo struct {
	position, staffed, available int
	aht                          time.Duration
}

func (r *Router) waiting(ctx context.Context, callID string) ([]waitingInfo, error) {
	c, err := r.FindCall(ctx, callID)
	if err != nil {
		return nil, err
	}
	if c.Status != ringdesk.CallWaiting {
		return nil, ringdesk.Errorf(ringdesk.ECONFLICT, "Call %s is not waiting (%s).", callID, c.Status)
	}
	pipe := r.rdb.Pipeline()
	type cmds struct {
		rank           interface{ Result() (int64, error) }
		staffed, avail interface{ Val() int64 }
		aht            interface{ Val() string }
	}
	cs := make([]cmds, len(c.Queues))
	for i, q := range c.Queues {
		k := r.prefix + "q:" + q
		cs[i] = cmds{
			rank:    pipe.ZRank(ctx, k+":wait", callID),
			staffed: pipe.SCard(ctx, k+":in"),
			avail:   pipe.ZCard(ctx, k+":avail"),
			aht:     pipe.HGet(ctx, k+":st", "aht"),
		}
	}
	_, _ = pipe.Exec(ctx) // ZRANK and HGET answer redis.Nil when absent
	var out []waitingInfo
	for _, c := range cs {
		rank, err := c.rank.Result()
		if err != nil {
			continue
		}
		aht, _ := strconv.ParseFloat(c.aht.Val(), 64)
		out = append(out, waitingInfo{
			position:  int(rank) + 1,
			staffed:   int(c.staffed.Val()),
			available: int(c.avail.Val()),
			aht:       time.Duration(aht) * time.Millisecond,
		})
	}
	if len(out) == 0 {
		return nil, ringdesk.Errorf(ringdesk.ECONFLICT, "Call %s is not waiting.", callID)
	}
	return out, nil
}

// Position implements ringdesk.Router.
func (r *Router) Position(ctx context.Context, callID string) (int, error) {
	ws, err := r.waiting(ctx, callID)
	if err != nil {
		return 0, err
	}
	best := ws[0].position
	for _, w := range ws[1:] {
		best = min(best, w.position)
	}
	return best, nil
}

// EstimatedWait implements ringdesk.Router. A call in several queues gets
// the shortest of their estimates; -1 means nobody is logged in to them.
func (r *Router) EstimatedWait(ctx context.Context, callID string) (time.Duration, error) {
	ws, err := r.waiting(ctx, callID)
	if err != nil {
		return 0, err
	}
	best := time.Duration(-1)
	for _, w := range ws {
		e := EstimateWait(w.position, w.aht, w.staffed, w.available)
		if e >= 0 && (best < 0 || e < best) {
			best = e
		}
	}
	return best, nil
}
