package telephony

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/google/uuid"

	"github.com/ringdesk/ringdesk"
)

// CustomerLookup finds who is calling; store.DB implements it.
type CustomerLookup interface {
	LookupByPhone(ctx context.Context, raw string) ([]*ringdesk.Customer, error)
	// CustomerActivity returns a customer's history and open cases (one
	// MySQL statement for both).
	CustomerActivity(ctx context.Context, id int64, limit int) ([]ringdesk.HistoryItem, []ringdesk.Case, error)
}

// AgentDirectory finds an agent's user (for its SIP user name, the AOR of
// its phone); store.DB implements it.
type AgentDirectory interface {
	FindUserByID(ctx context.Context, id int64) (*ringdesk.User, error)
}

// InboundConfig holds the dependencies and settings of the inbound call
// path. Router, Desks, Registrations, Customers, Agents, Calls, DIDs,
// Admission and Normalizer are required.
type InboundConfig struct {
	Node string // this node's id: it owns the calls it takes
	// Host is the address phones reach this node at (Via and Contact of
	// agent legs); empty means the UDP listen address.
	Host          string
	Router        ringdesk.Router
	Desks         ringdesk.DeskService
	Registrations ringdesk.Registrations
	Customers     CustomerLookup
	Agents        AgentDirectory
	Calls         *CallLog
	DIDs          *DIDTable
	Admission     *Admission
	Normalizer    ringdesk.PhoneNormalizer
	Logger        *slog.Logger

	// LookupBudget bounds how long the pop waits for the customer
	// lookup: past it the pop says "unavailable" and the call routes
	// anyway. Default 300 ms.
	LookupBudget time.Duration
	// LookupTimeout bounds the lookup's queries themselves, which go on
	// past the budget: go-sql-driver/mysql closes the connection of a
	// query cancelled mid-flight, and when MySQL is late because it is
	// overloaded, reconnecting (a new server thread, the handshake, the
	// session's settings) adds to its load. Default 5 s.
	LookupTimeout time.Duration
	// MaxLookups bounds the lookups running at once, late ones included.
	// A call arriving while that many run waits for one to end within the
	// LookupBudget, then pops "unavailable" instead of queueing for MySQL
	// behind them. Default 8: a lookup holds one connection at a time (the
	// number, then history and open cases in one statement), so at most a
	// quarter of the store's default pool of 32, and the call log and the
	// pages keep theirs.
	MaxLookups int
	// QueuedInterval is how often 182 Queued is repeated while the caller
	// waits (upstream Timer C needs one at least every 60 s). Default 30 s.
	QueuedInterval time.Duration
	// RingTimeout overrides the ring time the routing engine gives each
	// offer (its ring_ms); 0 uses the engine's.
	RingTimeout time.Duration
	// RetryAfter is the Retry-After of 503 answers. Default 30 s.
	RetryAfter time.Duration
	// HistoryLimit is how many recent items a pop carries. Default 5.
	HistoryLimit int
	// OnPop, when set, is called after each pop was sent and before the
	// agent's phone is rung, with the time from the INVITE to the pop and
	// from the pop to the agent's INVITE (for metrics and tests).
	OnPop func(callID, agentID string, inviteToPop, popToRing time.Duration)
}

// Inbound is the inbound call path: a signalling B2BUA between a trunk
// and the agents' phones, driven by the routing engine. The caller's
// dialog ends here (one To-tag from 182 to 200); each offer opens a second
// dialog to the agent's registered phone carrying the caller's SDP, whose
// answer goes back to the caller, so media flows trunk ↔ phone directly.
// Once answered, re-INVITEs (with their ACK or CANCEL), INFO, UPDATE and
// BYE are relayed across the legs either way, each leg keeping its own
// CSeq and tags. The agent's leg is reached over the transport it
// registered with, and signalled where the phone really sends from (see
// nextHop and agentUA), so phones behind NAT work.
//
// Wiring order: NewInbound; NewServer with Config.OnUnmatchedResponse set
// to HandleUnmatchedResponse; Register (it owns OnInvite, OnAck, OnBye,
// OnCancel, OnInfo and OnUpdate); Server.Listen; Open. On shutdown, Close
// before the server closes.
type Inbound struct {
	cfg InboundConfig
	log *slog.Logger

	srv  *Server
	legs atomic.Pointer[legs] // set by Open; nil until then

	mu    sync.Mutex
	calls map[string]*liveCall // by call id
	aors  map[int64]aorEntry   // agents' SIP user names, so MySQL stays off the ring path
	bySIP map[string]*liveCall // by the SIP Call-ID of either leg

	// teller and encoder are the Router and desks when both can tell a
	// call's answer and end to the desk in the routing step (nil if not).
	teller  ringdesk.ProgressTeller
	encoder ringdesk.ProgressEncoder

	lookups     chan struct{} // one token per lookup running (MaxLookups)
	lateLookups atomic.Int64  // lookups still running when their pop went out
	shedLookups atomic.Int64  // lookups not run: MaxLookups were running

	closing atomic.Bool
	quit    chan struct{} // closed when Close gives up waiting: live calls end
	quitOne sync.Once
	wg      sync.WaitGroup // live calls
	stop    context.CancelFunc
	done    chan struct{}
}

// aorEntry caches an agent's SIP user name.
type aorEntry struct {
	aor string
	at  time.Time
}

// aorTTL is how long a cached SIP user name is used without asking MySQL.
const aorTTL = time.Minute

// legs are the SIP client and dialog caches of both call legs. They are
// built once the server listens (the Contact needs its port).
type legs struct {
	cli     *sipgo.Client
	dsc     *sipgo.DialogServerCache // caller side
	contact sip.ContactHeader        // ours on UDP (the caller's leg)
	host    string                   // our host in Contacts
	// Agent legs have a DialogUA each (see agentUA), not a cache: the
	// live call finds its leg by Call-ID.
}

// liveCall is one call this node owns, from INVITE to the end of both legs.
type liveCall struct {
	id        string
	sipCallID string
	queue     string
	queueID   int64
	caller    Caller
	// match, customers, history and cases are the customer lookup's,
	// written before looked is closed: read them only after <-looked.
	match     string
	customers []*ringdesk.Customer
	history   []ringdesk.HistoryItem
	cases     []ringdesk.Case
	looked    chan struct{}
	lookedAt  time.Time // when looked was closed
	invitedAt time.Time // the trunk's INVITE arrived
	dlg       *sipgo.DialogServerSession
	notices   chan *ringdesk.RoutingEvent
	cancelled chan struct{} // the caller's CANCEL arrived
	connected chan struct{} // closed once both legs are answered and ACKed
	seq       atomic.Int32
	// skipOffer is the agent of the first offer, rung from Enqueue's reply:
	// wait skips that offer's notice, if the Router sends one (serve's does
	// not: routing.Config.OfferInReply). Used by the INVITE's goroutine only.
	skipOffer string

	mu         sync.Mutex
	agentID    string
	agentUID   int64
	agent      *sipgo.DialogClientSession
	answeredAt time.Time
	finished   bool
	reinvite   *reinvite // the re-INVITE being relayed; nil when none
	// The legs' remote targets once a re-INVITE or UPDATE refreshed them
	// (RFC 3261 §12.2.1.2); nil: the dialog's first Contact.
	callerTarget, agentTarget *sip.Uri
}

