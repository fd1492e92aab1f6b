package hybrid

import (
	"sort"
	"time"

	"meshcomm/flood"
	"meshcomm/mesh"
	"meshcomm/mesh/unstructured"
)

type floodSend = flood.Send[mesh.NodeID, []mesh.Record]

// maxFloodRecords bounds the records carried by one flood message.
const maxFloodRecords = 64

// floodRecords originates floods carrying recs to every neighbour.
func (n *Node) floodRecords(now time.Time, recs []mesh.Record) {
	for _, batch := range mesh.BatchRecords(recs, maxFloodRecords) {
		id := flood.ID(n.randomID())
		n.sendFloods(n.flooder.Originate(now, n.self.ID, id, batch, n.nb.List()))
	}
}

func (n *Node) sendFloods(sends []floodSend) {
	for _, s := range sends {
		n.send(n.contactOf(s.To), &mesh.Flood{ID: s.ID, Origin: s.Origin, Hops: s.Hops, Records: s.Payload})
	}
}

// contactOf finds the address of a peer known by identifier only.
func (n *Node) contactOf(id mesh.NodeID) mesh.Contact {
	if c, ok := n.nb.Link(id); ok {
		return c
	}
	if p, ok := n.table.Get(id); ok {
		return p.Contact
	}
	return mesh.Contact{ID: id}
}

func (n *Node) onFlood(now time.Time, from mesh.Contact, m *mesh.Flood) {
	n.send(from, &mesh.FloodAck{ID: m.ID})
	if n.flooder.Seen(m.ID) {
		n.flooder.Receive(now, from.ID, m.Origin, m.ID, m.Hops, nil, nil) // counts the duplicate as an ack
		return
	}
	n.nb.MarkIn(from.ID)
	fresh, refused := n.accept(now, from.ID, m.Records)
	if refused > 0 && refused == len(m.Records) {
		return // nothing valid to pass on
	}
	if n.mode != mesh.ModeFlood {
		// DHT peers keep what they are given (a sweep moves it to its replicas) but do not
		// carry floods through a large mesh.
		n.handOffLater(fresh)
		return
	}
	valid := m.Records
	if refused > 0 {
		valid = fresh
	}
	res := n.flooder.Receive(now, from.ID, m.Origin, m.ID, m.Hops, valid, n.nb.List())
	n.sendFloods(res.Forward)
}

// startSync begins reconciliation of the whole record set with a neighbour.
func (n *Node) startSync(c mesh.Contact) {
	n.send(c, unstructured.StartSync(n.store, n.newReqID()))
}

func (n *Node) onSync(from mesh.Contact, msg mesh.Message) {
	n.nb.MarkIn(from.ID)
	var replies []mesh.Message
	switch m := msg.(type) {
	case *mesh.SyncRanges:
		replies = unstructured.OnSyncRanges(n.store, m)
	case *mesh.SyncItems:
		replies = unstructured.OnSyncItems(n.store, m)
	case *mesh.SyncWant:
		replies = unstructured.OnSyncWant(n.store, m)
	}
	for _, r := range replies {
		n.send(from, r)
	}
}

// floodLiveCount is the flood-mode size estimate: live membership records, self included.
func (n *Node) floodLiveCount(now time.Time) int {
	nowMs := now.UnixMilli()
	c := 0
	n.store.Range(func(r *mesh.Record) bool {
		if r.Kind == mesh.KindNode && !r.Deleted && !r.Expired(nowMs) {
			c++
		}
		return true
	})
	return max(c, 1)
}

func (n *Node) antiEntropy(now time.Time) {
	nbs := n.nb.List()
	if len(nbs) == 0 {
		return
	}
	n.startSync(n.contactOf(nbs[n.rnd.IntN(len(nbs))]))
}

// syncCooldown spaces reconciliations started with one neighbour by cascades.
const syncCooldown = 500 * time.Millisecond

// cascadeSync spreads what reconciliation (or a DHT peer) brought in: every other neighbour is
// asked to reconcile, which costs one fingerprint where it already holds everything and carries
// just the difference where it does not. Re-flooding the records instead would resend the whole
// difference to every peer of the mesh on every contact.
func (n *Node) cascadeSync(now time.Time, except mesh.NodeID) {
	for _, id := range n.nb.List() {
		if id == except {
			continue
		}
		if now.Before(n.syncAfter[id]) {
			n.syncOwed[id] = true
			continue
		}
		n.syncAfter[id] = now.Add(syncCooldown)
		n.startSync(n.contactOf(id))
	}
}

// owedSyncs starts the cascaded reconciliations that waited for their neighbour's cooldown.
func (n *Node) owedSyncs(now time.Time) {
	var due []mesh.NodeID
	for id := range n.syncOwed {
		if !now.Before(n.syncAfter[id]) {
			due = append(due, id)
		}
	}
	sortIDs(due)
	for _, id := range due {
		delete(n.syncOwed, id)
		if n.nb.IsNeighbor(id) {
			n.syncAfter[id] = now.Add(syncCooldown)
			n.startSync(n.contactOf(id))
		}
	}
	for id, at := range n.syncAfter {
		if now.Sub(at) > time.Minute {
			delete(n.syncAfter, id)
		}
	}
}

func sortIDs(ids []mesh.NodeID) {
	sort.Slice(ids, func(i, j int) bool {
		for k := range ids[i] {
			if ids[i][k] != ids[j][k] {
				return ids[i][k] < ids[j][k]
			}
		}
		return false
	})
}
