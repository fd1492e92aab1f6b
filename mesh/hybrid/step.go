package hybrid

import (
	"time"

	"meshcomm/mesh"
)

// Step handles one message from a peer. The transport has authenticated from.
func (n *Node) Step(now time.Time, from mesh.Contact, msg mesh.Message) {
	if !n.started || n.left || from.ID == n.self.ID || from.ID.IsZero() {
		return
	}
	var wasKnown bool
	if _, isLeave := msg.(*mesh.Leave); isLeave {
		wasKnown = n.table.Knows(from.ID)
	} else {
		var newNear bool
		wasKnown, newNear = n.table.Heard(now, from)
		if newNear && n.mode == mesh.ModeDHT {
			n.onNewNear(now, from)
			n.probeNewMember(now, from)
		}
	}
	switch m := msg.(type) {
	case *mesh.Hello:
		n.hearSize(now, from.ID, m.Status)
	case *mesh.Ping:
		n.hearSize(now, from.ID, m.Status)
	case *mesh.Pong:
		n.hearSize(now, from.ID, m.Status)
	}
	switch m := msg.(type) {
	case *mesh.Ping:
		n.send(from, &mesh.Pong{Nonce: m.Nonce, Status: n.status()})
	case *mesh.Pong:
		n.answered(now, m.Nonce, from)
	case *mesh.Hello:
		n.onHello(now, from, m, wasKnown)
	case *mesh.FindNode:
		n.send(from, &mesh.Nodes{ReqID: m.ReqID, Nodes: n.closestFor(m.Target, from.ID)})
	case *mesh.Nodes:
		if r := n.answered(now, m.ReqID, from); r != nil {
			switch r.kind {
			case reqLookup:
				n.onLookupAnswer(now, r, nil, m.Nodes)
			case reqMergeProbe:
				n.onMergeProbe(now, r, m.Nodes)
			case reqMemberProbe:
				n.onMemberProbe(now, r, m.Nodes)
			case reqRefreshProbe:
				n.onRefreshProbe(now, m.Nodes)
			}
		}
	case *mesh.FindValue:
		recs := n.store.Find(m.Resource, m.Kind, now.UnixMilli())
		var closer []mesh.Contact
		if len(recs) == 0 {
			closer = n.closestFor(m.Resource, from.ID)
		}
		if batches := mesh.BatchRecords(recs, mesh.MaxRecordsPerMessage); len(batches) > 1 {
			recs = batches[0] // a resource with more than one message of records: the first part
		}
		n.send(from, &mesh.Value{ReqID: m.ReqID, Records: recs, Nodes: closer})
	case *mesh.Value:
		if r := n.answered(now, m.ReqID, from); r != nil && r.kind == reqLookup {
			n.onLookupAnswer(now, r, m.Records, m.Nodes)
		}
	case *mesh.Store:
		fresh, refused := n.accept(now, from.ID, m.Records)
		if m.ReqID != 0 {
			n.send(from, &mesh.StoreAck{ReqID: m.ReqID, Stored: uint16(len(m.Records) - refused), Refused: uint16(refused)})
		}
		if n.mode == mesh.ModeFlood {
			if len(fresh) > 0 {
				n.cascadeSync(now, from.ID)
			}
		} else {
			n.handOffLater(fresh)
		}
	case *mesh.StoreAck:
		if r := n.answered(now, m.ReqID, from); r != nil && r.kind == reqStore && m.Refused == 0 {
			n.confirmedHolder(r)
		}
	case *mesh.Flood:
		n.onFlood(now, from, m)
	case *mesh.FloodAck:
		n.flooder.Acked(from.ID, m.ID)
	case *mesh.SyncRanges, *mesh.SyncItems, *mesh.SyncWant:
		if n.mode == mesh.ModeFlood {
			n.onSync(from, msg)
		} else if _, opening := msg.(*mesh.SyncRanges); opening {
			// A DHT peer holds only its share: tell the asker to join the DHT instead.
			n.send(from, &mesh.Hello{Status: n.status(), Self: n.self})
		}
	case *mesh.NeighborhoodReq:
		n.send(from, n.neighborhood(m.ReqID))
	case *mesh.Neighborhood:
		if r := n.answered(now, m.ReqID, from); r != nil && r.kind == reqNeighborhood {
			n.onNeighborhood(now, r, m)
		}
	case *mesh.Merge:
		n.onMerge(now, from, m)
	case *mesh.Leave:
		n.table.Remove(from.ID)
		n.RemovePeer(now, from.ID)
	case *mesh.Touch:
		ack := &mesh.TouchAck{ReqID: m.ReqID}
		for i, ref := range m.Refs {
			cur, ok := n.store.Get(mesh.RecordKey{Resource: ref.Resource, Kind: ref.Kind, Key: string(ref.Key)})
			if !ok || cur.Version < ref.Version {
				ack.Missing = append(ack.Missing, uint16(i))
			}
		}
		n.send(from, ack)
	case *mesh.TouchAck:
		if r := n.answered(now, m.ReqID, from); r != nil && r.kind == reqTouch {
			n.onTouchAck(now, r, len(m.Missing) > 0)
		}
	}
}

