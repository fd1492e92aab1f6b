package structured

import (
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"testing"
	"time"

	"meshcomm/mesh"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func randomNodeID(r *rand.Rand) (id mesh.NodeID) {
	for i := range id {
		id[i] = byte(r.Uint32())
	}
	return id
}

// idIn returns a random identifier whose first bits bits are prefix.
func idIn(r *rand.Rand, prefix uint32, bits int) mesh.NodeID {
	id := randomNodeID(r)
	for i := 0; i < bits; i++ {
		bit := prefix >> (bits - 1 - i) & 1
		mask := byte(0x80 >> (i % 8))
		if bit == 1 {
			id[i/8] |= mask
		} else {
			id[i/8] &^= mask
		}
	}
	return id
}

func contactOf(id mesh.NodeID) mesh.Contact { return mesh.Contact{ID: id, Addr: "addr-" + id.Short()} }

// estimateFor returns the mesh size whose ideal slice width is bits (the inverse of IdealBits).
func estimateFor(bits float64, k int) int { return int(math.Round(float64(k) * math.Exp2(2*bits))) }

// tableWithBits returns an empty table for self whose slices are bits wide.
func tableWithBits(t *testing.T, self mesh.NodeID, k, bits int) *Table {
	t.Helper()
	tb := NewTable(self, k)
	if bits > 0 && !tb.Retune(estimateFor(float64(bits), k)) {
		t.Fatalf("Retune to %d bits did nothing", bits)
	}
	if tb.Bits() != bits || tb.Slices() != 1<<bits {
		t.Fatalf("table has %d bits, %d slices; want %d bits", tb.Bits(), tb.Slices(), bits)
	}
	return tb
}

func TestIdealBitsMinimisesTableSize(t *testing.T) {
	for _, k := range []int{2, 4, 8} {
		for _, n := range []int{50, 1000, 10_000, 100_000} {
			size := func(b float64) float64 { return math.Exp2(b)*float64(k) + float64(n)/math.Exp2(b) }
			b := IdealBits(n, k)
			if size(b-0.05) < size(b) || size(b+0.05) < size(b) {
				t.Errorf("IdealBits(%d, %d) = %.3f does not minimise 2^b*k + N/2^b", n, k, b)
			}
		}
		if IdealBits(k, k) != 0 || IdealBits(1, k) != 0 {
			t.Errorf("k=%d: a mesh no bigger than k must have one slice", k)
		}
	}
}

func TestTableStartsWithOneSlice(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	self := randomNodeID(r)
	tb := NewTable(self, 4)
	if tb.Bits() != 0 || tb.Slices() != 1 {
		t.Fatalf("new table: %d bits, %d slices", tb.Bits(), tb.Slices())
	}
	for range 10 {
		if !tb.Add(t0, contactOf(randomNodeID(r))) {
			t.Fatal("with one slice every new peer is near")
		}
	}
	if tb.Add(t0, contactOf(self)) || tb.Add(t0, mesh.Contact{}) || tb.Knows(self) || tb.Knows(mesh.NodeID{}) {
		t.Fatal("self or the zero identifier entered the table")
	}
	if tb.Len() != 10 || tb.NearCount() != 10 || len(tb.Far()) != 0 || tb.Estimate() != 11 {
		t.Fatalf("Len %d, NearCount %d, Far %d, Estimate %d; want 10, 10, 0, 11",
			tb.Len(), tb.NearCount(), len(tb.Far()), tb.Estimate())
	}
}

func TestTableAddRefreshes(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	tb := NewTable(randomNodeID(r), 4)
	c := contactOf(randomNodeID(r))
	if !tb.Add(t0, c) {
		t.Fatal("first Add not new")
	}
	tb.Failed(c.ID, 5)
	if tb.Add(t0.Add(time.Second), mesh.Contact{ID: c.ID}) {
		t.Fatal("refresh reported as new")
	}
	p, ok := tb.Get(c.ID)
	if !ok || p.Fails != 0 || !p.LastHeard.Equal(t0.Add(time.Second)) || p.Contact.Addr != c.Addr {
		t.Fatalf("after refresh without address: %+v; want fails reset, heard now, address kept", p)
	}
	tb.Add(t0, mesh.Contact{ID: c.ID, Addr: "new"})
	if p, _ := tb.Get(c.ID); p.Contact.Addr != "new" {
		t.Fatalf("address not updated: %q", p.Contact.Addr)
	}
	if tb.Len() != 1 {
		t.Fatalf("Len = %d after refreshes", tb.Len())
	}
}

func TestTableNearAndFarPlacement(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	const k, bits = 4, 3
	self := idIn(r, 0b101, bits)
	tb := tableWithBits(t, self, k, bits)
	// The near slice is unbounded.
	for range 50 {
		c := contactOf(idIn(r, 0b101, bits))
		if !tb.Add(t0, c) || !tb.InMySlice(c.ID) {
			t.Fatal("peer of the own slice not added as near")
		}
	}
	// A far slice keeps the first k peers.
	var first []mesh.Contact
	for i := range 10 {
		c := contactOf(idIn(r, 0b010, bits))
		if tb.Add(t0, c) {
			t.Fatal("far peer reported as near")
		}
		if got := tb.Knows(c.ID); got != (i < k) {
			t.Fatalf("far peer %d: Knows = %v, want %v", i, got, i < k)
		}
		if i < k {
			first = append(first, c)
		}
	}
	if got := tb.FarSlice(0b010); !reflect.DeepEqual(got, first) {
		t.Fatalf("FarSlice = %v, want the first %d peers %v", got, k, first)
	}
	if tb.SliceOf(first[0].ID) != 0b010 || tb.SliceOf(self) != 0b101 {
		t.Fatal("SliceOf is not the prefix")
	}
	if tb.NearCount() != 50 || tb.Len() != 50+k || len(tb.Near()) != 50 || len(tb.Far()) != k {
		t.Fatalf("NearCount %d, Len %d, Near %d, Far %d", tb.NearCount(), tb.Len(), len(tb.Near()), len(tb.Far()))
	}
	if tb.Estimate() != 51<<bits {
		t.Fatalf("Estimate = %d, want (near+self) << bits = %d", tb.Estimate(), 51<<bits)
	}
	near := tb.Near()
	for i := 1; i < len(near); i++ {
		if !lessID(near[i-1].ID, near[i].ID) {
			t.Fatal("Near is not in identifier order")
		}
	}
	if tb.FarSlice(1<<bits) != nil {
		t.Fatal("FarSlice past the last slice returned entries")
	}
}

func TestTableReplacesFailedFarEntry(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	const k, bits, maxFails = 3, 2, 3
	tb := tableWithBits(t, idIn(r, 0, bits), k, bits)
	var full []mesh.NodeID
	for range k {
		c := contactOf(idIn(r, 3, bits))
		tb.Add(t0, c)
		full = append(full, c.ID)
	}
	// A full slice of live peers refuses newcomers.
	late := contactOf(idIn(r, 3, bits))
	tb.Add(t0, late)
	if tb.Knows(late.ID) {
		t.Fatal("full far slice took a newcomer over live peers")
	}
	// Once one has failed (not yet dropped), the newcomer replaces it.
	if tb.Failed(full[1], maxFails) {
		t.Fatal("peer dropped after one failure")
	}
	tb.Add(t0, late)
	if !tb.Knows(late.ID) || tb.Knows(full[1]) || len(tb.FarSlice(3)) != k {
		t.Fatalf("failed entry not replaced: slice %v", tb.FarSlice(3))
	}
	// A peer heard again is live again and is not replaced.
	tb.Failed(full[0], maxFails)
	tb.Add(t0, contactOf(full[0]))
	another := contactOf(idIn(r, 3, bits))
	tb.Add(t0, another)
	if tb.Knows(another.ID) || !tb.Knows(full[0]) {
		t.Fatal("a refreshed peer was replaced")
	}
}

func TestTableReplacesTheStalestFarEntryWithAPeerHeardNow(t *testing.T) {
	r := rand.New(rand.NewPCG(12, 12))
	const k, bits = 3, 2
	tb := tableWithBits(t, idIn(r, 0, bits), k, bits)
	var full []mesh.NodeID
	for i := range k {
		c := contactOf(idIn(r, 2, bits))
		tb.Add(t0.Add(time.Duration(i)*time.Second), c) // full[0] heard first
		full = append(full, c.ID)
	}
	// Within FarStale every entry counts as live: a newcomer is refused.
	late := contactOf(idIn(r, 2, bits))
	tb.Add(t0.Add(FarStale), late)
	if tb.Knows(late.ID) {
		t.Fatal("a far entry heard within FarStale was replaced")
	}
	// Past it, the newcomer (live: it has just been heard) replaces the one heard longest ago.
	tb.Add(t0.Add(FarStale+2*time.Second), contactOf(full[2])) // full[2] heard again
	tb.Add(t0.Add(FarStale+2*time.Second), late)
	if !tb.Knows(late.ID) || tb.Knows(full[0]) || !tb.Knows(full[1]) || !tb.Knows(full[2]) {
		t.Fatalf("want the stalest entry replaced: slice %v", tb.FarSlice(2))
	}
}

func TestTableFailedAndRemove(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	const k, bits, maxFails = 4, 2, 2
	self := idIn(r, 1, bits)
	tb := tableWithBits(t, self, k, bits)
	near, far := contactOf(idIn(r, 1, bits)), contactOf(idIn(r, 2, bits))
	tb.Add(t0, near)
	tb.Add(t0, far)
	for _, id := range []mesh.NodeID{near.ID, far.ID} {
		if tb.Failed(id, maxFails) {
			t.Fatal("dropped before maxFails")
		}
		if p, _ := tb.Get(id); p.Fails != 1 {
			t.Fatalf("Fails = %d, want 1", p.Fails)
		}
		if !tb.Failed(id, maxFails) || tb.Knows(id) {
			t.Fatal("not dropped at maxFails")
		}
		if tb.Failed(id, maxFails) {
			t.Fatal("Failed of an absent peer reported a drop")
		}
	}
	if tb.Len() != 0 {
		t.Fatalf("Len = %d", tb.Len())
	}
	tb.Add(t0, near)
	tb.Add(t0, far)
	if !tb.Remove(near.ID) || !tb.Remove(far.ID) || tb.Remove(far.ID) || tb.Remove(self) {
		t.Fatal("Remove reports wrongly")
	}
	if tb.Remove(idIn(r, 1, bits)) || tb.Remove(idIn(r, 3, bits)) {
		t.Fatal("Remove of unknown peers reported success")
	}
	// Removal from a full far slice frees a place.
	var ids []mesh.NodeID
	for range k + 1 {
		c := contactOf(idIn(r, 2, bits))
		tb.Add(t0, c)
		ids = append(ids, c.ID)
	}
	tb.Remove(ids[0])
	tb.Add(t0, contactOf(ids[k]))
	if !tb.Knows(ids[k]) {
		t.Fatal("removal did not free a far place")
	}
}

func TestRetuneHysteresis(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 6))
	const k = 4
	tb := tableWithBits(t, randomNodeID(r), k, 5)
	for _, tc := range []struct {
		ideal   float64
		changes bool
		want    int
	}{
		{5.7, false, 5}, {4.3, false, 5}, {5.0, false, 5},
		{5.8, true, 6}, {5.3, false, 6}, // now at 6: 5.3 is within 0.75
		{5.2, true, 5},
		{8.4, true, 8}, // a big jump goes straight to the rounded ideal
		{0, true, 0},
		{MaxSliceBits + 2, true, MaxSliceBits}, // bounded
	} {
		n := estimateFor(tc.ideal, k)
		if got := tb.Retune(n); got != tc.changes || tb.Bits() != tc.want {
			t.Fatalf("Retune(%d) (ideal %.2f): changed %v, bits %d; want %v, %d", n, IdealBits(n, k), got, tb.Bits(), tc.changes, tc.want)
		}
		if tb.Slices() != 1<<tb.Bits() {
			t.Fatalf("%d slices at %d bits", tb.Slices(), tb.Bits())
		}
	}
}

