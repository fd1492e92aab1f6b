package sip

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"meshcomm/mesh"
)

// handleInvite serves an INVITE for a local address: glare, busy, ring, answer.
func (ua *UA) handleInvite(req *sip.Request, tx sip.ServerTransaction, from mesh.NodeID) {
	local, ok := ua.localAoRFor(req)
	if !ok {
		ua.refuse(ReasonUnknownUser, errors.New("INVITE's To is not a local address"), slog.String("to", req.To().Address.String()))
		ua.reply(req, tx, sip.StatusNotFound, "")
		return
	}
	callID := callIDOf(req)
	if req.To().Params.Has("tag") { // a re-INVITE: sessions are not modified mid-call
		ua.mu.Lock()
		_, known := ua.calls[callID]
		ua.mu.Unlock()
		if !known {
			ua.refuse(ReasonUnknownDialog, errors.New("re-INVITE for no dialog"), slog.String("call", callID))
			ua.reply(req, tx, sip.StatusCallTransactionDoesNotExists, "")
			return
		}
		ua.reply(req, tx, sip.StatusNotAcceptableHere, "")
		return
	}
	caller, err := aorOfURI(req.From().Address)
	if err != nil {
		ua.refuse(ReasonMalformed, fmt.Errorf("From: %w", err))
		ua.reply(req, tx, sip.StatusBadRequest, "")
		return
	}
	peer, err := nodeFromHost(req.Contact().Address.Host)
	if err != nil {
		ua.refuse(ReasonMalformed, fmt.Errorf("Contact: %w", err))
		ua.reply(req, tx, sip.StatusBadRequest, "")
		return
	}
	dlgUA := &sipgo.DialogUA{Client: ua.cli, ContactHDR: ua.contactHeader(local)}
	ua.replaceResent(req)

	ua.mu.Lock()
	glare := ua.pendingOutgoingLocked(caller, local)
	busy := glare == nil && (ua.pol.Mode == AnswerBusy || ua.activeCallsLocked() >= ua.pol.MaxCalls)
	ua.mu.Unlock()
	switch {
	case glare != nil && bytes.Compare(peer[:], ua.local[:]) < 0:
		ua.adoptGlare(glare, req, tx, dlgUA, peer, from)
		return
	case glare != nil:
		// Both sides are calling each other: the INVITE from the lower NodeID wins, and ours
		// is that one. The peer merges our INVITE into its own call when it arrives there.
		ua.reply(req, tx, sip.StatusRequestPending, "")
		return
	case busy:
		ua.refuse(ReasonBusy, nil, slog.String("from", caller.String()), slog.String("call", callID))
		ua.reply(req, tx, sip.StatusBusyHere, "")
		return
	}

	dlg, err := dlgUA.ReadInvite(req, tx)
	if err != nil {
		ua.refuse(ReasonMalformed, err, slog.String("call", callID))
		ua.reply(req, tx, sip.StatusBadRequest, "")
		return
	}
	c := newCall(ua, Incoming, callID, local, caller)
	c.uas, c.next, c.info.Peer = dlg, from, peer
	ua.mu.Lock()
	if ua.closed || ua.activeCallsLocked() >= ua.pol.MaxCalls {
		ua.mu.Unlock()
		ua.refuse(ReasonBusy, nil, slog.String("from", caller.String()), slog.String("call", callID))
		dlg.Respond(sip.StatusBusyHere, statusText(sip.StatusBusyHere), nil)
		return
	}
	ua.calls[callID] = c
	ua.mu.Unlock()
	ua.stats.callsReceived.Add(1)
	if ua.cfg.Media != nil {
		m, err := ua.cfg.Media.NewSession(callID)
		if err != nil {
			ua.log.Warn("sip: media session refused", slog.String("call", callID), slog.String("err", err.Error()))
			dlg.Respond(sip.StatusInternalServerError, statusText(500), nil)
			c.end(sip.StatusInternalServerError, "media unavailable", "")
			return
		}
		c.media = m
	}
	if err := dlg.Respond(sip.StatusRinging, "Ringing", nil); err != nil {
		c.end(sip.StatusRequestTerminated, "ended before ringing", "remote")
		return
	}
	c.advance(StateRinging, sip.StatusRinging)
	if ua.cfg.OnIncoming != nil {
		go ua.cfg.OnIncoming(c)
	}
	ua.ring(c, dlg, req)
}

