package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"meshcomm/mesh"
)

// defaultMaxForwards is the Max-Forwards of requests this node originates (RFC 3261 8.1.1.6).
const defaultMaxForwards = 70

// loopCheck refuses a request that would be forwarded once more than it may, or that already
// passed through this node (RFC 3261 16.3 steps 3 and 4).
func (ua *UA) loopCheck(req *sip.Request, tx sip.ServerTransaction) bool {
	if mf := req.MaxForwards(); mf != nil && mf.Val() == 0 {
		ua.refuse(ReasonTooManyHops, errors.New("Max-Forwards is 0"), slog.String("call", callIDOf(req)))
		ua.reply(req, tx, 483, "")
		return false
	}
	for _, h := range req.GetHeaders("Via") {
		if v, ok := h.(*sip.ViaHeader); ok && isHost(v.Host, ua.local) {
			ua.refuse(ReasonLoop, errors.New("own Via in the request"), slog.String("call", callIDOf(req)))
			ua.reply(req, tx, 482, "")
			return false
		}
	}
	return true
}

// isHost reports whether a URI or Via host is node id's overlay address.
func isHost(host string, id mesh.NodeID) bool {
	h, err := nodeFromHost(host)
	return err == nil && h == id
}

func callIDOf(m interface{ CallID() *sip.CallIDHeader }) string {
	if c := m.CallID(); c != nil {
		return string(*c)
	}
	return ""
}

// proxyToAoR forwards a request for an address of record that is not this node's to the node
// the Locator says holds it (the first binding that can be reached).
func (ua *UA) proxyToAoR(req *sip.Request, tx sip.ServerTransaction, from mesh.NodeID, aor AoR) {
	if !ua.loopCheck(req, tx) {
		return
	}
	ctx, cancel := context.WithTimeout(ua.ctx, dialTimeout)
	defer cancel()
	bindings, err := ua.cfg.Locator.Locate(ctx, aor.String())
	if err != nil || len(bindings) == 0 {
		ua.refuse(ReasonUnknownUser, fmt.Errorf("proxy: %s: %v", aor, err), slog.String("method", string(req.Method)))
		ua.reply(req, tx, 404, "")
		return
	}
	for _, b := range bindings {
		ua.learn(b.Contact)
		if b.NodeID == ua.local {
			continue
		}
		if err := ua.ensureStream(ctx, b.NodeID, b.Contact); err != nil {
			ua.log.Info("sip: proxy: binding unreachable", slog.String("aor", aor.String()), slog.String("node", b.NodeID.Short()), slog.String("err", err.Error()))
			continue
		}
		ua.forward(req, tx, from, b.NodeID, b.Contact)
		return
	}
	ua.reply(req, tx, 480, "")
}

// forward relays a request to the next node and its responses back (transaction-stateful; an
// ACK statelessly). The request keeps its Request-URI; this node's Via goes on top,
// Max-Forwards goes down by one, and an INVITE gets a Record-Route so that the rest of the
// dialog passes here too (the two ends may share no network).
func (ua *UA) forward(req *sip.Request, tx sip.ServerTransaction, from, next mesh.NodeID, hint mesh.Contact) {
	if !ua.loopCheck(req, tx) {
		return
	}
	if next == ua.local || next == from {
		ua.refuse(ReasonLoop, errors.New("next hop is this node or the previous one"), slog.String("call", callIDOf(req)))
		ua.reply(req, tx, 482, "")
		return
	}
	ctx, cancel := context.WithTimeout(ua.ctx, dialTimeout)
	defer cancel()
	if err := ua.ensureStream(ctx, next, hint); err != nil {
		ua.log.Info("sip: proxy: next hop unreachable", slog.String("node", next.Short()), slog.String("err", err.Error()))
		ua.reply(req, tx, 480, "")
		return
	}
	fwd := req.Clone()
	mf := uint32(defaultMaxForwards)
	if h := req.MaxForwards(); h != nil {
		mf = h.Val()
	}
	fwd.RemoveHeader("Max-Forwards") // sipgo's clone shares this header with the original
	dec := sip.MaxForwardsHeader(mf - 1)
	fwd.AppendHeader(&dec)
	if fwd.IsInvite() && fwd.To() != nil && !fwd.To().Params.Has("tag") {
		fwd.PrependHeader(&sip.RecordRouteHeader{Address: routeURI(ua.local)})
	}
	fwd.SetDestination(overlayAddr(next))
	fwd.SetTransport(overlayTransport)
	ua.stats.forwarded.Add(1)
	if fwd.IsAck() {
		if err := ua.cli.WriteRequest(fwd, sipgo.ClientRequestAddVia); err != nil {
			ua.log.Info("sip: proxy: ACK not forwarded", slog.String("err", err.Error()))
		}
		return
	}
	dctx, dcancel := context.WithTimeout(ua.ctx, dialTimeout)
	down, err := ua.cli.TransactionRequest(dctx, fwd, sipgo.ClientRequestAddVia)
	dcancel()
	if err != nil {
		ua.log.Info("sip: proxy: forwarding failed", slog.String("err", err.Error()))
		ua.reply(req, tx, 480, "")
		return
	}
	defer down.Terminate()
	if fwd.IsInvite() {
		tx.OnCancel(func(*sip.Request) {
			go ua.cancelDownstream(fwd)
		})
	}
	for {
		select {
		case res := <-down.Responses():
			if res.StatusCode == sip.StatusTrying {
				continue // hop by hop (RFC 3261 16.7 step 5)
			}
			up := res.Clone()
			up.RemoveHeader("Via") // our own, the topmost
			ua.respond(tx, up)
			if !res.IsProvisional() {
				return
			}
		case <-down.Done():
			ua.reply(req, tx, 408, "Request Timeout")
			return
		case <-tx.Done():
			return
		case <-ua.ctx.Done():
			return
		}
	}
}

// cancelDownstream sends CANCEL for a forwarded INVITE (RFC 3261 16.10): same Request-URI,
// top Via, From, To, Call-ID and Route, CSeq number with method CANCEL.
func (ua *UA) cancelDownstream(inv *sip.Request) {
	c := sip.NewRequest(sip.CANCEL, inv.Recipient)
	c.AppendHeader(sip.HeaderClone(inv.Via()))
	c.AppendHeader(sip.HeaderClone(inv.From()))
	c.AppendHeader(sip.HeaderClone(inv.To()))
	c.AppendHeader(sip.HeaderClone(inv.CallID()))
	c.AppendHeader(&sip.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: sip.CANCEL})
	mf := sip.MaxForwardsHeader(defaultMaxForwards)
	c.AppendHeader(&mf)
	sip.CopyHeaders("Route", inv, c)
	c.SetBody(nil)
	c.SetDestination(inv.Destination())
	c.SetTransport(overlayTransport)
	ctx, cancel := context.WithTimeout(ua.ctx, dialTimeout)
	defer cancel()
	if _, err := ua.cli.Do(ctx, c); err != nil {
		ua.log.Info("sip: proxy: CANCEL not forwarded", slog.String("err", err.Error()))
	}
}