// NewInbound returns the call path. Install it with Register before the
// server listens, then call Open after Listen.
func NewInbound(cfg InboundConfig) (*Inbound, error) {
	if cfg.Router == nil || cfg.Desks == nil || cfg.Registrations == nil || cfg.Customers == nil ||
		cfg.Agents == nil || cfg.Calls == nil || cfg.DIDs == nil || cfg.Admission == nil || cfg.Normalizer == nil {
		return nil, ringdesk.Errorf(ringdesk.EINVALID, "The inbound call path is missing a dependency.")
	}
	if !ringdesk.ValidDeskID(cfg.Node) {
		return nil, ringdesk.Errorf(ringdesk.EINVALID, "The inbound call path needs a node id.")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.LookupBudget <= 0 {
		cfg.LookupBudget = 300 * time.Millisecond
	}
	if cfg.LookupTimeout <= 0 {
		cfg.LookupTimeout = 5 * time.Second
	}
	cfg.LookupTimeout = max(cfg.LookupTimeout, cfg.LookupBudget)
	if cfg.MaxLookups <= 0 {
		cfg.MaxLookups = 8
	}
	if cfg.QueuedInterval <= 0 || cfg.QueuedInterval > 60*time.Second {
		cfg.QueuedInterval = 30 * time.Second
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = 30 * time.Second
	}
	if cfg.HistoryLimit <= 0 {
		cfg.HistoryLimit = 5
	}
	in := &Inbound{cfg: cfg, log: cfg.Logger, calls: map[string]*liveCall{}, bySIP: map[string]*liveCall{},
		aors: map[int64]aorEntry{}, lookups: make(chan struct{}, cfg.MaxLookups), quit: make(chan struct{})}
	teller, ok1 := cfg.Router.(ringdesk.ProgressTeller)
	enc, ok2 := cfg.Desks.(ringdesk.ProgressEncoder)
	if ok1 && ok2 {
		in.teller, in.encoder = teller, enc
	}
	return in, nil
}

// LookupStats counts the customer lookups that missed their pop: late
// ones (still running at the budget; they finish on their own) and shed
// ones (not run, as MaxLookups were running). For metrics.
func (in *Inbound) LookupStats() (late, shed int64) {
	return in.lateLookups.Load(), in.shedLookups.Load()
}

// Register installs the INVITE, ACK, BYE and CANCEL handlers on srv. Call
// it before srv.Listen.
func (in *Inbound) Register(srv *Server) {
	in.srv = srv
	s := srv.SIP()
	s.OnInvite(in.handleInvite)
	s.OnAck(in.handleAck)
	s.OnBye(in.handleBye)
	s.OnInfo(in.handleInDialog)
	s.OnUpdate(in.handleInDialog)
	// A CANCEL that matches an INVITE transaction is answered by the
	// transaction layer (see OnCancel in handleInvite); this one matched
	// none.
	s.OnCancel(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil))
	})
}

// handleInDialog relays a mid-call INFO or UPDATE (DTMF, session
// refresh) of an answered call to the other leg and its final answer back.
func (in *Inbound) handleInDialog(req *sip.Request, tx sip.ServerTransaction) {
	lg := in.legs.Load()
	c, leg, fromCaller := in.inDialog(lg, req)
	if c == nil {
		respondFinal(tx, req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var res *sip.Response
	var err error
	if fromCaller {
		res, err = leg.Do(ctx, toAgent(c, leg, req))
	} else {
		res, err = c.dlg.Do(ctx, toCaller(c, req))
	}
	if err != nil {
		in.log.Info("relay in-dialog request", "call_id", c.id, "method", req.Method, "error", err)
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusRequestTimeout, "Request Timeout", nil))
		return
	}
	out := relayResponse(req, res)
	if req.Method == sip.UPDATE {
		c.refreshTargets(req, res, fromCaller)
		if res.IsSuccess() {
			// A 2xx to a target refresh carries our Contact (RFC 3311 §5.2).
			contact := lg.contact
			if !fromCaller {
				contact = leg.UA.ContactHDR
			}
			out.AppendHeader(sip.HeaderClone(&contact))
		}
	}
	_ = tx.Respond(out)
}

// relayRequest copies an in-dialog request's method, body and content
// headers for the other leg; the dialog fills in the rest.
func relayRequest(req *sip.Request, target sip.Uri) *sip.Request {
	out := sip.NewRequest(req.Method, target)
	for _, name := range []string{"Content-Type", "Content-Disposition", "Info-Package", "Session-Expires"} {
		if h := req.GetHeader(name); h != nil {
			out.AppendHeader(sip.HeaderClone(h))
		}
	}
	if body := req.Body(); len(body) > 0 {
		out.SetBody(body)
	}
	return out
}

// Open builds the agent-side client on the server's sockets and starts
// consuming the routing engine's notices. Call it after srv.Listen.
func (in *Inbound) Open(ctx context.Context) error {
	if in.srv == nil {
		return errors.New("inbound: Register before Open")
	}
	addr, ok := in.srv.UDPAddr().(*net.UDPAddr)
	if !ok || addr == nil {
		return errors.New("inbound: the server does not listen on UDP")
	}
	host := in.cfg.Host
	if host == "" {
		host = addr.IP.String()
	}
	cli, err := sipgo.NewClient(in.srv.UA(), sipgo.WithClientHostname(host), sipgo.WithClientLogger(in.log))
	if err != nil {
		return fmt.Errorf("inbound: new client: %w", err)
	}
	contact := sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "ringdesk", Host: host, Port: addr.Port}}
	in.legs.Store(&legs{cli: cli, dsc: sipgo.NewDialogServerCache(cli, contact), contact: contact, host: host})
	nctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	in.stop = cancel
	in.done = make(chan struct{})
	go in.consumeNotices(nctx)
	return nil
}

