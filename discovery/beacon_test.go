package discovery

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// Two laptops that have each run for a minute (long past the fast browse period) come into
// range at a random moment: with the beacon each finds the other within one beacon period plus
// the greeting's delay; with the RFC 6762 schedule alone they wait for the next slow query.
func TestBeaconFindsALaptopComingIntoRange(t *testing.T) {
	const trials = 30
	sch := DefaultSchedule()
	// Worst case: the longest beacon period of a node with no peers (+20%), the greeting's
	// response delay, and the link latency both ways.
	bound := sch.BeaconInterval*6/5 + responseMinDelay + responseJitter + 10*time.Millisecond
	contact := func(seed uint64, s Schedule) time.Duration {
		n := newSimNet(t, seed)
		a := n.addNodeWith(CoreConfig{Self: testID(0xA1), Port: 4001, Team: "t", Schedule: s}, "eth0", "10.0.0.1")
		b := n.addNodeWith(CoreConfig{Self: testID(0xB2), Port: 4002, Team: "t", Schedule: s}, "eth0", "10.0.0.2")
		n.setApart(a, b, true)
		n.start(a)
		n.run(time.Duration(n.rng.Int64N(int64(10 * time.Second))))
		n.start(b)
		n.run(time.Minute + time.Duration(n.rng.Int64N(int64(20*time.Second))))
		met := n.now
		n.setApart(a, b, false)
		n.run(30 * time.Second)
		ea, okA := a.firstEvent(Found, b.id)
		eb, okB := b.firstEvent(Found, a.id)
		if !okA || !okB {
			return time.Hour
		}
		return max(ea.at.Sub(met), eb.at.Sub(met))
	}
	var beacon, rfc []time.Duration
	for seed := uint64(1); seed <= trials; seed++ {
		beacon = append(beacon, contact(seed, sch))
		rfc = append(rfc, contact(seed, rfcSchedule()))
	}
	slices.Sort(beacon)
	slices.Sort(rfc)
	t.Logf("mutual discovery after coming into range, %d trials: beacon median %v max %v; RFC schedule alone median %v max %v",
		trials, beacon[trials/2], beacon[trials-1], rfc[trials/2], rfc[trials-1])
	if beacon[trials-1] > bound {
		t.Errorf("with the beacon the slowest first contact took %v, want <= %v", beacon[trials-1], bound)
	}
	if rfc[trials/2] <= bound {
		t.Errorf("without the beacon the median first contact took %v: the trial does not exercise the beacon", rfc[trials/2])
	}
}

// Twenty laptops sharing one link: each stretches its beacon by BeaconSpacing per peer, so the
// link carries about one beacon per BeaconSpacing in all, not twenty a second.
func TestBeaconRateIsBoundedOnASharedLink(t *testing.T) {
	const nodes = 20
	sch := DefaultSchedule()
	n := newSimNet(t, 3)
	var all []*simNode
	for i := range nodes {
		all = append(all, n.addNodeWith(CoreConfig{Self: testID(byte(0x10 + i)), Port: 4000, Team: "t", Schedule: sch},
			"eth0", fmt.Sprintf("10.0.0.%d", 10+i)))
	}
	for _, node := range all {
		n.start(node)
	}
	n.run(2 * time.Minute)
	sent := func() (total uint64) {
		for _, node := range all {
			total += node.core.Stats().BeaconsSent
		}
		return total
	}
	before := sent()
	const window = 2 * time.Minute
	n.run(window)
	rate := float64(sent()-before) / window.Seconds()
	period := time.Duration(nodes-1) * sch.BeaconSpacing
	maxRate := float64(nodes) / (period * 4 / 5).Seconds()
	minRate := float64(nodes) / (period * 6 / 5).Seconds()
	t.Logf("%d nodes on one link: %.2f beacons/s on the link (each node every %v ±20%%)", nodes, rate, period)
	if rate > maxRate || rate < minRate {
		t.Errorf("%.2f beacons/s on the link, want within [%.2f, %.2f]", rate, minRate, maxRate)
	}
	for _, node := range all {
		if got := len(node.core.Peers()); got != nodes-1 {
			t.Errorf("node %s knows %d peers, want %d", node.id.Short(), got, nodes-1)
		}
	}
}
