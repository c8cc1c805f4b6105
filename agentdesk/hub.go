// Package agentdesk is the WebSocket hub of agents' desks: it pushes
// screen-pops, call progress and state changes to the desks and takes the
// agents' state commands. It works across nodes through a ringdesk.DeskBus:
// a pop sent on any node reaches the agent's desks on every node, and only
// that agent's.
//
// It follows gorilla/websocket's chat example: one reader and one writer
// goroutine per connection, a bounded send queue per connection, ping/pong
// deadlines, and a desk whose queue is full is disconnected, never waited
// on, so a slow browser never holds up the call path. The messages are in
// PROTOCOL.md.
package agentdesk

import (
	"context"
	"encoding/json"
	"hash/fnv"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ringdesk/ringdesk"
)

// AgentControl changes an agent's routing state. The routing engine's
// Router satisfies it; its errors (ECONFLICT for a transition the current
// state does not allow, EINVALID, EUNAVAILABLE) go back to the desk in the
// command's ack.
type AgentControl interface {
	Login(ctx context.Context, agentID string, ready bool) error
	SetReady(ctx context.Context, agentID string) error
	SetAway(ctx context.Context, agentID, reason string) error
	EndWrapUp(ctx context.Context, agentID string) error
	Logout(ctx context.Context, agentID string) error
}

// DeskCallForgetter is an AgentControl whose state changes forget the
// agent desk's current call themselves, in the same step (routing.Router:
// its scripts delete it whenever the agent becomes available, away or
// logged out). After a ready, end-wrapup or logout the hub then leaves the
// desk bus alone; for any other AgentControl it forgets the call itself.
type DeskCallForgetter interface {
	ForgetsDeskCall() bool
}

// Defaults of the options.
const (
	DefaultSendQueue      = 64
	DefaultPongWait       = 60 * time.Second
	DefaultWriteWait      = 10 * time.Second
	DefaultReadLimit      = 4096
	DefaultPresenceTTL    = 30 * time.Second
	DefaultCurrentTTL     = 4 * time.Hour
	DefaultCommandTimeout = 5 * time.Second
	DefaultInvalidLimit   = 10 // invalid messages per InvalidWindow before the desk is closed
	DefaultInvalidWindow  = time.Minute
)

type options struct {
	sendQueue      int
	pongWait       time.Duration
	writeWait      time.Duration
	readLimit      int64
	presenceTTL    time.Duration
	currentTTL     time.Duration
	commandTimeout time.Duration
	invalidLimit   int
	invalidWindow  time.Duration
	origins        []string
	onPopAck       func(agentID, callID string, latency time.Duration)
	stateOf        func(ctx context.Context, agentID string) (*ringdesk.AgentStateChange, error)
}

// Option sets an optional parameter of a Hub.
type Option func(*options)

// WithSendQueue sets how many messages may wait for a slow desk before it
// is disconnected (default 64).
func WithSendQueue(n int) Option { return func(o *options) { o.sendQueue = n } }

// WithPongWait sets how long a desk may stay silent (no pong, no message)
// before it is dropped; pings go every pongWait*9/10 (default 60s).
func WithPongWait(d time.Duration) Option { return func(o *options) { o.pongWait = d } }

// WithWriteWait sets the deadline of each write to a desk (default 10s).
func WithWriteWait(d time.Duration) Option { return func(o *options) { o.writeWait = d } }

// WithReadLimit sets the largest message a desk may send, in bytes (default
// 4096); a larger one closes the connection.
func WithReadLimit(n int64) Option { return func(o *options) { o.readLimit = n } }

// WithPresenceTTL sets how long a desk's presence outlives this node if it
// dies without clearing it; it is refreshed every third of it (default 30s).
func WithPresenceTTL(d time.Duration) Option { return func(o *options) { o.presenceTTL = d } }

// WithCurrentTTL sets how long an agent's current call is kept for a desk
// that reconnects, after its last pop or progress (default 4h).
func WithCurrentTTL(d time.Duration) Option { return func(o *options) { o.currentTTL = d } }