// ring waits for the answer, a rejection, the auto-answer delay, the ring timeout or the
// caller's CANCEL, and answers the INVITE accordingly.
func (ua *UA) ring(c *Call, dlg *sipgo.DialogServerSession, req *sip.Request) {
	var auto <-chan time.Time
	if ua.pol.Mode == AnswerAuto {
		t := time.NewTimer(ua.pol.AutoAnswerAfter)
		defer t.Stop()
		auto = t.C
	}
	timeout := time.NewTimer(ua.pol.RingTimeout)
	defer timeout.Stop()
	var status int
	reason, by := "", "local"
	select {
	case <-auto:
		status = sip.StatusOK
	case status = <-c.decide:
		reason = "rejected"
	case <-timeout.C:
		status, reason, by = sip.StatusTemporarilyUnavailable, "not answered", ""
	case <-dlg.Context().Done():
		c.end(sip.StatusRequestTerminated, "cancelled by the caller", "remote")
		return
	case <-ua.ctx.Done():
		status, reason = sip.StatusTemporarilyUnavailable, "user agent closed"
	}
	if status != sip.StatusOK {
		c.mu.Lock()
		c.answering = true
		c.mu.Unlock()
		if err := dlg.Respond(status, statusText(status), nil); err != nil {
			ua.log.Debug("sip: rejection not sent", slog.String("err", err.Error()))
		}
		c.end(status, reason, by)
		return
	}
	ua.answer(c, dlg, req.Body())
}

// answer sends 200 with this side's SDP and waits for the ACK.
func (ua *UA) answer(c *Call, dlg *sipgo.DialogServerSession, offer []byte) {
	c.mu.Lock()
	c.answering = true
	m, peer := c.media, c.info.Peer
	c.mu.Unlock()
	var err error
	if m != nil {
		err = dlg.RespondSDP(m.LocalSDP())
	} else {
		err = dlg.Respond(sip.StatusOK, "OK", nil)
	}
	if err != nil {
		status, reason, by := sip.StatusRequestTimeout, "no ACK: "+err.Error(), ""
		if errors.Is(context.Cause(dlg.Context()), sip.ErrTransactionCanceled) {
			status, reason, by = sip.StatusRequestTerminated, "cancelled by the caller", "remote"
		} else if dlg.LoadState() == sip.DialogStateEnded {
			status, reason, by = sip.StatusOK, "hung up before the ACK", "remote"
		}
		c.end(status, reason, by)
		return
	}
	if m != nil {
		if err := m.Start(peer, offer); err != nil {
			ua.log.Warn("sip: media did not start", slog.String("call", c.ID()), slog.String("err", err.Error()))
		}
	}
	if c.advance(StateAnswered, sip.StatusOK) {
		ua.stats.callsAnswered.Add(1)
	}
	if dlg.LoadState() == sip.DialogStateEnded { // a BYE overtook the ACK
		c.end(sip.StatusOK, "hung up", "remote")
	}
}

// replaceResent ends an unanswered incoming call that req sends again (same Call-ID and From
// tag, a new transaction): the caller lost the stream that carried the first INVITE and with
// it the transaction, so the new INVITE takes the call's place.
func (ua *UA) replaceResent(req *sip.Request) {
	old := ua.callFor(req)
	if old == nil {
		return
	}
	old.mu.Lock()
	same := old.info.Direction == Incoming && !old.answering && old.info.State < StateAnswered && old.uas != nil &&
		fromTag(old.uas.InviteRequest) == fromTag(req)
	old.mu.Unlock()
	if same {
		old.end(sip.StatusRequestTerminated, "INVITE sent again on a new stream", "remote")
	}
}

func fromTag(req *sip.Request) string {
	if f := req.From(); f != nil {
		t, _ := f.Params.Get("tag")
		return t
	}
	return ""
}

