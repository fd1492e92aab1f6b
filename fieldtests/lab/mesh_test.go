package lab

import (
	"testing"
	"time"
)

// Six laptops, each given nothing but an extension (and an enrolment bundle from one incident
// CA, see below), come up in radio range of each other: they find each other, form one mesh,
// and every registration resolves from every node to the node that made it.
//
// Zero set-up alone does not make one team: a node started with only --ext creates a team CA
// of its own (identity.Bootstrap), so six such laptops are six teams that trust nobody (see
// TestTrustingTeamsMergeUntrustedDoesNot, whose untrusted node is exactly that). Laptops of one
// incident are enrolled from one CA, as here.
func TestSixLaptopsFormOneMesh(t *testing.T) {
	const nodes = 6
	c := newCluster(t, "mesh", nodes, perfect)
	enrolAll(t, c, "alpha", span(1, nodes)...)
	procs := map[int]*Process{}
	began := time.Now()
	for n := 1; n <= nodes; n++ {
		procs[n] = start(t, c, n, "--ext", ext(n))
	}
	all := span(1, nodes)
	d := waitFor(t, time.Minute, "every node to resolve every registration", func() (bool, string) {
		return resolves(c, all, targetsOf(c, procs, all...))
	})
	t.Logf("six daemons started in %v; every node resolved all six registrations %v after the last was ready",
		procs[nodes].ReadyAt.Sub(began).Round(time.Millisecond), d.Round(time.Millisecond))

	waitFor(t, 30*time.Second, "every node to count six nodes", func() (bool, string) { return sizeIs(c, all, nodes) })
	for n := 1; n <= nodes; n++ {
		st, err := c.Status(n)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode != "flood" || len(st.Peers) != nodes-1 {
			t.Errorf("node %d: %s mode, %d peers linked; want flood mode and %d links (all in radio range)", n, st.Mode, len(st.Peers), nodes-1)
		}
		if st.AoR != "sip:"+ext(n)+"@alpha" || st.NodeID != procs[n].Ready.NodeID {
			t.Errorf("node %d reports %s node %s, want sip:%s@alpha node %s", n, st.AoR, st.NodeID, ext(n), procs[n].Ready.NodeID)
		}
		if len(st.Untrusted) != 0 {
			t.Errorf("node %d reports untrusted teams in a one-team lab: %+v", n, st.Untrusted)
		}
		if bad := st.Counters.BadFrames; len(bad) != 0 {
			t.Errorf("node %d counted bad frames: %v", n, bad)
		}
	}
	// A bare extension is resolved in the node's own team, as a user would type it.
	lr, err := c.Lookup(1, ext(6), lookupTimeout)
	if err != nil || !lr.Found || lr.AoR != "sip:106@alpha" || lr.NodeID != procs[6].Ready.NodeID {
		t.Errorf("lookup 106 at node 1: %+v, %v", lr, err)
	}
	// An extension nobody registered is not found.
	lr, err = c.Lookup(1, "199", lookupTimeout)
	if err != nil || lr.Found {
		t.Errorf("lookup of an unregistered extension: %+v, %v", lr, err)
	}
	t.Logf("a lookup of an unregistered extension answered not found after %.1f ms (%d hops)", lr.ElapsedMs, lr.Hops)
}