// WithCommandTimeout bounds each AgentControl call (default 5s).
func WithCommandTimeout(d time.Duration) Option { return func(o *options) { o.commandTimeout = d } }

// WithInvalidMessageLimit closes a desk that sends more than n invalid
// messages within window (default 10 a minute); fewer get an error message
// each and the connection stays.
func WithInvalidMessageLimit(n int, window time.Duration) Option {
	return func(o *options) { o.invalidLimit, o.invalidWindow = n, window }
}

// WithAllowedOrigins allows desks served from other origins
// ("https://desk.example.com"), on top of the same origin as the request.
func WithAllowedOrigins(origins ...string) Option {
	return func(o *options) { o.origins = append(o.origins, origins...) }
}

// WithOnPopAck sets a function called when a desk acknowledges a pop it
// received live, with the time since SendPop sent it (measured on this
// node's clock against the sender's: nodes' clocks should be synchronised).
// It is called from the desk's reader goroutine and must not block.
func WithOnPopAck(f func(agentID, callID string, latency time.Duration)) Option {
	return func(o *options) { o.onPopAck = f }
}

// WithStateLookup sets how the hub finds an agent's routing state, sent as
// a state message right after the hello so that a desk that (re)connects
// shows the right buttons at once (main adapts the Router's FindAgent).
// Without it the desk learns its state from the next state message.
func WithStateLookup(f func(ctx context.Context, agentID string) (*ringdesk.AgentStateChange, error)) Option {
	return func(o *options) { o.stateOf = f }
}

// Hub serves desk WebSocket connections on one node. It implements
// http.Handler (mount it at /desk/ws) and ringdesk.DeskService.
type Hub struct {
	node    string
	bus     ringdesk.DeskBus
	auth    Authenticator
	control AgentControl
	logger  *slog.Logger
	opt     options

	upgrader websocket.Upgrader

	mu      sync.Mutex
	state   int // hubNew, hubOpen, hubClosed
	desks   map[string]map[*desk]struct{}
	stopSub func()
	quit    chan struct{} // closed by Close: stops the presence refresher
	wg      sync.WaitGroup

	presenceMu [64]sync.Mutex

	// sending holds what SendPop knows of each pop it is handing to the
	// bus, by the first byte of the pop's payload: the bus gives this
	// node's desks that same message (deliver), which then need not decode
	// its 2 KB of JSON again for the call, the agent and the time.
	sending sync.Map // *byte → popInfo
}

const (
	hubNew = iota
	hubOpen
	hubClosed
)

var _ ringdesk.DeskService = (*Hub)(nil)
var _ ringdesk.ProgressEncoder = (*Hub)(nil)
var _ http.Handler = (*Hub)(nil)

// NewHub returns a hub for node (this Ringdesk node's id, as the DeskBus
// knows it). Open it before serving.
func NewHub(node string, bus ringdesk.DeskBus, auth Authenticator, control AgentControl, logger *slog.Logger, opts ...Option) *Hub {
	o := options{
		sendQueue:      DefaultSendQueue,
		pongWait:       DefaultPongWait,
		writeWait:      DefaultWriteWait,
		readLimit:      DefaultReadLimit,
		presenceTTL:    DefaultPresenceTTL,
		currentTTL:     DefaultCurrentTTL,
		commandTimeout: DefaultCommandTimeout,
		invalidLimit:   DefaultInvalidLimit,
		invalidWindow:  DefaultInvalidWindow,
	}
	for _, opt := range opts {
		opt(&o)
	}
	// Out-of-range values fall back to sane ones rather than break the hub:
	// the hello and a current call (pop + progress) must always fit the
	// queue, and tickers need positive periods.
	o.sendQueue = max(o.sendQueue, 8)
	o.pongWait = max(o.pongWait, 10*time.Millisecond)
	o.writeWait = max(o.writeWait, 10*time.Millisecond)
	o.readLimit = max(o.readLimit, 512)
	o.presenceTTL = max(o.presenceTTL, 30*time.Millisecond)
	o.commandTimeout = max(o.commandTimeout, 10*time.Millisecond)
	if o.currentTTL <= 0 {
		o.currentTTL = DefaultCurrentTTL
	}
	if o.invalidLimit < 0 || o.invalidWindow <= 0 {
		o.invalidLimit, o.invalidWindow = DefaultInvalidLimit, DefaultInvalidWindow
	}
	h := &Hub{
		node:    node,
		bus:     bus,
		auth:    auth,
		control: control,
		logger:  logger,
		opt:     o,
		desks:   make(map[string]map[*desk]struct{}),
		quit:    make(chan struct{}),
	}
	h.upgrader = websocket.Upgrader{
		ReadBufferSize:  4096,
		WriteBufferSize: 4096,
		CheckOrigin:     h.checkOrigin,
	}
	return h
}

