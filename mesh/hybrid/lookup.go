package hybrid

import (
	"slices"
	"sort"
	"time"

	"meshcomm/mesh"
	"meshcomm/mesh/structured"
)

type lookupPurpose uint8

const (
	forUser      lookupPurpose = iota // a user's lookup of a value
	forJoin                           // find this node's own slice (join, merge)
	forPlacement                      // find the replicas of an own record
	forHandoff                        // find the replicas of a record this node should not keep
)

type lookup struct {
	id       uint64
	user     mesh.LookupID
	purpose  lookupPurpose
	target   [mesh.IDBytes]byte
	kind     mesh.Kind
	key      mesh.RecordKey
	value    bool // FindValue rather than FindNode
	l        *structured.Lookup
	started  time.Time
	done     bool
	reseeded bool
	failures int           // requests of this lookup that went unanswered
	retryAt  time.Time     // when a retried lookup starts again (zero for a first try)
	silent   []mesh.NodeID // peers not to ask: those that did not answer a user lookup's earlier tries, say
}

// retryWidth times R is how many of the closest peers a retried user lookup asks.
const retryWidth = 3

// lookupRetry is how soon a user's lookup that found nothing, while some of the peers it asked
// did not answer, is tried again (within Tuning.LookupTimeout). Peers not answering mean churn or
// a partition: the record's replicas may be gone while its owner is placing it anew.
const lookupRetry = 2 * time.Second

// youngDHT is how long after switching to DHT mode a user lookup that found nothing is retried
// even though every peer answered: records are still moving from where flood mode left them to
// their replicas (SwitchGrace, then sweeps), and the replicas asked may not have them yet.
const youngDHT = time.Minute

type reqKind uint8

const (
	reqLookup reqKind = iota
	reqStore
	reqTouch
	reqNeighborhood
	reqPing
	reqMergeProbe
	reqMemberProbe
	reqRefreshProbe
)

type neighborhoodPurpose uint8

const (
	nbJoin neighborhoodPurpose = iota
	nbMerge
)

// request is an outstanding request awaiting an answer or its deadline.
type request struct {
	id       uint64
	kind     reqKind
	to       mesh.Contact
	sent     time.Time
	deadline time.Time
	slowAt   time.Time // reqLookup: when its lookup stops waiting for it (see Tuning.SlowRequest)
	slowed   bool      // reqLookup: slowAt has passed
	look     *lookup
	key      mesh.RecordKey // reqStore, reqTouch: the record concerned
	own      bool           // the record is this node's own
	nbFor    neighborhoodPurpose
}

func (n *Node) track(now time.Time, r *request) uint64 {
	r.id = n.newReqID()
	r.sent, r.deadline = now, now.Add(n.t.RequestTimeout)
	due := r.deadline
	if slow := n.rtt.slowAfter(n.t.SlowRequest, n.t.RequestTimeout); r.kind == reqLookup && slow < n.t.RequestTimeout {
		r.slowAt = now.Add(slow)
		due = r.slowAt
	}
	n.pending[r.id] = r
	if n.pendingMin.IsZero() || due.Before(n.pendingMin) {
		n.pendingMin = due
	}
	return r.id
}

// Lookup finds the records of a kind at a resource; the answer arrives as a mesh.LookupDone
// event with the returned id. The local store is tried first (zero hops).
func (n *Node) Lookup(now time.Time, res mesh.ResourceID, kind mesh.Kind) mesh.LookupID {
	n.nextLook++
	id := mesh.LookupID(n.nextLook)
	if local := n.store.Find(res, kind, now.UnixMilli()); len(local) > 0 {
		n.counters.LookupsFound++
		n.emit(mesh.LookupDone{ID: id, Resource: res, Kind: kind, Records: local, Found: true})
		return id
	}
	seeds := n.table.Closest(res, n.t.ResponseContacts)
	if n.mode == mesh.ModeFlood {
		// Everything should be here already; a peer that has just arrived may not have
		// reconciled yet, so ask the neighbours (one round).
		seeds = nil
		for _, nb := range n.nb.List() {
			seeds = append(seeds, n.contactOf(nb))
		}
	}
	lk := &lookup{user: id, purpose: forUser, target: res, kind: kind, value: true, started: now}
	n.startLookup(now, lk, seeds)
	return id
}

