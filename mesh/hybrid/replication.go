package hybrid

import (
	"time"

	"meshcomm/mesh"
)

// keepMargin is how far past the R closest a holder still keeps a record.
const keepMargin = 2

// handoff is a record this node holds but is not responsible for, being confirmed at its
// replicas before it is dropped.
type handoff struct {
	targets   int
	confirmed int
	failed    bool
}

// place finds the current replicas of an own record and stores it there.
func (n *Node) place(now time.Time, o *ownRecord) {
	res := o.rec.Resource
	// The near slice answers for itself only once this node knows it: a node that has just
	// joined knows a few peers of a coarse slice, and would pick replicas that are not the
	// closest (the record then moves on only at their next sweep). It asks the mesh instead.
	if n.settled(now) && n.table.InMySlice(res) && n.table.NearCount() >= n.t.Replicas {
		n.storeOwn(now, o, n.liveClosestWithSelf(res))
		return
	}
	if o.placing {
		return
	}
	// Peers that have failed to answer (the replicas whose loss brought this node here, as a
	// rule) are neither asked nor picked: after a partition they are the far slice's entries
	// this node knows, so the closest live peers elsewhere are offered too, to lead the lookup
	// into the live part of the slice once those are found silent.
	var seeds []mesh.Contact
	var failed []mesh.NodeID
	for _, c := range n.table.Closest(res, n.t.ResponseContacts) {
		if p, ok := n.table.Get(c.ID); ok && p.Fails > 0 {
			failed = append(failed, c.ID)
		} else {
			seeds = append(seeds, c)
		}
	}
	seeds = append(seeds, n.table.ClosestLive(res, n.t.ResponseContacts)...)
	if len(seeds) == 0 {
		return // nobody known yet; the touch cycle retries
	}
	o.placing = true
	n.startLookup(now, &lookup{purpose: forPlacement, target: res, key: o.rec.RecordKey(), silent: failed}, seeds)
}

// liveClosestWithSelf returns the R closest to target in this node's slice, skipping peers that
// have failed to answer recently.
func (n *Node) liveClosestWithSelf(target [mesh.IDBytes]byte) []mesh.Contact {
	cands := n.table.ClosestWithSelf(target, n.t.Replicas+4)
	out := make([]mesh.Contact, 0, n.t.Replicas)
	for _, c := range cands {
		if p, ok := n.table.Get(c.ID); ok && p.Fails > 0 {
			continue
		}
		out = append(out, c)
		if len(out) == n.t.Replicas {
			break
		}
	}
	return out
}

func (n *Node) storeOwn(now time.Time, o *ownRecord, targets []mesh.Contact) {
	for _, c := range targets {
		if c.ID == n.self.ID {
			continue
		}
		id := n.track(now, &request{kind: reqStore, to: c, key: o.rec.RecordKey(), own: true})
		n.send(c, &mesh.Store{ReqID: id, Records: []mesh.Record{o.rec}})
	}
}

// touchPerRound is how many of a record's replicas its owner checks each round, in turn, while
// nothing around it fails. Losing every replica at once (a mass failure) is noticed as soon as
// when all are checked, since whichever is checked fails; a single lost replica is noticed within
// R/touchPerRound rounds, while the others still serve the record. It halves the steady mesh's
// largest traffic. Once a request of this node has gone unanswered (peers dying, a partition),
// every replica is checked for a while (touchAllAfterTimeout): a record whose closest replicas
// fell on the far side of a partition, but whose checked ones did not, would otherwise stay on
// peers that lookups on this side no longer reach until a later round.
const touchPerRound = 2

// touchAllAfterTimeout is how long after a request went unanswered an owner checks every replica.
const touchAllAfterTimeout = time.Minute

// touchOwn checks that the replicas of every own record still hold it, and re-places records
// whose replica set has thinned.
func (n *Node) touchOwn(now time.Time) {
	for _, k := range n.ownKeys() {
		o := n.own[k]
		if now.Before(o.nextTouch) {
			continue
		}
		o.nextTouch = now.Add(n.jitter(n.t.TouchInterval))
		if len(o.replicas) < n.t.Replicas-1 {
			n.place(now, o)
			continue
		}
		ref := mesh.RecordRef{Resource: o.rec.Resource, Kind: o.rec.Kind, Key: o.rec.Key, Version: o.rec.Version}
		list := n.replicaList(o)
		checks := min(touchPerRound, len(list))
		if !n.lastTimeout.IsZero() && now.Sub(n.lastTimeout) < touchAllAfterTimeout {
			checks = len(list)
		}
		for i := range checks {
			c := list[(o.touchTurn+i)%len(list)]
			id := n.track(now, &request{kind: reqTouch, to: c, key: k, own: true})
			n.send(c, &mesh.Touch{ReqID: id, Refs: []mesh.RecordRef{ref}})
		}
		o.touchTurn += checks
	}
}

func (n *Node) replicaList(o *ownRecord) []mesh.Contact {
	out := make([]mesh.Contact, 0, len(o.replicas))
	for _, c := range o.replicas {
		out = append(out, c)
	}
	sortContacts(out)
	return out
}

