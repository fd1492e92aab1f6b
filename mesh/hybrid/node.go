package hybrid

import (
	"errors"
	"math/rand/v2"
	"sort"
	"time"

	"meshcomm/flood"
	"meshcomm/mesh"
	"meshcomm/mesh/store"
	"meshcomm/mesh/structured"
	"meshcomm/mesh/unstructured"
)

// Config sets up a node core. Zero tuning values take the defaults in DefaultTuning.
type Config struct {
	Self     mesh.Contact
	Signer   mesh.Signer   // signs this node's own records; Signer.Identity().Node must equal Self.ID
	Verifier mesh.Verifier // authenticates every record received
	Rand     *rand.Rand    // the core's only source of randomness (seeded by the caller)
	Tuning   Tuning
}

// Status is a snapshot of a node core for status displays and the simulator.
type Status struct {
	Mode         mesh.Mode
	SizeEstimate int
	Neighbors    int // flood-mode neighbours (links in use)
	Known        int // peers in the routing table
	Records      int // records held (own and for others)
	OwnRecords   int
	SliceBits    int
}

// Node is the overlay core of one peer.
type Node struct {
	self   mesh.Contact
	signer mesh.Signer
	verify mesh.Verifier
	rnd    *rand.Rand
	t      Tuning

	mode     mesh.Mode
	modeAt   time.Time // when the current mode began
	started  bool
	left     bool
	estimate int

	store   *store.Store
	nb      *unstructured.Neighbors
	flooder *flood.Flooder[mesh.NodeID, []mesh.Record]
	table   *structured.Table

	own          map[mesh.RecordKey]*ownRecord
	pending      map[uint64]*request
	lookups      map[uint64]*lookup
	retries      []*lookup                        // user lookups to start again (see lookupRetry)
	merges       map[[mesh.IDBytes]byte]time.Time // merge broadcasts seen
	handoffs     map[mesh.RecordKey]*handoff      // records being handed to their replicas before removal
	syncAfter    map[mesh.NodeID]time.Time        // flood mode: earliest next cascaded reconciliation
	syncOwed     map[mesh.NodeID]bool             // flood mode: cascaded reconciliations waiting for that time
	heardSizes   map[mesh.NodeID]heardSize        // DHT peers' own size estimates, heard recently
	heardPruneAt time.Time                        // when heardSizes is next cleared of old entries
	nextReq      uint64
	pendingMin   time.Time // no pending request has an earlier deadline or slowAt (zero: none pending)
	rtt          roundTrips
	nextLook     uint64

	nextHousekeep   time.Time
	nextAntiEntropy time.Time
	nextProbe       time.Time
	nextSweep       time.Time
	nextRefresh     time.Time
	outcomes        []bool // recent request outcomes (true = answered), for partition suspicion
	lastFullProbe   time.Time
	lastTimeout     time.Time // when a request of this node last went unanswered
	nextMemberProbe time.Time // a newly heard member of the slice may be probed from then

	out      mesh.Ready
	counters Counters
}

// Counters count what a node did and refused, by reason.
type Counters struct {
	RecordsStored  uint64
	RecordsRefused map[string]uint64
	Timeouts       uint64
	ModeSwitches   uint64
	Merges         uint64
	LookupsFound   uint64
	LookupsMissed  uint64
}

// ErrLeft is returned by operations on a node that has left the mesh.
var ErrLeft = errors.New("node has left the mesh")

// New makes a node core. Call Start before anything else.
func New(cfg Config) *Node {
	t := cfg.Tuning.withDefaults()
	n := &Node{
		self:       cfg.Self,
		signer:     cfg.Signer,
		verify:     cfg.Verifier,
		rnd:        cfg.Rand,
		t:          t,
		mode:       mesh.ModeFlood,
		store:      store.New(),
		nb:         unstructured.NewNeighbors(t.MaxNeighbors),
		table:      structured.NewTable(cfg.Self.ID, t.FarPerSlice),
		own:        map[mesh.RecordKey]*ownRecord{},
		pending:    map[uint64]*request{},
		lookups:    map[uint64]*lookup{},
		merges:     map[[mesh.IDBytes]byte]time.Time{},
		handoffs:   map[mesh.RecordKey]*handoff{},
		syncAfter:  map[mesh.NodeID]time.Time{},
		syncOwed:   map[mesh.NodeID]bool{},
		heardSizes: map[mesh.NodeID]heardSize{},
		estimate:   1,
		counters:   Counters{RecordsRefused: map[string]uint64{}},
	}
	n.flooder = flood.New[mesh.NodeID, []mesh.Record](flood.Config{})
	return n
}

// ID is this node's identifier.
func (n *Node) ID() mesh.NodeID { return n.self.ID }

// Replicas is R, the replication factor in DHT mode.
func (n *Node) Replicas() int { return n.t.Replicas }

// Mode is the current organisation.
func (n *Node) Mode() mesh.Mode { return n.mode }

