package phonelab

import (
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"meshcomm/fieldtests/lab"
	"meshcomm/fieldtests/radiolink"
	"meshcomm/media"
)

// nsPrefix starts every namespace prefix of this package: "mcpl", the test process id, a test
// tag, then the node number (mcpl4242call1), so concurrent runs (and the lab package's own
// tests, "mcft...") never collide, and a run can remove what a crashed one left behind.
const nsPrefix = "mcpl"

var stalePrefix = regexp.MustCompile(`^(` + nsPrefix + `([0-9]+)[a-z]+)[0-9]+$`)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(runHelperNode())
	}
	code := m.Run()
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
	os.Exit(code)
}

// build is the meshcomm binary shared by every test of the run, built on first use.
var build struct {
	once sync.Once
	dir  string
	bin  string
	err  error
	skip string
}

// labBinary skips the test unless the lab can run here (Linux, root, ip(8), /dev/net/tun),
// removes namespaces that crashed runs of this package left behind, and returns the meshcomm
// binary, built once per test process.
func labBinary(t *testing.T) string {
	t.Helper()
	build.once.Do(func() {
		if build.skip = labUnavailable(); build.skip != "" {
			return
		}
		removeStaleNamespaces()
		build.dir, build.err = os.MkdirTemp("", "meshcomm-phonelab-bin-")
		if build.err != nil {
			return
		}
		build.bin = filepath.Join(build.dir, "meshcomm")
		goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
		if p, err := exec.LookPath("go"); err == nil {
			goTool = p
		}
		out, err := exec.Command(goTool, "build", "-o", build.bin, "meshcomm/cmd/meshcomm").CombinedOutput()
		if err != nil {
			build.err = fmt.Errorf("go build meshcomm: %v\n%s", err, out)
		}
	})
	if build.skip != "" {
		t.Skip("field lab unavailable: " + build.skip)
	}
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.bin
}

// labUnavailable says why the lab cannot run here, or "".
func labUnavailable() string {
	switch {
	case runtime.GOOS != "linux":
		return "needs Linux network namespaces"
	case os.Geteuid() != 0:
		return "needs root (network namespaces and TAP devices)"
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return "needs ip(8) from iproute2"
	}
	f, err := os.OpenFile("/dev/net/tun", os.O_RDWR, 0)
	if err != nil {
		return "needs /dev/net/tun: " + err.Error()
	}
	f.Close()
	return ""
}

// removeStaleNamespaces deletes the namespaces of earlier runs of this package whose process
// is gone. Their daemons died with it (parent-death signal).
func removeStaleNamespaces() {
	entries, err := os.ReadDir("/run/netns")
	if err != nil {
		return
	}
	done := map[string]bool{}
	for _, e := range entries {
		m := stalePrefix.FindStringSubmatch(e.Name())
		if m == nil || done[m[1]] {
			continue
		}
		pid, err := strconv.Atoi(m[2])
		if err != nil || pid == os.Getpid() || syscall.Kill(pid, 0) == nil {
			continue // ours, or its run may still be going
		}
		done[m[1]] = true
		if names, err := radiolink.Cleanup(m[1]); err != nil {
			slog.Warn("phonelab: removing a crashed run's namespaces", "names", names, "err", err)
		}
	}
}

// perfect is the lab's default radio: every link up, no delay or loss.
var perfect = radiolink.Link{Up: true}

// newLab starts a cluster of nodes namespaces for the test, tagged tag (lower-case letters),
// and removes it when the test ends, after logging the end of every daemon's log if the test
// failed.
func newLab(t *testing.T, tag string, nodes int, initial radiolink.Link) (*lab.Cluster, Phone) {
	t.Helper()
	bin := labBinary(t)
	c, err := lab.Start(lab.Config{Prefix: fmt.Sprintf("%s%d%s", nsPrefix, os.Getpid(), tag), Nodes: nodes, Seed: 1,
		Initial: initial, Binary: bin, Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for n := 1; n <= nodes; n++ {
				if b, err := os.ReadFile(c.LogPath(n)); err == nil {
					t.Logf("log of node %d:\n%s", n, lastLines(string(b), 60))
				}
			}
		}
		if err := c.Close(); err != nil {
			t.Errorf("closing the lab: %v", err)
		}
	})
	return c, Phone{Cluster: c, Binary: bin}
}

func lastLines(s string, n int) string {
	all := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(all[max(0, len(all)-n):], "\n")
}

// ext is the extension of the user on node n in these tests.
func ext(n int) string { return strconv.Itoa(100 + n) }

// enrolAll creates team name and enrols nodes ns into it, node n as extension ext(n): the
// laptops of one incident, enrolled from one CA, form one mesh.
func enrolAll(t *testing.T, c *lab.Cluster, name string, ns ...int) *lab.Team {
	t.Helper()
	team, err := c.NewTeam(name)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ns {
		if err := team.Enroll(n, ext(n)); err != nil {
			t.Fatal(err)
		}
	}
	return team
}

// start runs the daemon of node n with its extension and args, or fails the test.
func start(t *testing.T, c *lab.Cluster, n int, args ...string) *lab.Process {
	t.Helper()
	p, err := c.StartDaemon(n, append([]string{"--ext", ext(n)}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// waitFor polls cond (lab.Poll) and fails the test on timeout; it returns the time it took.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	d, err := lab.Poll(timeout, what, cond)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// resolve reports whether every node in from resolves every daemon in procs (by AoR, to its
// node id).
func resolve(c *lab.Cluster, from []int, procs map[int]*lab.Process) (bool, string) {
	var missing []string
	for _, n := range from {
		for m, p := range procs {
			if m == n {
				continue
			}
			lr, err := c.Lookup(n, p.Ready.AoR, 5*time.Second)
			switch {
			case err != nil:
				missing = append(missing, fmt.Sprintf("node %d: lookup %s: %v", n, p.Ready.AoR, err))
			case !lr.Found || lr.NodeID != p.Ready.NodeID:
				missing = append(missing, fmt.Sprintf("node %d: %s -> found %v node %q", n, p.Ready.AoR, lr.Found, lr.NodeID))
			}
		}
	}
	slices.Sort(missing)
	return len(missing) == 0, strings.Join(missing, "; ")
}

// noLinksAcross reports whether no node of side a is linked to a node of side b.
func noLinksAcross(c *lab.Cluster, procs map[int]*lab.Process, a, b []int) (bool, string) {
	ids := map[string]int{}
	for _, n := range b {
		ids[procs[n].Ready.NodeID] = n
	}
	var across []string
	for _, n := range a {
		peers, err := c.Peers(n)
		if err != nil {
			return false, err.Error()
		}
		for _, p := range peers {
			if m, ok := ids[p.NodeID]; ok {
				across = append(across, fmt.Sprintf("%d-%d", n, m))
			}
		}
	}
	return len(across) == 0, "still linked across: " + strings.Join(across, " ")
}

// writeSpeech writes d of media.SpeechLike at rate Hz, starting offset into the signal (so
// that two directions of a call carry different audio), to a WAV file and returns its samples.
func writeSpeech(t *testing.T, path string, rate int, offset, d time.Duration) []int16 {
	t.Helper()
	all := media.SpeechLike(rate, offset+d)
	pcm := all[int(offset.Seconds()*float64(rate)):]
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := media.WriteWAV(f, rate, pcm); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return pcm
}

// readWAV reads a 16-bit mono WAV file.
func readWAV(t *testing.T, path string) ([]int16, int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pcm, rate, err := media.ReadWAV(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return pcm, rate
}
