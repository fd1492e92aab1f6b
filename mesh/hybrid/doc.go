// Package hybrid is the overlay node core: one deterministic state machine that runs flood mode
// (mesh/unstructured) while the mesh is small or split and DHT mode (mesh/structured) as it grows,
// switches between them with hysteresis without losing a record, merges meshes that meet, and keeps
// this node's own records alive (refresh before expiry, replica checks, deletion on clean leave).
//
// Driver loop (the runtime in node/ and the simulator in sim/ are both drivers):
//
//	n := hybrid.New(cfg); n.Start(now)
//	loop:
//	   on a message m from peer p:      n.Step(now, p, m)
//	   on a direct link up / down:       n.AddPeer(now, c) / n.RemovePeer(now, id)
//	   at n.NextTick():                  n.Tick(now)
//	   user actions:                     n.Publish, n.Lookup, n.Leave
//	   after each of the above:          rd := n.Ready(); send rd.Messages, persist rd.Persist,
//	                                     forget rd.Forget, publish rd.Events
//
// The core never reads a clock, never starts a goroutine, never touches a socket, and draws
// randomness only from the *rand.Rand it is given, so the same inputs give the same outputs.
//
// Modes. In flood mode every node publishes a membership record (KindNode); the size estimate is
// the number of live membership records. At FloodToDHT (64) a node switches to DHT mode, building
// its routing table from the membership it already holds; records stay where they are until a
// sweep has confirmed (Touch) that their responsible replicas hold them. In DHT mode the estimate
// comes from the density of the node's own slice; below DHTToFlood (48) it switches back and pulls
// every record by reconciliation. Lookups always try the local store first.
//
// Merges. In flood mode two meshes that meet reconcile over the contact link and flood what they
// learn. In DHT mode a node that meets a peer whose view of the node's own slice is mostly unknown
// to it has met another mesh (or the other half of a healed partition): it fetches the other
// side's neighbourhood, broadcasts a Merge carrying contacts of the other mesh through its own mesh
// (one contact per slice, which relays to its whole slice), and every node then joins the other
// side's slice and announces itself there; records move to their new closest replicas.
package hybrid
