package discovery

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"

	"meshcomm/mesh"
)

// simNet connects cores over one simulated link in virtual time: multicast reaches every
// attached node (the sender too when loopback is on), each delivery is dropped with
// probability loss, and everything arrives after latency. It is deterministic for a seed.
type simNet struct {
	t        testing.TB
	now      time.Time
	nodes    []*simNode
	inflight []delivery
	rng      *rand.Rand
	loss     float64
	latency  time.Duration
	loopback bool
	seq      int
	apart    map[[2]*simNode]bool // pairs out of range of each other (both directions)
}

type simNode struct {
	core  *Core
	id    mesh.NodeID
	iface Interface
	up    bool
	// observations
	events    []timedEvent
	sent      []timedSend
	lastHeard map[mesh.NodeID]time.Time // last response delivered from each node
}

type timedEvent struct {
	at time.Time
	Event
}

type timedSend struct {
	at time.Time
	Outgoing
	msg *dns.Msg
}

type delivery struct {
	at   time.Time
	seq  int
	from *simNode
	to   *simNode
	pkt  Packet
}

var simEpoch = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func newSimNet(t testing.TB, seed uint64) *simNet {
	return &simNet{t: t, now: simEpoch, rng: rand.New(rand.NewPCG(seed, 1)), latency: 2 * time.Millisecond,
		loopback: true}
}

func testID(b byte) mesh.NodeID {
	var id mesh.NodeID
	for i := range id {
		id[i] = b ^ byte(i*7)
	}
	id[0] = b
	return id
}

// addNode creates a node with one interface and the RFC 6762 schedule alone (no beacon, which
// the beacon tests turn on with addNodeWith); it is not started.
func (n *simNet) addNode(idByte byte, ifName string, addrs ...string) *simNode {
	n.t.Helper()
	return n.addNodeWith(CoreConfig{Self: testID(idByte), Port: 4000 + uint16(idByte), Team: "engine-7",
		Schedule: rfcSchedule()}, ifName, addrs...)
}

// rfcSchedule is DefaultSchedule without the beacon.
func rfcSchedule() Schedule {
	s := DefaultSchedule()
	s.BeaconInterval, s.BeaconSpacing = 0, 0
	return s
}

// setApart puts a and b out of range of each other (or back in range).
func (n *simNet) setApart(a, b *simNode, apart bool) {
	if n.apart == nil {
		n.apart = map[[2]*simNode]bool{}
	}
	n.apart[[2]*simNode{a, b}], n.apart[[2]*simNode{b, a}] = apart, apart
}

func (n *simNet) addNodeWith(cfg CoreConfig, ifName string, addrs ...string) *simNode {
	n.t.Helper()
	if cfg.Seed == 0 {
		cfg.Seed = n.rng.Uint64()
	}
	core, err := NewCore(cfg)
	if err != nil {
		n.t.Fatal(err)
	}
	in := Interface{Index: len(n.nodes) + 2, Name: ifName}
	for _, a := range addrs {
		in.Addrs = append(in.Addrs, netip.MustParseAddr(a))
	}
	node := &simNode{core: core, id: cfg.Self, iface: in, lastHeard: map[mesh.NodeID]time.Time{}}
	n.nodes = append(n.nodes, node)
	return node
}

func (n *simNet) start(node *simNode) {
	node.up = true
	node.core.SetInterfaces(n.now, []Interface{node.iface})
	n.collect(node)
}

// setAddrs changes a node's interface addresses (an address change on the link).
func (n *simNet) setAddrs(node *simNode, addrs ...string) {
	node.iface.Addrs = nil
	for _, a := range addrs {
		node.iface.Addrs = append(node.iface.Addrs, netip.MustParseAddr(a))
	}
	node.core.SetInterfaces(n.now, []Interface{node.iface})
	n.collect(node)
}

// stop shuts a node down cleanly (goodbyes go out), then detaches it.
func (n *simNet) stop(node *simNode) {
	node.core.Stop(n.now)
	n.collect(node)
	node.up = false
}

// vanish detaches a node without a word (a laptop carried out of range).
func (n *simNet) vanish(node *simNode) { node.up = false }

func (n *simNet) collect(node *simNode) {
	r := node.core.Ready()
	for _, ev := range r.Events {
		node.events = append(node.events, timedEvent{n.now, ev})
	}
	for _, o := range r.Sends {
		m := new(dns.Msg)
		if err := m.Unpack(o.Data); err != nil {
			n.t.Fatalf("node %s sent an undecodable packet: %v", node.id.Short(), err)
		}
		if len(o.Data) > MaxPacketSize {
			n.t.Fatalf("node %s sent %d bytes", node.id.Short(), len(o.Data))
		}
		node.sent = append(node.sent, timedSend{n.now, o, m})
		n.route(node, o)
	}
}

