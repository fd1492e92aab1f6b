package lab

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A hears B, B hears C, A does not hear C: A and C resolve each other through B without ever
// linking, and count three nodes; A reaches C through B with a call routed through B and with
// a text message the overlay carries (where the binary has them).
func TestRelayThroughTheMiddleNode(t *testing.T) {
	const a, b, cc = 1, 2, 3
	c := newCluster(t, "relay", 3, perfect)
	if err := c.Emulator().LinkDown(a, cc); err != nil {
		t.Fatal(err)
	}
	enrolAll(t, c, "alpha", a, b, cc)
	// What crossed A-C before the link went down (the kernels' neighbour discovery as the
	// interfaces came up with the lab) does not count.
	pre := c.Emulator().Stats()
	preAC, preCA := pre.Pair(a, cc).Forwarded, pre.Pair(cc, a).Forwarded
	phone := daemonHasPhone(t)
	recordings := filepath.Join(c.Root(), "recordings")
	if err := os.Mkdir(recordings, 0o700); err != nil { // the daemon does not create it
		t.Fatal(err)
	}
	procs := map[int]*Process{}
	for _, n := range []int{a, b, cc} {
		args := []string{"--ext", ext(n)}
		if n == cc && phone {
			args = append(args, "--auto-answer", "--record", recordings)
		}
		procs[n] = start(t, c, n, args...)
	}
	all := []int{a, b, cc}
	d := waitFor(t, time.Minute, "A, B and C to resolve each other", func() (bool, string) {
		return resolves(c, all, targetsOf(c, procs, all...))
	})
	t.Logf("A resolved C through B %v after C was ready", d.Round(time.Millisecond))
	if ok, why := linkedExactly(c, map[int][]string{a: idsOf(procs, b), b: idsOf(procs, a, cc), cc: idsOf(procs, b)}); !ok {
		t.Errorf("links: %s", why)
	}
	waitFor(t, 30*time.Second, "every node to count three nodes", func() (bool, string) { return sizeIs(c, all, 3) })
	st := c.Emulator().Stats()
	if ac, ca := st.Pair(a, cc), st.Pair(cc, a); ac.Forwarded-preAC+ca.Forwarded-preCA != 0 || ac.DroppedDown == 0 {
		t.Errorf("A-C radio: %d+%d frames forwarded since the daemons started (want none), %d dropped on the down link (want some: A transmits)",
			ac.Forwarded-preAC, ca.Forwarded-preCA, ac.DroppedDown)
	}

	// The proxy hop named (B), then chosen by A's node: "overlay" routes through the linked
	// peer closest to C's resource, and A's only link is B.
	for i, route := range []struct{ name, via string }{{"call routed through B", procs[b].Ready.NodeID}, {"call routed through the overlay", "overlay"}} {
		t.Run(route.name, func(t *testing.T) {
			if !phone {
				t.Skip("this meshcomm has no phone (no daemon --auto-answer, no call)")
			}
			out, err := c.MustCLI("call", procs[cc].Ready.AoR, "--via", route.via, "--duration", "1s", "--json", "--data", c.DataDir(a))
			if err != nil {
				t.Fatal(err)
			}
			var res struct {
				Result      string  `json:"result"`
				SIPStatus   int     `json:"sip_status"`
				SetupMs     float64 `json:"setup_ms"`
				PacketsSent uint64  `json:"packets_sent"`
				Peer        string  `json:"peer"`
			}
			if err := json.Unmarshal(out, &res); err != nil {
				t.Fatalf("call output %q: %v", out, err)
			}
			if res.Result != "answered" || res.SIPStatus != 200 || res.Peer != procs[cc].Ready.NodeID || res.PacketsSent == 0 {
				t.Fatalf("call A -> C via B: %s", out)
			}
			t.Logf("A called C, %s: answered in %.1f ms, %d media packets sent", route.name, res.SetupMs, res.PacketsSent)
			waitFor(t, 30*time.Second, "C's recording of A's call to hold audio", func() (bool, string) {
				return recordedAudio(recordings, i+1)
			})
		})
	}

	t.Run("message carried by the overlay", func(t *testing.T) {
		if !phone {
			t.Skip("this meshcomm has no text messages (no msg command)")
		}
		const text = "A to C, out of range, through B"
		sent := time.Now()
		out, err := c.MustCLI("msg", procs[cc].Ready.AoR, text, "--json", "--data", c.DataDir(a))
		if err != nil {
			t.Fatal(err)
		}
		var res struct {
			State string `json:"state"`
		}
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatalf("msg output %q: %v", out, err)
		}
		t.Logf("A's message to C: %s after %v", res.State, time.Since(sent).Round(time.Millisecond))
		var via string
		d := waitFor(t, 2*time.Minute, "C to receive A's message", func() (bool, string) {
			out, err := c.MustCLI("messages", "--json", "--data", c.DataDir(cc))
			if err != nil {
				return false, err.Error()
			}
			var got struct {
				Inbox []struct {
					From string `json:"from"`
					Text string `json:"text"`
					Via  string `json:"via"`
				} `json:"inbox"`
			}
			if err := json.Unmarshal(out, &got); err != nil {
				return false, err.Error()
			}
			for _, m := range got.Inbox {
				if m.From == procs[a].Ready.AoR && m.Text == text {
					via = m.Via
					return true, ""
				}
			}
			return false, "C's inbox: " + strings.TrimSpace(string(out))
		})
		t.Logf("C received A's message (via %s) %v after it was sent", via, d.Round(time.Millisecond))
	})
}

// daemonHasPhone reports whether the binary's daemon takes --auto-answer (and so has calls and
// messages): the lab runs whatever meshcomm the tree builds.
func daemonHasPhone(t *testing.T) bool {
	t.Helper()
	out, _ := exec.Command(labBinary(t), "daemon", "--help").CombinedOutput()
	return strings.Contains(string(out), "-auto-answer")
}

// recordedAudio reports whether dir holds at least want WAV files with more than a header.
func recordedAudio(dir string, want int) (bool, string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false, err.Error()
	}
	got := 0
	for _, e := range entries {
		if info, err := e.Info(); err == nil && strings.HasSuffix(e.Name(), ".wav") && info.Size() > 44 {
			got++
		}
	}
	return got >= want, fmt.Sprintf("%d recordings with audio in %s, want %d", got, dir, want)
}
