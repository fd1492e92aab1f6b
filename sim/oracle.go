package sim

import (
	"bytes"
	"slices"
	"time"

	"meshcomm/mesh"
)

// oracle decides when the overlay has converged after the scenario's event: when every live
// registration resolves from every live node of its component. It is checked every
// oracleInterval from the event until the end of the scenario:
//
//  1. every live node in flood mode holds (Holds, not deleted) the registration of every live
//     node of its component;
//  2. in a component with at least one node in DHT mode, every live registration is held by at
//     least one of the Replicas() live nodes of that component closest to its resource (XOR);
//  3. when some live node is in DHT mode, a sample of oracleSampleSize real lookups, each from a
//     random live DHT-mode node for the registration of a random other live node of its
//     component, all succeed.
//
// The overlay has converged at the first check at which 1 and 2 hold, that launched a sample
// (3) which then fully succeeded, with no failing check of 1 and 2 while the sample was out.
type oracle struct {
	converged time.Duration // -1 until converged
	batch     *oracleBatch  // the sample in flight
	hint      [2]int32      // the (holder, owner) pair that failed last: checked first
	sorted    map[int32][]idEntry
	buf       []idEntry
}

type oracleBatch struct {
	at          time.Duration
	left        int
	invalidated bool
}

type idEntry struct {
	id  mesh.NodeID
	idx int32
}

// startOracle marks the scenario's event and begins the checks.
func (s *Sim) startOracle() {
	s.plan.convergeFrom = s.now
	s.oracle = &oracle{converged: -1, hint: [2]int32{-1, -1}}
	var check func()
	check = func() {
		if s.now > s.plan.spanEnd || s.oracle.converged >= 0 {
			return
		}
		s.oracleCheck()
		s.at(s.now+oracleInterval, check)
	}
	check()
}

func (s *Sim) oracleCheck() {
	o := s.oracle
	if !s.everyRegistrationPlaced() {
		if o.batch != nil {
			o.batch.invalidated = true
		}
		return
	}
	var dht []int32
	for _, i := range s.live {
		if s.nodes[i].core.Mode() == mesh.ModeDHT {
			dht = append(dht, i)
		}
	}
	if len(dht) == 0 {
		o.converged = s.now
		return
	}
	if o.batch != nil {
		return
	}
	// left starts at one for the launch itself, so that answers that come at once (from the
	// requester's own store) cannot complete the sample before every lookup has started.
	b := &oracleBatch{at: s.now, left: 1}
	o.batch = b
	done := func() {
		if b.left--; b.left > 0 {
			return
		}
		o.batch = nil
		if !b.invalidated && o.converged < 0 {
			o.converged = b.at
		}
	}
	for range oracleSampleSize {
		req := dht[s.rnd.IntN(len(dht))]
		target, ok := s.oracleTarget(req)
		if !ok {
			continue
		}
		b.left++
		s.startLookup(req, target, func(r lookupResult) {
			if !r.found {
				b.invalidated = true
			}
			done()
		})
	}
	done() // with nobody to ask, conditions 1 and 2 decide
}

func (s *Sim) oracleTarget(req int32) (int32, bool) {
	for try := 0; try < 64; try++ {
		if t := s.randomLive(); t != req && s.sameComponent(t, req) {
			return t, true
		}
	}
	return 0, false
}

