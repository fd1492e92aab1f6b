package sim

import (
	"math"
	"testing"
	"time"
)

func TestLossDropsTheConfiguredFraction(t *testing.T) {
	for _, loss := range []float64{0, 0.05, 0.3} {
		n := newNetwork(10*time.Millisecond, 0, loss, 7)
		a, b := n.addNode(0), n.addNode(0)
		const sent = 200_000
		delivered := 0
		for range sent {
			if _, ok := n.transmit(a, b); ok {
				delivered++
			}
		}
		got := 1 - float64(delivered)/sent
		// Binomial standard deviation at 200k trials is at most 0.0011; allow five of them.
		if math.Abs(got-loss) > 0.0056 {
			t.Errorf("loss %v: dropped %.4f of messages", loss, got)
		}
		if n.lost != uint64(sent-delivered) {
			t.Errorf("loss %v: counted %d lost, dropped %d", loss, n.lost, sent-delivered)
		}
	}
}

func TestLossIsDeterminedBySeed(t *testing.T) {
	fates := func(seed uint64) []bool {
		n := newNetwork(time.Millisecond, time.Millisecond, 0.5, seed)
		a, b := n.addNode(0), n.addNode(0)
		var out []bool
		for range 256 {
			_, ok := n.transmit(a, b)
			out = append(out, ok)
		}
		return out
	}
	x, y, z := fates(1), fates(1), fates(2)
	same := func(p, q []bool) bool {
		for i := range p {
			if p[i] != q[i] {
				return false
			}
		}
		return true
	}
	if !same(x, y) {
		t.Error("the same seed gave different losses")
	}
	if same(x, z) {
		t.Error("different seeds gave identical losses")
	}
}

func TestDelayIsLatencyPlusBoundedJitter(t *testing.T) {
	const lat, jit = 10 * time.Millisecond, 4 * time.Millisecond
	n := newNetwork(lat, jit, 0, 1)
	a, b := n.addNode(0), n.addNode(0)
	lo, hi := time.Hour, time.Duration(0)
	for range 10_000 {
		d, ok := n.transmit(a, b)
		if !ok {
			t.Fatal("lossless network dropped a message")
		}
		lo, hi = min(lo, d), max(hi, d)
	}
	if lo < lat || hi > lat+jit {
		t.Errorf("delays in [%v, %v], want within [%v, %v]", lo, hi, lat, lat+jit)
	}
	if hi-lo < jit*9/10 {
		t.Errorf("delays span only %v of %v jitter", hi-lo, jit)
	}
}

func TestPartitionCutsReachabilityAndCrossLinks(t *testing.T) {
	n := newNetwork(time.Millisecond, 0, 0, 1)
	for range 6 {
		n.addNode(0)
	}
	n.link(0, 1) // stays inside the remaining half
	n.link(0, 3) // crosses
	n.link(3, 4) // stays inside the moving half
	n.link(2, 5) // crosses
	c, cut := n.split([]int32{3, 4, 5})
	if c == 0 {
		t.Fatal("split reused component 0")
	}
	if len(cut) != 2 || n.linked(0, 3) || n.linked(2, 5) {
		t.Errorf("cut %v; links 0-3 %v, 2-5 %v: want exactly the two cross links removed", cut, n.linked(0, 3), n.linked(2, 5))
	}
	if !n.linked(0, 1) || !n.linked(3, 4) {
		t.Error("a link inside a half was removed")
	}
	if _, ok := n.transmit(0, 4); ok {
		t.Error("a message crossed the partition")
	}
	if _, ok := n.transmit(3, 5); !ok {
		t.Error("a message inside a half was dropped")
	}
	if n.arrives(1, 3) {
		t.Error("a message in flight when the partition came was delivered across it")
	}
	n.unite(0, c)
	if _, ok := n.transmit(0, 4); !ok {
		t.Error("a message after the heal was dropped")
	}
	if n.linked(0, 3) {
		t.Error("healing restored a link by itself; links come only from discovery")
	}
}

func TestDeadNodesAreUnreachable(t *testing.T) {
	n := newNetwork(time.Millisecond, 0, 0, 1)
	a, b := n.addNode(0), n.addNode(0)
	n.kill(b)
	if _, ok := n.transmit(a, b); ok {
		t.Error("a message was sent to a dead node")
	}
	if n.arrives(a, b) {
		t.Error("a message was delivered to a dead node")
	}
	if _, ok := n.transmit(b, a); !ok {
		t.Error("messages a node sent before it died must still be deliverable")
	}
	if n.unreached != 2 {
		t.Errorf("counted %d unreachable, want 2", n.unreached)
	}
}
