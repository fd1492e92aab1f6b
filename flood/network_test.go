package flood

import (
	"container/heap"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// A tiny deterministic network for whole-protocol tests: nodes are ints, links have a seeded
// latency and loss, and an event queue in virtual time carries floods and acks.

type packet struct {
	at       time.Duration
	seq      uint64
	from, to int
	ack      bool
	id       ID
	origin   int
	hops     uint8
	payload  string
}

type packetQueue []packet

func (q packetQueue) Len() int { return len(q) }
func (q packetQueue) Less(i, j int) bool {
	return q[i].at < q[j].at || q[i].at == q[j].at && q[i].seq < q[j].seq
}
func (q packetQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *packetQueue) Push(x any)   { *q = append(*q, x.(packet)) }
func (q *packetQueue) Pop() any {
	old := *q
	p := old[len(old)-1]
	*q = old[:len(old)-1]
	return p
}

type network struct {
	t         *testing.T
	rng       *rand.Rand
	loss      float64
	nodes     []*Flooder[int, string]
	nbrs      [][]int
	queue     packetQueue
	seq       uint64
	now       time.Duration
	delivered []map[ID]int // per node: deliveries per id
	sent      int
}

// newNetwork builds n flooders on a ring with `chords` extra random links per node (symmetric).
func newNetwork(t *testing.T, n, chords int, loss float64, seed uint64, cfg Config) *network {
	net := &network{t: t, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), loss: loss}
	links := make([]map[int]bool, n)
	for i := range n {
		links[i] = map[int]bool{}
	}
	link := func(a, b int) {
		if a != b {
			links[a][b], links[b][a] = true, true
		}
	}
	for i := range n {
		link(i, (i+1)%n)
		for range chords {
			link(i, net.rng.IntN(n))
		}
	}
	for i := range n {
		net.nodes = append(net.nodes, New[int, string](cfg))
		nb := make([]int, 0, len(links[i]))
		for j := range links[i] {
			nb = append(nb, j)
		}
		slices.Sort(nb) // map order must not leak into the run
		net.nbrs = append(net.nbrs, nb)
		net.delivered = append(net.delivered, map[ID]int{})
	}
	return net
}

func (net *network) at() time.Time { return t0.Add(net.now) }

func (net *network) transmit(p packet) {
	net.sent++
	if net.rng.Float64() < net.loss {
		return
	}
	net.seq++
	p.seq = net.seq
	p.at = net.now + time.Duration(5+net.rng.IntN(25))*time.Millisecond
	heap.Push(&net.queue, p)
}

func (net *network) sendAll(from int, sends []Send[int, string]) {
	for _, s := range sends {
		net.transmit(packet{from: from, to: s.To, id: s.ID, origin: s.Origin, hops: s.Hops, payload: s.Payload})
	}
}

func (net *network) originate(node int, id ID, payload string) {
	net.sendAll(node, net.nodes[node].Originate(net.at(), node, id, payload, net.nbrs[node]))
}

const forever = time.Duration(1<<63 - 1)

// run processes packets and timers in time order until nothing is left to do or until stop.
func (net *network) run(stop time.Duration) {
	for steps := 0; ; steps++ {
		if steps > 1_000_000 {
			net.t.Fatal("network did not settle")
		}
		next, timer := time.Duration(-1), -1
		if len(net.queue) > 0 {
			next = net.queue[0].at
		}
		for i, f := range net.nodes {
			if d := f.NextDeadline(); !d.IsZero() && (next < 0 || d.Sub(t0) < next) {
				next, timer = d.Sub(t0), i
			}
		}
		if next < 0 || next > stop {
			if stop != forever {
				net.now = max(net.now, stop)
			}
			return
		}
		net.now = next
		if timer >= 0 {
			net.sendAll(timer, net.nodes[timer].Tick(net.at()))
			continue
		}
		p := heap.Pop(&net.queue).(packet)
		f := net.nodes[p.to]
		if p.ack {
			f.Acked(p.from, p.id)
			continue
		}
		r := f.Receive(net.at(), p.from, p.origin, p.id, p.hops, p.payload, net.nbrs[p.to])
		if r.Ack {
			net.transmit(packet{from: p.to, to: p.from, ack: true, id: p.id})
		}
		if r.New {
			if p.payload != "payload-"+string(p.id[:2]) {
				net.t.Fatalf("node %d delivered a corrupted payload %q", p.to, p.payload)
			}
			net.delivered[p.to][p.id]++
		}
		net.sendAll(p.to, r.Forward)
	}
}