// Close stops taking calls (new INVITEs get 503), waits for the live calls
// to end until ctx is done, then hangs up the rest.
func (in *Inbound) Close(ctx context.Context) error {
	in.closing.Store(true)
	waited := make(chan struct{})
	go func() { in.wg.Wait(); close(waited) }()
	var err error
	select {
	case <-waited:
	case <-ctx.Done():
		err = ctx.Err()
		// Calls still waiting or ringing end in their own goroutines
		// (503 to the caller); answered ones are hung up here.
		in.quitOne.Do(func() { close(in.quit) })
		in.mu.Lock()
		live := make([]*liveCall, 0, len(in.calls))
		for _, c := range in.calls {
			live = append(live, c)
		}
		in.mu.Unlock()
		for _, c := range live {
			in.hangup(c, "shutdown", nil)
		}
		select {
		case <-waited:
		case <-time.After(10 * time.Second):
		}
	}
	if in.stop != nil {
		in.stop()
		<-in.done
	}
	return err
}

func (in *Inbound) consumeNotices(ctx context.Context) {
	defer close(in.done)
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-in.cfg.Router.Notices():
			if !ok {
				return
			}
			in.mu.Lock()
			c := in.calls[ev.CallID]
			in.mu.Unlock()
			if c == nil {
				if ev.Kind == ringdesk.EventOffer && !in.closing.Load() {
					// Routing rings an agent for a call this node does not
					// hold (its Enqueue failed after the script ran, say):
					// nobody would ring them, so end it there.
					in.wg.Add(1)
					go in.abandonGhost(ev)
					continue
				}
				in.log.Debug("notice for no live call", "call_id", ev.CallID, "kind", ev.Kind)
				continue
			}
			select {
			case c.notices <- &ev:
			default:
				in.log.Warn("call notice dropped: call not keeping up", "call_id", ev.CallID, "kind", ev.Kind)
			}
		}
	}
}

// abandonGhost ends in routing a call offered to this node that it does
// not hold, freeing the agent reserved for it.
func (in *Inbound) abandonGhost(ev ringdesk.RoutingEvent) {
	defer in.wg.Done()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := in.cfg.Router.Abandon(ctx, ev.CallID)
	switch code := ringdesk.ErrorCode(err); {
	case err == nil:
		in.log.Warn("offer of a call this node does not hold: abandoned in routing", "call_id", ev.CallID, "agent_id", ev.AgentID)
	case code == ringdesk.ECONFLICT || code == ringdesk.ENOTFOUND:
		// It ended meanwhile.
	default:
		in.log.Warn("offer of a call this node does not hold: abandoning it in routing failed", "call_id", ev.CallID, "error", err)
	}
}

func (in *Inbound) add(c *liveCall) {
	in.mu.Lock()
	in.calls[c.id] = c
	in.bySIP[c.sipCallID] = c
	in.mu.Unlock()
}

func (in *Inbound) remove(c *liveCall) {
	in.mu.Lock()
	if in.calls[c.id] == c {
		delete(in.calls, c.id)
	}
	delete(in.bySIP, c.sipCallID)
	c.mu.Lock()
	if c.agent != nil {
		delete(in.bySIP, c.agent.InviteRequest.CallID().Value())
	}
	c.mu.Unlock()
	in.mu.Unlock()
}

// event logs a call event with the call's next sequence number.
func (in *Inbound) event(c *liveCall, kind string, agentUID int64, data string) {
	in.cfg.Calls.Event(ringdesk.CallEvent{CallID: c.id, Seq: int(c.seq.Add(1)), Kind: kind, At: time.Now().UTC(),
		QueueID: c.queueID, AgentID: agentUID, Data: data})
}

func respondFinal(tx sip.ServerTransaction, req *sip.Request, code int, reason string, hdrs ...sip.Header) {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	if err := tx.Respond(res); err != nil {
		return
	}
	// Over TCP the ACK of a non-2xx final must reach this transaction
	// (sipgo-notes.md): wait for it, boundedly.
	if code >= 300 && sip.IsReliable(req.Transport()) {
		select {
		case <-tx.Done():
		case <-time.After(5 * time.Second):
		}
	}
}

func (in *Inbound) handleInvite(req *sip.Request, tx sip.ServerTransaction) {
	lg := in.legs.Load()
	cancelled := make(chan struct{})
	var once sync.Once
	tx.OnCancel(func(*sip.Request) { once.Do(func() { close(cancelled) }) })

	if to := req.To(); to != nil && to.Params.Has("tag") {
		in.handleReinvite(req, tx, lg, cancelled)
		return
	}
	if in.closing.Load() || lg == nil {
		respondFinal(tx, req, sip.StatusServiceUnavailable, "Service Unavailable", in.retryAfter())
		return
	}
	invitedAt := time.Now()
	trunk, ok := in.cfg.Admission.Admit(req, tx)
	if !ok {
		return
	}
	route, ok := in.cfg.DIDs.Resolve(DialledNumber(req))
	if !ok {
		respondFinal(tx, req, sip.StatusNotFound, "Not Found")
		return
	}
	if err := tx.Respond(sip.NewResponseFromRequest(req, sip.StatusTrying, "Trying", nil)); err != nil {
		return
	}
	in.wg.Add(1)
	defer in.wg.Done()

	caller := IdentifyCaller(req, trunk, in.cfg.Normalizer)
	c := &liveCall{
		id: uuidV7(), sipCallID: req.CallID().Value(), queue: route.Queue, queueID: route.QueueID,
		caller: caller, invitedAt: invitedAt, notices: make(chan *ringdesk.RoutingEvent, 16), cancelled: cancelled,
		connected: make(chan struct{}), looked: make(chan struct{}),
	}
	in.cfg.Calls.Create(ringdesk.Call{
		ID: c.id, Direction: ringdesk.Inbound, SIPCallID: c.sipCallID, CallerRaw: callerRaw(caller),
		CallerE164: caller.Phone.E164, CallerName: caller.Name, Callee: DialledNumber(req),
		QueueID: c.queueID, State: ringdesk.CallStateOffered, OfferedAt: invitedAt.UTC(),
	})
	log := in.log.With("call_id", c.id, "queue", c.queue)
	// The customer lookup (MySQL) and routing the call (Redis) do not
	// depend on each other: they run at once, and the pop waits for the
	// slower of the two instead of their sum. The lookup's results go on
	// the call (its customer, the "offered" event, which keeps the first
	// sequence number) when they are in; only the pop reads them.
	offeredSeq := int(c.seq.Add(1))
	in.wg.Add(1)
	go func() {
		defer in.wg.Done()
		in.lookup(c)
		c.lookedAt = time.Now()
		close(c.looked)
		if c.match == ringdesk.MatchOne {
			id := c.customers[0].ID
			in.cfg.Calls.Update(c.id, ringdesk.CallUpdate{CustomerID: &id})
		}
		in.cfg.Calls.Event(ringdesk.CallEvent{CallID: c.id, Seq: offeredSeq, Kind: "offered", At: invitedAt.UTC(),
			QueueID: c.queueID, Data: "trunk=" + trunk.Name + " match=" + c.match})
		log.Info("call offered", "trunk", trunk.Name, "caller", MaskNumber(caller.Phone.E164), "match", c.match)
	}()

	dlg, err := lg.dsc.ReadInvite(req, tx)
	if err != nil {
		log.Warn("read invite", "error", err)
		in.fail(c, "bad-invite")
		respondFinal(tx, req, sip.StatusBadRequest, "Bad Request")
		return
	}
	c.dlg = dlg
	in.add(c)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	place, err := in.cfg.Router.Enqueue(ctx, &ringdesk.WaitingCall{ID: c.id, Queues: []string{c.queue},
		CallerE164: caller.Phone.E164, Node: in.cfg.Node})
	cancel()
	if err != nil {
		code, reason := ErrorStatus(err)
		log.Warn("enqueue failed", "error", err, "status", code)
		in.fail(c, "enqueue-failed")
		in.remove(c)
		_ = dlg.Respond(code, reason, nil, in.retryAfter())
		// Had the script run with its reply lost, routing would offer the
		// call again after the ring timeout: consumeNotices ends it then.
		in.waitACK(req, tx)
		dlg.Close()
		return
	}
	if place.Status == ringdesk.CallEnded {
		in.overflowed(c, place.Result, "enqueue")
		in.waitACK(req, tx)
		return
	}
	in.event(c, "queued", 0, "position="+strconv.Itoa(place.Position))
	in.cfg.Calls.Update(c.id, ringdesk.CallUpdate{State: ringdesk.CallStateQueued})
	if place.Status == ringdesk.CallWaiting {
		// 182 Queued tells the caller's side why no 180 comes yet (and
		// again every QueuedInterval, in wait). A call offered at once
		// goes without: the agent's ringing follows within milliseconds,
		// and one datagram less per call is felt at a thousand calls/s.
		if err := dlg.Respond(182, "Queued", nil); err != nil {
			in.abandon(c)
			return
		}
	}
	// Offered at once: ring now, from the reply. A Router may send the
	// same offer as a notice too (a Redis read and two goroutine hand-offs
	// later, on the way to the pop): wait skips it.
	direct := place.Status == ringdesk.CallRinging && place.AgentID != ""
	if !direct || !in.offer(c, directOffer(c, place)) {
		if direct {
			c.skipOffer = place.AgentID
		}
		in.wait(c)
	}
	if !c.answered() {
		in.waitACK(req, tx)
	}
}