// Open subscribes to this node's desk messages and starts refreshing the
// presence of connected desks. Returns EINVALID for a bad node id,
// EUNAVAILABLE when the bus cannot be reached.
func (h *Hub) Open(ctx context.Context) error {
	if !ringdesk.ValidDeskID(h.node) {
		return ringdesk.Errorf(ringdesk.EINVALID, "Node id %q is not a valid desk id.", h.node)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.state != hubNew {
		return ringdesk.Errorf(ringdesk.ECONFLICT, "The desk hub was already opened.")
	}
	stop, err := h.bus.Subscribe(ctx, h.node, func(agentID string, msg ringdesk.DeskMessage) {
		h.deliver(agentID, msg)
	}, h.resync)
	if err != nil {
		return err
	}
	h.stopSub = stop
	h.state = hubOpen
	h.wg.Add(1)
	go h.refreshPresence()
	return nil
}

// Close closes every desk connection with "going away" (1001), so that
// desks reconnect, to another node if there is one, stops the subscription
// and clears this node's presences. It waits for the connections to end
// until ctx is done.
func (h *Hub) Close(ctx context.Context) error {
	h.mu.Lock()
	if h.state == hubClosed {
		h.mu.Unlock()
		return nil
	}
	wasOpen := h.state == hubOpen
	h.state = hubClosed
	close(h.quit)
	var all []*desk
	for _, set := range h.desks {
		for d := range set {
			all = append(all, d)
		}
	}
	stop := h.stopSub
	h.mu.Unlock()

	if wasOpen {
		stop()
	}
	for _, d := range all {
		d.close(websocket.CloseGoingAway, "server going away", true)
	}
	done := make(chan struct{})
	go func() {
		h.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Desks returns the number of desk connections on this node.
func (h *Hub) Desks() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, set := range h.desks {
		n += len(set)
	}
	return n
}

// SendPop implements ringdesk.DeskService: it keeps the pop as the agent's
// current call, then publishes it to the agent's desks on every node.
func (h *Hub) SendPop(ctx context.Context, pop *ringdesk.Pop) error {
	if err := pop.Validate(); err != nil {
		return err
	}
	pop.SentAt = time.Now()
	msg := encode(TypePop, "", pop)
	if len(msg.Payload) > 0 {
		key := &msg.Payload[0]
		// As the JSON carries it: wall clock only.
		h.sending.Store(key, popInfo{CallID: pop.CallID, AgentID: pop.AgentID, SentAt: pop.SentAt.Round(0)})
		defer h.sending.Delete(key)
	}
	n, err := h.bus.SetCurrentPop(ctx, pop.AgentID, pop.CallID, msg, h.opt.currentTTL)
	return delivered(pop.AgentID, n, err)
}

// SendProgress implements ringdesk.DeskService. Progress of a call other
// than the agent's current one is still sent, but not kept.
func (h *Hub) SendProgress(ctx context.Context, p *ringdesk.CallProgress) error {
	msg, ttl, err := h.ProgressMessage(p)
	if err != nil {
		return err
	}
	_, n, err := h.bus.SetCurrentProgress(ctx, p.AgentID, p.CallID, msg, ttl)
	return delivered(p.AgentID, n, err)
}

// ProgressMessage implements ringdesk.ProgressEncoder: the message
// SendProgress would send and keep, and for how long it keeps it.
func (h *Hub) ProgressMessage(p *ringdesk.CallProgress) (ringdesk.DeskMessage, time.Duration, error) {
	if err := p.Validate(); err != nil {
		return ringdesk.DeskMessage{}, 0, err
	}
	if p.At.IsZero() {
		p.At = time.Now()
	}
	return encode(TypeCall, "", p), h.opt.currentTTL, nil
}

// SendAgentState implements ringdesk.DeskService.
func (h *Hub) SendAgentState(ctx context.Context, s *ringdesk.AgentStateChange) error {
	if !ringdesk.ValidDeskID(s.AgentID) || s.State == "" {
		return ringdesk.Errorf(ringdesk.EINVALID, "A state change needs an agent id and a state.")
	}
	if s.Since.IsZero() {
		s.Since = time.Now()
	}
	if h.deliver(s.AgentID, encode(TypeState, "", s)) == 0 {
		return ringdesk.Errorf(ringdesk.ENOTFOUND, "Agent %s has no desk connected to this node.", s.AgentID)
	}
	return nil
}

// DeskConnected implements ringdesk.DeskService.
func (h *Hub) DeskConnected(ctx context.Context, agentID string) (bool, error) {
	return h.bus.DeskConnected(ctx, agentID)
}

// delivered turns a publication's count of subscriptions reached into the
// DeskService's error: ENOTFOUND when no desk of the agent is connected.
func delivered(agentID string, n int, err error) error {
	if err != nil {
		return err
	}
	if n == 0 {
		return ringdesk.Errorf(ringdesk.ENOTFOUND, "Agent %s has no desk connected.", agentID)
	}
	return nil
}

// deliver takes a message (from the bus, or an agent state from this node)
// to this node's desks of agentID and returns how many took it. It never
// blocks.
func (h *Hub) deliver(agentID string, msg ringdesk.DeskMessage) int {
	desks := h.desksOf(agentID)
	if len(desks) == 0 {
		// The bus hands this node every message sent from it, wherever the
		// agent's desk is.
		return 0
	}
	var pop popInfo
	if msg.Type == TypePop {
		if err := h.popOf(msg.Payload, &pop); err != nil || pop.AgentID != agentID {
			// A pop is only ever shown to its own agent.
			h.logger.Error("desk pop addressed to another agent", "agent_id", agentID, "pop_agent_id", pop.AgentID)
			return 0
		}
	}
	data := msg.JSON() // the payload is JSON (json.Marshal's, or from the bus)
	n := 0
	for _, d := range desks {
		if msg.Type == TypePop && !d.notePop(pop, true) {
			continue
		}
		if d.enqueue(data) {
			n++
		}
	}
	return n
}

// popOf reads a pop's call, agent and time: from SendPop when this node
// is sending it, else from its payload.
func (h *Hub) popOf(payload json.RawMessage, p *popInfo) error {
	if len(payload) > 0 {
		if v, ok := h.sending.Load(&payload[0]); ok {
			*p = v.(popInfo)
			return nil
		}
	}
	return json.Unmarshal(payload, p)
}

// resync runs after the bus reconnected by itself: Redis may have restarted
// (presence lost) and messages may have been lost, so presence is refreshed
// and each desk is sent its current call again.
func (h *Hub) resync() {
	h.mu.Lock()
	if h.state != hubOpen {
		h.mu.Unlock()
		return
	}
	h.wg.Add(1)
	h.mu.Unlock()
	go func() {
		defer h.wg.Done()
		h.logger.Warn("desk bus reconnected: resending current calls")
		for _, agentID := range h.agents() {
			ctx, cancel := context.WithTimeout(context.Background(), h.opt.commandTimeout)
			if err := h.setPresence(ctx, agentID); err != nil {
				h.logger.Error("refresh desk presence", "agent_id", agentID, "error", err)
			}
			for _, d := range h.desksOf(agentID) {
				d.sendCurrent(ctx)
			}
			cancel()
		}
	}()
}

func (h *Hub) refreshPresence() {
	defer h.wg.Done()
	t := time.NewTicker(h.opt.presenceTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-h.quit:
			return
		case <-t.C:
		}
		for _, agentID := range h.agents() {
			ctx, cancel := context.WithTimeout(context.Background(), h.opt.presenceTTL/3)
			if err := h.setPresence(ctx, agentID); err != nil {
				h.logger.Error("refresh desk presence", "agent_id", agentID, "error", err)
			}
			cancel()
		}
	}
}

func (h *Hub) agents() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	ids := make([]string, 0, len(h.desks))
	for id := range h.desks {
		ids = append(ids, id)
	}
	return ids
}

