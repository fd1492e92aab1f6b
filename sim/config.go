package sim

import (
	"fmt"
	"slices"
	"time"
)

// Scenario names.
const (
	ScenarioSteady      = "steady"
	ScenarioGrow        = "grow"
	ScenarioPartition   = "partition"
	ScenarioMerge       = "merge"
	ScenarioChurn       = "churn"
	ScenarioFailure     = "failure"
	ScenarioPropagation = "propagation"
)

// Scenarios lists every scenario, in the order the documentation presents them.
var Scenarios = []string{ScenarioSteady, ScenarioGrow, ScenarioPartition, ScenarioMerge,
	ScenarioChurn, ScenarioFailure, ScenarioPropagation}

// Defaults of a run.
const (
	DefaultNodes    = 300
	DefaultLatency  = 10 * time.Millisecond
	DefaultJitter   = 2 * time.Millisecond
	DefaultDuration = 10 * time.Minute
	DefaultSession  = 5 * time.Minute
)

// Fixed parameters of the workload and the measurements (documented in docs/simulator.md).
const (
	lookupTimeout      = 30 * time.Second       // a lookup unanswered this long has failed
	eligibleAge        = 5 * time.Second        // requester and target must have been up this long
	autoLookups        = 5000                   // lookups per run when no rate is given
	registrationTTL    = time.Hour              // lifetime of each node's registration
	oracleInterval     = 500 * time.Millisecond // convergence oracle cadence
	oracleSampleSize   = 32                     // real lookups per oracle sample (DHT mode)
	auditSpread        = 10 * time.Second       // the final audit's lookups start within this span
	linksPerJoin       = 8                      // direct links a joining node's discovery reports
	healLinks          = 8                      // direct links discovery reports across a healed partition
	joinSpacing        = 10 * time.Millisecond  // join interval in the quick-join scenarios
	propagationCount   = 21                     // registrations published by the propagation scenario
	propagationWindow  = 10 * time.Second       // how long each propagation is followed
	propagationQuantum = 0.99                   // the "reaches 99% of nodes" threshold
	failureFraction    = 0.25                   // nodes killed by the failure scenario
	memSampleEvery     = 1 << 16                // events between heap samples
	minTickSpacing     = time.Millisecond       // a core asking for Tick again at once waits this long
)

// Epoch is virtual time zero.
var Epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Config describes one simulation run.
type Config struct {
	Nodes      int
	Scenario   string
	Seed       uint64
	Loss       float64       // probability that a message is lost
	Latency    time.Duration // one-way delay of every message
	Jitter     time.Duration // extra delay, uniform in [0, Jitter]
	Duration   time.Duration // virtual length of the scenario (the final audit comes after it)
	Session    time.Duration // churn: median session length
	LookupRate float64       // workload lookups per virtual second; 0 = autoLookups over the run
	Wire       bool          // encode and decode every message through the wire codec
	Workers    int           // goroutines that run the cores; 0 = GOMAXPROCS (the result does not depend on it)
	NewCore    NewCore       // nil = the real overlay core (HybridCore)
}

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	if c.Nodes == 0 {
		c.Nodes = DefaultNodes
	}
	if c.Scenario == "" {
		c.Scenario = ScenarioSteady
	}
	if c.Workers <= 0 {
		c.Workers = workerCount()
	}
	if c.Duration == 0 {
		c.Duration = DefaultDuration
	}
	if c.Session == 0 {
		c.Session = DefaultSession
	}
	if c.NewCore == nil {
		c.NewCore = HybridCore
	}
	return c
}

// validate refuses configurations the scenarios cannot run.
func (c Config) validate() error {
	if !slices.Contains(Scenarios, c.Scenario) {
		return fmt.Errorf("unknown scenario %q (one of %v)", c.Scenario, Scenarios)
	}
	minNodes := 2
	if c.Scenario == ScenarioPartition || c.Scenario == ScenarioMerge || c.Scenario == ScenarioFailure {
		minNodes = 4
	}
	switch {
	case c.Nodes < minNodes:
		return fmt.Errorf("scenario %s needs at least %d nodes, got %d", c.Scenario, minNodes, c.Nodes)
	case c.Nodes > 1_000_000:
		return fmt.Errorf("at most 1000000 nodes, got %d", c.Nodes)
	case c.Loss < 0 || c.Loss >= 1:
		return fmt.Errorf("loss must be in [0, 1), got %v", c.Loss)
	case c.Latency < 0 || c.Jitter < 0:
		return fmt.Errorf("latency and jitter must not be negative")
	case c.Duration < 10*time.Second:
		return fmt.Errorf("duration must be at least 10s, got %v", c.Duration)
	case c.Session <= 0:
		return fmt.Errorf("session must be positive, got %v", c.Session)
	case c.LookupRate < 0:
		return fmt.Errorf("lookup rate must not be negative, got %v", c.LookupRate)
	}
	return nil
}
