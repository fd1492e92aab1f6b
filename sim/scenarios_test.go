package sim

import (
	"bytes"
	"testing"
	"time"
)

// These tests drive the real overlay core (mesh/hybrid) through every scenario at small sizes.

func runReal(t *testing.T, cfg Config) Result {
	t.Helper()
	if cfg.Latency == 0 {
		cfg.Latency, cfg.Jitter = DefaultLatency, DefaultJitter
	}
	res, err := Run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %d lookups ok %v, transition %d ok %v, lost %d/%d, converge %vs, modes %+v, maint %v B/node/s, %d msgs, %vs wall",
		cfg.Scenario, res.Lookups, res.LookupSuccessRate, res.TransitionLookups, res.TransitionSuccessRate,
		res.RecordsLost, res.RecordsAudited, res.ConvergeS, res.ModeCounts, res.MaintenanceBytesPerNodePerS,
		res.MessagesTotal, res.WallS)
	return res
}

// checkCommon asserts what every run must report.
func checkCommon(t *testing.T, res Result, live int) {
	t.Helper()
	if res.ModeCounts.Flood+res.ModeCounts.DHT != live || res.NodesEnd != live {
		t.Errorf("mode counts %+v, nodes at end %d, want %d live nodes", res.ModeCounts, res.NodesEnd, live)
	}
	if res.Lookups < 500 {
		t.Errorf("only %d measured lookups", res.Lookups)
	}
	if res.RecordsAudited != live {
		t.Errorf("audited %d registrations, want %d", res.RecordsAudited, live)
	}
	if res.MessagesTotal == 0 || res.MaintenanceBytesPerNodePerS <= 0 {
		t.Errorf("messages %d, maintenance %v B/node/s", res.MessagesTotal, res.MaintenanceBytesPerNodePerS)
	}
	if res.VirtualS < res.DurationS {
		t.Errorf("virtual time %vs is shorter than the scenario (%vs)", res.VirtualS, res.DurationS)
	}
	if res.WireErrors != 0 || res.MessagesUnknownDest != 0 {
		t.Errorf("%d wire errors, %d messages to unknown nodes", res.WireErrors, res.MessagesUnknownDest)
	}
}

func TestFloodScenariosLoseNothing(t *testing.T) {
	for _, c := range []struct {
		scenario string
		nodes    int
		loss     float64
	}{
		{ScenarioSteady, 30, 0.05},
		{ScenarioPartition, 40, 0},
		{ScenarioMerge, 40, 0},
	} {
		t.Run(c.scenario, func(t *testing.T) {
			res := runReal(t, Config{Nodes: c.nodes, Scenario: c.scenario, Seed: 1, Loss: c.loss, Duration: 40 * time.Second})
			checkCommon(t, res, c.nodes)
			if res.ModeCounts.DHT != 0 {
				t.Errorf("%d nodes in DHT mode below the switch threshold", res.ModeCounts.DHT)
			}
			if res.RecordsLost != 0 || res.LookupSuccessRate != 1 {
				t.Errorf("records lost %d, lookup success %v: want 0 and 1", res.RecordsLost, res.LookupSuccessRate)
			}
			if res.HopsP99 != 0 {
				t.Errorf("flood-mode lookups took %v hops at p99, want local answers", res.HopsP99)
			}
			if res.ConvergeS < 0 {
				t.Error("never converged")
			}
		})
	}
}

func TestEveryOtherScenarioRuns(t *testing.T) {
	for _, c := range []struct {
		scenario string
		nodes    int
		live     func(Result) int
	}{
		{ScenarioGrow, 30, func(Result) int { return 30 }},
		{ScenarioFailure, 40, func(Result) int { return 30 }},
		{ScenarioChurn, 30, func(r Result) int { return r.NodesEnd }},
		{ScenarioPropagation, 30, func(Result) int { return 30 }},
	} {
		t.Run(c.scenario, func(t *testing.T) {
			res := runReal(t, Config{Nodes: c.nodes, Scenario: c.scenario, Seed: 2, Duration: 40 * time.Second,
				Session: 30 * time.Second})
			checkCommon(t, res, c.live(res))
			if res.ConvergeS < 0 {
				t.Error("never converged")
			}
			switch c.scenario {
			case ScenarioChurn:
				if res.NodesCreated <= c.nodes {
					t.Errorf("churn created %d nodes, want arrivals beyond the first %d", res.NodesCreated, c.nodes)
				}
			case ScenarioPropagation:
				if res.PropagationAllS == nil || *res.PropagationAllS <= 0 || *res.PropagationP99S > *res.PropagationAllS {
					t.Errorf("propagation p99 %v, all %v", res.PropagationP99S, res.PropagationAllS)
				}
			}
		})
	}
}

func TestDHTModeSteady(t *testing.T) {
	if testing.Short() {
		t.Skip("150-node run")
	}
	res := runReal(t, Config{Nodes: 150, Scenario: ScenarioSteady, Seed: 3, Duration: 40 * time.Second})
	checkCommon(t, res, 150)
	if res.ModeCounts.DHT < 140 {
		t.Errorf("mode counts %+v: the mesh did not switch to DHT mode", res.ModeCounts)
	}
	if res.LookupSuccessRate < 0.99 {
		t.Errorf("lookup success %v, want >= 0.99", res.LookupSuccessRate)
	}
	if res.HopsP50 < 1 {
		t.Errorf("DHT lookups took %v hops at the median: answered locally?", res.HopsP50)
	}
}

func TestRealRunsAreDeterministic(t *testing.T) {
	cfg := Config{Nodes: 24, Scenario: ScenarioPartition, Seed: 5, Duration: 30 * time.Second, Loss: 0.1}
	a, b := runReal(t, cfg), runReal(t, cfg)
	if x, y := withoutMachineFields(t, a), withoutMachineFields(t, b); !bytes.Equal(x, y) {
		t.Errorf("same seed, different output:\n%s\n%s", x, y)
	}
}

func TestWireCodecChangesNothing(t *testing.T) {
	// Passing messages in memory must be equivalent to encoding them: same sizes (EncodedSize is
	// exact) and no core modifying a message it received (which sharing would expose).
	cfg := Config{Nodes: 20, Scenario: ScenarioMerge, Seed: 4, Duration: 20 * time.Second, Loss: 0.05}
	mem := runReal(t, cfg)
	cfg.Wire = true
	wire := runReal(t, cfg)
	if wire.WireErrors != 0 {
		t.Fatalf("%d messages the codec refused", wire.WireErrors)
	}
	if x, y := withoutMachineFields(t, mem), withoutMachineFields(t, wire); !bytes.Equal(x, y) {
		t.Errorf("in-memory and wire runs differ:\n%s\n%s", x, y)
	}
}
