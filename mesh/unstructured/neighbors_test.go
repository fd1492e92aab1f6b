package unstructured

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"testing"

	"meshcomm/mesh"
)

func contact(i int) mesh.Contact {
	return mesh.Contact{ID: mesh.NodeIDFromPublicKey([]byte(fmt.Sprint("peer", i))), Addr: fmt.Sprintf("10.0.0.%d:4433", i)}
}

func TestNeighborsCap(t *testing.T) {
	n := NewNeighbors(3)
	var picked []mesh.NodeID
	for i := range 5 {
		if n.AddLink(contact(i)) {
			picked = append(picked, contact(i).ID)
		}
	}
	if len(picked) != 3 {
		t.Fatalf("%d links became out-neighbours, want the cap 3", len(picked))
	}
	for i := range 3 {
		if picked[i] != contact(i).ID {
			t.Fatalf("out-neighbour %d is not the %d-th link added", i, i)
		}
	}
	if n.Count() != 3 || len(n.List()) != 3 || len(n.Links()) != 5 {
		t.Fatalf("Count %d, List %d, Links %d; want 3, 3, 5", n.Count(), len(n.List()), len(n.Links()))
	}
	for i := range 5 {
		if !n.HasLink(contact(i).ID) {
			t.Fatalf("link %d forgotten", i)
		}
		if got := n.IsNeighbor(contact(i).ID); got != (i < 3) {
			t.Fatalf("IsNeighbor(link %d) = %v", i, got)
		}
	}
	// Re-adding an out-neighbour does not start a second reconciliation, but updates its address.
	moved := contact(0)
	moved.Addr = "10.9.9.9:4433"
	if n.AddLink(moved) {
		t.Fatal("re-adding an out-neighbour reported it as new")
	}
	if c, ok := n.Link(moved.ID); !ok || c.Addr != moved.Addr {
		t.Fatalf("Link after re-add = %+v, want the new address", c)
	}
	if _, ok := n.Link(contact(99).ID); ok || n.HasLink(contact(99).ID) {
		t.Fatal("unknown peer reported as a link")
	}
}

func TestNeighborsInAndOutAreSymmetric(t *testing.T) {
	n := NewNeighbors(2)
	for i := range 4 {
		n.AddLink(contact(i))
	}
	// Link 3 picked us: it becomes a neighbour although we did not pick it.
	n.MarkIn(contact(3).ID)
	// Link 0 is out already and also picked us: counted once.
	n.MarkIn(contact(0).ID)
	// A peer we have no link to cannot be a neighbour.
	n.MarkIn(contact(7).ID)
	want := []mesh.NodeID{contact(0).ID, contact(1).ID, contact(3).ID}
	sortIDs(want)
	if got := n.List(); !reflect.DeepEqual(got, want) {
		t.Fatalf("List = %v, want %v", got, want)
	}
	if n.Count() != 3 {
		t.Fatalf("Count = %d, want 3", n.Count())
	}
	if n.IsNeighbor(contact(2).ID) || n.IsNeighbor(contact(7).ID) {
		t.Fatal("a link nobody picked, or a stranger, is a neighbour")
	}
	links := n.Links()
	for i := 1; i < len(links); i++ {
		if !lessID(links[i-1].ID, links[i].ID) {
			t.Fatal("Links is not in identifier order")
		}
	}
	// Losing an in-neighbour's link drops it, and draws no replacement (we did not pick it).
	if _, ok := n.RemoveLink(contact(3).ID, rand.New(rand.NewPCG(1, 1))); ok {
		t.Fatal("removing an in-neighbour drew a replacement")
	}
	if n.IsNeighbor(contact(3).ID) || n.HasLink(contact(3).ID) || n.Count() != 2 {
		t.Fatal("removed in-neighbour still present")
	}
}

func sortIDs(ids []mesh.NodeID) {
	sort.Slice(ids, func(i, j int) bool { return lessID(ids[i], ids[j]) })
}

func TestRemoveLinkDrawsReplacementDeterministically(t *testing.T) {
	build := func(order []int) *Neighbors {
		n := NewNeighbors(2)
		n.AddLink(contact(0))
		n.AddLink(contact(1))
		for _, i := range order {
			n.AddLink(contact(i))
		}
		return n
	}
	spares := map[mesh.NodeID]bool{}
	for i := 2; i < 8; i++ {
		spares[contact(i).ID] = true
	}
	drawn := map[mesh.NodeID]bool{}
	for seed := range uint64(64) {
		a := build([]int{2, 3, 4, 5, 6, 7})
		b := build([]int{7, 5, 3, 6, 4, 2}) // same links, other insertion order
		ca, okA := a.RemoveLink(contact(0).ID, rand.New(rand.NewPCG(seed, 9)))
		cb, okB := b.RemoveLink(contact(0).ID, rand.New(rand.NewPCG(seed, 9)))
		if !okA || !okB || ca != cb {
			t.Fatalf("seed %d: replacements %v/%v and %v/%v differ", seed, ca.ID.Short(), okA, cb.ID.Short(), okB)
		}
		if !spares[ca.ID] {
			t.Fatalf("seed %d: replacement %s was not a spare link", seed, ca.ID.Short())
		}
		if ca.Addr == "" {
			t.Fatalf("seed %d: replacement returned without its address", seed)
		}
		if !a.IsNeighbor(ca.ID) || a.IsNeighbor(contact(0).ID) || a.HasLink(contact(0).ID) || a.Count() != 2 {
			t.Fatalf("seed %d: after replacement the set is %v", seed, a.List())
		}
		drawn[ca.ID] = true
	}
	if len(drawn) != len(spares) {
		t.Fatalf("64 seeds drew %d distinct replacements of %d spares: not random", len(drawn), len(spares))
	}
}

func TestRemoveLinkWithoutSpares(t *testing.T) {
	n := NewNeighbors(2)
	n.AddLink(contact(0))
	n.AddLink(contact(1))
	rnd := rand.New(rand.NewPCG(1, 1))
	if _, ok := n.RemoveLink(contact(0).ID, rnd); ok {
		t.Fatal("replacement drawn with no spare link")
	}
	if n.Count() != 1 {
		t.Fatalf("Count = %d, want 1", n.Count())
	}
	// The freed slot is taken by the next link.
	if !n.AddLink(contact(2)) {
		t.Fatal("a new link did not fill the freed slot")
	}
	if _, ok := n.RemoveLink(contact(9).ID, rnd); ok {
		t.Fatal("removing an unknown link drew a replacement")
	}
	if n.Count() != 2 || len(n.Links()) != 2 {
		t.Fatalf("Count %d, Links %d; want 2, 2", n.Count(), len(n.Links()))
	}
}
