package sim

import (
	"math/rand/v2"
	"testing"
	"time"
)

// BenchmarkQueue measures one push and one pop on a queue holding 100,000 events, the size of
// a 10,000-node run's working set.
func BenchmarkQueue(b *testing.B) {
	var q eventQueue
	rnd := rand.New(rand.NewPCG(1, 1))
	for range 100_000 {
		q.push(time.Duration(rnd.Int64N(int64(time.Minute))), event{kind: evTick})
	}
	b.ReportAllocs()
	for b.Loop() {
		at, ev := q.pop()
		q.push(at+time.Duration(rnd.Int64N(int64(time.Second))), ev)
	}
}

// BenchmarkEngine measures the simulator's own cost per event with fake cores that do almost
// nothing (ping a link every tick, 50 ms apart: mostly ticks and deliveries), so that what the
// overlay core costs can be told apart from what the engine costs.
func BenchmarkEngine(b *testing.B) {
	b.ReportAllocs()
	var events uint64
	for b.Loop() {
		fake := newFakeFactory(&fakeChecks{}, 50*time.Millisecond, 10*time.Millisecond, 2*time.Millisecond)
		res, err := Run(Config{Nodes: 2000, Scenario: ScenarioSteady, Seed: 1, Duration: 30 * time.Second,
			Latency: 10 * time.Millisecond, Jitter: 2 * time.Millisecond,
			NewCore: func(c CoreConfig) Core {
				f := fake(c).(*fakeCore)
				f.quiet = true
				return f
			}})
		if err != nil {
			b.Fatal(err)
		}
		events += res.Events
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(events), "ns/event")
}
