package sim

import (
	"math/rand/v2"
	"sync/atomic"
	"time"

	"meshcomm/mesh"
)

// fakeCore is a minimal stand-in for the overlay core that exercises the engine: it floods
// records (Store) to its direct links, answers lookups from its own store, pings a random link
// every tick and checks the timing of what the engine does to it.
type fakeCore struct {
	self    mesh.Contact
	rnd     *rand.Rand
	peers   []mesh.Contact
	store   map[mesh.RecordKey]mesh.Record
	out     mesh.Ready
	next    time.Time
	lookups mesh.LookupID
	started bool
	left    bool

	mode      mesh.Mode     // reported mode (flood unless a test says otherwise)
	holdUntil time.Time     // Stores received before this are applied only at the first tick after it
	held      []*mesh.Store // Stores waiting for holdUntil
	blind     bool          // lookups find nothing
	quiet     bool          // keeps its records to itself (engine benchmarks)
	refuse    error         // Publish fails with this
	period    time.Duration
	latency   [2]time.Duration // expected bounds of a Ping's transit
	checks    *fakeChecks
}

// fakeChecks collects what every fake core observed, for the test to assert on.
// The engine runs cores of different nodes at once, so the counters are atomic.
type fakeChecks struct {
	ticks, lateTicks, earlyTicks atomic.Int64
	pings, badTransit            atomic.Int64
	afterLeave                   atomic.Int64
}

func newFakeFactory(checks *fakeChecks, period time.Duration, lat, jit time.Duration) NewCore {
	return func(cfg CoreConfig) Core {
		return &fakeCore{self: cfg.Self, rnd: cfg.Rand, store: map[mesh.RecordKey]mesh.Record{},
			period: period, latency: [2]time.Duration{lat, lat + jit}, checks: checks}
	}
}

func (f *fakeCore) ID() mesh.NodeID { return f.self.ID }

func (f *fakeCore) Start(now time.Time) { f.started, f.next = true, now.Add(f.period) }

func (f *fakeCore) AddPeer(now time.Time, c mesh.Contact) {
	f.peers = append(f.peers, c)
	if f.quiet {
		return
	}
	var recs []mesh.Record
	for _, r := range f.store {
		recs = append(recs, r)
	}
	sortRecords(recs)
	f.send(c, &mesh.Store{Records: recs})
}

func (f *fakeCore) RemovePeer(now time.Time, id mesh.NodeID) {
	for i, p := range f.peers {
		if p.ID == id {
			f.peers = append(f.peers[:i], f.peers[i+1:]...)
			return
		}
	}
}

func (f *fakeCore) Step(now time.Time, from mesh.Contact, msg mesh.Message) {
	if f.left {
		f.checks.afterLeave.Add(1)
		return
	}
	switch m := msg.(type) {
	case *mesh.Ping:
		f.checks.pings.Add(1)
		if d := now.Sub(Epoch.Add(time.Duration(m.Nonce))); d < f.latency[0] || d > f.latency[1] {
			f.checks.badTransit.Add(1)
		}
		// A message moves the next tick earlier: the engine must drop the later tick it queued.
		f.next = now.Add(f.period / 3)
	case *mesh.Store:
		if now.Before(f.holdUntil) {
			f.held = append(f.held, m)
			return
		}
		f.apply(from, m)
	}
}

// apply stores the records of m that are new and floods them on.
func (f *fakeCore) apply(from mesh.Contact, m *mesh.Store) {
	var fresh []mesh.Record
	for _, r := range m.Records {
		if cur, ok := f.store[r.RecordKey()]; !ok || r.Version > cur.Version {
			f.store[r.RecordKey()] = r
			fresh = append(fresh, r)
		}
	}
	if len(fresh) == 0 {
		return
	}
	for _, p := range f.peers {
		if p.ID != from.ID {
			f.send(p, &mesh.Store{Records: fresh})
		}
	}
}

func (f *fakeCore) Tick(now time.Time) {
	f.checks.ticks.Add(1)
	switch {
	case now.Before(f.next):
		f.checks.earlyTicks.Add(1)
	case now.After(f.next):
		f.checks.lateTicks.Add(1)
	}
	f.next = now.Add(f.period)
	if !now.Before(f.holdUntil) {
		for _, m := range f.held {
			f.apply(mesh.Contact{}, m)
		}
		f.held = nil
	}
	if len(f.peers) > 0 {
		f.send(f.peers[f.rnd.IntN(len(f.peers))], &mesh.Ping{Nonce: uint64(now.Sub(Epoch))})
	}
}

func (f *fakeCore) NextTick() time.Time {
	if f.left {
		return time.Time{}
	}
	return f.next
}

func (f *fakeCore) Ready() mesh.Ready {
	r := f.out
	f.out = mesh.Ready{}
	return r
}

func (f *fakeCore) send(to mesh.Contact, m mesh.Message) {
	f.out.Messages = append(f.out.Messages, mesh.Envelope{To: to, Msg: m})
}

func (f *fakeCore) Publish(now time.Time, kind mesh.Kind, res mesh.ResourceID, key, value []byte, ttl time.Duration) (mesh.Record, error) {
	if f.refuse != nil {
		return mesh.Record{}, f.refuse
	}
	r := mesh.Record{Resource: res, Kind: kind, Key: key, Value: value, Expiry: now.Add(ttl).UnixMilli()}
	k := r.RecordKey()
	r.Version = f.store[k].Version + 1
	f.store[k] = r
	for _, p := range f.peers {
		if f.quiet {
			break
		}
		f.send(p, &mesh.Store{Records: []mesh.Record{r}})
	}
	return r, nil
}

func (f *fakeCore) Lookup(now time.Time, res mesh.ResourceID, kind mesh.Kind) mesh.LookupID {
	f.lookups++
	var recs []mesh.Record
	for k, r := range f.store {
		if k.Resource == res && k.Kind == kind && !f.blind {
			recs = append(recs, r)
		}
	}
	sortRecords(recs)
	f.out.Events = append(f.out.Events, mesh.LookupDone{ID: f.lookups, Resource: res, Kind: kind, Records: recs, Found: len(recs) > 0})
	return f.lookups
}

func (f *fakeCore) Leave(now time.Time) {
	for _, p := range f.peers {
		f.send(p, &mesh.Leave{})
	}
	f.left = true
}

func (f *fakeCore) Holds(k mesh.RecordKey) (mesh.Record, bool) {
	r, ok := f.store[k]
	return r, ok
}

func (f *fakeCore) Replicas() int { return 3 }
func (f *fakeCore) Mode() mesh.Mode {
	if f.mode == 0 {
		return mesh.ModeFlood
	}
	return f.mode
}

func sortRecords(rs []mesh.Record) {
	for i := 1; i < len(rs); i++ {
		for j := i; j > 0 && rs[j].Resource.String() < rs[j-1].Resource.String(); j-- {
			rs[j], rs[j-1] = rs[j-1], rs[j]
		}
	}
}
