package unstructured

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"meshcomm/mesh"
	"meshcomm/mesh/store"
)

const nowMs = int64(1_700_000_000_000)

// recordGen builds records of valid shape and realistic size cheaply: the store does not check
// signatures, so owner and signature are random bytes of the sizes an ed25519 credential has.
type recordGen struct {
	r *rand.Rand
	n int
}

func newRecordGen(seed uint64) *recordGen {
	return &recordGen{r: rand.New(rand.NewPCG(seed, seed^0x5eed))}
}

func (g *recordGen) bytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(g.r.Uint32())
	}
	return b
}

// record returns a new record with a fresh identity.
func (g *recordGen) record() mesh.Record {
	g.n++
	var res mesh.ResourceID
	copy(res[:], g.bytes(mesh.IDBytes))
	return mesh.Record{
		Resource:  res,
		Kind:      mesh.KindRegistration,
		Key:       g.bytes(mesh.IDBytes),
		Value:     []byte(fmt.Sprintf("sip:%d@10.0.%d.%d:5060;transport=quic", g.n, g.n/250%250, g.n%250)),
		Version:   1_700_000_000_000 + uint64(g.r.IntN(1_000_000)),
		Expiry:    nowMs + 600_000,
		Owner:     g.bytes(3 + 32 + 1 + 12 + 32 + 64),
		Signature: g.bytes(64),
	}
}

// newer returns a later version of r, signed differently; deleted makes it a tombstone.
func (g *recordGen) newer(r mesh.Record, deleted bool) mesh.Record {
	r.Version += 1 + uint64(g.r.IntN(1000))
	r.Deleted = deleted
	r.Value = append([]byte{}, r.Value...)
	r.Value = append(r.Value, '+')
	r.Signature = g.bytes(64)
	return r
}

func fill(recs ...[]mesh.Record) *store.Store {
	st := store.New()
	for _, rs := range recs {
		for _, r := range rs {
			st.Put(r, nowMs)
		}
	}
	return st
}

// syncStats describes one reconciliation.
type syncStats struct {
	messages int
	bytes    int            // sum of the encoded sizes of every message sent
	depth    int            // longest chain of messages, each answering the previous one
	byType   map[string]int // messages by Go type
}

// reconcile runs one reconciliation that a starts with b, passing every message through the
// wire codec and applying Store messages with store.Put, until neither side has anything to
// send. A message the codec refuses is a test failure: the real transport could not send it.
func reconcile(t *testing.T, a, b *store.Store) syncStats {
	t.Helper()
	type envelope struct {
		to    int // 0: a, 1: b
		msg   mesh.Message
		depth int
	}
	stores := [2]*store.Store{a, b}
	queue := []envelope{{to: 1, msg: StartSync(a, 7), depth: 1}}
	st := syncStats{byType: map[string]int{}}
	for len(queue) > 0 {
		e := queue[0]
		queue = queue[1:]
		st.messages++
		st.bytes += mesh.EncodedSize(e.msg)
		st.byType[fmt.Sprintf("%T", e.msg)]++
		st.depth = max(st.depth, e.depth)
		if st.messages > 1_000_000 {
			t.Fatal("reconciliation does not terminate")
		}
		wire, err := mesh.Encode(e.msg)
		if err != nil {
			t.Errorf("message %d (%T, depth %d) cannot be sent: %v", st.messages, e.msg, e.depth, err)
			continue
		}
		msg, err := mesh.Decode(wire)
		if err != nil {
			t.Fatalf("message %d (%T) does not decode: %v", st.messages, e.msg, err)
		}
		here := stores[e.to]
		var replies []mesh.Message
		switch m := msg.(type) {
		case *mesh.SyncRanges:
			if m.Session != 7 {
				t.Fatalf("session %d, want 7", m.Session)
			}
			replies = OnSyncRanges(here, m)
		case *mesh.SyncItems:
			replies = OnSyncItems(here, m)
		case *mesh.SyncWant:
			replies = OnSyncWant(here, m)
		case *mesh.Store:
			for _, r := range m.Records {
				here.Put(r, nowMs)
			}
		default:
			t.Fatalf("unexpected %T during reconciliation", msg)
		}
		for _, r := range replies {
			queue = append(queue, envelope{to: 1 - e.to, msg: r, depth: e.depth + 1})
		}
	}
	return st
}

// newest is what both sides must hold after reconciling: per identity, the newest record.
func newest(sides ...[]mesh.Record) []mesh.Record {
	st := store.New()
	for _, rs := range sides {
		for _, r := range rs {
			st.Put(r, nowMs)
		}
	}
	return st.All()
}

