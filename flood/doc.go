// Package flood is the flooding primitive of meshcomm: it spreads opaque payloads, each named by
// a 16-byte message id chosen by its origin, over a node's neighbour set, with duplicate
// suppression, a hop limit, per-neighbour acknowledgement and retransmission, and a per-origin
// rate limit. The overlay floods record updates with it; push-to-talk floor messages and
// emergency alerts use it too. It imports nothing of the project.
//
// A Flooder is a pure, deterministic state machine in the manner of etcd-io/raft's RawNode:
// time comes in as an argument, effects go out as return values ([Send] values the caller must
// transmit); it owns no goroutines, clocks, randomness or I/O. The same code runs over QUIC in a
// node and in the simulator with thousands of Flooders in one process.
//
// # Algorithm
//
// Origin. Originate remembers the id and sends the message to every neighbour with Hops set to
// HopLimit.
//
// Receiver of a copy from neighbour X carrying (origin, id, hops left):
//
//  1. hops 0: malformed (no peer sends it); dropped, not acknowledged.
//  2. id seen before: a duplicate. Acknowledge it; it also proves X holds the message, so it
//     stops any retransmission of that id to X (an implicit ack).
//  3. origin over its rate (a token bucket per origin, RatePerOrigin per second, RateBurst
//     deep): acknowledge, but neither deliver nor forward nor remember the id, so a later copy
//     from another neighbour, after the bucket refills, is still accepted.
//  4. otherwise new: remember the id for SeenTTL, deliver the payload locally, and, if hops > 1,
//     forward to every neighbour except X and the origin with hops-1 (hops above this node's
//     HopLimit are first lowered to it).
//
// Every copy a node sends (originated or forwarded) waits for an acknowledgement from its
// neighbour: an explicit ack (Acked) or a copy of the same id arriving from that neighbour.
// Without one, Tick resends it after RetransmitAfter, then after twice that, four times, ... up
// to RetransmitBudget resends, and gives the pair up when the wait after the last resend ends
// unanswered. With the defaults (250 ms, 3 resends) copies go out at 0, 0.25, 0.75 and 1.75 s
// and the pair is given up at 3.75 s: well inside the 2-minute SeenTTL, so a resend is never
// mistaken for a new message by a receiver that has already forgotten the id.
//
// Bounds. Every structure is bounded and costs O(1) or O(log n) per operation:
//
//   - seen ids: a set plus a ring buffer in arrival order. All ids share one TTL, so arrival
//     order is expiry order: expiry and eviction of the oldest (at SeenCap) pop the ring's front.
//   - unacknowledged (message, neighbour) pairs: a map by key, a min-heap by deadline (ties
//     broken by creation order, so output is deterministic) and a list in creation order; at
//     PendingCap the oldest pair is dropped and counted. Removal is eager everywhere. The
//     payload is held once per message, shared by its pairs, and freed with the last of them.
//   - rate buckets: a map plus a least-recently-used list; at OriginCap the least recently used
//     origin is forgotten. A bucket untouched long enough to be full again is dropped, since
//     that is the same as having none.
//
// Maps are made on first use and released (set to nil) once empty (the pending pairs' at the
// next Tick, so a busy node does not remake them per message), and the seen ring and its set
// shrink as they drain, so an idle Flooder costs a few hundred bytes (about 350 on amd64): the
// simulator holds 10,000 of them. Pairs of one message are allocated in one block; relaying a
// message costs three allocations (the message, its pairs, the returned sends).
//
// # Driver loop
//
// The caller (a node's event loop, or the simulator) owns the Flooder and the clock:
//
//	f := flood.New[Peer, Payload](cfg)
//	to start a flood:           send(f.Originate(now, self, id, payload, neighbours))
//	on a flood from peer X:     r := f.Receive(now, X, origin, id, hops, payload, neighbours)
//	                            if r.Ack { ack X for id }
//	                            if r.New { deliver payload }
//	                            send(r.Forward)
//	on an ack of id from X:     f.Acked(X, id)
//	when a neighbour goes away: f.Forget(X)
//	at f.NextDeadline():        send(f.Tick(now))   // re-read NextDeadline after every call
//
// NextDeadline is the zero time when there is nothing to do. It reports expiry of seen ids up to
// SeenTTL/16 late, batching those wake-ups; retransmission deadlines are exact.
//
// # Wire
//
// The package has no codec of its own. A flood on the wire carries ID, Origin, Hops (left for
// the receiver) and the payload; an ack carries the ID. In the overlay these are mesh.Flood and
// mesh.FloodAck, encoded by package mesh.
//
// # Why no library
//
// Gossip libraries (hashicorp/memberlist, libp2p's pubsub) own sockets, goroutines and clocks,
// and so cannot run inside a pure core or a deterministic simulator. This package uses only
// the standard library (container/heap for the deadline heap).
package flood
