package sim

import (
	"cmp"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"meshcomm/mesh"
)

// The engine runs in windows, so that the cores of different nodes can work at the same time on
// several processor cores and still give the same result as on one.
//
// A message sent at virtual time t arrives no earlier than t + Latency. So within a window
// [t0, t0 + Latency) nothing one node does can reach another node: every node's deliveries and
// ticks in the window are known when the window starts (its own ticks it schedules itself).
// A window is therefore run in two phases:
//
//  1. Each node that has something to do runs its events, in time order, on any worker: its
//     deliveries and due ticks call into its core, and each call's Ready batch is kept, stamped
//     with its virtual time, in the node's outbox. Workers touch only their node's state and
//     read the network's topology, which only scenario actions change.
//     The worker also puts the node's messages on the link model (each sender draws from its
//     own random source) and counts them in its own tally.
//  2. One goroutine applies the outboxes in a canonical order: the delivered messages and each
//     node's next tick are queued in node order, and lookups complete in the order of
//     (virtual time, node index, order within the node).
//
// The result depends only on the order of phase 2, never on how many workers ran phase 1 or
// which worker ran which node. Scenario actions (joins, partitions, workload lookups, the oracle)
// run alone between windows, exactly as in a one-goroutine engine. With no latency (--latency 0)
// a window holds the events of one instant only.

// windowWork is what one node does in the current window.
type windowWork struct {
	outbox []outboxEntry
	sent   []inFlight
}

// windowEvent is one queued event of the window, as it was popped (order counts the pops).
type windowEvent struct {
	at    time.Duration
	order int32
	ev    event
}

// nodeEvents is the run of a window's events (sorted by node) that belong to one node.
type nodeEvents struct {
	node   int32
	lo, hi int32
}

// outboxEntry is what one call into a node's core produced, apart from its messages.
type outboxEntry struct {
	at      time.Duration
	node    int32
	seq     int32 // order within the node's window
	events  []mesh.Event
	reached []*tracker // propagation trackers the node reached with this call
}

// inFlight is a message the link model will deliver.
type inFlight struct {
	at  time.Duration
	to  int32
	msg mesh.Message
}

// windowRunner holds the engine's per-window state and its workers.
type windowRunner struct {
	workers int
	events  []windowEvent // the window's events, grouped by node
	active  []nodeEvents  // nodes with work in the current window, in node order
	outs    []outboxEntry
	end     time.Duration // the window is [start, end)

	next    atomic.Int64 // index into active of the next node to hand out
	start   chan struct{}
	done    sync.WaitGroup
	tallies []traffic // one per worker (0 is the engine's own goroutine), added up at the end
}

// parallelThreshold is the number of busy nodes below which a window is run on one goroutine:
// waking workers costs more than it saves.
const parallelThreshold = 16

// workerCount is how many goroutines run a window's nodes when Config.Workers is zero.
func workerCount() int { return runtime.GOMAXPROCS(0) }

func (s *Sim) startWorkers() {
	w := &s.win
	w.workers = max(1, s.cfg.Workers)
	w.tallies = make([]traffic, w.workers)
	start := make(chan struct{})
	w.start = start
	for k := 1; k < w.workers; k++ {
		go func() {
			for range start {
				s.runActive(&w.tallies[k])
				w.done.Done()
			}
		}()
	}
}

// stopWorkers ends the workers and adds their tallies to the run's.
func (s *Sim) stopWorkers() {
	if s.win.start != nil {
		close(s.win.start)
		s.win.start = nil
	}
	for k := range s.win.tallies {
		s.traffic.add(&s.win.tallies[k])
	}
	s.win.tallies = nil
}

// runWindow pops every delivery and tick due before the window's end, runs them and applies
// their effects. first is the time of the earliest queued event, which is not an action.
func (s *Sim) runWindow(first, end time.Duration) {
	w := &s.win
	w.end = min(first+max(s.cfg.Latency, 1), end+1)
	w.active, w.events = w.active[:0], w.events[:0]
	for s.q.len() > 0 {
		at, kind := s.q.peekKind()
		if at >= w.end {
			break
		}
		if kind == evAction {
			w.end = at // an action closes the window: it must see everything before it
			break
		}
		at, ev := s.q.pop()
		w.events = append(w.events, windowEvent{at: at, order: int32(len(w.events)), ev: ev})
	}
	// Group by node without touching the nodes themselves (that is the workers' job): a sort
	// by node, then by pop order, which is time order.
	slices.SortFunc(w.events, func(a, b windowEvent) int {
		if c := cmp.Compare(a.ev.node, b.ev.node); c != 0 {
			return c
		}
		return cmp.Compare(a.order, b.order)
	})
	for k := 0; k < len(w.events); {
		g := nodeEvents{node: w.events[k].ev.node, lo: int32(k)}
		for k < len(w.events) && w.events[k].ev.node == g.node {
			k++
		}
		g.hi = int32(k)
		w.active = append(w.active, g)
	}
	s.countEvents(uint64(len(w.events)))
	w.next.Store(0)
	helpers := 0
	if len(w.active) >= parallelThreshold {
		helpers = w.workers - 1
	}
	w.done.Add(helpers)
	for range helpers {
		w.start <- struct{}{}
	}
	s.runActive(&w.tallies[0])
	w.done.Wait()
	s.applyWindow()
}