func TestReconcileConverges(t *testing.T) {
	type sides struct{ a, b []mesh.Record }
	cases := []struct {
		name  string
		build func(g *recordGen) sides
	}{
		{"both empty", func(g *recordGen) sides { return sides{} }},
		{"initiator empty", func(g *recordGen) sides { return sides{b: gen(g, 700)} }},
		{"responder empty", func(g *recordGen) sides { return sides{a: gen(g, 700)} }},
		{"one record each, different", func(g *recordGen) sides { return sides{a: gen(g, 1), b: gen(g, 1)} }},
		{"responder lacks some", func(g *recordGen) sides {
			shared := gen(g, 800)
			return sides{a: append(gen(g, 37), shared...), b: shared}
		}},
		{"initiator lacks some", func(g *recordGen) sides {
			shared := gen(g, 800)
			return sides{a: shared, b: append(gen(g, 37), shared...)}
		}},
		{"both lack some", func(g *recordGen) sides {
			shared := gen(g, 800)
			return sides{a: append(gen(g, 50), shared...), b: append(gen(g, 60), shared...)}
		}},
		{"disjoint", func(g *recordGen) sides { return sides{a: gen(g, 1500), b: gen(g, 1500)} }},
		{"version conflicts both ways", func(g *recordGen) sides {
			base := gen(g, 600)
			a, b := clone(base), clone(base)
			for i := 0; i < len(base); i += 7 {
				a[i] = g.newer(base[i], false)
			}
			for i := 3; i < len(base); i += 7 {
				b[i] = g.newer(base[i], false)
			}
			for i := 5; i < len(base); i += 14 { // both updated: either may be newer
				a[i], b[i] = g.newer(base[i], false), g.newer(base[i], false)
			}
			return sides{a, b}
		}},
		{"deletions", func(g *recordGen) sides {
			base := gen(g, 600)
			a, b := clone(base), clone(base)
			for i := 0; i < len(base); i += 9 {
				a[i] = g.newer(base[i], true) // deleted later on one side
			}
			for i := 4; i < len(base); i += 9 {
				b[i].Deleted = true // deleted at the same version: the deletion wins
				b[i].Signature = g.bytes(64)
			}
			for i := 6; i < len(base); i += 18 {
				a[i] = g.newer(base[i], true)
				b[i] = g.newer(a[i], false) // re-created after the deletion
			}
			return sides{a, b}
		}},
		{"everything at once", func(g *recordGen) sides {
			base := gen(g, 2000)
			a, b := clone(base), clone(base)
			for i := range base {
				switch g.r.IntN(40) {
				case 0:
					a[i] = g.newer(base[i], false)
				case 1:
					b[i] = g.newer(base[i], g.r.IntN(2) == 0)
				case 2:
					a[i] = g.newer(base[i], true)
				}
			}
			return sides{append(a, gen(g, 40)...), append(b, gen(g, 40)...)}
		}},
	}
	for ci, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.build(newRecordGen(uint64(ci + 1)))
			a, b := fill(s.a), fill(s.b)
			st := reconcile(t, a, b)
			want := newest(s.a, s.b)
			if got := a.All(); !reflect.DeepEqual(got, want) {
				t.Errorf("initiator holds %d records, %d differ from the newest of both sides", len(got), countDiff(got, want))
			}
			if got := b.All(); !reflect.DeepEqual(got, want) {
				t.Errorf("responder holds %d records, %d differ from the newest of both sides", len(got), countDiff(got, want))
			}
			if again := reconcile(t, a, b); again.messages != 1 {
				t.Errorf("after convergence a second reconciliation sent %d messages, want 1", again.messages)
			}
			t.Logf("%d + %d records: %d messages, %d bytes, depth %d", len(s.a), len(s.b), st.messages, st.bytes, st.depth)
		})
	}
}

func gen(g *recordGen, n int) []mesh.Record {
	out := make([]mesh.Record, n)
	for i := range out {
		out[i] = g.record()
	}
	return out
}

func clone(rs []mesh.Record) []mesh.Record { return append([]mesh.Record{}, rs...) }

func countDiff(got, want []mesh.Record) int {
	held := map[mesh.RecordKey]mesh.Record{}
	for _, r := range got {
		held[r.RecordKey()] = r
	}
	n := len(got) - len(want)
	if n < 0 {
		n = -n
	}
	for _, r := range want {
		if h, ok := held[r.RecordKey()]; ok && !reflect.DeepEqual(h, r) {
			n++
		}
	}
	return n
}

func TestReconcileIdenticalStoresSendOneMessage(t *testing.T) {
	g := newRecordGen(42)
	recs := gen(g, 3000)
	a, b := fill(recs), fill(clone(recs))
	st := reconcile(t, a, b)
	if st.messages != 1 || st.byType["*mesh.SyncRanges"] != 1 {
		t.Fatalf("identical stores exchanged %d messages (%v), want the opening SyncRanges only", st.messages, st.byType)
	}
	if st.bytes > 64 {
		t.Fatalf("opening message is %d bytes, want a single root fingerprint (<= 64)", st.bytes)
	}
	t.Logf("identical stores of %d records: %d message, %d bytes", len(recs), st.messages, st.bytes)
}

