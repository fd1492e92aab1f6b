package lab

import (
	"testing"
	"time"
)

// Six nodes split 3+3 by radio. Each side keeps working: its links across time out, and a
// laptop that arrives on one side during the split is resolved by its own side and by no one
// across. When the split heals, every node resolves every registration again, newcomers
// included; the test logs how long that took.
func TestPartitionThreeThreeThenHeal(t *testing.T) {
	c := newCluster(t, "part", 6, perfect)
	enrolAll(t, c, "alpha", span(1, 6)...)
	sideA, sideB := []int{1, 2, 3}, []int{4, 5, 6}
	procs := map[int]*Process{}
	first := []int{1, 2, 4, 5} // 3 and 6 arrive during the split
	for _, n := range first {
		procs[n] = start(t, c, n, "--ext", ext(n))
	}
	waitFor(t, time.Minute, "the first four to resolve each other", func() (bool, string) {
		return resolves(c, first, targetsOf(c, procs, first...))
	})

	if err := c.Emulator().Partition(sideA, sideB); err != nil {
		t.Fatal(err)
	}
	d := waitFor(t, time.Minute, "the links across the split to go down", func() (bool, string) {
		return linkedExactly(c, map[int][]string{1: idsOf(procs, 2), 2: idsOf(procs, 1), 4: idsOf(procs, 5), 5: idsOf(procs, 4)})
	})
	t.Logf("links across the split went down %v after it (the transport's idle timeout)", d.Round(time.Millisecond))

	procs[3] = start(t, c, 3, "--ext", ext(3))
	procs[6] = start(t, c, 6, "--ext", ext(6))
	d = waitFor(t, time.Minute, "each side to resolve its own side, newcomer included", func() (bool, string) {
		okA, whyA := resolves(c, sideA, targetsOf(c, procs, sideA...))
		okB, whyB := resolves(c, sideB, targetsOf(c, procs, sideB...))
		return okA && okB, whyA + " " + whyB
	})
	t.Logf("during the split each side resolved its newcomer %v after it was ready", d.Round(time.Millisecond))
	if ok, why := resolvesNone(c, sideA, targetsOf(c, procs, 6)); !ok {
		t.Errorf("side A resolves side B's newcomer across the split: %s", why)
	}
	if ok, why := resolvesNone(c, sideB, targetsOf(c, procs, 3)); !ok {
		t.Errorf("side B resolves side A's newcomer across the split: %s", why)
	}
	if ok, why := linkedExactly(c, map[int][]string{3: idsOf(procs, 1, 2), 6: idsOf(procs, 4, 5)}); !ok {
		t.Errorf("newcomers' links during the split: %s", why)
	}

	all := span(1, 6)
	ws := watchAll(t, c, all...)
	healed := time.Now()
	c.Emulator().Heal()
	want := map[int][]string{}
	for _, n := range sideA {
		want[n] = aorsOf(targetsOf(c, procs, 6))
	}
	for _, n := range sideB {
		want[n] = aorsOf(targetsOf(c, procs, 3))
	}
	who, last := latest(learnt(t, ws, want, time.Minute))
	t.Logf("heal: every node held the other side's newcomer %v after the radio healed (last: node %d)",
		last.Sub(healed).Round(time.Millisecond), who)
	waitFor(t, time.Minute, "every node to resolve every registration after the heal", func() (bool, string) {
		return resolves(c, all, targetsOf(c, procs, all...))
	})
	t.Logf("heal: all six resolved all six %v after the radio healed", time.Since(healed).Round(time.Millisecond))
	waitFor(t, 30*time.Second, "every node to count six nodes", func() (bool, string) { return sizeIs(c, all, 6) })
}
