package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"golang.org/x/sync/singleflight"

	"meshcomm/mesh"
)

// UA is one node's SIP user agent, registrar and proxy hop over the overlay's streams.
type UA struct {
	cfg     Config
	lim     Limits
	pol     Policy
	log     *slog.Logger
	now     func() time.Time
	local   mesh.NodeID
	aors    []AoR
	limiter *peerLimiter

	sua     *sipgo.UserAgent
	srv     *sipgo.Server
	cli     *sipgo.Client
	dlgUA   *sipgo.DialogUA
	dialed  *dialedListener
	accept  *acceptListener
	dials   singleflight.Group
	ctx     context.Context // cancelled by Close
	cancel  context.CancelFunc
	serving sync.WaitGroup

	stats counters

	mu       sync.Mutex
	closed   bool
	book     map[mesh.NodeID]string // last QUIC address seen per node
	calls    map[string]*Call       // by Call-ID
	seen     *seenSet               // message ids already delivered
	regs     map[*Registration]struct{}
	conns    map[*sipConn]struct{} // open streams
	bgWaiter sync.WaitGroup        // calls' and registrations' goroutines
}

var errNoDirectDial = errors.New("sip: sipgo may not dial: overlay streams are opened by the user agent")

// New starts a user agent serving cfg.Listener.
func New(cfg Config) (*UA, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	ua := &UA{
		cfg:   cfg,
		lim:   cfg.Limits.withDefaults(),
		pol:   cfg.Policy.withDefaults(),
		log:   cfg.Logger,
		now:   cfg.Now,
		local: cfg.LocalID,
		book:  map[mesh.NodeID]string{},
		calls: map[string]*Call{},
		seen:  newSeenSet(seenCapacity),
		regs:  map[*Registration]struct{}{},
		conns: map[*sipConn]struct{}{},
	}
	if ua.log == nil {
		ua.log = slog.Default()
	}
	if ua.now == nil {
		ua.now = time.Now
	}
	for _, a := range cfg.AoRs {
		aor, _ := ParseAoR(a)
		ua.aors = append(ua.aors, aor)
	}
	ua.limiter = newPeerLimiter(ua.lim.RequestsPerSecond, ua.lim.Burst, ua.now)
	if err := ua.startSIP(); err != nil {
		return nil, err
	}
	return ua, nil
}

// startSIP builds sipgo's user agent, server and client and serves both listeners.
func (ua *UA) startSIP() error {
	// sipgo dials TCP by itself when it has no connection; every overlay stream is opened by
	// ensureStream instead, so a dial reaching the socket layer is refused before it connects.
	tlsTransport := &sip.TransportTLS{TransportTCP: &sip.TransportTCP{
		DialerCreate: func(laddr net.Addr) net.Dialer {
			return net.Dialer{Control: func(string, string, syscall.RawConn) error { return errNoDirectDial }}
		},
	}}
	// Every host is an overlay IP: no name is ever resolved, and a look-up fails at once.
	noDNS := &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("sip: no DNS in the mesh")
	}}
	log := ua.log.With(slog.String("lib", "sipgo"))
	sua, err := sipgo.NewUA(
		sipgo.WithUserAgent("meshcomm"),
		sipgo.WithUserAgentHostname(overlayHost(ua.local)),
		sipgo.WithUserAgentDNSResolver(noDNS),
		sipgo.WithUserAgentTransportLayerOptions(
			sip.WithTransportLayerLogger(log),
			sip.WithTransportLayerTransports(sip.TransportsConfig{TLS: tlsTransport}),
		),
		sipgo.WithUserAgentTransactionLayerOptions(
			sip.WithTransactionLayerLogger(log),
			sip.WithTransactionLayerTerminateOnConnClose(),
			sip.WithTransactionLayerUnhandledResponseHandler(func(r *sip.Response) {
				ua.log.Debug("sip: response matching no transaction", slog.String("msg", r.Short()))
			}),
		),
	)
	if err != nil {
		return fmt.Errorf("sip: %w", err)
	}
	ua.sua = sua
	if ua.srv, err = sipgo.NewServer(sua, sipgo.WithServerLogger(log)); err != nil {
		return fmt.Errorf("sip: %w", err)
	}
	if ua.cli, err = sipgo.NewClient(sua, sipgo.WithClientHostname(overlayHost(ua.local)),
		sipgo.WithClientPort(OverlayPort), sipgo.WithClientLogger(log)); err != nil {
		return fmt.Errorf("sip: %w", err)
	}
	ua.dlgUA = &sipgo.DialogUA{Client: ua.cli, ContactHDR: ua.contactHeader(ua.aors[0])}
	ua.srv.OnNoRoute(ua.onRequest)
	for _, m := range []sip.RequestMethod{sip.INVITE, sip.ACK, sip.BYE, sip.CANCEL, sip.MESSAGE, sip.REGISTER, sip.OPTIONS} {
		ua.srv.OnRequest(m, ua.onRequest)
	}
	ua.ctx, ua.cancel = context.WithCancel(context.Background())
	ua.dialed = newDialedListener(overlayNetAddr(ua.local))
	ua.accept = &acceptListener{ua: ua, inner: ua.cfg.Listener}
	for _, l := range []net.Listener{ua.dialed, ua.accept} {
		ua.serving.Go(func() {
			if err := ua.srv.ServeTLS(l); err != nil && !errors.Is(err, net.ErrClosed) {
				ua.log.Warn("sip: listener stopped", slog.String("err", err.Error()))
			}
		})
	}
	return nil
}

