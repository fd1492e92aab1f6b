package sim

import (
	"slices"
	"time"

	"meshcomm/mesh"
)

// lookupResult is how a lookup ended.
type lookupResult struct {
	found    bool
	timedOut bool
	hops     int
	latency  time.Duration
}

// pendingLookup is one lookup the simulator started through a node's core.
type pendingLookup struct {
	requester, target int32
	start             time.Duration
	done              bool
	onDone            func(lookupResult)
}

type lookupKey struct {
	node int32
	id   mesh.LookupID
}

// lookupTable matches LookupDone events to the lookups the simulator started.
type lookupTable struct {
	all     []pendingLookup
	pending map[lookupKey]int32
}

// startLookup asks requester's core for target's registration; onDone runs exactly once, when
// the answer arrives or after lookupTimeout.
func (s *Sim) startLookup(requester, target int32, onDone func(lookupResult)) {
	t := s.nodes[target]
	id := s.nodes[requester].core.Lookup(s.vt(), t.reg.Resource, mesh.KindRegistration)
	idx := int32(len(s.lookups.all))
	s.lookups.all = append(s.lookups.all, pendingLookup{requester: requester, target: target, start: s.now, onDone: onDone})
	key := lookupKey{requester, id}
	s.lookups.pending[key] = idx
	s.at(s.now+lookupTimeout, func() {
		l := &s.lookups.all[idx]
		if l.done {
			return
		}
		l.done = true
		delete(s.lookups.pending, key)
		l.onDone(lookupResult{timedOut: true, latency: lookupTimeout})
	})
	s.drain(requester, false) // a local answer comes out at once
}

// lookupDone completes the lookup a LookupDone event answers.
func (s *Sim) lookupDone(node int32, e mesh.LookupDone) {
	key := lookupKey{node, e.ID}
	idx, ok := s.lookups.pending[key]
	if !ok {
		return // a lookup the core started on its own
	}
	delete(s.lookups.pending, key)
	l := &s.lookups.all[idx]
	l.done = true
	found := e.Found && holdsRegistration(e.Records, s.nodes[l.target].reg)
	l.onDone(lookupResult{found: found, hops: e.Hops, latency: s.now - l.start})
}

// holdsRegistration reports whether recs include the live registration k.
func holdsRegistration(recs []mesh.Record, k mesh.RecordKey) bool {
	for i := range recs {
		r := &recs[i]
		if r.Kind == k.Kind && r.Resource == k.Resource && string(r.Key) == k.Key && !r.Deleted {
			return true
		}
	}
	return false
}

// workloadStats aggregates the workload's lookups.
type workloadStats struct {
	measured, measuredOK     int
	transition, transitionOK int
	transitionLatencies      []time.Duration // of the transition lookups that found their record
	discarded                int
	hops                     []int
	latencies                []time.Duration
}

// startWorkload issues lookups as a Poisson process of the given rate over [from, to).
func (s *Sim) startWorkload(from, to time.Duration, rate float64) {
	if rate <= 0 {
		return
	}
	var next func()
	next = func() {
		if s.now >= to {
			return
		}
		s.issueWorkloadLookup()
		s.at(s.now+expDuration(s.rnd.ExpFloat64()/rate), next)
	}
	s.at(from+expDuration(s.rnd.ExpFloat64()/rate), next)
}

func expDuration(seconds float64) time.Duration {
	return time.Duration(seconds * float64(time.Second))
}

// issueWorkloadLookup picks an eligible pair and starts a lookup between them.
func (s *Sim) issueWorkloadLookup() {
	req, target, ok := s.pickPair()
	if !ok {
		return
	}
	transition := s.plan.inTransition(s.now)
	s.startLookup(req, target, func(r lookupResult) {
		if !s.alive(req) || !s.alive(target) || !s.sameComponent(req, target) {
			s.work.discarded++
			return
		}
		if transition {
			s.work.transition++
			if r.found {
				s.work.transitionOK++
				s.work.transitionLatencies = append(s.work.transitionLatencies, r.latency)
			}
			return
		}
		s.work.measured++
		if r.found {
			s.work.measuredOK++
			s.work.hops = append(s.work.hops, r.hops)
			s.work.latencies = append(s.work.latencies, r.latency)
		}
	})
}

// pickPair draws a requester and a different target, both live for at least eligibleAge and in
// the same component.
func (s *Sim) pickPair() (int32, int32, bool) {
	eligible := func(i int32) bool { return s.now-s.nodes[i].joined >= eligibleAge }
	for try := 0; try < 64; try++ {
		a, b := s.randomLive(), s.randomLive()
		if a != b && eligible(a) && eligible(b) && s.sameComponent(a, b) {
			return a, b, true
		}
	}
	return 0, 0, false
}

// auditState is the final check that every live registration can still be found.
type auditState struct {
	audited, lost, left int
}

// startAudit looks up every live node's registration from another random live node of its
// component, the lookups starting evenly spread over auditSpread.
func (s *Sim) startAudit() {
	owners := slices.Clone(s.live)
	slices.Sort(owners)
	s.audit.left = len(owners)
	for k, o := range owners {
		s.at(s.now+auditSpread*time.Duration(k)/time.Duration(len(owners)), func() {
			req, ok := s.auditRequester(o)
			if !ok {
				s.audit.left-- // the only live node of its component: nobody to ask
				return
			}
			s.audit.audited++
			s.startLookup(req, o, func(r lookupResult) {
				if !r.found {
					s.audit.lost++
				}
				s.audit.left--
			})
		})
	}
}

func (s *Sim) auditRequester(owner int32) (int32, bool) {
	for try := 0; try < 64; try++ {
		if r := s.randomLive(); r != owner && s.sameComponent(r, owner) {
			return r, true
		}
	}
	for _, r := range s.live {
		if r != owner && s.sameComponent(r, owner) {
			return r, true
		}
	}
	return 0, false
}
