package hybrid

import (
	"sort"
	"time"

	"meshcomm/mesh"
)

// ownRecord is a record this node publishes and keeps alive.
type ownRecord struct {
	rec       mesh.Record
	ttl       time.Duration
	refreshAt time.Time
	nextTouch time.Time
	replicas  map[mesh.NodeID]mesh.Contact // peers that acknowledged holding the current version
	placing   bool                         // a placement lookup is under way
	touchTurn int                          // which replicas the next round checks (see touchPerRound)
}

// Publish creates, signs and distributes a record owned by this node. The core refreshes it
// before expiry until Unpublish or Leave.
func (n *Node) Publish(now time.Time, kind mesh.Kind, res mesh.ResourceID, key, value []byte, ttl time.Duration) (mesh.Record, error) {
	if n.left {
		return mesh.Record{}, ErrLeft
	}
	rec := mesh.Record{Resource: res, Kind: kind, Key: append([]byte(nil), key...), Value: append([]byte(nil), value...)}
	k := rec.RecordKey()
	prev, had := n.own[k]
	rec.Version = n.nextVersion(now, k)
	rec.Expiry = now.Add(ttl).UnixMilli()
	rec.Sign(n.signer)
	if err := mesh.CheckAccess(&rec, n.signer.Identity()); err != nil {
		return mesh.Record{}, err
	}
	o := prev
	if !had {
		o = &ownRecord{replicas: map[mesh.NodeID]mesh.Contact{}}
		n.own[k] = o
	}
	o.rec, o.ttl = rec, ttl
	o.refreshAt = now.Add(ttl * 2 / 3)
	o.nextTouch = now.Add(n.jitter(n.t.TouchInterval))
	n.putLocal(rec, now)
	n.distribute(now, o)
	return rec, nil
}

// Unpublish deletes one of this node's records everywhere (a signed deletion replaces it).
func (n *Node) Unpublish(now time.Time, kind mesh.Kind, res mesh.ResourceID, key []byte) {
	k := mesh.RecordKey{Resource: res, Kind: kind, Key: string(key)}
	o, ok := n.own[k]
	if !ok {
		return
	}
	delete(n.own, k)
	tomb := mesh.Record{Resource: res, Kind: kind, Key: o.rec.Key, Deleted: true,
		Version: n.nextVersion(now, k), Expiry: max(o.rec.Expiry, now.Add(n.t.TombstoneTTL).UnixMilli())}
	tomb.Sign(n.signer)
	n.putLocal(tomb, now)
	if n.mode == mesh.ModeFlood {
		n.floodRecords(now, []mesh.Record{tomb})
		return
	}
	// The deletion goes where the record is: the replicas that acknowledged it, and the closest
	// peers known (no lookup: a leaving node will not be there for the answers).
	targets := n.replicaList(o)
	for _, c := range n.table.Closest(res, n.t.Replicas) {
		if !containsID(targets, c.ID) {
			targets = append(targets, c)
		}
	}
	for _, c := range targets {
		n.send(c, &mesh.Store{Records: []mesh.Record{tomb}})
	}
}

// nextVersion is clock-based (so versions survive restarts) and strictly increasing.
func (n *Node) nextVersion(now time.Time, k mesh.RecordKey) uint64 {
	v := uint64(now.UnixMilli())
	if cur, ok := n.store.Get(k); ok && cur.Version >= v {
		v = cur.Version + 1
	}
	return v
}

// distribute sends a new version of an own record where the current mode keeps records.
func (n *Node) distribute(now time.Time, o *ownRecord) {
	if n.mode == mesh.ModeFlood {
		n.floodRecords(now, []mesh.Record{o.rec})
		return
	}
	o.replicas = map[mesh.NodeID]mesh.Contact{}
	n.place(now, o)
}

func (n *Node) publishNodeRecord(now time.Time) {
	if _, err := n.Publish(now, mesh.KindNode, n.self.ID.Resource(), nil, []byte(n.self.Addr), n.t.NodeRecordTTL); err != nil {
		n.refuse(n.self.ID, "own node record: "+err.Error())
	}
}