// directOffer is the offer event of a call Enqueue reserved an agent for
// at once, as the engine also sends it to the node's notices.
func directOffer(c *liveCall, p *ringdesk.Placement) ringdesk.RoutingEvent {
	ring := p.RingTimeout
	if ring <= 0 {
		ring = ringdesk.DefaultRingTimeout
	}
	return ringdesk.RoutingEvent{Kind: ringdesk.EventOffer, CallID: c.id, AgentID: p.AgentID, Queue: p.Queue,
		Fields: map[string]string{"wait_ms": "0", "attempt": "1", "ring_ms": strconv.FormatInt(ring.Milliseconds(), 10)}}
}

// wait holds the caller in queue until an agent answers or the call ends.
func (in *Inbound) wait(c *liveCall) {
	tick := time.NewTicker(in.cfg.QueuedInterval)
	defer tick.Stop()
	for {
		select {
		case <-c.cancelled:
			in.abandon(c)
			return
		case <-in.quit:
			in.shutdown(c)
			return
		case <-tick.C:
			_ = c.dlg.Respond(182, "Queued", nil)
		case ev := <-c.notices:
			switch ev.Kind {
			case ringdesk.EventOffer:
				if ev.AgentID == c.skipOffer && ev.Fields["attempt"] == "1" {
					c.skipOffer = "" // rung already, from Enqueue's reply
					continue
				}
				if in.offer(c, *ev) {
					return
				}
			case ringdesk.EventOverflow:
				if to := ev.Fields["to"]; to != "" {
					in.event(c, "overflow", 0, "reason="+ev.Fields["reason"]+" to="+to)
					c.queue = to
					continue
				}
				in.overflowed(c, ev.Fields["result"], ev.Fields["reason"])
				return
			case ringdesk.EventEnded:
				in.overflowed(c, ev.Fields["result"], "ended")
				return
			}
		}
	}
}

