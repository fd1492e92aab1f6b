package phonelab

import (
	"fmt"
	"os"
	"strconv"

	"meshcomm/fieldtests/lab"
	"meshcomm/mesh/hybrid"
	"meshcomm/node"
)

// The test binary doubles as a node whose overlay switches to DHT mode at a small size (see
// runHelperNode), selected by these environment variables.
const (
	helperEnv      = "MESHCOMM_PHONELAB_HELPER_NODE" // "1": run as a node instead of running tests
	helperDataEnv  = "MESHCOMM_PHONELAB_HELPER_DATA" // its data directory
	helperDHTAtEnv = "MESHCOMM_PHONELAB_HELPER_DHT_AT"
)

// runHelperNode runs the daemon's own runtime (package node, as `meshcomm daemon
// --auto-answer` does) with the overlay's flood-to-DHT threshold lowered to
// $MESHCOMM_PHONELAB_HELPER_DHT_AT. The daemon has no flag for the threshold (64 nodes), and 64
// daemons do not fit this lab's two cores, so the DHT-mode call setup is measured on a smaller
// mesh that runs the DHT. It prints the daemon's ready line and leaves cleanly on SIGTERM.
func runHelperNode() int {
	at, err := strconv.Atoi(os.Getenv(helperDHTAtEnv))
	if err != nil || at < 2 {
		fmt.Fprintf(os.Stderr, "helper node: %s=%q: want a size of 2 or more\n", helperDHTAtEnv, os.Getenv(helperDHTAtEnv))
		return 2
	}
	return lab.RunNode(node.Config{DataDir: os.Getenv(helperDataEnv), MDNS: true, AutoAnswer: true,
		Tuning: hybrid.Tuning{FloodToDHT: at, DHTToFlood: max(1, at*3/4)}})
}

// startDHTNode runs the helper node in namespace n on its data directory, switching to DHT
// mode at dhtAt nodes.
func startDHTNode(c *lab.Cluster, n, dhtAt int) (*lab.Process, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return c.Run(n, []string{helperEnv + "=1", helperDataEnv + "=" + c.DataDir(n), helperDHTAtEnv + "=" + strconv.Itoa(dhtAt)}, self)
}
