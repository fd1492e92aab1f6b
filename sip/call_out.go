package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/google/uuid"

	"meshcomm/mesh"
)

// Option changes how a call or message is sent.
type Option func(*sendOptions)

type sendOptions struct {
	via         *mesh.Contact
	from        string
	messageID   string
	callID      string
	contentType string
	body        []byte
}

// Via sends the request through a given peer (the responsible peer of the overlay), which
// looks the address up and forwards it, instead of looking it up here and going direct.
func Via(peer mesh.Contact) Option { return func(o *sendOptions) { o.via = &peer } }

// From picks which local address of record the request comes from (default the first).
func From(aor string) Option { return func(o *sendOptions) { o.from = aor } }

// MessageID sets a message's id (default a fresh UUID); a message sent again with the same id
// is acknowledged by the recipient but delivered to its user only once.
func MessageID(id string) Option { return func(o *sendOptions) { o.messageID = id } }

// CallID sets an outgoing call's Call-ID (default a fresh UUID), so that the caller can tie
// the call to its media before it starts.
func CallID(id string) Option { return func(o *sendOptions) { o.callID = id } }

// WithBody sends a MESSAGE with a body of another type instead of the text (the node's
// store-and-forward hands records over this way). The recipient must accept the type
// (Config.MessageTypes).
func WithBody(contentType string, body []byte) Option {
	return func(o *sendOptions) { o.contentType, o.body = contentType, body }
}

func (ua *UA) options(opts []Option) (sendOptions, AoR, error) {
	var o sendOptions
	for _, f := range opts {
		f(&o)
	}
	for _, id := range []string{o.callID, o.messageID} {
		if id != "" && !validToken(id) {
			return o, AoR{}, fmt.Errorf("sip: %q cannot be a Call-ID (1 to 128 letters, digits and -._!%%*+~@)", id)
		}
	}
	from := ua.aors[0]
	if o.from != "" {
		a, err := ParseAoR(o.from)
		if err != nil || !ua.isLocalAoR(a) {
			return o, from, fmt.Errorf("sip: %q is not a local address of record", o.from)
		}
		from = a
	}
	return o, from, nil
}

// glareWait is how long a call refused with 491 (the peer is calling us at the same moment)
// waits for the peer's INVITE to arrive and be merged with it.
const glareWait = 5 * time.Second

// Call places a call to an address of record and returns at once; the call proceeds in the
// background (watch it with Wait, Done and Info). Every binding of the address rings at once
// (forking); the first to answer wins and the others are cancelled. ctx bounds the setup:
// cancelling it before the answer cancels the call.
func (ua *UA) Call(ctx context.Context, target string, opts ...Option) (*Call, error) {
	aor, err := ParseAoR(target)
	if err != nil {
		return nil, err
	}
	o, from, err := ua.options(opts)
	if err != nil {
		return nil, err
	}
	id := o.callID
	if id == "" {
		id = uuid.NewString()
	}
	c := newCall(ua, Outgoing, id, from, aor)
	setup, cancel := context.WithCancel(ctx)
	c.cancelSetup = cancel
	if ua.cfg.Media != nil {
		m, err := ua.cfg.Media.NewSession(c.info.ID)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("sip: media: %w", err)
		}
		c.media = m
	}
	ua.mu.Lock()
	ua.calls[c.info.ID] = c
	ua.mu.Unlock()
	if !ua.goBackground(func() { defer cancel(); ua.runOutgoing(setup, c, o, aor, from) }) {
		cancel()
		c.end(503, "user agent closed", "")
		return nil, net.ErrClosed
	}
	ua.stats.callsPlaced.Add(1)
	return c, nil
}

// validToken reports whether s can be a Call-ID chosen by the caller.
func validToken(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-._!%*+~@", c)) {
			return false
		}
	}
	return true
}

// fork is one branch of an outgoing call: an INVITE to one binding.
type fork struct {
	node    mesh.NodeID // the binding's node (or the proxy, with Via)
	contact mesh.Contact
	proxied bool
	ctx     context.Context
	cancel  context.CancelFunc
	dlg     *sipgo.DialogClientSession
}

type forkEventKind int

const (
	forkRinging forkEventKind = iota
	forkAnswered
	forkFailed
)

type forkEvent struct {
	f      *fork
	kind   forkEventKind
	status int
	err    error
}

