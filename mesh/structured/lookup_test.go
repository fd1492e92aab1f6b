package structured

import (
	"math/rand/v2"
	"reflect"
	"sort"
	"testing"

	"meshcomm/mesh"
)

// byDistance returns the contacts sorted by XOR distance to target.
func byDistance(target mesh.NodeID, cs []mesh.Contact) []mesh.Contact {
	out := append([]mesh.Contact{}, cs...)
	sort.Slice(out, func(i, j int) bool { return mesh.XOR(target, out[i].ID).Less(mesh.XOR(target, out[j].ID)) })
	return out
}

func randomContacts(r *rand.Rand, n int) []mesh.Contact {
	out := make([]mesh.Contact, n)
	for i := range out {
		out[i] = contactOf(randomNodeID(r))
	}
	return out
}

// closerThan returns n random contacts closer to target than every contact in cs.
func closerThan(r *rand.Rand, target mesh.NodeID, cs []mesh.Contact, n int) []mesh.Contact {
	best := byDistance(target, cs)[0]
	cpl := mesh.CommonPrefixLen(target, best.ID)
	var out []mesh.Contact
	for len(out) < n {
		id := randomNodeID(r)
		for i := 0; i <= cpl; i++ { // share one more bit with the target than best does
			mask := byte(0x80 >> (i % 8))
			id[i/8] = id[i/8]&^mask | target[i/8]&mask
		}
		out = append(out, contactOf(id))
	}
	return out
}

func ids(asks []Ask) []mesh.NodeID {
	out := make([]mesh.NodeID, len(asks))
	for i, a := range asks {
		out[i] = a.To.ID
	}
	return out
}

