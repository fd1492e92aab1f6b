package hybrid_test

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"meshcomm/mesh"
	"meshcomm/mesh/hybrid"
)

// testNet is a small deterministic network of node cores for tests: a time-ordered event queue,
// fixed latency, seeded loss and reachability groups.
type testNet struct {
	t       *testing.T
	now     time.Time
	rnd     *rand.Rand
	nodes   []*hybrid.Node
	byID    map[mesh.NodeID]int
	alive   []bool
	group   []int // reachability group
	q       eventQueue
	seq     uint64
	latency time.Duration
	jitter  time.Duration
	loss    float64
	auth    []*mesh.Authority
	teams   []int
	verify  *mesh.Ed25519Verifier
	done    map[doneKey]mesh.LookupDone
	events  []mesh.Event
	tuning  hybrid.Tuning
	sent    int
	// tap, when set, sees every message a node sends (before loss and reachability).
	tap func(from int, to mesh.Contact, msg mesh.Message)
}

type doneKey struct {
	node int
	id   mesh.LookupID
}

type event struct {
	at   time.Time
	seq  uint64
	node int
	from mesh.Contact
	msg  mesh.Message // nil: a tick
}

type eventQueue []event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(event)) }
func (q *eventQueue) Pop() any     { o := *q; x := o[len(o)-1]; *q = o[:len(o)-1]; return x }

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newTestNet(t *testing.T, seed uint64, teams int) *testNet {
	nt := &testNet{t: t, now: epoch, rnd: rand.New(rand.NewPCG(seed, 1)), byID: map[mesh.NodeID]int{},
		latency: 10 * time.Millisecond, verify: &mesh.Ed25519Verifier{}, done: map[doneKey]mesh.LookupDone{}}
	for i := 0; i < teams; i++ {
		var s [32]byte
		s[0], s[1] = byte(i), 0xCA
		a := mesh.NewAuthority(s)
		nt.auth = append(nt.auth, a)
		nt.verify.Trusted = append(nt.verify.Trusted, a.PublicKey())
	}
	return nt
}

// add creates and starts a node of a team in a reachability group, linked to up to links random
// live nodes of its group.
func (nt *testNet) add(team, group, links int) int {
	i := len(nt.nodes)
	var s [32]byte
	s[0], s[1], s[2] = byte(i), byte(i>>8), byte(team)
	signer, err := nt.auth[team].Issue(s, fmt.Sprintf("sip:%d@team%d", 100+i, team))
	if err != nil {
		nt.t.Fatal(err)
	}
	self := mesh.Contact{ID: signer.Identity().Node}
	n := hybrid.New(hybrid.Config{Self: self, Signer: signer, Verifier: nt.verify,
		Rand: rand.New(rand.NewPCG(uint64(i), 7)), Tuning: nt.tuning})
	nt.nodes = append(nt.nodes, n)
	nt.alive = append(nt.alive, true)
	nt.group = append(nt.group, group)
	nt.teams = append(nt.teams, team)
	nt.byID[self.ID] = i
	n.Start(nt.now)
	if _, err := n.Publish(nt.now, mesh.KindRegistration, mesh.ResourceIDFor(nt.aor(i)), self.ID[:], []byte("contact"), time.Hour); err != nil {
		nt.t.Fatal(err)
	}
	nt.flush(i)
	var cands []int
	for j := 0; j < i; j++ {
		if nt.alive[j] && nt.group[j] == group {
			cands = append(cands, j)
		}
	}
	nt.rnd.Shuffle(len(cands), func(a, b int) { cands[a], cands[b] = cands[b], cands[a] })
	for _, j := range cands[:min(links, len(cands))] {
		nt.link(i, j)
	}
	return i
}

func (nt *testNet) aor(i int) string { return fmt.Sprintf("sip:%d@team%d", 100+i, nt.teams[i]) }

func (nt *testNet) regKey(i int) mesh.RecordKey {
	id := nt.nodes[i].ID()
	return mesh.RecordKey{Resource: mesh.ResourceIDFor(nt.aor(i)), Kind: mesh.KindRegistration, Key: string(id[:])}
}

