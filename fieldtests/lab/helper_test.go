package lab

import (
	"fmt"
	"os"
	"time"

	"meshcomm/node"
)

// The test binary doubles as a node whose clock runs behind (see runHelperNode), selected by
// these environment variables.
const (
	helperEnv       = "MESHCOMM_LAB_HELPER_NODE" // "1": run as a node instead of running tests
	helperDataEnv   = "MESHCOMM_LAB_HELPER_DATA" // its data directory
	helperBehindEnv = "MESHCOMM_LAB_HELPER_BEHIND"
)

// runHelperNode runs the daemon's own runtime (package node, as `meshcomm daemon` does) with a
// clock set back by $MESHCOMM_LAB_HELPER_BEHIND. A registration lives node.RegistrationTTL
// (an hour) from when its owner signs it, and the daemon has no flag to shorten that, so a
// field test cannot wait for a real daemon's registration to expire. A node whose clock is
// RegistrationTTL - 30 s behind signs registrations that expire 30 s from now by everyone
// else's clock: killed with SIGKILL, it lets the test watch the real daemons drop its
// registration at its expiry. It prints the daemon's ready line, and leaves cleanly on SIGTERM.
func runHelperNode() int {
	behind, err := time.ParseDuration(os.Getenv(helperBehindEnv))
	if err != nil {
		fmt.Fprintf(os.Stderr, "helper node: %s: %v\n", helperBehindEnv, err)
		return 2
	}
	return RunNode(node.Config{DataDir: os.Getenv(helperDataEnv), MDNS: true,
		Now: func() time.Time { return time.Now().Add(-behind) }})
}

// startBehind runs the helper node in namespace n on DataDir(n), its clock behind by behind.
func startBehind(c *Cluster, n int, behind time.Duration) (*Process, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return c.Run(n, []string{helperEnv + "=1", helperDataEnv + "=" + c.DataDir(n), helperBehindEnv + "=" + behind.String()}, self)
}