func TestRetuneRebucketsWithoutLosingNearPeers(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	const k = 4
	self := randomNodeID(r)
	tb := NewTable(self, k)
	var all []mesh.NodeID
	for range 2000 {
		id := randomNodeID(r)
		all = append(all, id)
		tb.Add(t0, contactOf(id))
	}
	check := func(bits int, wantNear map[mesh.NodeID]bool) {
		t.Helper()
		if tb.Bits() != bits {
			t.Fatalf("bits %d, want %d", tb.Bits(), bits)
		}
		for id := range wantNear {
			if !tb.InMySlice(id) {
				t.Fatalf("bits %d: expected near peer %s is outside the slice", bits, id.Short())
			}
			if _, ok := tb.Get(id); !ok {
				t.Fatalf("bits %d: near peer %s lost in re-bucketing", bits, id.Short())
			}
		}
		if tb.NearCount() != len(wantNear) {
			t.Fatalf("bits %d: %d near, want %d", bits, tb.NearCount(), len(wantNear))
		}
		for s := range uint32(tb.Slices()) {
			if s == tb.SliceOf(self) {
				continue
			}
			for _, c := range tb.FarSlice(s) {
				if tb.SliceOf(c.ID) != s {
					t.Fatalf("bits %d: %s filed in slice %d, belongs to %d", bits, c.ID.Short(), s, tb.SliceOf(c.ID))
				}
			}
			if n := len(tb.FarSlice(s)); n != k {
				t.Fatalf("bits %d: far slice %d holds %d, want k=%d (2000 peers fill every slice)", bits, s, n, k)
			}
		}
		if tb.Estimate() != (tb.NearCount()+1)<<bits {
			t.Fatalf("Estimate %d", tb.Estimate())
		}
		if e := tb.Estimate(); e < 1000 || e > 4000 {
			t.Fatalf("bits %d: Estimate %d far from the true 2001", bits, e)
		}
	}
	inSlice := func(bits int) map[mesh.NodeID]bool {
		out := map[mesh.NodeID]bool{}
		for _, id := range all {
			if mesh.Prefix(id, bits) == mesh.Prefix(self, bits) {
				out[id] = true
			}
		}
		return out
	}
	// Going from 0 to 3 bits narrows the own slice: every peer inside it stays near (all were
	// near before), the rest fill the far slices up to k.
	tb.Retune(estimateFor(3, k))
	check(3, inSlice(3))
	// Going back to 1 bit widens the own slice: it keeps the old near peers and takes in the far
	// entries of the three other 3-bit slices that share its first bit.
	before := map[mesh.NodeID]bool{}
	for _, c := range tb.Near() {
		before[c.ID] = true
	}
	for _, c := range tb.Far() {
		if mesh.Prefix(c.ID, 1) == mesh.Prefix(self, 1) {
			before[c.ID] = true
		}
	}
	tb.Retune(estimateFor(1, k))
	if tb.Bits() != 1 {
		t.Fatalf("bits %d, want 1", tb.Bits())
	}
	for id := range before {
		if !tb.InMySlice(id) || !tb.Knows(id) {
			t.Fatalf("peer %s of the new own slice lost when widening the slice", id.Short())
		}
	}
	if tb.NearCount() != len(before) {
		t.Fatalf("%d near after widening, want %d", tb.NearCount(), len(before))
	}
}

