package flood

import (
	"slices"
	"testing"
	"time"
)

// t0 is an arbitrary start instant; the Flooder only ever looks at differences.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func idOf(n int) ID {
	var id ID
	id[0], id[1], id[15] = byte(n>>8), byte(n), 0xAB
	return id
}

func targets(sends []Send[string, string]) []string {
	var to []string
	for _, s := range sends {
		to = append(to, s.To)
	}
	return to
}

func TestReceiveDeduplicates(t *testing.T) {
	f := New[string, string](Config{})
	nbrs := []string{"a", "b", "c"}
	first := f.Receive(t0, "a", "o", idOf(1), 5, "hello", nbrs)
	if !first.New || !first.Ack || first.Reason != "" {
		t.Fatalf("first copy: %+v, want new, acked, no reason", first)
	}
	if !f.Seen(idOf(1)) {
		t.Fatal("id not remembered after first copy")
	}
	for _, from := range []string{"b", "a", "o"} {
		dup := f.Receive(t0.Add(time.Second), from, "o", idOf(1), 5, "hello", nbrs)
		if dup.New || !dup.Ack || len(dup.Forward) != 0 {
			t.Fatalf("duplicate from %s: %+v, want not new, acked, no forwards", from, dup)
		}
	}
	st := f.Stats()
	if st.Received != 4 || st.Delivered != 1 || st.Duplicates != 3 {
		t.Fatalf("stats %+v, want 4 received, 1 delivered, 3 duplicates", st)
	}
}

func TestOriginateOfSeenIDSendsNothing(t *testing.T) {
	f := New[string, string](Config{})
	f.Receive(t0, "a", "o", idOf(1), 5, "x", []string{"a"})
	if got := f.Originate(t0, "me", idOf(1), "x", []string{"a", "b"}); got != nil {
		t.Fatalf("originating a seen id sent %v", targets(got))
	}
	sends := f.Originate(t0, "me", idOf(2), "y", []string{"a", "b"})
	if !slices.Equal(targets(sends), []string{"a", "b"}) {
		t.Fatalf("originate sent to %v, want [a b]", targets(sends))
	}
	if again := f.Originate(t0, "me", idOf(2), "y", []string{"a", "b"}); again != nil {
		t.Fatalf("originating the same id twice sent %v", targets(again))
	}
	for _, s := range sends {
		if s.Origin != "me" || s.Hops != DefaultHopLimit || s.Payload != "y" || s.ID != idOf(2) {
			t.Fatalf("originated send %+v: want origin me, hops %d, payload y", s, DefaultHopLimit)
		}
	}
	if st := f.Stats(); st.Originated != 1 || st.Duplicates != 2 {
		t.Fatalf("stats %+v, want 1 originated, 2 duplicates", st)
	}
}

func TestHopLimit(t *testing.T) {
	const limit = 6
	cases := []struct {
		name     string
		hops     uint8
		new, ack bool
		fwdHops  uint8 // 0: no forwards
		reason   string
	}{
		{"no hops is malformed", 0, false, false, 0, ReasonHopLimit},
		{"last hop delivers, does not forward", 1, true, true, 0, ReasonHopLimit},
		{"two hops forward one", 2, true, true, 1, ""},
		{"at the limit", limit, true, true, limit - 1, ""},
		{"above the limit is lowered", 200, true, true, limit - 1, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := New[string, string](Config{HopLimit: limit})
			r := f.Receive(t0, "a", "o", idOf(1), c.hops, "p", []string{"a", "b", "c"})
			if r.New != c.new || r.Ack != c.ack || r.Reason != c.reason {
				t.Fatalf("got new=%v ack=%v reason=%q, want new=%v ack=%v reason=%q",
					r.New, r.Ack, r.Reason, c.new, c.ack, c.reason)
			}
			if c.fwdHops == 0 {
				if len(r.Forward) != 0 || f.Pending() != 0 {
					t.Fatalf("forwarded %v (pending %d), want nothing", targets(r.Forward), f.Pending())
				}
				if f.Stats().HopLimited != 1 {
					t.Fatalf("HopLimited = %d, want 1", f.Stats().HopLimited)
				}
				return
			}
			if !slices.Equal(targets(r.Forward), []string{"b", "c"}) {
				t.Fatalf("forwarded to %v, want [b c]", targets(r.Forward))
			}
			for _, s := range r.Forward {
				if s.Hops != c.fwdHops {
					t.Fatalf("forward hops %d, want %d", s.Hops, c.fwdHops)
				}
			}
		})
	}
	t.Run("malformed copy is not remembered", func(t *testing.T) {
		f := New[string, string](Config{})
		f.Receive(t0, "a", "o", idOf(1), 0, "p", nil)
		if f.Seen(idOf(1)) {
			t.Fatal("a copy with no hops left was remembered")
		}
	})
}

