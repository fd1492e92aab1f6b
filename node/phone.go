package node

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"meshcomm/identity"
	"meshcomm/mailbox"
	"meshcomm/mesh"
	"meshcomm/sip"
	"meshcomm/transport"
)

// openPhone builds the SIP user agent over the transport's SIP streams, with the media engine
// and the mailbox.
func (n *Node) openPhone() error {
	ln, err := n.ep.Listener(transport.KindSIP)
	if err != nil {
		return err
	}
	n.audio.setAddress(n.self.Addr)
	n.roster = newRoster(n)
	if n.post, err = newPostOffice(n); err != nil {
		return err
	}
	policy := sip.Policy{Mode: sip.AnswerManual, MaxCalls: 1}
	if n.cfg.AutoAnswer {
		policy.Mode = sip.AnswerAuto
		policy.AutoAnswerAfter = n.cfg.AutoAnswerAfter
	}
	n.ua, err = sip.New(sip.Config{
		AoRs:       []string{n.id.AoR()},
		LocalID:    n.self.ID,
		Dialer:     n.ep,
		Listener:   ln,
		StreamKind: transport.KindSIP,
		Locator:    locator{n},
		Media:      n.audio,
		Policy:     policy,
		OnIncoming: n.onIncomingCall,
		OnMessage:  n.post.receive,
		Proxy:      true,
		Signer:     n.id.Signer(),
		Now:        n.now,
		Logger:     n.log.With("part", "sip"),
	})
	return err
}

// startPhone starts what needs the running loop (the mailbox's overlay checks).
func (n *Node) startPhone() {
	n.post.start(n.ctx)
	go n.roster.poll(n.ctx)
}

func (n *Node) closePhone() {
	if n.audio != nil {
		n.audio.close()
	}
	if n.ua != nil {
		n.ua.Close()
	}
}

func (n *Node) onIncomingCall(c *sip.Call) {
	info := c.Info()
	n.bus.Publish(Event{Time: n.now(), Type: EventCall, Detail: fmt.Sprintf("incoming call from %s (%s)", info.Remote, info.ID)})
	go func() {
		<-c.Done()
		info := c.Info()
		n.bus.Publish(Event{Time: n.now(), Type: EventCall, Detail: fmt.Sprintf("call %s from %s ended: %d %s", info.ID, info.Remote, info.Status, info.Reason)})
		n.audio.finished(info.ID)
	}()
}

// locator finds an AoR's registrations in the overlay for the user agent.
type locator struct{ n *Node }

// Locate finds aor's bindings. It asks in order of cost: the registrations this node holds
// (all of them in flood mode), then the peers it has a link to (a peer's certificate, verified
// when the link came up, names its user: a callee in radio range is reached without asking
// the overlay, where in DHT mode a lookup is a round trip or two), then the overlay. A user registered on two laptops,
// one of them in range and the other neither in range nor held here, is rung on the one in
// range only.
func (l locator) Locate(ctx context.Context, aor string) ([]sip.Binding, error) {
	res := mesh.ResourceIDFor(aor)
	held, err := l.n.awaitLookup(ctx, func(now time.Time, reply chan mesh.LookupDone) {
		reply <- l.n.heldAnswer(now, res, mesh.KindRegistration)
	})
	if err != nil {
		return nil, err
	}
	if out := l.bindings(aor, lookupResult(aor, held, 0, l.n.now())); len(out) > 0 {
		return out, nil
	}
	if out := l.linked(aor); len(out) > 0 {
		return out, nil
	}
	found, err := l.n.Lookup(ctx, aor)
	if err != nil {
		return nil, err
	}
	if out := l.bindings(aor, found); len(out) > 0 {
		return out, nil
	}
	return nil, sip.ErrNotFound
}