func (h *Hub) desksOf(agentID string) []*desk {
	h.mu.Lock()
	defer h.mu.Unlock()
	set := h.desks[agentID]
	out := make([]*desk, 0, len(set))
	for d := range set {
		out = append(out, d)
	}
	return out
}

// register adds a desk and counts its two goroutines in h.wg; it fails once
// the hub is closing.
func (h *Hub) register(d *desk) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.state != hubOpen {
		return false
	}
	h.wg.Add(2)
	set := h.desks[d.agentID]
	if set == nil {
		set = make(map[*desk]struct{})
		h.desks[d.agentID] = set
	}
	set[d] = struct{}{}
	return true
}

// unregister removes a desk and, when it was the agent's last one on this
// node, the agent's presence here.
func (h *Hub) unregister(d *desk) {
	h.mu.Lock()
	set := h.desks[d.agentID]
	delete(set, d)
	last := len(set) == 0
	if last {
		delete(h.desks, d.agentID)
	}
	h.mu.Unlock()
	if !last {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.opt.commandTimeout)
	defer cancel()
	mu := h.presenceLock(d.agentID)
	mu.Lock()
	defer mu.Unlock()
	// A new desk of the agent may have come meanwhile (a page reload).
	if h.hasDesk(d.agentID) {
		return
	}
	if err := h.bus.ClearPresence(ctx, d.agentID, h.node); err != nil {
		h.logger.Error("clear desk presence", "agent_id", d.agentID, "error", err)
	}
}

