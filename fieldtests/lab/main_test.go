package lab

import (
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"meshcomm/fieldtests/radiolink"
)

// nsPrefix starts every namespace prefix of this package: "mcft", the test process id, a test
// tag, then the node number (mcft4242mesh1), so concurrent runs never collide and a run can
// remove what a crashed one left behind.
const nsPrefix = "mcft"

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
// removes namespaces that crashed runs left behind, and returns the meshcomm binary, built
// once per test process.
func labBinary(t *testing.T) string {
	t.Helper()
	build.once.Do(func() {
		if build.skip = labUnavailable(); build.skip != "" {
			return
		}
		removeStaleNamespaces()
		build.dir, build.err = os.MkdirTemp("", "meshcomm-lab-bin-")
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
	if f, err := os.OpenFile("/dev/net/tun", os.O_RDWR, 0); err != nil {
		return "needs /dev/net/tun: " + err.Error()
	} else {
		f.Close()
	}
	return ""
}

// removeStaleNamespaces deletes the namespaces of earlier runs whose process is gone (a run
// killed before its cleanup). Their daemons died with that process (parent-death signal).
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
			slog.Warn("lab: removing a crashed run's namespaces", "names", names, "err", err)
		}
	}
}

// newCluster starts a lab of nodes namespaces for the test, tagged tag (lower-case letters),
// and removes it when the test ends, after logging every daemon's log if the test failed.
func newCluster(t *testing.T, tag string, nodes int, initial radiolink.Link) *Cluster {
	t.Helper()
	bin := labBinary(t)
	c, err := Start(Config{Prefix: fmt.Sprintf("%s%d%s", nsPrefix, os.Getpid(), tag), Nodes: nodes, Seed: 1,
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
	return c
}

// start runs the daemon of node n (see Cluster.StartDaemon) or fails the test.
func start(t *testing.T, c *Cluster, n int, args ...string) *Process {
	t.Helper()
	p, err := c.StartDaemon(n, args...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// waitFor polls cond (see Poll) and fails the test on timeout; it returns the time it took.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	d, err := Poll(timeout, what, cond)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