// contactHeader is this node's Contact for a local address of record.
func (ua *UA) contactHeader(a AoR) sip.ContactHeader {
	return sip.ContactHeader{Address: contactURI(a.User, ua.local)}
}

// LocalID is this node's NodeID.
func (ua *UA) LocalID() mesh.NodeID { return ua.local }

// Close hangs up every call, removes this node's registrations (un-REGISTER), stops serving
// and closes every stream. It waits for the user agent's goroutines.
func (ua *UA) Close() error {
	ua.mu.Lock()
	if ua.closed {
		ua.mu.Unlock()
		return net.ErrClosed
	}
	ua.closed = true
	calls := make([]*Call, 0, len(ua.calls))
	for _, c := range ua.calls {
		calls = append(calls, c)
	}
	regs := make([]*Registration, 0, len(ua.regs))
	for r := range ua.regs {
		regs = append(regs, r)
	}
	ua.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, c := range calls {
		wg.Go(func() { c.Hangup(ctx) })
	}
	for _, r := range regs {
		wg.Go(func() { r.Unregister(ctx) })
	}
	wg.Wait()
	ua.cancel()
	ua.bgWaiter.Wait()
	ua.dialed.Close()
	ua.accept.Close()
	ua.mu.Lock()
	conns := make([]*sipConn, 0, len(ua.conns))
	for c := range ua.conns {
		conns = append(conns, c)
	}
	ua.mu.Unlock()
	for _, c := range conns { // closed here, sipgo's readers let go of them as of any stream that ends
		c.Close()
	}
	err := ua.sua.Close()
	ua.serving.Wait()
	return err
}

// closeTimeout bounds the BYEs and un-REGISTERs of Close.
const closeTimeout = 5 * time.Second

// isLocalAoR reports whether a is one of this node's addresses of record.
func (ua *UA) isLocalAoR(a AoR) bool {
	for _, l := range ua.aors {
		if l == a {
			return true
		}
	}
	return false
}

