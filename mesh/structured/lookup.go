package structured

import (
	"bytes"
	"slices"

	"meshcomm/mesh"
)

type candState uint8

const (
	candFresh candState = iota
	candAsked
	candAnswered
	candFailed
)

type cand struct {
	c     mesh.Contact
	d     mesh.Distance
	state candState
	slow  bool // asked, unanswered for a while, no longer holding one of the alpha slots
	round int  // sequential round in which this peer is (or would be) asked
}

// Lookup is an iterative, parallel Kademlia lookup toward a target. It decides whom to ask;
// the caller sends the requests and reports answers and failures. Hops are counted as rounds:
// a peer learned from an answer in round r is asked in round r+1.
type Lookup struct {
	target   [mesh.IDBytes]byte
	self     mesh.NodeID
	alpha    int
	k        int
	cands    []*cand
	byID     map[mesh.NodeID]*cand
	inflight int // requests holding one of the alpha slots
	slow     int // requests still unanswered that no longer hold a slot (see Slow)
}

// NewLookup starts a lookup seeded with known peers.
func NewLookup(self mesh.NodeID, target [mesh.IDBytes]byte, seeds []mesh.Contact, alpha, k int) *Lookup {
	l := &Lookup{target: target, self: self, alpha: alpha, k: k, byID: map[mesh.NodeID]*cand{}}
	l.add(seeds, 1)
	return l
}

func (l *Lookup) add(cs []mesh.Contact, round int) {
	for _, c := range cs {
		if c.ID == l.self || c.ID.IsZero() {
			continue
		}
		if _, ok := l.byID[c.ID]; ok {
			continue
		}
		x := &cand{c: c, d: mesh.XOR(l.target, c.ID), round: round}
		l.byID[c.ID] = x
		l.cands = append(l.cands, x)
	}
	slices.SortFunc(l.cands, func(a, b *cand) int { return bytes.Compare(a.d[:], b.d[:]) })
	if max := 4 * l.k; len(l.cands) > max {
		for _, x := range l.cands[max:] {
			if x.state == candFresh {
				delete(l.byID, x.c.ID)
			}
		}
		keep := l.cands[:0]
		for i, x := range l.cands {
			if i < max || x.state == candAsked {
				keep = append(keep, x)
			}
		}
		l.cands = keep
	}
}

// Exclude marks peers not yet asked as failed, so that they never are: a lookup tried again
// need not wait again for peers that did not answer the last try, nor a lookup under way for a
// peer that has just failed to answer another request.
func (l *Lookup) Exclude(ids []mesh.NodeID) {
	for _, id := range ids {
		if x, ok := l.byID[id]; !ok {
			l.byID[id] = &cand{c: mesh.Contact{ID: id}, state: candFailed}
		} else if x.state == candFresh {
			x.state = candFailed
		}
	}
}

// Add offers more candidates (asked in the first round), e.g. when every seed has failed.
func (l *Lookup) Add(cs []mesh.Contact) { l.add(cs, 1) }

// Answers counts the peers that have answered.
func (l *Lookup) Answers() int {
	c := 0
	for _, x := range l.cands {
		if x.state == candAnswered {
			c++
		}
	}
	return c
}

// Ask is a request the caller must send.
type Ask struct {
	To    mesh.Contact
	Round int
}

// Next returns the peers to ask now, keeping up to alpha requests in flight, drawn from the
// closest unasked candidates among the k closest not known to have failed or to be slow.
func (l *Lookup) Next() []Ask {
	var out []Ask
	seen := 0
	for _, x := range l.cands {
		if l.inflight >= l.alpha {
			break
		}
		if x.state == candFailed || x.slow {
			continue
		}
		seen++
		if seen > l.k {
			break
		}
		if x.state == candFresh {
			x.state = candAsked
			l.inflight++
			out = append(out, Ask{To: x.c, Round: x.round})
		}
	}
	return out
}

// Slow records a request that has gone unanswered for longer than a live peer takes: it stops
// holding one of the alpha slots and its peer leaves the k closest, so the lookup asks the next
// candidate instead of waiting for the request's timeout; an answer that comes later still
// counts. (After a partition the peers named first are often on the other side: waiting out
// each one's timeout in turn made lookups take seconds. Short timeouts of this kind are common
// practice in Kademlia implementations.)
func (l *Lookup) Slow(from mesh.NodeID) {
	x, ok := l.byID[from]
	if !ok || x.state != candAsked || x.slow {
		return
	}
	x.slow = true
	l.inflight--
	l.slow++
}

// settle ends the request to x: it no longer holds a slot or counts as slow.
func (l *Lookup) settle(x *cand) {
	if x.slow {
		x.slow = false
		l.slow--
	} else {
		l.inflight--
	}
}

// Answered records a peer's answer carrying closer peers.
func (l *Lookup) Answered(from mesh.NodeID, closer []mesh.Contact) {
	x, ok := l.byID[from]
	if !ok || x.state != candAsked {
		return
	}
	l.settle(x)
	x.state = candAnswered
	l.add(closer, x.round+1)
}

// Failed records a request that went unanswered.
func (l *Lookup) Failed(from mesh.NodeID) {
	x, ok := l.byID[from]
	if !ok || x.state != candAsked {
		return
	}
	l.settle(x)
	x.state = candFailed
}

// Round returns the round in which from was asked (0 if unknown).
func (l *Lookup) Round(from mesh.NodeID) int {
	if x, ok := l.byID[from]; ok {
		return x.round
	}
	return 0
}

// Done reports whether the lookup has nothing left to do: nothing in flight, no fresh candidate
// among the k closest live ones, and no slow request it still needs. Slow requests are given up
// only once k peers have answered: when fewer have, the slow ones are all the lookup has left
// (on a link slower than expected, every request may be slow), so it waits for their answers or
// timeouts.
func (l *Lookup) Done() bool {
	if l.inflight > 0 {
		return false
	}
	seen, answered := 0, 0
	for _, x := range l.cands {
		if x.state == candFailed || x.slow {
			continue
		}
		seen++
		if seen > l.k {
			break
		}
		switch x.state {
		case candFresh:
			return false
		case candAnswered:
			answered++
		}
	}
	return l.slow == 0 || answered >= l.k
}

// Closest returns up to n peers that answered, closest first.
func (l *Lookup) Closest(n int) []mesh.Contact {
	var out []mesh.Contact
	for _, x := range l.cands {
		if x.state == candAnswered {
			out = append(out, x.c)
			if len(out) == n {
				break
			}
		}
	}
	return out
}

// Rounds is the deepest round asked so far.
func (l *Lookup) Rounds() int {
	r := 0
	for _, x := range l.cands {
		if x.state != candFresh && x.round > r {
			r = x.round
		}
	}
	return r
}