// closestFor answers FindNode and FindValue: the closest peers this node knows, never the asker.
func (n *Node) closestFor(target [mesh.IDBytes]byte, asker mesh.NodeID) []mesh.Contact {
	cs := n.table.Closest(target, n.t.ResponseContacts+1)
	out := cs[:0]
	for _, c := range cs {
		if c.ID != asker {
			out = append(out, c)
		}
	}
	if len(out) > n.t.ResponseContacts {
		out = out[:n.t.ResponseContacts]
	}
	return out
}

// answered matches an answer to its request. It returns nil for an unknown or foreign answer.
func (n *Node) answered(now time.Time, reqID uint64, from mesh.Contact) *request {
	r, ok := n.pending[reqID]
	if !ok || r.to.ID != from.ID {
		return nil
	}
	delete(n.pending, reqID)
	n.outcome(true)
	n.rtt.sample(now.Sub(r.sent))
	return r
}

func (n *Node) confirmedHolder(r *request) {
	if r.own {
		if o, ok := n.own[r.key]; ok {
			o.replicas[r.to.ID] = r.to
		}
		return
	}
	n.handoffConfirmed(r.key)
}

func (n *Node) onTouchAck(now time.Time, r *request, missing bool) {
	if !missing {
		n.confirmedHolder(r)
		return
	}
	if o, ok := n.own[r.key]; ok && r.own && n.mode == mesh.ModeDHT {
		// A replica that no longer holds an own record handed it on when closer peers arrived:
		// find where the record belongs now rather than pushing it back.
		delete(o.replicas, r.to.ID)
		n.place(now, o)
		return
	}
	rec, ok := n.store.Get(r.key)
	if !ok {
		return
	}
	id := n.track(now, &request{kind: reqStore, to: r.to, key: r.key, own: r.own})
	n.send(r.to, &mesh.Store{ReqID: id, Records: []mesh.Record{rec}})
}

func (n *Node) onHello(now time.Time, from mesh.Contact, m *mesh.Hello, wasKnown bool) {
	if n.mode == mesh.ModeDHT && m.Mode == mesh.ModeFlood && wasKnown {
		// A member of this mesh has shrunk back to flood mode: check who is still alive.
		n.suspectShrink(now)
		return
	}
	if n.mode == mesh.ModeFlood && m.Mode == mesh.ModeDHT && int(m.SizeEstimate) >= n.t.DHTToFlood &&
		int(m.SizeEstimate) > n.estimate && (n.counters.ModeSwitches == 0 || now.Sub(n.modeAt) >= n.t.MinDHTDwell) {
		// A larger DHT mesh is within reach: join it, and bring this mesh along.
		members := n.table.Near()
		n.switchMode(now, mesh.ModeDHT)
		n.joinVia(now, from)
		if len(members) > 0 {
			n.broadcastMergeTo(now, members, from)
		}
		return
	}
	if n.mode == mesh.ModeFlood && m.Mode == mesh.ModeDHT && n.nb.IsNeighbor(from.ID) {
		// A DHT neighbour whose estimate does not (yet) call for joining it: estimates are noisy
		// right after that mesh switched, so ask again soon rather than at the next anti-entropy
		// round. Opening a reconciliation is the question: a DHT peer answers it with a Hello.
		n.syncOwed[from.ID] = true
		n.syncAfter[from.ID] = now.Add(dhtRecheck)
		return
	}
	if n.mode == mesh.ModeFlood && m.Mode == mesh.ModeFlood && n.nb.HasLink(from.ID) && lessID(n.self.ID, from.ID) {
		// One end of each new link reconciles the whole record set; a link to a peer of
		// another mesh is how two meshes become one.
		n.nb.MarkIn(from.ID)
		n.startSync(from)
		return
	}
	if n.mode == mesh.ModeDHT && !wasKnown && n.nb.HasLink(from.ID) && n.settled(now) && m.Mode == mesh.ModeDHT {
		id := n.track(now, &request{kind: reqMergeProbe, to: from})
		n.send(from, &mesh.FindNode{ReqID: id, Target: n.self.ID})
	}
}

// dhtRecheck is how soon a flood node asks a DHT neighbour for its mode and estimate again.
const dhtRecheck = 5 * time.Second

func lessID(a, b mesh.NodeID) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

// broadcastMergeTo tells the members of a small flood mesh this node is leaving for a DHT mesh
// where to find it.
func (n *Node) broadcastMergeTo(now time.Time, members []mesh.Contact, entry mesh.Contact) {
	id := n.randomID()
	n.markMerged(now, id)
	for _, c := range members {
		n.send(c, &mesh.Merge{ID: id, Entries: []mesh.Contact{entry}})
	}
}
