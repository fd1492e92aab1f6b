package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"meshcomm/identity"
	"meshcomm/node"
)

// wait is the generous failure deadline of every wait in these tests.
const wait = 20 * time.Second

// lockedBuffer is a bytes.Buffer safe to write from a daemon's goroutines while a test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type command func(args []string, stdout, stderr io.Writer) int

// run runs a command in-process and returns its exit code, stdout and stderr.
func run(cmd command, args ...string) (int, string, string) {
	var out, errs bytes.Buffer
	code := cmd(args, &out, &errs)
	return code, out.String(), errs.String()
}

func mustRun(t *testing.T, cmd command, args ...string) string {
	t.Helper()
	code, out, errs := run(cmd, args...)
	if code != 0 {
		t.Fatalf("%v: exit %d\nstdout: %s\nstderr: %s", args, code, out, errs)
	}
	return out
}

// verbCmd adapts `meshcomm GROUP VERB` to a command.
func verbCmd(group string) command {
	verbs := map[string]map[string]verb{"ca": caVerbs, "trust": trustVerbs, "revoke": revokeVerbs}[group]
	return func(args []string, stdout, stderr io.Writer) int { return runVerb(group, verbs, args, stdout, stderr) }
}

// daemon is an in-process `meshcomm daemon`.
type daemon struct {
	n      *node.Node
	stdout *lockedBuffer
	stderr *lockedBuffer
	cancel context.CancelFunc
	done   chan int
}

func startDaemon(t *testing.T, args ...string) *daemon {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d := &daemon{stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, cancel: cancel, done: make(chan int, 1)}
	ready := make(chan *node.Node, 1)
	go func() { d.done <- runDaemon(ctx, args, d.stdout, d.stderr, func(n *node.Node) { ready <- n }) }()
	select {
	case d.n = <-ready:
	case code := <-d.done:
		cancel()
		t.Fatalf("daemon %v exited %d: %s", args, code, d.stderr.String())
	case <-time.After(wait):
		t.Fatalf("daemon %v did not start", args)
	}
	t.Cleanup(func() { d.stop(t) })
	return d
}

// stop sends the daemon its "signal" and returns its exit code.
func (d *daemon) stop(t *testing.T) int {
	d.cancel()
	select {
	case code := <-d.done:
		d.done <- code // a second stop returns the same
		return code
	case <-time.After(wait):
		t.Fatal("daemon did not stop")
		return -1
	}
}