func TestClosest(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	const k, bits = 4, 3
	self := idIn(r, 0b000, bits)
	tb := tableWithBits(t, self, k, bits)
	for range 40 {
		tb.Add(t0, contactOf(idIn(r, 0b000, bits)))
	}
	for s := uint32(1); s < 6; s++ { // slices 6 and 7 stay empty
		for range 6 {
			tb.Add(t0, contactOf(idIn(r, s, bits)))
		}
	}
	tb.Add(t0, contactOf(idIn(r, 6, bits))) // slice 6 holds one peer
	everyone := append(tb.Near(), tb.Far()...)
	bruteForce := func(cands []mesh.Contact, target mesh.NodeID, n int) []mesh.Contact {
		cs := append([]mesh.Contact{}, cands...)
		sort.Slice(cs, func(i, j int) bool { return mesh.XOR(target, cs[i].ID).Less(mesh.XOR(target, cs[j].ID)) })
		return cs[:min(n, len(cs))]
	}
	for _, tc := range []struct {
		name  string
		slice uint32
		n     int
		from  []mesh.Contact
	}{
		{"own slice", 0, 8, tb.Near()},
		{"own slice, more than it holds", 0, 100, tb.Near()},
		{"far slice", 2, k, tb.FarSlice(2)},
		{"far slice, fewer than wanted: only the slice's own peers", 2, k + 1, tb.FarSlice(2)},
		{"far slice with one peer", 6, 3, tb.FarSlice(6)},
		{"empty far slice", 7, 5, everyone},
	} {
		for range 20 {
			target := idIn(r, tc.slice, bits)
			got := tb.Closest(target, tc.n)
			if want := bruteForce(tc.from, target, tc.n); !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: Closest = %v\nwant %v", tc.name, got, want)
			}
		}
	}
	// A non-empty far slice answers with its own peers only.
	target := idIn(r, 6, bits)
	if got := tb.Closest(target, 3); tb.SliceOf(got[0].ID) != 6 {
		t.Fatalf("the one peer of the target's slice is not first: %v", got)
	}
}

