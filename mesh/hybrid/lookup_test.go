package hybrid_test

import (
	"testing"

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
