package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"meshcomm/fieldtests/radiolink"
)

// idlePort is a port that never carries a frame: these tests exercise control, not forwarding.
type idlePort struct{}

func (idlePort) ReadFrame([]byte) (int, error) { return 0, os.ErrClosed }
func (idlePort) WriteFrame([]byte) error       { return nil }
func (idlePort) Close() error                  { return nil }

func newEmulator(t *testing.T, n int) *radiolink.Emulator {
	t.Helper()
	m, err := radiolink.NewMedium(n, 1, radiolink.Link{Up: true})
	if err != nil {
		t.Fatal(err)
	}
	ports := make([]radiolink.Port, n)
	for i := range ports {
		ports[i] = idlePort{}
	}
	em, err := radiolink.NewEmulator(m, ports, nil)
	if err != nil {
		t.Fatal(err)
	}
	return em
}

func TestApplyTopologyLine(t *testing.T) {
	em := newEmulator(t, 4)
	if err := applyTopology(em, "line"); err != nil {
		t.Fatal(err)
	}
	for a := 1; a <= 4; a++ {
		for b := 1; b <= 4; b++ {
			if a == b {
				continue
			}
			l, err := em.Link(a, b)
			if err != nil {
				t.Fatal(err)
			}
			if want := a-b == 1 || b-a == 1; l.Up != want {
				t.Errorf("line: %d hears %d = %v, want %v", b, a, l.Up, want)
			}
		}
	}
	if err := applyTopology(em, "ring"); err == nil {
		t.Error("unknown topology accepted")
	}
}

func TestCtlTalksToTheControlSocket(t *testing.T) {
	em := newEmulator(t, 3)
	sock := filepath.Join(t.TempDir(), "ctl.sock")
	ln, err := radiolink.ListenControl(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- radiolink.NewControlServer(em, nil).Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })

	var out bytes.Buffer
	if err := ctl([]string{sock, "link", "1", "2", "--delay", "5ms", "--loss", "0.25"}, &out); err != nil || out.String() != "ok\n" {
		t.Fatalf("link: %q %v", out.String(), err)
	}
	if l, _ := em.Link(2, 1); l.Delay != 5*time.Millisecond || l.Loss != 0.25 {
		t.Errorf("link 2->1 is %v after ctl link 1 2", l)
	}
	out.Reset()
	if err := ctl([]string{sock, "show", "1", "2"}, &out); err != nil || !strings.Contains(out.String(), "1 -> 2  up delay=5ms") {
		t.Errorf("show: %q %v", out.String(), err)
	}
	out.Reset()
	if err := ctl([]string{sock, "stats"}, &out); err != nil || !strings.Contains(out.String(), "forwarded") {
		t.Errorf("stats: %q %v", out.String(), err)
	}
	if err := ctl([]string{sock, "partition", "1,2", "2,3"}, &out); err == nil || !strings.Contains(err.Error(), "two groups") {
		t.Errorf("bad partition: %v", err)
	}
	if err := ctl([]string{filepath.Join(t.TempDir(), "none.sock"), "heal"}, &out); err == nil {
		t.Error("ctl to a missing socket succeeded")
	}
}