// onRequest routes every incoming request (see doc.go, "Routing").
func (ua *UA) onRequest(req *sip.Request, tx sip.ServerTransaction) {
	if req.IsAck() && !ua.ackRoutable(req) {
		// The ACK to a non-2xx final response, after its transaction ended: nothing to do.
		ua.log.Debug("sip: ACK matching nothing", slog.String("call", callIDOf(req)))
		return
	}
	from, err := nodeFromAddr(req.Source())
	if err != nil { // cannot happen: every stream has an overlay address
		ua.refuse(ReasonNoPeerIdentity, err)
		ua.reply(req, tx, 400, "")
		return
	}
	// A Route naming this node has done its work.
	if r := req.Route(); r != nil {
		if id, err := nodeFromHost(r.Address.Host); err == nil && id == ua.local {
			req.RemoveHeader("Route")
		}
	}
	if r := req.Route(); r != nil {
		next, err := nodeFromHost(r.Address.Host)
		if err != nil {
			ua.refuse(ReasonUnknownUser, err, slog.String("route", r.Address.Host))
			ua.reply(req, tx, 404, "")
			return
		}
		ua.forward(req, tx, from, next, mesh.Contact{})
		return
	}
	if id, err := nodeFromHost(req.Recipient.Host); err == nil {
		if id != ua.local { // addressed to another node's contact: an in-dialog proxy hop
			ua.forward(req, tx, from, id, mesh.Contact{})
			return
		}
		ua.serveLocal(req, tx, from)
		return
	}
	aor, err := aorOfURI(req.Recipient)
	if err != nil {
		ua.refuse(ReasonUnknownUser, err, slog.String("uri", req.Recipient.String()))
		ua.reply(req, tx, 404, "")
		return
	}
	if ua.isLocalAoR(aor) {
		ua.serveLocal(req, tx, from)
		return
	}
	if req.IsAck() { // an ACK to a non-2xx response that came along a Route: hop by hop, done
		return
	}
	if !ua.cfg.Proxy || !(req.IsInvite() || req.Method == sip.MESSAGE || req.Method == sip.OPTIONS) {
		ua.refuse(ReasonUnknownUser, fmt.Errorf("%s is not registered here", aor), slog.String("method", string(req.Method)))
		ua.reply(req, tx, 404, "")
		return
	}
	ua.proxyToAoR(req, tx, from, aor)
}

// ackRoutable reports whether an ACK goes somewhere: along a Route, to a node's contact, or
// to a local address.
func (ua *UA) ackRoutable(req *sip.Request) bool {
	if req.Route() != nil {
		return true
	}
	if _, err := nodeFromHost(req.Recipient.Host); err == nil {
		return true
	}
	a, err := aorOfURI(req.Recipient)
	return err == nil && ua.isLocalAoR(a)
}

// serveLocal handles a request addressed to this node.
func (ua *UA) serveLocal(req *sip.Request, tx sip.ServerTransaction, from mesh.NodeID) {
	switch req.Method {
	case sip.INVITE:
		ua.handleInvite(req, tx, from)
	case sip.ACK:
		ua.handleAck(req, tx)
	case sip.BYE:
		ua.handleBye(req, tx)
	case sip.CANCEL: // a CANCEL matching a pending INVITE never gets here: sipgo answers it
		ua.refuse(ReasonUnknownDialog, errors.New("CANCEL for no pending INVITE"))
		ua.reply(req, tx, 481, "")
	case sip.MESSAGE:
		ua.handleMessage(req, tx, from)
	case sip.REGISTER:
		ua.handleRegister(req, tx, from)
	case sip.OPTIONS:
		res := sip.NewResponseFromRequest(req, 200, "OK", nil)
		res.AppendHeader(sip.NewHeader("Allow", "INVITE, ACK, BYE, CANCEL, MESSAGE, REGISTER, OPTIONS"))
		ua.respond(tx, res)
	default:
		ua.reply(req, tx, 405, "Method Not Allowed")
	}
}

// reply answers a request with a status and no body.
func (ua *UA) reply(req *sip.Request, tx sip.ServerTransaction, status int, reason string) {
	if req.IsAck() {
		return
	}
	if reason == "" {
		reason = statusText(status)
	}
	ua.respond(tx, sip.NewResponseFromRequest(req, status, reason, nil))
}

func (ua *UA) respond(tx sip.ServerTransaction, res *sip.Response) {
	if err := tx.Respond(res); err != nil {
		ua.log.Debug("sip: response not sent", slog.String("status", res.StartLine()), slog.String("err", err.Error()))
	}
}

// localAoRFor picks the local address of record a request is for: its To, if local.
func (ua *UA) localAoRFor(req *sip.Request) (AoR, bool) {
	if to := req.To(); to != nil {
		if a, err := aorOfURI(to.Address); err == nil && ua.isLocalAoR(a) {
			return a, true
		}
	}
	return AoR{}, false
}

// goBackground runs f unless the user agent is closed, tracked by Close.
func (ua *UA) goBackground(f func()) bool {
	ua.mu.Lock()
	defer ua.mu.Unlock()
	if ua.closed {
		return false
	}
	ua.bgWaiter.Go(f)
	return true
}
