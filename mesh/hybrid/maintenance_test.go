package hybrid_test

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"meshcomm/mesh"
	"meshcomm/mesh/hybrid"
)

// settledDHT grows a mesh of count nodes into DHT mode and lets it settle.
func settledDHT(t *testing.T, seed uint64, count int) *testNet {
	t.Helper()
	nt := newTestNet(t, seed, 1)
	nt.grow(count, 0, 0, 4, 100*time.Millisecond)
	nt.run(60 * time.Second)
	if flood, _ := nt.modes(); flood > 0 {
		t.Fatalf("%d of %d nodes still in flood mode after settling", flood, count)
	}
	return nt
}

// closestLive returns the n live nodes closest to a resource.
func (nt *testNet) closestLive(res mesh.ResourceID, n int) []int {
	live := nt.liveNodes()
	slices.SortFunc(live, func(a, b int) int {
		da, db := mesh.XOR(res, nt.nodes[a].ID()), mesh.XOR(res, nt.nodes[b].ID())
		return bytes.Compare(da[:], db[:])
	})
	return live[:min(n, len(live))]
}

func TestOwnerChecksTwoReplicasPerRoundInTurn(t *testing.T) {
	nt := settledDHT(t, 21, 120)
	owner := 7
	k := nt.regKey(owner)
	rounds := map[time.Time][]mesh.NodeID{}
	nt.tap = func(from int, to mesh.Contact, msg mesh.Message) {
		if m, ok := msg.(*mesh.Touch); ok && from == owner && len(m.Refs) == 1 && m.Refs[0].Resource == k.Resource {
			rounds[nt.now] = append(rounds[nt.now], to.ID)
		}
	}
	nt.run(40 * time.Second) // at least five rounds (every 4-8 s)
	var times []time.Time
	for at := range rounds {
		times = append(times, at)
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	if len(times) < 5 {
		t.Fatalf("the owner checked its record's replicas in %d rounds in 40 s, want at least 5", len(times))
	}
	for r, at := range times {
		if got := len(rounds[at]); got != 2 {
			t.Fatalf("round %d checked %d replicas, want 2", r, got)
		}
		if r == 0 {
			continue
		}
		// In turn: two rounds in a row check at least three different replicas (four, or three
		// when the owner is itself one of the R closest).
		both := map[mesh.NodeID]bool{}
		for _, id := range append(rounds[times[r-1]], rounds[at]...) {
			both[id] = true
		}
		if len(both) < 3 {
			t.Fatalf("rounds %d and %d checked the same replicas", r-1, r)
		}
	}
}

func TestLosingEveryReplicaIsNoticedAtTheNextRound(t *testing.T) {
	nt := settledDHT(t, 22, 120)
	owner := 11
	k := nt.regKey(owner)
	killed := 0
	for i := range nt.nodes {
		if _, ok := nt.nodes[i].Holds(k); ok && i != owner {
			nt.kill(i)
			killed++
		}
	}
	if killed < 3 {
		t.Fatalf("only %d holders of the record to kill", killed)
	}
	// The next round (at most TouchInterval away) checks a dead replica, which times out after
	// RequestTimeout; the owner then places the record anew.
	tu := hybrid.DefaultTuning()
	nt.run(tu.TouchInterval + tu.RequestTimeout + 500*time.Millisecond)
	held := 0
	for _, i := range nt.closestLive(k.Resource, tu.Replicas) {
		if _, ok := nt.nodes[i].Holds(k); ok {
			held++
		}
	}
	if held < tu.Replicas-1 {
		t.Fatalf("%v after its %d holders died, %d of the %d closest live nodes hold the record", tu.TouchInterval+tu.RequestTimeout, killed, held, tu.Replicas)
	}
}

func TestHandOffAsksOnePeerOfTheRecordsSliceAndLetsGoOnceConfirmed(t *testing.T) {
	nt := settledDHT(t, 23, 150)
	owner := 5
	k := nt.regKey(owner)
	var rec mesh.Record
	for _, i := range nt.liveNodes() {
		if r, ok := nt.nodes[i].Holds(k); ok && i != owner {
			rec = r
			break
		}
	}
	// A node of another slice is handed the record, as a node that has just joined might be.
	bits := nt.nodes[0].Status().SliceBits
	if bits == 0 {
		t.Fatal("the mesh uses a single slice; nothing to hand across")
	}
	holder := -1
	for _, i := range nt.liveNodes() {
		if mesh.Prefix(nt.nodes[i].ID(), bits) != mesh.Prefix(k.Resource, bits) && i != owner {
			holder = i
			break
		}
	}
	finds, touches := 0, 0
	nt.tap = func(from int, to mesh.Contact, msg mesh.Message) {
		if from != holder {
			return
		}
		switch m := msg.(type) {
		case *mesh.FindNode:
			if m.Target == [mesh.IDBytes]byte(k.Resource) {
				finds++
			}
		case *mesh.Touch:
			if len(m.Refs) == 1 && m.Refs[0].Resource == k.Resource {
				touches++
			}
		}
	}
	nt.nodes[holder].Step(nt.now, mesh.Contact{ID: nt.nodes[owner].ID()}, &mesh.Store{Records: []mesh.Record{rec}})
	nt.flush(holder)
	if _, ok := nt.nodes[holder].Holds(k); !ok {
		t.Fatal("the node refused a valid record")
	}
	nt.run(30 * time.Second) // a few sweeps
	if _, ok := nt.nodes[holder].Holds(k); ok {
		t.Fatalf("the node still holds a record of another slice after 30 s (%d FindNode, %d Touch)", finds, touches)
	}
	if finds != 1 {
		t.Fatalf("the hand-off sent %d FindNode for the record's replicas, want 1 (a peer of that slice knows it whole)", finds)
	}
	if touches < hybrid.DefaultTuning().Replicas-1 {
		t.Fatalf("the hand-off confirmed %d replicas before letting go", touches)
	}
	for _, i := range nt.closestLive(k.Resource, hybrid.DefaultTuning().Replicas) {
		if _, ok := nt.nodes[i].Holds(k); !ok {
			t.Fatalf("replica %d lacks the record after the hand-off", i)
		}
	}
}

func TestJoiningNodeGreetsOnlyItsOwnSlice(t *testing.T) {
	nt := settledDHT(t, 24, 300)
	bits := nt.nodes[0].Status().SliceBits
	if bits < 2 {
		t.Fatalf("slice width %d: the mesh is too small for this test", bits)
	}
	newcomer := len(nt.nodes)
	var greeted []mesh.NodeID
	nt.tap = func(from int, to mesh.Contact, msg mesh.Message) {
		if _, ok := msg.(*mesh.Hello); ok && from == newcomer {
			greeted = append(greeted, to.ID)
		}
	}
	nt.add(0, 0, 2)
	nt.run(5 * time.Second)
	if nt.nodes[newcomer].Status().Mode != mesh.ModeDHT {
		t.Fatal("the newcomer did not join the DHT")
	}
	self := nt.nodes[newcomer].ID()
	outside, inside := 0, 0
	for _, id := range greeted {
		if mesh.Prefix(id, bits) == mesh.Prefix(self, bits) {
			inside++
		} else {
			outside++
		}
	}
	members := 0
	for i := 0; i < newcomer; i++ {
		if mesh.Prefix(nt.nodes[i].ID(), bits) == mesh.Prefix(self, bits) {
			members++
		}
	}
	// Its direct links hear from it whatever their slice (its mode changes), twice at most.
	if outside > 4 {
		t.Fatalf("the newcomer greeted %d peers outside its slice (and %d of the %d inside)", outside, inside, members)
	}
	// Every member of its slice learns of it (from its greeting, or from the members it
	// greeted: they probe new members and share what they know).
	nt.run(25 * time.Second)
	unaware := 0
	for i := 0; i < newcomer; i++ {
		if mesh.Prefix(nt.nodes[i].ID(), bits) != mesh.Prefix(self, bits) {
			continue
		}
		if !slices.ContainsFunc(nt.nodes[i].Peers(), func(c mesh.Contact) bool { return c.ID == self }) {
			unaware++
		}
	}
	if unaware > 0 {
		t.Fatalf("30 s after joining, %d of the %d members of its slice do not know the newcomer (it greeted %d)", unaware, members, inside)
	}
}

// An owner whose replicas stopped answering places its record without asking them again, and
// within a second of noticing: after a partition they are the only peers of the record's slice
// it knows, and each would cost the lookup a timeout.
func TestPlacementPassesOverTheReplicasThatFailed(t *testing.T) {
	nt := settledDHT(t, 27, 150)
	tu := hybrid.DefaultTuning()
	owner := 13
	k := nt.regKey(owner)
	dead := map[mesh.NodeID]bool{}
	for _, i := range nt.liveNodes() {
		if _, ok := nt.nodes[i].Holds(k); ok && i != owner {
			nt.kill(i)
			dead[nt.nodes[i].ID()] = true
		}
	}
	touched := map[mesh.NodeID]time.Time{} // dead replicas checked, and when
	var asked []mesh.NodeID                // dead replicas the owner asked for the record's slice after their check failed
	var stored time.Time
	nt.tap = func(from int, to mesh.Contact, msg mesh.Message) {
		if from != owner {
			return
		}
		switch m := msg.(type) {
		case *mesh.Touch:
			if dead[to.ID] && len(m.Refs) == 1 && m.Refs[0].Resource == k.Resource {
				touched[to.ID] = nt.now
			}
		case *mesh.FindNode:
			if at, ok := touched[to.ID]; ok && m.Target == [mesh.IDBytes]byte(k.Resource) && nt.now.Sub(at) >= tu.RequestTimeout {
				asked = append(asked, to.ID)
			}
		case *mesh.Store:
			if stored.IsZero() && !dead[to.ID] && len(m.Records) == 1 && m.Records[0].RecordKey() == k {
				stored = nt.now
			}
		}
	}
	nt.run(tu.TouchInterval + 3*time.Second)
	if len(touched) == 0 || stored.IsZero() {
		t.Fatalf("checked %d dead replicas; stored anew: %v", len(touched), !stored.IsZero())
	}
	if len(asked) > 0 {
		t.Fatalf("the placement asked %d replicas that had already failed to answer", len(asked))
	}
	first := nt.now
	for _, at := range touched {
		if at.Before(first) {
			first = at
		}
	}
	if took := stored.Sub(first.Add(tu.RequestTimeout)); took > time.Second {
		t.Fatalf("the record was stored anew %v after the first check timed out", took)
	}
}
