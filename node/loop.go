package node

import (
	"context"
	"encoding/hex"
	"time"

	"meshcomm/discovery"
	"meshcomm/identity"
	"meshcomm/mesh"
	"meshcomm/transport"
)

// inbound is what the transport hands the loop: a frame, or a peer event when event is set.
type inbound struct {
	from    mesh.Contact
	payload []byte
	event   *transport.PeerEvent
}

// loopCall runs fn on the loop goroutine (with the core to itself); done is closed after.
type loopCall struct {
	fn   func(now time.Time)
	done chan struct{}
}

// maxWait caps the loop's sleep, so a clock step never leaves it asleep for long.
const maxWait = time.Minute

// run is the loop: the one goroutine that owns the overlay core. After every input it ticks
// the core if due, starts the dials that are due, and performs the core's Ready batch.
func (n *Node) run() {
	defer close(n.loopDone)
	timer := time.NewTimer(maxWait)
	defer timer.Stop()
	now := n.now()
	for {
		n.startDials(now)
		timer.Reset(n.untilWake(now))
		select {
		case in := <-n.inbox:
			n.onInbound(n.now(), in)
		case ev, ok := <-n.found:
			if !ok {
				n.found = nil // discovery stopped
				break
			}
			n.onDiscovery(n.now(), ev)
		case r := <-n.dialed:
			n.onDialed(n.now(), r)
		case c := <-n.calls:
			c.fn(n.now())
			close(c.done)
		case <-timer.C:
		case leave := <-n.stop:
			if leave {
				n.leave()
			}
			return
		}
		now = n.now()
		if !now.Before(n.core.NextTick()) {
			n.core.Tick(now)
			n.reportSize(now)
		}
		n.drain(now)
	}
}

// reportSize publishes the core's size estimate when it changed (the core computes it in Tick).
func (n *Node) reportSize(now time.Time) {
	st := n.core.Status()
	if st.SizeEstimate != n.lastSize {
		n.lastSize = st.SizeEstimate
		n.bus.Publish(Event{Time: now, Type: EventMeshSize, SizeEstimate: st.SizeEstimate, Mode: st.Mode.String()})
	}
}

// untilWake is how long the loop may sleep before the core or a dial needs it.
func (n *Node) untilWake(now time.Time) time.Duration {
	next := n.core.NextTick()
	if d := n.dial.nextWake(); !d.IsZero() && d.Before(next) {
		next = d
	}
	return min(max(next.Sub(now), 0), maxWait)
}

// onLoop runs fn on the loop and waits for it. It fails once the loop has stopped.
func (n *Node) onLoop(ctx context.Context, fn func(now time.Time)) error {
	c := loopCall{fn: fn, done: make(chan struct{})}
	select {
	case n.calls <- c:
	case <-n.loopDone:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	<-c.done // the loop runs every call it takes
	return nil
}

func (n *Node) onInbound(now time.Time, in inbound) {
	if in.event != nil {
		n.onPeerEvent(now, in.event)
		return
	}
	n.stat.framesIn.Add(1)
	n.stat.bytesIn.Add(uint64(len(in.payload)))
	msg, err := mesh.Decode(in.payload)
	if err != nil {
		n.badFrame(now, in.from, err)
		return
	}
	n.core.Step(now, in.from, msg)
	if _, ok := msg.(*mesh.Hello); ok && n.links.hello(in.from.ID, now) {
		n.log.Info("node: peer restarted on a live link; resetting the link", "peer", in.from.ID.Short())
		n.ep.Disconnect(in.from.ID)
	}
}

// badFrame counts, logs (the 1st, 2nd, 4th, 8th ... of each reason) and reports a frame that
// does not decode. The peer is not cut off: one bad frame may be a bug, not an attack.
func (n *Node) badFrame(now time.Time, from mesh.Contact, err error) {
	reason := mesh.WireErrorReason(err)
	if c := n.stat.badFrame(reason); c&(c-1) == 0 {
		n.log.Warn("node: refused a frame that does not decode", "peer", from.ID.Short(), "addr", from.Addr,
			"reason", reason, "count", c, "err", err)
	}
	n.bus.Publish(Event{Time: now, Type: EventBadFrame, Peer: from.ID.String(), Addr: from.Addr, Detail: reason})
}

func (n *Node) onPeerEvent(now time.Time, ev *transport.PeerEvent) {
	p := ev.Peer
	out := Event{Time: now, Peer: p.ID.String(), Addr: p.Addr}
	if ev.Certificate != nil {
		out.AoR = identity.PeerOf(ev.Certificate).AoR
	}
	if ev.Up {
		n.dial.peerUp(p.ID)
		n.links.up(p.ID)
		n.core.AddPeer(now, p)
		out.Type = EventPeerUp
		n.log.Info("node: peer up", "peer", p.ID.Short(), "aor", out.AoR, "addr", p.Addr)
	} else {
		n.dial.peerDown(p.ID, now)
		n.links.down(p.ID)
		n.core.RemovePeer(now, p.ID)
		out.Type = EventPeerDown
		if ev.Err != nil {
			out.Detail = ev.Err.Error()
		}
		n.log.Info("node: peer down", "peer", p.ID.Short(), "aor", out.AoR, "err", ev.Err)
	}
	n.bus.Publish(out)
}

func (n *Node) onDiscovery(now time.Time, ev discovery.Event) {
	switch ev.Kind {
	case discovery.Found:
		n.dial.found(ev.Peer, now)
	case discovery.Lost:
		n.dial.lost(ev.Peer.NodeID)
	}
}

// startDials starts the dials that are due, each in its own goroutine; the transport's Up
// event does the rest.
func (n *Node) startDials(now time.Time) {
	for _, a := range n.dial.due(now) {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			ctx, cancel := context.WithTimeout(n.ctx, dialTimeout)
			peer, err := n.ep.Connect(ctx, a.to)
			cancel()
			select {
			case n.dialed <- dialResult{key: a.key, peer: peer, err: err}:
			case <-n.loopDone:
			}
		}()
	}
}

