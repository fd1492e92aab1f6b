package sim

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestQueueOrdersByTimeThenSequence(t *testing.T) {
	var q eventQueue
	rnd := rand.New(rand.NewPCG(1, 2))
	type item struct {
		at   time.Duration
		node int32
	}
	var pushed []item
	for k := range 2000 {
		at := time.Duration(rnd.IntN(50)) * time.Millisecond // many ties
		q.push(at, event{kind: evTick, node: int32(k)})
		pushed = append(pushed, item{at, int32(k)})
	}
	// The expected order: by time, ties in insertion order (a stable sort by time).
	slices.SortStableFunc(pushed, func(a, b item) int { return int(a.at - b.at) })
	for k, w := range pushed {
		at, ev := q.pop()
		if at != w.at || ev.node != w.node {
			t.Fatalf("pop %d = (%v, node %d), want (%v, node %d)", k, at, ev.node, w.at, w.node)
		}
	}
	if q.len() != 0 {
		t.Fatalf("%d events left", q.len())
	}
}

func TestQueuePopsEveryEventExactlyOnce(t *testing.T) {
	var q eventQueue
	rnd := rand.New(rand.NewPCG(3, 4))
	var want []int32
	for k := range 500 {
		q.push(time.Duration(rnd.IntN(20)), event{node: int32(k)})
		want = append(want, int32(k))
	}
	var got []int32
	for q.len() > 0 {
		_, ev := q.pop()
		got = append(got, ev.node)
		if len(got)%3 == 0 && len(want) < 800 { // push while popping: new events go to later slots
			k := int32(len(want))
			q.push(time.Duration(50+rnd.IntN(20)), event{node: k})
			want = append(want, k)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("popped %d events, want %d, or some twice", len(got), len(want))
	}
	if len(q.slots) >= len(want) {
		t.Errorf("%d slots for %d events: slots are not reused", len(q.slots), len(want))
	}
}

func TestQueueSameInstantFiresInScheduleOrder(t *testing.T) {
	var q eventQueue
	for k := range 100 {
		q.push(time.Second, event{node: int32(k)})
	}
	q.push(time.Millisecond, event{node: -1})
	if _, ev := q.pop(); ev.node != -1 {
		t.Fatalf("earliest event is node %d, want -1", ev.node)
	}
	for k := range 100 {
		if _, ev := q.pop(); ev.node != int32(k) {
			t.Fatalf("event %d fired as %d", k, ev.node)
		}
	}
}