func TestClosestWithSelf(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	const k, bits = 4, 2
	self := idIn(r, 1, bits)
	tb := tableWithBits(t, self, k, bits)
	for range 30 {
		tb.Add(t0, contactOf(idIn(r, 1, bits)))
	}
	for range 4 {
		tb.Add(t0, contactOf(idIn(r, 2, bits)))
	}
	// Targeting self: self comes first, then the near peers by distance; far peers never.
	got := tb.ClosestWithSelf(self, 5)
	if len(got) != 5 || got[0].ID != self {
		t.Fatalf("ClosestWithSelf(self) = %v", got)
	}
	sawSelf := 0
	for range 50 {
		target := idIn(r, 1, bits)
		got := tb.ClosestWithSelf(target, 4)
		cands := append(tb.Near(), mesh.Contact{ID: self})
		sort.Slice(cands, func(i, j int) bool { return mesh.XOR(target, cands[i].ID).Less(mesh.XOR(target, cands[j].ID)) })
		if !reflect.DeepEqual(got, cands[:4]) {
			t.Fatalf("ClosestWithSelf = %v, want %v", got, cands[:4])
		}
		for _, c := range got {
			if c.ID == self {
				sawSelf++
			}
		}
	}
	if sawSelf == 0 {
		t.Fatal("self never among the 4 closest of 31 in 50 draws: not included")
	}
	if n := len(tb.ClosestWithSelf(idIn(r, 2, bits), 100)); n != 31 {
		t.Fatalf("ClosestWithSelf with a large n returned %d, want near + self = 31", n)
	}
}

