package routing

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ringdesk/ringdesk"
)

// DeskBus is the Redis implementation of ringdesk.DeskBus.
//
// Keys (all under the site's hash tag, so they live in one Cluster slot with
// the routing engine's keys and its Lua scripts may read them):
//
//	rd:{site}:desk:presence:<agent>  sorted set: member = node, score = when
//	                                 that presence expires (ms, Redis clock);
//	                                 the key itself expires with the latest one
//	rd:{site}:desk:current:<agent>   hash: call, pop, progress (JSON envelopes);
//	                                 the engine's scripts delete it when the
//	                                 agent is available, away or logged out,
//	                                 and keep a call's progress with its
//	                                 answer or end (Router.AnswerAndTell)
//
// Messages travel on one pub/sub channel per node, rd:{site}:node:<node>:desk,
// as {"agent":"<id>","msg":<envelope>}: a node subscribes once, whatever the
// number of desks it holds, and Publish sends only to the nodes where the
// agent's desk is present. A node subscribed through the same DeskBus (the
// same process) is handed every message sent through it directly, before
// the script runs and whether or not the agent's desk is there: its
// deliver drops messages for agents without a desk on it (a Router given
// this bus as Config.DeskBus hands it an answer's progress too, once the
// answer is in).
// Times come from the Redis clock (TIME inside the scripts), so the nodes'
// clocks do not need to agree.
type DeskBus struct {
	rdb    redis.UniversalClient
	prefix string // rd:{site}:

	presenceSet  *redis.Script
	publish      *redis.Script
	connected    *redis.Script
	setPop       *redis.Script
	setProgress  *redis.Script
	clearCurrent *redis.Script

	// local holds the subscriptions made through this bus, by node: a
	// message for one of them is handed to its deliver here instead of
	// going to Redis and back (the common case: the desk is on the node
	// that handles the call).
	mu    sync.Mutex
	local map[string]func(string, ringdesk.DeskMessage)
}

var _ ringdesk.DeskBus = (*DeskBus)(nil)

// deskNowLua sets now to the Redis clock in milliseconds.
const deskNowLua = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`

// deskPublishFn defines desk_publish(pres, chprefix, head, msg, here,
// now): it publishes the envelope head .. msg .. '}' (deskEnvelopeHead) on
// the channel (chprefix .. node .. ':desk') of every node where the desk
// presence pres has not expired at now, except the nodes named in here
// (space-separated: subscribed through the calling bus, which hands them
// the message itself). The envelope is built only when a node needs it:
// a pop is kilobytes, and most go to a desk on the calling node. Returns
// {subscriptions reached, the skipped nodes where the desk is present,
// space-separated}.
const deskPublishFn = `
local function desk_publish(pres, chprefix, head, msg, here, now)
	local skip, present = {}, {}
	for node in string.gmatch(here or '', '%S+') do skip[node] = true end
	local n, payload = 0, nil
	for _, node in ipairs(redis.call('ZRANGEBYSCORE', pres, '(' .. now, '+inf')) do
		if skip[node] then
			present[#present + 1] = node
		else
			payload = payload or (head .. msg .. '}')
			n = n + redis.call('PUBLISH', chprefix .. node .. ':desk', payload)
		end
	end
	return {n, table.concat(present, ' ')}
end
`

// deskProgressFn defines desk_progress(cur, pres, call, msg, ttl, chprefix,
// head, here, now): msg becomes the latest progress of call in the
// current-call hash cur when call is the current call or there is none
// (the call then becomes current, without a pop), for ttl ms; either way
// msg is published in its envelope as desk_publish does. Returns {saved 0|1,
// subscriptions reached, local nodes where present}. The desk bus's
// setProgress script and the routing batch script's dprogress operation
// (a call's answer or end told in the same run) both run it.
const deskProgressFn = deskPublishFn + `
local function desk_progress(cur, pres, call, msg, ttl, chprefix, head, here, now)
	local saved = 0
	local c = redis.call('HGET', cur, 'call')
	if not c or c == call then
		redis.call('HSET', cur, 'call', call, 'progress', msg)
		redis.call('PEXPIRE', cur, ttl)
		saved = 1
	end
	local p = desk_publish(pres, chprefix, head, msg, here, now)
	return {saved, p[1], p[2]}
end
`

// deskLua are the desk bus's scripts. They share keys with the routing
// engine's (a routing script reads the desk presence), so they count in
// engineVersion too.
var deskLua = struct {
	presenceSet, publish, connected, setPop, setProgress, clearCurrent string
}{
	// KEYS[1] presence; ARGV node, ttl ms.
	presenceSet: deskNowLua + `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIRE', KEYS[1], math.max(1, tonumber(last[2]) - now))
return 1`,
	// KEYS[1] unused, KEYS[2] presence; ARGV[2] message, ARGV[4] channel
	// prefix, ARGV[5] envelope head, ARGV[6] local nodes (the layout of
	// setPop and setProgress).
	publish: deskNowLua + deskPublishFn + `
return desk_publish(KEYS[2], ARGV[4], ARGV[5], ARGV[2], ARGV[6], now)`,
	// KEYS[1] presence.
	connected: deskNowLua + `
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')`,
	// KEYS[1] current, KEYS[2] presence; ARGV call, pop, ttl ms,
	// channel prefix, envelope head, local nodes. Returns what
	// desk_publish returns.
	setPop: deskNowLua + deskPublishFn + `
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'call', ARGV[1], 'pop', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return desk_publish(KEYS[2], ARGV[4], ARGV[5], ARGV[2], ARGV[6], now)`,
	// KEYS[1] current, KEYS[2] presence; ARGV call, progress, ttl ms,
	// channel prefix, envelope head, local nodes. Returns what
	// desk_progress returns.
	setProgress: deskNowLua + deskProgressFn + `
return desk_progress(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], now)`,
	// KEYS[1] current; ARGV call ("" = any).
	clearCurrent: `
if ARGV[1] == '' or redis.call('HGET', KEYS[1], 'call') == ARGV[1] then
	return redis.call('DEL', KEYS[1])
end
return 0`,
}

