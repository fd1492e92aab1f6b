package hybrid

import (
	"slices"
	"time"

	"meshcomm/mesh"
)

// Tick advances timers: request timeouts, flood retransmissions and periodic housekeeping.
func (n *Node) Tick(now time.Time) {
	if !n.started || n.left {
		return
	}
	n.expireRequests(now)
	n.sendFloods(n.flooder.Tick(now))
	for _, k := range n.store.Expire(now.UnixMilli()) {
		n.out.Forget = append(n.out.Forget, k)
		if k.Kind == mesh.KindNode {
			n.table.Remove(mesh.NodeID(k.Resource))
		}
	}
	// Lookups end and retry on time, not at the next housekeeping: the runtime's callers wait
	// 15 s at most (see NextTick).
	n.expireLookups(now)
	n.retryLookups(now)
	if now.Before(n.nextHousekeep) {
		return
	}
	n.nextHousekeep = now.Add(n.t.HousekeepInterval)
	n.forgetOldSizes(now)
	n.refreshOwn(now)
	n.evaluateMode(now)
	switch n.mode {
	case mesh.ModeFlood:
		n.owedSyncs(now)
		if !now.Before(n.nextAntiEntropy) {
			n.nextAntiEntropy = now.Add(n.jitter(n.t.AntiEntropyInterval))
			n.antiEntropy(now)
		}
	case mesh.ModeDHT:
		n.touchOwn(now)
		if !now.Before(n.nextProbe) {
			n.nextProbe = now.Add(n.jitter(n.t.ProbeInterval))
			n.probe(now)
		}
		if n.nextRefresh.IsZero() {
			n.nextRefresh = now.Add(n.jitter(n.t.RefreshInterval))
		} else if !now.Before(n.nextRefresh) {
			n.nextRefresh = now.Add(n.jitter(n.t.RefreshInterval))
			n.refreshSlice(now)
		}
		if !now.Before(n.nextSweep) && now.Sub(n.modeAt) >= n.t.SwitchGrace {
			n.nextSweep = now.Add(n.jitter(n.t.SweepInterval))
			n.sweep(now)
		}
	}
}

func (n *Node) expireRequests(now time.Time) {
	if n.pendingMin.IsZero() || now.Before(n.pendingMin) {
		return
	}
	var due, slow []uint64
	var earliest time.Time
	later := func(t time.Time) {
		if earliest.IsZero() || t.Before(earliest) {
			earliest = t
		}
	}
	for id, r := range n.pending {
		switch {
		case !now.Before(r.deadline):
			due = append(due, id)
		case !r.slowed && !r.slowAt.IsZero() && !now.Before(r.slowAt):
			slow = append(slow, id)
			later(r.deadline)
		case !r.slowed && !r.slowAt.IsZero():
			later(r.slowAt)
		default:
			later(r.deadline)
		}
	}
	n.pendingMin = earliest
	slices.Sort(due)
	slices.Sort(slow)
	for _, id := range slow {
		r := n.pending[id]
		r.slowed = true
		r.look.failures++ // unanswered in time: a miss may be this peer's, so retry (finishLookup)
		r.look.l.Slow(r.to.ID)
		n.progress(now, r.look)
	}
	// Every peer that failed is marked first: a lookup the first failure starts (a placement,
	// say) must not ask a peer whose request has failed at the same moment.
	for _, id := range due {
		r := n.pending[id]
		n.table.Failed(r.to.ID, n.t.MaxFails)
		n.avoidInLookups(r.to.ID)
	}
	for _, id := range due {
		r := n.pending[id]
		delete(n.pending, id)
		n.timedOut(now, r)
	}
}

// maxSilent bounds how many unanswering peers a user lookup remembers for its retries.
const maxSilent = 64

func (n *Node) timedOut(now time.Time, r *request) {
	n.counters.Timeouts++
	n.lastTimeout = now
	n.outcome(false)
	switch r.kind {
	case reqLookup:
		if !r.slowed {
			r.look.failures++
		}
		if r.look.purpose == forUser && len(r.look.silent) < maxSilent {
			r.look.silent = append(r.look.silent, r.to.ID)
		}
		r.look.l.Failed(r.to.ID)
		n.progress(now, r.look)
	case reqStore, reqTouch:
		if r.own {
			if o, ok := n.own[r.key]; ok {
				delete(o.replicas, r.to.ID)
				if n.mode == mesh.ModeDHT {
					n.place(now, o)
				}
			}
		} else {
			n.handoffFailed(r.key)
		}
	}
}