// linked returns a binding for every linked peer whose certificate carries aor.
func (l locator) linked(aor string) []sip.Binding {
	var out []sip.Binding
	for _, p := range l.n.ep.Peers() {
		if p.Certificate == nil {
			continue
		}
		if a, err := CanonicalTarget(identity.PeerOf(p.Certificate).AoR, l.n.id.Team()); err == nil && a == aor {
			out = append(out, sip.Binding{AoR: aor, NodeID: p.Peer.ID, Contact: p.Peer})
		}
	}
	return out
}

// bindings turns a lookup's live registrations into the user agent's bindings.
func (l locator) bindings(aor string, res LookupResult) []sip.Binding {
	if !res.Found {
		return nil
	}
	var out []sip.Binding
	for _, r := range res.Registrations {
		id, err := parseNodeID(r.NodeID)
		if err != nil {
			continue
		}
		c := mesh.Contact{ID: id, Addr: r.Addr}
		if p, ok := l.n.ep.Peer(id); ok {
			c.Addr = p.Peer.Addr // linked: the address that works
		}
		out = append(out, sip.Binding{AoR: aor, NodeID: id, Contact: c})
	}
	return out
}

// lookupKind looks up the records of one kind at a resource and waits for the answer.
func (n *Node) lookupKind(ctx context.Context, res mesh.ResourceID, kind mesh.Kind) (mesh.LookupDone, error) {
	return n.awaitLookup(ctx, func(now time.Time, reply chan mesh.LookupDone) {
		n.lookups[n.core.Lookup(now, res, kind)] = reply
	})
}

// awaitLookup runs start on the loop with a one-slot reply channel (start answers on it, or
// hands it to the core's lookup) and waits for the answer.
func (n *Node) awaitLookup(ctx context.Context, start func(now time.Time, reply chan mesh.LookupDone)) (mesh.LookupDone, error) {
	reply := make(chan mesh.LookupDone, 1)
	if err := n.onLoop(ctx, func(now time.Time) { start(now, reply) }); err != nil {
		return mesh.LookupDone{}, err
	}
	select {
	case done := <-reply:
		return done, nil
	case <-ctx.Done():
		return mesh.LookupDone{}, ctx.Err()
	case <-n.loopDone:
		return mesh.LookupDone{}, ErrClosed
	}
}

// pollLookup is a periodic background lookup (the roster's presence, this user's stored
// messages). In flood mode every record reaches every node (full replication, and changes are
// seen as they arrive), so it is answered from this node's own copy at no cost to the radio;
// asking the neighbours every few seconds for records that do not exist was most of an idle
// mesh's traffic. In DHT mode it is an ordinary lookup.
func (n *Node) pollLookup(ctx context.Context, res mesh.ResourceID, kind mesh.Kind) (mesh.LookupDone, error) {
	return n.awaitLookup(ctx, func(now time.Time, reply chan mesh.LookupDone) {
		if n.core.Mode() != mesh.ModeFlood {
			n.lookups[n.core.Lookup(now, res, kind)] = reply
			return
		}
		reply <- n.heldAnswer(now, res, kind)
	})
}

// heldAnswer answers a lookup from the records this node holds, without asking anyone. It runs
// on the loop.
func (n *Node) heldAnswer(now time.Time, res mesh.ResourceID, kind mesh.Kind) mesh.LookupDone {
	var out []mesh.Record
	for _, r := range n.core.Records() {
		if r.Resource == res && r.Kind == kind && !r.Deleted && r.Expiry > now.UnixMilli() {
			out = append(out, r)
		}
	}
	return mesh.LookupDone{Resource: res, Kind: kind, Records: out, Found: len(out) > 0}
}

// offer puts records signed elsewhere (stored messages, receipts, deletions) into the overlay.
func (n *Node) offer(ctx context.Context, recs []mesh.Record) error {
	return n.onLoop(ctx, func(now time.Time) { n.core.Offer(now, recs) })
}