func (n *simNet) srcAddr(from *simNode, f Family, toIface string) netip.AddrPort {
	for _, a := range from.iface.Addrs {
		if familyOf(a) == f {
			return netip.AddrPortFrom(withZone(a, toIface), Port)
		}
	}
	n.t.Fatalf("node %s sent on %v without an address of that family", from.id.Short(), f)
	return netip.AddrPort{}
}

func (n *simNet) route(from *simNode, o Outgoing) {
	for _, to := range n.nodes {
		if !to.up || (to == from && !n.loopback) || n.apart[[2]*simNode{from, to}] {
			continue
		}
		if !o.Dst.Addr().IsMulticast() && !slices.Contains(to.iface.Addrs, o.Dst.Addr().WithZone("")) {
			continue
		}
		if !to.iface.has(o.Family) {
			continue
		}
		if n.loss > 0 && n.rng.Float64() < n.loss {
			continue
		}
		n.seq++
		n.inflight = append(n.inflight, delivery{at: n.now.Add(n.latency), seq: n.seq, from: from, to: to,
			pkt: Packet{IfIndex: to.iface.Index, Src: n.srcAddr(from, o.Family, to.iface.Name), Data: o.Data}})
	}
}

// deliver hands a packet from outside the simulated nodes to node.
func (n *simNet) deliver(node *simNode, src string, data []byte) {
	node.core.HandlePacket(n.now, Packet{IfIndex: node.iface.Index, Src: netip.MustParseAddrPort(src), Data: data})
	n.collect(node)
}

// runUntil advances virtual time to end, delivering packets and ticking cores as they come due.
func (n *simNet) runUntil(end time.Time) {
	spins := 0
	for {
		next := time.Time{}
		for _, d := range n.inflight {
			if next.IsZero() || d.at.Before(next) {
				next = d.at
			}
		}
		for _, node := range n.nodes {
			if w := node.core.NextWake(); node.up && !w.IsZero() && (next.IsZero() || w.Before(next)) {
				next = w
			}
		}
		if next.IsZero() || next.After(end) {
			n.now = end
			return
		}
		if next.Before(n.now) {
			n.t.Fatalf("a core asked to be woken in the past (%v < %v): it would spin", next, n.now)
		}
		if next.Equal(n.now) {
			if spins++; spins > 10000 {
				n.t.Fatalf("stuck at %v: a core keeps asking to be woken now", n.now)
			}
		} else {
			spins = 0
		}
		n.now = next
		slices.SortFunc(n.inflight, func(a, b delivery) int {
			if c := a.at.Compare(b.at); c != 0 {
				return c
			}
			return a.seq - b.seq
		})
		for len(n.inflight) > 0 && !n.inflight[0].at.After(n.now) {
			d := n.inflight[0]
			n.inflight = n.inflight[1:]
			if !d.to.up {
				continue
			}
			if m := new(dns.Msg); m.Unpack(d.pkt.Data) == nil && m.Response {
				d.to.lastHeard[d.from.id] = n.now
			}
			d.to.core.HandlePacket(n.now, d.pkt)
			n.collect(d.to)
		}
		for _, node := range n.nodes {
			if w := node.core.NextWake(); node.up && !w.IsZero() && !w.After(n.now) {
				node.core.Tick(n.now)
				n.collect(node)
			}
		}
	}
}

func (n *simNet) run(d time.Duration) { n.runUntil(n.now.Add(d)) }

// firstEvent returns the first event of kind about id seen by node, and whether there is one.
func (node *simNode) firstEvent(kind EventKind, id mesh.NodeID) (timedEvent, bool) {
	for _, ev := range node.events {
		if ev.Kind == kind && ev.Peer.NodeID == id {
			return ev, true
		}
	}
	return timedEvent{}, false
}

func (node *simNode) countEvents(kind EventKind, id mesh.NodeID) int {
	c := 0
	for _, ev := range node.events {
		if ev.Kind == kind && ev.Peer.NodeID == id {
			c++
		}
	}
	return c
}

// queries returns the times of the queries node sent on family f.
func (node *simNode) queries(f Family) []time.Time {
	var out []time.Time
	for _, s := range node.sent {
		if !s.msg.Response && s.Family == f {
			out = append(out, s.at)
		}
	}
	return out
}

// responses returns the multicast responses node sent on family f.
func (node *simNode) responses(f Family) []timedSend {
	var out []timedSend
	for _, s := range node.sent {
		if s.msg.Response && s.Family == f && s.Dst.Addr().IsMulticast() {
			out = append(out, s)
		}
	}
	return out
}

// peerOf returns what node currently knows about id.
func (node *simNode) peerOf(id mesh.NodeID) (Peer, bool) {
	for _, p := range node.core.Peers() {
		if p.NodeID == id {
			return p, true
		}
	}
	return Peer{}, false
}
