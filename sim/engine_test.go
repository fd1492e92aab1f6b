package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// runFake runs a scenario over fake cores.
func runFake(t *testing.T, cfg Config) (Result, *fakeChecks) {
	t.Helper()
	checks := &fakeChecks{}
	cfg.NewCore = newFakeFactory(checks, 700*time.Millisecond, cfg.Latency, cfg.Jitter)
	res, err := Run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return res, checks
}

func TestTicksFireExactlyWhenTheCoreAsks(t *testing.T) {
	_, c := runFake(t, Config{Nodes: 20, Scenario: ScenarioSteady, Seed: 3, Duration: 20 * time.Second,
		Latency: 10 * time.Millisecond, Jitter: 5 * time.Millisecond})
	if c.ticks.Load() < 20*20 {
		t.Fatalf("only %d ticks for 20 nodes over 20 s at one per 0.7 s", c.ticks.Load())
	}
	if c.earlyTicks.Load() != 0 || c.lateTicks.Load() != 0 {
		t.Errorf("%d ticks: %d early, %d late (a stale tick fired or a reschedule was missed)", c.ticks.Load(), c.earlyTicks.Load(), c.lateTicks.Load())
	}
}

func TestMessagesTakeTheLinkLatency(t *testing.T) {
	_, c := runFake(t, Config{Nodes: 20, Scenario: ScenarioSteady, Seed: 3, Duration: 20 * time.Second,
		Latency: 25 * time.Millisecond, Jitter: 10 * time.Millisecond})
	if c.pings.Load() == 0 {
		t.Fatal("no ping was delivered")
	}
	if c.badTransit.Load() != 0 {
		t.Errorf("%d of %d pings arrived outside [25ms, 35ms]", c.badTransit.Load(), c.pings.Load())
	}
}

func TestDepartedNodesReceiveNothing(t *testing.T) {
	res, c := runFake(t, Config{Nodes: 30, Scenario: ScenarioChurn, Seed: 9, Duration: 60 * time.Second,
		Session: 20 * time.Second, Latency: 10 * time.Millisecond})
	if res.NodesCreated <= 30 {
		t.Fatalf("churn created no new nodes (%d)", res.NodesCreated)
	}
	if c.afterLeave.Load() != 0 {
		t.Errorf("%d messages were delivered to nodes that had left", c.afterLeave.Load())
	}
}

func TestFakeMeshResolvesEveryLookup(t *testing.T) {
	// The fake floods every record to its links, so every lookup between settled nodes succeeds:
	// a check of the workload and audit bookkeeping independent of the real core.
	for _, sc := range []string{ScenarioSteady, ScenarioGrow, ScenarioMerge} {
		res, _ := runFake(t, Config{Nodes: 30, Scenario: sc, Seed: 4, Duration: 30 * time.Second, Latency: 5 * time.Millisecond})
		if res.Lookups < 1000 || res.LookupSuccessRate != 1 || res.RecordsLost != 0 || res.RecordsAudited != 30 {
			t.Errorf("%s: %d lookups, success %v, %d of %d records lost", sc, res.Lookups, res.LookupSuccessRate, res.RecordsLost, res.RecordsAudited)
		}
		if res.ConvergeS < 0 {
			t.Errorf("%s: never converged", sc)
		}
	}
}

func TestPartitionSeparatesWorkloadAndLinks(t *testing.T) {
	checks := &fakeChecks{}
	cfg := Config{Nodes: 40, Scenario: ScenarioPartition, Seed: 2, Duration: 40 * time.Second,
		Latency: 5 * time.Millisecond}.withDefaults()
	cfg.NewCore = newFakeFactory(checks, time.Second, cfg.Latency, cfg.Jitter)
	s := newSim(cfg)
	s.setup()
	s.run(cfg.Duration/2, nil) // between the split (30%) and the heal (65%)

	comps := map[int32]int{}
	for _, i := range s.live {
		comps[s.net.comp[i]]++
	}
	if len(comps) != 2 {
		t.Fatalf("components during the partition: %v, want two halves", comps)
	}
	for c, size := range comps {
		if size != 20 {
			t.Errorf("component %d has %d nodes, want 20", c, size)
		}
	}
	for _, i := range s.live {
		for _, p := range s.nodes[i].core.(*fakeCore).peers {
			if j := s.byID[p.ID]; !s.sameComponent(i, j) {
				t.Errorf("node %d still has a direct link to %d across the partition", i, j)
			}
		}
	}
	for range 1000 {
		a, b, ok := s.pickPair()
		if !ok {
			t.Fatal("no eligible pair")
		}
		if !s.sameComponent(a, b) || a == b {
			t.Fatalf("workload paired %d and %d across the partition", a, b)
		}
	}

	half := slices.Clone(s.net.comp)
	s.run(cfg.Duration, nil) // through the heal
	rejoined := 0
	for _, i := range s.live {
		if !s.sameComponent(i, s.live[0]) {
			t.Fatalf("node %d is still cut off after the heal", i)
		}
		for _, p := range s.nodes[i].core.(*fakeCore).peers {
			if half[i] != half[s.byID[p.ID]] {
				rejoined++
			}
		}
	}
	// Each link across is seen from both ends; the heal adds at most healLinks of them.
	if rejoined == 0 || rejoined > 2*healLinks {
		t.Errorf("%d link ends across the healed partition, want 1 to %d links", rejoined, healLinks)
	}
}

