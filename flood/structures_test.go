package flood

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestSeenCacheMatchesModel drives the ring-buffer cache and a plain list model with the same
// seeded mix of adds and expiries (including growth to the cap, eviction and shrinking) and
// checks they agree after every step.
func TestSeenCacheMatchesModel(t *testing.T) {
	for _, capacity := range []int{1, 5, 100, 3000} {
		rng := rand.New(rand.NewPCG(uint64(capacity), 7))
		var c seenCache
		var model []seenEntry // oldest first
		now, next := time.Duration(0), 0
		const ttl = time.Second
		for step := range 20000 {
			switch r := rng.IntN(100); {
			case r < 70: // a burst of new ids
				for range rng.IntN(40) {
					next++
					id := idOf(next)
					if len(model) >= capacity {
						model = model[1:]
					}
					model = append(model, seenEntry{id: id, expires: now + ttl})
					c.add(id, now+ttl, capacity)
				}
			default: // time passes
				now += time.Duration(rng.IntN(400)) * time.Millisecond
				c.expire(now)
				for len(model) > 0 && model[0].expires <= now {
					model = model[1:]
				}
			}
			if c.len() != len(model) || len(c.ids) != len(model) {
				t.Fatalf("cap %d step %d: cache holds %d (set %d), model %d", capacity, step, c.len(), len(c.ids), len(model))
			}
			if len(c.ring) > minRing && c.n <= len(c.ring)/4 {
				t.Fatalf("cap %d step %d: ring of %d for %d entries did not shrink", capacity, step, len(c.ring), c.n)
			}
			for i, e := range model {
				if got := c.ring[(c.head+i)%len(c.ring)]; got != e || !c.has(e.id) {
					t.Fatalf("cap %d step %d: entry %d is %v, model %v", capacity, step, i, got, e)
				}
			}
			if e, ok := c.oldestExpiry(); ok != (len(model) > 0) || ok && e != model[0].expires {
				t.Fatalf("cap %d step %d: oldest expiry %v %v, model %v", capacity, step, e, ok, model)
			}
		}
	}
}

// TestPendingSetKeepsItsThreeViewsConsistent applies a seeded mix of adds, removals and
// reschedules and checks the heap order, the map and the creation list against each other.
func TestPendingSetKeepsItsThreeViewsConsistent(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 11))
	var s pendingSet[int, string]
	var live []*pair[int, string] // creation order, the model of the list
	msg := &message[int, string]{id: idOf(1)}
	for step := range 20000 {
		switch r := rng.IntN(100); {
		case r < 45:
			p := &pair[int, string]{to: rng.IntN(500), msg: msg, deadline: time.Duration(rng.IntN(50))}
			added := s.add(p)
			dup := false
			for _, q := range live {
				dup = dup || q.to == p.to
			}
			if added == dup {
				t.Fatalf("step %d: add of %d returned %v, duplicate %v", step, p.to, added, dup)
			}
			if added {
				live = append(live, p)
			}
		case r < 75 && len(live) > 0:
			i := rng.IntN(len(live))
			s.remove(live[i])
			live = append(live[:i], live[i+1:]...)
		case len(live) > 0:
			s.reschedule(live[rng.IntN(len(live))], time.Duration(rng.IntN(50)))
		}
		checkPendingSet(t, step, &s, live)
	}
}

func checkPendingSet(t *testing.T, step int, s *pendingSet[int, string], live []*pair[int, string]) {
	t.Helper()
	if s.len() != len(live) || len(s.due) != len(live) {
		t.Fatalf("step %d: map %d heap %d, model %d", step, s.len(), len(s.due), len(live))
	}
	for i, p := range s.due {
		if p.index != i {
			t.Fatalf("step %d: heap index %d stored as %d", step, i, p.index)
		}
		if i > 0 && s.due.Less(i, (i-1)/2) {
			t.Fatalf("step %d: heap order broken at %d", step, i)
		}
		if s.get(p.key()) != p {
			t.Fatalf("step %d: heap entry %d missing from the map", step, p.to)
		}
	}
	i := 0
	for p := s.oldest; p != nil; p = p.newer {
		if i >= len(live) || live[i] != p {
			t.Fatalf("step %d: creation list differs from the model at %d", step, i)
		}
		i++
	}
	if i != len(live) {
		t.Fatalf("step %d: creation list holds %d, model %d", step, i, len(live))
	}
	if len(live) == 0 {
		if s.release(); s.byKey != nil || s.due != nil || s.newest != nil || s.oldest != nil {
			t.Fatalf("step %d: released empty set still holds memory", step)
		}
	}
}
