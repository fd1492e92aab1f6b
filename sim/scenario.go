package sim

import (
	"math"
	"time"
)

// window is a half-open span of virtual time.
type window struct{ from, to time.Duration }

// plan is a scenario's timeline as the measurements see it.
type plan struct {
	spanStart, spanEnd time.Duration // workload and byte measurement span
	transitions        []window      // lookups issued in these count as transition lookups
	settle             time.Duration
	convergeFrom       time.Duration // the scenario's event; -1 until it happened
}

func (p *plan) inTransition(t time.Duration) bool {
	for _, w := range p.transitions {
		if t >= w.from && t < w.to {
			return true
		}
	}
	return false
}

// transitionAfter marks the settle period after an event at t.
func (p *plan) transitionAfter(t time.Duration) {
	p.transitions = append(p.transitions, window{t, t + p.settle})
}

// setup schedules the scenario's timeline. D is the duration, S = D/10 the settle period, J the
// end of the quick join (see docs/simulator.md for every scenario's timeline).
func (s *Sim) setup() {
	d, n := s.cfg.Duration, s.cfg.Nodes
	p := &s.plan
	p.settle = d / 10
	p.spanEnd = d
	p.convergeFrom = -1
	spacing := min(joinSpacing, d/10/time.Duration(n))
	joinEnd := spacing * time.Duration(n-1)
	p.spanStart = joinEnd
	p.transitionAfter(joinEnd)
	oneMesh := func(int) (int, int32) { return 0, 0 }

	switch s.cfg.Scenario {
	case ScenarioSteady:
		// Steady state is what is measured: lookups and bytes from the end of the settle period.
		p.spanStart, p.transitions = joinEnd+p.settle, nil
		s.joinSeries(spacing, n, oneMesh, s.startOracle)
	case ScenarioPropagation:
		s.joinSeries(spacing, n, oneMesh, s.startOracle)
		s.startPropagation(joinEnd+p.settle, d-propagationWindow)
	case ScenarioGrow:
		spacing = d * 6 / 10 / time.Duration(n-1)
		p.spanStart, p.transitions = 0, nil
		s.joinSeries(spacing, n, oneMesh, s.startOracle)
	case ScenarioPartition:
		s.joinSeries(spacing, n, oneMesh, nil)
		split, heal := d*3/10, d*65/100
		p.transitionAfter(split)
		p.transitionAfter(heal)
		var members []bool
		s.at(split, func() { members = s.partition() })
		s.at(heal, func() { s.heal(members); s.startOracle() })
	case ScenarioMerge:
		twoMeshes := func(k int) (int, int32) { return k % 2, int32(k % 2) }
		s.joinSeries(spacing, n, twoMeshes, nil)
		contact := d * 4 / 10
		p.transitionAfter(contact)
		s.at(contact, func() { s.contact(); s.startOracle() })
	case ScenarioFailure:
		s.joinSeries(spacing, n, oneMesh, nil)
		failure := d * 4 / 10
		p.transitionAfter(failure)
		s.at(failure, func() { s.failure(); s.startOracle() })
	case ScenarioChurn:
		s.joinSeries(spacing, n, oneMesh, nil)
		from, to := joinEnd+p.settle, d*8/10
		p.transitionAfter(to)
		s.startChurn(from, to)
		s.at(to, s.startOracle)
	}

	rate := s.cfg.LookupRate
	if rate == 0 {
		rate = autoLookups / (p.spanEnd - p.spanStart).Seconds()
	}
	s.startWorkload(p.spanStart, p.spanEnd, rate)
}

// joinSeries starts count nodes, one every spacing from time zero; place says each one's team
// and component; then runs after the last join (in the same event).
func (s *Sim) joinSeries(spacing time.Duration, count int, place func(k int) (int, int32), then func()) {
	var step func(k int)
	step = func(k int) {
		t, c := place(k)
		s.join(t, c)
		if k+1 < count {
			s.at(s.now+spacing, func() { step(k + 1) })
		} else if then != nil {
			then()
		}
	}
	s.at(0, func() { step(0) })
}

// partition splits the live nodes into two random halves, cutting every direct link between
// them. It returns the membership of the half that moved to a new component.
func (s *Sim) partition() []bool {
	members := make([]bool, len(s.nodes))
	perm := s.rnd.Perm(len(s.live))
	var moved []int32
	for _, k := range perm[:len(perm)/2] {
		moved = append(moved, s.live[k])
		members[s.live[k]] = true
	}
	_, cut := s.net.split(moved)
	for _, l := range cut {
		s.disconnect(l[0], l[1])
	}
	return members
}

// heal reunites the halves; discovery finds a few links across.
func (s *Sim) heal(members []bool) {
	var in, out int32 = -1, -1
	for _, i := range s.live {
		if members[i] && in < 0 {
			in = i
		} else if !members[i] && out < 0 {
			out = i
		}
	}
	if in < 0 || out < 0 {
		return
	}
	s.net.unite(s.net.comp[out], s.net.comp[in])
	for k, try := 0, 0; k < healLinks && try < 64*healLinks; try++ {
		a, b := s.randomLive(), s.randomLive()
		if members[a] && !members[b] && !s.net.linked(a, b) {
			s.connect(a, b)
			k++
		}
	}
}

// contact lets the two meshes meet through exactly one direct link.
func (s *Sim) contact() {
	pick := func(t int) int32 {
		for try := 0; try < 256; try++ {
			if i := s.randomLive(); s.nodes[i].team == t {
				return i
			}
		}
		for _, i := range s.live {
			if s.nodes[i].team == t {
				return i
			}
		}
		return -1
	}
	a, b := pick(0), pick(1)
	if a < 0 || b < 0 {
		return
	}
	s.net.unite(s.net.comp[a], s.net.comp[b])
	s.connect(a, b)
}

// failure kills failureFraction of the live nodes at once.
func (s *Sim) failure() {
	perm := s.rnd.Perm(len(s.live))
	victims := make([]int32, 0, len(perm))
	for _, k := range perm[:int(float64(len(perm))*failureFraction)] {
		victims = append(victims, s.live[k])
	}
	for _, v := range victims {
		s.kill(v)
	}
}

// startChurn runs Poisson arrivals and departures over [from, to): sessions are exponential with
// median cfg.Session, arrivals keep the expected population at cfg.Nodes, and half of the
// departures are clean (Leave) while the other half are kills.
func (s *Sim) startChurn(from, to time.Duration) {
	meanSession := s.cfg.Session.Seconds() / math.Ln2
	arrivalRate := float64(s.cfg.Nodes) / meanSession
	depart := func(i int32) {
		at := s.now + expDuration(s.rnd.ExpFloat64()*meanSession)
		if at >= to {
			return
		}
		s.at(at, func() {
			if s.rnd.IntN(2) == 0 {
				s.leave(i)
			} else {
				s.kill(i)
			}
		})
	}
	var arrive func()
	arrive = func() {
		if s.now >= to {
			return
		}
		if i := s.join(0, 0); i >= 0 {
			depart(i)
		}
		s.at(s.now+expDuration(s.rnd.ExpFloat64()/arrivalRate), arrive)
	}
	s.at(from, func() {
		for _, i := range s.live {
			depart(i)
		}
		s.at(s.now+expDuration(s.rnd.ExpFloat64()/arrivalRate), arrive)
	})
}
