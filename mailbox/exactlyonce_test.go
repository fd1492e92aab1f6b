package mailbox

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"meshcomm/mesh"
)

// The exactly-once property, checked by a seeded randomised simulation of three nodes that
// message each other through direct hand-over and the overlay while the network reorders,
// duplicates and loses hand-overs and their answers, nodes go out of reach, and nodes crash at
// random points (before or after persisting, with their pending effects partly lost) and come
// back through Restore and Resume. The driver follows the contract of the package
// documentation: persist after every call whose Ready says Changed, then act on the rest.
// Afterwards every message sent must have been delivered to its recipient exactly once, every
// sender must hold a receipt for it, and the overlay must hold no live message record.

type effectKind int

const (
	effDirect effectKind = iota // the owner hands Outgoing to the node of its recipient
	effResult                   // the owner learns how its direct attempt ended
	effPut                      // the owner puts records into the overlay
)

type effect struct {
	kind  effectKind
	owner int
	out   Outgoing
	ok    bool
	recs  []*mesh.Record
}

type simNode struct {
	member      member
	mb          *Mailbox
	persisted   []byte
	online      bool
	incarnation uint64
}

type simStats struct {
	sent, restarts, crashesMidCall, lostAnswers, replays, viaDirect, viaOverlay, voicemail int
}

type sim struct {
	t       *testing.T
	rng     *rand.Rand
	tm      *team
	ov      *overlay
	nodes   []*simNode
	now     time.Time
	pending []effect
	history []effect
	sent    map[MessageRef]int // message -> recipient node
	seen    map[MessageRef]int // how many times a user was told of a message
	faults  bool               // crashes, lost answers and replays happen
	stats   simStats
}

func newSim(t *testing.T, seed uint64) *sim {
	tm := newTeam(t, 3)
	s := &sim{t: t, rng: rand.New(rand.NewPCG(seed, 0x5EED)), tm: tm, ov: newOverlay(t, tm.verifier), now: t0,
		sent: map[MessageRef]int{}, seen: map[MessageRef]int{}, faults: true}
	for i, m := range tm.members {
		n := &simNode{member: m, online: true}
		s.nodes = append(s.nodes, n)
		n.mb = s.restore(i)
	}
	return s
}

func (s *sim) restore(i int) *Mailbox {
	n := s.nodes[i]
	n.incarnation++
	cfg := s.tm.config(n.member, uint64(i)<<32|n.incarnation)
	if n.persisted == nil {
		mb, err := New(cfg)
		if err != nil {
			s.t.Fatal(err)
		}
		return mb
	}
	mb, err := Restore(cfg, n.persisted)
	if err != nil {
		s.t.Fatalf("node %d: restore: %v", i, err)
	}
	return mb
}

func (s *sim) index(aor string) int {
	for i, n := range s.nodes {
		if n.member.aor == aor {
			return i
		}
	}
	s.t.Fatalf("no node for %s", aor)
	return -1
}

// apply is the driver: persist, then act.
func (s *sim) apply(i int, r Ready) {
	n := s.nodes[i]
	if r.Changed {
		data, err := n.mb.Marshal()
		if err != nil {
			s.t.Fatal(err)
		}
		n.persisted = data
	}
	for _, f := range r.Refused {
		s.t.Fatalf("node %d refused %s from %s: %s: %v", i, f.ID.Short(), f.From.Short(), f.Reason, f.Err)
	}
	for _, e := range r.Delivered {
		if to, ok := s.sent[e.Ref]; !ok || to != i {
			s.t.Fatalf("node %d was given %s, which was not sent to it", i, e.Ref)
		}
		s.seen[e.Ref]++
		if s.seen[e.Ref] > 1 {
			s.t.Fatalf("message %s delivered to the user %d times", e.Ref, s.seen[e.Ref])
		}
		if e.Via == ViaDirect {
			s.stats.viaDirect++
		} else {
			s.stats.viaOverlay++
		}
	}
	for _, o := range r.Direct {
		s.pending = append(s.pending, effect{kind: effDirect, owner: i, out: o})
	}
	for _, rec := range r.Store { // one put per record: a voicemail's chunks may land apart
		s.pending = append(s.pending, effect{kind: effPut, owner: i, recs: []*mesh.Record{rec}})
	}
}