func (net *network) total() Stats {
	var s Stats
	for _, f := range net.nodes {
		st := f.Stats()
		s.Originated += st.Originated
		s.Received += st.Received
		s.Delivered += st.Delivered
		s.Duplicates += st.Duplicates
		s.Forwarded += st.Forwarded
		s.Retransmits += st.Retransmits
		s.RetransmitsExhausted += st.RetransmitsExhausted
		s.HopLimited += st.HopLimited
		s.RateLimited += st.RateLimited
		s.PendingDropped += st.PendingDropped
	}
	return s
}

// floodAll starts one flood from each of `origins` nodes (spread out in time and over the ring),
// runs the network until idle, and checks every node but the origin delivered each exactly once.
func floodAll(t *testing.T, net *network, origins int) []ID {
	t.Helper()
	n := len(net.nodes)
	var ids []ID
	for k := range origins {
		node := k * n / origins
		id := idOf(1000 + k)
		ids = append(ids, id)
		net.run(net.now + time.Duration(k)*40*time.Millisecond)
		net.originate(node, id, "payload-"+string(id[:2]))
	}
	net.run(forever)
	for k, id := range ids {
		origin := k * n / origins
		for node := range n {
			want := 1
			if node == origin {
				want = 0 // the origin has its own message; it never receives it as new
			}
			if got := net.delivered[node][id]; got != want {
				t.Errorf("flood %d from node %d: node %d delivered it %d times, want %d", k, origin, node, got, want)
			}
		}
	}
	return ids
}

func TestNetworkEveryNodeDeliversExactlyOnceUnderLoss(t *testing.T) {
	const nodes, origins, loss = 50, 6, 0.2
	for _, seed := range []uint64{1, 2, 3} {
		net := newNetwork(t, nodes, 1, loss, seed, Config{})
		floodAll(t, net, origins)
		st := net.total()
		if st.Delivered != nodes*origins-origins || st.Originated != origins {
			t.Fatalf("seed %d: %+v: want %d delivered, %d originated", seed, st, nodes*origins-origins, origins)
		}
		if st.Retransmits == 0 {
			t.Fatalf("seed %d: no retransmissions under %.0f%% loss: the loss model is not running", seed, loss*100)
		}
		for i, f := range net.nodes {
			if !f.NextDeadline().IsZero() || f.Pending() != 0 || f.seen.len() != 0 {
				t.Fatalf("seed %d: node %d not idle after the run: pending %d seen %d", seed, i, f.Pending(), f.seen.len())
			}
		}
		t.Logf("seed %d: %d transmissions, %+v", seed, net.sent, st)
	}
}

func TestNetworkWithoutLossNeedsNoRetransmission(t *testing.T) {
	net := newNetwork(t, 50, 2, 0, 9, Config{})
	floodAll(t, net, 4)
	st := net.total()
	if st.Retransmits != 0 || st.RetransmitsExhausted != 0 {
		t.Fatalf("%+v: lossless links with round trips under RetransmitAfter should need no resend", st)
	}
	// Without loss or hop-limit refusals, every copy either delivers or is a duplicate.
	if st.Received != st.Delivered+st.Duplicates {
		t.Fatalf("%+v: received != delivered + duplicates", st)
	}
}

func TestNetworkRunsAreDeterministic(t *testing.T) {
	run := func() (Stats, int) {
		net := newNetwork(t, 50, 1, 0.2, 42, Config{})
		floodAll(t, net, 3)
		return net.total(), net.sent
	}
	a, sentA := run()
	b, sentB := run()
	if a != b || sentA != sentB {
		t.Fatalf("same seed, different runs:\n%+v (%d sent)\n%+v (%d sent)", a, sentA, b, sentB)
	}
}

func TestNetworkHopLimitBoundsReach(t *testing.T) {
	// A bare ring of 20 with hop limit 3: the flood reaches exactly the 3 nearest nodes each way.
	const n, limit = 20, 3
	net := newNetwork(t, n, 0, 0, 1, Config{HopLimit: limit})
	id := idOf(7)
	net.originate(0, id, "payload-"+string(id[:2]))
	net.run(forever)
	for node := 1; node < n; node++ {
		dist := min(node, n-node)
		if want := dist <= limit; (net.delivered[node][id] == 1) != want {
			t.Errorf("node %d at distance %d: delivered %d, want reached=%v", node, dist, net.delivered[node][id], want)
		}
	}
}
