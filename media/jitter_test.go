package media

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// arrival is one packet reaching the jitter buffer at a virtual time.
type arrival struct {
	at     time.Duration
	ssrc   uint32
	seq    uint16
	ts     uint32
	marker bool
	frame  int // carried in the payload
}

// played is what one tick played: the frame number carried in the payload, or -1 for a
// concealed frame, -2 for idle, -3 for silence.
type played struct {
	at    time.Duration
	frame int
	next  int // for a concealed frame: the frame number of the FEC source, or -1
}

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// stream makes n packets of a sender whose frame k leaves at k*20 ms; delay(k) is its transit
// time (negative: lost). Frame numbers are carried in the payload.
func stream(ssrc uint32, seq0 uint16, ts0 uint32, n int, delay func(k int) time.Duration) []arrival {
	var out []arrival
	for k := range n {
		d := delay(k)
		if d < 0 {
			continue
		}
		out = append(out, arrival{at: time.Duration(k)*FrameDuration + d, ssrc: ssrc, seq: seq0 + uint16(k),
			ts: ts0 + uint32(k)*PCMU.frameTicks(), marker: k == 0, frame: k})
	}
	return out
}

// simulate feeds the arrivals and pops every 20 ms from tickOffset until end.
func simulate(t *testing.T, jb *jitterBuffer, arrivals []arrival, tickOffset, end time.Duration) []played {
	t.Helper()
	arrivals = slices.Clone(arrivals)
	slices.SortStableFunc(arrivals, func(a, b arrival) int { return int(a.at - b.at) })
	var out []played
	frameOf := func(p []byte) int {
		if p == nil {
			return -1
		}
		return int(p[0])<<8 | int(p[1])
	}
	for tick := tickOffset; tick <= end; tick += FrameDuration {
		for len(arrivals) > 0 && arrivals[0].at <= tick {
			a := arrivals[0]
			arrivals = arrivals[1:]
			k := a.frame
			jb.push(a.ssrc, a.seq, a.ts, a.marker, []byte{byte(k >> 8), byte(k)}, t0.Add(a.at))
		}
		p := jb.pop(t0.Add(tick), true)
		switch p.kind {
		case playFrame:
			out = append(out, played{at: tick, frame: frameOf(p.payload)})
		case playConceal:
			out = append(out, played{at: tick, frame: -1, next: frameOf(p.next)})
		case playIdle:
			out = append(out, played{at: tick, frame: -2})
		case playSilence:
			out = append(out, played{at: tick, frame: -3})
		}
	}
	return out
}

func newTestBuffer(t *testing.T, cfg JitterConfig) *jitterBuffer {
	t.Helper()
	jb, err := newJitterBuffer(cfg, PCMU)
	if err != nil {
		t.Fatal(err)
	}
	return jb
}

// frames keeps the played frame numbers (and -1 for concealed ones), dropping idle ticks.
func frames(ps []played) []int {
	var out []int
	for _, p := range ps {
		if p.frame != -2 {
			out = append(out, p.frame)
		}
	}
	return out
}

