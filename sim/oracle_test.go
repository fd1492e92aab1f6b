package sim

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"meshcomm/mesh"
)

func TestOracleWaitsUntilEveryNodeHoldsEveryRegistration(t *testing.T) {
	// Fake cores sit on every record they receive until holdUntil: the overlay cannot have
	// converged before then, and converges within a few ticks after.
	const nodes = 20
	hold := 12 * time.Second
	cfg := Config{Nodes: nodes, Scenario: ScenarioSteady, Seed: 6, Duration: 40 * time.Second, Latency: 10 * time.Millisecond}
	checks := &fakeChecks{}
	base := newFakeFactory(checks, time.Second, cfg.Latency, cfg.Jitter)
	cfg.NewCore = func(c CoreConfig) Core {
		f := base(c).(*fakeCore)
		f.holdUntil = Epoch.Add(hold)
		return f
	}
	res, err := Run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	joinEnd := (nodes - 1) * joinSpacing
	earliest := (hold - joinEnd).Seconds()
	// Each node applies what it held at its first tick after hold (ticks are 1 s apart), then the
	// records travel at most a few hops of 10 ms; the oracle looks every 0.5 s.
	latest := earliest + 1 + 0.5 + 0.5
	if res.ConvergeS < earliest || res.ConvergeS > latest {
		t.Errorf("converged after %vs, want within [%v, %v]", res.ConvergeS, earliest, latest)
	}
	if res.TransitionSuccessRate >= 1 && res.TransitionLookups > 0 {
		t.Errorf("every transition lookup succeeded while records were held back")
	}
}

// dhtSim builds a sim of fake cores in DHT mode that all hold every registration.
func dhtSim(t *testing.T, nodes int) *Sim {
	t.Helper()
	cfg := Config{Nodes: nodes, Scenario: ScenarioSteady, Seed: 8, Duration: time.Minute}.withDefaults()
	checks := &fakeChecks{}
	base := newFakeFactory(checks, time.Second, 0, 0)
	cfg.NewCore = func(c CoreConfig) Core {
		f := base(c).(*fakeCore)
		f.mode = mesh.ModeDHT
		return f
	}
	s := newSim(cfg)
	s.plan.spanEnd = cfg.Duration
	for range nodes {
		s.join(0, 0)
	}
	s.run(time.Second, nil)
	s.oracle = &oracle{converged: -1, hint: [2]int32{-1, -1}}
	return s
}

// byDistance returns the live nodes ordered by XOR distance to w's registration.
func byDistance(s *Sim, w int32) []int32 {
	order := slices.Clone(s.live)
	target := s.nodes[w].reg.Resource
	slices.SortFunc(order, func(a, b int32) int {
		da, db := mesh.XOR(s.nodes[a].contact.ID, target), mesh.XOR(s.nodes[b].contact.ID, target)
		return bytes.Compare(da[:], db[:])
	})
	return order
}

func TestOracleWantsARegistrationOnOneOfItsClosestReplicas(t *testing.T) {
	s := dhtSim(t, 30)
	if !s.everyRegistrationPlaced() {
		t.Fatal("not placed although every node holds every registration")
	}
	// An owner that is not itself among the R+1 closest nodes to its registration.
	w := int32(-1)
	var order []int32
	for i := range int32(len(s.nodes)) {
		if order = byDistance(s, i); slices.Index(order, i) > s.nodes[i].core.Replicas() {
			w = i
			break
		}
	}
	if w < 0 {
		t.Fatal("every owner is close to its own registration: pick another seed")
	}
	r := s.nodes[w].core.Replicas()
	reg := s.nodes[w].reg
	saved := s.nodes[w].core.(*fakeCore).store[reg]
	for _, i := range order {
		delete(s.nodes[i].core.(*fakeCore).store, reg)
	}
	if s.everyRegistrationPlaced() {
		t.Fatal("placed although nobody holds the registration")
	}
	s.nodes[order[r]].core.(*fakeCore).store[reg] = saved // the (R+1)-th closest: not a replica
	if s.everyRegistrationPlaced() {
		t.Fatal("placed although only a node outside the R closest holds it")
	}
	s.nodes[order[r-1]].core.(*fakeCore).store[reg] = saved // the R-th closest
	if !s.everyRegistrationPlaced() {
		t.Fatal("not placed although the R-th closest node holds it")
	}
	// Killing every replica but the (R+1)-th makes that one the closest live node.
	for _, i := range order[:r] {
		s.kill(i)
	}
	if !s.everyRegistrationPlaced() {
		t.Fatal("not placed although the closest live node holds it")
	}
}

func TestOracleSampleMustSucceed(t *testing.T) {
	s := dhtSim(t, 20)
	s.oracleCheck() // fake lookups are answered locally: the sample completes at once
	if s.oracle.converged != s.now {
		t.Fatalf("converged = %v, want %v", s.oracle.converged, s.now)
	}
	s = dhtSim(t, 20)
	for _, n := range s.nodes {
		n.core.(*fakeCore).blind = true // every record is placed, but lookups find nothing
	}
	s.oracleCheck()
	if s.oracle.converged >= 0 || s.oracle.batch != nil {
		t.Fatalf("converged at %v (batch %v) although every sampled lookup failed", s.oracle.converged, s.oracle.batch)
	}
	for _, n := range s.nodes {
		n.core.(*fakeCore).blind = false
	}
	s.oracleCheck() // the next check launches a new sample
	if s.oracle.converged != s.now {
		t.Fatalf("converged = %v after lookups work again, want %v", s.oracle.converged, s.now)
	}
}
