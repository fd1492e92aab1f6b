package flood

import "time"

// bucket is one origin's token bucket.
type bucket[P comparable] struct {
	origin     P
	tokens     float64
	last       time.Duration // since the Flooder's epoch: when tokens was last brought up to date
	prev, next *bucket[P]    // recency list, least recently used first
}

// rateLimiter gives each origin a token bucket of burst tokens refilled at rate per second; a new
// flood from the origin takes one. It tracks at most capacity origins, forgetting the least
// recently used one first. Forgetting a bucket is the same as giving the origin a full one, so
// buckets that have refilled completely are dropped too (expireIdle): an idle limiter holds
// nothing. A rate below zero turns the limiter off.
type rateLimiter[P comparable] struct {
	rate, burst float64
	capacity    int
	byOrigin    map[P]*bucket[P]
	lru, mru    *bucket[P]
}

func newRateLimiter[P comparable](rate float64, burst, capacity int) rateLimiter[P] {
	return rateLimiter[P]{rate: rate, burst: float64(burst), capacity: capacity}
}

func (r *rateLimiter[P]) off() bool { return r.rate < 0 }

// allow takes a token from origin's bucket at now and reports whether there was one.
func (r *rateLimiter[P]) allow(origin P, now time.Duration) bool {
	if r.off() {
		return true
	}
	b := r.byOrigin[origin]
	if b == nil {
		if len(r.byOrigin) >= r.capacity {
			r.drop(r.lru)
		}
		if r.byOrigin == nil {
			r.byOrigin = make(map[P]*bucket[P])
		}
		b = &bucket[P]{origin: origin, tokens: r.burst, last: now}
		r.byOrigin[origin] = b
	} else {
		r.unlink(b)
		if now > b.last {
			b.tokens = min(r.burst, b.tokens+r.rate*(now-b.last).Seconds())
			b.last = now
		}
	}
	r.pushRecent(b)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// expireIdle drops buckets untouched for long enough to be full again. The least recently used
// bucket is the longest untouched, so the scan stops at the first one still refilling.
func (r *rateLimiter[P]) expireIdle(now time.Duration) {
	if r.off() || r.rate == 0 {
		return
	}
	refill := time.Duration(r.burst / r.rate * float64(time.Second))
	for r.lru != nil && now-r.lru.last >= refill {
		r.drop(r.lru)
	}
}

func (r *rateLimiter[P]) tracked() int { return len(r.byOrigin) }

func (r *rateLimiter[P]) drop(b *bucket[P]) {
	r.unlink(b)
	delete(r.byOrigin, b.origin)
	if len(r.byOrigin) == 0 {
		r.byOrigin = nil // maps keep their memory after deletes; an idle limiter should not
	}
}

func (r *rateLimiter[P]) unlink(b *bucket[P]) {
	if b.prev != nil {
		b.prev.next = b.next
	} else {
		r.lru = b.next
	}
	if b.next != nil {
		b.next.prev = b.prev
	} else {
		r.mru = b.prev
	}
	b.prev, b.next = nil, nil
}

func (r *rateLimiter[P]) pushRecent(b *bucket[P]) {
	b.prev, b.next = r.mru, nil
	if r.mru != nil {
		r.mru.next = b
	} else {
		r.lru = b
	}
	r.mru = b
}