func seqTo(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func TestJitterBufferPlaysASteadyStreamAfterTheTargetDelay(t *testing.T) {
	fixed := JitterConfig{Target: 60 * time.Millisecond, Min: 60 * time.Millisecond, Max: 60 * time.Millisecond}
	jb := newTestBuffer(t, fixed)
	const n = 50
	out := simulate(t, jb, stream(1, 100, 5000, n, func(int) time.Duration { return 15 * time.Millisecond }),
		5*time.Millisecond, 2*time.Second)
	if got := frames(out)[:n]; !slices.Equal(got, seqTo(n)) {
		t.Fatalf("played %v", got)
	}
	// Frame 0 arrives at 15 ms and must wait 60 ms: the first tick at or after 75 ms is 85 ms.
	for _, p := range out {
		if p.frame == 0 {
			if p.at != 85*time.Millisecond {
				t.Errorf("frame 0 played at %v, want 85ms (arrival 15ms + 60ms, next tick)", p.at)
			}
			break
		}
	}
	// The stream's end looks like an underrun: maxUnderrun frames are concealed before the
	// buffer goes idle; nothing else is.
	if jb.c.concealed != maxUnderrun || jb.c.late != 0 || jb.lost() != 0 || jb.c.received != n {
		t.Errorf("counters %+v, lost %d", jb.c, jb.lost())
	}
}

func TestJitterBufferReordersWithinItsDepth(t *testing.T) {
	jb := newTestBuffer(t, JitterConfig{Target: 60 * time.Millisecond, Min: 60 * time.Millisecond, Max: 60 * time.Millisecond})
	const n = 40
	// Every odd frame overtakes the even one before it by 10 ms.
	arr := stream(1, 7, 0, n, func(k int) time.Duration {
		if k%2 == 0 {
			return 40 * time.Millisecond
		}
		return 10 * time.Millisecond
	})
	out := simulate(t, jb, arr, 0, 2*time.Second)
	if got := frames(out)[:n]; !slices.Equal(got, seqTo(n)) {
		t.Fatalf("played %v", got)
	}
	if jb.c.late != 0 || jb.c.concealed != maxUnderrun {
		t.Errorf("counters %+v", jb.c)
	}
}

func TestJitterBufferConcealsLossesAndDropsLatePackets(t *testing.T) {
	jb := newTestBuffer(t, JitterConfig{Target: 40 * time.Millisecond, Min: 40 * time.Millisecond, Max: 40 * time.Millisecond})
	const n = 30
	arr := stream(1, 0, 0, n, func(k int) time.Duration {
		switch k {
		case 10: // lost
			return -1
		case 20: // 200 ms late: long after its turn
			return 200 * time.Millisecond
		}
		return 5 * time.Millisecond
	})
	out := simulate(t, jb, arr, 0, time.Second)
	want := seqTo(n)
	want[10], want[20] = -1, -1
	if got := frames(out)[:n]; !slices.Equal(got, want) {
		t.Fatalf("played %v\nwant   %v", got, want)
	}
	for _, p := range out[:n] {
		if p.frame == -1 && p.next != 11 && p.next != 21 {
			t.Errorf("concealment at %v was handed frame %d for FEC, want the frame after the gap", p.at, p.next)
		}
	}
	if jb.c.late != 1 || jb.lost() != 1 || jb.c.concealed != 2+maxUnderrun {
		t.Errorf("late %d, lost %d, concealed %d; want 1, 1, 2+%d", jb.c.late, jb.lost(), jb.c.concealed, maxUnderrun)
	}
}

func TestJitterBufferCountsDuplicatesOnce(t *testing.T) {
	jb := newTestBuffer(t, JitterConfig{})
	arr := stream(1, 0, 0, 20, func(int) time.Duration { return 5 * time.Millisecond })
	for _, a := range slices.Clone(arr) {
		dup := a
		dup.at += 7 * time.Millisecond
		arr = append(arr, dup)
	}
	out := simulate(t, jb, arr, 0, time.Second)
	if got := frames(out)[:20]; !slices.Equal(got, seqTo(20)) {
		t.Fatalf("played %v", got)
	}
	if jb.c.duplicates != 20 || jb.c.received != 20 || jb.lost() != 0 {
		t.Errorf("duplicates %d, received %d, lost %d; want 20, 20, 0", jb.c.duplicates, jb.c.received, jb.lost())
	}
}

func TestJitterBufferFollowsSequenceAndTimestampWrap(t *testing.T) {
	jb := newTestBuffer(t, JitterConfig{})
	const n = 40
	// Sequence numbers wrap after 5 packets, timestamps after 10.
	arr := stream(1, 65531, 0xFFFFFFFF-10*160+1, n, func(k int) time.Duration {
		if k == 7 {
			return -1 // a loss right after the sequence wrap
		}
		return time.Duration(5+k%3*10) * time.Millisecond
	})
	out := simulate(t, jb, arr, 0, 2*time.Second)
	want := seqTo(n)
	want[7] = -1
	if got := frames(out)[:n]; !slices.Equal(got, want) {
		t.Fatalf("played %v", got)
	}
	if jb.lost() != 1 || jb.c.received != n-1 || jb.c.late != 0 {
		t.Errorf("lost %d received %d late %d; want 1, %d, 0", jb.lost(), jb.c.received, jb.c.late, n-1)
	}
}

func TestJitterBufferStartsOverOnANewSSRC(t *testing.T) {
	jb := newTestBuffer(t, JitterConfig{})
	first := stream(1, 1000, 0, 20, func(int) time.Duration { return 5 * time.Millisecond })
	// The sender restarts 600 ms in with a new SSRC, and sequence numbers and timestamps that
	// go back: without the restart every packet would be a duplicate or late.
	second := stream(2, 1005, 123, 20, func(int) time.Duration { return 5 * time.Millisecond })
	for i := range second {
		second[i].at += 600 * time.Millisecond
		second[i].frame += 20
	}
	out := simulate(t, jb, append(first, second...), 0, 2*time.Second)
	got := frames(out)
	// The first stream ends in up to maxUnderrun concealed frames; then the second plays whole.
	var trimmed []int
	for _, f := range got {
		if f >= 0 {
			trimmed = append(trimmed, f)
		}
	}
	if !slices.Equal(trimmed, seqTo(40)) {
		t.Fatalf("played %v", got)
	}
	if jb.ssrc != 2 || jb.lost() != 0 || jb.c.received != 40 || jb.c.late != 0 {
		t.Errorf("ssrc %d lost %d received %d late %d", jb.ssrc, jb.lost(), jb.c.received, jb.c.late)
	}
}

func TestJitterBufferPausesForSilenceAndReanchorsOnTalkspurts(t *testing.T) {
	jb := newTestBuffer(t, JitterConfig{})
	// Talk 10 frames, pause 30 frames (timestamps go on, sequence numbers do not), talk 10 more.
	var arr []arrival
	for k := range 50 {
		if k >= 10 && k < 40 {
			continue
		}
		seq, frame := uint16(k), k
		if k >= 40 {
			seq, frame = seq-30, k-30
		}
		arr = append(arr, arrival{at: time.Duration(k)*FrameDuration + 5*time.Millisecond, ssrc: 9, seq: seq,
			ts: uint32(k) * 160, marker: k == 0 || k == 40, frame: frame})
	}
	out := simulate(t, jb, arr, 0, 2*time.Second)
	var spoken []int
	for _, p := range out {
		if p.frame >= 0 {
			spoken = append(spoken, p.frame)
		}
	}
	if !slices.Equal(spoken, seqTo(20)) {
		t.Fatalf("played %v", frames(out))
	}
	if jb.c.late != 0 || jb.lost() != 0 || jb.c.resyncs != 0 {
		t.Errorf("late %d lost %d resyncs %d, want 0", jb.c.late, jb.lost(), jb.c.resyncs)
	}
	// The second talkspurt starts a full buffer delay after its first packet arrives.
	for _, p := range out {
		if p.frame == 10 {
			arrived := 40*FrameDuration + 5*time.Millisecond
			if wait := p.at - arrived; wait < jb.cfg.Min || wait >= jb.cfg.Max+FrameDuration {
				t.Errorf("second talkspurt waited %v", wait)
			}
		}
	}
}

func TestJitterBufferAdaptsToTheLink(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	jb := newTestBuffer(t, JitterConfig{})
	const n = 300
	// A jittery link: transit uniform in 10..100 ms. The buffer must grow to cover it.
	arr := stream(1, 0, 0, n, func(int) time.Duration { return time.Duration(10+rng.IntN(90)) * time.Millisecond })
	simulate(t, jb, arr, 0, n*FrameDuration+time.Second)
	if jb.current < 80*time.Millisecond || jb.current > 120*time.Millisecond {
		t.Errorf("playout delay %v on a link with 90 ms of spread, want 80..120 ms", jb.current)
	}
	if late := float64(jb.c.late) / n; late > 0.05 {
		t.Errorf("%.1f%% of packets late", late*100)
	}

	// A steady link: the buffer shrinks from its 60 ms start towards Min, a frame a second.
	jb = newTestBuffer(t, JitterConfig{})
	arr = stream(1, 0, 0, n, func(int) time.Duration { return 30 * time.Millisecond })
	out := simulate(t, jb, arr, 3*time.Millisecond, n*FrameDuration)
	if jb.current != jb.cfg.Min {
		t.Errorf("playout delay %v on a steady link, want %v", jb.current, jb.cfg.Min)
	}
	if jb.c.discarded != 2 || jb.c.late != 0 || jb.c.concealed != 0 {
		t.Errorf("counters %+v, want 2 frames discarded to shrink and nothing else", jb.c)
	}
	if got := frames(out); len(got) < n-5 {
		t.Errorf("played %d frames", len(got))
	}
}

func TestJitterBufferStaysBounded(t *testing.T) {
	jb := newTestBuffer(t, JitterConfig{})
	for k := range 5000 {
		// Garbage: random sequence numbers and timestamps, never popped.
		jb.push(1, uint16(k*7919), uint32(k*104729), k%3 == 0, []byte{1}, t0)
		if len(jb.packets) > maxBuffered {
			t.Fatalf("%d packets buffered", len(jb.packets))
		}
	}
}

func TestJitterConfigIsValidated(t *testing.T) {
	for _, bad := range []JitterConfig{
		{Min: 10 * time.Millisecond},
		{Target: 300 * time.Millisecond, Max: 200 * time.Millisecond},
		{Min: 100 * time.Millisecond, Target: 60 * time.Millisecond},
		{Max: 5 * time.Second},
	} {
		if _, err := newJitterBuffer(bad, PCMU); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestJitterBufferShrinksWhereItIsLeastAudible(t *testing.T) {
	jb := newTestBuffer(t, JitterConfig{})
	// A steady link: the buffer wants Min (20 ms) but starts at Target (60 ms).
	quietFrom := 3 * time.Second
	var shrunkAt time.Duration
	for k := range 300 {
		now := time.Duration(k) * FrameDuration
		jb.push(1, uint16(k), uint32(k)*160, k == 0, []byte{0, byte(k)}, t0.Add(now+time.Millisecond))
		before := jb.c.discarded
		jb.pop(t0.Add(now+5*time.Millisecond), now >= quietFrom)
		if jb.c.discarded > before && shrunkAt == 0 {
			shrunkAt = now
		}
	}
	// Loud speech until 3 s: no skip, though the buffer could shrink after 1 s; the first pop
	// told that the frame before was quiet skips.
	if shrunkAt != quietFrom {
		t.Errorf("first shrink at %v, want at the first pop after a quiet frame, %v", shrunkAt, quietFrom)
	}
}
