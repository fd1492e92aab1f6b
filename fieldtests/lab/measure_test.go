package lab

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"meshcomm/node"
)

// The measurements print figures against the field targets; they assert only that the lab
// worked, never a duration. Run them with
//
//	MESHCOMM_LAB_MEASURE=1 go test -run TestMeasure -v -timeout 30m ./fieldtests/lab/
//
// MESHCOMM_MEASURE_SECONDS sets the idle window (default 60), MESHCOMM_LAB_TRIALS the number of
// first-contact and join trials (default 20 and 10), MESHCOMM_LAB_ARRIVALS the number of
// steady-state arrivals into the twenty (default 5).
func measuring(t *testing.T) {
	if os.Getenv("MESHCOMM_LAB_MEASURE") == "" {
		t.Skip("a measurement: set MESHCOMM_LAB_MEASURE=1 to run it")
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// steadyAfter is how long nodes run before a first-contact trial: past discovery's fast query
// period (10 s), so the trial sees the steady state in which laptops spend their day.
const steadyAfter = 15 * time.Second

// First contact after link-up: pairs of nodes that have never met run in steady state, each
// pair out of range of everyone, the two of a pair started at unrelated moments; each pair's
// link comes up at a random moment within a 25 s window (longer than discovery's 20 s query
// interval, so the moments fall at every phase of it), and the time until the link is up
// (peer-up at the first node, by the daemon's clock) and until the first node holds the
// second's registration is measured. One pair per trial, so trials are independent.
func TestMeasureFirstContact(t *testing.T) {
	measuring(t)
	pairs := envInt("MESHCOMM_LAB_TRIALS", 20)
	c := newCluster(t, "contact", 2*pairs, perfect)
	if err := c.Emulator().Partition(); err != nil { // everyone out of range
		t.Fatal(err)
	}
	enrolAll(t, c, "alpha", span(1, 2*pairs)...)
	procs := map[int]*Process{}
	firsts := make([]int, pairs)
	for k := range firsts {
		firsts[k] = 2*k + 1
		procs[2*k+1] = start(t, c, 2*k+1, "--ext", ext(2*k+1))
	}
	// The second node of each pair starts at a random moment within one query interval, so
	// that the two nodes' discovery schedules are as unrelated as two laptops' are (started
	// together, they would query in step).
	rnd := rand.New(rand.NewPCG(7, 7))
	schedule(pairs, rnd, 20*time.Second, func(k int) { procs[2*k+2] = start(t, c, 2*k+2, "--ext", ext(2*k+2)) })
	ws := watchAll(t, c, firsts...)
	time.Sleep(steadyAfter) // the condition measured, not a synchronisation: nodes in steady state

	// Each pair's link comes up at a random moment within a window longer than the query
	// interval.
	up := make([]time.Time, pairs)
	schedule(pairs, rnd, 25*time.Second, func(k int) {
		up[k] = time.Now()
		if err := c.Emulator().LinkUp(2*k+1, 2*k+2); err != nil {
			t.Fatal(err)
		}
	})
	var contact, learnt durations
	deadline := time.After(time.Minute)
	for k := range pairs {
		a, b := 2*k+1, 2*k+2
		var linked, held time.Time
		for linked.IsZero() || held.IsZero() {
			select {
			case ev, ok := <-ws[a].Events:
				if !ok {
					t.Fatalf("node %d: the event watch ended", a)
				}
				if ev.Type == node.EventPeerUp && ev.Peer == procs[b].Ready.NodeID && linked.IsZero() {
					linked = ev.Time
				}
				if ev.Type == node.EventRecord && ev.Kind == "registration" && ev.AoR == procs[b].Ready.AoR && held.IsZero() {
					held = ev.Time
				}
			case <-deadline:
				t.Fatalf("pair %d-%d: no contact within a minute of link-up", a, b)
			}
		}
		contact = append(contact, linked.Sub(up[k]))
		learnt = append(learnt, held.Sub(up[k]))
	}
	fmt.Printf("first contact after link-up (QUIC link up), %d pairs in steady state: %s (target: median <= 1 s)\n", pairs, contact)
	fmt.Printf("registration learnt after link-up:                        %s\n", learnt)
}

// Join and idle cost at 20 nodes: 20 daemons in one radio range form a mesh and settle; over an
// idle window the test samples each daemon's resident memory and CPU time (/proc) and the bytes
// the radio carried per node (the emulator's counters); then fresh laptops join one at a time
// (each leaves cleanly before the next) and the time from process start until the joiner holds
// all 20 registrations and all 20 hold its registration is measured.
func TestMeasureTwentyNodes(t *testing.T) {
	measuring(t)
	const nodes = 20
	joiner := nodes + 1
	window := time.Duration(envInt("MESHCOMM_MEASURE_SECONDS", 60)) * time.Second
	c := newCluster(t, "twenty", joiner, perfect)
	if err := c.Emulator().Move(joiner, nil); err != nil { // the joiner's laptop is not here yet
		t.Fatal(err)
	}
	team := enrolAll(t, c, "alpha", span(1, nodes)...)
	procs := map[int]*Process{}
	for n := 1; n <= nodes; n++ {
		procs[n] = start(t, c, n, "--ext", ext(n))
	}
	mesh := span(1, nodes)
	// Polled through `records` (one command per node), not 400 lookups a round: a round of
	// lookups took seconds on this machine and dominated the figure.
	all := aorsOf(targetsOf(c, procs, mesh...))
	d := waitFor(t, 2*time.Minute, "the twenty to hold each other's registrations", func() (bool, string) {
		for _, n := range mesh {
			recs, err := c.Records(n, "registration")
			if err != nil {
				return false, err.Error()
			}
			if !holdsEvery(recs, all) {
				return false, fmt.Sprintf("node %d holds %d registrations", n, len(recs))
			}
		}
		return true, ""
	})
	fmt.Printf("20 daemons started together: every node held all 20 registrations %v after the last was ready\n", d.Round(time.Millisecond))
	waitFor(t, 2*time.Minute, "the twenty to resolve each other", func() (bool, string) {
		return resolves(c, mesh, targetsOf(c, procs, mesh...))
	})
	time.Sleep(steadyAfter) // the condition measured: past start-up reconciliation and discovery's fast period

	idleCost(t, c, procs, mesh, window)

	if err := c.Emulator().Move(joiner, mesh); err != nil {
		t.Fatal(err)
	}
	ws := watchAll(t, c, mesh...)
	var joined, fromReady durations
	for trial := range envInt("MESHCOMM_LAB_TRIALS", 10) {
		if err := os.RemoveAll(c.DataDir(joiner)); err != nil {
			t.Fatal(err)
		}
		e := strconv.Itoa(300 + trial)
		if err := team.Enroll(joiner, e); err != nil {
			t.Fatal(err)
		}
		p := start(t, c, joiner, "--ext", e)
		aors := aorsOf(targetsOf(c, procs, mesh...))
		var holdsAll time.Time
		for holdsAll.IsZero() {
			recs, err := c.Records(joiner, "registration")
			if err != nil {
				t.Fatal(err)
			}
			if holdsEvery(recs, aors) {
				holdsAll = time.Now()
			} else if time.Since(p.Started) > time.Minute {
				t.Fatalf("trial %d: the joiner does not hold every registration after a minute", trial)
			} else {
				time.Sleep(10 * time.Millisecond) // polling the joiner's store
			}
		}
		want := map[int][]string{}
		for _, n := range mesh {
			want[n] = []string{p.Ready.AoR}
		}
		_, heldByAll := latest(learnt(t, ws, want, time.Minute))
		done := holdsAll
		if heldByAll.After(done) {
			done = heldByAll
		}
		joined = append(joined, done.Sub(p.Started))
		fromReady = append(fromReady, done.Sub(p.ReadyAt))
		if err := p.Stop(); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Printf("join into a 20-node mesh, process start to registrations exchanged both ways: %s (target: <= 2 s)\n", joined)
	fmt.Printf("  the same from the daemon's ready line:                                       %s\n", fromReady)

	// A laptop that has been running out of range (past discovery's fast period) comes into
	// range of the twenty.
	var arrived, exchanged durations
	for trial := range envInt("MESHCOMM_LAB_ARRIVALS", 5) {
		if err := c.Emulator().Move(joiner, nil); err != nil {
			t.Fatal(err)
		}
		if err := os.RemoveAll(c.DataDir(joiner)); err != nil {
			t.Fatal(err)
		}
		e := strconv.Itoa(400 + trial)
		if err := team.Enroll(joiner, e); err != nil {
			t.Fatal(err)
		}
		p := start(t, c, joiner, "--ext", e)
		wj := watchAll(t, c, joiner)[joiner]
		time.Sleep(steadyAfter) // the condition measured: the newcomer in steady state
		inRange := time.Now()
		if err := c.Emulator().Move(joiner, mesh); err != nil {
			t.Fatal(err)
		}
		var first time.Time
		for first.IsZero() {
			select {
			case ev, ok := <-wj.Events:
				if !ok {
					t.Fatal("the newcomer's event watch ended")
				}
				if ev.Type == node.EventPeerUp {
					first = ev.Time
				}
			case <-time.After(time.Minute):
				t.Fatalf("arrival %d: no link within a minute of coming into range", trial)
			}
		}
		want := map[int][]string{joiner: aorsOf(targetsOf(c, procs, mesh...))}
		for _, n := range mesh {
			want[n] = []string{p.Ready.AoR}
		}
		_, done := latest(learnt(t, map[int]*Watcher{joiner: wj}, map[int][]string{joiner: want[joiner]}, time.Minute))
		delete(want, joiner)
		if _, d := latest(learnt(t, ws, want, time.Minute)); d.After(done) {
			done = d
		}
		arrived = append(arrived, first.Sub(inRange))
		exchanged = append(exchanged, done.Sub(inRange))
		if err := p.Stop(); err != nil {
			t.Fatal(err)
		}
		_ = wj.Close()
	}
	fmt.Printf("a laptop in steady state comes into range of the twenty: first link %s\n", arrived)
	fmt.Printf("  registrations exchanged both ways:                                %s\n", exchanged)
}

// schedule calls do(k) for k in 0..n-1, each at a moment drawn uniformly from [0, window)
// after the call, in time order, and returns after the last.
func schedule(n int, rnd *rand.Rand, window time.Duration, do func(k int)) {
	at := make([]time.Duration, n)
	order := make([]int, n)
	for k := range at {
		at[k], order[k] = time.Duration(rnd.Int64N(int64(window))), k
	}
	slices.SortFunc(order, func(a, b int) int { return int(at[a] - at[b]) })
	begin := time.Now()
	for _, k := range order {
		time.Sleep(time.Until(begin.Add(at[k]))) // the schedule measured
		do(k)
	}
}

func holdsEvery(recs []node.RecordInfo, aors []string) bool {
	have := map[string]bool{}
	for _, r := range recs {
		if !r.Deleted {
			have[r.AoR] = true
		}
	}
	for _, a := range aors {
		if !have[a] {
			return false
		}
	}
	return true
}

// idleCost samples the daemons and the radio over window and prints per-node figures.
func idleCost(t *testing.T, c *Cluster, procs map[int]*Process, ns []int, window time.Duration) {
	t.Helper()
	before := map[int]ProcSample{}
	for _, n := range ns {
		// `ip netns exec` executes the daemon in place: the pid is meshcomm's own.
		if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", procs[n].Pid())); err != nil || string(comm) != "meshcomm\n" {
			t.Fatalf("node %d: process %d is %q (%v), not meshcomm", n, procs[n].Pid(), comm, err)
		}
		s, err := ReadProc(procs[n].Pid())
		if err != nil {
			t.Fatal(err)
		}
		before[n] = s
	}
	stats0 := c.Emulator().Stats()
	time.Sleep(window) // the window measured
	stats1 := c.Emulator().Stats()
	var rss, peak, cpu, air, group, recv []float64
	for _, n := range ns {
		s, err := ReadProc(procs[n].Pid())
		if err != nil {
			t.Fatal(err)
		}
		rss = append(rss, float64(s.RSSKiB)/1024)
		peak = append(peak, float64(s.PeakKiB)/1024)
		cpu = append(cpu, 100*(s.CPUSeconds()-before[n].CPUSeconds())/window.Seconds())
		tx0, tx1 := stats0.Nodes[n-1], stats1.Nodes[n-1]
		air = append(air, float64(tx1.TransmittedBytes-tx0.TransmittedBytes)/window.Seconds())
		group = append(group, float64(tx1.TransmittedGroupBytes-tx0.TransmittedGroupBytes)/window.Seconds())
		var in uint64
		for _, m := range ns {
			if m != n {
				in += stats1.Pair(m, n).ForwardedBytes - stats0.Pair(m, n).ForwardedBytes
			}
		}
		recv = append(recv, float64(in)/window.Seconds())
	}
	fmt.Printf("idle cost at %d nodes over %v (per daemon: mean / max):\n", len(ns), window)
	fmt.Printf("  resident memory (VmRSS)   %6.1f / %6.1f MiB   (peak VmHWM max %.1f MiB; target <= 30 MB)\n", mean(rss), slices.Max(rss), slices.Max(peak))
	fmt.Printf("  CPU                       %6.2f / %6.2f %% of a core   (target <= 1%%)\n", mean(cpu), slices.Max(cpu))
	fmt.Printf("  transmitted on the radio  %6.0f / %6.0f B/s   (Ethernet frames, each once; target <= 1 kB/s per node)\n", mean(air), slices.Max(air))
	fmt.Printf("    of which multicast      %6.0f / %6.0f B/s   (mDNS, neighbour discovery)\n", mean(group), slices.Max(group))
	fmt.Printf("  received from the radio   %6.0f / %6.0f B/s   (every frame delivered to the node)\n", mean(recv), slices.Max(recv))
}

func mean(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}