func TestClosestWithSelfMatchesBruteForceOnLargeSlices(t *testing.T) {
	r := rand.New(rand.NewPCG(10, 10))
	self := idIn(r, 0, 0)
	tb := NewTable(self, 4)
	var ids []mesh.NodeID
	for range 600 {
		id := idIn(r, 0, 0)
		ids = append(ids, id)
		tb.Add(t0, contactOf(id))
	}
	all := append(tb.Near(), mesh.Contact{ID: self})
	for i := range 400 {
		target := idIn(r, 0, 0)
		if i%2 == 0 { // targets that share a long prefix with a peer
			target = ids[r.IntN(len(ids))]
			target[15] ^= byte(r.IntN(256))
			if i%4 == 0 {
				target[2] ^= 1
			}
		}
		n := 1 + r.IntN(12)
		cands := append([]mesh.Contact{}, all...)
		sort.Slice(cands, func(i, j int) bool { return mesh.XOR(target, cands[i].ID).Less(mesh.XOR(target, cands[j].ID)) })
		if got := tb.ClosestWithSelf(target, n); !reflect.DeepEqual(got, cands[:n]) {
			t.Fatalf("ClosestWithSelf(%x, %d) = %v, want %v", target, n, got, cands[:n])
		}
	}
}

func TestAmongClosestWithSelfAgreesWithClosestWithSelf(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 11))
	self := idIn(r, 0, 0)
	tb := NewTable(self, 4)
	ids := []mesh.NodeID{self}
	for range 300 {
		id := idIn(r, 0, 0)
		ids = append(ids, id)
		tb.Add(t0, contactOf(id))
	}
	outsider := idIn(r, 0, 0)
	for range 300 {
		target := idIn(r, 0, 0)
		n := 1 + r.IntN(8)
		want := tb.ClosestWithSelf(target, n)
		for _, id := range append(ids[:0:0], ids[r.IntN(len(ids))], want[r.IntN(len(want))].ID, self) {
			if got := tb.AmongClosestWithSelf(target, n, id); got != containsContact(want, id) {
				t.Fatalf("AmongClosestWithSelf(%x, %d, %x) = %v, ClosestWithSelf = %v", target, n, id, got, want)
			}
		}
		if tb.AmongClosestWithSelf(target, n, outsider) {
			t.Fatal("a peer the table does not hold is among the closest")
		}
	}
}

