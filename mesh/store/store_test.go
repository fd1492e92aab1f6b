package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"testing"

	"meshcomm/mesh"
)

const now = int64(1_700_000_000_000)

// rec builds a record of valid shape; the store does not check signatures.
func rec(res string, kind mesh.Kind, key string, version uint64) mesh.Record {
	return mesh.Record{
		Resource: mesh.ResourceIDFor(res), Kind: kind, Key: []byte(key),
		Value: []byte("v" + fmt.Sprint(version)), Version: version, Expiry: now + 60_000,
		Owner: []byte("owner"), Signature: []byte(fmt.Sprintf("sig-%s-%d", key, version)),
	}
}

// randomRecords returns n records with distinct identities drawn from r.
func randomRecords(r *rand.Rand, n int) []mesh.Record {
	out := make([]mesh.Record, n)
	for i := range out {
		out[i] = rec(fmt.Sprintf("sip:%d@team", r.Uint64()), mesh.Kind(1+r.IntN(7)), fmt.Sprint(i), 1+r.Uint64N(100))
		out[i].Deleted = r.IntN(5) == 0
	}
	return out
}

func filled(recs []mesh.Record) *Store {
	s := New()
	for _, r := range recs {
		s.Put(r, now)
	}
	return s
}

func TestPutKeepsNewest(t *testing.T) {
	v1, v2, v3 := rec("a", mesh.KindPresence, "k", 1), rec("a", mesh.KindPresence, "k", 2), rec("a", mesh.KindPresence, "k", 3)
	del2 := v2
	del2.Deleted = true
	tests := []struct {
		name    string
		puts    []mesh.Record
		changed []bool
		want    mesh.Record
	}{
		{"in order", []mesh.Record{v1, v2, v3}, []bool{true, true, true}, v3},
		{"older refused", []mesh.Record{v3, v1, v2}, []bool{true, false, false}, v3},
		{"same again refused", []mesh.Record{v2, v2}, []bool{true, false}, v2},
		{"deletion wins a tie", []mesh.Record{v2, del2, v2}, []bool{true, true, false}, del2},
		{"newer version beats a deletion", []mesh.Record{del2, v3}, []bool{true, true}, v3},
	}
	for _, tc := range tests {
		s := New()
		for i, r := range tc.puts {
			if got := s.Put(r, now); got != tc.changed[i] {
				t.Errorf("%s: Put #%d (v%d deleted=%v) = %v, want %v", tc.name, i, r.Version, r.Deleted, got, tc.changed[i])
			}
		}
		got, ok := s.Get(v1.RecordKey())
		if !ok || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: held v%d deleted=%v, want v%d deleted=%v", tc.name, got.Version, got.Deleted, tc.want.Version, tc.want.Deleted)
		}
		if s.Len() != 1 {
			t.Errorf("%s: Len = %d, want 1", tc.name, s.Len())
		}
		if byHash, ok := s.GetByHash(v1.RecordKey().Hash()); !ok || !reflect.DeepEqual(byHash, got) {
			t.Errorf("%s: GetByHash disagrees with Get", tc.name)
		}
	}
}

func TestPutRefusesExpired(t *testing.T) {
	s := New()
	r := rec("a", mesh.KindPresence, "k", 1)
	r.Expiry = now
	if s.Put(r, now) {
		t.Fatal("a record expiring now was stored")
	}
	r.Expiry = now + 1
	if !s.Put(r, now) {
		t.Fatal("a live record was refused")
	}
	newer := rec("a", mesh.KindPresence, "k", 2)
	newer.Expiry = now - 1
	if s.Put(newer, now) {
		t.Fatal("an expired newer version replaced a live one")
	}
	if got, _ := s.Get(r.RecordKey()); got.Version != 1 {
		t.Fatalf("held version %d, want 1", got.Version)
	}
}

func TestExpireRemovesInKeyOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	recs := randomRecords(r, 200)
	var want []mesh.RecordKey
	latest := int64(0)
	for i := range recs {
		recs[i].Expiry = now + 1 + r.Int64N(1000)
		if recs[i].Expiry <= now+500 {
			want = append(want, recs[i].RecordKey())
		} else if latest == 0 || recs[i].Expiry < latest {
			latest = recs[i].Expiry
		}
	}
	s := filled(recs)
	if got := s.Expire(now); got != nil {
		t.Fatalf("Expire before any expiry removed %d records", len(got))
	}
	gone := s.Expire(now + 500)
	sort.Slice(want, func(i, j int) bool {
		a, b := want[i], want[j]
		if c := bytes.Compare(a.Resource[:], b.Resource[:]); c != 0 {
			return c < 0
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return a.Key < b.Key
	})
	if !reflect.DeepEqual(gone, want) {
		t.Fatalf("Expire returned %d keys, want %d in (resource, kind, key) order", len(gone), len(want))
	}
	if s.Len() != len(recs)-len(want) {
		t.Fatalf("Len = %d after expiry, want %d", s.Len(), len(recs)-len(want))
	}
	for _, k := range gone {
		if _, ok := s.Get(k); ok {
			t.Fatalf("expired %v still held", k)
		}
		if _, ok := s.GetByHash(k.Hash()); ok {
			t.Fatalf("expired %v still found by hash", k)
		}
	}
	if s.NextExpiry() != latest {
		t.Fatalf("NextExpiry = %d, want the earliest remaining %d", s.NextExpiry(), latest)
	}
	if got := s.Expire(now + 500); got != nil {
		t.Fatalf("second Expire at the same instant removed %d", len(got))
	}
	if fp := s.Fingerprint([mesh.IDBytes]byte{}, 0); fp.Count != uint32(s.Len()) {
		t.Fatalf("root fingerprint counts %d, store holds %d", fp.Count, s.Len())
	}
	left := s.Len()
	if got := s.Expire(now + 2000); len(got) != left || s.Len() != 0 {
		t.Fatalf("Expire after every expiry removed %d of %d, left %d", len(got), left, s.Len())
	}
}

// Expiry is tracked through updates: a refresh pushes a record's expiry out.
func TestExpireAfterRefresh(t *testing.T) {
	s := New()
	r := rec("a", mesh.KindPresence, "k", 1)
	r.Expiry = now + 10
	s.Put(r, now)
	fresh := rec("a", mesh.KindPresence, "k", 2)
	fresh.Expiry = now + 100
	s.Put(fresh, now)
	if got := s.Expire(now + 10); len(got) != 0 {
		t.Fatalf("refreshed record expired with its old expiry")
	}
	if s.NextExpiry() != now+100 {
		t.Fatalf("NextExpiry = %d, want %d", s.NextExpiry(), now+100)
	}
	if got := s.Expire(now + 100); len(got) != 1 {
		t.Fatalf("refreshed record not expired at its new expiry")
	}
}

func TestFindSkipsDeletedAndExpired(t *testing.T) {
	s := New()
	live := rec("sip:101@team", mesh.KindRegistration, "n1", 1)
	deleted := rec("sip:101@team", mesh.KindRegistration, "n2", 1)
	deleted.Deleted = true
	soon := rec("sip:101@team", mesh.KindRegistration, "n3", 1)
	soon.Expiry = now + 5
	otherKind := rec("sip:101@team", mesh.KindPresence, "n1", 1)
	otherRes := rec("sip:102@team", mesh.KindRegistration, "n1", 1)
	for _, r := range []mesh.Record{live, deleted, soon, otherKind, otherRes} {
		s.Put(r, now)
	}
	res := mesh.ResourceIDFor("sip:101@team")
	keys := func(rs []mesh.Record) []string {
		var out []string
		for _, r := range rs {
			out = append(out, string(r.Key))
		}
		sort.Strings(out)
		return out
	}
	if got := keys(s.Find(res, mesh.KindRegistration, now)); !reflect.DeepEqual(got, []string{"n1", "n3"}) {
		t.Fatalf("Find = %v, want [n1 n3]", got)
	}
	if got := keys(s.Find(res, mesh.KindRegistration, now+5)); !reflect.DeepEqual(got, []string{"n1"}) {
		t.Fatalf("Find after n3's expiry = %v, want [n1]", got)
	}
	if got := s.Find(res, mesh.KindTalkgroup, now); len(got) != 0 {
		t.Fatalf("Find of an absent kind = %v", got)
	}
	if _, ok := s.Get(deleted.RecordKey()); !ok {
		t.Fatal("Get must return deletions (they are replicated)")
	}
}