// offer rings the offered agent: pop first, then the phone. It reports
// whether the call left the queue (answered, or the caller hung up).
func (in *Inbound) offer(c *liveCall, ev ringdesk.RoutingEvent) bool {
	agentID := ev.AgentID
	uid, _ := strconv.ParseInt(agentID, 10, 64)
	log := in.log.With("call_id", c.id, "agent_id", agentID)
	offeredAt := time.Now()
	in.event(c, "offer", uid, "attempt="+ev.Fields["attempt"])

	// The phone's binding is looked up while the pop goes out, so that the
	// phone rings as soon as the pop is sent (the pop still goes first).
	// Each gets its own time: a slow pop must not leave the binding lookup
	// no time, or the call would ring nobody (seen under load as
	// no-binding ring-no-answers).
	type found struct {
		b   ringdesk.Binding
		err error
	}
	bound := make(chan found, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		b, err := in.binding(ctx, uid)
		bound <- found{b, err}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	pop := in.pop(c, agentID, offeredAt)
	if err := in.cfg.Desks.SendPop(ctx, pop); err != nil && ringdesk.ErrorCode(err) != ringdesk.ENOTFOUND {
		log.Warn("send pop", "error", err)
	}
	cancel()
	poppedAt := time.Now()
	in.cfg.Calls.Update(c.id, ringdesk.CallUpdate{State: ringdesk.CallStateRinging, AgentID: &uid})

	f := <-bound
	binding, err := f.b, f.err
	if err != nil {
		log.Info("agent phone unreachable: ring-no-answer", "error", err)
		in.rona(c, agentID, uid, "no-binding")
		return false
	}

	ring := in.cfg.RingTimeout
	if ring <= 0 {
		if ms, err := strconv.Atoi(ev.Fields["ring_ms"]); err == nil && ms > 0 {
			ring = time.Duration(ms) * time.Millisecond
		} else {
			ring = ringdesk.DefaultRingTimeout
		}
	}
	ringCtx, stopRing := context.WithTimeout(context.Background(), ring)
	defer stopRing()
	go func() {
		select {
		case <-c.cancelled:
			stopRing()
		case <-in.quit:
			stopRing()
		case <-ringCtx.Done():
		}
	}()

	lg := in.legs.Load()
	inv := in.agentInvite(c, binding, lg.cli.Hostname())
	leg, err := in.agentUA(lg, inv.Transport()).WriteInvite(context.Background(), inv)
	ringAt := time.Now()
	if in.cfg.OnPop != nil {
		in.cfg.OnPop(c.id, agentID, poppedAt.Sub(c.invitedAt), ringAt.Sub(poppedAt))
	}
	// Where the time to the pop went: the lookup (MySQL) and the offer
	// (routing, Redis; queue_wait_ms of it waiting for a free agent) run
	// at once; the pop waits for both, then goes out.
	log.Info("agent rung", "invite_to_pop", poppedAt.Sub(c.invitedAt), "pop_to_ring", ringAt.Sub(poppedAt),
		"invite_to_lookup", c.lookedAt.Sub(c.invitedAt), "invite_to_offer", offeredAt.Sub(c.invitedAt),
		"queue_wait_ms", ev.Fields["wait_ms"])
	if err != nil {
		log.Warn("invite agent", "error", err)
		in.rona(c, agentID, uid, "invite-failed")
		return false
	}
	c.mu.Lock()
	c.agentID, c.agentUID, c.agent = agentID, uid, leg
	c.mu.Unlock()
	in.mu.Lock()
	in.bySIP[leg.InviteRequest.CallID().Value()] = c
	in.mu.Unlock()
	// No "ringing" progress: the pop, sent just before, is the desk's
	// ringing (PROTOCOL.md), and the agent's state says ringing too; a
	// third message would cost a desk script in Redis and a frame per call.

	err = leg.WaitAnswer(ringCtx, sipgo.AnswerOptions{OnResponse: func(res *sip.Response) error {
		if res.StatusCode == 180 || res.StatusCode == 183 {
			var hdrs []sip.Header
			if len(res.Body()) > 0 {
				hdrs = append(hdrs, sip.NewHeader("Content-Type", "application/sdp"))
			}
			_ = c.dlg.Respond(res.StatusCode, res.Reason, res.Body(), hdrs...)
		}
		return nil
	}})
	callerGone := isClosed(c.cancelled)
	if err != nil {
		if res := leg.InviteResponse; res != nil && res.IsSuccess() {
			// A 200 crossed our CANCEL: the phone answered. Hang it up.
			in.dropAgent(c, lg.cli, leg, uid)
		}
		c.mu.Lock()
		c.agent = nil
		c.mu.Unlock()
		in.mu.Lock()
		delete(in.bySIP, leg.InviteRequest.CallID().Value())
		in.mu.Unlock()
		if callerGone {
			in.abandon(c)
			return true
		}
		if isClosed(in.quit) {
			in.shutdown(c)
			return true
		}
		reason := "timeout"
		var de *sipgo.ErrDialogResponse
		if errors.As(err, &de) {
			reason = "rejected-" + strconv.Itoa(de.Res.StatusCode)
		}
		log.Info("agent did not answer", "reason", reason, "error", err)
		in.rona(c, agentID, uid, reason)
		return false
	}
	// The phone answered.
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if callerGone {
		// The caller left while the phone answered.
		in.event(c, "late-answer", uid, "hung-up")
		log.Info("late answer: agent leg hung up")
		_ = leg.Ack(ctx)
		_ = leg.Bye(ctx)
		in.abandon(c)
		return true
	}
	told, err := in.answer(ctx, c, agentID, offeredAt)
	if err != nil {
		// The offer was released meanwhile (ring timeout on the engine's
		// clock): this agent may not take the call.
		log.Info("answer refused by routing: hanging up the agent", "error", err)
		_ = leg.Ack(ctx)
		_ = leg.Bye(ctx)
		c.mu.Lock()
		c.agent = nil
		c.mu.Unlock()
		in.event(c, "rona", uid, "reason=answer-refused")
		return false
	}
	if err := c.dlg.Respond(sip.StatusOK, "OK", leg.InviteResponse.Body(), sip.NewHeader("Content-Type", "application/sdp")); err != nil {
		log.Warn("answer the caller", "error", err)
		_ = leg.Ack(ctx)
		_ = leg.Bye(ctx)
		in.endRouted(c, "caller-gone")
		return true
	}
	if err := leg.Ack(ctx); err != nil {
		log.Warn("ack agent", "error", err)
	}
	now := time.Now()
	c.mu.Lock()
	c.answeredAt = now
	c.mu.Unlock()
	close(c.connected)
	wait := now.Sub(c.invitedAt).Milliseconds()
	at := now.UTC()
	in.cfg.Calls.Update(c.id, ringdesk.CallUpdate{State: ringdesk.CallStateAnswered, AgentID: &uid, AnsweredAt: &at, WaitMS: &wait})
	in.event(c, "answered", uid, "wait_ms="+strconv.FormatInt(wait, 10))
	if !told {
		in.progress(c, ringdesk.ProgressConnected, "", &offeredAt)
	}
	log.Info("call answered", "wait_ms", wait)
	return true
}

// dropAgent ACKs and hangs up an agent leg whose 200 crossed our CANCEL
// (RFC 3261 §15: the UAC confirms the dialog, then ends it with BYE).
// WaitAnswer gave up on the dialog, so the BYE is built here.
func (in *Inbound) dropAgent(c *liveCall, cli *sipgo.Client, leg *sipgo.DialogClientSession, uid int64) {
	in.event(c, "late-answer", uid, "hung-up")
	in.log.Info("late answer: agent leg hung up", "call_id", c.id, "agent_id", uid)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := leg.Ack(ctx); err != nil {
		in.log.Warn("ack late answer", "error", err)
	}
	res := leg.InviteResponse
	bye := sip.NewRequest(sip.BYE, leg.InviteRequest.Recipient)
	if cont := res.Contact(); cont != nil {
		bye = sip.NewRequest(sip.BYE, cont.Address)
	}
	// Where the 200 came from, like every request of the leg (agentUA).
	dest := res.Source()
	if dest == "" {
		dest = leg.InviteRequest.Destination()
	}
	bye.SetDestination(dest)
	bye.SetTransport(leg.InviteRequest.Transport())
	bye.AppendHeader(sip.HeaderClone(leg.InviteRequest.From()))
	bye.AppendHeader(sip.HeaderClone(res.To()))
	bye.AppendHeader(sip.HeaderClone(leg.InviteRequest.CallID()))
	bye.AppendHeader(&sip.CSeqHeader{SeqNo: leg.InviteRequest.CSeq().SeqNo + 1, MethodName: sip.BYE})
	if _, err := cli.Do(ctx, bye); err != nil {
		in.log.Warn("bye late answer", "error", err)
	}
}

func (in *Inbound) rona(c *liveCall, agentID string, uid int64, reason string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := in.cfg.Router.RingNoAnswer(ctx, c.id, agentID); err != nil {
		in.log.Debug("ring-no-answer", "call_id", c.id, "agent_id", agentID, "error", err)
	}
	in.event(c, "rona", uid, "reason="+reason)
	in.cfg.Calls.Update(c.id, ringdesk.CallUpdate{State: ringdesk.CallStateQueued})
	in.sendProgress(c, agentID, ringdesk.ProgressEnded, "missed", nil)
}

func (in *Inbound) abandon(c *liveCall) {
	if !c.finish() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := in.cfg.Router.Abandon(ctx, c.id); err != nil {
		in.log.Debug("abandon", "call_id", c.id, "error", err)
	}
	now := time.Now()
	wait := now.Sub(c.invitedAt).Milliseconds()
	at, reason := now.UTC(), "caller-cancel"
	in.cfg.Calls.Update(c.id, ringdesk.CallUpdate{State: ringdesk.CallStateAbandoned, EndedAt: &at, WaitMS: &wait, EndReason: &reason})
	in.event(c, "abandoned", 0, "wait_ms="+strconv.FormatInt(wait, 10))
	c.mu.Lock()
	agentID := c.agentID
	c.mu.Unlock()
	if agentID != "" {
		in.sendProgress(c, agentID, ringdesk.ProgressEnded, "abandoned", nil)
	}
	in.log.Info("call abandoned", "call_id", c.id, "wait_ms", wait)
	in.remove(c)
	c.dlg.Close()
}

// overflowed ends a call the routing engine moved out of the queues: it
// answers the caller 480 and logs the outcome (a callback request when
// the result says so).
func (in *Inbound) overflowed(c *liveCall, result, why string) {
	if !c.finish() {
		return
	}
	now := time.Now()
	wait := now.Sub(c.invitedAt).Milliseconds()
	at, reason := now.UTC(), "overflow-"+result
	in.cfg.Calls.Update(c.id, ringdesk.CallUpdate{State: ringdesk.CallStateOverflowed, EndedAt: &at, WaitMS: &wait, EndReason: &reason})
	in.event(c, "overflow", 0, "reason="+why+" result="+result)
	if result == ringdesk.ResultCallback {
		in.event(c, "callback", 0, "caller="+c.caller.Phone.E164)
	}
	in.log.Info("call overflowed", "call_id", c.id, "result", result, "reason", why)
	in.remove(c)
	_ = c.dlg.Respond(sip.StatusTemporarilyUnavailable, "Temporarily Unavailable", nil)
	c.dlg.Close()
}

// shutdown ends a call still waiting when the node stops: 503 to the
// caller (whose carrier may retry elsewhere), abandoned in routing.
func (in *Inbound) shutdown(c *liveCall) {
	_ = c.dlg.Respond(sip.StatusServiceUnavailable, "Service Unavailable", nil, in.retryAfter())
	if !c.finish() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := in.cfg.Router.Abandon(ctx, c.id); err != nil {
		in.log.Debug("abandon on shutdown", "call_id", c.id, "error", err)
	}
	now := time.Now()
	wait := now.Sub(c.invitedAt).Milliseconds()
	at, reason := now.UTC(), "shutdown"
	in.cfg.Calls.Update(c.id, ringdesk.CallUpdate{State: ringdesk.CallStateFailed, EndedAt: &at, WaitMS: &wait, EndReason: &reason})
	in.event(c, "failed", 0, "reason=shutdown")
	in.remove(c)
	c.dlg.Close()
}

// fail logs a call that could not be queued.
func (in *Inbound) fail(c *liveCall, reason string) {
	if !c.finish() {
		return
	}
	at := time.Now().UTC()
	in.cfg.Calls.Update(c.id, ringdesk.CallUpdate{State: ringdesk.CallStateFailed, EndedAt: &at, EndReason: &reason})
	in.event(c, "failed", 0, "reason="+reason)
}

// endRouted ends an answered call in routing and on the call row.
func (in *Inbound) endRouted(c *liveCall, reason string) {
	if !c.finish() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.mu.Lock()
	answered, agentID, uid := c.answeredAt, c.agentID, c.agentUID
	c.mu.Unlock()
	told, err := in.end(ctx, c, agentID, reason)
	if err != nil {
		in.log.Debug("end call in routing", "call_id", c.id, "error", err)
	}
	now := time.Now()
	talk := int64(0)
	if !answered.IsZero() {
		talk = now.Sub(answered).Milliseconds()
	}
	at := now.UTC()
	in.cfg.Calls.Update(c.id, ringdesk.CallUpdate{State: ringdesk.CallStateEnded, EndedAt: &at, TalkMS: &talk, EndReason: &reason})
	in.event(c, "ended", uid, "reason="+reason+" talk_ms="+strconv.FormatInt(talk, 10))
	if !told {
		in.sendProgress(c, agentID, ringdesk.ProgressEnded, reason, nil)
	}
	in.log.Info("call ended", "call_id", c.id, "reason", reason, "talk_ms", talk)
	in.remove(c)
}

// hangup ends an answered call from one side: the other leg gets a BYE.
// from is "caller", "agent" or "shutdown" (both legs get a BYE).
func (in *Inbound) hangup(c *liveCall, from string, _ *sip.Request) {
	c.mu.Lock()
	leg, answered := c.agent, !c.answeredAt.IsZero()
	c.mu.Unlock()
	if !answered {
		return
	}
	// The call is over for routing and the log at once; the BYEs may take
	// their whole transaction time (64·T1 = 32 s, RFC 3261 §17.1.2.2) on a
	// lossy network, and a BYE given up early leaves the other side
	// talking to nobody.
	in.endRouted(c, from+"-hangup")
	wait := 64 * sip.T1
	if from == "shutdown" {
		wait = 5 * time.Second // Close hangs up every call in turn: bounded
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	// The BYEs go to the legs' current remote targets (the dialogs' own
	// Bye would use their first Contact).
	if from != "agent" && leg != nil {
		if err := leg.WriteBye(ctx, sip.NewRequest(sip.BYE, c.agentTargetURI(leg))); err != nil {
			in.log.Warn("bye agent", "call_id", c.id, "error", err)
		}
	}
	if from != "caller" {
		bye := sip.NewRequest(sip.BYE, c.callerTargetURI())
		bye.SetTransport(c.dlg.InviteRequest.Transport())
		if err := c.dlg.WriteBye(ctx, bye); err != nil {
			in.log.Warn("bye caller", "call_id", c.id, "error", err)
		}
	}
	c.dlg.Close()
	if leg != nil {
		_ = leg.Close()
	}
}

func (in *Inbound) handleAck(req *sip.Request, tx sip.ServerTransaction) {
	if in.reinviteAck(req) {
		return
	}
	// ACKs of 2xx confirm the caller's dialog; others (for non-2xx
	// finals, over TCP) match nothing and are dropped.
	if lg := in.legs.Load(); lg != nil {
		_ = lg.dsc.ReadAck(req, tx)
	}
}

func (in *Inbound) handleBye(req *sip.Request, tx sip.ServerTransaction) {
	lg := in.legs.Load()
	if lg == nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusServiceUnavailable, "Service Unavailable", nil))
		return
	}
	c, leg, fromCaller := in.inDialog(lg, req)
	switch {
	case c == nil:
		// No live call: a caller's dialog may still be open (a BYE that
		// crossed ours); else there is no such dialog.
		if err := lg.dsc.ReadBye(req, tx); err != nil {
			_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil))
		}
	case fromCaller:
		if err := lg.dsc.ReadBye(req, tx); err == nil {
			in.hangup(c, "caller", req)
		}
	default:
		if err := leg.ReadBye(req, tx); err == nil {
			in.hangup(c, "agent", req)
		}
	}
}

