package routing

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ringdesk/ringdesk"
)

// PutQueue implements ringdesk.Router.
func (r *Router) PutQueue(ctx context.Context, q *ringdesk.Queue) error {
	if err := q.Validate(); err != nil {
		return err
	}
	strategy := q.Strategy
	if strategy == "" {
		strategy = ringdesk.StrategyLongestIdle
	}
	ring := q.RingTimeout
	if ring == 0 {
		ring = ringdesk.DefaultRingTimeout
	}
	missed := "0"
	if q.MissedAway {
		missed = "1"
	}
	args := []any{q.Name, string(strategy), ring.Milliseconds(), q.WrapUp.Milliseconds(), q.MaxWait.Milliseconds(),
		q.TierWiden.Milliseconds(), q.MaxLen, q.Overflow.Kind, q.Overflow.Queue, missed}
	for _, m := range q.Members {
		args = append(args, m.AgentID, m.Tier)
	}
	_, err := r.run(ctx, r.s.putQueue, "put queue", args...)
	return err
}

// FindQueue implements ringdesk.Router.
func (r *Router) FindQueue(ctx context.Context, name string) (*ringdesk.Queue, error) {
	if !ringdesk.ValidID(name) {
		return nil, ringdesk.Errorf(ringdesk.EINVALID, "Queue name %q is not valid.", name)
	}
	pipe := r.rdb.Pipeline()
	cfgCmd := pipe.HGetAll(ctx, r.prefix+"q:"+name)
	memCmd := pipe.HGetAll(ctx, r.prefix+"q:"+name+":m")
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, formatError("find queue", err)
	}
	h := cfgCmd.Val()
	if len(h) == 0 {
		return nil, ringdesk.Errorf(ringdesk.ENOTFOUND, "Queue %s does not exist.", name)
	}
	q := &ringdesk.Queue{
		Name:        name,
		Strategy:    ringdesk.Strategy(h["strategy"]),
		RingTimeout: msField(h, "ring"),
		WrapUp:      msField(h, "wrap"),
		MaxWait:     msField(h, "maxwait"),
		TierWiden:   msField(h, "widen"),
		MaxLen:      intField(h, "maxlen"),
		Overflow:    ringdesk.Overflow{Kind: h["of_kind"], Queue: h["of_queue"]},
		MissedAway:  h["missed"] == "1",
	}
	type mp struct {
		m   ringdesk.QueueMember
		pos int
	}
	var ms []mp
	for aid, v := range memCmd.Val() {
		tier, pos, _ := strings.Cut(v, ":")
		t, _ := strconv.Atoi(tier)
		p, _ := strconv.Atoi(pos)
		ms = append(ms, mp{ringdesk.QueueMember{AgentID: aid, Tier: t}, p})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].pos < ms[j].pos })
	for _, m := range ms {
		q.Members = append(q.Members, m.m)
	}
	return q, nil
}

func (r *Router) agentOp(ctx context.Context, op, agentID, arg string) error {
	if !ringdesk.ValidID(agentID) {
		return ringdesk.Errorf(ringdesk.EINVALID, "Agent id %q is not valid.", agentID)
	}
	_, err := r.b.do(ctx, op+" agent", "agent", op, agentID, arg)
	return err
}

// Login implements ringdesk.Router.
func (r *Router) Login(ctx context.Context, agentID string, ready bool) error {
	arg := "0"
	if ready {
		arg = "1"
	}
	return r.agentOp(ctx, "login", agentID, arg)
}

// SetReady implements ringdesk.Router.
func (r *Router) SetReady(ctx context.Context, agentID string) error {
	return r.agentOp(ctx, "ready", agentID, "")
}

// SetAway implements ringdesk.Router.
func (r *Router) SetAway(ctx context.Context, agentID, reason string) error {
	if !ringdesk.ValidID(reason) {
		return ringdesk.Errorf(ringdesk.EINVALID, "An away reason code is required (no spaces or commas).")
	}
	return r.agentOp(ctx, "away", agentID, reason)
}

// Logout implements ringdesk.Router.
func (r *Router) Logout(ctx context.Context, agentID string) error {
	return r.agentOp(ctx, "logout", agentID, "")
}

// EndWrapUp implements ringdesk.Router.
func (r *Router) EndWrapUp(ctx context.Context, agentID string) error {
	return r.agentOp(ctx, "endwrap", agentID, "")
}

// FindAgent implements ringdesk.Router.
func (r *Router) FindAgent(ctx context.Context, agentID string) (*ringdesk.Agent, error) {
	if !ringdesk.ValidID(agentID) {
		return nil, ringdesk.Errorf(ringdesk.EINVALID, "Agent id %q is not valid.", agentID)
	}
	pipe := r.rdb.Pipeline()
	h := pipe.HGetAll(ctx, r.prefix+"a:"+agentID)
	qs := pipe.HKeys(ctx, r.prefix+"a:"+agentID+":q")
	now := pipe.Time(ctx)
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, formatError("find agent", err)
	}
	a := agentFromHash(agentID, h.Val(), now.Val())
	a.Queues = qs.Val()
	sort.Strings(a.Queues)
	return a, nil
}

func agentFromHash(id string, h map[string]string, now time.Time) *ringdesk.Agent {
	a := &ringdesk.Agent{
		ID:        id,
		State:     ringdesk.AgentState(h["state"]),
		Reason:    h["reason"],
		Since:     msTime(h["since"]),
		CallID:    h["call"],
		Queue:     h["queue"],
		IdleSince: msTime(h["idle"]),
	}
	if a.State == "" {
		a.State = ringdesk.AgentLoggedOut
	}
	if day, _ := strconv.ParseInt(h["day"], 10, 64); day == now.UnixMilli()/86400000 {
		a.CallsToday, _ = strconv.Atoi(h["calls"])
	}
	return a
}

func msTime(s string) time.Time {
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil || ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

func msField(h map[string]string, k string) time.Duration {
	ms, _ := strconv.ParseInt(h[k], 10, 64)
	return time.Duration(ms) * time.Millisecond
}

func intField(h map[string]string, k string) int {
	n, _ := strconv.Atoi(h[k])
	return n
}

// ForgetsDeskCall reports that the agent state changes forget the agent
// desk's current call themselves (agentdesk.DeskCallForgetter): every
// script that makes an agent available, away or logged out deletes it
// (forget_desk_call in lua_lib.lua), whoever asked.
func (r *Router) ForgetsDeskCall() bool { return true }
