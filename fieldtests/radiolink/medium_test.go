package radiolink

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// t0 is the fake clock's origin; the medium never reads a clock of its own.
var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// ethFrame builds a frame from src to dst with a payload byte that identifies it.
func ethFrame(dst, src MAC, id byte, size int) []byte {
	if size < headerLen+1 {
		size = headerLen + 1
	}
	f := make([]byte, size)
	copy(f[0:6], dst[:])
	copy(f[6:12], src[:])
	f[12], f[13] = 0x88, 0xb5 // local experimental EtherType
	f[14] = id
	return f
}

var broadcast = MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

func newMedium(t *testing.T, n int, initial Link) *Medium {
	t.Helper()
	m, err := NewMedium(n, 1, initial)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		if err := m.SetMAC(i, NodeMAC(i)); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

func route(t *testing.T, m *Medium, now time.Time, from int, frame []byte) {
	t.Helper()
	if err := m.Route(now, from, frame); err != nil {
		t.Fatal(err)
	}
}

// receivers lists who gets the frames due by now, as (to, id) pairs.
type got struct {
	to int
	id byte
}

func popIDs(m *Medium, now time.Time) []got {
	var out []got
	for _, d := range m.PopDue(now) {
		out = append(out, got{d.To, d.Frame[14]})
	}
	return out
}

func TestMediumDelaysExactly(t *testing.T) {
	m := newMedium(t, 2, Link{Up: true, Delay: 20 * time.Millisecond})
	route(t, m, t0, 1, ethFrame(NodeMAC(2), NodeMAC(1), 7, 60))
	if due := m.PopDue(t0.Add(20*time.Millisecond - 1)); len(due) != 0 {
		t.Fatalf("delivered %d frames before the delay elapsed", len(due))
	}
	next, ok := m.NextDue()
	if !ok || !next.Equal(t0.Add(20*time.Millisecond)) {
		t.Fatalf("NextDue = %v, %v; want t0+20ms", next, ok)
	}
	if g := popIDs(m, t0.Add(20*time.Millisecond)); !slices.Equal(g, []got{{2, 7}}) {
		t.Fatalf("due at t0+20ms: %v", g)
	}
	if s := m.Stats().Pair(1, 2); s.Forwarded != 1 || s.ForwardedBytes != 60 {
		t.Errorf("stats %+v", s)
	}
}

func TestMediumKeepsOrderWhenDelayShrinks(t *testing.T) {
	m := newMedium(t, 2, Link{Up: true, Delay: 50 * time.Millisecond})
	route(t, m, t0, 1, ethFrame(NodeMAC(2), NodeMAC(1), 1, 0))
	if err := m.UpdateLink(1, 2, func(l *Link) { l.Delay = time.Millisecond }); err != nil {
		t.Fatal(err)
	}
	route(t, m, t0.Add(time.Millisecond), 1, ethFrame(NodeMAC(2), NodeMAC(1), 2, 0))
	if g := popIDs(m, t0.Add(40*time.Millisecond)); len(g) != 0 {
		t.Fatalf("frame 2 overtook frame 1: %v", g)
	}
	if g := popIDs(m, t0.Add(50*time.Millisecond)); !slices.Equal(g, []got{{2, 1}, {2, 2}}) {
		t.Fatalf("got %v, want frames 1 then 2", g)
	}
}

func TestMediumJitterStaysInBoundsAndIsSeeded(t *testing.T) {
	link := Link{Up: true, Delay: 30 * time.Millisecond, Jitter: 10 * time.Millisecond}
	schedule := func() []time.Duration {
		m := newMedium(t, 2, link)
		for i := range 200 {
			route(t, m, t0, 1, ethFrame(NodeMAC(2), NodeMAC(1), byte(i), 0))
		}
		var at []time.Duration
		for _, d := range m.PopDue(t0.Add(time.Second)) {
			at = append(at, d.At.Sub(t0))
		}
		return at
	}
	first, second := schedule(), schedule()
	if !slices.Equal(first, second) {
		t.Error("the same seed gave two different schedules")
	}
	if len(first) != 200 {
		t.Fatalf("delivered %d of 200", len(first))
	}
	lo, hi := slices.Min(first), slices.Max(first)
	if lo < 20*time.Millisecond || hi > 40*time.Millisecond {
		t.Errorf("arrivals span %v..%v, want within 20ms..40ms", lo, hi)
	}
	if hi-lo < 10*time.Millisecond {
		t.Errorf("arrivals span only %v: jitter is not applied", hi-lo)
	}
}

func TestMediumLossIsBinomial(t *testing.T) {
	for _, tc := range []struct {
		loss   float64
		lo, hi int // delivered of 1000
	}{{0, 1000, 1000}, {1, 0, 0}, {0.5, 400, 600}, {0.1, 840, 960}} {
		m := newMedium(t, 2, Link{Up: true, Loss: tc.loss})
		for i := range 1000 {
			route(t, m, t0, 1, ethFrame(NodeMAC(2), NodeMAC(1), byte(i), 0))
		}
		delivered := len(m.PopDue(t0))
		if delivered < tc.lo || delivered > tc.hi {
			t.Errorf("loss %v: delivered %d of 1000, want %d..%d", tc.loss, delivered, tc.lo, tc.hi)
		}
		if s := m.Stats().Pair(1, 2); s.DroppedLoss+s.Forwarded != 1000 {
			t.Errorf("loss %v: counters %+v do not add up to 1000", tc.loss, s)
		}
	}
}

func TestMediumRateSpacesFramesAndBoundsTheQueue(t *testing.T) {
	// 1000 bytes/s and 100-byte frames: one frame every 100 ms; the queue holds 300 bytes.
	m := newMedium(t, 2, Link{Up: true, Rate: 1000, QueueBytes: 300, Delay: 5 * time.Millisecond})
	for i := range 5 {
		route(t, m, t0, 1, ethFrame(NodeMAC(2), NodeMAC(1), byte(i), 100))
	}
	s := m.Stats().Pair(1, 2)
	if s.DroppedQueue != 2 {
		t.Errorf("dropped %d frames at the queue bound, want 2 (3 x 100 bytes fit in 300)", s.DroppedQueue)
	}
	var at []time.Duration
	for _, d := range m.PopDue(t0.Add(time.Second)) {
		at = append(at, d.At.Sub(t0))
	}
	want := []time.Duration{105 * time.Millisecond, 205 * time.Millisecond, 305 * time.Millisecond}
	if !slices.Equal(at, want) {
		t.Errorf("arrivals %v, want %v (airtime then delay)", at, want)
	}
	// The queue has drained by t0+300ms: a new frame is accepted again.
	route(t, m, t0.Add(300*time.Millisecond), 1, ethFrame(NodeMAC(2), NodeMAC(1), 9, 100))
	if g := popIDs(m, t0.Add(405*time.Millisecond)); !slices.Equal(g, []got{{2, 9}}) {
		t.Errorf("after draining: %v", g)
	}
}

func TestMediumRoutesByTopology(t *testing.T) {
	// 1 hears 2 and 3; 4 hears no one.
	m := newMedium(t, 4, Link{Up: true})
	if err := m.Move(4, nil); err != nil {
		t.Fatal(err)
	}
	route(t, m, t0, 1, ethFrame(broadcast, NodeMAC(1), 1, 0))
	if g := popIDs(m, t0); !slices.Equal(g, []got{{2, 1}, {3, 1}}) {
		t.Errorf("broadcast reached %v, want nodes 2 and 3", g)
	}
	mdns := MAC{0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb}
	route(t, m, t0, 2, ethFrame(mdns, NodeMAC(2), 2, 0))
	if g := popIDs(m, t0); !slices.Equal(g, []got{{1, 2}, {3, 2}}) {
		t.Errorf("multicast reached %v, want nodes 1 and 3", g)
	}
	route(t, m, t0, 1, ethFrame(NodeMAC(3), NodeMAC(1), 3, 0))
	if g := popIDs(m, t0); !slices.Equal(g, []got{{3, 3}}) {
		t.Errorf("unicast to node 3 reached %v", g)
	}
	route(t, m, t0, 1, ethFrame(NodeMAC(4), NodeMAC(1), 4, 0))
	if g := popIDs(m, t0); len(g) != 0 {
		t.Errorf("unicast to out-of-range node 4 reached %v", g)
	}
	if s := m.Stats().Pair(1, 4); s.DroppedDown != 2 || s.Forwarded != 0 {
		t.Errorf("pair 1->4: %+v, want the broadcast and the unicast dropped", s)
	}
	route(t, m, t0, 1, ethFrame(NodeMAC(1), NodeMAC(1), 5, 0))
	if g := popIDs(m, t0); len(g) != 0 {
		t.Errorf("a frame to the sender's own address went to %v", g)
	}
}

func TestMediumUnknownUnicastGoesToHearersAndLearns(t *testing.T) {
	m := newMedium(t, 3, Link{Up: true})
	stranger := MAC{0x02, 0, 0, 0, 0, 0x99}
	route(t, m, t0, 1, ethFrame(stranger, NodeMAC(1), 1, 0))
	if g := popIDs(m, t0); !slices.Equal(g, []got{{2, 1}, {3, 1}}) {
		t.Errorf("unknown unicast reached %v, want every hearer", g)
	}
	if m.Stats().UnknownUnicast != 1 {
		t.Errorf("unknown unicast not counted: %+v", m.Stats())
	}
	route(t, m, t0, 3, ethFrame(NodeMAC(1), stranger, 2, 0)) // node 3 now sends from stranger
	route(t, m, t0, 1, ethFrame(stranger, NodeMAC(1), 3, 0))
	if g := popIDs(m, t0); !slices.Equal(g, []got{{1, 2}, {3, 3}}) {
		t.Errorf("after learning: %v, want the reply at 1 and then unicast to 3 only", g)
	}
}

func TestMediumAsymmetricLink(t *testing.T) {
	m := newMedium(t, 2, Link{Up: true})
	if err := m.SetUp(1, 2, false); err != nil {
		t.Fatal(err)
	}
	route(t, m, t0, 1, ethFrame(NodeMAC(2), NodeMAC(1), 1, 0))
	route(t, m, t0, 2, ethFrame(NodeMAC(1), NodeMAC(2), 2, 0))
	if g := popIDs(m, t0); !slices.Equal(g, []got{{1, 2}}) {
		t.Errorf("got %v, want only 2 -> 1", g)
	}
}

func TestMediumPartitionAndHeal(t *testing.T) {
	m := newMedium(t, 6, Link{Up: true, Delay: 10 * time.Millisecond, Loss: 0})
	if err := m.Partition([]int{1, 2, 3}, []int{4, 5}); err != nil { // 6 is isolated
		t.Fatal(err)
	}
	hears := func(from, to int) bool { l, _ := m.Link(from, to); return l.Up }
	for from := 1; from <= 6; from++ {
		for to := 1; to <= 6; to++ {
			if from == to {
				continue
			}
			want := (from <= 3 && to <= 3) || (from >= 4 && from <= 5 && to >= 4 && to <= 5)
			if hears(from, to) != want {
				t.Errorf("after partition: %d hears %d = %v, want %v", to, from, hears(from, to), want)
			}
		}
	}
	m.Heal()
	for from := 1; from <= 6; from++ {
		for to := 1; to <= 6; to++ {
			if l, _ := m.Link(from, to); from != to && (!l.Up || l.Delay != 10*time.Millisecond) {
				t.Errorf("after heal: link %d->%d is %v, want up with its 10ms delay kept", from, to, l)
			}
		}
	}
	if err := m.Partition([]int{1, 2}, []int{2, 3}); err == nil {
		t.Error("a node in two groups was accepted")
	}
	if err := m.Partition([]int{7}); err == nil {
		t.Error("a node out of range was accepted")
	}
}

func TestMediumDropsFramesInFlightOnADownLink(t *testing.T) {
	m := newMedium(t, 2, Link{Up: true, Delay: 10 * time.Millisecond})
	route(t, m, t0, 1, ethFrame(NodeMAC(2), NodeMAC(1), 1, 0))
	if err := m.SetUp(1, 2, false); err != nil {
		t.Fatal(err)
	}
	if g := popIDs(m, t0.Add(time.Second)); len(g) != 0 {
		t.Errorf("a frame in flight crossed a link taken down: %v", g)
	}
	if s := m.Stats().Pair(1, 2); s.DroppedDown != 1 || s.Forwarded != 0 {
		t.Errorf("stats %+v", s)
	}

	// Sent while the link is down: lost even if the link comes back before it would be due.
	route(t, m, t0.Add(2*time.Second), 1, ethFrame(NodeMAC(2), NodeMAC(1), 2, 0))
	if err := m.SetUp(1, 2, true); err != nil {
		t.Fatal(err)
	}
	if g := popIDs(m, t0.Add(3*time.Second)); len(g) != 0 {
		t.Errorf("a frame sent over a down link arrived once it came up: %v", g)
	}
	if s := m.Stats(); s.Pair(1, 2).DroppedDown != 2 || s.InFlight != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestMediumRejectsBadInput(t *testing.T) {
	m := newMedium(t, 2, Link{Up: true})
	if err := m.Route(t0, 1, make([]byte, 5)); !errors.Is(err, ErrShortFrame) {
		t.Errorf("short frame: %v", err)
	}
	if err := m.Route(t0, 1, make([]byte, MaxFrameLen+1)); !errors.Is(err, ErrLongFrame) {
		t.Errorf("long frame: %v", err)
	}
	if err := m.Route(t0, 1, ethFrame(NodeMAC(2), broadcast, 0, 0)); err == nil {
		t.Error("a frame from a group address was accepted")
	}
	if m.Stats().Malformed != 3 || m.Stats().InFlight != 0 {
		t.Errorf("stats %+v, want 3 malformed and nothing in flight", m.Stats())
	}
	for _, l := range []Link{{Delay: -1}, {Jitter: -1}, {Loss: 1.5}, {Loss: -0.1}, {Rate: -1}, {QueueBytes: -1}} {
		if err := m.SetLink(1, 2, l); err == nil {
			t.Errorf("SetLink accepted %+v", l)
		}
	}
	for _, pair := range [][2]int{{0, 1}, {1, 3}, {2, 2}} {
		if err := m.SetUp(pair[0], pair[1], true); err == nil {
			t.Errorf("SetUp accepted pair %v", pair)
		}
	}
	if err := m.Route(t0, 3, ethFrame(NodeMAC(1), NodeMAC(3), 0, 0)); err == nil {
		t.Error("a frame from node 3 of 2 was accepted")
	}
	if _, err := NewMedium(0, 1, Link{}); err == nil {
		t.Error("a medium of no nodes was accepted")
	}
}

// Each frame a node transmits counts once at the sender, whatever its fate at the receivers;
// group frames also count apart.
func TestMediumCountsTransmissionsOncePerFrame(t *testing.T) {
	m := newMedium(t, 3, Link{Up: true})
	if err := m.SetUp(1, 3, false); err != nil {
		t.Fatal(err)
	}
	route(t, m, t0, 1, ethFrame(broadcast, NodeMAC(1), 1, 100))  // heard by 2 only (1->3 is down)
	route(t, m, t0, 1, ethFrame(NodeMAC(3), NodeMAC(1), 2, 200)) // dropped: 1->3 is down
	route(t, m, t0, 2, ethFrame(NodeMAC(1), NodeMAC(2), 3, 60))
	if err := m.Route(t0, 1, make([]byte, 5)); err == nil {
		t.Fatal("a 5-byte frame was routed")
	}
	m.PopDue(t0)
	s := m.Stats()
	want := []NodeStats{
		{Node: 1, Transmitted: 2, TransmittedBytes: 300, TransmittedGroup: 1, TransmittedGroupBytes: 100},
		{Node: 2, Transmitted: 1, TransmittedBytes: 60},
		{Node: 3},
	}
	if !slices.Equal(s.Nodes, want) {
		t.Errorf("node stats %+v, want %+v", s.Nodes, want)
	}
	if p := s.Pair(1, 2); p.Forwarded != 1 || p.ForwardedBytes != 100 {
		t.Errorf("pair 1->2 %+v: want the broadcast only", p)
	}
	if p := s.Pair(1, 3); p.DroppedDown != 2 {
		t.Errorf("pair 1->3 %+v: want both frames dropped on the down link", p)
	}
}
