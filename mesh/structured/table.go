package structured

import (
	"math"
	"sort"
	"time"

	"meshcomm/mesh"
)

// Peer is one routing-table entry.
type Peer struct {
	Contact   mesh.Contact
	LastHeard time.Time
	Fails     int
}

// Table is the routing table: the whole near slice and k peers of each far slice.
type Table struct {
	self mesh.NodeID
	k    int
	bits int
	near map[mesh.NodeID]*Peer
	far  [][]*Peer // indexed by slice; far[mySlice] is unused
	// farIDs holds the identifiers of far, slice by slice in the same order (searched without
	// following pointers, as ids is).
	farIDs [][]mesh.NodeID
	// sorted holds the near slice and this node itself ordered by identifier, so that the
	// closest peers to a target are found by binary search (see closestSorted).
	sorted []*Peer
	// ids holds the identifiers of sorted, in the same order: searches compare contiguous
	// identifiers instead of following a pointer per comparison (a cache miss each in a large
	// simulation).
	ids []mesh.NodeID
}

// MaxSliceBits bounds the number of slices (2^16) whatever the size estimate says.
const MaxSliceBits = 16

// NewTable makes an empty table for self keeping k peers per far slice.
func NewTable(self mesh.NodeID, k int) *Table {
	t := &Table{self: self, k: k, near: map[mesh.NodeID]*Peer{}, far: make([][]*Peer, 1), farIDs: make([][]mesh.NodeID, 1)}
	t.sorted = []*Peer{{Contact: mesh.Contact{ID: self}}}
	t.ids = []mesh.NodeID{self}
	return t
}

func (t *Table) sortedIndex(id mesh.NodeID) int {
	return sort.Search(len(t.ids), func(i int) bool { return !lessID(t.ids[i], id) })
}

func (t *Table) sortedInsert(p *Peer) {
	i := t.sortedIndex(p.Contact.ID)
	t.sorted = append(t.sorted, nil)
	copy(t.sorted[i+1:], t.sorted[i:])
	t.sorted[i] = p
	t.ids = append(t.ids, mesh.NodeID{})
	copy(t.ids[i+1:], t.ids[i:])
	t.ids[i] = p.Contact.ID
}

func (t *Table) sortedRemove(id mesh.NodeID) {
	i := t.sortedIndex(id)
	if i < len(t.ids) && t.ids[i] == id {
		t.sorted = append(t.sorted[:i], t.sorted[i+1:]...)
		t.ids = append(t.ids[:i], t.ids[i+1:]...)
	}
}

// Bits is the number of prefix bits that define a slice.
func (t *Table) Bits() int { return t.bits }

func (t *Table) slice(id [mesh.IDBytes]byte) uint32 { return mesh.Prefix(id, t.bits) }

// InMySlice reports whether id falls in this node's own slice.
func (t *Table) InMySlice(id [mesh.IDBytes]byte) bool { return t.slice(id) == t.slice(t.self) }

// Estimate is the mesh size implied by the near slice's population.
func (t *Table) Estimate() int { return (len(t.near) + 1) << t.bits }

// IdealBits is the slice width that minimises table size (2^b*k + N/2^b) for a mesh of n.
func IdealBits(n, k int) float64 {
	if n <= k {
		return 0
	}
	return 0.5 * math.Log2(float64(n)/float64(k))
}

// Retune changes the slice width when the estimate has moved well past the current one
// (hysteresis of 0.75 bit), re-bucketing every entry. It reports whether the width changed.
func (t *Table) Retune(estimate int) bool {
	ideal := IdealBits(estimate, t.k)
	want := t.bits
	if ideal > float64(t.bits)+0.75 || ideal < float64(t.bits)-0.75 {
		want = int(math.Round(ideal))
	}
	return t.setBits(want)
}

// Narrow makes slices at least bits wide (never wider than MaxSliceBits): for a node that has
// learnt the slice width its mesh uses before knowing enough of its own slice to estimate it.
// It reports whether the width changed.
func (t *Table) Narrow(bits int) bool {
	if bits <= t.bits {
		return false
	}
	return t.setBits(bits)
}

// setBits re-buckets every entry for slices want bits wide.
func (t *Table) setBits(want int) bool {
	want = max(0, min(want, MaxSliceBits))
	if want == t.bits {
		return false
	}
	all := t.entries()
	t.bits = want
	t.near = map[mesh.NodeID]*Peer{}
	t.far = make([][]*Peer, 1<<want)
	t.farIDs = make([][]mesh.NodeID, 1<<want)
	t.sorted = []*Peer{{Contact: mesh.Contact{ID: t.self}}}
	t.ids = []mesh.NodeID{t.self}
	for _, p := range all {
		t.insert(p)
	}
	return true
}

