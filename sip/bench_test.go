package sip

import (
	"sync"
	"testing"
	"time"
)

// BenchmarkRegistrar measures how many REGISTERs one registrar node accepts per second: each
// carries a signed registration record that the registrar decodes, verifies (ed25519) and
// checks against the sender's authenticated NodeID before storing it. Eight clients on one
// peer node send back to back over the in-memory network, in real time (the per-peer rate
// limit is lifted for the measurement). Run:
//
//	go test -run '^$' -bench Registrar -benchtime 2000x ./sip/
func BenchmarkRegistrar(b *testing.B) {
	m := newMesh(b)
	lift := func(c *Config) { c.Limits = Limits{RequestsPerSecond: 1e9, Burst: 1 << 30} }
	client, registrar := m.node("101", lift), m.node("150", lift)
	go func() {
		for range registrar.stored {
		}
	}()
	reg, err := client.ua.Register(ctxFor(b), registrar.contact(), RegisterOptions{TTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	const clients = 8
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := range clients {
		wg.Go(func() {
			for i := w; i < b.N; i += clients {
				if err := reg.send(ctxFor(b), false); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "registers/s")
	b.ReportMetric(float64(elapsed.Microseconds())/float64(b.N)*clients, "µs/register-latency")
	if got := registrar.ua.Stats().RegistersAccepted; got < uint64(b.N) {
		b.Fatalf("accepted %d of %d", got, b.N)
	}
}
