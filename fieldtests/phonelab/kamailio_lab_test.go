package phonelab

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"meshcomm/fieldtests/lab"
)

// The conventional SIP path of the benchmark: Kamailio (registrar and stateful proxy) on S,
// a sipp UAS on Y registered with it, a sipp UAC on X placing calls through it. The
// scenarios and the configuration template live in fieldtests/sipbench/testdata.
const (
	sipbenchData = "../sipbench/testdata"
	sipPort      = 5060 // Kamailio, on S
	uasPort      = 5070 // the sipp UAS, on Y
	uacPort      = 5080 // the sipp UAC, on X
)

// sippAvailable says why the conventional path cannot run here, or "".
func sippAvailable() string {
	for _, tool := range []string{"sipp", "kamailio"} {
		if _, err := exec.LookPath(tool); err != nil {
			return "needs " + tool + " (Debian packages sip-tester and kamailio)"
		}
	}
	return ""
}

// kamailioPath is Kamailio on node s with a sipp UAS on node y, registered and answering.
type kamailioPath struct {
	c       *lab.Cluster
	s, y    int
	dir     string
	proxy   string // S's SIP address, host:port
	server  *tool
	uas     *tool
	scripts string
}

// startKamailioPath starts Kamailio on s, registers the UAS (reg.xml, retried until Kamailio
// answers) and starts it (uas.xml) on y.
func startKamailioPath(t *testing.T, c *lab.Cluster, s, y int) *kamailioPath {
	t.Helper()
	scripts, err := filepath.Abs(sipbenchData)
	if err != nil {
		t.Fatal(err)
	}
	k := &kamailioPath{c: c, s: s, y: y, dir: t.TempDir(), scripts: scripts,
		proxy: fmt.Sprintf("%s:%d", c.Lab().Addr(s), sipPort)}
	template, err := os.ReadFile(filepath.Join(scripts, "kamailio.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := KamailioConfig(string(template), "udp:"+k.proxy, filepath.Join(k.dir, "kamailio.ctl"))
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(k.dir, "kamailio.cfg")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	// -DD: stay in the foreground (children still forked); -E: log to stderr; -Y: runtime
	// files here rather than in /run/kamailio.
	k.server = startTool(t, c, s, k.dir, filepath.Join(k.dir, "kamailio.log"), "kamailio",
		"-f", cfgPath, "-DD", "-E", "-Y", k.dir, "-P", filepath.Join(k.dir, "kamailio.pid"))
	waitFor(t, 20*time.Second, "Kamailio to accept the UAS's REGISTER", func() (bool, string) {
		select {
		case <-k.server.done:
			return false, "kamailio exited; log: " + k.server.log
		default:
		}
		reg := startTool(t, c, y, k.dir, filepath.Join(k.dir, "reg.log"), "sipp", k.proxy,
			"-sf", filepath.Join(scripts, "reg.xml"), "-i", c.Lab().Addr(y).String(), "-p", fmt.Sprint(uasPort),
			"-m", "1", "-recv_timeout", "1000", "-nostdin")
		if err := reg.wait(10 * time.Second); err != nil {
			return false, fmt.Sprintf("REGISTER: %v (log %s)", err, reg.log)
		}
		return true, ""
	})
	k.uas = startTool(t, c, y, k.dir, filepath.Join(k.dir, "uas.log"), "sipp",
		"-sf", filepath.Join(scripts, "uas.xml"), "-i", c.Lab().Addr(y).String(), "-p", fmt.Sprint(uasPort), "-nostdin")
	return k
}

// calls places n calls from node x, one at a time, and returns each one's setup time
// (INVITE sent to 200 received, sipp's response-time counter 1, millisecond resolution).
func (k *kamailioPath) calls(t *testing.T, x, n int) []time.Duration {
	t.Helper()
	run := t.TempDir() // sipp writes uac_<pid>_rtt.csv into its working directory
	uac := startTool(t, k.c, x, run, filepath.Join(run, "uac.log"), "sipp", k.proxy,
		"-sf", filepath.Join(k.scripts, "uac.xml"), "-i", k.c.Lab().Addr(x).String(), "-p", fmt.Sprint(uacPort),
		"-m", fmt.Sprint(n), "-l", "1", "-r", "20", "-recv_timeout", "5000", "-trace_rtt", "-rtt_freq", "1", "-nostdin")
	if err := uac.wait(time.Duration(n)*time.Second + 30*time.Second); err != nil {
		log, _ := os.ReadFile(uac.log)
		t.Fatalf("sipp UAC: %v\n%s", err, lab.LastLines(string(log), 30))
	}
	files, err := filepath.Glob(filepath.Join(run, "uac_*_rtt.csv"))
	if err != nil || len(files) != 1 {
		t.Fatalf("sipp's response-time file: %v (%v), want one", files, err)
	}
	f, err := os.Open(files[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	samples, err := ParseRTT(f)
	if err != nil {
		t.Fatal(err)
	}
	var out []time.Duration
	for _, s := range samples {
		if s.Counter == 1 {
			out = append(out, s.RTT)
		}
	}
	if len(out) != n {
		t.Fatalf("sipp measured %d call setups, want %d (every call answered)", len(out), n)
	}
	return out
}