func (n *Node) onDialed(now time.Time, r dialResult) {
	n.dial.result(r, now)
	if r.err != nil && n.ctx.Err() == nil {
		n.log.Debug("node: dial failed", "target", r.key, "err", r.err)
	}
}

// drain performs the core's Ready batch: frames to the outbox, records to the database,
// revocations to the verifier, events to the bus and to waiting lookups.
func (n *Node) drain(now time.Time) {
	rd := n.core.Ready()
	if rd.Empty() {
		return
	}
	for _, env := range rd.Messages {
		b, err := mesh.Encode(env.Msg)
		if err != nil {
			n.stat.encodeErrors.Add(1)
			n.log.Error("node: cannot encode an overlay message", "type", env.Msg.Type(), "reason", mesh.WireErrorReason(err), "err", err)
			continue
		}
		n.out.enqueue(env.To, b)
	}
	n.persist(rd.Persist, rd.Forget)
	for i := range rd.Persist {
		if r := &rd.Persist[i]; r.Kind == mesh.KindRevocation && !r.Deleted {
			n.honourRevocation(r)
		}
	}
	for _, ev := range rd.Events {
		n.onCoreEvent(now, ev)
	}
}

// persist writes the store changes of one batch in one transaction. What ends up on disk for
// each record touched is what the core holds now, so the order of puts and drops inside the
// batch does not matter.
func (n *Node) persist(put []mesh.Record, forget []mesh.RecordKey) {
	if len(put) == 0 && len(forget) == 0 {
		return
	}
	seen := make(map[mesh.RecordKey]bool, len(put)+len(forget))
	var changes []change
	add := func(k mesh.RecordKey) {
		if seen[k] {
			return
		}
		seen[k] = true
		if rec, ok := n.core.Holds(k); ok {
			changes = append(changes, change{key: k, rec: &rec})
		} else {
			changes = append(changes, change{key: k})
		}
	}
	for i := range put {
		add(put[i].RecordKey())
	}
	for _, k := range forget {
		add(k)
	}
	if err := n.db.apply(changes); err != nil {
		n.stat.persistErrors.Add(1)
		n.log.Error("node: cannot write records to the database", "records", len(changes), "err", err)
	}
}

func (n *Node) onCoreEvent(now time.Time, ev mesh.Event) {
	if e, ok := ev.(mesh.LookupDone); ok {
		if ch, ok := n.lookups[e.ID]; ok {
			delete(n.lookups, e.ID)
			ch <- e // buffered, one slot
		}
		n.bus.Publish(Event{Time: now, Type: EventLookupDone, Resource: e.Resource.String(), Kind: e.Kind.String(),
			Found: e.Found, Hops: e.Hops})
		return
	}
	if out, ok := coreEvent(now, ev); ok {
		n.bus.Publish(out)
	}
	if e, ok := ev.(mesh.RecordChanged); ok {
		if n.roster != nil {
			n.roster.seen(now, &e.Record)
		}
		if n.post != nil {
			n.post.storedHere(&e.Record)
		}
	}
}

// honourRevocation hands a revocation record to the verifier and, when it is accepted, drops
// the links to peers presenting the revoked certificate (their Down events follow).
func (n *Node) honourRevocation(rec *mesh.Record) error {
	if err := n.id.Verifier().AddRevocation(rec); err != nil {
		n.log.Warn("node: revocation refused", "err", err)
		return err
	}
	var fp identity.Fingerprint
	copy(fp[:], rec.Key)
	n.stat.revocations.Add(1)
	now := n.now()
	n.bus.Publish(Event{Time: now, Type: EventRevoked, Key: hex.EncodeToString(rec.Key)})
	for _, p := range n.ep.Peers() {
		if p.Certificate != nil && identity.FingerprintOf(p.Certificate.Raw) == fp {
			aor := identity.PeerOf(p.Certificate).AoR
			n.log.Warn("node: dropping the link to a peer whose certificate is revoked", "peer", p.Peer.ID.Short(), "aor", aor)
			n.ep.Disconnect(p.Peer.ID)
			n.bus.Publish(Event{Time: now, Type: EventDisconnected, Peer: p.Peer.ID.String(), Addr: p.Peer.Addr, AoR: aor})
		}
	}
	return nil
}