// A peer with nothing gets the whole set at about the cost of sending it once, and at once: no
// descent through ranges and no item lists, whichever side starts.
func TestReconcileWithAnEmptyPeerSendsTheSetOnce(t *testing.T) {
	recs := gen(newRecordGen(7), 1000)
	whole := 0
	for _, m := range storeMessages(recs) {
		whole += mesh.EncodedSize(m)
	}
	for _, fullStarts := range []bool{true, false} {
		full, empty := fill(recs), store.New()
		var st syncStats
		if fullStarts {
			st = reconcile(t, full, empty)
		} else {
			st = reconcile(t, empty, full)
		}
		if empty.Len() != len(recs) {
			t.Fatalf("full starts %v: empty peer got %d of %d records", fullStarts, empty.Len(), len(recs))
		}
		t.Logf("full starts %v: %d messages, %d bytes; the records alone take %d bytes", fullStarts, st.messages, st.bytes, whole)
		// Empty starts: its root fingerprint is answered with the records. Full starts: the
		// empty peer answers with an empty item list, which is answered with the records.
		if wantDepth := map[bool]int{true: 3, false: 2}[fullStarts]; st.depth > wantDepth {
			t.Errorf("full starts %v: records arrived after a chain of %d messages, want %d", fullStarts, st.depth, wantDepth)
		}
		if st.bytes > whole+whole/100 {
			t.Errorf("full starts %v: %d bytes, more than 1%% over sending the records (%d)", fullStarts, st.bytes, whole)
		}
	}
}

// TestReconcileCostFollowsTheDifference checks the point of range-based reconciliation: two
// peers sharing 5,000 records and differing in d exchange bytes in proportion to d, not to the
// 5,000.
func TestReconcileCostFollowsTheDifference(t *testing.T) {
	const shared = 5000
	g := newRecordGen(2024)
	base := gen(g, shared)
	whole := 0
	for _, m := range storeMessages(base) {
		whole += mesh.EncodedSize(m)
	}
	cost := map[int]syncStats{}
	for _, d := range []int{1, 10, 100} {
		a, b := clone(base), clone(base)
		// d differences of every sort: missing on either side, or newer on either side.
		for i := range d {
			switch i % 4 {
			case 0:
				a = append(a, g.record())
			case 1:
				b = append(b, g.record())
			case 2:
				a[i] = g.newer(base[i], false)
			case 3:
				b[i] = g.newer(base[i], i%8 == 3)
			}
		}
		sa, sb := fill(a), fill(b)
		st := reconcile(t, sa, sb)
		if !reflect.DeepEqual(sa.All(), sb.All()) {
			t.Fatalf("d=%d: stores differ after reconciliation", d)
		}
		cost[d] = st
		t.Logf("d=%3d: %4d messages, %6d bytes (%5.2f%% of sending all %d records, %d bytes/difference), depth %d, by type %v",
			d, st.messages, st.bytes, 100*float64(st.bytes)/float64(whole), shared, st.bytes/d, st.depth, st.byType)
	}
	if c := cost[1].bytes; c*20 > whole {
		t.Errorf("d=1 cost %d bytes, more than 5%% of sending the whole set (%d bytes)", c, whole)
	}
	if cost[1].bytes >= cost[10].bytes || cost[10].bytes >= cost[100].bytes {
		t.Errorf("cost does not grow with the difference: %d, %d, %d bytes", cost[1].bytes, cost[10].bytes, cost[100].bytes)
	}
	if cost[100].bytes > 150*cost[1].bytes {
		t.Errorf("d=100 cost %d bytes, more than 150 x the d=1 cost %d: worse than linear", cost[100].bytes, cost[1].bytes)
	}
	if cost[100].bytes*2 > whole {
		t.Errorf("d=100 cost %d bytes, more than half of sending everything (%d)", cost[100].bytes, whole)
	}
}

// TestReconcileMessagesFitTheCodec: whatever the two sets hold, every message reconciliation
// produces must be one the wire codec accepts, or the transport drops it and the peers never
// converge.
func TestReconcileMessagesFitTheCodec(t *testing.T) {
	big := func(g *recordGen, n int) []mesh.Record {
		out := gen(g, n)
		for i := range out {
			out[i].Kind = mesh.KindMessage // voicemail: values up to the record limit
			out[i].Value = g.bytes(mesh.MaxValueBytes)
		}
		return out
	}
	cases := []struct {
		name string
		a, b func(g *recordGen) []mesh.Record
	}{
		{"large records pushed to an empty peer",
			func(g *recordGen) []mesh.Record { return big(g, 40) },
			func(g *recordGen) []mesh.Record { return nil }},
		{"large records asked for",
			func(g *recordGen) []mesh.Record { return gen(g, 100) },
			func(g *recordGen) []mesh.Record { return big(g, 40) }},
		{"large disjoint sets",
			func(g *recordGen) []mesh.Record { return gen(g, 12000) },
			func(g *recordGen) []mesh.Record { return gen(g, 12000) }},
	}
	for ci, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := newRecordGen(uint64(100 + ci))
			ra, rb := tc.a(g), tc.b(g)
			a, b := fill(ra), fill(rb)
			st := reconcile(t, a, b)
			want := newest(ra, rb)
			if !reflect.DeepEqual(a.All(), want) || !reflect.DeepEqual(b.All(), want) {
				t.Errorf("stores did not converge: %d and %d records, want %d", a.Len(), b.Len(), len(want))
			}
			t.Logf("%d + %d records: %d messages, %d bytes", len(ra), len(rb), st.messages, st.bytes)
		})
	}
}