func TestRemoveKeepsIndexesConsistent(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	// Many records at one (resource, kind), so removal from the middle of its list is exercised.
	var recs []mesh.Record
	for i := range 30 {
		recs = append(recs, rec("tg:engine-1", mesh.KindTalkgroup, fmt.Sprint("m", i), 1))
	}
	recs = append(recs, randomRecords(r, 70)...)
	s := filled(recs)
	_ = s.All() // build the sorted index before removing
	held := map[mesh.RecordKey]mesh.Record{}
	for _, x := range recs {
		held[x.RecordKey()] = x
	}
	for _, i := range r.Perm(len(recs))[:60] {
		k := recs[i].RecordKey()
		if !s.Remove(k) {
			t.Fatalf("Remove(%v) = false for a held record", k)
		}
		delete(held, k)
		if s.Remove(k) {
			t.Fatalf("second Remove(%v) = true", k)
		}
	}
	checkConsistent(t, s, held)
	// Removed records can come back.
	s.Put(recs[0], now)
	held[recs[0].RecordKey()] = recs[0]
	checkConsistent(t, s, held)
}

func TestAStoreThatShrinksRebuildsItsIndexesIntact(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	recs := randomRecords(r, 4*compactMin)
	s := filled(recs)
	_ = s.All()
	held := map[mesh.RecordKey]mesh.Record{}
	for _, x := range recs {
		held[x.RecordKey()] = x
	}
	for _, i := range r.Perm(len(recs))[:len(recs)-compactMin/2] { // down to an eighth: compacts
		s.Remove(recs[i].RecordKey())
		delete(held, recs[i].RecordKey())
	}
	if s.peak >= compactMin {
		t.Fatalf("peak = %d after shrinking from %d to %d: the maps were not rebuilt", s.peak, len(recs), len(held))
	}
	checkConsistent(t, s, held)
	s.Put(recs[0], now)
	held[recs[0].RecordKey()] = recs[0]
	checkConsistent(t, s, held)
}

// checkConsistent checks every index of s against the records it should hold.
func checkConsistent(t *testing.T, s *Store, held map[mesh.RecordKey]mesh.Record) {
	t.Helper()
	if s.Len() != len(held) {
		t.Fatalf("Len = %d, want %d", s.Len(), len(held))
	}
	all := s.All()
	if len(all) != len(held) {
		t.Fatalf("All has %d records, want %d", len(all), len(held))
	}
	for _, x := range all {
		if _, ok := held[x.RecordKey()]; !ok {
			t.Fatalf("All returns removed record %v", x.RecordKey())
		}
	}
	byRes := map[[mesh.IDBytes + 1]byte]int{}
	for k, x := range held {
		if got, ok := s.Get(k); !ok || !reflect.DeepEqual(got, x) {
			t.Fatalf("Get(%v) lost the record", k)
		}
		if got, ok := s.GetByHash(k.Hash()); !ok || !reflect.DeepEqual(got, x) {
			t.Fatalf("GetByHash(%v) lost the record", k)
		}
		var rk [mesh.IDBytes + 1]byte
		copy(rk[:], k.Resource[:])
		rk[mesh.IDBytes] = byte(k.Kind)
		if !x.Deleted {
			byRes[rk]++
		}
	}
	for rk, n := range byRes {
		if got := len(s.Find(mesh.ResourceID(rk[:mesh.IDBytes]), mesh.Kind(rk[mesh.IDBytes]), now)); got != n {
			t.Fatalf("Find returns %d records, want %d", got, n)
		}
	}
	if fp := s.Fingerprint([mesh.IDBytes]byte{}, 0); fp.Count != uint32(len(held)) || fp != recomputed(held, [mesh.IDBytes]byte{}, 0) {
		t.Fatalf("root fingerprint %+v disagrees with the records held", fp)
	}
}

