package lab

import (
	"fmt"
	"testing"
	"time"

	"meshcomm/node"
)

// expiryLead is how long after its start the clock-behind node's registration expires.
const expiryLead = 30 * time.Second

// kill -9 of two nodes of six: the other four keep resolving each other, their links to the
// dead time out, and nobody refreshes the dead nodes' registrations. Node 5 is a real daemon:
// its registration, held by the others, keeps the expiry it was signed with, an hour
// (node.RegistrationTTL) after it started, and when 5 comes back it publishes afresh. Node 6 is
// the daemon's runtime with its clock behind (see runHelperNode), so that its registration
// expires expiryLead after it started: the others stop resolving it at that expiry, neither
// sooner nor later than a few seconds.
func TestKillNineLeavesTheRestWorking(t *testing.T) {
	c := newCluster(t, "kill", 6, perfect)
	enrolAll(t, c, "alpha", span(1, 6)...)
	procs := map[int]*Process{}
	for n := 1; n <= 5; n++ {
		procs[n] = start(t, c, n, "--ext", ext(n))
	}
	var err error
	if procs[6], err = startBehind(c, 6, node.RegistrationTTL-expiryLead); err != nil {
		t.Fatal(err)
	}
	all, survivors := span(1, 6), span(1, 4)
	waitFor(t, time.Minute, "every node to resolve every registration", func() (bool, string) {
		return resolves(c, all, targetsOf(c, procs, all...))
	})
	reg5, err := registrationAt(c, 1, procs[5].Ready.AoR)
	if err != nil {
		t.Fatal(err)
	}
	reg6, err := registrationAt(c, 1, procs[6].Ready.AoR)
	if err != nil {
		t.Fatal(err)
	}
	within(t, "node 5's registration expiry", reg5.Expiry, procs[5].Started.Add(node.RegistrationTTL), procs[5].ReadyAt.Add(node.RegistrationTTL))
	within(t, "node 6's registration expiry", reg6.Expiry, procs[6].Started.Add(expiryLead), procs[6].ReadyAt.Add(expiryLead))

	killed := time.Now()
	for _, n := range []int{5, 6} {
		if err := procs[n].Kill(); err != nil {
			t.Fatal(err)
		}
	}
	if ok, why := resolves(c, survivors, targetsOf(c, procs, survivors...)); !ok {
		t.Errorf("right after kill -9 the survivors do not resolve each other: %s", why)
	}

	// Watch, until 6's registration has expired everywhere: when each survivor stops resolving
	// it, and when its links to the dead go down.
	gone6 := map[int]time.Time{}
	unlinked := map[int]time.Time{}
	dead := map[string]bool{procs[5].Ready.NodeID: true, procs[6].Ready.NodeID: true}
	waitFor(t, time.Until(reg6.Expiry)+time.Minute, "node 6's registration to expire and the links to the dead to go down", func() (bool, string) {
		asked := time.Now() // a lookup looks in the local store first, when it starts
		for _, a := range lookupAll(c, survivors, targetsOf(c, procs, 6)) {
			if a.err == nil && !a.lr.Found && gone6[a.n].IsZero() {
				gone6[a.n] = asked
			}
		}
		for _, n := range survivors {
			if peers, err := c.Peers(n); err == nil && unlinked[n].IsZero() && !linkedToAny(peers, dead) {
				unlinked[n] = time.Now()
			}
		}
		return len(gone6) == len(survivors) && len(unlinked) == len(survivors),
			fmt.Sprintf("node 6 gone at %d of %d survivors, links to the dead gone at %d", len(gone6), len(survivors), len(unlinked))
	})
	for _, n := range survivors {
		t.Logf("node %d: links to the dead went down %v after kill -9; node 6's registration stopped resolving %+v from its expiry",
			n, unlinked[n].Sub(killed).Round(time.Millisecond), gone6[n].Sub(reg6.Expiry).Round(time.Millisecond))
		// A round of lookups and peer lists takes up to a few seconds (a miss asks the
		// neighbours), so "at its expiry" means within a few seconds of it.
		within(t, fmt.Sprintf("node %d: node 6's registration gone", n), gone6[n], reg6.Expiry, reg6.Expiry.Add(4*time.Second))
	}
	if ok, why := resolves(c, survivors, targetsOf(c, procs, survivors...)); !ok {
		t.Errorf("after the dead were noticed the survivors do not resolve each other: %s", why)
	}
	// Node 5's registration is held unchanged: nobody refreshes a dead node's record, and it
	// lasts until the expiry its owner signed.
	for _, n := range survivors {
		r, err := registrationAt(c, n, procs[5].Ready.AoR)
		if err != nil {
			t.Error(err)
			continue
		}
		if r.Version != reg5.Version || !r.Expiry.Equal(reg5.Expiry) {
			t.Errorf("node %d holds node 5's registration as version %d expiring %v, was version %d expiring %v",
				n, r.Version, r.Expiry, reg5.Version, reg5.Expiry)
		}
	}

	// Node 5 comes back on its data directory: its registration is published afresh.
	procs[5] = start(t, c, 5, "--ext", ext(5))
	back := span(1, 5)
	waitFor(t, time.Minute, "every node to resolve node 5 again, newer", func() (bool, string) {
		if ok, why := resolves(c, back, targetsOf(c, procs, back...)); !ok {
			return false, why
		}
		for _, n := range survivors {
			if r, err := registrationAt(c, n, procs[5].Ready.AoR); err != nil || r.Version <= reg5.Version {
				return false, fmt.Sprintf("node %d holds node 5's registration version %d (was %d) %v", n, r.Version, reg5.Version, err)
			}
		}
		return true, ""
	})
}

// registrationAt is the live registration of aor that node n holds.
func registrationAt(c *Cluster, n int, aor string) (node.RecordInfo, error) {
	recs, err := c.Records(n, "registration")
	if err != nil {
		return node.RecordInfo{}, err
	}
	for _, r := range recs {
		if r.AoR == aor && !r.Deleted {
			return r, nil
		}
	}
	return node.RecordInfo{}, fmt.Errorf("node %d holds no registration of %s", n, aor)
}

func linkedToAny(peers []node.PeerInfo, ids map[string]bool) bool {
	for _, p := range peers {
		if ids[p.NodeID] {
			return true
		}
	}
	return false
}

// within fails the test unless lo - 1 s <= at <= hi + 1 s (records carry milliseconds, the
// processes' start times are taken around them).
func within(t *testing.T, what string, at, lo, hi time.Time) {
	t.Helper()
	if at.Before(lo.Add(-time.Second)) || at.After(hi.Add(time.Second)) {
		t.Errorf("%s at %s, want between %s and %s", what, at.Format(time.StampMilli), lo.Format(time.StampMilli), hi.Format(time.StampMilli))
	}
}
