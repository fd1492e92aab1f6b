// Package discovery finds other meshcomm nodes with no set-up: it announces this node and
// browses for others with Multicast DNS and DNS-SD (RFC 6762, RFC 6763) on every up,
// multicast-capable interface (Wi-Fi, Ethernet, USB tethering), over IPv4 and IPv6 link-local,
// and it reports configured static peers (--peer HOST:PORT) alongside. Its output is a stream
// of events: Found(Peer{NodeID, Addrs, Team, Via}) when a peer appears or changes, and Lost
// when it says goodbye or its records expire.
//
// # Wire format
//
// Service "_meshcomm._udp" in domain "local." (both configurable). A node whose NodeID is N
// (32 hex digits) announces, with the cache-flush bit on every record but the shared PTR:
//
//	_meshcomm._udp.local.            PTR   N._meshcomm._udp.local.
//	N._meshcomm._udp.local.          SRV   0 0 <QUIC port> mc-N.local.
//	N._meshcomm._udp.local.          TXT   "id=N" "v=1" "team=<team>"
//	mc-N.local.                      A / AAAA  every address of the interface sent on
//
// TXT keys are case-insensitive and unknown keys are ignored (RFC 6763 §6.4), so later versions
// can add keys; id (16 bytes in hex, not zero) and v (1–255) are required, team is at most 64
// bytes. A record set without a valid TXT is refused and counted. The instance label is the
// NodeID, so two nodes never claim the same name and no probing (RFC 6762 §8.1) is needed;
// a packet announcing our NodeID under another name is logged and ignored. All records carry
// a TTL of 120 s (RFC 6762 suggests 75 min for the PTR; a silently departed laptop should
// disappear in minutes, and the browser refreshes long before). Answers also go to
// "_services._dns-sd._udp.local." queries (RFC 6763 §9), so generic DNS-SD browsers list us.
//
// # Schedule
//
// Per interface, on start and whenever the interface appears or its addresses change:
//   - three unsolicited announcements at 0 s, 1 s and 3 s (RFC 6762 §8.3);
//   - queries every FastInterval (1 s) for FastPeriod (10 s), the first after 20–120 ms, then
//     every SlowInterval (20 s ±10%). RFC 6762 §5.2 would back off geometrically to an hour;
//     on a radio link that comes and goes we prefer to keep listening, and a query costs a
//     few dozen bytes every 20 s;
//   - refresh queries when a cached peer reaches 80, 85, 90 and 95% of its TTL (§5.2);
//   - after the announcements, a beacon: the same announcement repeated for as long as the node
//     runs, every BeaconInterval (1 s) plus BeaconSpacing (250 ms) for every peer cached on the
//     interface, at most SlowInterval, ±20%, alternating between the address families.
//
// The beacon is our deviation from RFC 6762 (which announces only at start and on change). Two
// radios coming into range cause no interface event, so with queries every 20 s two laptops
// in steady state found each other after a median of about 5 s (up to 20 s); a responder
// walking into range needs to be reachable within a second. Whoever hears a beacon from an
// unknown instance greets it back (below), so one beacon is first contact both ways. Spacing
// by the number of peers keeps a shared link at about four beacons a second however many
// laptops share it (at 20 nodes, one full announcement every ~5 s from each, about 80 B/s).
// Measured in virtual time (TestBeaconFindsALaptopComingIntoRange): mutual discovery after
// coming into range, median 0.66 s and at most 0.98 s over 30 trials, against a median of 4.8 s
// and a maximum of 14.7 s for the RFC schedule alone.
//
// The interface list is re-read every 2 s: a new interface, a vanished one (carrier lost
// drops the "running" flag) or a changed address is the link-change signal. Interfaces that
// vanish take their peers with them (Lost, unless the peer is still seen elsewhere).
//
// Queries list as known answers (RFC 6762 §7.1) every cached peer with more than half its TTL
// left, as many as fit in 1400 bytes, plus this node's own PTR: with multicast loopback on, our
// responder hears our own queries and the known answer keeps it quiet. Answers to shared
// questions are multicast after 20–120 ms, merged with any other answer pending on that
// interface and family, and never sooner than 1 s after the previous multicast (§6). Legacy
// queriers (source port not 5353) get a unicast reply with their ID and TTLs capped at 10 s
// (§6.7); QU questions get an immediate unicast reply (§5.4). When a new instance announces
// itself we answer as if it had asked ("greeting"): it then learns of us from that packet too,
// not only from the answer to its first query, which matters on lossy links. Queries go out on
// both families where the interface has an address of each; a responder answers on the
// family it was asked on, so each family is an independent chance under loss.
//
// On a clean stop every record is sent again with TTL 0 (a goodbye), twice back to back. A
// receiver keeps a TTL-0 record for one more second (§10.1) and then reports Lost.
//
// # Receiving
//
// Every datagram is bounded to MaxPacketSize (9000) bytes, decoded with miekg/dns, and
// filtered: responses from a port other than 5353 are refused (§6); only PTRs of our service
// name, and SRV/TXT of names exactly one label under it, are cached; A/AAAA only for hosts
// that a cached SRV points at; everything else is counted as foreign and dropped. Records of
// our own instance are counted (Stats.Own) and ignored. Bad packets (undecodable, oversized,
// PTRs pointing outside the service, invalid TXT) are counted per reason in Stats.Malformed
// and logged at the 1st, 2nd, 4th, 8th ... occurrence of each reason, so a flood of garbage
// cannot flood the log. The cache is bounded (1024 instances and hosts per interface, 16
// addresses per host); beyond that records are dropped and counted. Cache-flush records
// retire other addresses of the same host and family received over a second earlier (§10.2),
// so an address change propagates within a second. IPv6 link-local addresses are reported
// with the interface as zone. FuzzHandlePacket fuzzes the whole packet path.
//
// # Structure and driver loop
//
// Core is the protocol as a state machine with no sockets, goroutines or clock: the caller
// passes time in and feeds it SetInterfaces, HandlePacket and Tick; Ready returns datagrams to
// send (interface, family, destination) and events; NextWake says when to Tick next;
// randomness (response delay, interval jitter) comes from a seeded PCG. The tests run several
// cores on a simulated link in virtual time, with loss, and assert the schedule, expiry,
// goodbyes and filtering exactly.
//
// Discovery is the driver. Run opens one UDP socket per family on port 5353 (SO_REUSEADDR and
// SO_REUSEPORT, so it coexists with avahi or systemd-resolved), joins 224.0.0.251 and ff02::fb
// on each interface, learns each packet's interface from IP_PKTINFO/IPV6_PKTINFO and picks the
// outgoing interface the same way. One goroutine per socket reads; one loop goroutine owns the
// core and selects on packets, the core's wake-up timer, the interface re-check ticker, static
// peer resolutions and LearnStaticNodeID requests, sending what Ready returns after each step.
// Events go through an unbounded in-order queue to the Events channel, so a slow reader never
// loses an event and never stalls the protocol.
//
// Static peers: an IP literal is reported at once; a name is resolved at start, again every
// 60 s, and after failures at 1, 2, 4 ... 30 s; each new address set is reported as Found with
// Via "static", Static set to the entry and a zero NodeID until the transport calls
// LearnStaticNodeID. Configured peers are never reported Lost.
//
// # Why our own responder on miekg/dns rather than a library
//
// hashicorp/mdns (v1.0.7), measured earlier for this project, sends one query per call and
// never retransmits (one query missed a peer about 9% of the time at 5% loss), uses one
// interface per socket, never announces and never says goodbye, drops results on an
// unbuffered channel, and does not filter answers by service name. pion/mdns/v2 keeps a cache
// but resolves single host names (A/AAAA for "name.local"): it has no DNS-SD service records
// (PTR/SRV/TXT) to publish a port and a NodeID, no browsing and no goodbyes. Wrapping either
// would mean rewriting most of it. What is hard and well done by a library, DNS message
// packing, name compression and decoding, comes from github.com/miekg/dns; multicast group
// membership and per-packet interface information from golang.org/x/net/ipv4 and ipv6. What
// remains — the schedule, cache and responder rules above — is the protocol logic this
// package is for, and as a pure core it is testable without sockets.
//
// # Measured
//
// In virtual time, with every datagram lost independently at 5%, 2000 trials (reproduce with
// MESHCOMM_DISCOVERY_MEASURE=1 go test -run TestMeasureDiscoveryUnderLoss -v ./discovery/),
// a node joining a link where a peer has run for a minute finds it within 1 s / 3 s with
// probability 0.9945 / 1.0000 (IPv4 only: 0.9445 / 1.0000; at 20% loss 0.924 / 1.000, IPv4
// only 0.780 / 0.979), against 0.911 for one query without retransmission, the behaviour of
// hashicorp/mdns. Loss on a real radio is bursty and hits both families at once, so the
// IPv4-only figures are the conservative ones. Within 1 s a joiner has one query and one
// announcement in flight; the RFC's 1 s minimum between repeats is what caps that figure.
//
// Not done: the truncation (TC) bit for known-answer lists longer than one packet (the
// overflow is simply not listed, so those peers answer), duplicate-answer suppression
// (§7.4), the on-link source-address check (§11), and netlink notifications for link
// changes (the 2 s poll stands in).
package discovery