// runOutgoing looks the target up, forks, and settles the call.
func (ua *UA) runOutgoing(ctx context.Context, c *Call, o sendOptions, aor, from AoR) {
	forks, status, err := ua.forksFor(ctx, aor, o)
	c.mu.Lock()
	c.info.Located = ua.now()
	c.mu.Unlock()
	if len(forks) == 0 {
		ua.log.Info("sip: call not placed", slog.String("to", aor.String()), slog.String("err", fmt.Sprint(err)))
		c.end(status, errorText(err), "")
		return
	}
	var sdp []byte
	if c.media != nil {
		sdp = c.media.LocalSDP()
	}
	tag := sip.GenerateTagN(16)
	events := make(chan forkEvent, 4*len(forks))
	var wg sync.WaitGroup
	for _, f := range forks {
		f.ctx, f.cancel = context.WithCancel(ctx)
		wg.Go(func() { ua.runFork(c, f, aor, from, tag, sdp, events) })
	}
	defer wg.Wait()
	var winner *fork
	best, glare := 0, false
	adopted := c.adopted
	for pending := len(forks); pending > 0; {
		var ev forkEvent
		select {
		case ev = <-events:
		case <-adopted:
			for _, f := range forks {
				f.cancel()
			}
			adopted = nil // from now on, wait for the forks' own ends
			continue
		}
		switch ev.kind {
		case forkRinging:
			if winner == nil {
				c.advance(StateRinging, ev.status)
			}
		case forkAnswered:
			pending--
			if winner != nil || ctx.Err() != nil || c.isAdopted() {
				go ua.dropLateAnswer(ev.f)
				continue
			}
			winner = ev.f
			for _, f := range forks {
				if f != winner {
					f.cancel()
				}
			}
			ua.confirm(c, winner)
		case forkFailed:
			pending--
			if ev.status == sip.StatusRequestPending {
				glare = true
			}
			best = betterStatus(best, ev.status)
			ua.log.Info("sip: call branch failed", slog.String("call", c.ID()), slog.String("node", ev.f.node.Short()),
				slog.Int("status", ev.status), slog.String("err", errorText(ev.err)))
		}
	}
	switch {
	case winner != nil || c.isAdopted():
	case ctx.Err() != nil:
		c.end(sip.StatusRequestTerminated, "cancelled", "local")
	case glare:
		// The peer is calling us at this very moment and its INVITE wins: it will arrive here
		// and be merged into this call (see handleInvite).
		t := time.NewTimer(glareWait)
		defer t.Stop()
		select {
		case <-c.adopted:
		case <-t.C:
			c.end(sip.StatusRequestPending, "glare: the peer's call never arrived", "")
		case <-ctx.Done():
			c.end(sip.StatusRequestTerminated, "cancelled", "local")
		}
	default:
		if best == 0 {
			best = sip.StatusTemporarilyUnavailable
		}
		c.end(best, statusText(best), "remote")
	}
}

// forksFor works out the branches of a call: the proxy given with Via, or every binding the
// Locator knows except this node. With none it returns the status to end the call with.
func (ua *UA) forksFor(ctx context.Context, aor AoR, o sendOptions) ([]*fork, int, error) {
	if o.via != nil {
		return []*fork{{node: o.via.ID, contact: *o.via, proxied: true}}, 0, nil
	}
	bindings, err := ua.cfg.Locator.Locate(ctx, aor.String())
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, sip.StatusNotFound, err
	case err != nil:
		return nil, sip.StatusTemporarilyUnavailable, err
	}
	var forks []*fork
	seen := map[mesh.NodeID]bool{}
	for _, b := range bindings {
		ua.learn(b.Contact)
		if b.NodeID == ua.local || b.NodeID.IsZero() || seen[b.NodeID] {
			continue
		}
		seen[b.NodeID] = true
		forks = append(forks, &fork{node: b.NodeID, contact: b.Contact})
	}
	if len(forks) == 0 {
		return nil, sip.StatusNotFound, fmt.Errorf("%w: no binding on another node", ErrNotFound)
	}
	return forks, 0, nil
}

// runFork sends one INVITE and reports what becomes of it.
func (ua *UA) runFork(c *Call, f *fork, aor, from AoR, tag string, sdp []byte, events chan<- forkEvent) {
	fail := func(status int, err error) { events <- forkEvent{f: f, kind: forkFailed, status: status, err: err} }
	dlgUA := &sipgo.DialogUA{Client: ua.cli, ContactHDR: ua.contactHeader(from)}
	var dlg *sipgo.DialogClientSession
	var err error
	for attempt := 0; ; attempt++ {
		err = ua.sendOver(f.ctx, f.node, f.contact, func() error {
			var err error
			dlg, err = dlgUA.WriteInvite(f.ctx, ua.newInvite(c.ID(), f, aor, from, tag, sdp))
			return err
		})
		if err != nil {
			fail(sip.StatusTemporarilyUnavailable, err)
			return
		}
		f.dlg = dlg
		err = dlg.WaitAnswer(f.ctx, sipgo.AnswerOptions{OnResponse: func(r *sip.Response) error {
			if r.StatusCode == sip.StatusRinging || r.StatusCode == sip.StatusSessionInProgress {
				events <- forkEvent{f: f, kind: forkRinging, status: r.StatusCode}
			}
			return nil
		}})
		// The stream died under the INVITE (a duplicate QUIC connection was retired): send it
		// once more on a new stream; the callee replaces the unanswered call (handleInvite).
		lost := errors.Is(err, sip.ErrTransactionTransport) && f.ctx.Err() == nil &&
			(dlg.InviteResponse == nil || dlg.InviteResponse.IsProvisional())
		if !lost || attempt > 0 {
			break
		}
		ua.dropDeadStream(f.node)
		ua.log.Info("sip: INVITE's stream lost, sending it again", slog.String("call", c.ID()), slog.String("node", f.node.Short()))
	}
	var rejected *sipgo.ErrDialogResponse
	switch {
	case err == nil:
		events <- forkEvent{f: f, kind: forkAnswered, status: sip.StatusOK}
	case errors.As(err, &rejected):
		fail(rejected.Res.StatusCode, err)
	case f.ctx.Err() != nil:
		if r := dlg.InviteResponse; r != nil && r.IsSuccess() { // answered as we cancelled
			ua.dropLateAnswer(f)
		}
		fail(sip.StatusRequestTerminated, err)
	default:
		fail(sip.StatusTemporarilyUnavailable, err)
	}
}

