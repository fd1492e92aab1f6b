// Package radiolink is the field lab's radio: a userspace Ethernet frame forwarder that joins
// real meshcomm processes, each in its own Linux network namespace, through per-pair radio
// links that tests change while the processes run. It stands in for `tc netem`, which the lab's
// kernels do not have, and it can say what a bridge cannot: "A hears B, B hears C, A does not
// hear C", as radios do.
//
// # Topology
//
// Start makes one namespace per node, named Prefix1..PrefixN. Each holds one interface, eth0,
// with address NodeMAC(n) (02:72:6c:00:00:n), IPv4 subnet+n (10.77.0.n/24 by default), IPv6
// link-local fe80::726c:n without duplicate address detection, and a route for 224.0.0.0/4 so
// that mDNS works. eth0 is a TAP device whose file descriptor the emulator holds; every frame a
// node sends comes out of that descriptor into the emulator, and every frame the emulator
// delivers is written into the receiver's descriptor. Nothing else connects the namespaces, and
// nothing connects them to the host: the lab's addresses exist only inside them.
//
// Why TAP devices rather than veth pairs read through AF_PACKET sockets: a TAP device without
// offloads makes the sending kernel finish every checksum and cut every TCP or UDP (GSO)
// segment to the MTU before the frame leaves the node, so the emulator sees exactly the frames
// a radio would carry. A veth pair hands an AF_PACKET reader checksum-pending frames and
// 64 KiB GSO super-frames that cannot be written back as they are; fixing that needs ethtool
// calls per interface and filtering of the socket's own outgoing frames. A TAP device also
// disappears with the emulator's descriptor, so a crashed emulator leaves only empty
// namespaces behind (Cleanup removes them), and it needs no namespace of its own.
//
// Sockets and devices are created inside a namespace by InNamespace, which runs a function on
// an OS thread that has joined the namespace; what it creates stays in that namespace. Tests
// use it (through Lab.ListenUDP and Lab.ListenMulticastUDP) to talk from inside nodes without
// starting helper processes; real binaries run through Lab.Command (`ip netns exec`).
// Namespaces and addresses are configured with ip(8), the same commands a person would type to
// reproduce a failing field test by hand, rather than through a netlink library. The TAP and
// namespace calls are a handful of syscalls that golang.org/x/sys/unix already wraps, so the
// package does without the usual wrapper libraries (water, netns) and their dependencies.
//
// # The link model
//
// Medium holds the model and is pure: the caller passes the time in, so unit tests drive it
// with a fake clock. Every directed pair (A, B) has its own Link: up or down, delay, jitter,
// loss probability and rate with a queue bound. When node A transmits a frame:
//
//   - a broadcast or multicast frame (ARP, mDNS to 224.0.0.251 or ff02::fb) goes to every node
//     B whose link A->B is up; a unicast frame goes to the node owning the destination MAC (known
//     from set-up and learned from source addresses), only if that link is up; a unicast frame
//     to an unknown MAC goes to every hearer, as a radio's receivers all hear it;
//   - per receiver, in this order: a down link drops the frame; a rate-limited link reserves
//     airtime (len/rate) after the frames already queued, or drops the frame if the bytes
//     waiting would exceed the queue bound; the loss probability may drop it (after it used
//     its airtime, as on a radio); it arrives after the delay plus a jitter drawn uniformly
//     from [-jitter, +jitter];
//   - without jitter a pair keeps its frames in order, even when its delay shrinks; jitter may
//     reorder them, as netem's does;
//   - a frame still in flight when its link goes down is dropped when due, so that after
//     Partition or LinkDown returns nothing more crosses;
//   - every draw comes from a PCG source seeded with (seed, A, B), so a pair's losses and
//     jitter depend only on the seed, its configuration and its own frame sequence.
//
// Each pair counts frames forwarded (and bytes), dropped by loss, by a down link and by a full
// queue; each node counts the frames it transmitted, once per frame however many heard it (as
// a radio puts a frame on the air once), with broadcast and multicast ones also apart; the
// medium also counts malformed frames (shorter than a header, longer than
// MaxFrameLen, or from a group address), unknown-unicast floods and frames a node's interface
// refused. A malformed frame is dropped, counted and logged (the 1st, 2nd, 4th, 8th ... of each
// kind, so a flood cannot flood the log); forwarding goes on.
//
// # The driver loop
//
// Emulator runs the medium in real time: one goroutine per port blocks reading frames, stamps
// each with the time and routes it under a mutex; one scheduler goroutine pops the frames that
// are due, writes them, and sleeps on a timer until the next is due or a reader wakes it. A
// frame is never delivered before its time, so a measured round trip over links of delay d is
// at least 2d; it is late by the timer's wake-up latency. Emulator's methods (SetLink, SetPair,
// Degrade, LinkUp, LinkDown, Partition, Heal, Move, Stats, Do) are safe to call while it runs.
//
// # Driving it from a field test
//
//	lab, err := radiolink.Start(radiolink.Config{Prefix: "ft", Nodes: 3, Seed: 7})
//	defer lab.Close()
//	em := lab.Emulator()
//	em.LinkDown(1, 3)                                   // 1 and 3 are out of range of each other
//	em.Degrade(1, 2, func(l *radiolink.Link) { l.Delay = 20 * time.Millisecond; l.Loss = 0.1 })
//	cmd := lab.Command(ctx, 2, "meshcomm", args...)    // node 2 relays between them
//	em.Partition([]int{1, 2}, []int{3})
//	em.Heal()
//	em.Stats().Pair(1, 2).DroppedLoss
//
// From a shell, cmd/radiolink starts a lab and serves the same operations on a unix socket.
//
// # Control protocol
//
// One request per line (at most MaxCommandLen bytes), one JSON Response per line back, any
// number of requests per connection. Nodes are numbers 1..N; lists are comma-separated.
//
//	link A B [--delay D] [--jitter D] [--loss P] [--rate BYTES] [--queue BYTES] [--up|--down] [--oneway]
//	up A B [--oneway]            down A B [--oneway]
//	partition 1,2,3 4,5,6        heal
//	move N 1,2 | move N none     show [A B]        stats
//
// link changes only the fields given, in both directions unless --oneway; a request that
// would make either direction invalid changes nothing. Durations use Go syntax (10ms); byte
// counts take k, M or G (decimal). A bad request gets {"ok":false,"error":...}, is counted and
// logged, and the connection stays usable; an overlong line gets an error and a hang-up.
package radiolink