// Start begins operation in flood mode and publishes this node's membership record.
func (n *Node) Start(now time.Time) {
	if n.started {
		return
	}
	n.started = true
	n.modeAt = now
	n.nextHousekeep = now.Add(n.t.HousekeepInterval)
	n.nextAntiEntropy = now.Add(n.jitter(n.t.AntiEntropyInterval))
	n.nextProbe = now.Add(n.jitter(n.t.ProbeInterval))
	n.nextSweep = now.Add(n.t.SweepInterval)
	n.publishNodeRecord(now)
}

// jitter returns a duration uniformly drawn from [d/2, d).
func (n *Node) jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + time.Duration(n.rnd.Int64N(int64(d/2)))
}

// Ready drains the effects accumulated since the last call.
func (n *Node) Ready() mesh.Ready {
	r := n.out
	n.out = mesh.Ready{}
	return r
}

func (n *Node) send(to mesh.Contact, m mesh.Message) {
	if to.ID == n.self.ID || n.left && !isLeaveMsg(m) {
		return
	}
	n.out.Messages = append(n.out.Messages, mesh.Envelope{To: to, Msg: m})
}

func isLeaveMsg(m mesh.Message) bool {
	switch m.(type) {
	case *mesh.Leave, *mesh.Store, *mesh.Flood:
		return true
	}
	return false
}

func (n *Node) emit(e mesh.Event) { n.out.Events = append(n.out.Events, e) }

func (n *Node) refuse(from mesh.NodeID, reason string) {
	n.counters.RecordsRefused[reason]++
	n.emit(mesh.Refused{From: from, Reason: reason})
}

// Counters returns a copy of the node's counters.
func (n *Node) Counters() Counters {
	c := n.counters
	c.RecordsRefused = make(map[string]uint64, len(n.counters.RecordsRefused))
	for k, v := range n.counters.RecordsRefused {
		c.RecordsRefused[k] = v
	}
	return c
}

// Status returns a snapshot.
func (n *Node) Status() Status {
	return Status{
		Mode:         n.mode,
		SizeEstimate: n.estimate,
		Neighbors:    n.nb.Count(),
		Known:        n.table.Len(),
		Records:      n.store.Len(),
		OwnRecords:   len(n.own),
		SliceBits:    n.table.Bits(),
	}
}

// Holds returns the record held locally under k.
func (n *Node) Holds(k mesh.RecordKey) (mesh.Record, bool) { return n.store.Get(k) }

// Records returns every record held, in a deterministic order.
func (n *Node) Records() []mesh.Record { return n.store.All() }

// Peers returns the routing table's peers (near slice first), for status displays.
func (n *Node) Peers() []mesh.Contact { return append(n.table.Near(), n.table.Far()...) }

// Links returns the direct links.
func (n *Node) Links() []mesh.Contact { return n.nb.Links() }

func (n *Node) status() mesh.Status {
	return mesh.Status{Mode: n.mode, SizeEstimate: uint32(n.estimate)}
}

// Never is the NextTick of a node that has left or not started: it needs no more ticks.
var Never = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// NextTick is when Tick must next run.
func (n *Node) NextTick() time.Time {
	if n.left || !n.started {
		return Never
	}
	next := n.nextHousekeep
	if !n.pendingMin.IsZero() && n.pendingMin.Before(next) {
		next = n.pendingMin // may be early if that request was answered: a harmless extra tick
	}
	for _, lk := range n.retries {
		if lk.retryAt.Before(next) {
			next = lk.retryAt
		}
	}
	for _, lk := range n.lookups {
		if end := lk.started.Add(n.t.LookupTimeout); end.Before(next) {
			next = end
		}
	}
	if d := n.flooder.NextDeadline(); !d.IsZero() && d.Before(next) {
		next = d
	}
	if ms := n.store.NextExpiry(); ms != 0 && ms < next.UnixMilli() {
		next = time.UnixMilli(ms).UTC()
	}
	return next
}

// AddPeer tells the core a direct link to c exists (discovery found it, or a static peer). Both
// ends say Hello; reconciliation starts once each knows the other's mode.
func (n *Node) AddPeer(now time.Time, c mesh.Contact) {
	if n.left || c.ID == n.self.ID {
		return
	}
	n.nb.AddLink(c)
	n.send(c, &mesh.Hello{Status: n.status(), Self: n.self})
	n.emit(mesh.PeerUp{Peer: c})
}

// RemovePeer tells the core the direct link to id is gone.
func (n *Node) RemovePeer(now time.Time, id mesh.NodeID) {
	n.flooder.Forget(id)
	if repl, ok := n.nb.RemoveLink(id, n.rnd); ok && n.mode == mesh.ModeFlood {
		n.startSync(repl)
	}
	n.emit(mesh.PeerDown{Peer: id})
}

func (n *Node) hasNodeRecord(id mesh.NodeID, now time.Time) bool {
	return len(n.store.Find(id.Resource(), mesh.KindNode, now.UnixMilli())) > 0
}

func (n *Node) newReqID() uint64 {
	n.nextReq++
	return n.nextReq
}

func sortContacts(cs []mesh.Contact) {
	sort.Slice(cs, func(i, j int) bool {
		a, b := cs[i].ID, cs[j].ID
		for k := range a {
			if a[k] != b[k] {
				return a[k] < b[k]
			}
		}
		return false
	})
}