// lookup finds the caller's customer, with their recent history and open
// cases when there is exactly one, for the pop. It waits at most the
// budget: the queries run in a goroutine of their own that outlives a
// late lookup (see LookupTimeout), and what they find later is dropped.
// At most MaxLookups run at once; beyond them a lookup waits for a turn
// within the budget, else it is skipped.
func (in *Inbound) lookup(c *liveCall) {
	if c.caller.Anonymous || c.caller.Phone.E164 == "" {
		c.match = ringdesk.MatchUnknown
		return
	}
	// The budget covers waiting for a turn and the queries.
	budget := time.NewTimer(in.cfg.LookupBudget)
	defer budget.Stop()
	select {
	case in.lookups <- struct{}{}:
	default:
		// MaxLookups run: wait for one to end, within the budget. A
		// stall of a few tens of ms (the collector, a busy machine) fills
		// them at a few hundred calls/s; skipping at once turned 1-9 % of
		// the pops at 500 calls/s into "unavailable".
		select {
		case in.lookups <- struct{}{}:
		case <-budget.C:
			in.shedLookups.Add(1)
			in.log.Warn("customer lookup skipped: too many lookups running", "call_id", c.id,
				"max_lookups", in.cfg.MaxLookups, "waited", in.cfg.LookupBudget, "caller", MaskNumber(c.caller.Phone.E164))
			c.match = ringdesk.MatchUnavailable
			return
		}
	}
	// found gets the match and then, for one customer, the match with
	// its history and cases.
	found := make(chan lookupResult, 2)
	start := time.Now()
	in.wg.Add(1)
	go func() {
		defer in.wg.Done()
		defer func() { <-in.lookups }()
		ctx, cancel := context.WithTimeout(context.Background(), in.cfg.LookupTimeout)
		defer cancel()
		err := in.findCustomer(ctx, c.caller.Phone.E164, found)
		if took := time.Since(start); took > in.cfg.LookupBudget {
			in.log.Info("late customer lookup finished", "call_id", c.id, "took", took, "error", err)
		}
	}()
	var r lookupResult
	select {
	case r = <-found:
	case <-budget.C:
		in.lateLookups.Add(1)
		in.log.Warn("customer lookup over budget: the pop goes without the record", "call_id", c.id,
			"budget", in.cfg.LookupBudget, "caller", MaskNumber(c.caller.Phone.E164))
		c.match = ringdesk.MatchUnavailable
		return
	}
	if r.match == ringdesk.MatchOne {
		select {
		case r = <-found:
		case <-budget.C: // the record without its history
			in.lateLookups.Add(1)
		}
	}
	c.match, c.customers, c.history, c.cases = r.match, r.customers, r.history, r.cases
}

