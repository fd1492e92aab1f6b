package sim

import (
	"time"

	"meshcomm/mesh"
)

// eventKind says what a queued event does when it fires.
type eventKind uint8

const (
	evDeliver eventKind = iota + 1 // a message reaches node
	evTick                         // node's Tick is due (stale unless gen matches)
	evAction                       // a scenario step, workload arrival or measurement (fn)
)

// event is the payload of one queued event. Events live in a pool of slots so that the hot path
// (a message delivery) allocates nothing once the pool has grown to its working size.
type event struct {
	kind eventKind
	node int32 // receiver of a delivery, or the ticking node
	from int32 // sender of a delivery
	gen  uint32
	msg  mesh.Message
	fn   func()
}

// heapEntry is what the binary heap orders: virtual time, then insertion sequence. Keeping it
// small (the payload stays in its slot) keeps sift operations cheap.
type heapEntry struct {
	at   time.Duration // since the epoch
	seq  uint64
	slot int32
}

func (a heapEntry) before(b heapEntry) bool {
	return a.at < b.at || a.at == b.at && a.seq < b.seq
}

// eventQueue is a priority queue of events ordered by (virtual time, sequence number). Two events
// at the same instant fire in the order they were scheduled, so a run is fully determined by its
// inputs.
type eventQueue struct {
	heap  []heapEntry
	slots []event
	free  []int32
	seq   uint64
}

// push schedules ev at virtual time at.
func (q *eventQueue) push(at time.Duration, ev event) {
	var slot int32
	if n := len(q.free); n > 0 {
		slot = q.free[n-1]
		q.free = q.free[:n-1]
		q.slots[slot] = ev
	} else {
		slot = int32(len(q.slots))
		q.slots = append(q.slots, ev)
	}
	q.seq++
	q.heap = append(q.heap, heapEntry{at: at, seq: q.seq, slot: slot})
	q.up(len(q.heap) - 1)
}

// pop removes the earliest event. The caller must check len first.
func (q *eventQueue) pop() (time.Duration, event) {
	top := q.heap[0]
	last := len(q.heap) - 1
	q.heap[0] = q.heap[last]
	q.heap = q.heap[:last]
	if last > 0 {
		q.down(0)
	}
	ev := q.slots[top.slot]
	q.slots[top.slot] = event{} // drop references so delivered messages can be collected
	q.free = append(q.free, top.slot)
	return top.at, ev
}

// peek returns the time of the earliest event.
func (q *eventQueue) peek() (time.Duration, bool) {
	if len(q.heap) == 0 {
		return 0, false
	}
	return q.heap[0].at, true
}

// peekKind returns the time and the kind of the earliest event. The caller must check len first.
func (q *eventQueue) peekKind() (time.Duration, eventKind) {
	top := q.heap[0]
	return top.at, q.slots[top.slot].kind
}

func (q *eventQueue) len() int { return len(q.heap) }

func (q *eventQueue) up(i int) {
	h := q.heap
	e := h[i]
	for i > 0 {
		p := (i - 1) / 2
		if !e.before(h[p]) {
			break
		}
		h[i] = h[p]
		i = p
	}
	h[i] = e
}

func (q *eventQueue) down(i int) {
	h := q.heap
	n := len(h)
	e := h[i]
	for {
		c := 2*i + 1
		if c >= n {
			break
		}
		if r := c + 1; r < n && h[r].before(h[c]) {
			c = r
		}
		if !h[c].before(e) {
			break
		}
		h[i] = h[c]
		i = c
	}
	h[i] = e
}