// setPresence records the agent's presence here if it still has a desk
// here. Presence changes of one agent are serialised (see presenceLock), so
// a desk leaving never clears the presence of a desk just arrived.
func (h *Hub) setPresence(ctx context.Context, agentID string) error {
	mu := h.presenceLock(agentID)
	mu.Lock()
	defer mu.Unlock()
	if !h.hasDesk(agentID) {
		return nil
	}
	return h.bus.SetPresence(ctx, agentID, h.node, h.opt.presenceTTL)
}

func (h *Hub) hasDesk(agentID string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.desks[agentID]) > 0
}

// presenceLock returns the lock serialising one agent's presence changes
// on this node (striped: agents share a few locks).
func (h *Hub) presenceLock(agentID string) *sync.Mutex {
	f := fnv.New32a()
	f.Write([]byte(agentID))
	return &h.presenceMu[f.Sum32()%uint32(len(h.presenceMu))]
}

// ServeHTTP upgrades an authenticated agent's request to a desk
// connection. Before the upgrade: 405 for a method other than GET, 503 when
// the hub is not open, 403 for a foreign Origin, 401 without valid
// credentials, 403 for a user who takes no calls.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "Method not allowed.", http.StatusMethodNotAllowed)
		return
	}
	h.mu.Lock()
	open := h.state == hubOpen
	h.mu.Unlock()
	if !open {
		http.Error(w, "The desk service is not available.", http.StatusServiceUnavailable)
		return
	}
	if !h.checkOrigin(r) {
		http.Error(w, "Origin not allowed.", http.StatusForbidden)
		return
	}
	user, err := h.auth.AuthenticateDesk(r)
	if err != nil {
		status := http.StatusUnauthorized
		switch ringdesk.ErrorCode(err) {
		case ringdesk.EFORBIDDEN:
			status = http.StatusForbidden
		case ringdesk.EUNAVAILABLE:
			status = http.StatusServiceUnavailable
		case ringdesk.EINTERNAL:
			h.logger.Error("authenticate desk", "error", err)
			status = http.StatusInternalServerError
		}
		http.Error(w, ringdesk.ErrorMessage(err), status)
		return
	}
	if !deskRole(user.Role) {
		http.Error(w, "Only agents and supervisors have a desk.", http.StatusForbidden)
		return
	}
	conn, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered
	}
	h.serve(conn, user)
}