func TestForwardsExcludeSenderAndOrigin(t *testing.T) {
	f := New[string, string](Config{})
	r := f.Receive(t0, "a", "o", idOf(1), 4, "p", []string{"a", "b", "o", "c", "b"})
	if !slices.Equal(targets(r.Forward), []string{"b", "c"}) {
		t.Fatalf("forwarded to %v, want [b c] (not the sender a, not the origin o, b once)", targets(r.Forward))
	}
	for _, s := range r.Forward {
		if s.Origin != "o" || s.ID != idOf(1) || s.Hops != 3 || s.Payload != "p" {
			t.Fatalf("forward %+v: want origin o, hops 3, payload p", s)
		}
	}
	if st := f.Stats(); st.Forwarded != 2 {
		t.Fatalf("Forwarded = %d, want 2", st.Forwarded)
	}
	// The origin itself is never sent its own flood back, even by its neighbours' neighbours.
	g := New[string, string](Config{})
	if fwd := g.Originate(t0, "me", idOf(2), "p", []string{"me", "x"}); !slices.Equal(targets(fwd), []string{"x"}) {
		t.Fatalf("originate sent to %v, want [x]", targets(fwd))
	}
}

// retransmitTimes is the schedule the package documents: resends at a, 3a, 7a, ... and give-up
// when the wait after the last resend ends.
func retransmitTimes(after time.Duration, budget int) (resends []time.Duration, giveUp time.Duration) {
	at, wait := time.Duration(0), after
	for range budget {
		at += wait
		resends = append(resends, at)
		wait *= 2
	}
	return resends, at + wait
}

func TestRetransmitScheduleAndBudget(t *testing.T) {
	cases := []struct {
		name  string
		after time.Duration
		budg  int
	}{
		{"defaults", 0, 0},
		{"100ms twice", 100 * time.Millisecond, 2},
		{"1s five times", time.Second, 5},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := New[string, string](Config{RetransmitAfter: c.after, RetransmitBudget: c.budg})
			cfg := f.Config()
			resends, giveUp := retransmitTimes(cfg.RetransmitAfter, cfg.RetransmitBudget)
			sends := f.Originate(t0, "me", idOf(1), "p", []string{"b", "c"})
			if len(sends) != 2 {
				t.Fatalf("originate: %d sends, want 2", len(sends))
			}
			for i, at := range resends {
				if got := f.NextDeadline(); !got.Equal(t0.Add(at)) {
					t.Fatalf("resend %d: NextDeadline %v, want %v", i+1, got.Sub(t0), at)
				}
				if early := f.Tick(t0.Add(at - time.Nanosecond)); len(early) != 0 {
					t.Fatalf("resend %d: Tick just before the deadline sent %v", i+1, targets(early))
				}
				got := f.Tick(t0.Add(at))
				if !slices.Equal(targets(got), []string{"b", "c"}) {
					t.Fatalf("resend %d at %v: sent to %v, want [b c]", i+1, at, targets(got))
				}
				for _, s := range got {
					if s.Hops != cfg.HopLimit || s.Origin != "me" || s.Payload != "p" {
						t.Fatalf("resend %+v differs from the original", s)
					}
				}
			}
			if got := f.NextDeadline(); !got.Equal(t0.Add(giveUp)) {
				t.Fatalf("give-up deadline %v, want %v", got.Sub(t0), giveUp)
			}
			if got := f.Tick(t0.Add(giveUp)); len(got) != 0 {
				t.Fatalf("budget spent, yet Tick sent %v", targets(got))
			}
			st := f.Stats()
			if st.Retransmits != uint64(2*len(resends)) || st.RetransmitsExhausted != 2 || f.Pending() != 0 {
				t.Fatalf("stats %+v pending %d, want %d retransmits, 2 exhausted, none pending",
					st, f.Pending(), 2*len(resends))
			}
		})
	}
}