func contactIDs(cs []mesh.Contact) []mesh.NodeID {
	out := make([]mesh.NodeID, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

func TestLookupAsksAlphaClosestFirst(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	self, target := randomNodeID(r), randomNodeID(r)
	seeds := randomContacts(r, 10)
	withJunk := append(append([]mesh.Contact{}, seeds...), contactOf(self), mesh.Contact{}, seeds[0], seeds[3])
	l := NewLookup(self, target, withJunk, 3, 5)
	asks := l.Next()
	want := byDistance(target, seeds)[:3]
	if !reflect.DeepEqual(ids(asks), contactIDs(want)) {
		t.Fatalf("first asks %v, want the 3 closest seeds %v", ids(asks), contactIDs(want))
	}
	for _, a := range asks {
		if a.Round != 1 || a.To.Addr == "" {
			t.Fatalf("seed asked as %+v, want round 1 with its address", a)
		}
	}
	if more := l.Next(); len(more) != 0 {
		t.Fatalf("Next with alpha requests in flight asked %d more", len(more))
	}
	if l.Done() {
		t.Fatal("Done with requests in flight")
	}
}

func TestLookupRoundNumbering(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	self, target := randomNodeID(r), randomNodeID(r)
	seeds := randomContacts(r, 4)
	l := NewLookup(self, target, seeds, 1, 3)
	first := l.Next()
	if len(first) != 1 || first[0].Round != 1 || l.Rounds() != 1 {
		t.Fatalf("first ask %+v, rounds %d", first, l.Rounds())
	}
	// The round-1 peer answers with closer peers: they are asked in round 2.
	closer := closerThan(r, target, seeds, 2)
	l.Answered(first[0].To.ID, closer)
	second := l.Next()
	if len(second) != 1 || second[0].Round != 2 || second[0].To.ID != byDistance(target, closer)[0].ID {
		t.Fatalf("second ask %+v, want the closest new peer in round 2", second)
	}
	if l.Round(second[0].To.ID) != 2 || l.Round(closer[1].ID) != 2 || l.Round(first[0].To.ID) != 1 || l.Rounds() != 2 {
		t.Fatal("Round/Rounds disagree with the asks")
	}
	if l.Round(randomNodeID(r)) != 0 {
		t.Fatal("Round of an unknown peer is not 0")
	}
	// Round 2 answers with closer still: round 3.
	closest := closerThan(r, target, append(closer, seeds...), 1)
	l.Answered(second[0].To.ID, closest)
	third := l.Next()
	if len(third) != 1 || third[0].Round != 3 || third[0].To.ID != closest[0].ID || l.Rounds() != 3 {
		t.Fatalf("third ask %+v, rounds %d; want the round-2 answer's peer in round 3", third, l.Rounds())
	}
	// A peer already known keeps its round when named again by a later answer.
	l.Answered(third[0].To.ID, seeds)
	if l.Round(seeds[0].ID) != 1 {
		t.Fatalf("seed re-learned in round 4 now has round %d, want 1", l.Round(seeds[0].ID))
	}
}

func TestLookupFailedFreesASlot(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	self, target := randomNodeID(r), randomNodeID(r)
	seeds := byDistance(target, randomContacts(r, 6))
	l := NewLookup(self, target, seeds, 2, 3)
	asks := l.Next()
	if !reflect.DeepEqual(ids(asks), contactIDs(seeds[:2])) {
		t.Fatalf("asks %v, want the 2 closest", ids(asks))
	}
	// A failure report about a peer not asked changes nothing.
	l.Failed(seeds[4].ID)
	l.Answered(seeds[5].ID, nil)
	if more := l.Next(); len(more) != 0 {
		t.Fatalf("reports about unasked peers freed a slot: asked %v", ids(more))
	}
	// A real failure frees the slot for the next closest.
	l.Failed(seeds[0].ID)
	next := l.Next()
	if !reflect.DeepEqual(ids(next), contactIDs(seeds[2:3])) {
		t.Fatalf("after a failure asked %v, want %v", ids(next), contactIDs(seeds[2:3]))
	}
	// The failed peer no longer counts among the k closest: a fourth peer becomes eligible.
	l.Answered(seeds[1].ID, nil)
	if next := l.Next(); !reflect.DeepEqual(ids(next), contactIDs(seeds[3:4])) {
		t.Fatalf("asked %v, want %v (k closest live peers)", ids(next), contactIDs(seeds[3:4]))
	}
	// Reporting twice does not free a second slot.
	l.Failed(seeds[0].ID)
	l.Answered(seeds[1].ID, nil)
	if next := l.Next(); len(next) != 0 {
		t.Fatalf("repeated reports freed slots: asked %v", ids(next))
	}
}

func TestLookupDone(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	self, target := randomNodeID(r), randomNodeID(r)
	if l := NewLookup(self, target, nil, 3, 4); !l.Done() || len(l.Next()) != 0 || len(l.Closest(4)) != 0 {
		t.Fatal("a lookup with no seeds is not done at once")
	}
	seeds := byDistance(target, randomContacts(r, 8))
	l := NewLookup(self, target, seeds, 3, 4)
	if l.Done() {
		t.Fatal("Done before asking anyone")
	}
	answered := map[mesh.NodeID]bool{}
	for step := 0; !l.Done(); step++ {
		asks := l.Next()
		if len(asks) == 0 {
			t.Fatal("not done, but nothing to ask and nothing in flight")
		}
		for i, a := range asks {
			if i == 0 && step == 0 {
				l.Failed(a.To.ID) // the closest seed is dead
				continue
			}
			answered[a.To.ID] = true
			l.Answered(a.To.ID, nil)
		}
		if step > 10 {
			t.Fatal("lookup does not finish")
		}
	}
	// Done: the 4 closest live seeds have answered; nothing beyond them was asked.
	want := contactIDs(seeds[1:5])
	if got := contactIDs(l.Closest(10)); !reflect.DeepEqual(got, want) {
		t.Fatalf("Closest = %v, want the 4 closest live seeds %v", got, want)
	}
	if len(answered) != 4 {
		t.Fatalf("%d peers asked, want 4", len(answered))
	}
	if got := contactIDs(l.Closest(2)); !reflect.DeepEqual(got, want[:2]) {
		t.Fatalf("Closest(2) = %v, want %v", got, want[:2])
	}
	// A closer peer learned late (say from a slow answer) reopens the lookup.
	l2 := NewLookup(self, target, seeds[:2], 2, 2)
	asks := l2.Next()
	l2.Answered(asks[0].To.ID, nil)
	l2.Answered(asks[1].To.ID, closerThan(r, target, seeds, 1))
	if l2.Done() {
		t.Fatal("Done although a closer peer has not been asked")
	}
}

// An asked peer pushed out of the candidate list by many closer answers must still be known
// when its own answer or failure arrives, or its slot would never be freed.
func TestLookupKeepsAskedPeersWhenTrimming(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	self, target := randomNodeID(r), randomNodeID(r)
	seeds := byDistance(target, randomContacts(r, 2))
	const alpha, k = 2, 2
	l := NewLookup(self, target, seeds, alpha, k)
	l.Next()
	l.Answered(seeds[0].ID, closerThan(r, target, seeds, 10*k)) // far more than 4k candidates
	l.Failed(seeds[1].ID)                                       // the far seed, now beyond the trimmed list
	if asks := l.Next(); len(asks) != alpha {
		t.Fatalf("asked %d after the trimmed peer failed, want alpha=%d", len(asks), alpha)
	}
}

// TestLookupEndToEnd builds 2,000 routing tables as DHT mode keeps them (each node knows its
// whole slice and k peers of every other slice) and checks that iterative lookups find the
// true closest node within two rounds.
func TestLookupEndToEnd(t *testing.T) {
	const (
		nodes    = 2000
		k        = 4 // peers per far slice
		alpha    = 3
		lookupK  = 5 // replicas + 1
		answerN  = 8 // contacts per answer
		lookups  = 500
		maxFound = 4
	)
	r := rand.New(rand.NewPCG(2000, 1))
	all := make([]mesh.NodeID, nodes)
	for i := range all {
		all[i] = randomNodeID(r)
	}
	bits := int(IdealBits(nodes, k) + 0.5)
	slices := map[uint32][]mesh.NodeID{}
	for _, id := range all {
		s := mesh.Prefix(id, bits)
		slices[s] = append(slices[s], id)
	}
	tables := make(map[mesh.NodeID]*Table, nodes)
	for _, id := range all {
		tb := NewTable(id, k)
		tb.Retune(nodes)
		if tb.Bits() != bits {
			t.Fatalf("table has %d bits at %d nodes, want %d", tb.Bits(), nodes, bits)
		}
		mine := tb.SliceOf(id)
		for s, members := range slices {
			if s == mine {
				for _, m := range members {
					tb.Add(t0, contactOf(m))
				}
				continue
			}
			for _, i := range r.Perm(len(members))[:min(k, len(members))] {
				tb.Add(t0, contactOf(members[i]))
			}
		}
		tables[id] = tb
	}

	var rounds, asked []int
	missed := 0
	for range lookups {
		start := all[r.IntN(nodes)]
		target := randomNodeID(r)
		truth := all[0]
		if truth == start {
			truth = all[1]
		}
		for _, id := range all {
			if id != start && mesh.XOR(target, id).Less(mesh.XOR(target, truth)) {
				truth = id
			}
		}
		l := NewLookup(start, target, tables[start].Closest(target, answerN), alpha, lookupK)
		requests := 0
		for !l.Done() {
			asks := l.Next()
			if len(asks) == 0 {
				t.Fatal("lookup stuck: not done, nothing to ask")
			}
			for _, a := range asks {
				requests++
				l.Answered(a.To.ID, tables[a.To.ID].Closest(target, answerN))
			}
		}
		if best := l.Closest(1); len(best) == 0 || best[0].ID != truth {
			missed++
			continue
		}
		rounds = append(rounds, l.Round(truth))
		asked = append(asked, requests)
	}
	sort.Ints(rounds)
	sort.Ints(asked)
	p50, p99, worst := rounds[len(rounds)/2], rounds[len(rounds)*99/100], rounds[len(rounds)-1]
	inOne := sort.SearchInts(rounds, 2)
	t.Logf("%d nodes, %d-bit slices, k=%d alpha=%d: %d lookups, %d missed; round that reached the closest node p50 %d p99 %d max %d (%d in round 1); requests per lookup p50 %d max %d",
		nodes, bits, k, alpha, lookups, missed, p50, p99, worst, inOne, asked[len(asked)/2], asked[len(asked)-1])
	if missed > lookups/100 {
		t.Errorf("%d of %d lookups missed the closest node", missed, lookups)
	}
	if p50 > 2 || worst > maxFound {
		t.Errorf("rounds to the closest node: p50 %d (want <= 2), max %d (want <= %d)", p50, worst, maxFound)
	}
}

func TestLookupNeverAsksExcludedPeers(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	self, target := randomNodeID(r), randomNodeID(r)
	seeds := byDistance(target, randomContacts(r, 8))
	l := NewLookup(self, target, nil, 3, 4)
	// The two closest did not answer the last try: they are neither asked as seeds nor when an
	// answer names them again, and do not count among the k closest.
	l.Exclude(contactIDs(seeds[:2]))
	l.Add(seeds)
	if asks := l.Next(); !reflect.DeepEqual(ids(asks), contactIDs(seeds[2:5])) {
		t.Fatalf("asked %v, want the three closest not excluded %v", ids(asks), contactIDs(seeds[2:5]))
	}
	l.Answered(seeds[2].ID, seeds[:2])
	if asks := l.Next(); !reflect.DeepEqual(ids(asks), contactIDs(seeds[5:6])) {
		t.Fatalf("after an answer naming excluded peers, asked %v, want %v", ids(asks), contactIDs(seeds[5:6]))
	}
}

// A slow request frees its slot and leaves the k closest, so the next candidate is asked; the
// lookup gives it up once k others have answered, and its late answer still counts.
func TestLookupSlowRequestMakesRoomForTheNextCandidate(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	self, target := randomNodeID(r), randomNodeID(r)
	seeds := byDistance(target, randomContacts(r, 5))
	l := NewLookup(self, target, seeds, 1, 3)
	if asks := l.Next(); !reflect.DeepEqual(ids(asks), contactIDs(seeds[:1])) {
		t.Fatalf("asks %v, want the closest", ids(asks))
	}
	l.Slow(seeds[0].ID)
	l.Slow(seeds[0].ID) // twice frees no second slot
	if asks := l.Next(); !reflect.DeepEqual(ids(asks), contactIDs(seeds[1:2])) {
		t.Fatalf("after a slow request asked %v, want the next closest", ids(asks))
	}
	l.Slow(seeds[4].ID) // never asked: changes nothing
	if asks := l.Next(); len(asks) != 0 {
		t.Fatalf("a slow report about an unasked peer freed a slot: asked %v", ids(asks))
	}
	for _, s := range seeds[1:4] {
		l.Answered(s.ID, nil)
		if l.Done() != (s == seeds[3]) {
			t.Fatalf("after %d answers Done = %v", len(l.Closest(5)), l.Done())
		}
		l.Next()
	}
	// Three others answered: the slow closest is given up.
	if got := contactIDs(l.Closest(3)); !reflect.DeepEqual(got, contactIDs(seeds[1:4])) {
		t.Fatalf("Closest = %v, want the three that answered", got)
	}
	l.Answered(seeds[0].ID, nil) // a late answer still counts
	if got := contactIDs(l.Closest(3)); !reflect.DeepEqual(got, contactIDs(seeds[:3])) {
		t.Fatalf("after the late answer Closest = %v, want the 3 closest", got)
	}
}

// When the slow requests are all a lookup has left (fewer than k peers answered), it waits for
// them: on a link slower than expected every request is slow, and the answers still come.
func TestLookupWaitsForSlowRequestsWhenFewerThanKAnswered(t *testing.T) {
	r := rand.New(rand.NewPCG(10, 10))
	self, target := randomNodeID(r), randomNodeID(r)
	seeds := byDistance(target, randomContacts(r, 3))
	l := NewLookup(self, target, seeds, 3, 3)
	l.Next()
	for _, s := range seeds {
		l.Slow(s.ID)
	}
	if l.Done() {
		t.Fatal("done with every request slow and none answered")
	}
	l.Answered(seeds[0].ID, nil)
	l.Failed(seeds[1].ID)
	if l.Done() {
		t.Fatal("done while a slow request is still the only one left")
	}
	l.Answered(seeds[2].ID, nil)
	if !l.Done() || len(l.Closest(3)) != 2 {
		t.Fatalf("Done = %v with %d answers after every request ended", l.Done(), len(l.Closest(3)))
	}
	// A slow request that then fails frees nothing more.
	l2 := NewLookup(self, target, seeds, 1, 3)
	l2.Next()
	l2.Slow(seeds[0].ID)
	l2.Next()
	l2.Failed(seeds[0].ID)
	if asks := l2.Next(); len(asks) != 0 {
		t.Fatalf("the failure of a slow request freed a second slot: asked %v", ids(asks))
	}
}
