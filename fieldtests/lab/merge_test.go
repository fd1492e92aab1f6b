package lab

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"meshcomm/node"
)

// Two teams, started separately from two CAs that trust each other, meet when one laptop of
// each comes into range of one of the other (a single contact): they merge into one mesh in
// which every registration of both teams resolves everywhere. A laptop of a third team, whose
// CA nobody trusts, hears everyone all along: it is reported as an untrusted team nearby, and
// it neither joins nor lets the two teams merge through it.
func TestTrustingTeamsMergeUntrustedDoesNot(t *testing.T) {
	const stranger = 7
	c := newCluster(t, "merge", 7, perfect)
	teamA, teamB := []int{1, 2, 3}, []int{4, 5, 6}
	if err := c.Emulator().Partition(teamA, teamB); err != nil {
		t.Fatal(err)
	}
	if err := c.Emulator().Move(stranger, span(1, 6)); err != nil {
		t.Fatal(err)
	}
	alpha, err := c.NewTeam("alpha")
	if err != nil {
		t.Fatal(err)
	}
	bravo, err := c.NewTeam("bravo")
	if err != nil {
		t.Fatal(err)
	}
	// Both teams use extensions 101-103: the team is part of the address.
	for i, n := range teamA {
		if err := alpha.Enroll(n, ext(i+1)); err != nil {
			t.Fatal(err)
		}
		if err := c.Trust(n, bravo); err != nil {
			t.Fatal(err)
		}
	}
	for i, n := range teamB {
		if err := bravo.Enroll(n, ext(i+1)); err != nil {
			t.Fatal(err)
		}
		if err := c.Trust(n, alpha); err != nil {
			t.Fatal(err)
		}
	}
	procs := map[int]*Process{}
	for n := 1; n <= 6; n++ {
		procs[n] = start(t, c, n)
	}
	procs[stranger] = start(t, c, stranger, "--ext", ext(1)) // zero set-up: a team CA of its own
	st, err := c.Status(stranger)
	if err != nil {
		t.Fatal(err)
	}
	strangerTeam := st.Team

	waitFor(t, time.Minute, "each team to form its own mesh", func() (bool, string) {
		okA, whyA := resolves(c, teamA, targetsOf(c, procs, teamA...))
		okB, whyB := resolves(c, teamB, targetsOf(c, procs, teamB...))
		return okA && okB, whyA + " " + whyB
	})
	d := waitFor(t, time.Minute, "the teams and the stranger to report each other as untrusted teams nearby", func() (bool, string) {
		okT, whyT := reportsUntrusted(c, span(1, 6), strangerTeam)
		okS, whyS := reportsUntrusted(c, []int{stranger}, "alpha", "bravo")
		return okT && okS, whyT + " " + whyS
	})
	t.Logf("the teams and team %s reported each other as untrusted nearby %v after the teams formed", strangerTeam, d.Round(time.Millisecond))
	// Not merged, not through the stranger either.
	if ok, why := resolvesNone(c, teamA, targetsOf(c, procs, teamB...)); !ok {
		t.Errorf("before any contact: %s", why)
	}
	if ok, why := resolvesNone(c, teamB, targetsOf(c, procs, teamA...)); !ok {
		t.Errorf("before any contact: %s", why)
	}

	both := span(1, 6)
	ws := watchAll(t, c, both...)
	contact := time.Now()
	if err := c.Emulator().LinkUp(3, 4); err != nil {
		t.Fatal(err)
	}
	want := map[int][]string{}
	for _, n := range teamA {
		want[n] = aorsOf(targetsOf(c, procs, teamB...))
	}
	for _, n := range teamB {
		want[n] = aorsOf(targetsOf(c, procs, teamA...))
	}
	who, last := latest(learnt(t, ws, want, time.Minute))
	t.Logf("merge: every node held the other team's registrations %v after the one contact link came up (last: node %d)",
		last.Sub(contact).Round(time.Millisecond), who)
	waitFor(t, time.Minute, "every node to resolve both teams", func() (bool, string) {
		return resolves(c, both, targetsOf(c, procs, both...))
	})
	d = waitFor(t, 30*time.Second, "every node to count six nodes", func() (bool, string) { return sizeIs(c, both, 6) })
	t.Logf("size estimates reached six %v later", d.Round(time.Millisecond))

	if ok, why := resolvesNone(c, both, targetsOf(c, procs, stranger)); !ok {
		t.Errorf("the untrusted team's registration: %s", why)
	}
	if ok, why := resolvesNone(c, []int{stranger}, targetsOf(c, procs, both...)); !ok {
		t.Errorf("the stranger resolves the teams: %s", why)
	}
	for n := 1; n <= stranger; n++ {
		peers, err := c.Peers(n)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range peers {
			if n == stranger || p.NodeID == procs[stranger].Ready.NodeID {
				t.Errorf("node %d is linked to %s (%s) across the trust boundary", n, p.AoR, p.NodeID)
			}
		}
	}
	if st, err := c.Status(stranger); err != nil || st.SizeEstimate != 1 {
		t.Errorf("the stranger's view of the mesh: %d nodes, %v; want only itself", st.SizeEstimate, err)
	}
}

// reportsUntrusted reports whether every node in ns shows each team as "untrusted team nearby".
func reportsUntrusted(c *Cluster, ns []int, teams ...string) (bool, string) {
	var missing []string
	for _, n := range ns {
		st, err := c.Status(n)
		if err != nil {
			missing = append(missing, err.Error())
			continue
		}
		for _, team := range teams {
			if !slices.ContainsFunc(st.Untrusted, func(u node.UntrustedTeam) bool { return u.Team == team }) {
				missing = append(missing, "node "+strconv.Itoa(n)+" does not report "+team)
			}
		}
	}
	return len(missing) == 0, summarise(missing)
}
