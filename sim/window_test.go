package sim

import (
	"bytes"
	"testing"
	"time"
)

// The engine runs the cores of a window on several goroutines; what it reports must not depend
// on how many.

func TestWorkerCountChangesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("three 120-node runs")
	}
	cfg := Config{Nodes: 120, Scenario: ScenarioMerge, Seed: 6, Duration: 40 * time.Second, Loss: 0.05}
	var outputs [][]byte
	for _, workers := range []int{1, 2, 7} {
		cfg.Workers = workers
		outputs = append(outputs, withoutMachineFields(t, runReal(t, cfg)))
	}
	for k, out := range outputs[1:] {
		if !bytes.Equal(outputs[0], out) {
			t.Errorf("1 worker and %d workers differ:\n%s\n%s", []int{2, 7}[k], outputs[0], out)
		}
	}
}

func TestZeroLatencyRunsInstantByInstant(t *testing.T) {
	// With no link latency there is no lookahead: a window holds one instant, and a message sent
	// in it is delivered in a later window of the same instant. Ticks must still fire exactly
	// when asked and every lookup must still be answered, with any number of workers.
	cfg := Config{Nodes: 40, Scenario: ScenarioSteady, Seed: 2, Duration: 20 * time.Second}
	var outputs [][]byte
	for _, workers := range []int{1, 3} {
		cfg.Workers = workers
		checks := &fakeChecks{}
		cfg.NewCore = newFakeFactory(checks, 700*time.Millisecond, 0, 0)
		res, err := Run(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if res.Lookups == 0 || res.LookupSuccessRate != 1 {
			t.Errorf("%d workers: %d lookups, success %v", workers, res.Lookups, res.LookupSuccessRate)
		}
		if checks.earlyTicks.Load() != 0 || checks.lateTicks.Load() != 0 || checks.badTransit.Load() != 0 {
			t.Errorf("%d workers: %d early and %d late ticks, %d pings outside zero transit", workers,
				checks.earlyTicks.Load(), checks.lateTicks.Load(), checks.badTransit.Load())
		}
		outputs = append(outputs, withoutMachineFields(t, res))
	}
	if !bytes.Equal(outputs[0], outputs[1]) {
		t.Errorf("1 and 3 workers differ:\n%s\n%s", outputs[0], outputs[1])
	}
}
