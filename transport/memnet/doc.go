// Package memnet is an in-memory UDP network for tests: it hands out net.PacketConn values with
// IPv4 addresses ("10.0.0.1:7070") and moves datagrams between them through per-pair links that
// a test can take down, make lossy or slow. The real transport.Endpoint runs on top of it
// unchanged (QUIC, mutual TLS, keepalives, the one-connection-per-pair rule), so driver tests of
// the node runtime exercise production code, and partitions and merges are made by changing
// links rather than by a fake of the transport.
//
// Why packets and not a fake of transport.Network: a fake would have to re-implement what the
// tests most need to trust (idle timeouts after a partition, reconnection, duplicate-connection
// resolution, flow control), and would drift from the real thing. Packets are the one layer
// whose behaviour is simple to specify exactly. The price is a TLS handshake per connection,
// which is cheap with ed25519 keys; inside a testing/synctest bubble timers run in virtual time,
// so a 15 s idle timeout after a partition costs no wall-clock time.
//
// # Links
//
// A link joins two hosts (IP addresses) and is symmetric. Unconfigured pairs use the network's
// default link (up, no loss, no delay). A Link that is Down drops every packet (a partition:
// QUIC notices through its idle timeout, as over a real radio link that fades); Loss drops each
// packet independently with that probability from the network's seeded source; Delay holds each
// packet for that long before delivery (delivery order is kept for equal delays).
//
// Packets larger than MTU are dropped, as an IP network without fragmentation would. A receive
// queue holds up to QueuePackets datagrams; a packet arriving at a full queue is dropped.
package memnet