// onNewNear hands a newly met peer of this node's slice the records it is now a replica of. (A
// replica the newcomer pushes out of the R closest keeps its copy until its next sweep, which
// confirms the newcomer holds it before dropping it, so no record is lost in between.)
func (n *Node) onNewNear(now time.Time, c mesh.Contact) {
	var give []mesh.Record
	n.store.Range(func(r *mesh.Record) bool {
		if r.Kind != mesh.KindNode && n.table.InMySlice(r.Resource) &&
			n.table.AmongClosestWithSelf(r.Resource, n.t.Replicas, c.ID) {
			give = append(give, *r)
		}
		return true
	})
	for _, batch := range mesh.BatchRecords(give, 64) {
		n.send(c, &mesh.Store{Records: batch})
	}
}

// sweep hands off the records this node holds but is not responsible for.
func (n *Node) sweep(now time.Time) {
	for _, r := range n.store.All() {
		k := r.RecordKey()
		if _, mine := n.own[k]; mine || r.Kind == mesh.KindNode {
			if r.Kind == mesh.KindNode && !mine {
				n.dropLocal(k) // membership records mean nothing in DHT mode
			}
			continue
		}
		if _, busy := n.handoffs[k]; busy {
			continue
		}
		if n.table.InMySlice(r.Resource) && n.table.NearCount() >= n.t.Replicas {
			// Views of the slice differ slightly between peers: keep a record while this node is
			// within a margin of the R closest, so holders and owners do not pass it back and forth.
			if n.table.AmongClosestWithSelf(r.Resource, n.t.Replicas+keepMargin, n.self.ID) {
				continue
			}
			n.handOff(now, k, n.liveClosestWithSelf(r.Resource))
			continue
		}
		seeds := n.table.Closest(r.Resource, n.t.ResponseContacts)
		if len(seeds) == 0 {
			continue
		}
		n.handoffs[k] = &handoff{}
		n.startLookup(now, &lookup{purpose: forHandoff, target: r.Resource, key: k}, seeds)
	}
}

// handOffLater makes sure records given to a DHT peer outside its responsibility reach their
// replicas at the next sweep.
func (n *Node) handOffLater(recs []mesh.Record) {
	if len(recs) > 0 && n.nextSweep.After(n.nextHousekeep) {
		n.nextSweep = n.nextHousekeep
	}
}

// handOff confirms (Touch) that targets hold the record, storing it where missing, and drops the
// local copy once every target has confirmed. If this node is itself a target it keeps it.
func (n *Node) handOff(now time.Time, k mesh.RecordKey, targets []mesh.Contact) {
	r, ok := n.store.Get(k)
	if !ok {
		delete(n.handoffs, k)
		return
	}
	if containsID(targets, n.self.ID) || len(targets) == 0 {
		delete(n.handoffs, k)
		return
	}
	h := &handoff{targets: len(targets)}
	n.handoffs[k] = h
	ref := mesh.RecordRef{Resource: r.Resource, Kind: r.Kind, Key: r.Key, Version: r.Version}
	for _, c := range targets {
		id := n.track(now, &request{kind: reqTouch, to: c, key: k})
		n.send(c, &mesh.Touch{ReqID: id, Refs: []mesh.RecordRef{ref}})
	}
}

func (n *Node) handoffConfirmed(k mesh.RecordKey) {
	h, ok := n.handoffs[k]
	if !ok {
		return
	}
	h.confirmed++
	if h.confirmed >= h.targets && !h.failed {
		delete(n.handoffs, k)
		n.dropLocal(k)
	}
}

func (n *Node) handoffFailed(k mesh.RecordKey) {
	if h, ok := n.handoffs[k]; ok {
		h.failed = true
		delete(n.handoffs, k) // keep the record; the next sweep tries again
		// Soon: the target that failed now counts as failed, and the next try passes it over.
		// A record left on the wrong peers (after a partition, say) is out of reach of lookups.
		if n.nextSweep.After(n.nextHousekeep) {
			n.nextSweep = n.nextHousekeep
		}
	}
}

func (n *Node) dropLocal(k mesh.RecordKey) {
	if n.store.Remove(k) {
		n.out.Forget = append(n.out.Forget, k)
	}
}

// handOverAll gives every record this node holds for others to the peers that become
// responsible when it leaves.
func (n *Node) handOverAll(now time.Time) {
	for _, r := range n.store.All() {
		k := r.RecordKey()
		if _, mine := n.own[k]; mine || r.Kind == mesh.KindNode || !n.table.InMySlice(r.Resource) {
			continue
		}
		for _, c := range n.table.ClosestWithSelf(r.Resource, n.t.Replicas+1) {
			if c.ID != n.self.ID {
				n.send(c, &mesh.Store{Records: []mesh.Record{r}})
			}
		}
	}
}

func containsID(cs []mesh.Contact, id mesh.NodeID) bool {
	for _, c := range cs {
		if c.ID == id {
			return true
		}
	}
	return false
}
