package radiolink

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// idleEmulator is an emulator that is not running: Apply only needs its medium.
func idleEmulator(t *testing.T, n int) *Emulator {
	t.Helper()
	ports := make([]Port, n)
	for i := range ports {
		ports[i] = newMemPort()
	}
	em, err := NewEmulator(newMedium(t, n, Link{Up: true}), ports, nil)
	if err != nil {
		t.Fatal(err)
	}
	return em
}

func apply(t *testing.T, em *Emulator, line string) Response {
	t.Helper()
	c, err := ParseCommand(line)
	if err != nil {
		t.Fatalf("%q: %v", line, err)
	}
	return c.Apply(em)
}

func mustLink(t *testing.T, em *Emulator, from, to int) Link {
	t.Helper()
	l, err := em.Link(from, to)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestControlLinkChangesOnlyTheGivenFields(t *testing.T) {
	em := idleEmulator(t, 3)
	if r := apply(t, em, "link 1 2 --delay 10ms --loss 0.05"); !r.OK {
		t.Fatal(r.Error)
	}
	want := Link{Up: true, Delay: 10 * time.Millisecond, Loss: 0.05}
	if a, b := mustLink(t, em, 1, 2), mustLink(t, em, 2, 1); a != want || b != want {
		t.Fatalf("links 1->2 %v, 2->1 %v; want both %v", a, b, want)
	}
	if r := apply(t, em, "link 1 2 --jitter 2ms --rate 125k --queue 16k --oneway"); !r.OK {
		t.Fatal(r.Error)
	}
	want12 := Link{Up: true, Delay: 10 * time.Millisecond, Jitter: 2 * time.Millisecond, Loss: 0.05, Rate: 125000, QueueBytes: 16000}
	if a, b := mustLink(t, em, 1, 2), mustLink(t, em, 2, 1); a != want12 || b != want {
		t.Fatalf("after oneway: 1->2 %v, 2->1 %v", a, b)
	}
	if r := apply(t, em, "down 1 2"); !r.OK || mustLink(t, em, 1, 2).Up || mustLink(t, em, 2, 1).Up {
		t.Fatalf("down: %+v", r)
	}
	if r := apply(t, em, "up 2 1 --oneway"); !r.OK || mustLink(t, em, 1, 2).Up || !mustLink(t, em, 2, 1).Up {
		t.Fatalf("up --oneway: %+v", r)
	}
	if mustLink(t, em, 1, 2).Delay != 10*time.Millisecond {
		t.Error("up/down lost the link's delay")
	}
	if r := apply(t, em, "link 1 3 --down"); !r.OK || mustLink(t, em, 1, 3).Up {
		t.Fatalf("link --down: %+v", r)
	}
}

func TestControlRejectsWithoutChangingAnything(t *testing.T) {
	em := idleEmulator(t, 3)
	for _, line := range []string{"link 1 2 --loss 2", "link 1 9 --delay 1ms", "link 2 2 --delay 1ms", "partition 1,2 2,3", "move 1 1"} {
		if r := apply(t, em, line); r.OK || r.Error == "" {
			t.Errorf("%q was accepted: %+v", line, r)
		}
	}
	for from := 1; from <= 3; from++ {
		for to := 1; to <= 3; to++ {
			if from != to && mustLink(t, em, from, to) != (Link{Up: true}) {
				t.Errorf("a rejected request changed link %d->%d to %v", from, to, mustLink(t, em, from, to))
			}
		}
	}
}

func TestControlTopologyCommands(t *testing.T) {
	em := idleEmulator(t, 6)
	if r := apply(t, em, "partition 1,2,3 4,5,6"); !r.OK {
		t.Fatal(r.Error)
	}
	if mustLink(t, em, 1, 4).Up || !mustLink(t, em, 4, 6).Up || !mustLink(t, em, 2, 3).Up {
		t.Error("partition did not split 1,2,3 from 4,5,6")
	}
	if r := apply(t, em, "heal"); !r.OK || !mustLink(t, em, 1, 4).Up {
		t.Fatalf("heal: %+v", r)
	}
	if r := apply(t, em, "move 6 1,2"); !r.OK {
		t.Fatal(r.Error)
	}
	if !mustLink(t, em, 6, 1).Up || !mustLink(t, em, 2, 6).Up || mustLink(t, em, 6, 3).Up || mustLink(t, em, 5, 6).Up {
		t.Error("move 6 1,2 did not leave node 6 hearing exactly 1 and 2")
	}
	if r := apply(t, em, "move 6 none"); !r.OK || mustLink(t, em, 6, 1).Up {
		t.Fatalf("move none: %+v", r)
	}
	r := apply(t, em, "show 1 2")
	if !r.OK || len(r.Links) != 2 || r.Links[0].From != 1 || r.Links[1].From != 2 {
		t.Errorf("show 1 2: %+v", r)
	}
	if r := apply(t, em, "show"); len(r.Links) != 30 {
		t.Errorf("show listed %d links of 6 nodes, want 30", len(r.Links))
	}
}

func TestParseCommandRejectsNonsense(t *testing.T) {
	for _, line := range []string{
		"", "   ", "fly 1 2", "link 1", "link a b", "link 1 2 --delay soon", "link 1 2 --rate -5",
		"link 1 2 --up --down", "link 1 2 extra", "up 1 2 --delay 1ms", "heal now", "stats 1",
		"partition", "partition 1,,2", "move 1", "move x 1", "show 1", "link 0 1", "link 1 251",
		"link 1 2 --rate 99999999999G", strings.Repeat("x", MaxCommandLen+1),
	} {
		if c, err := ParseCommand(line); err == nil {
			t.Errorf("ParseCommand(%.40q) = %+v, want an error", line, c)
		}
	}
}

func TestControlServerOverUnixSocket(t *testing.T) {
	em := idleEmulator(t, 3)
	srv := NewControlServer(em, nil)
	path := filepath.Join(t.TempDir(), "ctl.sock")
	ln, err := ListenControl(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error)
	go func() { served <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})

	if r, err := Control(path, "link 1 3 --delay 7ms"); err != nil || !r.OK {
		t.Fatalf("link: %+v %v", r, err)
	}
	if mustLink(t, em, 3, 1).Delay != 7*time.Millisecond {
		t.Error("the request did not reach the emulator")
	}
	if r, err := Control(path, "teleport 1"); err != nil || r.OK || !strings.Contains(r.Error, "unknown command") {
		t.Fatalf("bad request: %+v %v", r, err)
	}
	if srv.BadCommands() != 1 {
		t.Errorf("bad commands %d, want 1", srv.BadCommands())
	}
	r, err := Control(path, "stats")
	if err != nil || !r.OK || r.Stats == nil {
		t.Fatalf("stats: %+v %v", r, err)
	}

	// An overlong line gets an answer and a hang-up; the server keeps serving others.
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte(strings.Repeat("z", 2*MaxCommandLen) + "\n"))
	var resp Response
	if err := json.NewDecoder(bufio.NewReader(c)).Decode(&resp); err != nil || resp.OK || !strings.Contains(resp.Error, "longer than") {
		t.Fatalf("overlong request: %+v %v", resp, err)
	}
	if r, err := Control(path, "heal"); err != nil || !r.OK {
		t.Fatalf("after an overlong request: %+v %v", r, err)
	}
	if _, err := ListenControl(path); err == nil {
		t.Error("a second server took over a live control socket")
	}
}

func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{
		"link 1 2 --delay 10ms --loss 0.05", "link 1 2 --rate 1M --queue 64k --oneway --up",
		"down 1 3", "up 3 1 --oneway", "partition 1,2,3 4,5,6", "move 2 none", "move 2 1,3",
		"heal", "stats", "show", "show 1 2", "link 1 2 --loss NaN", "link 1 2 --jitter -1s",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		c, err := ParseCommand(line)
		if err != nil {
			return
		}
		if len(line) > MaxCommandLen {
			t.Fatalf("accepted a %d-byte command", len(line))
		}
		// Whatever parses must apply without panicking and either succeed or explain itself.
		em := idleEmulator(t, 4)
		if r := c.Apply(em); !r.OK && r.Error == "" {
			t.Fatalf("%q failed without a reason", line)
		}
	})
}
