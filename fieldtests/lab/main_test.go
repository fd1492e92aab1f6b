package lab

import (
	"os"
	"testing"
	"time"

	"meshcomm/fieldtests/radiolink"
)

// testbed builds the binary and names the namespaces of this package's tests ("mcft...").
var testbed = NewTestbed("mcft")

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(runHelperNode())
	}
	code := m.Run()
	testbed.Remove()
	os.Exit(code)
}

// labBinary skips the test unless the lab can run here and returns the meshcomm binary.
func labBinary(t *testing.T) string { return testbed.Binary(t) }

// newCluster starts a lab of nodes namespaces for the test (see Testbed.Cluster).
func newCluster(t *testing.T, tag string, nodes int, initial radiolink.Link) *Cluster {
	t.Helper()
	return testbed.Cluster(t, tag, nodes, initial)
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