// runActive runs busy nodes of the window until none is left to hand out.
func (s *Sim) runActive(tally *traffic) {
	w := &s.win
	for {
		k := int(w.next.Add(1)) - 1
		if k >= len(w.active) {
			return
		}
		g := w.active[k]
		s.runNode(g.node, w.events[g.lo:g.hi], w.end, tally)
	}
}

// runNode runs node i's events of the window, and the ticks it schedules before end, in time
// order. It touches only node i's state (and reads the topology).
func (s *Sim) runNode(i int32, events []windowEvent, end time.Duration, tally *traffic) {
	n := s.nodes[i]
	k := 0
	for {
		localTick := n.ticking && !n.tickQueued && n.tickAt < end && s.net.alive[i]
		if k == len(events) && !localTick {
			break
		}
		if localTick && (k == len(events) || n.tickAt < events[k].at) {
			at := n.tickAt
			n.ticking = false
			n.core.Tick(Epoch.Add(at))
			s.collect(i, at, tally)
			s.reschedule(i, at, true)
			continue
		}
		we := events[k]
		events[k] = windowEvent{} // drop the message reference
		k++
		switch we.ev.kind {
		case evDeliver:
			if !s.net.reachable(we.ev.from, i) {
				tally.unreached++
				continue
			}
			n.core.Step(Epoch.Add(we.at), s.contacts[we.ev.from], we.ev.msg)
			s.collect(i, we.at, tally)
			s.reschedule(i, we.at, false)
		case evTick:
			if !s.net.alive[i] || we.ev.gen != n.tickGen || !n.ticking {
				continue // stale: the node died or its tick was rescheduled
			}
			n.ticking, n.tickQueued = false, false
			n.core.Tick(Epoch.Add(we.at))
			s.collect(i, we.at, tally)
			s.reschedule(i, we.at, true)
		}
	}
}

// collect takes the Ready batch of the call into node i's core made at virtual time at: its
// messages go on the link model, the rest waits in the node's outbox.
func (s *Sim) collect(i int32, at time.Duration, tally *traffic) {
	n := s.nodes[i]
	rd := n.core.Ready()
	for _, env := range rd.Messages {
		o := s.prepare(env)
		if !tally.account(o, at, &s.plan) {
			continue
		}
		switch d, f := s.net.decide(i, o.to); f {
		case delivered:
			n.work.sent = append(n.work.sent, inFlight{at: at + d, to: o.to, msg: o.msg})
		case lost:
			tally.lost++
		case unreachable:
			tally.unreached++
		}
	}
	var reached []*tracker
	if s.props != nil {
		reached = s.props.reachedBy(s, i)
	}
	if len(rd.Events) == 0 && len(reached) == 0 {
		return
	}
	n.work.outbox = append(n.work.outbox, outboxEntry{at: at, node: i, seq: int32(len(n.work.outbox)),
		events: rd.Events, reached: reached})
}

// applyWindow performs the window's effects in canonical order and queues the next ticks.
func (s *Sim) applyWindow() {
	w := &s.win
	w.outs = w.outs[:0]
	for _, g := range w.active {
		i := g.node
		n := s.nodes[i]
		for _, m := range n.work.sent {
			s.q.push(m.at, event{kind: evDeliver, node: m.to, from: i, msg: m.msg})
		}
		clear(n.work.sent)
		n.work.sent = n.work.sent[:0]
		s.queueTick(i)
		w.outs = append(w.outs, n.work.outbox...)
		clear(n.work.outbox)
		n.work.outbox = n.work.outbox[:0]
	}
	slices.SortFunc(w.outs, func(a, b outboxEntry) int {
		if c := cmp.Compare(a.at, b.at); c != 0 {
			return c
		}
		if c := cmp.Compare(a.node, b.node); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
	for k := range w.outs {
		o := &w.outs[k]
		s.now = o.at
		s.handle(o.node, o.events)
		for _, t := range o.reached {
			s.props.count(t, s.now)
		}
	}
	clear(w.outs)
}

// countEvents adds processed events to the run's count, sampling the heap now and then.
func (s *Sim) countEvents(k uint64) {
	before := s.events
	s.events += k
	if s.events/memSampleEvery != before/memSampleEvery {
		s.sampleHeap()
	}
}