// everyRegistrationPlaced checks conditions 1 and 2 of the oracle, stopping at the first failure
// (and trying the last failure first, so that an unconverged overlay is cheap to check).
func (s *Sim) everyRegistrationPlaced() bool {
	o := s.oracle
	if h, w := o.hint[0], o.hint[1]; h >= 0 && s.alive(h) && s.alive(w) && s.sameComponent(h, w) &&
		s.nodes[h].core.Mode() != mesh.ModeDHT {
		if !s.holdsLive(h, w) {
			return false
		}
	}
	byComp := map[int32][]int32{}
	dhtComp := map[int32]bool{}
	for _, i := range s.live {
		c := s.net.comp[i]
		byComp[c] = append(byComp[c], i)
		if s.nodes[i].core.Mode() == mesh.ModeDHT {
			dhtComp[c] = true
		}
	}
	for _, h := range s.live {
		if s.nodes[h].core.Mode() == mesh.ModeDHT {
			continue
		}
		for _, w := range byComp[s.net.comp[h]] {
			if !s.holdsLive(h, w) {
				o.hint = [2]int32{h, w}
				return false
			}
		}
	}
	o.sorted = map[int32][]idEntry{}
	for c := range dhtComp {
		members := byComp[c]
		ids := make([]idEntry, len(members))
		for k, i := range members {
			ids[k] = idEntry{s.nodes[i].contact.ID, i}
		}
		slices.SortFunc(ids, func(a, b idEntry) int { return bytes.Compare(a.id[:], b.id[:]) })
		o.sorted[c] = ids
	}
	for _, w := range s.live {
		ids, ok := o.sorted[s.net.comp[w]]
		if !ok {
			continue
		}
		if !s.heldByAReplica(w, ids) {
			o.hint = [2]int32{-1, -1}
			return false
		}
	}
	return true
}

// holdsLive reports whether holder h holds owner w's registration.
func (s *Sim) holdsLive(h, w int32) bool {
	rec, ok := s.nodes[h].core.Holds(s.nodes[w].reg)
	return ok && !rec.Deleted
}

// heldByAReplica reports whether one of the R closest live nodes to w's registration holds it.
func (s *Sim) heldByAReplica(w int32, ids []idEntry) bool {
	target := s.nodes[w].reg.Resource
	r := s.nodes[w].core.Replicas()
	s.oracle.buf = closest(s.oracle.buf[:0], ids, target, r)
	for _, e := range s.oracle.buf {
		if s.holdsLive(e.idx, w) {
			return true
		}
	}
	return false
}

// closest appends to dst the r entries of sorted (ascending by id) closest to target in XOR
// distance. Every id sharing a longer prefix with target is closer than every id that does not,
// and ids sharing a prefix are contiguous in sorted order, so it narrows the range to the
// longest prefix block that still holds r entries and ranks only that block.
func closest(dst, sorted []idEntry, target [mesh.IDBytes]byte, r int) []idEntry {
	lo, hi := 0, len(sorted)
	for bits := 1; bits <= mesh.IDBytes*8 && hi-lo > r; bits++ {
		l, h := prefixRange(sorted[lo:hi], target, bits)
		if h-l < r {
			break
		}
		lo, hi = lo+l, lo+h
	}
	dst = append(dst, sorted[lo:hi]...)
	slices.SortFunc(dst, func(a, b idEntry) int {
		da, db := mesh.XOR(a.id, target), mesh.XOR(b.id, target)
		return bytes.Compare(da[:], db[:])
	})
	if len(dst) > r {
		dst = dst[:r]
	}
	return dst
}

// prefixRange returns the sub-range of sorted whose ids share the first bits bits with target.
func prefixRange(sorted []idEntry, target [mesh.IDBytes]byte, bits int) (int, int) {
	var low, high [mesh.IDBytes]byte
	for i := range target {
		keep := min(max(bits-8*i, 0), 8)
		mask := byte(0xff) << (8 - keep) // 0 when keep is 0
		low[i] = target[i] & mask
		high[i] = target[i] | ^mask
	}
	l, _ := slices.BinarySearchFunc(sorted, low, func(e idEntry, t [mesh.IDBytes]byte) int {
		return bytes.Compare(e.id[:], t[:])
	})
	h, found := slices.BinarySearchFunc(sorted, high, func(e idEntry, t [mesh.IDBytes]byte) int {
		return bytes.Compare(e.id[:], t[:])
	})
	if found {
		h++
	}
	return l, h
}
