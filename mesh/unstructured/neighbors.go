package unstructured

import (
	"math/rand/v2"
	"sort"

	"meshcomm/mesh"
)

// Neighbors is the bounded random neighbour set drawn from a peer's direct links. Out-neighbours
// are the links this peer picked; in-neighbours are peers that picked it (learned when they sync
// or flood to it). Floods go to both, so the relation is symmetric.
type Neighbors struct {
	max   int
	links map[mesh.NodeID]mesh.Contact
	out   map[mesh.NodeID]bool
	in    map[mesh.NodeID]bool
}

// NewNeighbors makes an empty set that picks at most max out-neighbours.
func NewNeighbors(max int) *Neighbors {
	return &Neighbors{max: max, links: map[mesh.NodeID]mesh.Contact{}, out: map[mesh.NodeID]bool{}, in: map[mesh.NodeID]bool{}}
}

// AddLink records a direct link. It reports whether the link became an out-neighbour (the caller
// then starts reconciliation with it).
func (n *Neighbors) AddLink(c mesh.Contact) bool {
	n.links[c.ID] = c
	if n.out[c.ID] || len(n.out) >= n.max {
		return false
	}
	n.out[c.ID] = true
	return true
}

// HasLink reports whether id is a direct link.
func (n *Neighbors) HasLink(id mesh.NodeID) bool { _, ok := n.links[id]; return ok }

// Link returns the contact of a direct link.
func (n *Neighbors) Link(id mesh.NodeID) (mesh.Contact, bool) { c, ok := n.links[id]; return c, ok }

// RemoveLink forgets a link. If it was an out-neighbour, a replacement is drawn at random from
// the remaining links and returned (ok false when none).
func (n *Neighbors) RemoveLink(id mesh.NodeID, rnd *rand.Rand) (mesh.Contact, bool) {
	wasOut := n.out[id]
	delete(n.links, id)
	delete(n.out, id)
	delete(n.in, id)
	if !wasOut {
		return mesh.Contact{}, false
	}
	var spare []mesh.Contact
	for lid, c := range n.links {
		if !n.out[lid] {
			spare = append(spare, c)
		}
	}
	if len(spare) == 0 {
		return mesh.Contact{}, false
	}
	sort.Slice(spare, func(i, j int) bool { return lessID(spare[i].ID, spare[j].ID) })
	c := spare[rnd.IntN(len(spare))]
	n.out[c.ID] = true
	return c, true
}

// MarkIn records that a linked peer treats this one as its neighbour.
func (n *Neighbors) MarkIn(id mesh.NodeID) {
	if _, ok := n.links[id]; ok {
		n.in[id] = true
	}
}

// IsNeighbor reports whether id is an in- or out-neighbour.
func (n *Neighbors) IsNeighbor(id mesh.NodeID) bool { return n.out[id] || n.in[id] }

// List returns the neighbours (out and in) in a deterministic order.
func (n *Neighbors) List() []mesh.NodeID {
	ids := make([]mesh.NodeID, 0, len(n.out)+len(n.in))
	for id := range n.out {
		ids = append(ids, id)
	}
	for id := range n.in {
		if !n.out[id] {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return lessID(ids[i], ids[j]) })
	return ids
}

// Links returns every direct link in a deterministic order.
func (n *Neighbors) Links() []mesh.Contact {
	out := make([]mesh.Contact, 0, len(n.links))
	for _, c := range n.links {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return lessID(out[i].ID, out[j].ID) })
	return out
}

// Count is the number of distinct neighbours.
func (n *Neighbors) Count() int {
	c := len(n.out)
	for id := range n.in {
		if !n.out[id] {
			c++
		}
	}
	return c
}

func lessID(a, b mesh.NodeID) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}
