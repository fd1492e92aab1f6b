package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"meshcomm/node"
)

// buildBinary builds meshcomm into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "meshcomm")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// proc is a running meshcomm process whose stdout lines arrive on lines and stderr lines on
// errLines (and in errText).
type proc struct {
	cmd      *exec.Cmd
	lines    chan string
	errLines chan string
	errText  lockedBuffer
	done     chan error
}

func startProc(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, lines: make(chan string, 256), errLines: make(chan string, 256), done: make(chan error, 1)}
	errDone := make(chan struct{})
	go func() {
		defer close(errDone)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.errText.Write([]byte(sc.Text() + "\n"))
			select {
			case p.errLines <- sc.Text():
			default: // nobody waits for these; errText keeps them
			}
		}
	}()
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		<-errDone
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *proc) stderr() string { return p.errText.String() }

// waitLine returns the first stdout line that contains s.
func (p *proc) waitLine(t *testing.T, what string, match func(string) bool) string {
	t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				t.Fatalf("process ended while waiting for %s; stderr:\n%s", what, p.stderr())
			}
			if match(l) {
				return l
			}
		case <-deadline:
			t.Fatalf("timed out waiting for %s; stderr:\n%s", what, p.stderr())
		}
	}
}

// exitCode waits for the process to end.
func (p *proc) exitCode(t *testing.T) int {
	t.Helper()
	for range p.lines {
	}
	select {
	case err := <-p.done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(wait):
		t.Fatal("process did not end")
		return -1
	}
}

// readyAddr waits for a daemon's ready line and returns its listen address.
func readyAddr(t *testing.T, p *proc) string {
	t.Helper()
	l := p.waitLine(t, "the ready line", func(l string) bool { return strings.HasPrefix(l, "meshcomm daemon: ready ") })
	for _, f := range strings.Fields(l) {
		if a, ok := strings.CutPrefix(f, "listen="); ok {
			return a
		}
	}
	t.Fatalf("no listen= in %q", l)
	return ""
}

