package flood

import (
	"encoding/binary"
	"testing"
	"time"
)

var benchNeighbors = []int{1, 2, 3, 4, 5, 6, 7, 8}

func benchID(i int) ID {
	var id ID
	binary.LittleEndian.PutUint64(id[:], uint64(i))
	return id
}

// BenchmarkReceiveNew measures a new message forwarded to 7 of 8 neighbours, which then all ack:
// the steady state of a node relaying a stream of floods (seen cache full and evicting).
func BenchmarkReceiveNew(b *testing.B) {
	f := New[int, []byte](Config{RatePerOrigin: -1, SeenCap: 4096})
	payload := make([]byte, 200)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		now := t0.Add(time.Duration(i) * time.Microsecond)
		id := benchID(i)
		r := f.Receive(now, 1, 99, id, 8, payload, benchNeighbors)
		for _, s := range r.Forward {
			f.Acked(s.To, id)
		}
	}
}

// BenchmarkReceiveDuplicate measures a copy of an id already seen, with an implicit ack.
func BenchmarkReceiveDuplicate(b *testing.B) {
	f := New[int, []byte](Config{})
	const ids = 1024
	for i := range ids {
		f.Receive(t0, 1, 99, benchID(i), 8, nil, benchNeighbors)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		f.Receive(t0.Add(time.Millisecond), 2, 99, benchID(i%ids), 7, nil, benchNeighbors)
	}
}

// BenchmarkTick measures a Tick that resends every pending pair (PendingCap of them: the worst
// case); pairs/s is the resend throughput.
func BenchmarkTick(b *testing.B) {
	cfg := Config{RetransmitBudget: 1 << 30, PendingCap: 4096, RatePerOrigin: -1}
	f := New[int, []byte](cfg)
	for i := range cfg.PendingCap / len(benchNeighbors) {
		f.Originate(t0, 0, benchID(i), nil, benchNeighbors)
	}
	step := f.Config().RetransmitAfter << (maxBackoffShift + 1) // every pair is due at every step
	now := t0
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(step)
		if got := f.Tick(now); len(got) != cfg.PendingCap {
			b.Fatalf("Tick resent %d, want %d", len(got), cfg.PendingCap)
		}
	}
	b.ReportMetric(float64(b.N)*float64(cfg.PendingCap)/b.Elapsed().Seconds(), "pairs/s")
}

// BenchmarkTickIdle measures a Tick with pairs pending but none due.
func BenchmarkTickIdle(b *testing.B) {
	f := New[int, []byte](Config{})
	for i := range 512 {
		f.Originate(t0, 0, benchID(i), nil, benchNeighbors)
	}
	b.ReportAllocs()
	for b.Loop() {
		f.Tick(t0)
	}
}

// BenchmarkNewIdleFlooder reports (as B/op) what one idle Flooder costs: the simulator holds
// 10,000 of them.
func BenchmarkNewIdleFlooder(b *testing.B) {
	b.ReportAllocs()
	var keep *Flooder[[16]byte, []byte]
	for b.Loop() {
		keep = New[[16]byte, []byte](Config{})
	}
	_ = keep
}