// crash restarts node i from what it persisted, losing some of its pending effects.
func (s *sim) crash(i int) {
	s.stats.restarts++
	s.pending = slices.DeleteFunc(s.pending, func(e effect) bool { return e.owner == i && s.rng.IntN(2) == 0 })
	s.nodes[i].mb = s.restore(i)
	s.apply(i, s.nodes[i].mb.Resume(s.now))
}

// crashMidCall decides whether node i dies inside a call, before persisting its result.
func (s *sim) crashMidCall(i int) bool {
	if !s.faults || s.rng.IntN(25) != 0 {
		return false
	}
	s.stats.crashesMidCall++
	s.crash(i)
	return true
}

func (s *sim) send() {
	from := s.rng.IntN(len(s.nodes))
	to := (from + 1 + s.rng.IntN(len(s.nodes)-1)) % len(s.nodes)
	n, toAoR := s.nodes[from], s.nodes[to].member.aor
	var id MessageID
	var r Ready
	var err error
	if s.rng.IntN(8) == 0 {
		v := Voicemail{MediaType: "audio/opus", Audio: audio(1+s.rng.IntN(3*ChunkPlaintextBytes), s.rng.Uint64())}
		id, r, err = n.mb.SendVoicemail(s.now, toAoR, s.nodes[to].member.pub(), v)
		s.stats.voicemail++
	} else {
		id, r, err = n.mb.SendText(s.now, toAoR, fmt.Sprintf("message %d", s.stats.sent))
	}
	if err != nil {
		s.t.Fatal(err)
	}
	s.stats.sent++
	s.sent[MessageRef{Node: n.member.node(), ID: id}] = to
	s.apply(from, r)
}

// perform carries out pending effect k (its owner is online).
func (s *sim) perform(k int) {
	e := s.pending[k]
	s.pending = slices.Delete(s.pending, k, k+1)
	switch e.kind {
	case effDirect:
		s.history = append(s.history, e)
		s.pending = append(s.pending, effect{kind: effResult, owner: e.owner, out: e.out, ok: s.handOver(e)})
	case effResult:
		n := s.nodes[e.owner]
		r := n.mb.DirectResult(s.now, e.out.ID, e.ok)
		if !s.crashMidCall(e.owner) {
			s.apply(e.owner, r)
		}
	case effPut:
		s.history = append(s.history, e)
		s.ov.put(s.now, e.recs...)
	}
}

// handOver delivers a direct attempt and returns what its sender learns.
func (s *sim) handOver(e effect) bool {
	to := s.index(e.out.To)
	n := s.nodes[to]
	if !n.online {
		return false
	}
	r, err := n.mb.ReceiveDirect(s.now, e.out.Records)
	if s.crashMidCall(to) {
		return false // no answer
	}
	s.apply(to, r)
	if err != nil {
		s.t.Fatalf("direct hand-over refused: %v", err)
	}
	if s.faults && s.rng.IntN(6) == 0 {
		s.stats.lostAnswers++
		return false // accepted, but the answer was lost: the sender stores it too
	}
	return true
}

func (s *sim) check(i int) {
	n := s.nodes[i]
	r := n.mb.ReceiveStored(s.now, s.ov.find(s.now, n.member.aor))
	if !s.crashMidCall(i) {
		s.apply(i, r)
	}
}

// replay repeats an old hand-over or put (a duplicate from the network), or gives a node a
// copy of an old record straight from a replica that missed its deletion.
func (s *sim) replay() {
	if len(s.history) == 0 {
		return
	}
	s.stats.replays++
	e := s.history[s.rng.IntN(len(s.history))]
	switch {
	case e.kind == effDirect:
		s.handOver(e)
	case s.rng.IntN(2) == 0:
		s.ov.put(s.now, e.recs...)
	default:
		rec := e.recs[0]
		for i, n := range s.nodes {
			if n.online && rec.Resource == mesh.ResourceIDFor(n.member.aor) && !rec.Deleted {
				r := n.mb.ReceiveStored(s.now, []*mesh.Record{rec})
				s.apply(i, r)
			}
		}
	}
}