// deskLuaSources lists the desk bus's scripts, for engineVersion.
func deskLuaSources() []string {
	d := deskLua
	return []string{d.presenceSet, d.publish, d.connected, d.setPop, d.setProgress, d.clearCurrent}
}

// NewDeskBus returns the desk bus of a site on rdb. The site name must be
// the routing engine's (a valid id: no spaces, ':', '{' or '}').
func NewDeskBus(rdb redis.UniversalClient, site string) *DeskBus {
	return &DeskBus{
		rdb:          rdb,
		prefix:       "rd:{" + site + "}:",
		presenceSet:  redis.NewScript(deskLua.presenceSet),
		publish:      redis.NewScript(deskLua.publish),
		connected:    redis.NewScript(deskLua.connected),
		setPop:       redis.NewScript(deskLua.setPop),
		setProgress:  redis.NewScript(deskLua.setProgress),
		clearCurrent: redis.NewScript(deskLua.clearCurrent),
	}
}

// PresenceKey is the key holding an agent's desk presence: a sorted set of
// nodes scored by expiry in milliseconds on the Redis clock. A routing
// script may treat the agent as having a desk when
// ZCOUNT key (now +inf is positive.
func (b *DeskBus) PresenceKey(agentID string) string {
	return b.prefix + "desk:presence:" + agentID
}

func (b *DeskBus) currentKey(agentID string) string {
	return b.prefix + "desk:current:" + agentID
}

func (b *DeskBus) nodeChannelPrefix() string { return b.prefix + "node:" }

// NodeChannel is the pub/sub channel carrying the desk messages of a node.
func (b *DeskBus) NodeChannel(node string) string {
	return b.nodeChannelPrefix() + node + ":desk"
}

// deskEnvelope is what travels on a node's channel.
type deskEnvelope struct {
	Agent string               `json:"agent"`
	Msg   ringdesk.DeskMessage `json:"msg"`
}

func deskUnavailable(op string, err error) error {
	return fmt.Errorf("%s: %w", op, ringdesk.Errorf(ringdesk.EUNAVAILABLE, "The desk bus (Redis) is unavailable: %v", err))
}

func deskCheckIDs(ids ...string) error {
	for _, id := range ids {
		if !ringdesk.ValidDeskID(id) {
			return ringdesk.Errorf(ringdesk.EINVALID, "Desk id %q must be 1–64 characters without spaces, ':', '{' or '}'.", id)
		}
	}
	return nil
}

func deskTTL(ttl time.Duration) (string, error) {
	if ttl < time.Millisecond {
		return "", ringdesk.Errorf(ringdesk.EINVALID, "A desk TTL must be at least 1ms, not %v.", ttl)
	}
	return strconv.FormatInt(ttl.Milliseconds(), 10), nil
}

// Publish implements ringdesk.DeskBus.
func (b *DeskBus) Publish(ctx context.Context, agentID string, msg ringdesk.DeskMessage) (int, error) {
	if err := deskCheckIDs(agentID); err != nil {
		return 0, err
	}
	data, head, err := deskPayloads(agentID, msg)
	if err != nil {
		return 0, fmt.Errorf("publish desk message: %w", err)
	}
	b.deliverLocal(agentID, msg)
	v, err := b.publish.Run(ctx, b.rdb, []string{b.currentKey(agentID), b.PresenceKey(agentID)},
		"", data, "", b.nodeChannelPrefix(), head, b.localNodes()).Slice()
	if err != nil {
		return 0, deskUnavailable("publish desk message", err)
	}
	if len(v) != 2 {
		return 0, fmt.Errorf("publish desk message: unexpected reply %v", v)
	}
	return b.reached(v[0], v[1]), nil
}

