package sim

import (
	"math/rand/v2"
	"time"

	"meshcomm/mesh"
)

// Core is the overlay state machine the simulator drives, one per simulated node: the real
// *hybrid.Node (see HybridCore) or a stand-in in tests. The simulator never calls one core from
// two goroutines at once, but cores of different nodes run at the same time, so cores must share
// nothing mutable (the shared verifier locks). It treats received messages as immutable: a
// message sent to several peers is the same value for all of them, so a core must not modify a
// message it receives.
type Core interface {
	ID() mesh.NodeID
	Start(now time.Time)
	AddPeer(now time.Time, c mesh.Contact)
	RemovePeer(now time.Time, id mesh.NodeID)
	Step(now time.Time, from mesh.Contact, msg mesh.Message)
	Tick(now time.Time)
	NextTick() time.Time
	Ready() mesh.Ready
	Publish(now time.Time, kind mesh.Kind, res mesh.ResourceID, key, value []byte, ttl time.Duration) (mesh.Record, error)
	Lookup(now time.Time, res mesh.ResourceID, kind mesh.Kind) mesh.LookupID
	Leave(now time.Time)
	Holds(k mesh.RecordKey) (mesh.Record, bool)
	Replicas() int
	Mode() mesh.Mode
}

// CoreConfig is what the simulator gives each node's core.
type CoreConfig struct {
	Self     mesh.Contact
	Signer   mesh.Signer
	Verifier mesh.Verifier // shared by every node of a run
	Rand     *rand.Rand    // the node's own seeded source
}

// NewCore builds one node's core.
type NewCore func(CoreConfig) Core