func (t *Table) entries() []*Peer {
	out := make([]*Peer, 0, len(t.near)+len(t.far)*t.k)
	for _, p := range t.near {
		out = append(out, p)
	}
	for _, s := range t.far {
		out = append(out, s...)
	}
	sort.Slice(out, func(i, j int) bool { return lessID(out[i].Contact.ID, out[j].Contact.ID) })
	return out
}

func (t *Table) insert(p *Peer) bool {
	if t.InMySlice(p.Contact.ID) {
		t.near[p.Contact.ID] = p
		t.sortedInsert(p)
		return true
	}
	s := t.slice(p.Contact.ID)
	if len(t.far[s]) < t.k {
		t.far[s] = append(t.far[s], p)
		t.farIDs[s] = append(t.farIDs[s], p.Contact.ID)
		return true
	}
	return false
}

// Add inserts or refreshes a peer heard from at now. It reports whether the peer is new to the
// near slice (the caller may owe it records it is now responsible for).
func (t *Table) Add(now time.Time, c mesh.Contact) (newNear bool) {
	_, newNear = t.Heard(now, c)
	return newNear
}

// Heard is Add that also reports whether the peer was in the table before (one search for both,
// since every message received asks both questions).
func (t *Table) Heard(now time.Time, c mesh.Contact) (known, newNear bool) {
	if c.ID == t.self || c.ID.IsZero() {
		return false, false
	}
	if p := t.find(c.ID); p != nil {
		p.LastHeard, p.Fails = now, 0
		if c.Addr != "" {
			p.Contact.Addr = c.Addr
		}
		return true, false
	}
	p := &Peer{Contact: c, LastHeard: now}
	if !t.insert(p) {
		// A full far slice prefers live peers: replace one that has failed, or else the one not
		// heard from for longest if that was over FarStale ago. Far peers are asked only when a
		// lookup passes through their slice, so after a partition the ones on the other side
		// stay in the table, unsuspected, while live members of their slice write to this node;
		// and peers of one slice copy each other's far peers when they join, so a whole slice
		// could lose sight of another slice at once.
		s := t.slice(c.ID)
		stalest := -1
		for i, q := range t.far[s] {
			if q.Fails > 0 {
				t.far[s][i], t.farIDs[s][i] = p, p.Contact.ID
				return false, false
			}
			if now.Sub(q.LastHeard) > FarStale && (stalest < 0 || q.LastHeard.Before(t.far[s][stalest].LastHeard)) {
				stalest = i
			}
		}
		if stalest >= 0 {
			t.far[s][stalest], t.farIDs[s][stalest] = p, p.Contact.ID
		}
		return false, false
	}
	return false, t.InMySlice(c.ID)
}

// FarStale is how long a far peer may go unheard before a peer heard just now replaces it.
const FarStale = 30 * time.Second

func (t *Table) find(id mesh.NodeID) *Peer {
	s := t.slice(id)
	if s == t.slice(t.self) {
		return t.near[id]
	}
	for i, pid := range t.farIDs[s] {
		if pid == id {
			return t.far[s][i]
		}
	}
	return nil
}

// Knows reports whether id is in the table.
func (t *Table) Knows(id mesh.NodeID) bool { return t.find(id) != nil }

// Get returns the table's entry for id.
func (t *Table) Get(id mesh.NodeID) (*Peer, bool) { p := t.find(id); return p, p != nil }

// Remove drops a peer.
func (t *Table) Remove(id mesh.NodeID) bool {
	if _, ok := t.near[id]; ok {
		delete(t.near, id)
		t.sortedRemove(id)
		return true
	}
	if t.InMySlice(id) {
		return false
	}
	s := t.slice(id)
	for i, pid := range t.farIDs[s] {
		if pid == id {
			t.far[s] = append(t.far[s][:i], t.far[s][i+1:]...)
			t.farIDs[s] = append(t.farIDs[s][:i], t.farIDs[s][i+1:]...)
			return true
		}
	}
	return false
}

// Failed notes a request to id that went unanswered; after maxFails the peer is dropped.
// It reports whether the peer was dropped.
func (t *Table) Failed(id mesh.NodeID, maxFails int) bool {
	p := t.find(id)
	if p == nil {
		return false
	}
	p.Fails++
	if p.Fails >= maxFails {
		return t.Remove(id)
	}
	return false
}

