package sim

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"time"

	"meshcomm/mesh"
)

// node is the simulator's view of one simulated peer.
type node struct {
	core    Core
	contact mesh.Contact
	team    int
	joined  time.Duration
	reg     mesh.RecordKey // the node's registration
	name    string         // its address of record
	ext     int32          // its extension number
	version int            // how many times the registration was published (for fresh values)

	tickAt     time.Duration // when the node's next tick is due
	tickGen    uint32        // generation of the pending tick; queued tick events of older ones are stale
	ticking    bool          // a tick is due at tickAt
	tickQueued bool          // the tick of generation tickGen is in the event queue

	work windowWork // what the node does in the current window
}

// team is one incident team: its authority and its domain.
type team struct {
	auth   *mesh.Authority
	domain string
}

// Sim is one simulation run: the event queue, the nodes and the measurements.
type Sim struct {
	cfg      Config
	q        eventQueue
	now      time.Duration // virtual time since Epoch
	net      *network
	nodes    []*node
	contacts []mesh.Contact // each node's contact, by index (read on every delivery)
	byID     map[mesh.NodeID]int32
	rnd      *rand.Rand            // scenario and workload choices (the link model has its own source)
	trust    *mesh.Ed25519Verifier // the teams' authorities
	verifier *sharedVerifier       // what every core verifies with (trust, remembering successes)
	teams    []team
	live     []int32 // live nodes, in no particular order
	livePos  []int32 // position of each node in live, -1 when dead
	plan     plan

	lookups  lookupTable
	work     workloadStats
	traffic  traffic
	oracle   *oracle
	props    *propagation
	audit    auditState
	nodeSecs float64 // live node-seconds within the measurement span
	accrued  time.Duration

	win windowRunner

	modeCounts ModeCounts
	events     uint64
	peakHeap   uint64
	err        error
}

// traffic counts what the cores sent.
type traffic struct {
	messages        uint64
	lookupBytes     uint64 // FindValue and Value
	maintBytes      uint64 // every other message type
	spanLookupBytes uint64 // the same, within the measurement span
	spanMaintBytes  uint64
	unknownDest     uint64 // messages to a node id the simulator never created
	wireErrors      uint64 // messages the codec refused (Wire mode)
	modeSwitches    uint64
	refused         uint64
	lost, unreached uint64           // the engine's workers count drops here (see network for the rest)
	byType          [256]typeTraffic // indexed by mesh.MsgType
}

// typeTraffic counts the messages of one type.
type typeTraffic struct {
	name            string // Go type name, captured from the first message seen
	messages, bytes uint64
}

func newSim(cfg Config) *Sim {
	s := &Sim{
		cfg:   cfg,
		byID:  make(map[mesh.NodeID]int32, cfg.Nodes),
		rnd:   rand.New(rand.NewPCG(cfg.Seed, 0x5eed_5ce0)),
		trust: &mesh.Ed25519Verifier{},
	}
	s.verifier = newSharedVerifier(s.trust)
	s.net = newNetwork(cfg.Latency, cfg.Jitter, cfg.Loss, cfg.Seed)
	s.lookups.pending = map[lookupKey]int32{}
	s.win.workers, s.win.tallies = 1, make([]traffic, 1) // until startWorkers
	teams := 1
	if cfg.Scenario == ScenarioMerge {
		teams = 2
	}
	for t := range teams {
		auth := mesh.NewAuthority(derive(cfg.Seed, "authority", uint64(t)))
		s.teams = append(s.teams, team{auth: auth, domain: fmt.Sprintf("team-%c", 'a'+t)})
		s.trust.Trusted = append(s.trust.Trusted, auth.PublicKey())
	}
	return s
}

// derive makes a 32-byte key seed from the run's seed, a purpose and an index.
func derive(seed uint64, purpose string, i uint64) [32]byte {
	b := binary.BigEndian.AppendUint64([]byte("meshcomm-sim/"+purpose+"/"), seed)
	b = binary.BigEndian.AppendUint64(b, i)
	return sha256.Sum256(b)
}

// vt is the current virtual time as a wall-clock value for the cores.
func (s *Sim) vt() time.Time { return Epoch.Add(s.now) }

// at schedules fn at virtual time t (never in the past).
func (s *Sim) at(t time.Duration, fn func()) {
	s.q.push(max(t, s.now), event{kind: evAction, fn: fn})
}

// run processes events up to and including virtual time end, or until stop reports true (it is
// asked after every action and every window).
func (s *Sim) run(end time.Duration, stop func() bool) {
	for s.err == nil && s.q.len() > 0 {
		at, kind := s.q.peekKind()
		if at > end {
			break
		}
		if kind == evAction {
			_, ev := s.q.pop()
			s.now = at
			ev.fn()
			s.countEvents(1)
		} else {
			s.runWindow(at, end)
		}
		if stop != nil && stop() {
			return
		}
	}
	if stop == nil && s.now < end {
		s.now = end
	}
}

func (s *Sim) sampleHeap() {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s.peakHeap = max(s.peakHeap, ms.HeapAlloc)
}

