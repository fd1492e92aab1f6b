package phonelab

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"meshcomm/fieldtests/lab"
	"meshcomm/fieldtests/radiolink"
)

// Call setup in DHT mode, measured for real: M laptops in one radio range (every hop of the
// benchmark's delay), each running the daemon's runtime with the overlay's flood-to-DHT
// threshold lowered (see runHelperNode: the daemon has no flag for it, and 64 daemons do not
// fit two shared cores), every one answering by itself. Node 1 calls the others in turn, so
// that each call looks its callee up in the DHT (no node keeps every registration) and may
// have to open a link to it first, as a call in a large mesh does. It also prints node 1's
// lookup latency and hops. The ratio is taken against kamailio, the conventional path's median
// at the same delay (none if zero).
func benchDHT(t *testing.T, calls int, delay, kamailio time.Duration) {
	nodes := envInt("MESHCOMM_BENCH_DHT_NODES", 16)
	at := envInt("MESHCOMM_BENCH_DHT_AT", max(2, nodes/4))
	c, phone := newLab(t, "dht", nodes, radiolink.Link{Up: true, Delay: delay})
	team, err := c.NewTeam("alpha")
	if err != nil {
		t.Fatal(err)
	}
	var enrolErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for n := 1; n <= nodes; n++ { // a few at once: each is two short command-line runs
		wg.Go(func() {
			if err := team.Enroll(n, ext(n)); err != nil {
				mu.Lock()
				enrolErr = err
				mu.Unlock()
			}
		})
		if n%8 == 0 {
			wg.Wait()
		}
	}
	wg.Wait()
	if enrolErr != nil {
		t.Fatal(enrolErr)
	}
	procs := map[int]*lab.Process{}
	began := time.Now()
	for n := 1; n <= nodes; n++ {
		p, err := startDHTNode(c, n, at)
		if err != nil {
			t.Fatal(err)
		}
		procs[n] = p
	}
	all := make([]int, 0, nodes)
	for n := 1; n <= nodes; n++ {
		all = append(all, n)
	}
	// Every node should switch; a straggler or two (a node that joined late and still
	// estimates the mesh below the threshold) is reported, and the measurement goes on if
	// node 1 and at least nine in ten run the DHT.
	var stragglers []string
	_, err = lab.Poll(3*time.Minute, "every node to run in DHT mode", func() (bool, string) {
		stragglers = stragglers[:0]
		radio := c.Emulator().Stats()
		for _, n := range all {
			st, err := c.Status(n)
			if err != nil {
				return false, err.Error()
			}
			if st.Mode != "dht" {
				var in uint64
				for m := 1; m <= nodes; m++ {
					in += radio.Pair(m, n).Forwarded
				}
				stragglers = append(stragglers, fmt.Sprintf("node %d in %s mode (size estimate %d, %d links; radio: sent %d frames, received %d)",
					n, st.Mode, st.SizeEstimate, len(st.Peers), radio.Nodes[n-1].Transmitted, in))
			}
		}
		return len(stragglers) == 0, strings.Join(stragglers, "; ")
	})
	fmt.Printf("DHT mode: %d nodes (threshold %d), %d in DHT mode %v after the first started\n", nodes, at, nodes-len(stragglers),
		time.Since(began).Round(time.Second))
	for _, s := range stragglers {
		fmt.Printf("  not in DHT mode after 3 minutes: %s\n", s)
	}
	if err != nil && (len(stragglers) == 0 || len(stragglers) > nodes/10 || strings.HasPrefix(stragglers[0], "node 1 ")) {
		t.Fatal(err)
	}
	// After the switch a node keeps every record for a grace period, then hands off those it
	// is not responsible for: until then every lookup is answered locally. Wait until the
	// registrations held in the mesh are fewer than in flood mode and stay put for three polls.
	var held []int
	last, steady := -1, 0
	d := waitFor(t, 3*time.Minute, "the registrations to settle on their responsible nodes", func() (bool, string) {
		held = held[:0]
		total := 0
		for _, n := range all {
			live, err := liveRegistrations(c, n)
			if err != nil {
				return false, err.Error()
			}
			held = append(held, live)
			total += live
		}
		if total == last && total < nodes*nodes {
			steady++
		} else {
			last, steady = total, 0
		}
		return steady >= 2, fmt.Sprintf("%d registrations held in all (flood mode: %d), changing", total, nodes*nodes)
	})
	peers, err := c.Peers(1)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("  registrations settled %v later: held per node %s (of %d); node 1 has %d links\n",
		d.Round(time.Second), Summarise(intsAsDurations(held)).countString(), nodes, len(peers))
	idleCPU(t, procs, 5*time.Second)

	// Lookups first (they also let the mesh settle), then calls; both walk the callees in turn.
	var lookups []time.Duration
	var hops []int
	for i := range calls {
		target := 2 + i%(nodes-1)
		lr, err := c.Lookup(1, procs[target].Ready.AoR, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if !lr.Found || lr.NodeID != procs[target].Ready.NodeID {
			t.Fatalf("node 1's lookup of node %d in DHT mode: %+v", target, lr)
		}
		lookups = append(lookups, time.Duration(lr.ElapsedMs*float64(time.Millisecond)))
		hops = append(hops, lr.Hops)
	}
	var setups, locates []time.Duration
	var failed []string
	for i := range warmUp + calls {
		target := 2 + i%(nodes-1)
		res, err := phone.Call(1, procs[target].Ready.AoR, CallOptions{Duration: holdTime})
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case res.Result != "answered":
			failed = append(failed, fmt.Sprintf("call %d to node %d: %s (SIP %d) %s", i, target, res.Result, res.SIPStatus, res.Error))
		case i >= warmUp:
			setups = append(setups, time.Duration(res.SetupMs*float64(time.Millisecond)))
			locates = append(locates, time.Duration(res.LookupMs*float64(time.Millisecond)))
		}
	}
	ls, cs := Summarise(lookups), Summarise(setups)
	fmt.Printf("  DHT lookup at node 1 (meshcomm lookup, elapsed_ms): %s; hops %v\n", ls, hopCounts(hops))
	fmt.Printf("  DHT call setup, node 1 to the others in turn:       %s; %d of %d calls not answered\n", cs, len(failed), warmUp+calls)
	fmt.Printf("    of which finding the callee (lookup_ms):          %s\n", Summarise(locates))
	for _, f := range failed {
		fmt.Printf("    not answered: %s\n", f)
	}
	if len(failed) > (warmUp+calls)/10 {
		t.Errorf("%d of %d calls in DHT mode were not answered", len(failed), warmUp+calls)
	}
	if kamailio > 0 {
		fmt.Printf("  ratio meshcomm DHT/Kamailio (Kamailio's relay median, same delay): median %.2f (target at 64 nodes: <= 1.3)\n",
			cs.MedianMs/ms(kamailio))
	} else {
		fmt.Printf("  (no Kamailio figure from this run for the ratio)\n")
	}
}