func TestLateTickBacksOffFromWhenItRan(t *testing.T) {
	f := New[string, string](Config{RetransmitAfter: 100 * time.Millisecond, RetransmitBudget: 3})
	f.Originate(t0, "me", idOf(1), "p", []string{"b"})
	late := t0.Add(time.Second) // far past the first deadline: one resend, not a burst
	if got := f.Tick(late); len(got) != 1 {
		t.Fatalf("late Tick sent %d copies, want 1", len(got))
	}
	if got, want := f.NextDeadline(), late.Add(200*time.Millisecond); !got.Equal(want) {
		t.Fatalf("next resend at %v, want %v after the late Tick", got.Sub(t0), want.Sub(t0))
	}
}

func TestRetransmissionDisabled(t *testing.T) {
	f := New[string, string](Config{RetransmitBudget: -1})
	sends := f.Originate(t0, "me", idOf(1), "p", []string{"b", "c", "b"})
	if !slices.Equal(targets(sends), []string{"b", "c"}) {
		t.Fatalf("sent to %v, want [b c]", targets(sends))
	}
	if f.Pending() != 0 {
		t.Fatalf("%d pairs pending with retransmission off", f.Pending())
	}
	if got := f.Tick(t0.Add(time.Hour)); len(got) != 0 {
		t.Fatalf("Tick resent %v with retransmission off", targets(got))
	}
}

func TestAckStopsRetransmits(t *testing.T) {
	f := New[string, string](Config{})
	ra := f.Config().RetransmitAfter
	f.Originate(t0, "me", idOf(1), "p", []string{"b", "c", "d"})
	f.Acked("b", idOf(1))
	f.Acked("d", idOf(1))
	f.Acked("x", idOf(1)) // not a pair: ignored
	f.Acked("c", idOf(9)) // unknown id: ignored
	if got := f.Tick(t0.Add(ra)); !slices.Equal(targets(got), []string{"c"}) {
		t.Fatalf("resent to %v, want only the unacked [c]", targets(got))
	}
	f.Acked("c", idOf(1))
	if f.Pending() != 0 {
		t.Fatalf("%d pairs pending after every neighbour acked", f.Pending())
	}
	if got := f.Tick(t0.Add(time.Minute)); len(got) != 0 {
		t.Fatalf("resent %v after every ack", targets(got))
	}
	if st := f.Stats(); st.Retransmits != 1 || st.RetransmitsExhausted != 0 {
		t.Fatalf("stats %+v, want 1 retransmit, none exhausted", st)
	}
}

func TestDuplicateIsImplicitAck(t *testing.T) {
	f := New[string, string](Config{})
	ra := f.Config().RetransmitAfter
	r := f.Receive(t0, "a", "o", idOf(1), 5, "p", []string{"a", "b", "c"})
	if !slices.Equal(targets(r.Forward), []string{"b", "c"}) {
		t.Fatalf("forwarded to %v, want [b c]", targets(r.Forward))
	}
	// b forwarded the flood to us before our copy reached it: b holds the message.
	f.Receive(t0.Add(time.Millisecond), "b", "o", idOf(1), 4, "p", []string{"a", "b", "c"})
	if got := f.Tick(t0.Add(ra)); !slices.Equal(targets(got), []string{"c"}) {
		t.Fatalf("resent to %v, want [c] (b acked implicitly)", targets(got))
	}
}

func TestForgetDropsPendingToNeighbour(t *testing.T) {
	f := New[string, string](Config{})
	ra := f.Config().RetransmitAfter
	f.Originate(t0, "me", idOf(1), "p", []string{"b", "c"})
	f.Originate(t0, "me", idOf(2), "q", []string{"c", "b"})
	f.Forget("b")
	f.Forget("zz") // unknown: nothing happens
	if f.Pending() != 2 {
		t.Fatalf("%d pairs pending, want 2 (both to c)", f.Pending())
	}
	got := f.Tick(t0.Add(ra))
	if !slices.Equal(targets(got), []string{"c", "c"}) {
		t.Fatalf("resent to %v, want [c c]", targets(got))
	}
	if got[0].ID != idOf(1) || got[1].ID != idOf(2) {
		t.Fatalf("resends out of creation order: %v, %v", got[0].ID, got[1].ID)
	}
}

