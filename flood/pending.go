package flood

import (
	"container/heap"
	"time"
)

// message is one flooded message as this Flooder sends it on. Every pending pair of the message
// points at the one copy; it is garbage once the last pair is acked, dropped or given up.
type message[P comparable, M any] struct {
	id      ID
	origin  P
	hops    uint8 // hops left for the receivers of this node's copies
	payload M
}

// pairKey names one unacknowledged (message, neighbour) pair.
type pairKey[P comparable] struct {
	id ID
	to P
}

// pair is one copy of a message sent to a neighbour that has not acknowledged it yet.
type pair[P comparable, M any] struct {
	to       P
	msg      *message[P, M]
	deadline time.Duration // since the Flooder's epoch: retransmit or give up then
	tries    int           // retransmissions sent so far
	seq      uint64        // creation order: ties on deadline break by it, so output is deterministic
	index    int           // position in the deadline heap

	older, newer *pair[P, M] // creation-order list, for dropping the oldest at the cap
}

func (p *pair[P, M]) key() pairKey[P] { return pairKey[P]{id: p.msg.id, to: p.to} }

func (p *pair[P, M]) send() Send[P, M] {
	return Send[P, M]{To: p.to, ID: p.msg.id, Origin: p.msg.origin, Hops: p.msg.hops, Payload: p.msg.payload}
}

// pendingSet holds the unacknowledged pairs three ways: by key (ack, implicit ack), by deadline
// (a min-heap, for Tick and NextDeadline) and by creation (a doubly linked list, for dropping the
// oldest when full). Removal is eager in all three, so nothing stale lingers and NextDeadline is
// exact. The map and heap are released when a Tick finds the set empty.
type pendingSet[P comparable, M any] struct {
	byKey          map[pairKey[P]]*pair[P, M]
	due            dueHeap[P, M]
	oldest, newest *pair[P, M]
	seq            uint64
}

func (s *pendingSet[P, M]) len() int { return len(s.byKey) }

func (s *pendingSet[P, M]) get(k pairKey[P]) *pair[P, M] { return s.byKey[k] }

// add makes p pending. It reports false, and does nothing, if its key already is.
func (s *pendingSet[P, M]) add(p *pair[P, M]) bool {
	k := p.key()
	if _, dup := s.byKey[k]; dup {
		return false
	}
	if s.byKey == nil {
		s.byKey = make(map[pairKey[P]]*pair[P, M])
	}
	s.byKey[k] = p
	s.seq++
	p.seq = s.seq
	heap.Push(&s.due, p)
	p.older, p.newer = s.newest, nil
	if s.newest != nil {
		s.newest.newer = p
	} else {
		s.oldest = p
	}
	s.newest = p
	return true
}

func (s *pendingSet[P, M]) remove(p *pair[P, M]) {
	delete(s.byKey, p.key())
	heap.Remove(&s.due, p.index)
	if p.older != nil {
		p.older.newer = p.newer
	} else {
		s.oldest = p.newer
	}
	if p.newer != nil {
		p.newer.older = p.older
	} else {
		s.newest = p.older
	}
	p.older, p.newer, p.msg = nil, nil, nil
}

// release gives back the map and heap of an empty set. It is left to Tick rather than done on
// every removal, so that a busy node does not remake them for every message.
func (s *pendingSet[P, M]) release() {
	if len(s.byKey) == 0 {
		s.byKey, s.due = nil, nil
	}
}

// first is the pair with the earliest deadline, nil when none is pending.
func (s *pendingSet[P, M]) first() *pair[P, M] {
	if len(s.due) == 0 {
		return nil
	}
	return s.due[0]
}

// reschedule moves p to a new deadline.
func (s *pendingSet[P, M]) reschedule(p *pair[P, M], deadline time.Duration) {
	p.deadline = deadline
	heap.Fix(&s.due, p.index)
}

// removeTo drops every pair addressed to neighbor.
func (s *pendingSet[P, M]) removeTo(neighbor P) {
	var gone []*pair[P, M]
	for k, p := range s.byKey {
		if k.to == neighbor {
			gone = append(gone, p)
		}
	}
	for _, p := range gone {
		s.remove(p)
	}
}

// dueHeap orders pairs by deadline, then creation; it implements container/heap's interface.
type dueHeap[P comparable, M any] []*pair[P, M]

func (h dueHeap[P, M]) Len() int { return len(h) }

func (h dueHeap[P, M]) Less(i, j int) bool {
	if h[i].deadline != h[j].deadline {
		return h[i].deadline < h[j].deadline
	}
	return h[i].seq < h[j].seq
}

func (h dueHeap[P, M]) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}

func (h *dueHeap[P, M]) Push(x any) {
	p := x.(*pair[P, M])
	p.index = len(*h)
	*h = append(*h, p)
}

func (h *dueHeap[P, M]) Pop() any {
	old := *h
	p := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	p.index = -1
	return p
}