// drain performs, now, the effects a node's core accumulated during a scenario action, and
// queues its next tick.
func (s *Sim) drain(i int32, afterTick bool) {
	rd := s.nodes[i].core.Ready()
	for _, env := range rd.Messages {
		s.send(i, s.prepare(env))
	}
	s.handle(i, rd.Events)
	if s.props != nil {
		for _, t := range s.props.reachedBy(s, i) {
			s.props.count(t, s.now)
		}
	}
	s.reschedule(i, s.now, afterTick)
	s.queueTick(i)
}

// handle takes note of a core's events, at the current virtual time.
func (s *Sim) handle(i int32, events []mesh.Event) {
	for _, e := range events {
		switch e := e.(type) {
		case mesh.LookupDone:
			s.lookupDone(i, e)
		case mesh.ModeChanged:
			s.traffic.modeSwitches++
		case mesh.Refused:
			s.traffic.refused++
		}
	}
}

// outgoing is a message a core sent, prepared for the link model: its receiver's index (-1 for
// a node id the simulator never created), its encoded size, and whether the codec refused it
// (Wire mode). Preparing touches nothing shared, so the engine's workers do it.
type outgoing struct {
	msg     mesh.Message
	to      int32
	size    int32
	refused bool
}

// prepare resolves and sizes one message (in Wire mode, round-trips it through the codec).
func (s *Sim) prepare(env mesh.Envelope) outgoing {
	o := outgoing{msg: env.Msg, to: -1}
	if s.cfg.Wire {
		b, err := mesh.Encode(env.Msg)
		if err == nil {
			o.msg, err = mesh.Decode(b)
		}
		if err != nil {
			o.refused = true
			return o
		}
		o.size = int32(len(b))
	} else {
		o.size = int32(mesh.EncodedSize(env.Msg))
	}
	if to, ok := s.byID[env.To.ID]; ok {
		o.to = to
	}
	return o
}

// send accounts one prepared message and puts it on the link model.
func (s *Sim) send(from int32, o outgoing) {
	if !s.traffic.account(o, s.now, &s.plan) {
		return
	}
	d, ok := s.net.transmit(from, o.to)
	if !ok {
		return
	}
	s.q.push(s.now+d, event{kind: evDeliver, node: o.to, from: from, msg: o.msg})
}

// account counts one prepared message sent at virtual time at, and reports whether it goes on
// the link model (false when the codec refused it or its receiver is unknown).
func (tr *traffic) account(o outgoing, at time.Duration, p *plan) bool {
	if o.refused {
		tr.wireErrors++
		return false
	}
	msg, size := o.msg, uint64(o.size)
	tr.messages++
	tt := &tr.byType[msg.Type()]
	if tt.messages == 0 {
		tt.name = strings.TrimPrefix(fmt.Sprintf("%T", msg), "*mesh.")
	}
	tt.messages++
	tt.bytes += size
	inSpan := at >= p.spanStart && at <= p.spanEnd
	if t := msg.Type(); t == mesh.TypeFindValue || t == mesh.TypeValue {
		tr.lookupBytes += size
		if inSpan {
			tr.spanLookupBytes += size
		}
	} else {
		tr.maintBytes += size
		if inSpan {
			tr.spanMaintBytes += size
		}
	}
	if o.to < 0 {
		tr.unknownDest++
		return false
	}
	return true
}

// add adds another tally of traffic to this one.
func (tr *traffic) add(o *traffic) {
	tr.messages += o.messages
	tr.lookupBytes += o.lookupBytes
	tr.maintBytes += o.maintBytes
	tr.spanLookupBytes += o.spanLookupBytes
	tr.spanMaintBytes += o.spanMaintBytes
	tr.unknownDest += o.unknownDest
	tr.wireErrors += o.wireErrors
	tr.modeSwitches += o.modeSwitches
	tr.refused += o.refused
	tr.lost += o.lost
	tr.unreached += o.unreached
	for k := range tr.byType {
		if o.byType[k].messages > 0 {
			tr.byType[k].name = o.byType[k].name
		}
		tr.byType[k].messages += o.byType[k].messages
		tr.byType[k].bytes += o.byType[k].bytes
	}
}

// reschedule asks node i's core, after a call at virtual time now, when it next wants to tick;
// a tick pending for another time becomes stale.
func (s *Sim) reschedule(i int32, now time.Duration, afterTick bool) {
	n := s.nodes[i]
	if !s.net.alive[i] {
		return
	}
	next := n.core.NextTick()
	if next.IsZero() {
		n.ticking = false
		return
	}
	at := next.Sub(Epoch)
	earliest := now
	if afterTick {
		earliest += minTickSpacing
	}
	at = max(at, earliest)
	if n.ticking && n.tickAt == at {
		return
	}
	n.tickGen++
	n.tickAt, n.ticking, n.tickQueued = at, true, false
}

// queueTick puts node i's pending tick on the event queue unless it is there already.
func (s *Sim) queueTick(i int32) {
	n := s.nodes[i]
	if !n.ticking || n.tickQueued || !s.net.alive[i] {
		return
	}
	n.tickQueued = true
	s.q.push(n.tickAt, event{kind: evTick, node: i, gen: n.tickGen})
}

