package telephony

import (
	"bufio"
	"bytes"
	"context"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// connectWait is how long an in-dialog request that arrives while its call
// is being connected (the caller's ACK crossing it) waits for the call.
const connectWait = 2 * time.Second

// reinvite is a re-INVITE being relayed from one leg to the other. It is
// the call's only one at a time: RFC 3261 §14.2 answers a second one 491
// (glare) or 500.
type reinvite struct {
	fromCaller bool
	callID     string            // the SIP Call-ID of the leg it came on
	cseq       uint32            // its CSeq there, which the originator's ACK repeats
	acks       chan *sip.Request // the originator's ACK of the relayed 2xx
}

// inDialog finds the answered call of an in-dialog request and its agent
// leg, and tells which leg the request came on. A request that arrives
// while its call is being connected waits up to connectWait for it.
func (in *Inbound) inDialog(lg *legs, req *sip.Request) (c *liveCall, leg *sipgo.DialogClientSession, fromCaller bool) {
	if lg == nil || req.CallID() == nil {
		return nil, nil, false
	}
	id := req.CallID().Value()
	in.mu.Lock()
	c = in.bySIP[id]
	in.mu.Unlock()
	if c == nil {
		return nil, nil, false
	}
	if !c.answered() {
		select {
		case <-c.connected:
		case <-time.After(connectWait):
			return nil, nil, false
		}
	}
	c.mu.Lock()
	leg, finished := c.agent, c.finished
	c.mu.Unlock()
	if leg == nil || finished {
		return nil, nil, false
	}
	if id == c.sipCallID {
		if _, err := lg.dsc.MatchDialogRequest(req); err != nil {
			return nil, nil, false
		}
		return c, leg, true
	}
	if did, err := sip.DialogIDFromRequestUAC(req); err != nil || did != leg.ID {
		return nil, nil, false
	}
	return c, leg, false
}

// toAgent copies a request of the caller for the agent leg, to the
// phone's remote target. The dialog fills in its own From, To, Call-ID and
// CSeq and sends it where the phone answered from (agentUA).
func toAgent(c *liveCall, leg *sipgo.DialogClientSession, req *sip.Request) *sip.Request {
	return relayRequest(req, c.agentTargetURI(leg))
}

// toCaller copies a request of the agent for the caller's dialog, to the
// caller's remote target.
func toCaller(c *liveCall, req *sip.Request) *sip.Request {
	return relayRequest(req, c.callerTargetURI())
}

// agentTargetURI is the agent leg's remote target: the phone's Contact in
// its answer, or in the last target refresh.
func (c *liveCall) agentTargetURI(leg *sipgo.DialogClientSession) sip.Uri {
	c.mu.Lock()
	t := c.agentTarget
	c.mu.Unlock()
	if t != nil {
		return *t.Clone()
	}
	target := leg.InviteRequest.Recipient
	if cont := leg.InviteResponse.Contact(); cont != nil {
		target = cont.Address
	}
	return *target.Clone()
}

// callerTargetURI is the caller's remote target: the Contact of its
// INVITE, or of the last target refresh.
func (c *liveCall) callerTargetURI() sip.Uri {
	c.mu.Lock()
	t := c.callerTarget
	c.mu.Unlock()
	if t != nil {
		return *t.Clone()
	}
	return *c.dlg.InviteRequest.Contact().Address.Clone()
}

// refreshTargets applies a target refresh (a re-INVITE or UPDATE relayed
// from one leg and answered 2xx by the other): the request's Contact is
// the new target of the leg it came from, the answer's Contact that of the
// other leg (RFC 3261 §12.2.1.2, RFC 3311 §5). The agent leg's requests
// keep going where the phone answered from (agentUA: NAT), only their
// Request-URI changes; the caller's go to its Route set, else the target.
func (c *liveCall) refreshTargets(req *sip.Request, res *sip.Response, fromCaller bool) {
	if res == nil || !res.IsSuccess() {
		return
	}
	var caller, agent *sip.Uri
	if h := req.Contact(); h != nil {
		caller = h.Address.Clone()
	}
	if h := res.Contact(); h != nil {
		agent = h.Address.Clone()
	}
	if !fromCaller {
		caller, agent = agent, caller
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if caller != nil {
		c.callerTarget = caller
	}
	if agent != nil {
		c.agentTarget = agent
	}
}

// relayResponse answers req with the other leg's final response: its
// status, body and the headers that describe them.
func relayResponse(req *sip.Request, res *sip.Response) *sip.Response {
	out := sip.NewResponseFromRequest(req, res.StatusCode, res.Reason, res.Body())
	for _, name := range []string{"Content-Type", "Content-Disposition", "Retry-After", "Warning"} {
		if h := res.GetHeader(name); h != nil {
			out.AppendHeader(sip.HeaderClone(h))
		}
	}
	return out
}

// handleReinvite relays a re-INVITE (hold, resume, codec change, session
// refresh) of an answered call to the other leg: its SDP, the final
// answer back, and the originator's ACK of a 2xx across too. Each leg
// keeps its own CSeq and tags. A failure answer (491 glare, 488, ...) is
// relayed back as it is. When the originator CANCELs (cancelled closes;
// the transaction layer has answered it 487), the relayed re-INVITE is
// CANCELled too.
func (in *Inbound) handleReinvite(req *sip.Request, tx sip.ServerTransaction, lg *legs, cancelled <-chan struct{}) {
	c, leg, fromCaller := in.inDialog(lg, req)
	if c == nil || req.CSeq() == nil {
		respondFinal(tx, req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	r := &reinvite{fromCaller: fromCaller, callID: req.CallID().Value(), cseq: req.CSeq().SeqNo, acks: make(chan *sip.Request, 1)}
	c.mu.Lock()
	busy := c.reinvite
	if busy == nil {
		c.reinvite = r
	}
	c.mu.Unlock()
	if busy != nil {
		if busy.fromCaller == fromCaller {
			// §14.2: a second INVITE before the first one's final answer.
			respondFinal(tx, req, sip.StatusInternalServerError, "Server Internal Error",
				sip.NewHeader("Retry-After", strconv.Itoa(rand.IntN(10))))
		} else {
			// §14.2: our INVITE on this dialog is in progress (glare).
			respondFinal(tx, req, sip.StatusRequestPending, "Request Pending")
		}
		return
	}
	release := func() {
		c.mu.Lock()
		if c.reinvite == r {
			c.reinvite = nil
		}
		c.mu.Unlock()
	}
	defer release()

	side := "agent"
	if fromCaller {
		side = "caller"
	}
	log := in.log.With("call_id", c.id, "from", side)
	_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusTrying, "Trying", nil))

	ctx, cancel := context.WithTimeout(context.Background(), 64*sip.T1+5*time.Second)
	defer cancel()
	var out *sip.Request
	var ftx sip.ClientTransaction
	var err error
	if fromCaller {
		out = toAgent(c, leg, req)
		ftx, err = leg.TransactionRequest(ctx, out)
	} else {
		out = toCaller(c, req)
		ftx, err = c.dlg.TransactionRequest(ctx, out)
	}
	if err != nil {
		release()
		log.Warn("relay re-invite", "error", err)
		respondFinal(tx, req, sip.StatusServiceUnavailable, "Service Unavailable")
		return
	}
	res := finalResponse(ctx, ftx, cancelled, func() { in.cancelRelayed(ctx, lg, out, log) })
	if isClosed(cancelled) {
		release()
		status := "none"
		if res != nil {
			status = strconv.Itoa(res.StatusCode)
		}
		log.Info("re-invite cancelled by its originator", "other_leg_status", status)
		in.event(c, "reinvite", c.agentUIDNow(), "from="+side+" status=487 other="+status)
		if res != nil && res.IsSuccess() {
			// The other leg accepted before our CANCEL reached it: confirm
			// its answer so it stops retransmitting (the originator kept
			// its old session; RFC 3261 §9.1 leaves this to the UAC).
			_ = lg.cli.WriteRequest(ackFor(out, res), sipgo.ClientRequestAddVia)
		}
		return
	}
	if res == nil {
		ftx.Terminate()
		release()
		log.Info("re-invite: no answer from the other leg")
		in.event(c, "reinvite", c.agentUIDNow(), "from="+side+" status=408")
		respondFinal(tx, req, sip.StatusRequestTimeout, "Request Timeout")
		return
	}
	in.event(c, "reinvite", c.agentUIDNow(), "from="+side+" status="+strconv.Itoa(res.StatusCode)+
		" media="+sdpDirection(req.Body()))
	c.refreshTargets(req, res, fromCaller)
	if !res.IsSuccess() {
		// The transaction ACKs a failure itself; the originator gets it.
		release()
		log.Info("re-invite refused by the other leg", "status", res.StatusCode)
		final := relayResponse(req, res)
		if err := tx.Respond(final); err == nil {
			in.waitACK(req, tx)
		}
		return
	}

	// A 2xx: the originator ACKs it end to end, so its ACK (with an
	// answer, for an offerless re-INVITE) is relayed to the other leg,
	// whose 2xx retransmissions are ACKed again meanwhile.
	ack := ackFor(out, res)
	if cont := res.Contact(); cont != nil {
		// The ACK of a 2xx goes to the target the 2xx gave (RFC 3261
		// §13.2.2.4), where the dialog's next requests go too.
		ack.Recipient = *cont.Address.Clone()
	}
	var sent atomic.Pointer[sip.Request]
	ftx.OnRetransmission(func(*sip.Response) {
		if a := sent.Load(); a != nil {
			_ = lg.cli.WriteRequest(a.Clone(), keepVia)
		}
	})
	ok := relayResponse(req, res)
	contact := lg.contact
	if !fromCaller {
		contact = leg.UA.ContactHDR // the agent leg's, on its transport
	}
	ok.AppendHeader(sip.HeaderClone(&contact))
	if err := tx.Respond(ok); err != nil {
		log.Warn("relay re-invite answer", "error", err)
	}
	got := awaitAck(tx, ok, r, !sip.IsReliable(req.Transport()))
	if got == nil {
		log.Warn("re-invite: the originator never ACKed the 2xx; ACKing the other leg")
	} else if body := got.Body(); len(body) > 0 {
		ack.SetBody(body)
		if ct := got.ContentType(); ct != nil {
			ack.AppendHeader(sip.HeaderClone(ct))
		}
	}
	if err := lg.cli.WriteRequest(ack, sipgo.ClientRequestAddVia); err != nil {
		log.Warn("relay re-invite ack", "error", err)
		return
	}
	sent.Store(ack)
}

// reinviteAck hands the originator's ACK of a relayed re-INVITE 2xx to its
// relay, and reports whether it was one.
func (in *Inbound) reinviteAck(req *sip.Request) bool {
	if req.CallID() == nil || req.CSeq() == nil {
		return false
	}
	id := req.CallID().Value()
	in.mu.Lock()
	c := in.bySIP[id]
	in.mu.Unlock()
	if c == nil {
		return false
	}
	c.mu.Lock()
	r := c.reinvite
	c.mu.Unlock()
	if r == nil || r.callID != id || r.cseq != req.CSeq().SeqNo {
		return false
	}
	select {
	case r.acks <- req:
	default: // a retransmission
	}
	return true
}

// finalResponse waits for the final response of a client transaction;
// nil when none came. When cancelled closes first, cancel is called once
// and the wait goes on for the final response the CANCEL brings.
func finalResponse(ctx context.Context, tx sip.ClientTransaction, cancelled <-chan struct{}, cancel func()) *sip.Response {
	for {
		select {
		case <-cancelled:
			cancel()
			cancelled = nil // wait on
			continue
		case res := <-tx.Responses():
			if res.IsProvisional() {
				continue
			}
			return res
		case <-tx.Done():
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}

// awaitAck waits for the originator's ACK of a 2xx, retransmitting the 2xx
// over unreliable transports (RFC 3261 §13.3.1.4: T1 doubling to T2, for
// 64*T1). It returns nil when no ACK came.
func awaitAck(tx sip.ServerTransaction, res *sip.Response, r *reinvite, retransmit bool) *sip.Request {
	giveUp := time.NewTimer(64 * sip.T1)
	defer giveUp.Stop()
	interval := sip.T1
	resend := time.NewTimer(interval)
	defer resend.Stop()
	for {
		select {
		case ack := <-r.acks:
			return ack
		case <-resend.C:
			if retransmit {
				_ = tx.Respond(res)
			}
			interval = min(2*interval, sip.T2)
			resend.Reset(interval)
		case <-giveUp.C:
			return nil
		}
	}
}

// ackFor builds the ACK of a 2xx to a relayed re-INVITE (RFC 3261
// §13.2.2.4): the dialog's From and To, the re-INVITE's CSeq number, its
// route and destination. The client adds the Via when it is sent.
func ackFor(inv *sip.Request, res *sip.Response) *sip.Request {
	target := inv.Recipient
	ack := sip.NewRequest(sip.ACK, *target.Clone())
	ack.AppendHeader(sip.HeaderClone(inv.From()))
	ack.AppendHeader(sip.HeaderClone(res.To()))
	ack.AppendHeader(sip.HeaderClone(inv.CallID()))
	ack.AppendHeader(&sip.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: sip.ACK})
	maxFwd := sip.MaxForwardsHeader(70)
	ack.AppendHeader(&maxFwd)
	for _, h := range inv.GetHeaders("Route") {
		ack.AppendHeader(sip.HeaderClone(h))
	}
	ack.SetBody(nil)
	ack.SetDestination(inv.Destination())
	ack.SetTransport(inv.Transport())
	return ack
}

// cancelRelayed CANCELs a relayed re-INVITE (RFC 3261 §9.1: the INVITE's
// Request-URI, top Via, From, To, Call-ID and CSeq number; sipgo's client
// transaction has no Cancel of its own).
func (in *Inbound) cancelRelayed(ctx context.Context, lg *legs, inv *sip.Request, log *slog.Logger) {
	cancel := sip.NewRequest(sip.CANCEL, *inv.Recipient.Clone())
	cancel.AppendHeader(sip.HeaderClone(inv.Via()))
	cancel.AppendHeader(sip.HeaderClone(inv.From()))
	cancel.AppendHeader(sip.HeaderClone(inv.To()))
	cancel.AppendHeader(sip.HeaderClone(inv.CallID()))
	cancel.AppendHeader(&sip.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: sip.CANCEL})
	maxFwd := sip.MaxForwardsHeader(70)
	cancel.AppendHeader(&maxFwd)
	for _, h := range inv.GetHeaders("Route") {
		cancel.AppendHeader(sip.HeaderClone(h))
	}
	cancel.SetBody(nil)
	cancel.SetDestination(inv.Destination())
	cancel.SetTransport(inv.Transport())
	go func() {
		if _, err := lg.cli.Do(ctx, cancel, keepVia); err != nil {
			log.Info("cancel relayed re-invite", "error", err)
		}
	}()
}

// ackOfResponse builds the ACK of a retransmitted 2xx from the 2xx alone:
// to its Contact (the remote target), sent where it came from, with its
// From, To, Call-ID and CSeq number.
func ackOfResponse(res *sip.Response) *sip.Request {
	ack := sip.NewRequest(sip.ACK, *res.Contact().Address.Clone())
	ack.AppendHeader(sip.HeaderClone(res.From()))
	ack.AppendHeader(sip.HeaderClone(res.To()))
	ack.AppendHeader(sip.HeaderClone(res.CallID()))
	ack.AppendHeader(&sip.CSeqHeader{SeqNo: res.CSeq().SeqNo, MethodName: sip.ACK})
	maxFwd := sip.MaxForwardsHeader(70)
	ack.AppendHeader(&maxFwd)
	ack.SetBody(nil)
	ack.SetDestination(res.Source())
	ack.SetTransport(res.Transport())
	return ack
}

// keepVia sends a request as it is: a retransmitted ACK keeps its Via.
func keepVia(*sipgo.Client, *sip.Request) error { return nil }

// sdpDirection reads the media direction of an SDP offer (RFC 4566
// §6; RFC 3264 §8.4: a=sendonly or inactive puts the other side on
// hold): the first direction attribute, or "sendrecv", its default;
// "none" without SDP.
func sdpDirection(body []byte) string {
	if len(body) == 0 {
		return "none"
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		switch line := bytes.TrimSpace(sc.Bytes()); string(line) {
		case "a=sendonly", "a=recvonly", "a=inactive", "a=sendrecv":
			return string(line[2:])
		}
	}
	return "sendrecv"
}

// agentUIDNow is the agent's user id at this moment.
func (c *liveCall) agentUIDNow() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.agentUID
}