// Near returns the near slice in a deterministic order.
func (t *Table) Near() []mesh.Contact {
	out := make([]mesh.Contact, 0, len(t.near))
	for _, p := range t.sorted { // already in identifier order
		if p.Contact.ID != t.self {
			out = append(out, p.Contact)
		}
	}
	return out
}

// NearAt returns the i-th peer of the near slice in identifier order (0 <= i < NearCount()).
func (t *Table) NearAt(i int) mesh.Contact {
	if i < 0 || i >= len(t.near) {
		return mesh.Contact{}
	}
	if i >= t.sortedIndex(t.self) {
		i++ // skip this node itself
	}
	return t.sorted[i].Contact
}

// NearCount is the size of the near slice.
func (t *Table) NearCount() int { return len(t.near) }

// Far returns every far entry.
func (t *Table) Far() []mesh.Contact {
	var out []mesh.Contact
	for _, s := range t.far {
		for _, p := range s {
			out = append(out, p.Contact)
		}
	}
	return out
}

// FarSlice returns the far entries of one slice.
func (t *Table) FarSlice(s uint32) []mesh.Contact {
	if int(s) >= len(t.far) {
		return nil
	}
	out := make([]mesh.Contact, len(t.far[s]))
	for i, p := range t.far[s] {
		out[i] = p.Contact
	}
	return out
}

// Slices is the number of slices (2^Bits).
func (t *Table) Slices() int { return len(t.far) }

// SliceOf returns the slice index of id.
func (t *Table) SliceOf(id [mesh.IDBytes]byte) uint32 { return t.slice(id) }

// Len is the number of entries.
func (t *Table) Len() int {
	n := len(t.near)
	for _, s := range t.far {
		n += len(s)
	}
	return n
}

// Closest returns up to n known peers closest to target by XOR distance, those that have failed
// to answer since last heard ranked after all the others: what this node names in answers and
// asks first. Right after a partition the peers nearest a target may all be on the far side;
// an asker that found them dead would otherwise be named the same dead peers by everyone.
func (t *Table) Closest(target [mesh.IDBytes]byte, n int) []mesh.Contact {
	if n <= 0 {
		return nil
	}
	if t.InMySlice(target) {
		// A block twice the size leaves room to pass over failed peers (this node is in it).
		lo, hi := t.closestRange(target, 2*n+1)
		out := closestOfLiveFirst(t.sorted[lo:hi], t.ids[lo:hi], target, n+1)
		for i, c := range out {
			if c.ID == t.self {
				return append(out[:i], out[i+1:]...)
			}
		}
		if len(out) > n {
			out = out[:n]
		}
		return out
	}
	// The far slice's own peers know the whole target slice; anything further away is no
	// better than them, so only an empty slice falls back to the whole table.
	if s := t.slice(target); len(t.far[s]) > 0 {
		return closestOfLiveFirst(t.far[s], t.farIDs[s], target, n)
	}
	cands := t.entries()
	return closestOfLiveFirst(cands, appendIDs(nil, cands), target, n)
}

// appendIDs appends the peers' identifiers to ids (closestOf's second argument).
func appendIDs(ids []mesh.NodeID, ps []*Peer) []mesh.NodeID {
	for _, p := range ps {
		ids = append(ids, p.Contact.ID)
	}
	return ids
}

// ClosestLive returns up to n peers closest to target from the whole table, skipping peers that
// have failed to answer: the fallback when the target's own slice has gone silent.
func (t *Table) ClosestLive(target [mesh.IDBytes]byte, n int) []mesh.Contact {
	var live []*Peer
	for _, p := range t.entries() {
		if p.Fails == 0 {
			live = append(live, p)
		}
	}
	return closestOf(live, appendIDs(nil, live), target, n)
}

// ClosestWithSelf returns the n closest to target among the near slice and this node itself.
func (t *Table) ClosestWithSelf(target [mesh.IDBytes]byte, n int) []mesh.Contact {
	return t.closestSorted(target, n)
}

// AmongClosestWithSelf reports whether id is one of the n closest to target among the near
// slice and this node itself (ClosestWithSelf without building the list).
func (t *Table) AmongClosestWithSelf(target [mesh.IDBytes]byte, n int, id mesh.NodeID) bool {
	if n <= 0 {
		return false
	}
	lo, hi := t.closestRange(target, n)
	d := mesh.XOR(target, id)
	inRange, closer := false, 0
	for _, pid := range t.ids[lo:hi] {
		if pid == id {
			inRange = true
		} else if mesh.XOR(target, pid).Less(d) {
			closer++
		}
	}
	return inRange && closer < n
}