func (s *sim) tick() {
	s.now = s.now.Add(time.Duration(s.rng.IntN(20*60)) * time.Second)
	for i, n := range s.nodes {
		if n.online {
			s.apply(i, n.mb.Tick(s.now))
		}
	}
}

// runnable lists the pending effects whose owner is online.
func (s *sim) runnable() []int {
	var out []int
	for k, e := range s.pending {
		if s.nodes[e.owner].online {
			out = append(out, k)
		}
	}
	return out
}

func (s *sim) step() {
	i := s.rng.IntN(len(s.nodes))
	switch roll := s.rng.IntN(100); {
	case roll < 12:
		s.send()
	case roll < 60:
		if ks := s.runnable(); len(ks) > 0 {
			s.perform(ks[s.rng.IntN(len(ks))]) // any order: the network reorders
		}
	case roll < 70:
		s.replay()
	case roll < 80:
		if s.nodes[i].online {
			s.check(i)
		}
	case roll < 85:
		s.crash(i)
	case roll < 90:
		s.nodes[i].online = !s.nodes[i].online
	default:
		s.tick()
	}
}

// settle brings every node back and lets everything pending happen, with no more faults.
func (s *sim) settle() {
	s.faults = false
	for _, n := range s.nodes {
		n.online = true
	}
	for round := 0; round < 50; round++ {
		for len(s.pending) > 0 {
			s.perform(s.rng.IntN(len(s.pending)))
		}
		for i := range s.nodes {
			s.check(i)
		}
		if len(s.pending) == 0 && s.allConfirmed() {
			return
		}
		s.tick()
		s.now = s.now.Add(DefaultRepublishEvery)
		s.tick()
	}
}

func (s *sim) allConfirmed() bool {
	for _, n := range s.nodes {
		for _, e := range n.mb.Outbox() {
			if e.State != Delivered {
				return false
			}
		}
	}
	return true
}

func (s *sim) verify() {
	for ref, to := range s.sent {
		if s.seen[ref] != 1 {
			s.t.Errorf("message %s (to node %d) delivered %d times", ref, to, s.seen[ref])
		}
		if _, ok := s.nodes[to].mb.Received(ref); !ok {
			s.t.Errorf("message %s not in node %d's inbox", ref, to)
		}
	}
	for i, n := range s.nodes {
		if got := len(n.mb.Inbox()); got != countTo(s.sent, i) {
			s.t.Errorf("node %d's inbox holds %d messages, %d were sent to it", i, got, countTo(s.sent, i))
		}
		for _, e := range n.mb.Outbox() {
			if e.State != Delivered {
				s.t.Errorf("node %d: message %s is %s, not delivered", i, e.ID.Short(), e.State)
			}
		}
		if left := s.ov.find(s.now, n.member.aor); len(left) != 0 {
			s.t.Errorf("%d live message records left at node %d's resource", len(left), i)
		}
	}
}

func countTo(sent map[MessageRef]int, i int) int {
	n := 0
	for _, to := range sent {
		if to == i {
			n++
		}
	}
	return n
}

func TestExactlyOnceUnderFaults(t *testing.T) {
	var total simStats
	for seed := range uint64(24) {
		s := newSim(t, seed)
		for range 300 {
			s.step()
		}
		s.settle()
		s.verify()
		if t.Failed() {
			t.Fatalf("seed %d failed (stats %+v)", seed, s.stats)
		}
		total.sent += s.stats.sent
		total.restarts += s.stats.restarts
		total.crashesMidCall += s.stats.crashesMidCall
		total.lostAnswers += s.stats.lostAnswers
		total.replays += s.stats.replays
		total.viaDirect += s.stats.viaDirect
		total.viaOverlay += s.stats.viaOverlay
		total.voicemail += s.stats.voicemail
	}
	t.Logf("totals over all seeds: %+v", total)
	// The faults and both paths really happened, so the property was tested under them.
	if total.restarts < 50 || total.crashesMidCall < 10 || total.lostAnswers < 10 || total.replays < 50 ||
		total.viaDirect < 50 || total.viaOverlay < 50 || total.voicemail < 20 {
		t.Fatalf("the simulation did not exercise every path: %+v", total)
	}
}