func TestSeenTTL(t *testing.T) {
	f := New[string, string](Config{SeenTTL: time.Minute, RetransmitBudget: -1})
	ttl := f.Config().SeenTTL
	f.Receive(t0, "a", "o", idOf(1), 3, "p", []string{"a"})
	f.Receive(t0.Add(10*time.Second), "a", "o", idOf(2), 3, "p", []string{"a"})
	if got, want := f.NextDeadline(), t0.Add(ttl+ttl/16); !got.Equal(want) {
		t.Fatalf("NextDeadline %v, want TTL plus batching slack %v", got.Sub(t0), want.Sub(t0))
	}
	if r := f.Receive(t0.Add(ttl-time.Nanosecond), "b", "o", idOf(1), 3, "p", nil); r.New {
		t.Fatal("id forgotten before its TTL")
	}
	f.Tick(t0.Add(ttl))
	if f.Seen(idOf(1)) {
		t.Fatal("id still remembered at its TTL")
	}
	if !f.Seen(idOf(2)) {
		t.Fatal("younger id forgotten early")
	}
	if r := f.Receive(t0.Add(ttl+time.Second), "b", "o", idOf(1), 3, "p", nil); !r.New {
		t.Fatal("a copy after the TTL was not treated as new")
	}
}

func TestSeenCapEvictsOldest(t *testing.T) {
	const capacity = 3
	f := New[string, string](Config{SeenCap: capacity, RetransmitBudget: -1})
	for i := range capacity + 2 {
		f.Receive(t0.Add(time.Duration(i)*time.Millisecond), "a", "o", idOf(i), 3, "p", nil)
	}
	for i := range capacity + 2 {
		if want := i >= 2; f.Seen(idOf(i)) != want {
			t.Fatalf("Seen(id %d) = %v, want %v (the two oldest evicted)", i, !want, want)
		}
	}
	if f.seen.len() != capacity {
		t.Fatalf("%d ids held, want the cap %d", f.seen.len(), capacity)
	}
}

func TestRateLimitPerOrigin(t *testing.T) {
	const rate, burst = 10, 5
	f := New[string, string](Config{RatePerOrigin: rate, RateBurst: burst, RetransmitBudget: -1})
	n := 0
	recv := func(at time.Duration, origin string) Received[string, string] {
		n++
		return f.Receive(t0.Add(at), "a", origin, idOf(n), 3, "p", []string{"a", "b"})
	}
	for i := range burst {
		if r := recv(0, "o"); !r.New {
			t.Fatalf("flood %d within the burst refused: %+v", i+1, r)
		}
	}
	r := recv(0, "o")
	if r.New || !r.Ack || r.Reason != ReasonRateLimited || len(r.Forward) != 0 {
		t.Fatalf("flood over the burst: %+v, want refused, acked, reason rate-limited", r)
	}
	if f.Seen(idOf(n)) {
		t.Fatal("a refused id was remembered: a later copy could never be accepted")
	}
	if r := recv(0, "other"); !r.New {
		t.Fatal("another origin was limited by o's bucket")
	}
	// One token back after 1/rate seconds, and only one.
	tick := time.Second / rate
	if r := recv(tick, "o"); !r.New {
		t.Fatal("no token back after 1/rate")
	}
	if r := recv(tick, "o"); r.New {
		t.Fatal("two tokens back after 1/rate")
	}
	// A long pause refills to the burst, no further.
	later := tick + 10*time.Second
	for i := range burst {
		if r := recv(later, "o"); !r.New {
			t.Fatalf("after a pause, flood %d refused", i+1)
		}
	}
	if r := recv(later, "o"); r.New {
		t.Fatal("bucket refilled past its burst")
	}
	if st := f.Stats(); st.RateLimited != 3 || st.Delivered != uint64(2*burst+2) {
		t.Fatalf("stats %+v, want 3 rate-limited, %d delivered", st, 2*burst+2)
	}
}