func (nt *testNet) link(a, b int) {
	ca, cb := mesh.Contact{ID: nt.nodes[a].ID()}, mesh.Contact{ID: nt.nodes[b].ID()}
	nt.nodes[a].AddPeer(nt.now, cb)
	nt.flush(a)
	nt.nodes[b].AddPeer(nt.now, ca)
	nt.flush(b)
}

func (nt *testNet) unlink(a, b int) {
	nt.nodes[a].RemovePeer(nt.now, nt.nodes[b].ID())
	nt.flush(a)
	nt.nodes[b].RemovePeer(nt.now, nt.nodes[a].ID())
	nt.flush(b)
}

// flush drains a node's Ready: schedules its messages and its next tick.
func (nt *testNet) flush(i int) {
	rd := nt.nodes[i].Ready()
	from := mesh.Contact{ID: nt.nodes[i].ID()}
	for _, env := range rd.Messages {
		nt.sent++
		if nt.tap != nil {
			nt.tap(i, env.To, env.Msg)
		}
		j, ok := nt.byID[env.To.ID]
		if !ok || !nt.alive[j] || nt.group[j] != nt.group[i] || (nt.loss > 0 && nt.rnd.Float64() < nt.loss) {
			continue
		}
		nt.seq++
		delay := nt.latency
		if nt.jitter > 0 {
			delay += time.Duration(nt.rnd.Int64N(int64(nt.jitter)))
		}
		heap.Push(&nt.q, event{at: nt.now.Add(delay), seq: nt.seq, node: j, from: from, msg: env.Msg})
	}
	for _, e := range rd.Events {
		if d, ok := e.(mesh.LookupDone); ok {
			nt.done[doneKey{i, d.ID}] = d
		}
		nt.events = append(nt.events, e)
	}
	if next := nt.nodes[i].NextTick(); next != hybrid.Never {
		if next.Before(nt.now) {
			nt.t.Fatalf("node %d asks for a tick at %v, before now %v", i, next, nt.now)
		}
		nt.seq++
		heap.Push(&nt.q, event{at: next, seq: nt.seq, node: i})
	}
}

// run processes events until virtual time reaches until.
func (nt *testNet) run(d time.Duration) {
	until := nt.now.Add(d)
	for nt.q.Len() > 0 {
		ev := nt.q[0]
		if ev.at.After(until) {
			break
		}
		heap.Pop(&nt.q)
		if ev.at.After(nt.now) {
			nt.now = ev.at
		}
		if !nt.alive[ev.node] {
			continue
		}
		n := nt.nodes[ev.node]
		if ev.msg == nil {
			if n.NextTick().After(nt.now) {
				continue // stale tick
			}
			n.Tick(nt.now)
			if !n.NextTick().After(nt.now) {
				nt.t.Fatalf("node %d still wants a tick at %v after ticking", ev.node, n.NextTick())
			}
		} else {
			n.Step(nt.now, ev.from, ev.msg)
		}
		nt.flush(ev.node)
	}
	nt.now = until
}

func (nt *testNet) kill(i int) { nt.alive[i] = false }

// lookup runs a lookup from node i for node j's registration and returns its result.
func (nt *testNet) lookup(i, j int) mesh.LookupDone {
	k := nt.regKey(j)
	id := nt.nodes[i].Lookup(nt.now, k.Resource, mesh.KindRegistration)
	nt.flush(i)
	for waited := time.Duration(0); waited < 15*time.Second; waited += 20 * time.Millisecond {
		if _, ok := nt.done[doneKey{i, id}]; ok {
			break
		}
		nt.run(20 * time.Millisecond)
	}
	d, ok := nt.done[doneKey{i, id}]
	if !ok {
		nt.t.Fatalf("lookup from %d for %d never finished", i, j)
	}
	for _, r := range d.Records {
		if r.RecordKey() == k {
			return d
		}
	}
	d.Found = false
	return d
}