// The real binary: two daemons mesh; one is killed with SIGKILL and restarted (records read
// back from disk, registration published afresh); SIGTERM makes a daemon leave cleanly (its
// registration deleted at its peer) and exit 0.
func TestBinaryKillRestartAndCleanStop(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	root := t.TempDir()
	ca := filepath.Join(root, "ca")
	meshcomm := func(args ...string) (int, string) {
		out, err := exec.Command(bin, args...).CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), string(out)
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}
	must := func(args ...string) string {
		t.Helper()
		code, out := meshcomm(args...)
		if code != 0 {
			t.Fatalf("meshcomm %v: exit %d\n%s", args, code, out)
		}
		return out
	}
	must("ca", "init", "--team", "alpha", "--dir", ca)
	d1, d2 := filepath.Join(root, "d1"), filepath.Join(root, "d2")
	for ext, dir := range map[string]string{"101": d1, "102": d2} {
		b := filepath.Join(root, ext+".pem")
		must("ca", "issue", "--dir", ca, "--ext", ext, "--name", "Member "+ext, "--out", b)
		must("enroll", b, "--data", dir)
	}
	if code, out := meshcomm("frobnicate"); code != 2 || !strings.Contains(out, "unknown command") {
		t.Errorf("unknown command: exit %d, %q", code, out)
	}

	// 102 starts alone and is watched; 101 then joins it, so the watch sees 102 learn 101's
	// three records (membership, certificate, registration) and write them to its database.
	p2 := startProc(t, bin, "daemon", "--data", d2, "--listen", "127.0.0.1:0", "--no-mdns", "--log-level", "warn")
	addr2 := readyAddr(t, p2)
	ev2 := startProc(t, bin, "events", "--data", d2, "--json")
	waitStderr(t, ev2, "meshcomm events: watching") // subscribed: no later event is missed
	p1 := startProc(t, bin, "daemon", "--data", d1, "--listen", "127.0.0.1:0", "--no-mdns", "--peer", addr2, "--log-level", "warn")
	addr1 := readyAddr(t, p1)
	learnt := map[string]bool{}
	for len(learnt) < 3 {
		ev2.waitLine(t, "102 to learn 101's records", func(l string) bool {
			var e node.Event
			if json.Unmarshal([]byte(l), &e) != nil || e.Type != node.EventRecord {
				return false
			}
			learnt[e.Kind+"/"+e.Resource+"/"+e.Key] = true
			return true
		})
	}
	ev := startProc(t, bin, "events", "--data", d1, "--json")
	waitStderr(t, ev, "meshcomm events: watching")

	// kill -9, restart on the same address (as a daemon with a fixed --listen does): the
	// records come back from disk and the registration is published afresh.
	if err := p2.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if code := p2.exitCode(t); code != -1 {
		t.Errorf("killed daemon exit code %d", code)
	}
	onDisk, err := node.ReadRecords(d2)
	if err != nil {
		t.Fatal(err)
	}
	var before uint64
	for _, r := range onDisk {
		if reg, err := node.DecodeRegistration(r.Value); err == nil && reg.AoR == "sip:102@alpha" {
			before = r.Version
		}
	}
	if len(onDisk) < 6 || before == 0 {
		for _, r := range onDisk {
			t.Logf("on disk: %s %s %x v%d", r.Kind, r.Resource.Short(), r.Key, r.Version)
		}
		t.Fatalf("the killed daemon's database holds %d records (own registration version %d); events seen: %v", len(onDisk), before, learnt)
	}
	p2 = startProc(t, bin, "daemon", "--data", d2, "--listen", addr2, "--no-mdns", "--peer", addr1, "--log-level", "warn")
	readyAddr(t, p2)
	ev.waitLine(t, "102's registration published afresh", func(l string) bool {
		var e node.Event
		return json.Unmarshal([]byte(l), &e) == nil && e.Type == node.EventRecord && e.AoR == "sip:102@alpha" &&
			e.Addr == addr2 && e.Version > before
	})
	var st node.Status
	if err := json.Unmarshal([]byte(must("status", "--data", d2, "--json")), &st); err != nil {
		t.Fatal(err)
	}
	if st.RecordsLoaded != len(onDisk) {
		t.Errorf("records read back after kill -9: %d, the database held %d", st.RecordsLoaded, len(onDisk))
	}
	var lr node.LookupResult
	if err := json.Unmarshal([]byte(must("lookup", "101", "--data", d2, "--json", "--timeout", "5s")), &lr); err != nil || !lr.Found || lr.Contact != addr1 {
		t.Errorf("lookup 101 from the restarted daemon: %+v %v", lr, err)
	}

	// SIGTERM: a clean leave, exit 0.
	id2 := st.NodeID
	if err := p2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	ev.waitLine(t, "102's registration deleted", func(l string) bool {
		var e node.Event
		return json.Unmarshal([]byte(l), &e) == nil && e.Type == node.EventRecord && e.Kind == "registration" && e.Deleted && e.Key == id2
	})
	if code := p2.exitCode(t); code != 0 {
		t.Errorf("daemon exit code after SIGTERM: %d\n%s", code, p2.stderr())
	}
	if err := p1.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p1.exitCode(t); code != 0 {
		t.Errorf("daemon exit code after SIGTERM: %d", code)
	}
	if code := ev2.exitCode(t); code != 1 || !strings.Contains(ev2.stderr(), "the daemon stopped") {
		t.Errorf("events after the daemon was killed: exit %d, %q", code, ev2.stderr())
	}
	if code := ev.exitCode(t); code != 1 || !strings.Contains(ev.stderr(), "the daemon stopped") {
		t.Errorf("events after the daemon stopped: exit %d, %q", code, ev.stderr())
	}
	if _, err := os.Stat(node.ControlPath(d1)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("control socket left behind: %v", err)
	}
}

// waitStderr waits for a stderr line containing s.
func waitStderr(t *testing.T, p *proc, s string) {
	t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case l := <-p.errLines:
			if strings.Contains(l, s) {
				return
			}
		case <-deadline:
			t.Fatalf("timed out waiting for %q on stderr: %q", s, p.stderr())
		}
	}
}