// lookupResult is what a customer lookup found.
type lookupResult struct {
	match     string
	customers []*ringdesk.Customer
	history   []ringdesk.HistoryItem
	cases     []ringdesk.Case
}

// findCustomer runs the lookup's queries and sends what they found on
// found (buffered for two): the match, then for one customer the match
// with the history and open cases that could be read. It returns the
// phone lookup's error, for the log.
func (in *Inbound) findCustomer(ctx context.Context, e164 string, found chan<- lookupResult) error {
	cs, err := in.cfg.Customers.LookupByPhone(ctx, e164)
	switch {
	case err != nil:
		in.log.Warn("customer lookup unavailable", "error", err, "caller", MaskNumber(e164))
		found <- lookupResult{match: ringdesk.MatchUnavailable}
		return err
	case len(cs) == 0:
		found <- lookupResult{match: ringdesk.MatchUnknown}
		return nil
	case len(cs) > 1:
		found <- lookupResult{match: ringdesk.MatchSeveral, customers: cs}
		return nil
	}
	r := lookupResult{match: ringdesk.MatchOne, customers: cs}
	found <- r
	if h, oc, err := in.cfg.Customers.CustomerActivity(ctx, cs[0].ID, in.cfg.HistoryLimit); err == nil {
		r.history, r.cases = h, oc
	}
	found <- r
	return nil
}

// pop builds the screen-pop once the customer lookup is in.
func (in *Inbound) pop(c *liveCall, agentID string, offeredAt time.Time) *ringdesk.Pop {
	<-c.looked
	p := &ringdesk.Pop{
		CallID: c.id, AgentID: agentID, Queue: c.queue, CallerRaw: callerRaw(c.caller), CallerE164: c.caller.Phone.E164,
		CallerName: c.caller.Name, Match: c.match, WaitMS: offeredAt.Sub(c.invitedAt).Milliseconds(), OfferedAt: offeredAt.UTC(),
	}
	switch c.match {
	case ringdesk.MatchOne:
		p.Customer = c.customers[0]
		p.RecentCalls = c.history
		p.OpenCases = c.cases
	case ringdesk.MatchSeveral:
		p.Candidates = c.customers
	}
	return p
}

// binding finds where the agent's phone is registered.
func (in *Inbound) binding(ctx context.Context, uid int64) (ringdesk.Binding, error) {
	aor, err := in.agentAOR(ctx, uid)
	if err != nil {
		return ringdesk.Binding{}, err
	}
	bs, err := in.cfg.Registrations.Bindings(ctx, aor)
	if err != nil {
		return ringdesk.Binding{}, err
	}
	if len(bs) == 0 {
		return ringdesk.Binding{}, ringdesk.Errorf(ringdesk.ENOTFOUND, "Agent's phone is not registered.")
	}
	return bs[0], nil // the one expiring last
}

// agentAOR returns the agent's SIP user name: from the cache while it is
// fresh, else from MySQL, else (MySQL down) from the stale cache.
func (in *Inbound) agentAOR(ctx context.Context, uid int64) (string, error) {
	in.mu.Lock()
	e, ok := in.aors[uid]
	in.mu.Unlock()
	if ok && time.Since(e.at) < aorTTL {
		return e.aor, nil
	}
	u, err := in.cfg.Agents.FindUserByID(ctx, uid)
	if err != nil {
		if ok && ringdesk.ErrorCode(err) != ringdesk.ENOTFOUND {
			return e.aor, nil
		}
		return "", err
	}
	if u.SIPUsername == "" || u.Disabled {
		return "", ringdesk.Errorf(ringdesk.ENOTFOUND, "Agent has no SIP phone.")
	}
	in.mu.Lock()
	in.aors[uid] = aorEntry{aor: u.SIPUsername, at: time.Now()}
	in.mu.Unlock()
	return u.SIPUsername, nil
}

