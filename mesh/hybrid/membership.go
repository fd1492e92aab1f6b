package hybrid

import (
	"time"

	"meshcomm/mesh"
	"meshcomm/mesh/structured"
)

// mergeQuiet is how long after taking part in a merge a node ignores further merge broadcasts
// (several contacts between the same two meshes start several broadcasts at once).
const mergeQuiet = 30 * time.Second

// joinVia joins a DHT mesh through a peer: fetch its neighbourhood, then look up this node's own
// slice and fetch the neighbourhood there.
func (n *Node) joinVia(now time.Time, via mesh.Contact) {
	n.requestNeighborhood(now, via, nbJoin)
	seeds := append(n.table.Closest(n.self.ID, n.t.ResponseContacts), via)
	n.startLookup(now, &lookup{purpose: forJoin, target: n.self.ID}, seeds)
}

func (n *Node) requestNeighborhood(now time.Time, c mesh.Contact, why neighborhoodPurpose) {
	id := n.track(now, &request{kind: reqNeighborhood, to: c, nbFor: why})
	n.send(c, &mesh.NeighborhoodReq{ReqID: id})
}

func (n *Node) neighborhood(reqID uint64) *mesh.Neighborhood {
	near := append(n.table.Near(), n.self)
	far := n.table.Far()
	if len(near) > mesh.MaxContacts {
		near = near[:mesh.MaxContacts]
	}
	if len(far) > mesh.MaxContacts {
		far = far[:mesh.MaxContacts]
	}
	return &mesh.Neighborhood{ReqID: reqID, Near: near, Far: far}
}

// learn adds contacts to the routing table and announces this node to the new members of its
// slice (they then hand it the records it is now responsible for).
func (n *Node) learn(now time.Time, cs []mesh.Contact) {
	for _, c := range cs {
		if n.table.Add(now, c) && n.mode == mesh.ModeDHT {
			n.send(c, &mesh.Hello{Status: n.status(), Self: n.self})
			n.onNewNear(now, c)
		}
	}
}

// minSliceSample is how many near peers a neighbourhood must name for their shared prefix to
// tell the answerer's slice width.
const minSliceSample = 8

func (n *Node) onNeighborhood(now time.Time, r *request, m *mesh.Neighborhood) {
	if len(m.Near) >= minSliceSample && n.mode == mesh.ModeDHT {
		// A node that has just switched to DHT mode slices coarsely until it knows its slice,
		// and would greet (and hand records to) every peer of a neighbourhood that falls in its
		// coarse slice: hundreds of Hellos in a large mesh, mostly to peers of other slices. The
		// answerer's near peers share its slice's prefix, which tells the width its mesh uses.
		n.table.Narrow(structured.SharedPrefixLen(m.Near))
	}
	n.learn(now, m.Near)
	n.learn(now, m.Far)
	n.evaluateMode(now)
	if r.nbFor == nbJoin {
		// A node that has just joined places its own records at once (a collective switch
		// instead waits out SwitchGrace: every record is still everywhere then).
		for _, k := range n.ownKeys() {
			if o := n.own[k]; len(o.replicas) == 0 {
				n.place(now, o)
			}
		}
	}
	if r.nbFor == nbMerge {
		n.broadcastMerge(now, append(append([]mesh.Contact{r.to}, m.Near...), m.Far...))
		// The other side may not have noticed: ask it to broadcast through its own mesh too, so
		// that every peer of either side either rejoins or is announced to by those who do.
		own := n.neighborhood(0)
		entries := append(append([]mesh.Contact{}, own.Near...), own.Far...)
		if len(entries) > mesh.MaxContacts {
			entries = entries[:mesh.MaxContacts]
		}
		n.send(r.to, &mesh.Merge{ID: n.randomID(), Hops: originateMerge, Entries: entries})
	}
}

// settled reports whether this node has been in DHT mode long enough to know its slice, so that
// many unknown peers in it mean another mesh rather than its own ignorance.
func (n *Node) settled(now time.Time) bool {
	return n.mode == mesh.ModeDHT && now.Sub(n.modeAt) >= n.t.SwitchGrace && n.table.NearCount() >= 2
}

