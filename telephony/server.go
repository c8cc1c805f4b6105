// Package telephony is Ringdesk's SIP edge, built on github.com/emiago/sipgo:
// the listener (UDP and TCP, bad input answered or dropped, logs bounded),
// caller-ID extraction and trunk admission. The call flow registers its
// handlers on the Server.
package telephony

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/ringdesk/ringdesk"
)

// Defaults for Config.
const (
	DefaultServerName       = "Ringdesk"
	DefaultUDPReadBuffer    = 4 << 20
	DefaultTCPIdleTimeout   = 10 * time.Minute
	DefaultTCPMessageWait   = 32 * time.Second
	DefaultRepliesPerSecond = 20
	DefaultRepliesBurst     = 40
	logFlushInterval        = 10 * time.Second
)

// setSIPDefaultLogger guards sip.SetDefaultLogger, sipgo's only global.
var setSIPDefaultLogger sync.Once

// Config configures a Server. Zero values take the defaults.
type Config struct {
	// ServerName goes in the Server header of replies and is the sipgo UA
	// name ("Ringdesk").
	ServerName string
	// MaxUDPMessage and MaxTCPMessage bound one message (65,507 and 64 KiB).
	// sipgo reads UDP into 32 KiB, so UDP messages are in effect limited to
	// 32 KiB - 1.
	MaxUDPMessage int
	MaxTCPMessage int
	// UDPReadBuffer is the socket receive buffer asked for (4 MiB). The
	// kernel caps it at net.core.rmem_max; the cap is logged.
	UDPReadBuffer int
	// TCPIdleTimeout closes a TCP connection idle between messages (10 min);
	// TCPMessageWait closes one that stops in the middle of a message (32 s).
	TCPIdleTimeout time.Duration
	TCPMessageWait time.Duration
	// Supported lists the option tags requests may Require (none: sipgo
	// has no 100rel, timer, ...).
	Supported []string
	// RepliesPerSecond and RepliesBurst bound the stateless error replies
	// sent to one source IP (20/s, burst 40); beyond them bad input is
	// dropped silently, so that the listener is no reflector for spoofed
	// floods.
	RepliesPerSecond float64
	RepliesBurst     int
	// AnswerScanners answers requests from well-known scanners' User-Agents
	// (friendly-scanner, sipvicious, ...) instead of dropping them.
	AnswerScanners bool
	// LogBurst is how many lines of one kind are logged per second (5).
	LogBurst int
	// OnUnmatchedResponse gets responses that match no client transaction
	// (retransmitted 2xx of an agent leg that the B2BUA must ACK again, stray
	// responses); nil logs them at DEBUG. It is set at construction because
	// sipgo takes it as a transaction-layer option.
	OnUnmatchedResponse func(*sip.Response)
	// Clock is the time source of the rate limits (nil: time.Now).
	Clock func() time.Time
}