// agentInvite builds the agent leg's INVITE: to the registered Contact,
// sent to the next hop of the binding (see nextHop), carrying the
// caller's offer.
func (in *Inbound) agentInvite(c *liveCall, b ringdesk.Binding, host string) *sip.Request {
	var ruri sip.Uri
	if err := sip.ParseUri(b.Contact, &ruri); err != nil {
		ruri = sip.Uri{Scheme: "sip", User: b.AOR, Host: b.Source}
	}
	req := sip.NewRequest(sip.INVITE, ruri)
	if body := c.dlg.InviteRequest.Body(); len(body) > 0 {
		req.SetBody(body)
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	user := c.caller.Phone.E164
	if user == "" {
		user = "anonymous"
	}
	from := &sip.FromHeader{DisplayName: c.caller.Name, Address: sip.Uri{Scheme: "sip", User: user, Host: host}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: ruri, Params: sip.NewParams()})
	req.AppendHeader(sip.NewHeader("X-Ringdesk-Call", c.id))
	dest, transport := in.nextHop(b, ruri)
	req.SetDestination(dest)
	req.SetTransport(transport)
	return req
}

// answer confirms the offer in routing. With a Router and desks that can
// (ringdesk.ProgressTeller, ringdesk.ProgressEncoder) the desk hears the
// call is connected in the same step, and told is true; else the caller
// sends the progress itself once the call is up.
func (in *Inbound) answer(ctx context.Context, c *liveCall, agentID string, offeredAt time.Time) (told bool, err error) {
	if msg, ttl, ok := in.progressMessage(c, agentID, ringdesk.ProgressConnected, "", &offeredAt); ok {
		return true, in.teller.AnswerAndTell(ctx, c.id, agentID, msg, ttl)
	}
	return false, in.cfg.Router.Answer(ctx, c.id, agentID)
}

// end ends an answered call in routing, telling the agent's desk in the
// same step when answer could (told); an error is End's.
func (in *Inbound) end(ctx context.Context, c *liveCall, agentID, reason string) (told bool, err error) {
	if agentID != "" {
		if msg, ttl, ok := in.progressMessage(c, agentID, ringdesk.ProgressEnded, reason, nil); ok {
			return true, in.teller.EndAndTell(ctx, c.id, agentID, msg, ttl)
		}
	}
	return false, in.cfg.Router.End(ctx, c.id)
}

// progressMessage encodes a progress of the call for a ProgressTeller;
// ok is false when the Router or the desks cannot take that way (or the
// progress is refused: the caller's SendProgress then says why).
func (in *Inbound) progressMessage(c *liveCall, agentID, state, reason string, offeredAt *time.Time) (ringdesk.DeskMessage, time.Duration, bool) {
	if in.teller == nil {
		return ringdesk.DeskMessage{}, 0, false
	}
	msg, ttl, err := in.encoder.ProgressMessage(callProgress(c, agentID, state, reason, offeredAt))
	return msg, ttl, err == nil
}

// callProgress is the call's progress for agentID's desk, as of now.
func callProgress(c *liveCall, agentID, state, reason string, offeredAt *time.Time) *ringdesk.CallProgress {
	return &ringdesk.CallProgress{CallID: c.id, AgentID: agentID, Direction: ringdesk.Inbound, State: state,
		Reason: reason, At: time.Now().UTC(), OfferedAt: offeredAt}
}

func (in *Inbound) progress(c *liveCall, state, reason string, offeredAt *time.Time) {
	c.mu.Lock()
	agentID := c.agentID
	c.mu.Unlock()
	in.sendProgress(c, agentID, state, reason, offeredAt)
}

func (in *Inbound) sendProgress(c *liveCall, agentID, state, reason string, offeredAt *time.Time) {
	if agentID == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := in.cfg.Desks.SendProgress(ctx, callProgress(c, agentID, state, reason, offeredAt)); err != nil && ringdesk.ErrorCode(err) != ringdesk.ENOTFOUND {
		in.log.Debug("send progress", "call_id", c.id, "error", err)
	}
}

func (in *Inbound) retryAfter() sip.Header {
	return sip.NewHeader("Retry-After", strconv.Itoa(int(in.cfg.RetryAfter/time.Second)))
}

func (in *Inbound) waitACK(req *sip.Request, tx sip.ServerTransaction) {
	if sip.IsReliable(req.Transport()) {
		select {
		case <-tx.Done():
		case <-time.After(5 * time.Second):
		}
	}
}

// finish marks the call's outcome as decided; only the first caller wins.
func (c *liveCall) finish() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.finished {
		return false
	}
	c.finished = true
	return true
}

func (c *liveCall) answered() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.answeredAt.IsZero()
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func callerRaw(c Caller) string {
	if c.Anonymous {
		return "anonymous"
	}
	return c.Number
}

func uuidV7() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}

// HandleUnmatchedResponse ACKs again a retransmitted 2xx to one of our
// INVITEs on a live call (the agent leg's INVITE, or a relayed re-INVITE
// on either leg) whose transaction is over, so that no transaction matches
// it: the other side retransmits until it sees an ACK. The ACK is built
// from the 2xx itself, with its CSeq, so it is right whatever was sent in
// the dialog since. Set it as the server's Config.OnUnmatchedResponse
// (NewInbound does not need the server, so build the Inbound first).
func (in *Inbound) HandleUnmatchedResponse(res *sip.Response) {
	if !res.IsSuccess() || res.CSeq() == nil || res.CSeq().MethodName != sip.INVITE || res.CallID() == nil ||
		res.From() == nil || res.To() == nil || res.Contact() == nil {
		return
	}
	lg := in.legs.Load()
	callID := res.CallID().Value()
	in.mu.Lock()
	c := in.bySIP[callID]
	in.mu.Unlock()
	if c == nil || lg == nil {
		return
	}
	// Only an answer to a request of ours: its From tag is ours on that leg.
	tag, _ := res.From().Params.Get("tag")
	var ours string
	if callID == c.sipCallID {
		ours, _ = c.dlg.InviteRequest.To().Params.Get("tag")
	} else {
		c.mu.Lock()
		leg := c.agent
		c.mu.Unlock()
		if leg == nil || leg.InviteRequest.CallID().Value() != callID {
			return
		}
		ours, _ = leg.InviteRequest.From().Params.Get("tag")
	}
	if tag == "" || tag != ours {
		return
	}
	if err := lg.cli.WriteRequest(ackOfResponse(res), sipgo.ClientRequestAddVia); err != nil {
		in.log.Debug("re-ack 2xx", "call_id", c.id, "error", err)
	}
}
