package phonelab

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// Registrations per second Kamailio sustains, for comparison with meshcomm's registrar
// (sip.BenchmarkRegistrar, which fieldtests/sipbench/bench-sip runs alongside): one laptop
// runs Kamailio and a sipp client that registers MESHCOMM_BENCH_REGISTERS (default 20000)
// distinct users (reg_many.xml), up to 500 at once, as fast as it can, over the laptop's own
// address (no radio in the path, as the Go benchmark has none). The figure is REGISTERs
// answered 200 per second of wall time, client and server sharing the machine's cores.
func TestBenchKamailioRegistrations(t *testing.T) {
	benching(t)
	if why := sippAvailable(); why != "" {
		t.Skip(why)
	}
	n := envInt("MESHCOMM_BENCH_REGISTERS", 20000)
	c, _ := newLab(t, "reg", 2, perfect)
	k := startKamailioPath(t, c, 1, 2)
	run := t.TempDir()
	began := time.Now()
	load := startTool(t, c, 1, run, filepath.Join(run, "load.log"), "sipp", k.proxy,
		"-sf", filepath.Join(k.scripts, "reg_many.xml"), "-i", c.Lab().Addr(1).String(), "-p", fmt.Sprint(uacPort),
		"-m", fmt.Sprint(n), "-r", "50000", "-l", "500", "-recv_timeout", "5000", "-nostdin")
	if err := load.wait(10 * time.Minute); err != nil {
		t.Fatalf("sipp registration load: %v (log %s): not every REGISTER was answered 200", err, load.log)
	}
	elapsed := time.Since(began)
	fmt.Printf("Kamailio registrar: %d REGISTERs of distinct users answered 200 in %v: %.0f registrations/s (sipp and Kamailio on the same cores)\n",
		n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds())
}