func (c *Config) setDefaults() {
	if c.ServerName == "" {
		c.ServerName = DefaultServerName
	}
	if c.MaxUDPMessage <= 0 {
		c.MaxUDPMessage = DefaultMaxUDPMessage
	}
	if c.MaxTCPMessage <= 0 {
		c.MaxTCPMessage = DefaultMaxTCPMessage
	}
	if c.UDPReadBuffer <= 0 {
		c.UDPReadBuffer = DefaultUDPReadBuffer
	}
	if c.TCPIdleTimeout <= 0 {
		c.TCPIdleTimeout = DefaultTCPIdleTimeout
	}
	if c.TCPMessageWait <= 0 {
		c.TCPMessageWait = DefaultTCPMessageWait
	}
	if c.RepliesPerSecond <= 0 {
		c.RepliesPerSecond = DefaultRepliesPerSecond
	}
	if c.RepliesBurst <= 0 {
		c.RepliesBurst = DefaultRepliesBurst
	}
	if c.LogBurst <= 0 {
		c.LogBurst = DefaultLogBurst
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
}

// Stats counts what the listener did with inbound messages.
type Stats struct {
	Accepted uint64 // handed to sipgo
	Rejected uint64 // answered statelessly with an error
	Dropped  uint64 // discarded without a reply (incl. replies over the per-source limit)
}

// Server is the SIP listener (UDP, TCP, and TLS when a certificate is
// configured): a sipgo UserAgent and Server behind a validating read path. Register handlers with SIP() (OnInvite, OnRegister,
// OnBye, OnAck, OnCancel, ...) before Listen; OPTIONS is answered 200, a
// method without a handler 405 (known) or 501 (unknown), a CANCEL matching
// nothing 481, and an unmatched ACK is ignored.
type Server struct {
	cfg     Config
	log     *slog.Logger
	rl      *RateLimitedHandler
	parser  *sip.Parser
	ua      *sipgo.UserAgent
	srv     *sipgo.Server
	replies *SourceLimiter

	accepted, rejected, dropped atomic.Uint64

	udp atomic.Pointer[net.UDPConn]

	mu        sync.Mutex
	listening bool
	closed    bool
	tcp       net.Listener
	tls       net.Listener
	done      chan struct{}
	wg        sync.WaitGroup
}

// NewServer builds a Server logging to logger (through a rate limit).
func NewServer(logger *slog.Logger, cfg Config) (*Server, error) {
	cfg.setDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	rl := NewRateLimitedHandler(logger.Handler(), cfg.LogBurst, time.Second, cfg.Clock)
	log := slog.New(rl)
	s := &Server{
		cfg:     cfg,
		log:     log,
		rl:      rl,
		replies: NewSourceLimiter(cfg.RepliesPerSecond, cfg.RepliesBurst, cfg.Clock),
		done:    make(chan struct{}),
	}
	s.parser = sip.NewParser()
	s.parser.MaxMessageLength = max(cfg.MaxUDPMessage, cfg.MaxTCPMessage)

	// Every sipgo layer gets the rate-limited logger through its options.
	// A few places in sipgo v1.7.2 only use the package-global
	// sip.DefaultLogger() (TCP/UDP connection reference counting: DEBUG
	// lines, and a WARN "TCP ref went negative" each time a peer closes a
	// connection that a transaction still holds). Setting it is global, so
	// it is done once per process, with the first server's rate-limited
	// logger.
	sipLog := log.With("caller", "sipgo")
	setSIPDefaultLogger.Do(func() { sip.SetDefaultLogger(sipLog) })
	ua, err := sipgo.NewUA(
		sipgo.WithUserAgent(cfg.ServerName),
		sipgo.WithUserAgentParser(s.parser),
		sipgo.WithUserAgentTransportLayerOptions(
			sip.WithTransportLayerLogger(sipLog),
			sip.WithTransportLayerReadFilter(s.readFilter),
		),
		sipgo.WithUserAgentTransactionLayerOptions(
			sip.WithTransactionLayerLogger(sipLog),
			// sipgo's default logs each one at INFO through the global
			// logger.
			sip.WithTransactionLayerUnhandledResponseHandler(func(r *sip.Response) {
				if cfg.OnUnmatchedResponse != nil {
					cfg.OnUnmatchedResponse(r)
					return
				}
				s.log.Debug("sip response matches no transaction", "status", r.StatusCode, "source", r.Source())
			}),
		),
	)
	if err != nil {
		return nil, fmt.Errorf("new sip user agent: %w", err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(sipLog))
	if err != nil {
		_ = ua.Close()
		return nil, fmt.Errorf("new sip server: %w", err)
	}
	s.ua, s.srv = ua, srv
	srv.OnOptions(s.handleOptions)
	srv.OnNoRoute(s.handleNoRoute)
	return s, nil
}

// SIP returns the sipgo server to register request handlers on (OnInvite,
// OnAck, OnBye, OnCancel, OnRegister, ...). Register them before Listen:
// sipgo's handler table is not safe for concurrent use.
func (s *Server) SIP() *sipgo.Server { return s.srv }

// UA returns the sipgo user agent, for clients and dialog caches that must
// share the listener's transports.
func (s *Server) UA() *sipgo.UserAgent { return s.ua }

// Logger returns the server's rate-limited logger.
func (s *Server) Logger() *slog.Logger { return s.log }

// Stats returns the listener's counters.
func (s *Server) Stats() Stats {
	return Stats{Accepted: s.accepted.Load(), Rejected: s.rejected.Load(), Dropped: s.dropped.Load()}
}

// Listen binds udpAddr and tcpAddr (either may be empty to skip it; use
// "127.0.0.1:0" in tests) and serves them in the background until ctx is
// done or Close is called.
func (s *Server) Listen(ctx context.Context, udpAddr, tcpAddr string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("listen: server closed")
	}
	if s.listening {
		return errors.New("listen: already listening")
	}
	if udpAddr == "" && tcpAddr == "" {
		return errors.New("listen: no address")
	}
	var lc net.ListenConfig
	var udp *net.UDPConn
	if udpAddr != "" {
		pc, err := lc.ListenPacket(ctx, "udp", udpAddr)
		if err != nil {
			return fmt.Errorf("listen udp %s: %w", udpAddr, err)
		}
		udp = pc.(*net.UDPConn)
		s.setReadBuffer(udp)
	}
	if tcpAddr != "" {
		ln, err := lc.Listen(ctx, "tcp", tcpAddr)
		if err != nil {
			if udp != nil {
				_ = udp.Close()
			}
			return fmt.Errorf("listen tcp %s: %w", tcpAddr, err)
		}
		s.tcp = ln
	}
	s.listening = true
	if udp != nil {
		s.udp.Store(udp)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := s.srv.ServeUDP(&steadyPacketConn{PacketConn: udp, s: s}); err != nil && !s.isClosed() {
				s.log.Error("sip udp listener stopped", "error", err)
			}
		}()
		s.log.Info("sip listening", "transport", "udp", "addr", udp.LocalAddr().String())
	}
	if s.tcp != nil {
		ln := &framedListener{Listener: s.tcp, s: s, transport: "tcp"}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := s.srv.ServeTCP(ln); err != nil && !s.isClosed() && !errors.Is(err, net.ErrClosed) {
				s.log.Error("sip tcp listener stopped", "error", err)
			}
		}()
		s.log.Info("sip listening", "transport", "tcp", "addr", s.tcp.Addr().String())
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(logFlushInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				go s.Close()
				return
			case <-s.done:
				return
			case <-t.C:
				s.rl.Flush(context.Background())
				s.replies.Sweep()
			}
		}
	}()
	return nil
}

