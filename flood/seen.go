package flood

import "time"

// seenEntry is one remembered message id and the instant (since the Flooder's epoch) at which it
// is forgotten.
type seenEntry struct {
	id      ID
	expires time.Duration
}

// seenCache remembers message ids for a fixed time-to-live, at most capacity of them. Ids are
// only ever added at the back and removed from the front (by expiry or, when full, by eviction of
// the oldest), and every id gets the same TTL, so insertion order is expiry order: a ring buffer
// of entries in that order plus a set for lookups gives O(1) add, lookup, expiry and eviction.
//
// Both structures are allocated on first use, shrink as entries leave and are released when the
// cache empties, so an idle cache costs a few words.
type seenCache struct {
	ids  map[ID]struct{}
	ring []seenEntry // circular, len(ring) is the allocated capacity
	head int         // index of the oldest entry
	n    int         // live entries
}

// minRing is the smallest ring allocated, and the size below which a ring is never shrunk.
const minRing = 16

func (s *seenCache) has(id ID) bool {
	_, ok := s.ids[id]
	return ok
}

func (s *seenCache) len() int { return s.n }

// add remembers id until expires. When capacity ids are already held the oldest is forgotten
// first; add reports whether that happened. The caller guarantees id is not already held.
func (s *seenCache) add(id ID, expires time.Duration, capacity int) (evicted bool) {
	if s.n >= capacity {
		s.popFront()
		evicted = true
	}
	if s.n == len(s.ring) {
		s.resize(min(max(minRing, 2*len(s.ring)), capacity))
	}
	if s.ids == nil {
		s.ids = make(map[ID]struct{})
	}
	s.ring[(s.head+s.n)%len(s.ring)] = seenEntry{id: id, expires: expires}
	s.n++
	s.ids[id] = struct{}{}
	return evicted
}

// expire forgets every id whose time is up at now. Entries are in expiry order, except when the
// caller's clock went backwards; then a later entry waits behind an earlier one, never longer
// than the clock step.
func (s *seenCache) expire(now time.Duration) {
	for s.n > 0 && s.ring[s.head].expires <= now {
		s.popFront()
	}
	s.shrink()
}

// oldestExpiry is when the next id is due to be forgotten.
func (s *seenCache) oldestExpiry() (time.Duration, bool) {
	if s.n == 0 {
		return 0, false
	}
	return s.ring[s.head].expires, true
}

func (s *seenCache) popFront() {
	delete(s.ids, s.ring[s.head].id)
	s.ring[s.head] = seenEntry{}
	s.head = (s.head + 1) % len(s.ring)
	s.n--
}

// shrink releases memory once most of it is unused: a ring at most a quarter full is halved
// (repeatedly, until it is more than a quarter full) and the set is rebuilt with it, since Go
// maps never give memory back on delete; an empty cache drops both. A rebuild copies n entries
// after at least n removals, so the cost is O(1) amortised.
func (s *seenCache) shrink() {
	if s.n == 0 {
		s.ring, s.ids, s.head = nil, nil, 0
		return
	}
	size := len(s.ring)
	for size > minRing && s.n <= size/4 {
		size /= 2
	}
	if size != len(s.ring) {
		s.resize(size)
		ids := make(map[ID]struct{}, s.n)
		for i := range s.n {
			ids[s.ring[i].id] = struct{}{}
		}
		s.ids = ids
	}
}

// resize moves the live entries, oldest first, into a ring of size entries.
func (s *seenCache) resize(size int) {
	ring := make([]seenEntry, size)
	for i := range s.n {
		ring[i] = s.ring[(s.head+i)%len(s.ring)]
	}
	s.ring, s.head = ring, 0
}
