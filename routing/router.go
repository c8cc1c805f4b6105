package routing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ringdesk/ringdesk"
)

var (
	_ ringdesk.Router         = (*Router)(nil)
	_ ringdesk.ProgressTeller = (*Router)(nil)
)

// Orphan policies: what survivors do with the calls of a dead node.
const (
	OrphanEnd     = "end"     // end them with result node-lost (default)
	OrphanRequeue = "requeue" // take them over: waiting and ringing calls wait on, owned by the survivor
)

// Config configures a Router. Site and Node are required.
type Config struct {
	// Site names the key space: every key is "rd:{Site}:…", so that all of
	// a site's keys hash to one Redis Cluster slot and the scripts stay valid.
	Site string
	// Node is this process's id, unique among the nodes sharing the site.
	Node string
	// HeartbeatTTL: a node whose heartbeat is older is dead and its calls are
	// recovered by the survivors. Default 5 s.
	HeartbeatTTL time.Duration
	// TickInterval is how often this node heartbeats and runs the reaper
	// (ring timeouts, wrap-up ends, overflow, recovery, tier widening).
	// Default HeartbeatTTL/5, at most 250 ms.
	TickInterval time.Duration
	// OrphanPolicy is OrphanEnd or OrphanRequeue.
	OrphanPolicy string
	// EventMaxLen caps the event stream (approximately). Default 100,000.
	EventMaxLen int
	// InboxMaxLen caps each node's notice stream. Default 10,000.
	InboxMaxLen int
	// KeepEnded is how long an ended call stays readable. Default 1 h.
	KeepEnded time.Duration
	// TickBatch bounds the work of one tick per kind. Default 200.
	TickBatch int
	// MaxInFlight is how many batches of operations (see batcher) may be on
	// their way to Redis at once. Default 2: one running in Redis while the
	// next is read or answered. More gives smaller batches (more cost per
	// operation in Redis), fewer lets nothing overlap.
	MaxInFlight int
	// MaxBatch caps the operations in one batch. Default 64.
	MaxBatch int
	// EventPace is the least time between two reads of the site's event
	// stream by a Subscribe: the events of that time come in one read.
	// Every node's subscription woke for nearly every script run (at 500
	// calls/s, about one read of the stream per call); the agent states
	// it carries to the desks can wait a few milliseconds. Notices, which
	// ring phones, are never paced. Default 10 ms; negative: no pause.
	EventPace time.Duration
	// RequireDesk offers calls only to agents whose desk is connected (the
	// agent desk's presence keys, see DeskBus); an available agent found
	// without one goes away with reason "no-desk". Off by default here;
	// Ringdesk's serve turns it on (routing.require_desk).
	RequireDesk bool
	// OfferInReply: an offer made within Enqueue, of a call this node owns,
	// is only in Enqueue's reply (Placement.AgentID, RingTimeout), not also
	// a notice: the caller rings from the reply (Ringdesk's call path
	// does). A reply that never arrives leaves the call ringing nobody
	// until its ring timeout, when it is offered again with a notice.
	// Off by default: every offer is a notice too.
	OfferInReply bool
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// DeskBus is the desk bus of the node's agent desks (agentdesk's hub),
	// if any: AnswerAndTell and EndAndTell hand their desk message to its
	// subscriptions on this node directly. Without it they reach those
	// desks through Redis pub/sub, as the desks on other nodes.
	DeskBus *DeskBus

	// version overrides engineVersion (tests of a mixed site).
	version string
	// libraryOnly runs enqueue and end through the library's op_<name>
	// always, never their fast paths: the tests compare the two.
	libraryOnly bool
}

