package discovery

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"
)

// TestMeasureDiscoveryUnderLoss prints how likely a node joining a link finds an existing peer
// (and is found by it) within 1 s and 3 s when every datagram is lost independently with the
// given probability. Loss is injected in the simulated link between pure cores, in virtual
// time. Run it with
//
//	MESHCOMM_DISCOVERY_MEASURE=1 go test -run TestMeasureDiscoveryUnderLoss -v ./discovery/
//
// (MESHCOMM_DISCOVERY_TRIALS sets the trials per row, default 2000).
func TestMeasureDiscoveryUnderLoss(t *testing.T) {
	if os.Getenv("MESHCOMM_DISCOVERY_MEASURE") == "" {
		t.Skip("measurement: set MESHCOMM_DISCOVERY_MEASURE=1 to run")
	}
	trials := 2000
	if s := os.Getenv("MESHCOMM_DISCOVERY_TRIALS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("MESHCOMM_DISCOVERY_TRIALS=%q", s)
		}
		trials = n
	}
	// The baseline models a querier like hashicorp/mdns: one IPv4 query, never repeated.
	oneShot := Schedule{FastInterval: time.Hour, SlowInterval: time.Hour, RecordTTL: 120 * time.Second}
	variants := []struct {
		name     string
		joiner   CoreConfig
		together bool
		baseline bool // a querier that never announces: only its own finding is meaningful
	}{
		{name: "meshcomm, IPv4+IPv6", joiner: CoreConfig{}},
		{name: "meshcomm, IPv4 only", joiner: CoreConfig{Families: []Family{IPv4}}},
		{name: "meshcomm, both start together", joiner: CoreConfig{}, together: true},
		{name: "one query, no announce (baseline)", joiner: CoreConfig{Families: []Family{IPv4}, Schedule: oneShot},
			baseline: true},
	}
	fmt.Printf("discovery under independent datagram loss, %d trials per row, 2 ms link latency\n", trials)
	fmt.Printf("%-36s %5s | %-23s | %-23s | %s\n", "variant", "loss", "joiner finds peer 1s/3s", "peer finds joiner 1s/3s", "median joiner->peer")
	for _, loss := range []float64{0.05, 0.20} {
		for _, v := range variants {
			r := measureJoin(t, trials, loss, v.joiner, v.together)
			if r.within(r.joinerFinds, 3*time.Second) < r.within(r.joinerFinds, time.Second) {
				t.Fatalf("%s: cumulative probability decreased", v.name)
			}
			peerCol := fmt.Sprintf("%10.4f %10.4f ", r.within(r.peerFinds, time.Second), r.within(r.peerFinds, 3*time.Second))
			if v.baseline {
				peerCol = fmt.Sprintf("%-22s", "   n/a (never announces)")
			}
			fmt.Printf("%-36s %4.0f%% | %10.4f %10.4f  | %s | %v\n", v.name, loss*100,
				r.within(r.joinerFinds, time.Second), r.within(r.joinerFinds, 3*time.Second), peerCol,
				r.median(r.joinerFinds))
		}
	}
}

type joinResult struct {
	joinerFinds, peerFinds []time.Duration // -1 when never within the horizon
}

func (r joinResult) within(ds []time.Duration, limit time.Duration) float64 {
	n := 0
	for _, d := range ds {
		if d >= 0 && d <= limit {
			n++
		}
	}
	return float64(n) / float64(len(ds))
}

func (r joinResult) median(ds []time.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	m := s[len(s)/2]
	if m < 0 {
		return "never"
	}
	return m.Round(time.Millisecond).String()
}

// measureJoin runs trials of: a settled node (running for a minute, in its slow phase unless
// together is set) and a joiner that appears on the link at t0.
func measureJoin(t *testing.T, trials int, loss float64, joiner CoreConfig, together bool) joinResult {
	var r joinResult
	for i := range trials {
		n := newSimNet(t, uint64(i)+1)
		n.loss = loss
		peer := n.addNode(0xA1, "eth0", "10.0.0.1", "fe80::1")
		cfg := joiner
		cfg.Self, cfg.Port, cfg.Team = testID(0xB2), 4433, "t"
		j := n.addNodeWith(cfg, "eth0", "10.0.0.2", "fe80::2")
		n.start(peer)
		if !together {
			n.run(time.Minute)
		}
		t0 := n.now
		n.start(j)
		n.run(3 * time.Second)
		at := func(node *simNode, kind EventKind, id [16]byte) time.Duration {
			if ev, ok := node.firstEvent(kind, id); ok {
				return ev.at.Sub(t0)
			}
			return -1
		}
		r.joinerFinds = append(r.joinerFinds, at(j, Found, peer.id))
		r.peerFinds = append(r.peerFinds, at(peer, Found, j.id))
	}
	return r
}