// onMergeProbe judges the answer of a newly linked peer to FindNode(self): if most of the peers
// it names in this node's own slice are unknown here, the two are in different meshes.
func (n *Node) onMergeProbe(now time.Time, r *request, nodes []mesh.Contact) {
	known, unknown := 0, 0
	for _, c := range nodes {
		if c.ID == n.self.ID || !n.table.InMySlice(c.ID) {
			continue
		}
		if n.table.Knows(c.ID) {
			known++
		} else {
			unknown++
		}
	}
	// A peer of another mesh names only peers this node has never heard of; a peer of this mesh
	// whose view is merely newer (nodes still joining) names mostly known ones.
	if unknown < 2 || unknown < 4*known || n.recentlyMerged(now) {
		n.learn(now, nodes)
		return
	}
	n.counters.Merges++
	n.emit(mesh.MergeDetected{Via: r.to})
	n.markMerged(now, [mesh.IDBytes]byte{})
	n.requestNeighborhood(now, r.to, nbMerge)
}

// memberProbeInterval is how often at most a node asks a newly heard member of its slice who
// else is there (see probeNewMember).
const memberProbeInterval = 5 * time.Second

// memberProbeUnknown is how many unknown members of its slice an answer must name for this node
// to fetch the answerer's whole neighbourhood.
const memberProbeUnknown = 3

// probeNewMember asks a member of this node's slice it has just heard of for the peers closest to
// this node (at most once per memberProbeInterval). In a settled mesh new members arrive one at a
// time and name peers this node already knows. After a merge or a heal they come from a group
// this node has only partly heard of: a merge broadcast makes only the peers it names unknown
// rejoin, and a peer that already knew those never learns the rest of the other group, nor they
// of it; the answer names them, and the answerer's neighbourhood brings in all it knows.
func (n *Node) probeNewMember(now time.Time, c mesh.Contact) {
	if !n.settled(now) || now.Before(n.nextMemberProbe) {
		return
	}
	n.nextMemberProbe = now.Add(memberProbeInterval)
	id := n.track(now, &request{kind: reqMemberProbe, to: c})
	n.send(c, &mesh.FindNode{ReqID: id, Target: n.self.ID})
}

func (n *Node) onMemberProbe(now time.Time, r *request, nodes []mesh.Contact) {
	unknown := 0
	for _, c := range nodes {
		if c.ID != n.self.ID && n.table.InMySlice(c.ID) && !n.table.Knows(c.ID) {
			unknown++
		}
	}
	n.learn(now, nodes)
	if unknown >= memberProbeUnknown {
		n.requestNeighborhood(now, r.to, nbJoin)
	}
}

func (n *Node) recentlyMerged(now time.Time) bool {
	for _, at := range n.merges {
		if now.Sub(at) < mergeQuiet {
			return true
		}
	}
	return false
}

func (n *Node) markMerged(now time.Time, id [mesh.IDBytes]byte) {
	n.merges[id] = now
	for k, at := range n.merges {
		if now.Sub(at) > 10*mergeQuiet {
			delete(n.merges, k)
		}
	}
}

// broadcastMerge tells this node's own mesh about peers of the other one: every near peer
// directly, and one peer of every far slice, which relays to its own slice.
func (n *Node) broadcastMerge(now time.Time, foreign []mesh.Contact) {
	id := n.randomID()
	n.markMerged(now, id)
	isForeign := make(map[mesh.NodeID]bool, len(foreign))
	for _, c := range foreign {
		isForeign[c.ID] = true
	}
	for _, c := range n.table.Near() {
		if !isForeign[c.ID] {
			n.send(c, &mesh.Merge{ID: id, Hops: 0, Entries: n.entriesFor(n.table.SliceOf(c.ID), foreign)})
		}
	}
	for s := 0; s < n.table.Slices(); s++ {
		if uint32(s) == n.table.SliceOf(n.self.ID) {
			continue
		}
		for _, c := range n.table.FarSlice(uint32(s)) {
			if !isForeign[c.ID] {
				n.send(c, &mesh.Merge{ID: id, Hops: 1, Entries: n.entriesFor(uint32(s), foreign)})
				break
			}
		}
	}
	if n.mode == mesh.ModeFlood {
		for _, nb := range n.nb.List() {
			c := n.contactOf(nb)
			if !isForeign[c.ID] {
				n.send(c, &mesh.Merge{ID: id, Hops: 8, Entries: n.entriesFor(n.table.SliceOf(c.ID), foreign)})
			}
		}
	}
}

