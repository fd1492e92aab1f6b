package node

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"meshcomm/identity"
)

// wait is the generous failure deadline of every wait in these tests.
const wait = 20 * time.Second

// testLogger shows warnings and errors in the test log (MESHCOMM_TEST_LOG=debug: everything).
func testLogger(t testing.TB) *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("MESHCOMM_TEST_LOG") == "debug" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// newTeam makes data directories for n members of team "alpha": the first is bootstrapped
// (it holds the team CA), the others are enrolled from it. Extensions are 101, 102, ...
func newTeam(t testing.TB, team string, firstExt, n int) []string {
	t.Helper()
	now := time.Now()
	dirs := make([]string, n)
	for i := range dirs {
		dirs[i] = t.TempDir()
	}
	if _, err := identity.BootstrapTeam(dirs[0], team, fmt.Sprint(firstExt), now); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < n; i++ {
		enroll(t, dirs[0], dirs[i], fmt.Sprint(firstExt+i))
	}
	return dirs
}

// enroll issues a bundle for ext from the CA bootstrapped in caHolder and installs it in dir.
func enroll(t testing.TB, caHolder, dir, ext string) {
	t.Helper()
	bundle, err := identity.Issue(identity.LocalCADir(caHolder), ext, "Member "+ext, "medic", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "bundle.pem")
	if err := identity.WriteBundle(path, bundle); err != nil {
		t.Fatal(err)
	}
	if _, err := identity.Enroll(path, dir, time.Now()); err != nil {
		t.Fatal(err)
	}
}

// startNode starts a node on 127.0.0.1 with static peers and no mDNS; it is closed at cleanup.
func startNode(t testing.TB, dir string, peers ...string) *Node {
	t.Helper()
	return startNodeWith(t, Config{DataDir: dir, Listen: "127.0.0.1:0", Peers: peers})
}

// startNodeWith starts a node with cfg (logging to the test); it is closed at cleanup.
func startNodeWith(t testing.TB, cfg Config) *Node {
	t.Helper()
	cfg.Logger = testLogger(t)
	n, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// events merges the event streams of nodes into one channel (unsubscribed at cleanup).
func events(t testing.TB, nodes ...*Node) <-chan Event {
	out := make(chan Event, 1024)
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	for _, n := range nodes {
		sub := n.Subscribe(1024)
		t.Cleanup(sub.Close)
		go func() {
			for ev := range sub.C {
				select {
				case out <- ev:
				case <-done:
					return
				}
			}
		}()
	}
	return out
}

// waitFor re-checks cond after every event on evs until it holds or the deadline passes.
func waitFor(t testing.TB, evs <-chan Event, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for !cond() {
		select {
		case _, ok := <-evs:
			if !ok {
				t.Fatalf("event stream closed while waiting for %s", what)
			}
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// waitEvent returns the first event on evs that match accepts.
func waitEvent(t testing.TB, evs <-chan Event, what string, match func(Event) bool) Event {
	t.Helper()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		select {
		case ev, ok := <-evs:
			if !ok {
				t.Fatalf("event stream closed while waiting for %s", what)
			}
			if match(ev) {
				return ev
			}
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// holdsRegistrations reports whether n holds a live registration of every AoR.
func holdsRegistrations(t testing.TB, n *Node, aors ...string) bool {
	t.Helper()
	recs, err := n.Records(context.Background(), "registration")
	if err != nil {
		t.Fatal(err)
	}
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

func aorsOf(nodes ...*Node) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.Identity().AoR()
	}
	return out
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

// tapConn is a UDP socket seen only through net.PacketConn (so quic-go takes its plain path and
// every packet passes here): it counts bytes and packets both ways, and once cut it silently
// drops everything it is asked to send, as a crashed laptop would.
type tapConn struct {
	c                     *net.UDPConn
	cut                   atomic.Bool
	packetsIn, packetsOut atomic.Uint64
	bytesIn, bytesOut     atomic.Uint64
}

func newTapConn(t testing.TB) *tapConn {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &tapConn{c: c}
}

func (t *tapConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, a, err := t.c.ReadFrom(p)
	if err == nil {
		t.packetsIn.Add(1)
		t.bytesIn.Add(uint64(n))
	}
	return n, a, err
}

func (t *tapConn) WriteTo(p []byte, a net.Addr) (int, error) {
	if t.cut.Load() {
		return len(p), nil
	}
	n, err := t.c.WriteTo(p, a)
	if err == nil {
		t.packetsOut.Add(1)
		t.bytesOut.Add(uint64(n))
	}
	return n, err
}

func (t *tapConn) Close() error                       { return t.c.Close() }
func (t *tapConn) LocalAddr() net.Addr                { return t.c.LocalAddr() }
func (t *tapConn) SetDeadline(d time.Time) error      { return t.c.SetDeadline(d) }
func (t *tapConn) SetReadDeadline(d time.Time) error  { return t.c.SetReadDeadline(d) }
func (t *tapConn) SetWriteDeadline(d time.Time) error { return t.c.SetWriteDeadline(d) }
func (t *tapConn) SetReadBuffer(n int) error          { return t.c.SetReadBuffer(n) }
func (t *tapConn) SetWriteBuffer(n int) error         { return t.c.SetWriteBuffer(n) }