func (n *Node) startLookup(now time.Time, lk *lookup, seeds []mesh.Contact) {
	n.nextLook++
	lk.id = n.nextLook
	if lk.started.IsZero() {
		lk.started = now
	}
	k := n.t.Replicas + 1
	if !lk.retryAt.IsZero() { // a user lookup started again
		// A lookup tried again looks further out: a record in transit (a partition, a merge)
		// may sit on peers just outside the R closest: holders within the keep margin, or
		// replicas picked from a view that lacked closer peers, before their next sweep.
		k = retryWidth * n.t.Replicas
	}
	alpha := n.t.Alpha
	if n.mode == mesh.ModeFlood && lk.purpose == forUser {
		k, alpha = len(seeds), len(seeds)
	}
	if lk.purpose == forHandoff {
		alpha = 1 // not urgent (the record stays here until its replicas confirm it): one at a time
	}
	lk.l = structured.NewLookup(n.self.ID, lk.target, nil, max(alpha, 1), max(k, 1))
	lk.l.Exclude(lk.silent)
	lk.l.Add(seeds)
	n.lookups[lk.id] = lk
	n.progress(now, lk)
}

func (n *Node) progress(now time.Time, lk *lookup) {
	if lk.done {
		return
	}
	for _, ask := range lk.l.Next() {
		id := n.track(now, &request{kind: reqLookup, to: ask.To, look: lk})
		if lk.value {
			n.send(ask.To, &mesh.FindValue{ReqID: id, Resource: lk.target, Kind: lk.kind})
		} else {
			n.send(ask.To, &mesh.FindNode{ReqID: id, Target: lk.target})
		}
	}
	if lk.l.Done() {
		if (lk.purpose == forUser || lk.purpose == forPlacement) && !lk.reseeded && lk.l.Answers() == 0 && n.mode == mesh.ModeDHT {
			// Every peer known near the target failed: widen to the closest live peers anywhere.
			// (After a partition the far peers of a slice may all be on the other side: an owner
			// re-placing a record there must not wait for its next round to try again.)
			lk.reseeded = true
			lk.l.Add(n.table.ClosestLive(lk.target, n.t.ResponseContacts))
			n.progress(now, lk)
			return
		}
		n.finishLookup(now, lk, nil, lk.l.Rounds())
	}
}

func (n *Node) finishLookup(now time.Time, lk *lookup, recs []mesh.Record, hops int) {
	if lk.done {
		return
	}
	lk.done = true
	delete(n.lookups, lk.id)
	switch lk.purpose {
	case forUser:
		found := len(recs) > 0
		unsettled := lk.failures > 0 || now.Sub(n.modeAt) < youngDHT
		if !found && unsettled && n.mode == mesh.ModeDHT && now.Add(lookupRetry).Sub(lk.started) < n.t.LookupTimeout {
			n.retries = append(n.retries, &lookup{user: lk.user, purpose: forUser, target: lk.target, kind: lk.kind,
				value: true, started: lk.started, retryAt: now.Add(lookupRetry), silent: lk.silent,
				failures: lk.failures}) // a retry skips the silent peers: it must still count them
			return
		}
		if found {
			n.counters.LookupsFound++
		} else {
			n.counters.LookupsMissed++
		}
		n.emit(mesh.LookupDone{ID: lk.user, Resource: mesh.ResourceID(lk.target), Kind: lk.kind, Records: recs, Found: found, Hops: hops})
	case forJoin:
		if best := lk.l.Closest(1); len(best) > 0 {
			n.requestNeighborhood(now, best[0], nbJoin)
		}
	case forPlacement:
		if o, ok := n.own[lk.key]; ok {
			o.placing = false
			n.storeOwn(now, o, n.closestIncludingSelf(lk.target, lk.l.Closest(n.t.Replicas+2)))
		}
	case forHandoff:
		n.handOff(now, lk.key, n.closestIncludingSelf(lk.target, lk.l.Closest(n.t.Replicas+2)))
	}
}

