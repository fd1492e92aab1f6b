package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"meshcomm/node"
)

// TestMeasureIdleDaemon prints the resident memory and CPU use of three idle meshcomm daemons
// meshed over loopback, over a window of MESHCOMM_MEASURE_SECONDS (default 60), and the
// overlay bytes they exchanged. Run it with
//
//	MESHCOMM_DAEMON_MEASURE=1 go test -run TestMeasureIdleDaemon -v ./cmd/meshcomm/
func TestMeasureIdleDaemon(t *testing.T) {
	if os.Getenv("MESHCOMM_DAEMON_MEASURE") == "" {
		t.Skip("a measurement: set MESHCOMM_DAEMON_MEASURE=1")
	}
	window := 60 * time.Second
	if s, err := strconv.Atoi(os.Getenv("MESHCOMM_MEASURE_SECONDS")); err == nil && s > 0 {
		window = time.Duration(s) * time.Second
	}
	bin := buildBinary(t)
	root := t.TempDir()
	ca := filepath.Join(root, "ca")
	must := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("meshcomm %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	must("ca", "init", "--team", "alpha", "--dir", ca)
	var dirs []string
	var procs []*proc
	var addrs []string
	for _, ext := range []string{"101", "102", "103"} {
		b := filepath.Join(root, ext+".pem")
		d := filepath.Join(root, "d"+ext)
		must("ca", "issue", "--dir", ca, "--ext", ext, "--name", "Member "+ext, "--out", b)
		must("enroll", b, "--data", d)
		args := []string{"daemon", "--data", d, "--listen", "127.0.0.1:0", "--no-mdns", "--log-level", "warn"}
		for _, a := range addrs {
			args = append(args, "--peer", a)
		}
		p := startProc(t, bin, args...)
		addrs = append(addrs, readyAddr(t, p))
		dirs, procs = append(dirs, d), append(procs, p)
	}
	status := func(d string) node.Status {
		var st node.Status
		if err := json.Unmarshal([]byte(must("status", "--data", d, "--json")), &st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	// Settled: the last daemon to start sees every registration once the others have it.
	ev := startProc(t, bin, "events", "--data", dirs[2], "--json")
	waitStderr(t, ev, "meshcomm events: watching")
	for st := status(dirs[2]); st.SizeEstimate != 3; st = status(dirs[2]) {
		ev.waitLine(t, "the mesh to count three nodes", func(string) bool { return true })
	}

	type sample struct {
		cpuTicks uint64
		bytes    uint64
	}
	take := func() []sample {
		out := make([]sample, len(procs))
		for i, p := range procs {
			st := status(dirs[i])
			out[i] = sample{cpuTicks: cpuTicks(t, p.cmd.Process.Pid), bytes: st.Counters.BytesIn + st.Counters.BytesOut}
		}
		return out
	}
	start := take()
	t0 := time.Now()
	time.Sleep(window) // the measurement window itself, not a wait for anything
	end := take()
	secs := time.Since(t0).Seconds()
	t.Logf("3 idle daemons meshed over loopback, %.0f s window:", secs)
	t.Logf("%-6s %10s %10s %8s %16s", "daemon", "RSS MiB", "peak MiB", "CPU %", "overlay B/s in+out")
	for i, p := range procs {
		rss, hwm := memory(t, p.cmd.Process.Pid)
		cpu := float64(end[i].cpuTicks-start[i].cpuTicks) / clockTicks / secs * 100
		t.Logf("%-6s %10.1f %10.1f %8.3f %16.1f", filepath.Base(dirs[i])[1:], rss, hwm, cpu, float64(end[i].bytes-start[i].bytes)/secs)
	}
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times (100 on Linux).
const clockTicks = 100

// cpuTicks is utime + stime of a process, from /proc/PID/stat.
func cpuTicks(t *testing.T, pid int) uint64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	u, _ := strconv.ParseUint(fields[11], 10, 64) // utime is field 14 of the whole line
	s, _ := strconv.ParseUint(fields[12], 10, 64)
	return u + s
}

// memory returns VmRSS and VmHWM of a process in MiB.
func memory(t *testing.T, pid int) (rss, hwm float64) {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb / 1024
		case "VmHWM:":
			hwm = kb / 1024
		}
	}
	return rss, hwm
}