// serve runs a desk connection: the writer on its own goroutine, the reader
// on this one.
func (h *Hub) serve(conn *websocket.Conn, user *ringdesk.User) {
	d := newDesk(h, conn, user)
	// The hello goes first, before the desk can receive anything else.
	d.enqueue(mustJSON(encode(TypeHello, "", Hello{
		AgentID:        d.agentID,
		Username:       user.Username,
		Role:           user.Role,
		Node:           h.node,
		ServerTime:     time.Now(),
		Protocol:       Version,
		PingIntervalMS: h.pingPeriod().Milliseconds(),
	})))
	if !h.register(d) {
		_ = conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseGoingAway, "server going away"),
			time.Now().Add(h.opt.writeWait))
		_ = conn.Close()
		return
	}
	defer h.wg.Done()
	// Presence before the hello is written, so that a desk that has its
	// hello is reachable from every node; and before the current call is
	// read, so that a pop sent meanwhile is either published here or found
	// in Current: it is never missed (and sent once, see notePop). The
	// writer starts after that, so hello and the current call come first.
	ctx, cancel := context.WithTimeout(context.Background(), h.opt.commandTimeout)
	if err := h.setPresence(ctx, d.agentID); err != nil {
		h.logger.Error("set desk presence", "agent_id", d.agentID, "error", err)
		d.sendError("", err)
	}
	if h.opt.stateOf != nil {
		st, err := h.opt.stateOf(ctx, d.agentID)
		switch {
		case err != nil:
			h.logger.Error("find agent state", "agent_id", d.agentID, "error", err)
		case st != nil:
			d.sendMessage(encode(TypeState, "", st))
		}
	}
	d.sendCurrent(ctx)
	cancel()
	go func() {
		defer h.wg.Done()
		d.writePump()
	}()
	h.logger.Info("desk connected", "agent_id", d.agentID, "remote", conn.RemoteAddr().String())

	d.readPump()
	h.unregister(d)
	h.logger.Info("desk disconnected", "agent_id", d.agentID, "reason", d.closeReason())
}

func (h *Hub) pingPeriod() time.Duration { return h.opt.pongWait * 9 / 10 }

// checkOrigin allows requests without an Origin (not from a browser; they
// still need a token), from the request's own host, or from an allowed
// origin.
func (h *Hub) checkOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	for _, a := range h.opt.origins {
		if strings.EqualFold(strings.TrimSuffix(a, "/"), u.Scheme+"://"+u.Host) {
			return true
		}
	}
	return false
}

// agentIDOf is the desk and routing id of a user.
func agentIDOf(u *ringdesk.User) string { return strconv.FormatInt(u.ID, 10) }

func mustJSON(m ringdesk.DeskMessage) []byte {
	if m.Sealed() {
		return m.JSON()
	}
	data, err := json.Marshal(m)
	if err != nil {
		panic(err) // our own envelope always encodes
	}
	return data
}

// errorPayload is what a desk is told about err.
func errorPayload(err error) ErrorPayload {
	return ErrorPayload{Code: ringdesk.ErrorCode(err), Message: ringdesk.ErrorMessage(err)}
}
