package radiolink

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"time"
)

// Medium is the pure radio model at the heart of the emulator: who hears whom and how badly,
// which node owns which MAC, and the frames in flight. It owns no goroutines, sockets or clock:
// the caller passes the time into Route and PopDue, so tests drive it with a fake clock and the
// Emulator drives it with the real one. It is not safe for concurrent use.
//
// Nodes are numbered 1..n, as the lab names its namespaces.
type Medium struct {
	nodes   int
	seed    uint64
	links   []Link      // directed, index (from-1)*nodes + (to-1)
	pairs   []pairState // same index
	owners  map[MAC]int
	pending deliveryHeap
	seq     uint64
	sent    []NodeStats // index n-1

	malformed, unknownUnicast, writeErrors uint64
}

// pairState is the scheduler's memory of one directed pair.
type pairState struct {
	rng         *rand.Rand // seeded from (seed, from, to) on first use
	busyUntil   time.Time  // end of the airtime already reserved on a rate-limited link
	lastArrival time.Time  // latest arrival scheduled, to keep order without jitter
	stats       PairStats
	used        bool
}

// Delivery is a frame due at a node.
type Delivery struct {
	At       time.Time
	From, To int
	Frame    []byte
	seq      uint64
}

// NewMedium returns a medium of n nodes in which every directed link starts as initial.
// seed fixes every loss and jitter draw: the same seed, configuration and frame sequence per
// pair give the same outcome.
func NewMedium(n int, seed uint64, initial Link) (*Medium, error) {
	if n < 1 {
		return nil, fmt.Errorf("radiolink: need at least one node, got %d", n)
	}
	if err := initial.Validate(); err != nil {
		return nil, err
	}
	m := &Medium{nodes: n, seed: seed, links: make([]Link, n*n), pairs: make([]pairState, n*n), owners: map[MAC]int{},
		sent: make([]NodeStats, n)}
	for i := range m.links {
		m.links[i] = initial
	}
	return m, nil
}

// Nodes is the number of nodes.
func (m *Medium) Nodes() int { return m.nodes }

func (m *Medium) checkNode(n int) error {
	if n < 1 || n > m.nodes {
		return fmt.Errorf("radiolink: no node %d (nodes are 1..%d)", n, m.nodes)
	}
	return nil
}

func (m *Medium) index(from, to int) int { return (from-1)*m.nodes + (to - 1) }

func (m *Medium) checkPair(from, to int) error {
	if err := m.checkNode(from); err != nil {
		return err
	}
	if err := m.checkNode(to); err != nil {
		return err
	}
	if from == to {
		return fmt.Errorf("radiolink: node %d has no link to itself", from)
	}
	return nil
}

// SetMAC records that node n owns mac, so unicast to mac goes to n alone.
func (m *Medium) SetMAC(n int, mac MAC) error {
	if err := m.checkNode(n); err != nil {
		return err
	}
	if mac.Group() {
		return fmt.Errorf("radiolink: %s is a group address", mac)
	}
	m.owners[mac] = n
	return nil
}

// Link returns the directed link from -> to.
func (m *Medium) Link(from, to int) (Link, error) {
	if err := m.checkPair(from, to); err != nil {
		return Link{}, err
	}
	return m.links[m.index(from, to)], nil
}

// SetLink replaces the directed link from -> to. Frames already in flight keep the schedule
// they were given.
func (m *Medium) SetLink(from, to int, l Link) error {
	if err := m.checkPair(from, to); err != nil {
		return err
	}
	if err := l.Validate(); err != nil {
		return err
	}
	m.links[m.index(from, to)] = l
	return nil
}

// UpdateLink changes the directed link from -> to through change; the result must validate.
func (m *Medium) UpdateLink(from, to int, change func(*Link)) error {
	l, err := m.Link(from, to)
	if err != nil {
		return err
	}
	change(&l)
	return m.SetLink(from, to, l)
}

// SetUp brings the directed link from -> to up or down, keeping its other parameters.
func (m *Medium) SetUp(from, to int, up bool) error {
	return m.UpdateLink(from, to, func(l *Link) { l.Up = up })
}

// Partition splits the nodes into groups that hear each other within a group and nothing
// across groups. A node in no group is isolated; a node in two groups is an error.
func (m *Medium) Partition(groups ...[]int) error {
	group := make([]int, m.nodes+1) // 0 = unlisted
	for g, members := range groups {
		for _, n := range members {
			if err := m.checkNode(n); err != nil {
				return err
			}
			if group[n] != 0 {
				return fmt.Errorf("radiolink: node %d is in two groups", n)
			}
			group[n] = g + 1
		}
	}
	for from := 1; from <= m.nodes; from++ {
		for to := 1; to <= m.nodes; to++ {
			if from != to {
				m.links[m.index(from, to)].Up = group[from] != 0 && group[from] == group[to]
			}
		}
	}
	return nil
}

// Heal brings every link up, keeping each link's delay, jitter, loss and rate.
func (m *Medium) Heal() {
	for i := range m.links {
		m.links[i].Up = true
	}
}

// Move places node n where it hears exactly the nodes in hears, and they hear it; its links to
// every other node go down. Links among the other nodes do not change.
func (m *Medium) Move(n int, hears []int) error {
	if err := m.checkNode(n); err != nil {
		return err
	}
	near := make([]bool, m.nodes+1)
	for _, h := range hears {
		if err := m.checkPair(n, h); err != nil {
			return err
		}
		near[h] = true
	}
	for other := 1; other <= m.nodes; other++ {
		if other != n {
			m.links[m.index(n, other)].Up = near[other]
			m.links[m.index(other, n)].Up = near[other]
		}
	}
	return nil
}