// waitNode re-checks cond after each of n's events until it holds.
func waitNode(t *testing.T, n *node.Node, what string, cond func() bool) {
	t.Helper()
	sub := n.Subscribe(1024)
	defer sub.Close()
	deadline := time.After(wait)
	for !cond() {
		select {
		case <-sub.C:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// waitMeshed waits until n holds live registrations of every AoR and counts them in its size
// estimate.
func waitMeshed(t *testing.T, n *node.Node, aors ...string) {
	t.Helper()
	waitNode(t, n, fmt.Sprintf("registrations %v", aors), func() bool {
		recs, err := n.Records(context.Background(), "registration")
		if err != nil {
			t.Fatal(err)
		}
		have := map[string]bool{}
		for _, r := range recs {
			have[r.AoR] = !r.Deleted
		}
		for _, a := range aors {
			if !have[a] {
				return false
			}
		}
		st, err := n.Status(context.Background())
		return err == nil && st.SizeEstimate == len(aors)
	})
}

// newCA makes a team CA and enrols members; it returns the CA dir and the data dirs.
func newCA(t *testing.T, team string, exts ...string) (string, []string) {
	t.Helper()
	root := t.TempDir()
	caDir := filepath.Join(root, "ca")
	mustRun(t, verbCmd("ca"), "init", "--team", team, "--dir", caDir)
	var dirs []string
	for _, ext := range exts {
		bundle := filepath.Join(root, ext+".pem")
		mustRun(t, verbCmd("ca"), "issue", "--dir", caDir, "--ext", ext, "--name", "Member "+ext, "--role", "medic", "--out", bundle)
		dir := filepath.Join(root, "d"+ext)
		mustRun(t, runEnroll, bundle, "--data", dir)
		dirs = append(dirs, dir)
	}
	return caDir, dirs
}

func TestIdentityCommands(t *testing.T) {
	caDir, dirs := newCA(t, "alpha", "101", "102")
	out := mustRun(t, verbCmd("trust"), "list", "--data", dirs[0], "--json")
	var anchors []node.AnchorInfo
	if err := json.Unmarshal([]byte(out), &anchors); err != nil || len(anchors) != 1 || anchors[0].Team != "alpha" || !anchors[0].Own {
		t.Fatalf("trust list: %v %s", err, out)
	}

	// Another team's CA, trusted offline (no daemon running).
	bravoCA, _ := newCA(t, "bravo")
	out = mustRun(t, verbCmd("trust"), "add", filepath.Join(bravoCA, "ca.pem"), "--data", dirs[0])
	if !strings.Contains(out, "TRUSTED   team bravo") {
		t.Errorf("trust add said %q", out)
	}
	if out := mustRun(t, verbCmd("trust"), "list", "--data", dirs[0]); !strings.Contains(out, "2 TRUSTED TEAMS") || !strings.Contains(out, "bravo") {
		t.Errorf("trust list after add: %s", out)
	}

	// Revoke 102 by certificate file, import the revocation at 101.
	rev := filepath.Join(t.TempDir(), "rev.pem")
	out = mustRun(t, verbCmd("ca"), "revoke", "--dir", caDir, "--cert", filepath.Join(dirs[1], "node.pem"), "--reason", "laptop lost", "--out", rev)
	if !strings.Contains(out, "REVOKED") {
		t.Errorf("ca revoke said %q", out)
	}
	out = mustRun(t, verbCmd("revoke"), "import", rev, "--data", dirs[0])
	if !strings.Contains(out, "REVOKED   sip:102@alpha") || !strings.Contains(out, "laptop lost") {
		t.Errorf("revoke import said %q", out)
	}
	id, err := identity.Load(dirs[0])
	if err != nil {
		t.Fatal(err)
	}
	id102, err := identity.Load(dirs[1])
	if err != nil {
		t.Fatal(err)
	}
	if !id.Verifier().Revoked(identity.FingerprintOf(id102.Certificate().Raw)) {
		t.Error("the imported revocation is not honoured after a reload")
	}
	// By fingerprint, too (a second revocation file of the same certificate).
	fp := identity.FingerprintOf(id102.Certificate().Raw)
	mustRun(t, verbCmd("ca"), "revoke", "--dir", caDir, "--fingerprint", fp.Grouped(), "--out", filepath.Join(t.TempDir(), "rev2.pem"))

	for _, c := range []struct {
		cmd  command
		args []string
		code int
		says string
	}{
		{verbCmd("ca"), []string{"init", "--team", "alpha"}, 2, "--team and --dir are required"},
		{verbCmd("ca"), []string{"init", "--team", "alpha", "--dir", caDir}, 1, "already"},
		{verbCmd("ca"), []string{"issue", "--dir", caDir, "--ext", "1 0", "--name", "x", "--out", filepath.Join(t.TempDir(), "x.pem")}, 1, "extension"},
		{verbCmd("ca"), []string{"revoke", "--dir", caDir, "--out", "x"}, 2, "exactly one of"},
		{verbCmd("ca"), []string{"frobnicate"}, 2, "unknown command"},
		{verbCmd("trust"), []string{"add", "--data", dirs[0]}, 2, "missing argument"},
		{runEnroll, []string{filepath.Join(t.TempDir(), "none.pem"), "--data", t.TempDir()}, 1, "none.pem"},
		{runEnroll, []string{rev, "--data", dirs[0]}, 1, "already holds an identity"},
		{runStatus, []string{"--data", t.TempDir()}, 1, "no daemon is running"},
		{runStatus, []string{"--data", dirs[0], "extra"}, 2, "unexpected argument"},
		{verbCmd("revoke"), []string{"publish", rev, "--data", dirs[0]}, 1, "no daemon is running"},
	} {
		code, _, errs := run(c.cmd, c.args...)
		if code != c.code || !strings.Contains(errs, c.says) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d mentioning %q", c.args, code, errs, c.code, c.says)
		}
	}
}

func TestDaemonRefusesBadStarts(t *testing.T) {
	empty := t.TempDir()
	for _, c := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"--data", empty, "--no-mdns", "--listen", "127.0.0.1:0"}, 1, "--ext 101"},
		{[]string{"--data", empty, "--log-level", "loud"}, 2, "--log-level"},
		{[]string{"--data", empty, "stray"}, 2, "unexpected argument"},
		{[]string{"--data", empty, "--ext", "101", "--no-mdns", "--listen", "nonsense"}, 1, "cannot listen on nonsense"},
	} {
		var out, errs lockedBuffer
		code := runDaemon(context.Background(), c.args, &out, &errs, nil)
		if code != c.code || !strings.Contains(errs.String(), c.says) {
			t.Errorf("daemon %v: exit %d, stderr %q; want exit %d mentioning %q", c.args, code, errs.String(), c.code, c.says)
		}
	}
	// A second daemon on a running one's data directory or address fails clearly.
	dir := t.TempDir()
	d := startDaemon(t, "--data", dir, "--ext", "101", "--no-mdns", "--listen", "127.0.0.1:0")
	var out, errs lockedBuffer
	if code := runDaemon(context.Background(), []string{"--data", dir, "--no-mdns", "--listen", "127.0.0.1:0"}, &out, &errs, nil); code != 1 ||
		!strings.Contains(errs.String(), "in use by another running meshcomm daemon") {
		t.Errorf("second daemon on one data dir: exit %d, %q", code, errs.String())
	}
	errs = lockedBuffer{}
	if code := runDaemon(context.Background(), []string{"--data", t.TempDir(), "--ext", "102", "--no-mdns", "--listen", d.n.LocalAddr()}, &out, &errs, nil); code != 1 ||
		!strings.Contains(errs.String(), "cannot listen on "+d.n.LocalAddr()) {
		t.Errorf("second daemon on one address: exit %d, %q", code, errs.String())
	}
	if code := d.stop(t); code != 0 {
		t.Errorf("daemon exit code after its signal: %d", code)
	}
}

