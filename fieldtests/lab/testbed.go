package lab

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"

	"meshcomm/fieldtests/radiolink"
	"meshcomm/node"
)

// Testbed is what the field-test packages share: the meshcomm binary, built once per test
// process, and the clean-up of namespaces that crashed runs left behind. Each package has its
// own namespace prefix ("mcft" for this package's tests, "mcpl" for the phone lab's); a
// cluster's namespaces are named prefix, test process id, a test tag, node number
// (mcft4242mesh1), so concurrent runs never collide and a later run can tell which runs are
// gone.
type Testbed struct {
	prefix string
	stale  *regexp.Regexp

	once sync.Once
	dir  string
	bin  string
	err  error
	skip string
}

// NewTestbed returns the testbed of a test package whose namespaces start with prefix
// (lower-case letters).
func NewTestbed(prefix string) *Testbed {
	return &Testbed{prefix: prefix, stale: regexp.MustCompile(`^(` + prefix + `([0-9]+)[a-z]+)[0-9]+$`)}
}

// Binary skips the test unless the lab can run here (Linux, root, ip(8), /dev/net/tun), removes
// namespaces of this testbed's crashed runs, and returns the meshcomm binary, built on first
// use.
func (tb *Testbed) Binary(t testing.TB) string {
	t.Helper()
	tb.once.Do(func() {
		if tb.skip = Unavailable(); tb.skip != "" {
			return
		}
		tb.removeStaleNamespaces()
		tb.dir, tb.err = os.MkdirTemp("", "meshcomm-"+tb.prefix+"-bin-")
		if tb.err != nil {
			return
		}
		tb.bin = filepath.Join(tb.dir, "meshcomm")
		goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
		if p, err := exec.LookPath("go"); err == nil {
			goTool = p
		}
		out, err := exec.Command(goTool, "build", "-o", tb.bin, "meshcomm/cmd/meshcomm").CombinedOutput()
		if err != nil {
			tb.err = fmt.Errorf("go build meshcomm: %v\n%s", err, out)
		}
	})
	if tb.skip != "" {
		t.Skip("field lab unavailable: " + tb.skip)
	}
	if tb.err != nil {
		t.Fatal(tb.err)
	}
	return tb.bin
}

// Remove deletes the built binary; TestMain calls it after the tests.
func (tb *Testbed) Remove() {
	if tb.dir != "" {
		os.RemoveAll(tb.dir)
	}
}

// Cluster starts a lab of nodes namespaces for the test, tagged tag (lower-case letters), with
// every link initially as given, and removes it when the test ends, after logging the end of
// every daemon's log if the test failed.
func (tb *Testbed) Cluster(t *testing.T, tag string, nodes int, initial radiolink.Link) *Cluster {
	t.Helper()
	bin := tb.Binary(t)
	c, err := Start(Config{Prefix: fmt.Sprintf("%s%d%s", tb.prefix, os.Getpid(), tag), Nodes: nodes, Seed: 1,
		Initial: initial, Binary: bin, Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for n := 1; n <= nodes; n++ {
				if b, err := os.ReadFile(c.LogPath(n)); err == nil {
					t.Logf("log of node %d:\n%s", n, LastLines(string(b), 60))
				}
			}
		}
		if err := c.Close(); err != nil {
			t.Errorf("closing the lab: %v", err)
		}
	})
	return c
}

// Unavailable says why the lab cannot run here, or "".
func Unavailable() string {
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

// removeStaleNamespaces deletes the namespaces of this testbed's earlier runs whose process is
// gone (a run killed before its clean-up). Their daemons died with that process (parent-death
// signal).
func (tb *Testbed) removeStaleNamespaces() {
	entries, err := os.ReadDir("/run/netns")
	if err != nil {
		return
	}
	done := map[string]bool{}
	for _, e := range entries {
		m := tb.stale.FindStringSubmatch(e.Name())
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

// RunNode runs the daemon's own runtime (package node, as `meshcomm daemon` does) in this
// process with cfg, for a test binary that doubles as a node the daemon's flags cannot make
// (a clock set back, a lower flood-to-DHT threshold): it prints the daemon's ready line,
// leaves the mesh cleanly on SIGTERM or Ctrl-C, and returns the exit code.
func RunNode(cfg node.Config) int {
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	n, err := node.Start(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "helper node: %v\n", err)
		return 1
	}
	fmt.Printf("%s%s node=%s listen=%s addr=%s control=%s\n", readyPrefix, n.Identity().AoR(), n.ID(), n.LocalAddr(),
		n.Contact().Addr, node.ControlPath(cfg.DataDir))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	select {
	case <-ctx.Done():
	case <-n.Done():
	}
	n.Close()
	return 0
}

// EnrolAll creates team name and enrols nodes ns into it, node n with extension ext(n): the
// laptops of one incident, enrolled from one CA, form one mesh.
func (c *Cluster) EnrolAll(name string, ext func(n int) string, ns ...int) (*Team, error) {
	team, err := c.NewTeam(name)
	if err != nil {
		return nil, err
	}
	for _, n := range ns {
		if err := team.Enroll(n, ext(n)); err != nil {
			return nil, err
		}
	}
	return team, nil
}
