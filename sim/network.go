package sim

import (
	"math/rand/v2"
	"slices"
	"time"
)

// network is the simulated link layer: per-message latency, jitter and loss, reachability by
// component, and the direct links discovery has found.
//
// Reachability models IP: within a component any live node can send to any other. Components
// change only through split (a partition) and unite (a heal or a contact between two meshes).
// A message is dropped when it is lost, when sender and receiver are in different components or
// when the receiver is dead. Direct links are a separate, sparser graph: the peers a node's
// discovery reports (its core's AddPeer calls).
//
// Each node has its own random source for the fate of the messages it sends, so that the
// engine's workers can decide them for different senders at once, in any order, and get the
// same answers.
type network struct {
	latency time.Duration
	jitter  time.Duration
	loss    float64
	seed    uint64
	rnd     []*rand.Rand // per sender

	comp      []int32   // component of each node
	alive     []bool    // whether each node is running
	links     [][]int32 // direct links of each node (symmetric)
	nextComp  int32
	lost      uint64 // messages dropped by the loss model
	unreached uint64 // messages dropped because the receiver was dead or in another component
}

func newNetwork(latency, jitter time.Duration, loss float64, seed uint64) *network {
	return &network{latency: latency, jitter: jitter, loss: loss, seed: seed}
}

// addNode registers a live node in component c and returns its index.
func (n *network) addNode(c int32) int32 {
	n.comp = append(n.comp, c)
	n.alive = append(n.alive, true)
	n.links = append(n.links, nil)
	n.rnd = append(n.rnd, rand.New(rand.NewPCG(n.seed, 0x11_4c<<32|uint64(len(n.rnd)))))
	if c >= n.nextComp {
		n.nextComp = c + 1
	}
	return int32(len(n.comp) - 1)
}

// newComponent returns an unused component number.
func (n *network) newComponent() int32 {
	c := n.nextComp
	n.nextComp++
	return c
}

// reachable reports whether a message from a can reach b right now.
func (n *network) reachable(a, b int32) bool {
	return n.alive[b] && n.comp[a] == n.comp[b]
}

// fate is what the link model does with one message.
type fate uint8

const (
	delivered   fate = iota
	lost             // dropped by the loss model
	unreachable      // the receiver is dead or in another component
)

// decide draws the fate of one message sent now from a to b, and its transit delay when it is
// delivered, from a's own source. It changes nothing else, so it may run for different senders
// at once. Delivery re-checks reachability, since a partition or death can come while the
// message is in flight.
func (n *network) decide(a, b int32) (time.Duration, fate) {
	if !n.reachable(a, b) {
		return 0, unreachable
	}
	rnd := n.rnd[a]
	if n.loss > 0 && rnd.Float64() < n.loss {
		return 0, lost
	}
	d := n.latency
	if n.jitter > 0 {
		d += time.Duration(rnd.Int64N(int64(n.jitter) + 1))
	}
	return d, delivered
}

// transmit is decide that also counts the drops.
func (n *network) transmit(a, b int32) (time.Duration, bool) {
	d, f := n.decide(a, b)
	switch f {
	case lost:
		n.lost++
	case unreachable:
		n.unreached++
	}
	return d, f == delivered
}

// arrives re-checks, at delivery time, that a message from a can still reach b.
func (n *network) arrives(a, b int32) bool {
	if n.reachable(a, b) {
		return true
	}
	n.unreached++
	return false
}

// linked reports whether a and b share a direct link.
func (n *network) linked(a, b int32) bool { return slices.Contains(n.links[a], b) }

// link records a direct link between a and b; it reports false if it already existed.
func (n *network) link(a, b int32) bool {
	if a == b || n.linked(a, b) {
		return false
	}
	n.links[a] = append(n.links[a], b)
	n.links[b] = append(n.links[b], a)
	return true
}

// unlink removes the direct link between a and b.
func (n *network) unlink(a, b int32) {
	n.links[a] = slices.DeleteFunc(n.links[a], func(x int32) bool { return x == b })
	n.links[b] = slices.DeleteFunc(n.links[b], func(x int32) bool { return x == a })
}

// split moves members into a new component and removes every direct link between a member and
// a live node left behind. It returns the new component and the removed links (member first).
func (n *network) split(members []int32) (int32, [][2]int32) {
	c := n.newComponent()
	for _, m := range members {
		n.comp[m] = c
	}
	var cut [][2]int32
	for _, m := range members {
		for _, o := range slices.Clone(n.links[m]) {
			if n.comp[o] != c && n.alive[o] {
				n.unlink(m, o)
				cut = append(cut, [2]int32{m, o})
			}
		}
	}
	return c, cut
}

// unite merges component b into component a (reachability only: no links are added).
func (n *network) unite(a, b int32) {
	for i, c := range n.comp {
		if c == b {
			n.comp[i] = a
		}
	}
}

// kill stops a node: nothing reaches it any more. Its links stay recorded (discovery has not
// noticed), but links to dead nodes are never reported again.
func (n *network) kill(i int32) { n.alive[i] = false }
