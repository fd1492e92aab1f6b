package media

import (
	"container/heap"
	"math/rand/v2"
	"testing"
	"time"
)

// A discrete-event loopback: two Sessions ticking in virtual time, each sending through a lossy
// link to the other. Nothing sleeps and nothing runs concurrently; a seed decides everything.

type event struct {
	at  time.Duration
	seq int // tie-break: insertion order
	run func()
}

type eventQueue []event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	return q[i].at < q[j].at || q[i].at == q[j].at && q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(event)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

type virtualWorld struct {
	now   time.Duration
	queue eventQueue
	n     int
}

func (w *virtualWorld) clock() time.Time { return t0.Add(w.now) }

func (w *virtualWorld) at(d time.Duration, f func()) {
	w.n++
	heap.Push(&w.queue, event{at: d, seq: w.n, run: f})
}

// runUntil runs events up to end (inclusive) or until stop returns true.
func (w *virtualWorld) runUntil(end time.Duration) {
	for w.queue.Len() > 0 && w.queue[0].at <= end {
		e := heap.Pop(&w.queue).(event)
		w.now = e.at
		e.run()
	}
	w.now = end
}

// linkModel is a one-way datagram path: base delay plus uniform jitter (which reorders), loss
// and duplication, all drawn from rng.
type linkModel struct {
	delay, jitter time.Duration
	loss, dup     float64
}

type linkCounters struct{ sent, dropped, duplicated int }

func (w *virtualWorld) link(rng *rand.Rand, m linkModel, to func() *Session, c *linkCounters) func([]byte) error {
	return func(b []byte) error {
		c.sent++
		if rng.Float64() < m.loss {
			c.dropped++
			return nil
		}
		copies := 1
		if rng.Float64() < m.dup {
			copies, c.duplicated = 2, c.duplicated+1
		}
		for range copies {
			d := m.delay
			if m.jitter > 0 {
				d += time.Duration(rng.Int64N(int64(m.jitter)))
			}
			pkt := append([]byte(nil), b...)
			w.at(w.now+d, func() { to().Deliver(pkt) })
		}
		return nil
	}
}

// callResult is what one direction of a loopback call measured.
type callResult struct {
	ref, got []int16
	rate     int
	sender   Stats
	receiver Stats
	link     linkCounters
}

// loopbackCall plays ref (at rate Hz) from A to B over the link model, B sending a tone back
// over a clean link, and returns what B recorded. B ticks phase after A.
func loopbackCall(t testing.TB, f Format, rate int, ref []int16, m linkModel, jitter JitterConfig, seed uint64, phase time.Duration) callResult {
	t.Helper()
	w := &virtualWorld{}
	rng := rand.New(rand.NewPCG(seed, 0x6d65646961))
	var a, b *Session
	var ab, ba linkCounters
	rec := &Recorder{Rate: rate}
	mk := func(src Source, sink Sink, send func([]byte) error, ssrc, remote uint32) *Session {
		s, err := NewSession(SessionConfig{Format: f, SSRC: ssrc, RemoteSSRC: remote, Send: send, Source: src,
			Sink: sink, Jitter: jitter, Now: w.clock, Rand: rand.New(rand.NewPCG(seed, uint64(ssrc)))})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a = mk(NewPCMSource(rate, ref), nil, w.link(rng, m, func() *Session { return b }, &ab), 0xA, 0xB)
	b = mk(NewToneSource(rate, 440, 8000), rec, w.link(rng, linkModel{delay: m.delay}, func() *Session { return a }, &ba), 0xB, 0xA)
	defer a.Close()
	defer b.Close()
	var tick func(s *Session, at time.Duration)
	tick = func(s *Session, at time.Duration) {
		if err := s.Tick(); err != nil {
			t.Fatal(err)
		}
		w.at(at+FrameDuration, func() { tick(s, at+FrameDuration) })
	}
	w.at(0, func() { tick(a, 0) })
	w.at(phase, func() { tick(b, phase) })
	// Run the whole signal, then long enough for the slowest packet to play out.
	end := time.Duration(len(ref))*time.Second/time.Duration(rate) + m.delay + m.jitter + 400*time.Millisecond
	w.runUntil(end)
	select {
	case <-a.SourceDone():
	default:
		t.Fatal("A's source did not finish")
	}
	return callResult{ref: ref, got: rec.PCM, rate: rate, sender: a.Stats(), receiver: b.Stats(), link: ab}
}