func (c *Config) setDefaults() error {
	if !ringdesk.ValidID(c.Site) || !ringdesk.ValidID(c.Node) || strings.ContainsAny(c.Site+c.Node, ":") {
		return ringdesk.Errorf(ringdesk.EINVALID, "Routing site and node must be ids without spaces, colons, braces or commas.")
	}
	if c.HeartbeatTTL <= 0 {
		c.HeartbeatTTL = 5 * time.Second
	}
	if c.TickInterval <= 0 {
		c.TickInterval = min(c.HeartbeatTTL/5, 250*time.Millisecond)
	}
	switch c.OrphanPolicy {
	case "":
		c.OrphanPolicy = OrphanEnd
	case OrphanEnd, OrphanRequeue:
	default:
		return ringdesk.Errorf(ringdesk.EINVALID, "Unknown orphan policy %q.", c.OrphanPolicy)
	}
	if c.EventMaxLen <= 0 {
		c.EventMaxLen = 100000
	}
	if c.InboxMaxLen <= 0 {
		c.InboxMaxLen = 10000
	}
	if c.KeepEnded <= 0 {
		c.KeepEnded = time.Hour
	}
	if c.TickBatch <= 0 {
		c.TickBatch = 200
	}
	if c.EventPace == 0 {
		c.EventPace = 10 * time.Millisecond
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 2
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 64
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Router is the Redis implementation of ringdesk.Router. Create it with
// NewRouter, start it with Open and stop it with Close.
type Router struct {
	rdb    redis.UniversalClient
	b      *batcher // runs the operations on calls and agents
	cfg    Config
	log    *slog.Logger
	s      *scripts
	desks  *DeskBus // Config.DeskBus, or one of its own
	prefix string   // "rd:{site}:"
	keys   []string // KEYS for every script: the event stream

	notices chan ringdesk.RoutingEvent

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewRouter returns a Router on a Redis client. Returns EINVALID for a bad
// configuration.
func NewRouter(rdb redis.UniversalClient, cfg Config) (*Router, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	prefix := "rd:{" + cfg.Site + "}:"
	if cfg.DeskBus != nil && cfg.DeskBus.prefix != prefix {
		return nil, ringdesk.Errorf(ringdesk.EINVALID, "The desk bus is another site's (%s), not %s's.", cfg.DeskBus.prefix, cfg.Site)
	}
	r := &Router{
		rdb:     rdb,
		cfg:     cfg,
		log:     cfg.Logger.With("component", "routing", "node", cfg.Node),
		s:       newScripts(cfg),
		prefix:  prefix,
		keys:    []string{prefix + "events"},
		notices: make(chan ringdesk.RoutingEvent, 1024),
		desks:   cfg.DeskBus,
	}
	if r.desks == nil {
		r.desks = NewDeskBus(rdb, cfg.Site)
	}
	r.b = &batcher{
		exec: func(ctx context.Context, args []any) (any, error) {
			return r.s.batch.Run(ctx, rdb, r.keys, args...).Result()
		},
		maxBatch:    cfg.MaxBatch,
		maxInFlight: cfg.MaxInFlight,
		timeout:     10 * time.Second,
	}
	return r, nil
}

// Node returns the node id.
func (r *Router) Node() string { return r.cfg.Node }

// Open loads the scripts, joins the site (ECONFLICT while a live node runs
// another engine version, see lua_join.lua), ends the calls a previous
// process with the same node id left behind (their SIP dialogs died with
// it: result node-lost), heartbeats once and starts the node's loops: the
// tick (heartbeat and reaper) and the notice reader.
func (r *Router) Open(ctx context.Context) error {
	for _, s := range r.s.all() {
		if err := s.Load(ctx, r.rdb).Err(); err != nil {
			return formatError("load routing scripts", err)
		}
	}
	// One engine version per site: a node of another version may read
	// and write the same keys differently.
	version := r.cfg.version
	if version == "" {
		version = engineVersion()
	}
	if err := r.s.join.Run(ctx, r.rdb, r.keys, r.cfg.Node, version).Err(); err != nil {
		return formatError("join the site", err)
	}
	// Calls this node id still owns are a previous process's: end them.
	for {
		left, err := r.s.restart.Run(ctx, r.rdb, r.keys, r.cfg.Node, r.cfg.TickBatch).Int64()
		if err != nil {
			return formatError("end calls of previous run", err)
		}
		if left == 0 {
			break
		}
	}
	if _, err := r.tickOnce(ctx); err != nil {
		return err
	}
	start, err := r.serverTime(ctx)
	if err != nil {
		return err
	}
	lctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.wg.Add(2)
	go r.tickLoop(lctx)
	go r.noticeLoop(lctx, fmt.Sprintf("%d-0", start.UnixMilli()-1))
	return nil
}

// Close stops the loops and deregisters the node, so that the survivors
// recover its calls at their next tick instead of after the heartbeat TTL.
func (r *Router) Close() error {
	r.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := r.rdb.ZAdd(ctx, r.prefix+"nodes", redis.Z{Score: 0, Member: r.cfg.Node}).Err(); err != nil {
		return formatError("deregister node", err)
	}
	return nil
}

// stop ends the loops without deregistering: to the other nodes this looks
// like a crash.
func (r *Router) stop() {
	if r.cancel != nil {
		r.cancel()
		r.wg.Wait()
		r.cancel = nil
	}
}

func (r *Router) tickLoop(ctx context.Context) {
	defer r.wg.Done()
	t := time.NewTicker(r.cfg.TickInterval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		tctx, cancel := context.WithTimeout(ctx, r.cfg.HeartbeatTTL)
		st, err := r.tickOnce(tctx)
		cancel()
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			r.log.Error("routing tick failed", "error", err)
			failing = true
		case err == nil && failing:
			r.log.Info("routing tick recovered")
			failing = false
		}
		if err == nil && st.recovered > 0 {
			r.log.Info("recovered calls of dead node", "calls", st.recovered)
		}
	}
}

type tickStats struct{ ronas, wrapups, overflows, recovered, swept int64 }

func (r *Router) tickOnce(ctx context.Context) (tickStats, error) {
	var st tickStats
	v, err := r.s.tick.Run(ctx, r.rdb, r.keys, r.cfg.Node, r.cfg.HeartbeatTTL.Milliseconds(),
		r.cfg.TickBatch, r.cfg.OrphanPolicy).Int64Slice()
	if err != nil {
		return st, formatError("routing tick", err)
	}
	if len(v) == 5 {
		st = tickStats{v[0], v[1], v[2], v[3], v[4]}
	}
	return st, nil
}

// noticeLoop reads this node's inbox stream and hands each notice to
// Notices(). It resumes after the last entry read, across reconnects.
func (r *Router) noticeLoop(ctx context.Context, last string) {
	defer r.wg.Done()
	key := r.prefix + "n:" + r.cfg.Node + ":inbox"
	r.readStream(ctx, key, last, 0, nil, func(ev ringdesk.RoutingEvent) bool {
		select {
		case r.notices <- ev:
			return true
		case <-ctx.Done():
			return false
		}
	})
}

// readStream tails a stream from after last (a stream ID or an event ID,
// see splitResume), calling fn for each event until fn returns false or
// ctx ends. Errors are retried with backoff. With pace > 0, a read that
// did not fill its count is followed by that pause before the next. keep
// (nil: every event) chooses by kind which events fn sees.
func (r *Router) readStream(ctx context.Context, key, last string, pace time.Duration, keep func(string) bool, fn func(ringdesk.RoutingEvent) bool) {
	last, skip, inclusive, err := splitResume(last)
	if err != nil {
		r.log.Error("read routing stream", "stream", key, "error", err)
		return
	}
	backoff := 50 * time.Millisecond
	var pause *time.Timer
	for ctx.Err() == nil {
		var res []redis.XStream
		if inclusive {
			// Resume inside an entry: read it again, then go on after it.
			var msgs []redis.XMessage
			msgs, err = r.rdb.XRangeN(ctx, key, last, "+", 1).Result()
			if len(msgs) == 0 || msgs[0].ID != last {
				skip = 0 // trimmed away: go on from what is there
			}
			res = []redis.XStream{{Stream: key, Messages: msgs}}
		} else {
			res, err = r.rdb.XRead(ctx, &redis.XReadArgs{Streams: []string{key, last}, Count: streamReadCount, Block: 250 * time.Millisecond}).Result()
		}
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			r.log.Warn("read routing stream", "stream", key, "error", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 2*time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		inclusive = false
		for _, s := range res {
			for _, m := range s.Messages {
				last = m.ID
				evs, err := parseEntry(m, skip, keep)
				skip = 0
				if err != nil {
					// Not written by our scripts: skip it, loudly.
					r.log.Error("read routing stream", "stream", key, "error", err)
					continue
				}
				for _, ev := range evs {
					if !fn(ev) {
						return
					}
				}
			}
		}
		if pace > 0 && len(res) == 1 && len(res[0].Messages) < streamReadCount {
			if pause == nil {
				pause = time.NewTimer(pace)
			} else {
				pause.Reset(pace)
			}
			select {
			case <-ctx.Done():
				pause.Stop()
				return
			case <-pause.C:
			}
		}
	}
}

// streamReadCount is the most entries one read of a stream takes.
const streamReadCount = 500

// Notices implements ringdesk.Router.
func (r *Router) Notices() <-chan ringdesk.RoutingEvent { return r.notices }

// Subscribe implements ringdesk.Router.
func (r *Router) Subscribe(ctx context.Context, after string) (<-chan ringdesk.RoutingEvent, error) {
	return r.subscribe(ctx, after, nil)
}

// SubscribeKinds is Subscribe for the events of the given kinds only
// (ringdesk.EventAgentState, …): the others are not even decoded. Resuming
// works as with Subscribe: an event's ID counts the events skipped too.
func (r *Router) SubscribeKinds(ctx context.Context, after string, kinds ...string) (<-chan ringdesk.RoutingEvent, error) {
	if len(kinds) == 0 {
		return nil, ringdesk.Errorf(ringdesk.EINVALID, "Subscribe to which kinds of routing events? None were given.")
	}
	kinds = slices.Clone(kinds)
	return r.subscribe(ctx, after, func(kind string) bool { return slices.Contains(kinds, kind) })
}

func (r *Router) subscribe(ctx context.Context, after string, keep func(string) bool) (<-chan ringdesk.RoutingEvent, error) {
	if _, _, _, err := splitResume(after); err != nil {
		return nil, err
	}
	if after == "" {
		now, err := r.serverTime(ctx)
		if err != nil {
			return nil, err
		}
		// Everything stamped from this millisecond on: no gap between
		// Subscribe returning and the first read.
		after = fmt.Sprintf("%d-0", now.UnixMilli()-1)
	}
	ch := make(chan ringdesk.RoutingEvent, 256)
	go func() {
		defer close(ch)
		r.readStream(ctx, r.prefix+"events", after, r.cfg.EventPace, keep, func(ev ringdesk.RoutingEvent) bool {
			select {
			case ch <- ev:
				return true
			case <-ctx.Done():
				return false
			}
		})
	}()
	return ch, nil
}

func (r *Router) serverTime(ctx context.Context) (time.Time, error) {
	t, err := r.rdb.Time(ctx).Result()
	if err != nil {
		return time.Time{}, formatError("read redis time", err)
	}
	return t, nil
}

// run runs a script and maps its error.
func (r *Router) run(ctx context.Context, s *redis.Script, op string, args ...any) (any, error) {
	v, err := s.Run(ctx, r.rdb, r.keys, args...).Result()
	if err != nil {
		return nil, formatError(op, err)
	}
	return v, nil
}

// codeError maps a script's error message "<code> <message>" to a
// ringdesk error; nil when msg has no known code.
func codeError(op, msg string) error {
	// A raised error carries a suffix naming the script: drop it.
	if i := strings.Index(msg, " script: "); i >= 0 {
		msg = msg[:i]
	}
	// A script of its own (see newScripts) raises its error, and Redis
	// puts ERR before a code it does not know.
	msg = strings.TrimPrefix(msg, "ERR ")
	for _, code := range []string{ringdesk.ECONFLICT, ringdesk.EINVALID, ringdesk.ENOTFOUND, ringdesk.EUNAVAILABLE} {
		if rest, ok := strings.CutPrefix(msg, code+" "); ok {
			return fmt.Errorf("%s: %w", op, ringdesk.Errorf(code, "%s", rest))
		}
	}
	return nil
}

// scriptError is the error of one operation of a batch (see batcher).
func scriptError(op, msg string) error {
	if e := codeError(op, msg); e != nil {
		return e
	}
	return fmt.Errorf("%s: routing script: %s", op, msg)
}

// formatError maps script error replies ("conflict Agent a1 is …") to
// ringdesk errors and anything that is not a Redis reply (a dead
// connection, a timeout) to EUNAVAILABLE.
func formatError(op string, err error) error {
	var rerr redis.Error
	if errors.As(err, &rerr) {
		msg := rerr.Error()
		if strings.HasPrefix(msg, "LOADING") || strings.HasPrefix(msg, "READONLY") || strings.HasPrefix(msg, "MASTERDOWN") {
			return fmt.Errorf("%s: %w: %w", op, ringdesk.Errorf(ringdesk.EUNAVAILABLE, "Routing store is unavailable."), err)
		}
		if e := codeError(op, msg); e != nil {
			return e
		}
		return fmt.Errorf("%s: %w", op, err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", op, err)
	}
	return fmt.Errorf("%s: %w: %w", op, ringdesk.Errorf(ringdesk.EUNAVAILABLE, "Routing store is unavailable."), err)
}
