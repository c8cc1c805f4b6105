package routing

import (
	"context"
	"sort"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ringdesk/ringdesk"
)

// Snapshot implements ringdesk.Router. It costs two pipelined round trips
// whatever the size: one for the lists of queues and agents, one for every
// queue's waiting count, oldest call and members and every agent's state.
// Reads are not one transaction: a call may move between two reads, which
// a wallboard refreshed every second tolerates.
func (r *Router) Snapshot(ctx context.Context) (*ringdesk.Snapshot, error) {
	pipe := r.rdb.Pipeline()
	nowCmd := pipe.Time(ctx)
	qsCmd := pipe.SMembers(ctx, r.prefix+"queues")
	asCmd := pipe.SMembers(ctx, r.prefix+"agents")
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, formatError("snapshot", err)
	}
	now := nowCmd.Val()
	queues, agents := qsCmd.Val(), asCmd.Val()
	sort.Strings(queues)
	sort.Strings(agents)

	pipe = r.rdb.Pipeline()
	waitCmds := make([]*redis.IntCmd, len(queues))
	oldCmds := make([]*redis.ZSliceCmd, len(queues))
	memCmds := make([]*redis.StringSliceCmd, len(queues))
	for i, q := range queues {
		k := r.prefix + "q:" + q
		waitCmds[i] = pipe.ZCard(ctx, k+":wait")
		oldCmds[i] = pipe.ZRangeWithScores(ctx, k+":age", 0, 0)
		memCmds[i] = pipe.HKeys(ctx, k+":m")
	}
	agCmds := make([]*redis.SliceCmd, len(agents))
	for i, a := range agents {
		agCmds[i] = pipe.HMGet(ctx, r.prefix+"a:"+a, "state", "reason", "since", "call", "queue")
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, formatError("snapshot", err)
	}

	snap := &ringdesk.Snapshot{Time: now, Agents: make([]ringdesk.AgentSnapshot, len(agents))}
	state := make(map[string]ringdesk.AgentState, len(agents))
	for i, id := range agents {
		v := agCmds[i].Val()
		str := func(j int) string { s, _ := v[j].(string); return s }
		a := ringdesk.AgentSnapshot{ID: id, State: ringdesk.AgentState(str(0)), Reason: str(1), CallID: str(3), Queue: str(4)}
		if a.State == "" {
			a.State = ringdesk.AgentLoggedOut
		}
		if since := msTime(str(2)); !since.IsZero() && now.After(since) {
			a.TimeInState = now.Sub(since)
		}
		snap.Agents[i] = a
		state[id] = a.State
	}
	snap.Queues = make([]ringdesk.QueueSnapshot, len(queues))
	for i, q := range queues {
		qs := ringdesk.QueueSnapshot{Name: q, Waiting: int(waitCmds[i].Val()), Agents: map[ringdesk.AgentState]int{}}
		if old := oldCmds[i].Val(); len(old) > 0 {
			if enq := time.UnixMilli(int64(old[0].Score)); now.After(enq) {
				qs.LongestWait = now.Sub(enq)
			}
		}
		for _, a := range memCmds[i].Val() {
			s, ok := state[a]
			if !ok {
				s = ringdesk.AgentLoggedOut
			}
			qs.Agents[s]++
		}
		snap.Queues[i] = qs
	}
	return snap, nil
}