// Route takes a frame that node from transmitted at now and schedules a copy for every node
// that should receive it: every node that hears from for a broadcast, multicast or unknown
// unicast destination, the owner of the destination MAC otherwise. The medium keeps frame
// (shared by its copies); the caller must not modify it afterwards. A malformed frame is
// counted and returned as an error.
func (m *Medium) Route(now time.Time, from int, frame []byte) error {
	if err := m.checkNode(from); err != nil {
		return err
	}
	dst, src, err := parseHeader(frame)
	if err != nil {
		m.malformed++
		return err
	}
	m.owners[src] = from // learn: a node may change its address or add one
	tx := &m.sent[from-1]
	tx.Transmitted++
	tx.TransmittedBytes += uint64(len(frame))
	if dst.Group() {
		tx.TransmittedGroup++
		tx.TransmittedGroupBytes += uint64(len(frame))
	}
	if !dst.Group() {
		if owner, ok := m.owners[dst]; ok {
			if owner != from {
				m.transmit(now, from, owner, frame)
			}
			return nil
		}
		m.unknownUnicast++
	}
	for to := 1; to <= m.nodes; to++ {
		if to != from {
			m.transmit(now, from, to, frame)
		}
	}
	return nil
}

// transmit applies the directed link from -> to to one frame: down link, queue bound, airtime,
// loss, delay and jitter, in that order (a lost frame has used its airtime, as on a radio).
func (m *Medium) transmit(now time.Time, from, to int, frame []byte) {
	i := m.index(from, to)
	l, ps := m.links[i], &m.pairs[i]
	ps.used = true
	if !l.Up {
		ps.stats.DroppedDown++
		return
	}
	depart := now
	if l.Rate > 0 {
		start := now
		if ps.busyUntil.After(now) {
			start = ps.busyUntil
		}
		backlog := float64(start.Sub(now)) * float64(l.Rate) / float64(time.Second)
		if backlog+float64(len(frame)) > float64(l.queueBound()) {
			ps.stats.DroppedQueue++
			return
		}
		depart = start.Add(time.Duration(float64(len(frame)) * float64(time.Second) / float64(l.Rate)))
		ps.busyUntil = depart
	}
	if l.Loss > 0 && m.rng(from, to).Float64() < l.Loss {
		ps.stats.DroppedLoss++
		return
	}
	arrive := depart.Add(l.Delay)
	if l.Jitter > 0 {
		arrive = arrive.Add(time.Duration(m.rng(from, to).Int64N(2*int64(l.Jitter)+1)) - l.Jitter)
		if arrive.Before(depart) {
			arrive = depart
		}
	} else if arrive.Before(ps.lastArrival) {
		arrive = ps.lastArrival // the delay shrank: never overtake an earlier frame
	}
	if arrive.After(ps.lastArrival) {
		ps.lastArrival = arrive
	}
	m.seq++
	heap.Push(&m.pending, Delivery{At: arrive, From: from, To: to, Frame: frame, seq: m.seq})
}

func (m *Medium) rng(from, to int) *rand.Rand {
	ps := &m.pairs[m.index(from, to)]
	if ps.rng == nil {
		ps.rng = rand.New(rand.NewPCG(m.seed, uint64(from)<<32|uint64(to)))
	}
	return ps.rng
}

// NextDue returns when the earliest frame in flight is due.
func (m *Medium) NextDue() (time.Time, bool) {
	if len(m.pending) == 0 {
		return time.Time{}, false
	}
	return m.pending[0].At, true
}

// PopDue removes and returns the frames due at or before now, earliest first (frames due at the
// same instant in the order they were routed). A frame whose link went down while it was in
// flight is dropped and counted instead.
func (m *Medium) PopDue(now time.Time) []Delivery {
	var due []Delivery
	for len(m.pending) > 0 && !m.pending[0].At.After(now) {
		d := heap.Pop(&m.pending).(Delivery)
		i := m.index(d.From, d.To)
		if !m.links[i].Up {
			m.pairs[i].stats.DroppedDown++
			continue
		}
		m.pairs[i].stats.Forwarded++
		m.pairs[i].stats.ForwardedBytes += uint64(len(d.Frame))
		due = append(due, d)
	}
	return due
}

// CountWriteError records that a node's interface refused a delivered frame.
func (m *Medium) CountWriteError() { m.writeErrors++ }

// Stats returns a snapshot of the counters.
func (m *Medium) Stats() Stats {
	s := Stats{Malformed: m.malformed, UnknownUnicast: m.unknownUnicast, WriteErrors: m.writeErrors, InFlight: len(m.pending),
		Nodes: make([]NodeStats, m.nodes)}
	for i, ns := range m.sent {
		ns.Node = i + 1
		s.Nodes[i] = ns
	}
	for from := 1; from <= m.nodes; from++ {
		for to := 1; to <= m.nodes; to++ {
			if ps := m.pairs[m.index(from, to)]; ps.used {
				st := ps.stats
				st.From, st.To = from, to
				s.Pairs = append(s.Pairs, st)
			}
		}
	}
	return s
}

// deliveryHeap orders frames in flight by due time, then by routing order.
type deliveryHeap []Delivery

func (h deliveryHeap) Len() int { return len(h) }
func (h deliveryHeap) Less(i, j int) bool {
	if !h[i].At.Equal(h[j].At) {
		return h[i].At.Before(h[j].At)
	}
	return h[i].seq < h[j].seq
}
func (h deliveryHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *deliveryHeap) Push(x any)   { *h = append(*h, x.(Delivery)) }
func (h *deliveryHeap) Pop() any {
	old := *h
	d := old[len(old)-1]
	old[len(old)-1] = Delivery{}
	*h = old[:len(old)-1]
	return d
}