// localNodes lists the nodes subscribed through this bus, space-separated.
func (b *DeskBus) localNodes() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	nodes := make([]string, 0, len(b.local))
	for n := range b.local {
		nodes = append(nodes, n)
	}
	return strings.Join(nodes, " ")
}

// deliverLocal hands msg to the subscriptions made through this bus (each
// delivers to its node's desks of the agent, if any: it never blocks).
// This happens before the script that keeps and publishes the message runs:
// a desk on this node, the common case, gets a pop a Redis round trip
// sooner (and still gets it while Redis does not answer). Messages for one
// agent are handed over in the order they are sent, as Redis publishes
// them to the other nodes in the order of the scripts.
func (b *DeskBus) deliverLocal(agentID string, msg ringdesk.DeskMessage) {
	var fns [2]func(string, ringdesk.DeskMessage)
	local := fns[:0]
	b.mu.Lock()
	for _, fn := range b.local {
		local = append(local, fn)
	}
	b.mu.Unlock()
	for _, fn := range local {
		fn(agentID, msg)
	}
}

// reached returns the subscriptions a message reached: remote (Redis's
// count) and those of this bus's nodes in here (space-separated, as the
// scripts return the nodes where the desk is present), which deliverLocal
// handed it to.
func (b *DeskBus) reached(remote, here any) int {
	n, _ := remote.(int64)
	nodes, _ := here.(string)
	for _, node := range strings.Fields(nodes) {
		b.mu.Lock()
		_, ok := b.local[node]
		b.mu.Unlock()
		if ok {
			n++
		}
	}
	return int(n)
}

// Subscribe implements ringdesk.DeskBus. go-redis reconnects and
// resubscribes a PubSub by itself (its health check pings it every few
// seconds); each confirmation after the first calls resync.
func (b *DeskBus) Subscribe(ctx context.Context, node string, deliver func(string, ringdesk.DeskMessage), resync func()) (func(), error) {
	if err := deskCheckIDs(node); err != nil {
		return nil, err
	}
	ps := b.rdb.Subscribe(ctx, b.NodeChannel(node))
	// Wait for the confirmation, so that the caller may count on delivery
	// once Subscribe returns.
	if _, err := ps.Receive(ctx); err != nil {
		_ = ps.Close()
		return nil, deskUnavailable("subscribe to desk messages", err)
	}
	b.mu.Lock()
	if b.local == nil {
		b.local = map[string]func(string, ringdesk.DeskMessage){}
	}
	if _, dup := b.local[node]; dup {
		b.mu.Unlock()
		_ = ps.Close()
		return nil, ringdesk.Errorf(ringdesk.ECONFLICT, "Node %s is already subscribed on this desk bus.", node)
	}
	b.local[node] = deliver
	b.mu.Unlock()
	ch := ps.ChannelWithSubscriptions(redis.WithChannelSize(1024))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m := range ch {
			switch m := m.(type) {
			case *redis.Subscription:
				if m.Kind == "subscribe" && resync != nil {
					resync()
				}
			case *redis.Message:
				var env deskEnvelope
				if err := json.Unmarshal([]byte(m.Payload), &env); err != nil || !ringdesk.ValidDeskID(env.Agent) {
					continue // not ours: only Publish writes here
				}
				deliver(env.Agent, env.Msg)
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			delete(b.local, node)
			b.mu.Unlock()
			_ = ps.Close()
			<-done
		})
	}, nil
}

// SetPresence implements ringdesk.DeskBus.
func (b *DeskBus) SetPresence(ctx context.Context, agentID, node string, ttl time.Duration) error {
	if err := deskCheckIDs(agentID, node); err != nil {
		return err
	}
	ms, err := deskTTL(ttl)
	if err != nil {
		return err
	}
	if err := b.presenceSet.Run(ctx, b.rdb, []string{b.PresenceKey(agentID)}, node, ms).Err(); err != nil {
		return deskUnavailable("set desk presence", err)
	}
	return nil
}

// ClearPresence implements ringdesk.DeskBus.
func (b *DeskBus) ClearPresence(ctx context.Context, agentID, node string) error {
	if err := deskCheckIDs(agentID, node); err != nil {
		return err
	}
	if err := b.rdb.ZRem(ctx, b.PresenceKey(agentID), node).Err(); err != nil {
		return deskUnavailable("clear desk presence", err)
	}
	return nil
}

