package radiolink

import (
	"os"
	"os/exec"
	"slices"
	"strconv"
	"testing"
	"time"
)

// BenchmarkMediumRouteBroadcast measures the model alone: one broadcast frame routed to five
// hearers with delay and loss, then popped when due.
func BenchmarkMediumRouteBroadcast(b *testing.B) {
	m, err := NewMedium(6, 1, Link{Up: true, Delay: time.Millisecond, Loss: 0.1})
	if err != nil {
		b.Fatal(err)
	}
	frame := ethFrame(broadcast, NodeMAC(1), 0, 100)
	now := t0
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Microsecond)
		if err := m.Route(now, 1, frame); err != nil {
			b.Fatal(err)
		}
		m.PopDue(now)
	}
}

// BenchmarkLabRoundTrip measures the emulator's own cost: a UDP round trip between two
// namespaces over perfect links (no configured delay), reporting the median and 99th
// percentile besides the mean. Needs root.
func BenchmarkLabRoundTrip(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("skipping: needs root to create network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		b.Skip("skipping: needs ip(8)")
	}
	lab, err := Start(Config{Prefix: "rlb" + strconv.Itoa(os.Getpid()) + "-", Nodes: 2})
	if err != nil {
		b.Fatal(err)
	}
	defer lab.Close()
	a, err := lab.ListenUDP(1, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	srv, err := lab.ListenUDP(2, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	go echo(srv)
	to := addrOf(lab, 2, srv)
	if _, err := roundTrip(a, to, 0, 5*time.Second); err != nil {
		b.Fatal(err)
	}
	var rtts []time.Duration
	seq := uint32(0)
	for b.Loop() {
		seq++
		rtt, err := roundTrip(a, to, seq, 5*time.Second)
		if err != nil {
			b.Fatal(err)
		}
		rtts = append(rtts, rtt)
	}
	slices.Sort(rtts)
	b.ReportMetric(float64(rtts[len(rtts)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(rtts[len(rtts)*99/100].Microseconds()), "p99-µs")
}