func TestAllIsDeterministic(t *testing.T) {
	recs := randomRecords(rand.New(rand.NewPCG(3, 3)), 300)
	a := filled(recs)
	r := rand.New(rand.NewPCG(4, 4))
	shuffled := append([]mesh.Record{}, recs...)
	r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	b := filled(shuffled)
	all := a.All()
	if !reflect.DeepEqual(all, b.All()) {
		t.Fatal("All differs between stores filled in different orders")
	}
	for i := 1; i < len(all); i++ {
		hi, hj := all[i-1].RecordKey().Hash(), all[i].RecordKey().Hash()
		if bytes.Compare(hi[:], hj[:]) >= 0 {
			t.Fatalf("All is not ordered by identity hash at %d", i)
		}
	}
	if !reflect.DeepEqual(all, a.All()) {
		t.Fatal("All changed between calls")
	}
}

// recomputed is the fingerprint of a range computed from scratch, from its definition: the count
// of records whose identity hash has the prefix, and the XOR of SHA-256(hash | version | deleted)
// truncated to 128 bits. Two peers must agree on it bit for bit.
func recomputed(held map[mesh.RecordKey]mesh.Record, prefix [mesh.IDBytes]byte, bits uint8) mesh.Range {
	out := mesh.Range{Prefix: Canonical(prefix, bits), Bits: bits}
	for k, x := range held {
		h := k.Hash()
		if mesh.CommonPrefixLen(h, prefix) < int(bits) {
			continue
		}
		b := append(h[:], binary.BigEndian.AppendUint64(nil, x.Version)...)
		if x.Deleted {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
		sum := sha256.Sum256(b)
		out.Count++
		for i := range out.Fingerprint {
			out.Fingerprint[i] ^= sum[i]
		}
	}
	return out
}

func TestCanonical(t *testing.T) {
	ones := [mesh.IDBytes]byte{}
	for i := range ones {
		ones[i] = 0xff
	}
	tests := []struct {
		bits uint8
		want [mesh.IDBytes]byte
	}{
		{0, [mesh.IDBytes]byte{}},
		{1, [mesh.IDBytes]byte{0x80}},
		{5, [mesh.IDBytes]byte{0xf8}},
		{8, [mesh.IDBytes]byte{0xff}},
		{12, [mesh.IDBytes]byte{0xff, 0xf0}},
		{128, ones},
	}
	for _, tc := range tests {
		if got := Canonical(ones, tc.bits); got != tc.want {
			t.Errorf("Canonical(ones, %d) = %x, want %x", tc.bits, got, tc.want)
		}
	}
}

func TestChildrenCoverTheParentExactly(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	recs := randomRecords(r, 3000)
	s := filled(recs)
	held := map[mesh.RecordKey]mesh.Record{}
	for _, x := range recs {
		held[x.RecordKey()] = x
	}
	// Parents at every nibble-aligned and some unaligned depths, with junk past the prefix.
	for _, bits := range []uint8{0, 3, 4, 8, 9, 12, 64, 123, 124} {
		var prefix [mesh.IDBytes]byte
		if bits > 0 {
			prefix = recs[r.IntN(len(recs))].RecordKey().Hash() // a populated range
			prefix[15] ^= 0x0f                                  // bits past the prefix must not matter
		}
		parent := s.Fingerprint(prefix, bits)
		if want := recomputed(held, prefix, bits); parent != want {
			t.Fatalf("bits %d: Fingerprint %+v, recomputed %+v", bits, parent, want)
		}
		parentItems := s.Items(prefix, bits)
		if len(parentItems) != int(parent.Count) {
			t.Fatalf("bits %d: %d items, fingerprint counts %d", bits, len(parentItems), parent.Count)
		}
		children := Children(prefix, bits)
		if len(children) != 16 {
			t.Fatalf("bits %d: %d children, want 16", bits, len(children))
		}
		seen := map[[mesh.IDBytes]byte]bool{}
		var xor [mesh.IDBytes]byte
		var count uint32
		var childItems []mesh.ItemVersion
		for _, c := range children {
			if Canonical(c, bits+4) != c {
				t.Fatalf("bits %d: child %x is not canonical", bits, c)
			}
			if mesh.CommonPrefixLen(c, parent.Prefix) < int(bits) {
				t.Fatalf("bits %d: child %x lies outside the parent %x", bits, c, parent.Prefix)
			}
			if seen[c] {
				t.Fatalf("bits %d: child %x twice", bits, c)
			}
			seen[c] = true
			fp := s.Fingerprint(c, bits+4)
			count += fp.Count
			for i := range xor {
				xor[i] ^= fp.Fingerprint[i]
			}
			items := s.Items(c, bits+4)
			for _, it := range items {
				if mesh.CommonPrefixLen(it.Hash, c) < int(bits)+4 {
					t.Fatalf("bits %d: item %x listed in child %x", bits, it.Hash, c)
				}
			}
			childItems = append(childItems, items...)
		}
		if count != parent.Count || xor != parent.Fingerprint {
			t.Fatalf("bits %d: children sum to %d/%x, parent %d/%x", bits, count, xor, parent.Count, parent.Fingerprint)
		}
		if !reflect.DeepEqual(childItems, parentItems) {
			t.Fatalf("bits %d: children list other items than the parent", bits)
		}
		if bits > 0 && parent.Count == 0 {
			t.Fatalf("bits %d: range chosen around a record is empty", bits)
		}
	}
}

func TestFingerprintTracksVersionsAndDeletion(t *testing.T) {
	s := New()
	root := func() mesh.Range { return s.Fingerprint([mesh.IDBytes]byte{}, 0) }
	empty := root()
	if empty.Count != 0 || empty.Fingerprint != ([mesh.IDBytes]byte{}) {
		t.Fatalf("empty store fingerprint %+v", empty)
	}
	v1 := rec("a", mesh.KindPresence, "k", 1)
	s.Put(v1, now)
	f1 := root()
	v2 := rec("a", mesh.KindPresence, "k", 2)
	s.Put(v2, now)
	f2 := root()
	del := v2
	del.Deleted = true
	s.Put(del, now)
	f3 := root()
	if f1.Count != 1 || f2.Count != 1 || f3.Count != 1 {
		t.Fatalf("counts %d %d %d, want 1 1 1", f1.Count, f2.Count, f3.Count)
	}
	if f1 == f2 || f2 == f3 || f1 == f3 {
		t.Fatal("fingerprint does not change with version or deletion")
	}
	// Same versions, different content, same fingerprint: only identity and version matter.
	other := New()
	del.Value, del.Signature = []byte("other"), []byte("other")
	other.Put(del, now)
	if other.Fingerprint([mesh.IDBytes]byte{}, 0) != f3 {
		t.Fatal("fingerprint depends on more than identity, version and deletion")
	}
	s.Remove(v1.RecordKey())
	if root() != empty {
		t.Fatal("fingerprint of an emptied store is not the empty fingerprint")
	}
	items := s.Items([mesh.IDBytes]byte{}, 0)
	if len(items) != 0 {
		t.Fatalf("emptied store lists %d items", len(items))
	}
	s.Put(del, now)
	if it := s.Items([mesh.IDBytes]byte{}, 0); len(it) != 1 || it[0] != (mesh.ItemVersion{Hash: v1.RecordKey().Hash(), Version: 2, Deleted: true}) {
		t.Fatalf("Items = %+v", it)
	}
}