// DeskConnected implements ringdesk.DeskBus.
func (b *DeskBus) DeskConnected(ctx context.Context, agentID string) (bool, error) {
	if err := deskCheckIDs(agentID); err != nil {
		return false, err
	}
	n, err := b.connected.Run(ctx, b.rdb, []string{b.PresenceKey(agentID)}).Int()
	if err != nil {
		return false, deskUnavailable("check desk presence", err)
	}
	return n > 0, nil
}

// SetCurrentPop implements ringdesk.DeskBus.
func (b *DeskBus) SetCurrentPop(ctx context.Context, agentID, callID string, msg ringdesk.DeskMessage, ttl time.Duration) (int, error) {
	if err := deskCheckIDs(agentID, callID); err != nil {
		return 0, err
	}
	ms, err := deskTTL(ttl)
	if err != nil {
		return 0, err
	}
	data, head, err := deskPayloads(agentID, msg)
	if err != nil {
		return 0, fmt.Errorf("save current pop: %w", err)
	}
	b.deliverLocal(agentID, msg)
	v, err := b.setPop.Run(ctx, b.rdb, []string{b.currentKey(agentID), b.PresenceKey(agentID)},
		callID, data, ms, b.nodeChannelPrefix(), head, b.localNodes()).Slice()
	if err != nil {
		return 0, deskUnavailable("save current pop", err)
	}
	if len(v) != 2 {
		return 0, fmt.Errorf("save current pop: unexpected reply %v", v)
	}
	return b.reached(v[0], v[1]), nil
}

// SetCurrentProgress implements ringdesk.DeskBus.
func (b *DeskBus) SetCurrentProgress(ctx context.Context, agentID, callID string, msg ringdesk.DeskMessage, ttl time.Duration) (bool, int, error) {
	if err := deskCheckIDs(agentID, callID); err != nil {
		return false, 0, err
	}
	ms, err := deskTTL(ttl)
	if err != nil {
		return false, 0, err
	}
	data, head, err := deskPayloads(agentID, msg)
	if err != nil {
		return false, 0, fmt.Errorf("save current progress: %w", err)
	}
	b.deliverLocal(agentID, msg)
	v, err := b.setProgress.Run(ctx, b.rdb, []string{b.currentKey(agentID), b.PresenceKey(agentID)},
		callID, data, ms, b.nodeChannelPrefix(), head, b.localNodes()).Slice()
	if err != nil {
		return false, 0, deskUnavailable("save current progress", err)
	}
	if len(v) != 3 {
		return false, 0, fmt.Errorf("save current progress: unexpected reply %v", v)
	}
	saved, _ := v[0].(int64)
	return saved == 1, b.reached(v[1], v[2]), nil
}

// deskPayloads encodes msg as kept (the message), with the head of its
// envelope when published (deskEnvelopeHead).
func deskPayloads(agentID string, msg ringdesk.DeskMessage) (kept, head []byte, err error) {
	if len(msg.Payload) > 0 && !msg.Sealed() && !json.Valid(msg.Payload) {
		return nil, nil, ringdesk.Errorf(ringdesk.EINVALID, "A desk message's payload must be JSON.")
	}
	return msg.JSON(), deskEnvelopeHead(agentID), nil
}

// deskEnvelopeHead is the start of deskEnvelope{agentID, msg} as JSON: the
// scripts publish head .. msg .. '}' (desk_publish), msg already encoded.
func deskEnvelopeHead(agentID string) []byte {
	b := make([]byte, 0, len(agentID)+20)
	b = append(b, `{"agent":`...)
	b = ringdesk.AppendJSONString(b, agentID)
	return append(b, `,"msg":`...)
}

// ClearCurrent implements ringdesk.DeskBus.
func (b *DeskBus) ClearCurrent(ctx context.Context, agentID, callID string) error {
	if err := deskCheckIDs(agentID); err != nil {
		return err
	}
	if callID != "" {
		if err := deskCheckIDs(callID); err != nil {
			return err
		}
	}
	if err := b.clearCurrent.Run(ctx, b.rdb, []string{b.currentKey(agentID)}, callID).Err(); err != nil {
		return deskUnavailable("clear current call", err)
	}
	return nil
}

// Current implements ringdesk.DeskBus.
func (b *DeskBus) Current(ctx context.Context, agentID string) ([]ringdesk.DeskMessage, error) {
	if err := deskCheckIDs(agentID); err != nil {
		return nil, err
	}
	vals, err := b.rdb.HMGet(ctx, b.currentKey(agentID), "pop", "progress").Result()
	if err != nil {
		return nil, deskUnavailable("read current call", err)
	}
	msgs := []ringdesk.DeskMessage{}
	for _, v := range vals {
		s, ok := v.(string)
		if !ok {
			continue // field absent
		}
		var m ringdesk.DeskMessage
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			return nil, fmt.Errorf("read current call of agent %s: %w", agentID, err)
		}
		msgs = append(msgs, m)
	}
	return msgs, nil
}
