package sim

import (
	"math"
	"slices"
	"time"

	"meshcomm/mesh"
)

// propagation follows freshly published registrations until every live node of the publisher's
// component holds them (the flood-mode target: 99% of nodes within 0.3 s, all within 2 s).
type propagation struct {
	active []*tracker
	p99s   []float64 // seconds to reach propagationQuantum of the nodes; +Inf if never
	alls   []float64 // seconds to reach all of them; +Inf if never
}

// tracker follows one publication.
type tracker struct {
	key       mesh.RecordKey
	version   uint64
	comp      int32
	start     time.Duration
	reached   []bool
	count     int
	need, all int
	p99At     time.Duration // -1 until reached
	allAt     time.Duration
}

// startPropagation schedules propagationCount republications, evenly spaced over [from, to),
// each by a random live node, each followed for propagationWindow.
func (s *Sim) startPropagation(from, to time.Duration) {
	s.props = &propagation{}
	step := (to - from) / propagationCount
	for k := range propagationCount {
		s.at(from+step*time.Duration(k), s.propagate)
	}
}

func (s *Sim) propagate() {
	pub := s.randomLive()
	comp := s.net.comp[pub]
	t := &tracker{key: s.nodes[pub].reg, comp: comp, start: s.now, reached: make([]bool, len(s.nodes)),
		p99At: -1, allAt: -1}
	for _, i := range s.live {
		if s.net.comp[i] == comp {
			t.all++
		}
	}
	t.need = int(math.Ceil(propagationQuantum * float64(t.all)))
	// Track before publishing, so the publisher's own copy counts at time zero.
	t.version = math.MaxUint64
	s.props.active = append(s.props.active, t)
	rec, ok := s.publish(pub)
	if !ok {
		return
	}
	t.version = rec.Version
	for _, r := range s.props.reachedBy(s, pub) {
		s.props.count(r, s.now)
	}
	s.at(s.now+propagationWindow, func() { s.props.finish(t) })
}

// reachedBy marks and returns the followed registrations node i now holds for the first time.
// It touches only node i's entries, so workers may call it for different nodes at once.
func (p *propagation) reachedBy(s *Sim, i int32) []*tracker {
	var out []*tracker
	for _, t := range p.active {
		if int(i) >= len(t.reached) || t.reached[i] || s.net.comp[i] != t.comp {
			continue
		}
		rec, ok := s.nodes[i].core.Holds(t.key)
		if !ok || rec.Deleted || rec.Version < t.version {
			continue
		}
		t.reached[i] = true
		out = append(out, t)
	}
	return out
}

// count records, at virtual time now, one more node holding t's registration.
func (p *propagation) count(t *tracker, now time.Duration) {
	t.count++
	if t.count >= t.need && t.p99At < 0 {
		t.p99At = now - t.start
	}
	if t.count >= t.all && t.allAt < 0 {
		t.allAt = now - t.start
	}
}

func (p *propagation) finish(t *tracker) {
	p.active = slices.DeleteFunc(p.active, func(x *tracker) bool { return x == t })
	seconds := func(d time.Duration) float64 {
		if d < 0 {
			return math.Inf(1)
		}
		return d.Seconds()
	}
	p.p99s = append(p.p99s, seconds(t.p99At))
	p.alls = append(p.alls, seconds(t.allAt))
}