// newInvite builds one branch's INVITE. Direct: the Request-URI is the binding's contact on
// its node. Through a proxy: the Request-URI is the address of record and a Route names the
// proxy.
func (ua *UA) newInvite(callID string, f *fork, aor, from AoR, tag string, sdp []byte) *sip.Request {
	ruri := contactURI(aor.User, f.node)
	if f.proxied {
		ruri = aorURI(aor)
	}
	req := sip.NewRequest(sip.INVITE, ruri)
	fromHdr := &sip.FromHeader{Address: aorURI(from), Params: sip.NewParams()}
	fromHdr.Params.Add("tag", tag)
	req.AppendHeader(fromHdr)
	req.AppendHeader(&sip.ToHeader{Address: aorURI(aor), Params: sip.NewParams()})
	cid := sip.CallIDHeader(callID)
	req.AppendHeader(&cid)
	if f.proxied {
		req.AppendHeader(&sip.RouteHeader{Address: routeURI(f.node)})
	}
	contact := ua.contactHeader(from)
	req.AppendHeader(&contact)
	if len(sdp) > 0 {
		ct := sip.ContentTypeHeader("application/sdp")
		req.AppendHeader(&ct)
	}
	req.SetBody(sdp)
	req.SetTransport(overlayTransport)
	return req
}

// confirm completes the winning branch: ACK (written through sipgo's transport layer, as an
// ACK to a 2xx must be), media, answered.
func (ua *UA) confirm(c *Call, f *fork) {
	res := f.dlg.InviteResponse
	peer := f.node
	if ct := res.Contact(); ct != nil {
		if id, err := nodeFromHost(ct.Address.Host); err == nil {
			peer = id
		}
	}
	c.mu.Lock()
	c.uac, c.next = f.dlg, f.node
	c.info.Peer = peer
	m := c.media
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(ua.ctx, dialTimeout)
	defer cancel()
	if err := ua.sendOver(ctx, f.node, f.contact, func() error { return f.dlg.Ack(ctx) }); err != nil {
		ua.log.Warn("sip: ACK not sent", slog.String("call", c.ID()), slog.String("err", err.Error()))
	}
	if m != nil {
		if err := m.Start(peer, res.Body()); err != nil {
			ua.log.Warn("sip: media did not start", slog.String("call", c.ID()), slog.String("err", err.Error()))
		}
	}
	if c.advance(StateAnswered, sip.StatusOK) {
		ua.stats.callsAnswered.Add(1)
	}
}

// dropLateAnswer ends a branch that answered after another won or after the call was
// cancelled: ACK, then BYE (RFC 3261 13.2.2.4).
func (ua *UA) dropLateAnswer(f *fork) {
	ctx, cancel := context.WithTimeout(ua.ctx, dialTimeout)
	defer cancel()
	err := ua.sendOver(ctx, f.node, f.contact, func() error { return f.dlg.Ack(ctx) })
	if err == nil {
		err = ua.sendOver(ctx, f.node, f.contact, func() error { return f.dlg.Bye(ctx) })
	}
	if err != nil {
		ua.log.Info("sip: ending a late answer failed", slog.String("err", err.Error()))
	}
}

// betterStatus picks the final status to report among failed branches (RFC 3261 16.7: 6xx
// first, then the lowest class; 480 unreachable only when nothing better is known).
func betterStatus(a, b int) int {
	rank := func(s int) int {
		switch {
		case s == 0:
			return 1000
		case s >= 600:
			return 0
		case s == sip.StatusTemporarilyUnavailable || s == sip.StatusRequestTerminated:
			return 900
		default:
			return s
		}
	}
	if rank(b) < rank(a) {
		return b
	}
	return a
}

func errorText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