// originateMerge in a Merge's Hops asks its receiver to broadcast it through its own mesh.
const originateMerge = 2

// randomID draws a fresh 128-bit message identifier (merges, floods) from the core's source.
func (n *Node) randomID() [mesh.IDBytes]byte {
	var id [mesh.IDBytes]byte
	for i := 0; i < len(id); i += 8 {
		v := n.rnd.Uint64()
		for j := 0; j < 8; j++ {
			id[i+j] = byte(v >> (8 * j))
		}
	}
	return id
}

// entriesFor picks the foreign contacts most useful to peers of slice s: those in s, plus a few
// others so that a slice nobody knows can still be found by lookup.
func (n *Node) entriesFor(s uint32, foreign []mesh.Contact) []mesh.Contact {
	var in, other []mesh.Contact
	for _, c := range foreign {
		if n.table.SliceOf(c.ID) == s {
			in = append(in, c)
		} else if len(other) < 4 {
			other = append(other, c)
		}
	}
	if len(in) > 16 {
		in = in[:16]
	}
	return append(in, other...)
}

func (n *Node) onMerge(now time.Time, from mesh.Contact, m *mesh.Merge) {
	// Every distinct broadcast is relayed: with messages reordered, another broadcast naming only
	// this node's own mesh may arrive first, and dropping the next one for being "recent" would
	// cut a whole slice off the real one.
	if _, seen := n.merges[m.ID]; seen {
		return
	}
	n.markMerged(now, m.ID)
	if m.Hops >= originateMerge && n.mode == mesh.ModeDHT && len(m.Entries) > 0 {
		n.counters.Merges++
		n.emit(mesh.MergeDetected{Via: from})
		n.broadcastMerge(now, m.Entries)
		n.startLookup(now, &lookup{purpose: forJoin, target: n.self.ID}, m.Entries)
		return
	}
	if m.Hops > 0 {
		fwd := &mesh.Merge{ID: m.ID, Hops: m.Hops - 1, Entries: m.Entries}
		if n.mode == mesh.ModeFlood {
			for _, nb := range n.nb.List() {
				if nb != from.ID {
					n.send(n.contactOf(nb), fwd)
				}
			}
		} else {
			for _, c := range n.table.Near() {
				if c.ID != from.ID {
					n.send(c, fwd)
				}
			}
		}
	}
	if !n.namesUnknown(m.Entries) {
		return // nothing new here: no need to rejoin
	}
	if n.mode == mesh.ModeFlood {
		// Say hello to the other mesh: its answer tells whether to join it as a DHT.
		best := n.closestTo(n.self.ID, m.Entries)
		n.send(best, &mesh.Hello{Status: n.status(), Self: n.self})
		return
	}
	n.startLookup(now, &lookup{purpose: forJoin, target: n.self.ID}, m.Entries)
}

// namesUnknown reports whether any of cs is a peer this node does not know.
func (n *Node) namesUnknown(cs []mesh.Contact) bool {
	for _, c := range cs {
		if c.ID != n.self.ID && !n.table.Knows(c.ID) {
			return true
		}
	}
	return false
}

func (n *Node) closestTo(target [mesh.IDBytes]byte, cs []mesh.Contact) mesh.Contact {
	best := cs[0]
	for _, c := range cs[1:] {
		if mesh.XOR(target, c.ID).Less(mesh.XOR(target, best.ID)) {
			best = c
		}
	}
	return best
}