// recipientKey finds the certificate aor's node published and returns the key voicemail for
// aor is sealed to. The certificate record passed the overlay's checks (signed by the owner
// of aor); its key must also be the one the signing node's identifier derives from.
func (n *Node) recipientKey(ctx context.Context, aor string) ([]byte, error) {
	lctx, cancel := context.WithTimeout(ctx, DefaultLookupTimeout)
	defer cancel()
	done, err := n.lookupKind(lctx, mesh.ResourceIDFor(aor), mesh.KindCertificate)
	if err != nil {
		return nil, err
	}
	for _, r := range done.Records {
		if r.Deleted || r.Kind != mesh.KindCertificate {
			continue
		}
		cert, err := x509.ParseCertificate(r.Value)
		if err != nil {
			continue
		}
		id, err := transport.Ed25519PeerID(cert)
		if err != nil || string(id[:]) != string(r.Key) {
			continue
		}
		key, err := mailbox.RecipientKey(cert, aor)
		if err == nil {
			return key, nil
		}
	}
	return nil, fmt.Errorf("no certificate of %s found in the mesh", aor)
}

// CallParams are the parameters of "call".
type CallParams struct {
	Target     string `json:"target"`
	Play       string `json:"play,omitempty"`        // WAV file to send
	Record     string `json:"record,omitempty"`      // WAV file to write what arrives into
	DurationMs int    `json:"duration_ms,omitempty"` // hang up this long after the answer (0: when Play ends, else 10 s)
	Via        string `json:"via,omitempty"`         // a peer's node id, or "overlay": send the INVITE through it (overlay routing)
	// Voicemail, when the call is not answered, leaves Play as a voice message instead.
	Voicemail bool `json:"voicemail,omitempty"`
}

// CallResult is the result of "call" (the fields `meshcomm call --json` prints).
type CallResult struct {
	Result          string  `json:"result"` // answered, busy, not-found, unreachable, no-answer, cancelled, failed
	SIPStatus       int     `json:"sip_status"`
	SetupMs         float64 `json:"setup_ms"`
	LookupMs        float64 `json:"lookup_ms"` // of setup_ms, finding the callee in the overlay
	Codec           string  `json:"codec"`
	PacketsSent     uint64  `json:"packets_sent"`
	PacketsReceived uint64  `json:"packets_received"`
	PacketsLost     int64   `json:"packets_lost"`
	JitterMs        float64 `json:"jitter_ms"`
	DurationMs      float64 `json:"duration_ms"`
	CallID          string  `json:"call_id"`
	Peer            string  `json:"peer,omitempty"`
	EndedBy         string  `json:"ended_by,omitempty"`
	Voicemail       string  `json:"voicemail,omitempty"` // the voice message's state when one was left
	Error           string  `json:"error,omitempty"`
}

// ErrNoPhone: the node was started without its phone (never, outside tests of other parts).
var ErrNoPhone = errors.New("this node has no SIP user agent")