// putLocal stores a record and reports the change to the runtime.
func (n *Node) putLocal(r mesh.Record, now time.Time) bool {
	if !n.store.Put(r, now.UnixMilli()) {
		return false
	}
	n.counters.RecordsStored++
	n.out.Persist = append(n.out.Persist, r)
	n.emit(mesh.RecordChanged{Record: r})
	if r.Kind == mesh.KindNode && !r.Deleted {
		id := mesh.NodeID(r.Resource)
		if id != n.self.ID {
			n.table.Add(now, mesh.Contact{ID: id, Addr: string(r.Value)})
		}
	}
	if r.Kind == mesh.KindNode && r.Deleted {
		n.table.Remove(mesh.NodeID(r.Resource))
	}
	return true
}

// accept verifies records received from a peer and stores the valid ones. It returns the
// records that were new to this node.
func (n *Node) accept(now time.Time, from mesh.NodeID, recs []mesh.Record) (fresh []mesh.Record, refused int) {
	nowMs := now.UnixMilli()
	for i := range recs {
		r := &recs[i]
		if r.Expired(nowMs) {
			continue // harmless: it simply is gone
		}
		if cur, ok := n.store.Get(r.RecordKey()); ok && !r.Newer(&cur) {
			continue // nothing new; no need to verify
		}
		if _, err := mesh.VerifyRecord(n.verify, r); err != nil {
			n.refuse(from, "record: "+err.Error())
			refused++
			continue
		}
		if r.Kind == mesh.KindNode && mesh.NodeID(r.Resource) == n.self.ID {
			if _, mine := n.own[r.RecordKey()]; !mine && !r.Deleted {
				continue
			}
		}
		if n.putLocal(*r, now) {
			fresh = append(fresh, *r)
		}
	}
	return fresh, refused
}

// Leave shuts the node down cleanly: its own records (but its certificate) are deleted
// everywhere, the records it holds for others are handed to their next replica, and its peers
// are told.
func (n *Node) Leave(now time.Time) {
	if n.left || !n.started {
		return
	}
	for _, k := range n.ownKeys() {
		o := n.own[k]
		if o.rec.Kind == mesh.KindCertificate {
			// A user's certificate outlives their presence: voicemail for a user who has gone
			// off is sealed to it. It expires on its own.
			continue
		}
		n.Unpublish(now, o.rec.Kind, o.rec.Resource, o.rec.Key)
	}
	if n.mode == mesh.ModeDHT {
		n.handOverAll(now)
	}
	n.left = true
	bye := map[mesh.NodeID]mesh.Contact{}
	for _, c := range n.nb.Links() {
		bye[c.ID] = c
	}
	for _, c := range n.table.Near() {
		bye[c.ID] = c
	}
	list := make([]mesh.Contact, 0, len(bye))
	for _, c := range bye {
		list = append(list, c)
	}
	sortContacts(list)
	for _, c := range list {
		n.send(c, &mesh.Leave{})
	}
}

func (n *Node) ownKeys() []mesh.RecordKey {
	keys := make([]mesh.RecordKey, 0, len(n.own))
	for k := range n.own {
		keys = append(keys, k)
	}
	sortKeys(keys)
	return keys
}

func sortKeys(keys []mesh.RecordKey) {
	sort.Slice(keys, func(i, j int) bool { return keyLess(keys[i], keys[j]) })
}

func keyLess(a, b mesh.RecordKey) bool {
	for i := range a.Resource {
		if a.Resource[i] != b.Resource[i] {
			return a.Resource[i] < b.Resource[i]
		}
	}
	if a.Kind != b.Kind {
		return a.Kind < b.Kind
	}
	return a.Key < b.Key
}

// Restore puts records persisted by an earlier run back into the store without distributing
// them: they are verified as if received, and expired ones are skipped. The runtime re-publishes
// this node's own records itself (with new versions), so records this node owns are skipped too.
func (n *Node) Restore(now time.Time, recs []mesh.Record) (restored int) {
	var others []mesh.Record
	for _, r := range recs {
		if id, err := mesh.VerifyRecord(n.verify, &r); err == nil && id.Node == n.self.ID {
			continue
		}
		others = append(others, r)
	}
	fresh, _ := n.accept(now, n.self.ID, others)
	return len(fresh)
}

// Offer takes in records signed by someone else (a revocation from the incident's CA, say) as
// if a peer had sent them, and distributes them as the current mode does: flooded in flood mode,
// handed to their replicas in DHT mode. It returns how many were new.
func (n *Node) Offer(now time.Time, recs []mesh.Record) int {
	fresh, _ := n.accept(now, n.self.ID, recs)
	if n.mode == mesh.ModeFlood {
		n.floodRecords(now, fresh)
	} else {
		n.handOffLater(fresh)
	}
	return len(fresh)
}
