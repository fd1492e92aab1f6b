package unstructured

import (
	"meshcomm/mesh"
	"meshcomm/mesh/store"
)

// ItemThreshold is the range size below which peers list items instead of splitting further.
const ItemThreshold = 16

// maxItemsPerMessage keeps a SyncItems frame well inside mesh.MaxMessageBytes (an item encodes
// in well under 40 bytes, and the ranges need room too) and inside mesh.MaxItems.
const maxItemsPerMessage = min(mesh.MaxItems, (mesh.MaxMessageBytes-65536)/40)

// maxRecordsPerStore bounds one Store message sent during reconciliation.
const maxRecordsPerStore = 64

// StartSync returns the first message of a reconciliation with a new neighbour.
func StartSync(st *store.Store, session uint64) *mesh.SyncRanges {
	return &mesh.SyncRanges{Session: session, Ranges: []mesh.Range{st.Fingerprint([mesh.IDBytes]byte{}, 0)}}
}

// OnSyncRanges answers a SyncRanges: nothing where the ranges agree, item lists for small or
// one-sided ranges, child fingerprints for the rest, and the records themselves where the other
// side has nothing in a range.
func OnSyncRanges(st *store.Store, m *mesh.SyncRanges) []mesh.Message {
	var split []mesh.Range
	var listed []mesh.Range
	var itemsPer [][]mesh.ItemVersion
	var push []mesh.Record
	for _, theirs := range m.Ranges {
		if theirs.Bits > mesh.IDBytes*8-4 {
			theirs.Bits = mesh.IDBytes*8 - 4
		}
		mine := st.Fingerprint(theirs.Prefix, theirs.Bits)
		switch {
		case mine.Count == theirs.Count && mine.Fingerprint == theirs.Fingerprint:
			// in agreement
		case theirs.Count == 0:
			for _, iv := range st.Items(theirs.Prefix, theirs.Bits) {
				if r, ok := st.GetByHash(iv.Hash); ok {
					push = append(push, r)
				}
			}
		case mine.Count == 0 || mine.Count+theirs.Count <= 2*ItemThreshold || theirs.Bits >= mesh.IDBytes*8-4:
			listed = append(listed, mine)
			itemsPer = append(itemsPer, st.Items(theirs.Prefix, theirs.Bits))
		default:
			for _, child := range store.Children(theirs.Prefix, theirs.Bits) {
				split = append(split, st.Fingerprint(child, theirs.Bits+4))
			}
		}
	}
	var out []mesh.Message
	for len(split) > 0 {
		n := min(len(split), mesh.MaxRanges)
		out = append(out, &mesh.SyncRanges{Session: m.Session, Ranges: split[:n]})
		split = split[n:]
	}
	out = append(out, itemMessages(m.Session, listed, itemsPer)...)
	return append(out, storeMessages(push)...)
}

// itemMessages packs listed ranges and their items into SyncItems messages within the codec's
// limits, keeping every range together with all of its items.
func itemMessages(session uint64, ranges []mesh.Range, items [][]mesh.ItemVersion) []mesh.Message {
	var out []mesh.Message
	cur := &mesh.SyncItems{Session: session}
	for i, rg := range ranges {
		if len(cur.Ranges) > 0 && (len(cur.Ranges) >= mesh.MaxRanges || len(cur.Ranges)+len(cur.Items)+len(items[i]) >= maxItemsPerMessage) {
			out = append(out, cur)
			cur = &mesh.SyncItems{Session: session}
		}
		cur.Ranges = append(cur.Ranges, rg)
		cur.Items = append(cur.Items, items[i]...)
	}
	if len(cur.Ranges) > 0 {
		out = append(out, cur)
	}
	return out
}

// OnSyncItems compares the other side's items with ours in the listed ranges: it returns a
// SyncWant for what they hold newer and Store messages for what we hold newer or they lack.
func OnSyncItems(st *store.Store, m *mesh.SyncItems) []mesh.Message {
	theirs := make(map[[mesh.IDBytes]byte]mesh.ItemVersion, len(m.Items))
	for _, it := range m.Items {
		theirs[it.Hash] = it
	}
	var want [][mesh.IDBytes]byte
	var push []mesh.Record
	for _, it := range m.Items {
		mine, ok := st.GetByHash(it.Hash)
		if !ok || newerItem(it, mine) {
			want = append(want, it.Hash)
		}
	}
	for _, rg := range m.Ranges {
		for _, iv := range st.Items(rg.Prefix, rg.Bits) {
			t, ok := theirs[iv.Hash]
			if !ok || newerItem(iv, recordOf(t)) {
				if r, ok := st.GetByHash(iv.Hash); ok {
					push = append(push, r)
				}
			}
		}
	}
	var out []mesh.Message
	for len(want) > 0 {
		n := min(len(want), mesh.MaxHashes)
		out = append(out, &mesh.SyncWant{Session: m.Session, Hashes: want[:n]})
		want = want[n:]
	}
	return append(out, storeMessages(push)...)
}

// OnSyncWant returns the wanted records.
func OnSyncWant(st *store.Store, m *mesh.SyncWant) []mesh.Message {
	var push []mesh.Record
	for _, h := range m.Hashes {
		if r, ok := st.GetByHash(h); ok {
			push = append(push, r)
		}
	}
	return storeMessages(push)
}

func recordOf(it mesh.ItemVersion) mesh.Record {
	return mesh.Record{Version: it.Version, Deleted: it.Deleted}
}

// newerItem reports whether item a is strictly newer than record b by version and deletion.
func newerItem(a mesh.ItemVersion, b mesh.Record) bool {
	if a.Version != b.Version {
		return a.Version > b.Version
	}
	return a.Deleted && !b.Deleted
}

func storeMessages(recs []mesh.Record) []mesh.Message {
	var out []mesh.Message
	for _, b := range mesh.BatchRecords(recs, maxRecordsPerStore) {
		out = append(out, &mesh.Store{Records: b})
	}
	return out
}
