// Package sim is a deterministic discrete-event simulator for the overlay: thousands of
// mesh/hybrid cores in one process, in virtual time, over a seeded link model, driven through
// scenarios (steady, grow, partition, merge, churn, failure, propagation) that measure lookup
// success, hops, latency, convergence, lost records and traffic. `meshcomm sim` runs it.
//
// Engine. One priority queue of events ordered by (virtual time, sequence number): message
// deliveries, node ticks and scenario actions. The heap holds small values (time, sequence,
// slot); payloads live in a pool of slots reused as events fire, so a message delivery
// allocates nothing in the simulator. Each node's Tick is scheduled at its core's NextTick()
// and rescheduled after every Step and Tick; a superseded tick stays in the heap and is
// skipped when it fires (a per-node generation counter). After every call into a core its
// Ready batch is drained: messages go to the link model, LookupDone events to the lookup
// table. Messages are passed in memory (no encoding; Config.Wire round-trips each through the
// codec) and accounted with mesh.EncodedSize. Everything random comes from sources seeded by
// Config.Seed (the link model has one per sender), and the engine runs in windows one link
// latency long whose nodes several goroutines run at once, applying the effects in a canonical
// order (window.go); so the same configuration gives the same result on any number of workers.
//
// Identities are real: each team has an ed25519 authority derived from the seed, each node a
// credential it issued, and every node shares one verifier that trusts all teams. It remembers
// the signatures it has accepted (exact bytes), so a record is checked with ed25519 once per run
// rather than once per node that receives it: the answers are the same, the run much cheaper.
//
// The link model, the scenarios, the convergence oracle and every reported field are defined
// in docs/simulator.md.
package sim
