// Package structured is DHT mode of the overlay: a Kademlia-style XOR-metric routing table and
// parallel iterative lookups.
//
// The table divides identifier space into 2^b slices by the first b bits (b grows with the mesh,
// chosen so that slices hold about sqrt(N*k) peers). A peer knows every peer of its own slice (the
// near set) and k peers of every other slice (the far table): Kademlia's accelerated lookups with
// buckets of one slice each, the deepest ones unbounded. A lookup therefore asks, in its first
// round, a peer inside the target's slice, which knows the whole slice and answers with the
// target's closest peers (or the value if it holds it): two rounds at 10,000 peers instead of
// plain Kademlia's ~3.2, for a table of a few hundred entries.
//
// Records live on the R closest peers to their resource (replicas), computed from the near set.
// The package is pure; the hybrid node drives lookups and performs the sends.
package structured