func TestClientCommandsAgainstRunningDaemons(t *testing.T) {
	caDir, dirs := newCA(t, "alpha", "101", "102", "103")
	a := startDaemon(t, "--data", dirs[0], "--no-mdns", "--listen", "127.0.0.1:0", "--log-level", "warn")
	b := startDaemon(t, "--data", dirs[1], "--no-mdns", "--listen", "127.0.0.1:0", "--peer", a.n.LocalAddr(), "--log-level", "warn")
	c := startDaemon(t, "--data", dirs[2], "--no-mdns", "--listen", "127.0.0.1:0", "--peer", a.n.LocalAddr(), "--log-level", "warn")
	if !strings.Contains(a.stdout.String(), "meshcomm daemon: ready sip:101@alpha node="+a.n.ID().String()) {
		t.Errorf("ready line: %q", a.stdout.String())
	}
	waitMeshed(t, a.n, "sip:101@alpha", "sip:102@alpha", "sip:103@alpha")
	waitMeshed(t, b.n, "sip:101@alpha", "sip:102@alpha", "sip:103@alpha")

	var st node.Status
	out := mustRun(t, runStatus, "--data", dirs[0], "--json")
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	if st.NodeID != a.n.ID().String() || st.AoR != "sip:101@alpha" || st.Mode != "flood" || st.SizeEstimate != 3 ||
		len(st.Peers) != 2 || st.Records < 9 {
		t.Errorf("status: %+v", st)
	}
	for _, p := range st.Peers {
		if p.AoR == "" || p.Addr == "" || p.NodeID == "" || p.RTTMs <= 0 {
			t.Errorf("status peer %+v", p)
		}
	}
	text := mustRun(t, runStatus, "--data", dirs[0])
	for _, want := range []string{"sip:101@alpha", "FLOOD", "MESH SIZE", "sip:102@alpha", "sip:103@alpha"} {
		if !strings.Contains(text, want) {
			t.Errorf("status text lacks %q:\n%s", want, text)
		}
	}

	var lr node.LookupResult
	out = mustRun(t, runLookup, "103", "--data", dirs[1], "--json")
	if err := json.Unmarshal([]byte(out), &lr); err != nil {
		t.Fatal(err)
	}
	if !lr.Found || lr.AoR != "sip:103@alpha" || lr.NodeID != c.n.ID().String() || lr.Contact != c.n.Contact().Addr || lr.Hops != 0 {
		t.Errorf("lookup 103 from 102: %+v", lr)
	}
	if out := mustRun(t, runLookup, "sip:102@alpha", "--data", dirs[2]); !strings.Contains(out, "FOUND   sip:102@alpha") {
		t.Errorf("lookup text: %q", out)
	}
	code, out, _ := run(runLookup, "199", "--data", dirs[0], "--timeout", "3s")
	if code != 1 || !strings.Contains(out, "NOT FOUND   sip:199@alpha") {
		t.Errorf("lookup of an unknown extension: exit %d, %q", code, out)
	}

	var recs []node.RecordInfo
	if err := json.Unmarshal([]byte(mustRun(t, runRecords, "--data", dirs[0], "--kind", "registration", "--json")), &recs); err != nil || len(recs) != 3 {
		t.Errorf("registration records of 101: %+v %v", recs, err)
	}
	if out := mustRun(t, runRecords, "--data", dirs[0]); !strings.Contains(out, " RECORDS\n") || !strings.Contains(out, "sip:103@alpha") {
		t.Errorf("records text: %q", out)
	}

	var peers []node.PeerInfo
	if err := json.Unmarshal([]byte(mustRun(t, runPeers, "--data", dirs[1], "--json")), &peers); err != nil ||
		len(peers) != 1 || peers[0].NodeID != a.n.ID().String() {
		t.Errorf("peers of 102: %+v %v", peers, err)
	}
	if out := mustRun(t, runPeers, "--data", dirs[1]); !strings.Contains(out, "1 PEERS LINKED") || !strings.Contains(out, "sip:101@alpha") {
		t.Errorf("peers text: %q", out)
	}

	// Revoke 103 and flood it from 101's daemon: 102 learns it through the mesh.
	rev := filepath.Join(t.TempDir(), "rev.pem")
	mustRun(t, verbCmd("ca"), "revoke", "--dir", caDir, "--cert", filepath.Join(dirs[2], "node.pem"), "--out", rev)
	if out := mustRun(t, verbCmd("revoke"), "publish", rev, "--data", dirs[0]); !strings.Contains(out, "REVOKED   sip:103@alpha") {
		t.Errorf("revoke publish said %q", out)
	}
	fp := identity.FingerprintOf(c.n.Identity().Certificate().Raw)
	waitNode(t, b.n, "the revocation to reach 102", func() bool { return b.n.Identity().Verifier().Revoked(fp) })

	// Trusting another team's CA through a running daemon.
	bravoCA, _ := newCA(t, "bravo")
	if out := mustRun(t, verbCmd("trust"), "add", filepath.Join(bravoCA, "ca.pem"), "--data", dirs[0]); !strings.Contains(out, "TRUSTED   team bravo") {
		t.Errorf("trust add said %q", out)
	}
	anchors := a.n.Identity().Verifier().Anchors()
	if len(anchors) != 2 {
		t.Errorf("the running daemon trusts %d teams, want 2", len(anchors))
	}
	if _, err := os.Stat(filepath.Join(dirs[0], "trust")); err != nil {
		t.Error(err)
	}
}