func containsContact(cs []mesh.Contact, id mesh.NodeID) bool {
	for _, c := range cs {
		if c.ID == id {
			return true
		}
	}
	return false
}

func TestNearAtFollowsNearOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 13))
	tb := NewTable(idIn(r, 0, 0), 4)
	for range 50 {
		tb.Add(t0, contactOf(idIn(r, 0, 0)))
	}
	near := tb.Near()
	for i, c := range near {
		if got := tb.NearAt(i); got != c {
			t.Fatalf("NearAt(%d) = %v, Near()[%d] = %v", i, got, i, c)
		}
	}
	if got := tb.NearAt(len(near)); got != (mesh.Contact{}) {
		t.Fatalf("NearAt past the end = %v", got)
	}
}

// TestIdentifierIndexesFollowTheTable drives a table through random adds, failures, removals,
// replacements of stale far peers and retunes, and checks after every step that the
// identifier arrays searches use say exactly what the peer lists say.
func TestIdentifierIndexesFollowTheTable(t *testing.T) {
	rnd := rand.New(rand.NewPCG(8, 8))
	self := randomNodeID(rnd)
	tb := NewTable(self, 3)
	now := time.Unix(1000, 0)
	var known []mesh.NodeID
	for step := range 4000 {
		now = now.Add(time.Duration(rnd.IntN(20)) * time.Second)
		switch op := rnd.IntN(10); {
		case op < 6 || len(known) == 0:
			id := randomNodeID(rnd)
			tb.Add(now, mesh.Contact{ID: id})
			known = append(known, id)
		case op < 8:
			tb.Failed(known[rnd.IntN(len(known))], 2)
		case op < 9:
			tb.Remove(known[rnd.IntN(len(known))])
		default:
			tb.Retune(rnd.IntN(2000))
		}
		if len(tb.ids) != len(tb.sorted) || len(tb.farIDs) != len(tb.far) {
			t.Fatalf("step %d: %d ids for %d sorted peers, %d far id slices for %d far slices",
				step, len(tb.ids), len(tb.sorted), len(tb.farIDs), len(tb.far))
		}
		for i, p := range tb.sorted {
			if tb.ids[i] != p.Contact.ID {
				t.Fatalf("step %d: ids[%d] = %s, sorted peer is %s", step, i, tb.ids[i].Short(), p.Contact.ID.Short())
			}
		}
		for s := range tb.far {
			if len(tb.farIDs[s]) != len(tb.far[s]) {
				t.Fatalf("step %d: slice %d has %d ids for %d peers", step, s, len(tb.farIDs[s]), len(tb.far[s]))
			}
			for i, p := range tb.far[s] {
				if tb.farIDs[s][i] != p.Contact.ID {
					t.Fatalf("step %d: farIDs[%d][%d] = %s, peer is %s", step, s, i, tb.farIDs[s][i].Short(), p.Contact.ID.Short())
				}
			}
		}
	}
}