// liveRegistrations counts the registrations node n holds that are not deletions.
func liveRegistrations(c *lab.Cluster, n int) (int, error) {
	recs, err := c.Records(n, "registration")
	if err != nil {
		return 0, err
	}
	live := 0
	for _, r := range recs {
		if !r.Deleted {
			live++
		}
	}
	return live, nil
}

// intsAsDurations lets Summarise describe counts (one count per nanosecond).
func intsAsDurations(xs []int) []time.Duration {
	out := make([]time.Duration, len(xs))
	for i, x := range xs {
		out[i] = time.Duration(x)
	}
	return out
}

// countString describes a Summary of counts made by intsAsDurations.
func (s Summary) countString() string {
	return fmt.Sprintf("median %d, p95 %d, min %d, max %d", s.Median, s.P95, s.Min, s.Max)
}

// idleCPU samples the nodes' CPU time (from /proc) over window and prints their total load,
// so that the figures can be read against how busy the machine was.
func idleCPU(t *testing.T, procs map[int]*lab.Process, window time.Duration) {
	t.Helper()
	before := map[int]lab.ProcSample{}
	for n, p := range procs {
		s, err := lab.ReadProc(p.Pid())
		if err != nil {
			t.Fatal(err)
		}
		before[n] = s
	}
	time.Sleep(window) // the window measured
	var cpu, rss float64
	for n, p := range procs {
		s, err := lab.ReadProc(p.Pid())
		if err != nil {
			t.Fatal(err)
		}
		cpu += s.CPUSeconds() - before[n].CPUSeconds()
		rss += float64(s.RSSKiB) / 1024
	}
	fmt.Printf("  the %d idle nodes together: %.0f%% of a core, %.0f MiB resident (machine load average %s)\n",
		len(procs), 100*cpu/window.Seconds(), rss, loadAverage())
}

// loadAverage is the first field of /proc/loadavg, or "?".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "?"
}

// hopCounts tallies hop counts: "1 hop x12, 2 hops x3".
func hopCounts(hops []int) string {
	count := map[int]int{}
	maxHops := 0
	for _, h := range hops {
		count[h]++
		maxHops = max(maxHops, h)
	}
	var parts []string
	for h := 0; h <= maxHops; h++ {
		if count[h] > 0 {
			parts = append(parts, fmt.Sprintf("%d: x%d", h, count[h]))
		}
	}
	return strings.Join(parts, ", ")
}