// closestIncludingSelf returns the R closest to target among cands and this node.
func (n *Node) closestIncludingSelf(target [mesh.IDBytes]byte, cands []mesh.Contact) []mesh.Contact {
	all := append([]mesh.Contact{n.self}, cands...)
	sort.SliceStable(all, func(i, j int) bool {
		return mesh.XOR(target, all[i].ID).Less(mesh.XOR(target, all[j].ID))
	})
	if len(all) > n.t.Replicas {
		all = all[:n.t.Replicas]
	}
	return all
}

func (n *Node) onLookupAnswer(now time.Time, r *request, recs []mesh.Record, closer []mesh.Contact) {
	lk := r.look
	if lk.done {
		return
	}
	if lk.value && len(recs) > 0 {
		var valid []mesh.Record
		for i := range recs {
			rec := &recs[i]
			if rec.Resource != mesh.ResourceID(lk.target) || rec.Kind != lk.kind || rec.Deleted || rec.Expired(now.UnixMilli()) {
				continue
			}
			if _, err := mesh.VerifyRecord(n.verify, rec); err != nil {
				n.refuse(r.to.ID, "lookup answer: "+err.Error())
				continue
			}
			valid = append(valid, *rec)
		}
		if len(valid) > 0 {
			n.finishLookup(now, lk, valid, lk.l.Round(r.to.ID))
			return
		}
	}
	lk.l.Answered(r.to.ID, closer)
	if lk.purpose == forHandoff && n.mode == mesh.ModeDHT && n.table.SliceOf(r.to.ID) == n.table.SliceOf(lk.target) {
		// A peer of the record's slice knows that slice whole: its answer names the replicas.
		// The Touch that follows confirms them before this node lets go, so a second round
		// (about five more requests) would buy nothing.
		lk.done = true
		delete(n.lookups, lk.id)
		n.handOff(now, lk.key, n.closestIncludingSelf(lk.target, append([]mesh.Contact{r.to}, closer...)))
		return
	}
	n.progress(now, lk)
}

// retryLookups starts again the user lookups whose retry is due.
func (n *Node) retryLookups(now time.Time) {
	var due, wait []*lookup
	for _, lk := range n.retries {
		if now.Before(lk.retryAt) {
			wait = append(wait, lk)
		} else {
			due = append(due, lk)
		}
	}
	// A retry that ends at once (nobody left to ask) may be scheduled again: n.retries must be
	// settled before any starts.
	n.retries = wait
	for _, lk := range due {
		seeds := n.table.ClosestLive(lk.target, n.t.ResponseContacts)
		n.startLookup(now, lk, append(seeds, n.otherViews(lk.target)...))
	}
}

// otherViews picks Alpha live far peers at random, of distinct slices other than the target's,
// to ask along with the closest in a retried lookup. The peers of one slice share their view of
// another slice (they copy each other's far peers when they join), so after a partition every
// peer this node asks may know only the target slice's members on the far side, and stay unaware
// of it until those time out on them; a peer of another slice keeps its own few members of the
// target slice, each on this side with even odds.
func (n *Node) otherViews(target [mesh.IDBytes]byte) []mesh.Contact {
	far := n.table.Far()
	var out []mesh.Contact
	taken := []uint32{n.table.SliceOf(target)}
	for _, i := range n.rnd.Perm(len(far)) {
		if len(out) == n.t.Alpha {
			break
		}
		c := far[i]
		s := n.table.SliceOf(c.ID)
		if p, ok := n.table.Get(c.ID); slices.Contains(taken, s) || (ok && p.Fails > 0) {
			continue
		}
		taken = append(taken, s)
		out = append(out, c)
	}
	return out
}