// pendingOutgoingLocked finds an outgoing call from local to caller that is still being set
// up: the peer's INVITE is then glare (ua.mu held).
func (ua *UA) pendingOutgoingLocked(caller, local AoR) *Call {
	for _, c := range ua.calls {
		c.mu.Lock()
		match := c.info.Direction == Outgoing && c.info.State < StateAnswered && !c.ending && !c.info.Glare &&
			c.info.Remote == caller.String() && c.info.Local == local.String()
		c.mu.Unlock()
		if match {
			return c
		}
	}
	return nil
}

// adoptGlare merges the peer's INVITE into our own outgoing call to it: the peer's INVITE
// wins (its NodeID is lower), our own INVITEs are cancelled, and the peer's is answered at
// once (this side's user asked for this very call).
func (ua *UA) adoptGlare(c *Call, req *sip.Request, tx sip.ServerTransaction, dlgUA *sipgo.DialogUA, peer, from mesh.NodeID) {
	dlg, err := dlgUA.ReadInvite(req, tx)
	if err != nil {
		ua.refuse(ReasonMalformed, err)
		ua.reply(req, tx, sip.StatusBadRequest, "")
		return
	}
	newID := callIDOf(req)
	c.mu.Lock()
	oldID := c.info.ID
	c.info.ID, c.info.Glare, c.info.Peer = newID, true, peer
	c.uas, c.next = dlg, from
	cancelSetup := c.cancelSetup
	close(c.adopted)
	c.mu.Unlock()
	ua.mu.Lock()
	if ua.calls[oldID] == c {
		delete(ua.calls, oldID)
	}
	ua.calls[newID] = c
	ua.mu.Unlock()
	cancelSetup()
	ua.log.Info("sip: glare: merged the peer's call into ours", slog.String("call", newID), slog.String("was", oldID))
	ua.answer(c, dlg, req.Body())
}

// handleAck confirms the dialog of an answered incoming call.
func (ua *UA) handleAck(req *sip.Request, tx sip.ServerTransaction) {
	c := ua.callFor(req)
	if c == nil || c.uasDialog() == nil {
		// Also the normal fate of the ACK to a non-2xx final response that outlived its
		// transaction: not a refusal.
		ua.log.Debug("sip: ACK for no dialog", slog.String("call", callIDOf(req)))
		return
	}
	if err := c.uasDialog().ReadAck(req, tx); err != nil {
		ua.refuse(ReasonUnknownDialog, err, slog.String("call", callIDOf(req)))
	}
}

// handleBye ends a call the peer hangs up; a BYE for no dialog gets 481.
func (ua *UA) handleBye(req *sip.Request, tx sip.ServerTransaction) {
	c := ua.callFor(req)
	var err error
	switch {
	case c == nil:
		err = errors.New("BYE for no call")
	default:
		c.mu.Lock()
		uac, uas := c.uac, c.uas
		c.mu.Unlock()
		switch {
		case uas != nil && dialogMatchesUAS(req, uas):
			err = uas.ReadBye(req, tx)
		case uac != nil && dialogMatchesUAC(req, uac):
			err = uac.ReadBye(req, tx)
		default:
			err = errors.New("BYE's tags match no dialog of the call")
		}
	}
	if err != nil {
		ua.refuse(ReasonUnknownDialog, err, slog.String("call", callIDOf(req)))
		ua.reply(req, tx, sip.StatusCallTransactionDoesNotExists, "")
		return
	}
	c.end(sip.StatusOK, "hung up", "remote")
}

func dialogMatchesUAS(req *sip.Request, d *sipgo.DialogServerSession) bool {
	id, err := sip.DialogIDFromRequestUAS(req)
	return err == nil && id == d.ID
}

func dialogMatchesUAC(req *sip.Request, d *sipgo.DialogClientSession) bool {
	id, err := sip.DialogIDFromRequestUAC(req)
	return err == nil && id == d.ID
}

func (ua *UA) callFor(req *sip.Request) *Call {
	ua.mu.Lock()
	defer ua.mu.Unlock()
	return ua.calls[callIDOf(req)]
}

func (c *Call) uasDialog() *sipgo.DialogServerSession {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.uas
}
