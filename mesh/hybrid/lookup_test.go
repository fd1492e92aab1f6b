package hybrid_test

import (
	"testing"
	"time"

	"meshcomm/mesh"
	"meshcomm/mesh/hybrid"
)

// A lookup whose first peers are dead asks the next ones once their requests are slow, well
// before those requests time out. (After a partition the peers named first are often on the far
// side; waiting out each one's timeout in turn cost re-placements and lookups seconds.)
func TestLookupPastDeadPeersAsksOnWithoutWaitingForTheirTimeouts(t *testing.T) {
	nt := settledDHT(t, 25, 150)
	tu := hybrid.DefaultTuning()
	bits := nt.nodes[0].Status().SliceBits
	// Find an owner whose record's slice has a member far enough from the record that it is
	// no holder: that member knows the slice whole, so it asks the closest peers first.
	for owner := range nt.nodes {
		k := nt.regKey(owner)
		ranked := nt.closestLive(k.Resource, len(nt.nodes))
		requester := -1
		for rank, i := range ranked {
			if rank >= tu.Replicas+4 && i != owner && mesh.Prefix(nt.nodes[i].ID(), bits) == mesh.Prefix(k.Resource, bits) {
				requester = i
				break
			}
		}
		dead := ranked[:tu.Alpha]
		if requester < 0 || owner == dead[0] || owner == dead[1] || owner == dead[2] {
			continue
		}
		if _, ok := nt.nodes[requester].Holds(k); ok {
			continue
		}
		for _, i := range dead {
			nt.kill(i)
		}
		var asked []mesh.NodeID
		nt.tap = func(from int, to mesh.Contact, msg mesh.Message) {
			if m, ok := msg.(*mesh.FindValue); ok && from == requester && m.Resource == k.Resource {
				asked = append(asked, to.ID)
			}
		}
		start := nt.now
		done := nt.lookup(requester, owner)
		if !done.Found {
			t.Fatalf("the lookup missed the record held by the live replicas past %d dead ones", len(dead))
		}
		// The requester knows the slice whole: its first requests went to the dead closest.
		for j, i := range dead {
			if j >= len(asked) || asked[j] != nt.nodes[i].ID() {
				t.Fatalf("the first requests went to %v, not to the %d dead closest", asked, len(dead))
			}
		}
		took := nt.now.Sub(start)
		if took >= tu.RequestTimeout {
			t.Fatalf("the lookup took %v: it waited for the dead peers' timeouts (%v)", took, tu.RequestTimeout)
		}
		return
	}
	t.Fatal("no owner with a requester in its record's slice beyond the holders")
}

// A lookup whose first try met dead replicas keeps retrying, skipping them, until the owner has
// placed the record anew (within its 14 s), even though its later tries hear from every peer.
func TestLookupRetriesUntilTheOwnerReplacesLostReplicas(t *testing.T) {
	nt := settledDHT(t, 26, 150)
	tu := hybrid.DefaultTuning()
	owner := 9
	k := nt.regKey(owner)
	// Wait for the owner's next check round to be answered: the next is 4-8 s away.
	checked := false
	nt.tap = func(from int, to mesh.Contact, msg mesh.Message) {
		if m, ok := msg.(*mesh.Touch); ok && from == owner && len(m.Refs) == 1 && m.Refs[0].Resource == k.Resource {
			checked = true
		}
	}
	for !checked {
		nt.run(50 * time.Millisecond)
	}
	nt.tap = nil
	nt.run(100 * time.Millisecond)
	requester := -1
	for _, i := range nt.liveNodes() {
		if _, ok := nt.nodes[i].Holds(k); ok && i != owner {
			nt.kill(i)
		} else if i != owner && requester < 0 {
			requester = i
		}
	}
	if nt.holders(k) != 1 {
		t.Fatalf("%d holders left, want the owner alone", nt.holders(k))
	}
	// Its retries also ask peers of other slices, whose views of the record's slice differ
	// from those of the requester's own slice.
	bits := nt.nodes[0].Status().SliceBits
	sliceOf := func(id [mesh.IDBytes]byte) uint32 { return mesh.Prefix(id, bits) }
	others := 0
	nt.tap = func(from int, to mesh.Contact, msg mesh.Message) {
		if m, ok := msg.(*mesh.FindValue); ok && from == requester && m.Resource == k.Resource &&
			sliceOf(to.ID) != sliceOf(k.Resource) && sliceOf(to.ID) != sliceOf(nt.nodes[requester].ID()) {
			others++
		}
	}
	start := nt.now
	done := nt.lookup(requester, owner)
	if !done.Found {
		t.Fatalf("the lookup gave up after %v, before the owner placed the record anew", nt.now.Sub(start))
	}
	if took := nt.now.Sub(start); took < 2*tu.RequestTimeout {
		t.Fatalf("found after %v: the record was never out of reach, the test proves nothing", took)
	}
	if others < tu.Alpha {
		t.Fatalf("the retries asked %d peers of third slices, want at least %d", others, tu.Alpha)
	}
}

// A lookup answers within Tuning.LookupTimeout even when nobody answers it (the runtime's
// callers wait 15 s at most), not at the housekeeping tick after.
func TestLookupEndsOnTimeWhenNobodyAnswers(t *testing.T) {
	nt := settledDHT(t, 29, 120)
	tu := hybrid.DefaultTuning()
	requester, owner := 3, 4
	for _, i := range nt.liveNodes() {
		if i != requester {
			nt.kill(i)
		}
	}
	for _, delay := range []time.Duration{0, 700 * time.Millisecond, 1300 * time.Millisecond} {
		nt.run(delay) // start at different phases of the housekeeping cycle
		start := nt.now
		if done := nt.lookup(requester, owner); done.Found {
			t.Fatal("found a record whose every holder is dead")
		}
		if took := nt.now.Sub(start); took > tu.LookupTimeout+20*time.Millisecond {
			t.Fatalf("the lookup answered after %v, past its %v", took, tu.LookupTimeout)
		}
	}
}