// avoidInLookups keeps the lookups under way from asking a peer that has just failed to answer.
// (Several requests to peers beyond a partition time out at once: the first starts a placement
// lookup, which would otherwise ask the others and wait for them.)
func (n *Node) avoidInLookups(id mesh.NodeID) {
	for _, lk := range n.lookups {
		lk.l.Exclude([]mesh.NodeID{id})
	}
}

// refreshOwn re-signs own records before they expire.
func (n *Node) refreshOwn(now time.Time) {
	for _, k := range n.ownKeys() {
		o := n.own[k]
		if now.Before(o.refreshAt) {
			continue
		}
		if _, err := n.Publish(now, o.rec.Kind, o.rec.Resource, o.rec.Key, o.rec.Value, o.ttl); err != nil {
			n.refuse(n.self.ID, "refresh: "+err.Error())
		}
	}
}

func (n *Node) expireLookups(now time.Time) {
	var ids []uint64
	for id, lk := range n.lookups {
		if now.Sub(lk.started) >= n.t.LookupTimeout {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		lk := n.lookups[id]
		n.finishLookup(now, lk, nil, lk.l.Rounds())
	}
}

// suspectShrink pings the whole near slice soon (at most once per ProbeInterval).
func (n *Node) suspectShrink(now time.Time) {
	if now.Sub(n.lastFullProbe) < n.t.ProbeInterval {
		return
	}
	n.lastFullProbe = now
	for _, c := range n.table.Near() {
		id := n.track(now, &request{kind: reqPing, to: c})
		n.send(c, &mesh.Ping{Nonce: id, Status: n.status()})
	}
}

// probe pings a random near peer (DHT mode), or every near peer when a partition is suspected.
func (n *Node) probe(now time.Time) {
	count := n.table.NearCount()
	if count == 0 {
		return
	}
	targets := []mesh.Contact{n.table.NearAt(n.rnd.IntN(count))}
	if n.partitionSuspected() {
		n.outcomes = n.outcomes[:0]
		n.suspectShrink(now)
		return
	}
	for _, c := range targets {
		id := n.track(now, &request{kind: reqPing, to: c})
		n.send(c, &mesh.Ping{Nonce: id, Status: n.status()})
	}
}

const outcomeWindow = 16

func (n *Node) outcome(ok bool) {
	n.outcomes = append(n.outcomes, ok)
	if len(n.outcomes) > outcomeWindow {
		n.outcomes = n.outcomes[1:]
	}
}

// partitionSuspected reports whether at least half of the recent requests went unanswered.
func (n *Node) partitionSuspected() bool {
	if len(n.outcomes) < outcomeWindow/2 {
		return false
	}
	failed := 0
	for _, ok := range n.outcomes {
		if !ok {
			failed++
		}
	}
	return 2*failed >= len(n.outcomes)
}

// evaluateMode updates the size estimate and switches mode when it crosses a threshold.
func (n *Node) evaluateMode(now time.Time) {
	switch n.mode {
	case mesh.ModeFlood:
		n.estimate = n.floodLiveCount(now)
		if n.estimate >= n.t.FloodToDHT {
			n.switchMode(now, mesh.ModeDHT)
		}
	case mesh.ModeDHT:
		n.table.Retune(n.table.Estimate())
		n.estimate = n.table.Estimate()
		if n.estimate < n.t.DHTToFlood && now.Sub(n.modeAt) >= n.t.MinDHTDwell && !n.peersSeeLargeMesh(now) {
			n.switchMode(now, mesh.ModeFlood)
		}
	}
}

// switchMode moves between flood and DHT organisation. No record is dropped here: in DHT mode
// sweeps hand records off only after their replicas confirm them; in flood mode reconciliation
// pulls everything in.
func (n *Node) switchMode(now time.Time, to mesh.Mode) {
	if n.mode == to {
		return
	}
	from := n.mode
	n.mode, n.modeAt = to, now
	n.counters.ModeSwitches++
	switch to {
	case mesh.ModeDHT:
		n.table.Retune(max(n.estimate, n.table.Len()+1))
		n.estimate = max(n.estimate, n.table.Estimate())
		n.nextSweep = now.Add(n.t.SwitchGrace)
		delete(n.own, mesh.RecordKey{Resource: n.self.ID.Resource(), Kind: mesh.KindNode})
		for _, k := range n.ownKeys() {
			o := n.own[k]
			o.replicas = map[mesh.NodeID]mesh.Contact{}
			o.nextTouch = now.Add(n.jitter(n.t.SwitchGrace))
		}
	case mesh.ModeFlood:
		if len(n.nb.Links()) < 2 {
			for i, c := range n.table.Near() {
				if i >= n.t.MaxNeighbors {
					break
				}
				n.nb.AddLink(c)
			}
		}
		n.publishNodeRecord(now)
		for _, id := range n.nb.List() {
			n.startSync(n.contactOf(id))
		}
		n.estimate = n.floodLiveCount(now)
	}
	n.emit(mesh.ModeChanged{From: from, To: to, SizeEstimate: n.estimate})
	for _, c := range n.nb.Links() {
		n.send(c, &mesh.Hello{Status: n.status(), Self: n.self}) // links learn the new mode
	}
}

// heardSize is a DHT peer's own estimate of the mesh's size and when it was heard.
type heardSize struct {
	estimate int
	at       time.Time
}

// heardSizeWindow is how long a peer's size estimate counts.
const heardSizeWindow = 30 * time.Second

func (n *Node) hearSize(now time.Time, from mesh.NodeID, s mesh.Status) {
	if s.Mode != mesh.ModeDHT {
		delete(n.heardSizes, from)
		return
	}
	n.heardSizes[from] = heardSize{estimate: int(s.SizeEstimate), at: now}
}

// forgetOldSizes drops size estimates heard too long ago to count, once per heardSizeWindow, so
// that the map holds the peers heard recently rather than every peer ever heard.
func (n *Node) forgetOldSizes(now time.Time) {
	if now.Before(n.heardPruneAt) {
		return
	}
	n.heardPruneAt = now.Add(heardSizeWindow)
	recent := make(map[mesh.NodeID]heardSize, len(n.heardSizes)/2) // a map never shrinks: copy
	for id, h := range n.heardSizes {
		if now.Sub(h.at) <= heardSizeWindow {
			recent[id] = h
		}
	}
	n.heardSizes = recent
}

// peersSeeLargeMesh reports whether most DHT peers heard from recently (at least two) estimate
// the mesh above the shrink threshold. A node whose own table is still thin (it joined while
// messages were reordered, or lost a few answers) must not leave a large mesh on its own
// estimate alone: it would sit in flood mode, cut off, until its dwell time ran out. In a mesh
// that really shrank every member's estimate falls, so this holds nobody back for long.
func (n *Node) peersSeeLargeMesh(now time.Time) bool {
	large, heard := 0, 0
	for id, h := range n.heardSizes {
		if now.Sub(h.at) > heardSizeWindow {
			delete(n.heardSizes, id)
			continue
		}
		heard++
		if h.estimate >= n.t.DHTToFlood {
			large++
		}
	}
	return heard >= 2 && 2*large > heard
}

// refreshSlice asks a few random far peers, and one random member of this node's slice, for the
// peers closest to this node, and fetches the neighbourhood of the first member of its slice
// they name that this node has never heard of. Peers of other slices each know a few members of
// this one, picked independently, so the answers name members this node has never heard of if
// there are any: after a merge that a broadcast did not fully reach, or a partition that healed
// without a new link, two groups sharing a slice would otherwise never learn of each other, and
// lookups ending in the wrong group would miss records the other group holds. One round of
// requests is enough: an unknown member named is the whole finding.
func (n *Node) refreshSlice(now time.Time) {
	far := n.table.Far()
	if len(far) == 0 {
		return
	}
	ask := make([]mesh.Contact, 0, n.t.Alpha+1)
	for range n.t.Alpha {
		ask = append(ask, far[n.rnd.IntN(len(far))])
	}
	if count := n.table.NearCount(); count > 0 {
		ask = append(ask, n.table.NearAt(n.rnd.IntN(count)))
	}
	for _, c := range ask {
		id := n.track(now, &request{kind: reqRefreshProbe, to: c})
		n.send(c, &mesh.FindNode{ReqID: id, Target: n.self.ID})
	}
}

// onRefreshProbe fetches the neighbourhood of the first member of this node's slice named in a
// refresh answer that this node does not know. (The contacts named are not learnt directly: a
// far peer's entries may be stale, and a dead peer in the slice costs every lookup through it
// a timeout; a neighbourhood answer comes from a live peer.)
func (n *Node) onRefreshProbe(now time.Time, nodes []mesh.Contact) {
	for _, c := range nodes {
		if c.ID != n.self.ID && n.table.InMySlice(c.ID) && !n.table.Knows(c.ID) {
			n.requestNeighborhood(now, c, nbJoin)
			return
		}
	}
}