// Call places a call and stays in it until the duration ends, the far end hangs up, or ctx ends.
func (n *Node) Call(ctx context.Context, p CallParams) (CallResult, error) {
	if n.ua == nil {
		return CallResult{}, ErrNoPhone
	}
	aor, err := CanonicalTarget(p.Target, n.id.Team())
	if err != nil {
		return CallResult{}, err
	}
	callID := newCallID()
	plan := audioPlan{play: p.Play, record: p.Record}
	opts := []sip.Option{sip.CallID(callID)}
	if p.Via != "" {
		c, err := n.viaContact(p.Via, aor)
		if err != nil {
			return CallResult{}, err
		}
		opts = append(opts, sip.Via(c))
		plan.relay = c.ID
	}
	n.audio.plan(callID, plan)
	c, err := n.ua.Call(ctx, aor, opts...)
	if err != nil {
		n.audio.finished(callID)
		return CallResult{Result: "failed", CallID: callID, Error: err.Error()}, nil
	}
	st, _ := c.Wait(ctx, sip.StateAnswered)
	if st == sip.StateAnswered {
		hold := time.Duration(p.DurationMs) * time.Millisecond
		if hold <= 0 && p.Play == "" {
			hold = 10 * time.Second
		}
		var timer <-chan time.Time
		var played <-chan struct{}
		if hold > 0 {
			t := time.NewTimer(hold)
			defer t.Stop()
			timer = t.C
		} else {
			played = n.audio.sourceDone(callID)
		}
		select {
		case <-timer:
		case <-played:
		case <-c.Done():
		case <-ctx.Done():
		}
		hctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = c.Hangup(hctx)
		cancel()
	}
	<-c.Done()
	info := c.Info()
	ms, _ := n.audio.finished(callID)
	out := CallResult{Result: callResult(info), SIPStatus: info.Status, SetupMs: float64(info.SetupTime.Microseconds()) / 1000,
		Codec: ms.Codec, PacketsSent: ms.PacketsSent, PacketsReceived: ms.PacketsReceived, PacketsLost: ms.Lost,
		JitterMs: ms.JitterMillis, CallID: info.ID, EndedBy: info.EndedBy}
	if !info.Located.IsZero() {
		out.LookupMs = float64(info.Located.Sub(info.Started).Microseconds()) / 1000
	}
	if !info.Answered.IsZero() && !info.Ended.IsZero() {
		out.DurationMs = float64(info.Ended.Sub(info.Answered).Microseconds()) / 1000
	}
	if info.Peer != (mesh.NodeID{}) {
		out.Peer = info.Peer.String()
	}
	if p.Voicemail && out.Result != "answered" && p.Play != "" {
		out.Voicemail = n.leaveVoicemail(ctx, aor, p.Play)
	}
	return out, nil
}

// ViaOverlay, as CallParams.Via, sends the INVITE to the linked peer closest to the callee's
// resource in the overlay's ID space (the peer responsible for it, in DHT mode), which looks
// the callee up and forwards the INVITE: the seed's overlay-routed call.
const ViaOverlay = "overlay"

// viaContact is the proxy hop named by a call's Via: a node id, or ViaOverlay.
func (n *Node) viaContact(via, aor string) (mesh.Contact, error) {
	if via != ViaOverlay {
		id, err := parseNodeID(via)
		if err != nil {
			return mesh.Contact{}, err
		}
		c := mesh.Contact{ID: id}
		if pi, ok := n.ep.Peer(id); ok {
			c.Addr = pi.Peer.Addr
		}
		return c, nil
	}
	res := mesh.ResourceIDFor(aor)
	var best mesh.Contact
	var bestDist mesh.Distance
	for _, pi := range n.ep.Peers() {
		d := mesh.XOR(pi.Peer.ID, res)
		if best.ID.IsZero() || d.Less(bestDist) {
			best, bestDist = mesh.Contact{ID: pi.Peer.ID, Addr: pi.Peer.Addr}, d
		}
	}
	if best.ID.IsZero() {
		return mesh.Contact{}, errors.New("no linked peer to route the call through")
	}
	return best, nil
}

func callResult(info sip.CallInfo) string {
	switch {
	case info.Status >= 200 && info.Status < 300:
		return "answered"
	case info.Status == 486 || info.Status == 600:
		return "busy"
	case info.Status == 404 || info.Status == 604:
		return "not-found"
	case info.Status == 480 || info.Status == 408:
		if !info.Started.IsZero() && info.Reason != "" && info.EndedBy == "" {
			return "unreachable"
		}
		return "no-answer"
	case info.Status == 487:
		return "cancelled"
	}
	return "failed"
}

// leaveVoicemail sends a WAV file as a voice message sealed to aor's certificate.
func (n *Node) leaveVoicemail(ctx context.Context, aor, wav string) string {
	audio, err := readFileBounded(wav, mailbox.MaxVoicemailAudioBytes)
	if err != nil {
		return "failed: " + err.Error()
	}
	vctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	e, err := n.post.sendVoicemail(vctx, aor, mailbox.Voicemail{MediaType: "audio/wav", Audio: audio})
	if err != nil {
		return "failed: " + err.Error()
	}
	return string(e.State)
}