// join creates, starts and connects a new node of team t in component comp and returns its
// index (-1 if it could not be created; the run then fails).
func (s *Sim) join(t int, comp int32) int32 {
	idx := int32(len(s.nodes))
	ext := 100 + idx
	name := fmt.Sprintf("sip:%d@%s", ext, s.teams[t].domain)
	signer, err := s.teams[t].auth.Issue(derive(s.cfg.Seed, "node", uint64(idx)), name)
	if err != nil {
		s.fail(fmt.Errorf("issue credential for %s: %w", name, err))
		return -1
	}
	id := signer.Identity().Node
	n := &node{contact: mesh.Contact{ID: id}, team: t, joined: s.now, name: name, ext: ext}
	n.core = s.cfg.NewCore(CoreConfig{Self: n.contact, Signer: signer, Verifier: s.verifier,
		Rand: rand.New(rand.NewPCG(s.cfg.Seed, uint64(idx)))})
	if s.net.addNode(comp) != idx {
		panic("sim: node index out of step with the network")
	}
	s.nodes = append(s.nodes, n)
	s.contacts = append(s.contacts, n.contact)
	s.byID[id] = idx
	s.accrue()
	s.livePos = append(s.livePos, int32(len(s.live)))
	s.live = append(s.live, idx)

	n.core.Start(s.vt())
	n.reg = mesh.RecordKey{Resource: mesh.ResourceIDFor(name), Kind: mesh.KindRegistration, Key: string(id[:])}
	s.publish(idx)
	for _, p := range s.pickLinks(idx, linksPerJoin) {
		s.connect(idx, p)
	}
	return idx
}

// publish (re)publishes the node's registration with a fresh contact value.
func (s *Sim) publish(i int32) (mesh.Record, bool) {
	n := s.nodes[i]
	n.version++
	value := fmt.Sprintf("sip:%d@%s.mesh;v=%d", n.ext, n.contact.ID.Short(), n.version)
	rec, err := n.core.Publish(s.vt(), mesh.KindRegistration, n.reg.Resource, n.contact.ID[:], []byte(value), registrationTTL)
	if err != nil {
		s.fail(fmt.Errorf("node %s publishes its registration: %w", n.contact.ID.Short(), err))
		return rec, false
	}
	s.drain(i, false)
	return rec, true
}

func (s *Sim) fail(err error) {
	if s.err == nil {
		s.err = err
	}
}

// pickLinks draws up to k distinct live nodes of i's component, other than i, not linked to i.
func (s *Sim) pickLinks(i int32, k int) []int32 {
	var out []int32
	for try := 0; try < 16*k && len(out) < k; try++ {
		p := s.live[s.rnd.IntN(len(s.live))]
		if p == i || s.net.comp[p] != s.net.comp[i] || s.net.linked(i, p) || containsNode(out, p) {
			continue
		}
		out = append(out, p)
	}
	return out
}

func containsNode(xs []int32, x int32) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// connect reports a new direct link to both ends.
func (s *Sim) connect(a, b int32) {
	if !s.net.link(a, b) {
		return
	}
	s.nodes[a].core.AddPeer(s.vt(), s.nodes[b].contact)
	s.drain(a, false)
	s.nodes[b].core.AddPeer(s.vt(), s.nodes[a].contact)
	s.drain(b, false)
}

// disconnect reports the loss of a direct link to both ends (the link is already removed).
func (s *Sim) disconnect(a, b int32) {
	s.nodes[a].core.RemovePeer(s.vt(), s.nodes[b].contact.ID)
	s.drain(a, false)
	s.nodes[b].core.RemovePeer(s.vt(), s.nodes[a].contact.ID)
	s.drain(b, false)
}

// kill stops a node without a word: its pending events become no-ops.
func (s *Sim) kill(i int32) {
	if !s.net.alive[i] {
		return
	}
	s.accrue()
	s.net.kill(i)
	last := s.live[len(s.live)-1]
	pos := s.livePos[i]
	s.live[pos], s.livePos[last] = last, pos
	s.live = s.live[:len(s.live)-1]
	s.livePos[i] = -1
}

// leave shuts a node down cleanly: its Leave messages go out, then it stops.
func (s *Sim) leave(i int32) {
	if !s.net.alive[i] {
		return
	}
	s.nodes[i].core.Leave(s.vt())
	s.drain(i, false)
	s.kill(i)
}

// accrue adds live node-seconds up to now, counting only the measurement span.
func (s *Sim) accrue() {
	from, to := max(s.accrued, s.plan.spanStart), min(s.now, s.plan.spanEnd)
	if to > from {
		s.nodeSecs += float64(len(s.live)) * (to - from).Seconds()
	}
	s.accrued = max(s.accrued, s.now)
}

// randomLive returns a uniformly drawn live node.
func (s *Sim) randomLive() int32 { return s.live[s.rnd.IntN(len(s.live))] }

func (s *Sim) alive(i int32) bool { return s.net.alive[i] }

func (s *Sim) sameComponent(a, b int32) bool { return s.net.comp[a] == s.net.comp[b] }