// closestSorted finds the n closest to target among the near slice and self. Peers that share
// a longer prefix with target are closer than any that share a shorter one, and the peers sharing
// a given prefix are contiguous in identifier order; so it narrows to the longest prefix still
// shared by at least n peers and selects among those alone. Each step descends one bit where the
// range's peers first differ: a single binary search finds where that bit turns from 0 to 1.
func (t *Table) closestSorted(target [mesh.IDBytes]byte, n int) []mesh.Contact {
	if n <= 0 {
		return nil
	}
	lo, hi := t.closestRange(target, n)
	return closestOf(t.sorted[lo:hi], t.ids[lo:hi], target, n)
}

// closestRange narrows t.sorted to the block that holds the n closest to target (all of it when
// it holds n or fewer).
func (t *Table) closestRange(target [mesh.IDBytes]byte, n int) (lo, hi int) {
	lo, hi = 0, len(t.ids)
	for hi-lo > n {
		first, last := t.ids[lo], t.ids[hi-1]
		split := mesh.CommonPrefixLen(first, last) // first has 0 at this bit, last 1
		if mesh.CommonPrefixLen(first, target) < split {
			break // every peer in range is equally far from target in prefix terms
		}
		mid := lo + sort.Search(hi-lo, func(i int) bool { return bitAt(t.ids[lo+i], split) })
		a, b := lo, mid
		if bitAt(target, split) {
			a, b = mid, hi
		}
		if b-a < n {
			break
		}
		lo, hi = a, b
	}
	return lo, hi
}

// SharedPrefixLen is the number of leading bits every one of ids shares (0 for none). The near
// slice a peer reports shares its slice's prefix and, a few members on, no more: it gives that
// peer's slice width.
func SharedPrefixLen(ids []mesh.Contact) int {
	if len(ids) == 0 {
		return 0
	}
	shared := mesh.IDBytes * 8
	for _, c := range ids[1:] {
		shared = min(shared, mesh.CommonPrefixLen(ids[0].ID, c.ID))
	}
	return shared
}

// bitAt reports whether bit i (0 = most significant) of id is set.
func bitAt(id [mesh.IDBytes]byte, i int) bool { return id[i/8]&(0x80>>(i%8)) != 0 }

// closestOf selects the n candidates closest to target by partial insertion (n is small, the
// candidate set a few hundred): no sort of the whole set, one small allocation. ids are the
// candidates' identifiers, in the same order.
func closestOf(cands []*Peer, ids []mesh.NodeID, target [mesh.IDBytes]byte, n int) []mesh.Contact {
	return selectClosest(cands, ids, target, n, false)
}

// closestOfLiveFirst is closestOf ranking peers with failures after all others.
func closestOfLiveFirst(cands []*Peer, ids []mesh.NodeID, target [mesh.IDBytes]byte, n int) []mesh.Contact {
	return selectClosest(cands, ids, target, n, true)
}

func selectClosest(cands []*Peer, ids []mesh.NodeID, target [mesh.IDBytes]byte, n int, failedLast bool) []mesh.Contact {
	if n <= 0 {
		return nil
	}
	type scored struct {
		d      mesh.Distance
		failed bool
		c      *Peer
	}
	before := func(a, b scored) bool { return (!a.failed && b.failed) || (a.failed == b.failed && a.d.Less(b.d)) }
	var buf [16]scored // the usual n fits: no allocation for the working set
	best := buf[:0]
	if n > len(buf) {
		best = make([]scored, 0, min(n, len(cands)))
	}
	for k, id := range ids {
		x := scored{d: mesh.XOR(target, id)}
		if len(best) == n && !best[n-1].failed && !x.d.Less(best[n-1].d) {
			continue // not closer than the worst of a full list of live peers
		}
		x.c = cands[k]
		x.failed = failedLast && x.c.Fails > 0
		if len(best) == n && !before(x, best[n-1]) {
			continue
		}
		i := len(best)
		if i < n {
			best = append(best, scored{})
		} else {
			i = n - 1
		}
		for i > 0 && before(x, best[i-1]) {
			best[i] = best[i-1]
			i--
		}
		best[i] = x
	}
	out := make([]mesh.Contact, len(best))
	for i := range best {
		out[i] = best[i].c.Contact
	}
	return out
}

func lessID(a, b mesh.NodeID) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}