func TestRefusedCopyAcceptedAfterRefill(t *testing.T) {
	f := New[string, string](Config{RatePerOrigin: 1, RateBurst: 1, RetransmitBudget: -1})
	f.Receive(t0, "a", "o", idOf(1), 3, "p", nil)
	if r := f.Receive(t0, "a", "o", idOf(2), 3, "p", nil); r.New {
		t.Fatal("second flood within the same instant accepted with burst 1")
	}
	if r := f.Receive(t0.Add(time.Second), "b", "o", idOf(2), 3, "p", nil); !r.New {
		t.Fatal("copy from another neighbour after the refill refused")
	}
}

func TestOriginCapForgetsLeastRecentlyUsed(t *testing.T) {
	for _, c := range []struct {
		originCap   int
		aStillLimit bool
	}{{3, true}, {2, false}} {
		f := New[string, string](Config{RatePerOrigin: 1, RateBurst: 1, OriginCap: c.originCap, RetransmitBudget: -1})
		f.Receive(t0, "x", "A", idOf(1), 3, "p", nil) // A's bucket now empty
		f.Receive(t0, "x", "B", idOf(2), 3, "p", nil)
		f.Receive(t0, "x", "C", idOf(3), 3, "p", nil) // with cap 2, A (least recent) is forgotten
		if f.limiter.tracked() > c.originCap {
			t.Fatalf("cap %d: %d origins tracked", c.originCap, f.limiter.tracked())
		}
		r := f.Receive(t0, "x", "A", idOf(4), 3, "p", nil)
		if limited := r.Reason == ReasonRateLimited; limited != c.aStillLimit {
			t.Fatalf("cap %d: A rate-limited = %v, want %v", c.originCap, limited, c.aStillLimit)
		}
	}
}

func TestRateLimitOff(t *testing.T) {
	f := New[string, string](Config{RatePerOrigin: -1, RateBurst: 1, RetransmitBudget: -1})
	for i := range 100 {
		if r := f.Receive(t0, "a", "o", idOf(i), 3, "p", nil); !r.New {
			t.Fatalf("flood %d refused with rate limiting off", i)
		}
	}
	if f.limiter.tracked() != 0 {
		t.Fatal("buckets kept with rate limiting off")
	}
}

func TestPendingCapDropsOldest(t *testing.T) {
	const capacity = 3
	f := New[string, string](Config{PendingCap: capacity})
	sends := f.Originate(t0, "me", idOf(1), "p", []string{"a", "b", "c", "d", "e"})
	if len(sends) != 5 {
		t.Fatalf("first transmissions %d, want 5 (the cap limits tracking, not sending)", len(sends))
	}
	if f.Pending() != capacity || f.Stats().PendingDropped != 2 {
		t.Fatalf("pending %d dropped %d, want %d and 2", f.Pending(), f.Stats().PendingDropped, capacity)
	}
	got := f.Tick(t0.Add(f.Config().RetransmitAfter))
	if !slices.Equal(targets(got), []string{"c", "d", "e"}) {
		t.Fatalf("resent to %v, want the newest pairs [c d e]", targets(got))
	}
}

func TestIdleFlooderReleasesState(t *testing.T) {
	f := New[string, string](Config{})
	for i := range 500 {
		f.Receive(t0.Add(time.Duration(i)*time.Millisecond), "a", string(rune('A'+i%7)), idOf(i), 4, "p", []string{"a", "b", "c"})
	}
	for d := f.NextDeadline(); !d.IsZero(); d = f.NextDeadline() {
		f.Tick(d)
	}
	if f.seen.ids != nil || f.seen.ring != nil || f.pending.byKey != nil || f.pending.due != nil ||
		f.pending.oldest != nil || f.limiter.byOrigin != nil || f.limiter.lru != nil {
		t.Fatalf("idle flooder still holds state: seen %d ring %d pending %d origins %d",
			len(f.seen.ids), len(f.seen.ring), f.Pending(), f.limiter.tracked())
	}
	if st := f.Stats(); st.RetransmitsExhausted != 1000 {
		t.Fatalf("RetransmitsExhausted = %d, want 1000 (500 messages to 2 silent neighbours)", st.RetransmitsExhausted)
	}
}
