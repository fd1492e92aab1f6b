package phonelab

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"meshcomm/fieldtests/lab"
	"meshcomm/fieldtests/radiolink"
)

// The benchmark of call setup against a conventional SIP server prints figures and asserts
// only that every call was answered, never a duration. Run it with
//
//	MESHCOMM_BENCH=1 go test -count=1 -run Bench -v -timeout 30m ./fieldtests/phonelab/
//
// or fieldtests/sipbench/bench-sip. MESHCOMM_BENCH_CALLS sets the calls per measurement
// (default 50), MESHCOMM_BENCH_DELAY the one-way delay of every radio hop (default 10ms),
// MESHCOMM_BENCH_DHT_NODES the size of the DHT-mode mesh (default 16) and
// MESHCOMM_BENCH_DHT_AT the size at which it switches to DHT mode (default a quarter of it).
func benching(t *testing.T) {
	if os.Getenv("MESHCOMM_BENCH") == "" {
		t.Skip("a benchmark: set MESHCOMM_BENCH=1 to run it")
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func envDuration(name string, def time.Duration) time.Duration {
	if v, err := time.ParseDuration(os.Getenv(name)); err == nil && v >= 0 {
		return v
	}
	return def
}

// warmUp is how many calls of each path go uncounted first: the first call of a path pays
// for code and caches going warm, on both systems alike.
const warmUp = 3

// holdTime is how long each benchmark call stays up after the answer.
const holdTime = 200 * time.Millisecond

// TestBenchCallSetup measures call setup, dial to 200 OK: meshcomm in flood mode against
// Kamailio on the same three laptops ("flood"), then meshcomm in DHT mode ("dht"), whose
// ratio is taken against the Kamailio median of the relay link set. Run one part with
// -run TestBenchCallSetup/dht (the ratio then needs the other part).
func TestBenchCallSetup(t *testing.T) {
	benching(t)
	calls := envInt("MESHCOMM_BENCH_CALLS", 50)
	delay := envDuration("MESHCOMM_BENCH_DELAY", 10*time.Millisecond)
	var kamailio time.Duration
	t.Run("flood", func(t *testing.T) { kamailio = benchFloodVersusKamailio(t, calls, delay) })
	t.Run("dht", func(t *testing.T) { benchDHT(t, calls, delay, kamailio) })
}

// Call setup (dial to 200 OK), meshcomm in flood mode against Kamailio, on the same three
// laptops X, S, Y with identical radio links, in one run. Two link sets:
//
//   - "relay": X and Y do not hear each other, only S in the middle does: Kamailio's path
//     and meshcomm's (the INVITE routed through S with --via) both cross two hops each way;
//   - "in range": all three hear each other: Kamailio's path still goes through S (it is the
//     server), meshcomm's goes straight from X to Y.
//
// Kamailio: registrar and stateful proxy on S, a sipp UAS on Y registered with it, a sipp UAC
// on X (INVITE to 200, sipp's own clock, in milliseconds). meshcomm: daemons on X, S, Y in
// flood mode, Y answering by itself, X running `meshcomm call` (setup_ms: from the call
// being placed, lookup included, to the 200).
//
// It returns the Kamailio median of the relay link set (zero if it did not run), for the
// DHT ratio.
func benchFloodVersusKamailio(t *testing.T, calls int, delay time.Duration) time.Duration {
	if why := sippAvailable(); why != "" {
		t.Skip(why)
	}
	const x, s, y = 1, 2, 3
	var kamailioMedian time.Duration
	c, phone := newLab(t, "bench", 3, radiolink.Link{Up: true, Delay: delay})
	enrolAll(t, c, "alpha", x, s, y)
	procs := map[int]*lab.Process{x: start(t, c, x), s: start(t, c, s), y: start(t, c, y, "--auto-answer")}
	waitFor(t, time.Minute, "X, S and Y to resolve each other", func() (bool, string) { return resolve(c, []int{x, s, y}, procs) })
	k := startKamailioPath(t, c, s, y)
	fmt.Printf("call setup, dial to 200 OK, %d calls per path after %d uncounted, radio hops of %v one way, no loss:\n", calls, warmUp, delay)
	for _, variant := range []struct {
		name  string
		relay bool
	}{{"in range", false}, {"relay", true}} {
		if variant.relay {
			if err := c.Emulator().LinkDown(x, y); err != nil {
				t.Fatal(err)
			}
		}
		via := ""
		if variant.relay {
			via = procs[s].Ready.NodeID
		}
		mesh := meshcommSetups(t, phone, x, procs[y].Ready.AoR, via, calls)
		sipp := k.calls(t, x, calls+warmUp)[warmUp:]
		ms, ks := Summarise(mesh), Summarise(sipp)
		fmt.Printf("  %-8s meshcomm flood (%s): %s\n", variant.name, map[bool]string{false: "X to Y direct", true: "X to Y through S"}[variant.relay], ms)
		fmt.Printf("  %-8s Kamailio (X to S to Y):      %s\n", variant.name, ks)
		fmt.Printf("  %-8s ratio meshcomm/Kamailio: median %.2f, p95 %.2f (target: <= 1.0)\n", variant.name,
			ms.MedianMs/ks.MedianMs, ms.P95Ms/ks.P95Ms)
		if variant.relay {
			kamailioMedian = ks.Median
		}
	}
	return kamailioMedian
}

// meshcommSetups places warmUp+n calls from node x to aor (through via, if set), one at a
// time, each held for holdTime, and returns the setup times of the last n.
func meshcommSetups(t *testing.T, phone Phone, x int, aor, via string, n int) []time.Duration {
	t.Helper()
	var out []time.Duration
	for i := range warmUp + n {
		res, err := phone.Call(x, aor, CallOptions{Duration: holdTime, Via: via})
		if err != nil {
			t.Fatal(err)
		}
		if res.Result != "answered" {
			t.Fatalf("call %d to %s: %+v, want answered", i, aor, res)
		}
		if i >= warmUp {
			out = append(out, time.Duration(res.SetupMs*float64(time.Millisecond)))
		}
	}
	return out
}