// ListenTLS binds addr for SIP over TLS with cfg (a certificate is
// required) and serves it like TCP until ctx is done or Close is called.
// Call it after Listen.
func (s *Server) ListenTLS(ctx context.Context, addr string, cfg *tls.Config) error {
	if cfg == nil || (len(cfg.Certificates) == 0 && cfg.GetCertificate == nil) {
		return errors.New("listen tls: no certificate configured")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("listen tls: server closed")
	}
	if !s.listening {
		return errors.New("listen tls: call Listen first")
	}
	if s.tls != nil {
		return errors.New("listen tls: already listening")
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("listen tls %s: %w", addr, err)
	}
	s.tls = ln
	framed := &framedListener{Listener: tls.NewListener(ln, cfg), s: s, transport: "tls"}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.srv.ServeTLS(framed); err != nil && !s.isClosed() && !errors.Is(err, net.ErrClosed) {
			s.log.Error("sip tls listener stopped", "error", err)
		}
	}()
	s.log.Info("sip listening", "transport", "tls", "addr", ln.Addr().String())
	return nil
}

// TLSAddr is the bound TLS address, nil when not listening on TLS.
func (s *Server) TLSAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tls != nil {
		return s.tls.Addr()
	}
	return nil
}

// UDPAddr is the bound UDP address, nil when not listening on UDP.
func (s *Server) UDPAddr() net.Addr {
	if u := s.udp.Load(); u != nil {
		return u.LocalAddr()
	}
	return nil
}