// withoutMachineFields drops the two fields that depend on the machine, not on the seed.
func withoutMachineFields(t *testing.T, r Result) []byte {
	t.Helper()
	r.WallS, r.PeakHeapBytes = 0, 0
	var b bytes.Buffer
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	return append(b.Bytes(), text.Bytes()...)
}

func TestFakeRunsAreDeterministic(t *testing.T) {
	cfg := Config{Nodes: 30, Scenario: ScenarioChurn, Seed: 11, Duration: 40 * time.Second, Session: 30 * time.Second,
		Loss: 0.1, Latency: 10 * time.Millisecond, Jitter: 5 * time.Millisecond}
	a, _ := runFake(t, cfg)
	b, _ := runFake(t, cfg)
	if x, y := withoutMachineFields(t, a), withoutMachineFields(t, b); !bytes.Equal(x, y) {
		t.Errorf("same seed, different output:\n%s\n%s", x, y)
	}
	cfg.Seed = 12
	c, _ := runFake(t, cfg)
	if bytes.Equal(withoutMachineFields(t, a), withoutMachineFields(t, c)) {
		t.Error("a different seed gave identical output")
	}
}

func TestConfigIsValidated(t *testing.T) {
	for _, cfg := range []Config{
		{Scenario: "nonsense"},
		{Nodes: 1},
		{Nodes: 3, Scenario: ScenarioMerge},
		{Loss: 1},
		{Loss: -0.1},
		{Latency: -time.Second},
		{Duration: time.Second},
		{LookupRate: -1},
	} {
		if _, err := Run(cfg); err == nil {
			t.Errorf("Run(%+v) accepted a bad configuration", cfg)
		}
	}
}

func TestACoreRefusingToPublishFailsTheRun(t *testing.T) {
	base := newFakeFactory(&fakeChecks{}, time.Second, 0, 0)
	_, err := Run(Config{Nodes: 10, Scenario: ScenarioSteady, Seed: 1, Duration: 20 * time.Second,
		NewCore: func(c CoreConfig) Core {
			f := base(c).(*fakeCore)
			f.refuse = errors.New("store full")
			return f
		}})
	if err == nil || !strings.Contains(err.Error(), "store full") || !strings.Contains(err.Error(), "registration") {
		t.Errorf("Run = %v, want the core's refusal to publish", err)
	}
}

func TestJSONHasTheDocumentedFields(t *testing.T) {
	res, _ := runFake(t, Config{Nodes: 20, Scenario: ScenarioPropagation, Seed: 1, Duration: 40 * time.Second,
		Latency: 10 * time.Millisecond})
	var b bytes.Buffer
	if err := res.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	if bytes.Count(b.Bytes(), []byte("\n")) != 1 {
		t.Errorf("JSON output is not one line: %q", b.String())
	}
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"scenario", "nodes", "seed", "mode_counts", "lookups", "lookup_success_rate",
		"hops_p50", "hops_p99", "lookup_latency_ms_p50", "lookup_latency_ms_p99", "records_lost", "converge_s",
		"maintenance_bytes_per_node_per_s", "messages_total", "virtual_s", "wall_s", "peak_heap_bytes",
		"propagation_p99_s", "propagation_all_s"} {
		if _, ok := m[f]; !ok {
			t.Errorf("field %q missing from %s", f, b.String())
		}
	}
	modes, ok := m["mode_counts"].(map[string]any)
	if !ok || modes["flood"] == nil || modes["dht"] == nil {
		t.Errorf("mode_counts = %v, want flood and dht", m["mode_counts"])
	}
	if p := *res.PropagationAllS; p <= 0 || p > 1 {
		t.Errorf("fake flood took %vs to reach every node", p)
	}
}