func TestSharedPrefixLenIsTheWidthTheContactsShare(t *testing.T) {
	id := func(b0, b1 byte) mesh.Contact { return mesh.Contact{ID: mesh.NodeID{b0, b1}} }
	cases := []struct {
		cs   []mesh.Contact
		want int
	}{
		{nil, 0},
		{[]mesh.Contact{id(0xA0, 0)}, mesh.IDBytes * 8},
		{[]mesh.Contact{id(0xA0, 0), id(0xB0, 0)}, 3},              // 1010 vs 1011
		{[]mesh.Contact{id(0xA0, 0), id(0xA0, 1), id(0xA8, 0)}, 4}, // the widest difference counts
		{[]mesh.Contact{id(0x00, 0), id(0x80, 0)}, 0},
	}
	for _, c := range cases {
		if got := SharedPrefixLen(c.cs); got != c.want {
			t.Errorf("SharedPrefixLen(%v) = %d, want %d", c.cs, got, c.want)
		}
	}
}

func TestNarrowOnlyNarrowsAndRebuckets(t *testing.T) {
	rnd := rand.New(rand.NewPCG(5, 5))
	self := randomNodeID(rnd)
	tb := NewTable(self, 4)
	now := time.Unix(0, 0)
	for range 400 {
		tb.Add(now, mesh.Contact{ID: randomNodeID(rnd)})
	}
	if tb.Bits() != 0 || tb.NearCount() != 400 {
		t.Fatalf("a fresh table: bits %d, near %d", tb.Bits(), tb.NearCount())
	}
	if !tb.Narrow(3) || tb.Bits() != 3 {
		t.Fatalf("Narrow(3) left %d bits", tb.Bits())
	}
	for _, c := range tb.Near() {
		if mesh.Prefix(c.ID, 3) != mesh.Prefix(self, 3) {
			t.Fatalf("after narrowing, %x is near but outside the slice", c.ID[:2])
		}
	}
	if tb.NearCount() < 25 || tb.NearCount() > 75 {
		t.Fatalf("after narrowing to an eighth, %d of 400 near", tb.NearCount())
	}
	if tb.Narrow(2) || tb.Bits() != 3 {
		t.Fatalf("Narrow(2) widened the slices to %d bits", tb.Bits())
	}
}

func TestClosestNamesFailedPeersLast(t *testing.T) {
	rnd := rand.New(rand.NewPCG(8, 8))
	self := randomNodeID(rnd)
	tb := tableWithBits(t, self, 4, 2)
	now := time.Unix(0, 0)
	for range 300 {
		tb.Add(now, mesh.Contact{ID: randomNodeID(rnd)})
	}
	ids := func(cs []mesh.Contact) []mesh.NodeID { return contactIDs(cs) }

	// In this node's slice: the three closest fail (a partition put them out of reach). The
	// next eight are named instead; the slice has plenty of live peers, so no failed one is.
	target := idIn(rnd, mesh.Prefix(self, 2), 2)
	before := tb.Closest(target, 11)
	for _, c := range before[:3] {
		tb.Failed(c.ID, 10)
	}
	if got, want := ids(tb.Closest(target, 8)), ids(before[3:11]); !slices.Equal(got, want) {
		t.Fatalf("in-slice target, three closest failed: got %x, want the next eight %x", got, want)
	}
	// Hearing from them again puts them back.
	for _, c := range before[:3] {
		tb.Add(now, c)
	}
	if got, want := ids(tb.Closest(target, 8)), ids(before[:8]); !slices.Equal(got, want) {
		t.Fatalf("peers heard again are still ranked as failed: got %x, want %x", got, want)
	}

	// A far slice holds k peers: a failed one is still named, after the live ones.
	far := idIn(rnd, mesh.Prefix(self, 2)^1, 2)
	fb := tb.Closest(far, 8)
	if len(fb) != 4 {
		t.Fatalf("far slice: %d peers named, want its 4", len(fb))
	}
	tb.Failed(fb[0].ID, 10)
	if got, want := ids(tb.Closest(far, 8)), ids(append(slices.Clone(fb[1:]), fb[0])); !slices.Equal(got, want) {
		t.Fatalf("far slice, closest failed: got %x, want %x", got, want)
	}
}