// TCPAddr is the bound TCP address, nil when not listening on TCP.
func (s *Server) TCPAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tcp != nil {
		return s.tcp.Addr()
	}
	return nil
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Close stops the listeners and the sipgo user agent. It is safe to call
// more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	var errs []error
	if u := s.udp.Load(); u != nil {
		if err := u.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close udp: %w", err))
		}
	}
	if s.tcp != nil {
		if err := s.tcp.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close tcp: %w", err))
		}
	}
	if s.tls != nil {
		if err := s.tls.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close tls: %w", err))
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
	if err := s.ua.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close sip user agent: %w", err))
	}
	s.rl.Flush(context.Background())
	return errors.Join(errs...)
}

// knownMethods are the methods of RFC 3261 and its common extensions: one
// without a handler is answered 405, any other method 501.
var knownMethods = map[sip.RequestMethod]bool{
	sip.INVITE: true, sip.ACK: true, sip.CANCEL: true, sip.BYE: true,
	sip.REGISTER: true, sip.OPTIONS: true, sip.SUBSCRIBE: true, sip.NOTIFY: true,
	sip.REFER: true, sip.INFO: true, sip.MESSAGE: true, sip.PRACK: true,
	sip.UPDATE: true, sip.PUBLISH: true,
}

// allow is the Allow header value: the methods with a handler.
func (s *Server) allow() string {
	m := s.srv.RegisteredMethods()
	m = append(m, string(sip.OPTIONS))
	slices.Sort(m)
	return strings.Join(slices.Compact(m), ", ")
}

func (s *Server) handleOptions(req *sip.Request, tx sip.ServerTransaction) {
	res := sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil)
	res.AppendHeader(sip.NewHeader("Allow", s.allow()))
	res.AppendHeader(sip.NewHeader("Accept", "application/sdp"))
	res.AppendHeader(sip.NewHeader("Accept-Encoding", "identity"))
	res.AppendHeader(sip.NewHeader("Accept-Language", "en"))
	res.AppendHeader(sip.NewHeader("Server", s.cfg.ServerName))
	if err := tx.Respond(res); err != nil {
		s.log.Debug("respond to options", "error", err)
	}
}

func (s *Server) handleNoRoute(req *sip.Request, tx sip.ServerTransaction) {
	if req.IsAck() || tx == nil {
		// An ACK matching no dialog: nothing to answer.
		return
	}
	var res *sip.Response
	switch {
	case req.IsCancel():
		// A CANCEL that matched no INVITE transaction (RFC 3261 9.2).
		res = sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil)
	case knownMethods[req.Method]:
		res = sip.NewResponseFromRequest(req, sip.StatusMethodNotAllowed, "Method Not Allowed", nil)
		res.AppendHeader(sip.NewHeader("Allow", s.allow()))
	default:
		res = sip.NewResponseFromRequest(req, sip.StatusNotImplemented, "Not Implemented", nil)
		res.AppendHeader(sip.NewHeader("Allow", s.allow()))
	}
	res.AppendHeader(sip.NewHeader("Server", s.cfg.ServerName))
	s.log.Debug("sip method not handled", "method", string(req.Method), "status", res.StatusCode, "source", req.Source())
	if err := tx.Respond(res); err != nil {
		s.log.Debug("respond to unhandled method", "error", err)
	}
}

// ErrorStatus maps an application error to the SIP final response that
// reports it: the one place where telephony turns ringdesk error codes into
// SIP (as web does for HTTP). Unknown errors are 500; log those.
func ErrorStatus(err error) (int, string) {
	switch ringdesk.ErrorCode(err) {
	case "":
		return sip.StatusOK, "OK"
	case ringdesk.ENOTFOUND:
		return sip.StatusNotFound, "Not Found"
	case ringdesk.EINVALID:
		return sip.StatusBadRequest, "Bad Request"
	case ringdesk.EUNAUTHORIZED:
		return sip.StatusUnauthorized, "Unauthorized"
	case ringdesk.EFORBIDDEN:
		return sip.StatusForbidden, "Forbidden"
	case ringdesk.ECONFLICT:
		return sip.StatusBusyHere, "Busy Here"
	case ringdesk.EUNAVAILABLE:
		return sip.StatusServiceUnavailable, "Service Unavailable"
	default:
		return sip.StatusInternalServerError, "Server Internal Error"
	}
}
