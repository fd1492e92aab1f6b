package lab

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"meshcomm/fieldtests/radiolink"
	"meshcomm/node"
)

// lookupTimeout bounds one lookup; in flood mode a lookup is answered locally at once.
const lookupTimeout = 5 * time.Second

// target is a registration the tests expect to resolve: an AoR, the node registered under it
// and the contacts a lookup may give.
type target struct {
	n        int
	aor      string
	nodeID   string
	contacts []string
}

// targetOf is what a lookup of the daemon p in namespace n should answer: its node id, and as
// contact its lab address on the default port: the IPv4 one it registers, or its IPv6
// link-local one when the asking node is linked to it over that (a lookup gives a linked
// peer's address as the link sees it; the zone is the asker's interface, eth0 in every node).
func targetOf(c *Cluster, n int, p *Process) target {
	return target{n: n, aor: p.Ready.AoR, nodeID: p.Ready.NodeID, contacts: []string{
		c.Lab().Addr(n).String() + ":7070",
		"[" + c.Lab().LinkLocal(n).String() + "]:7070",
	}}
}

func targetsOf(c *Cluster, procs map[int]*Process, ns ...int) []target {
	out := make([]target, 0, len(ns))
	for _, n := range ns {
		out = append(out, targetOf(c, n, procs[n]))
	}
	return out
}

// lookupsAtOnce bounds the lookups a check runs concurrently. A lookup is a short command-line
// process; a miss may wait on the overlay (a round of requests to neighbours), so checks run
// a few at once rather than one after another.
const lookupsAtOnce = 8

type lookupAnswer struct {
	n   int
	tg  target
	lr  node.LookupResult
	err error
}

// lookupAll runs the lookup of every target at every node in from.
func lookupAll(c *Cluster, from []int, targets []target) []lookupAnswer {
	out := make([]lookupAnswer, 0, len(from)*len(targets))
	for _, n := range from {
		for _, tg := range targets {
			out = append(out, lookupAnswer{n: n, tg: tg})
		}
	}
	var wg sync.WaitGroup
	slots := make(chan struct{}, lookupsAtOnce)
	for i := range out {
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			out[i].lr, out[i].err = c.Lookup(out[i].n, out[i].tg.aor, lookupTimeout)
		})
	}
	wg.Wait()
	return out
}

// resolves reports whether every node in from resolves every target to its node and contact,
// and if not, what is missing.
func resolves(c *Cluster, from []int, targets []target) (bool, string) {
	var missing []string
	for _, a := range lookupAll(c, from, targets) {
		switch {
		case a.err != nil:
			missing = append(missing, fmt.Sprintf("node %d: lookup %s: %v", a.n, a.tg.aor, a.err))
		case !a.lr.Found:
			missing = append(missing, fmt.Sprintf("node %d: %s not found", a.n, a.tg.aor))
		case a.lr.NodeID != a.tg.nodeID || !slices.Contains(a.tg.contacts, a.lr.Contact):
			missing = append(missing, fmt.Sprintf("node %d: %s -> node %s at %s, want node %s at one of %v", a.n, a.tg.aor,
				a.lr.NodeID, a.lr.Contact, a.tg.nodeID, a.tg.contacts))
		}
	}
	return len(missing) == 0, summarise(missing)
}

// resolvesNone reports whether no node in from resolves any of the targets.
func resolvesNone(c *Cluster, from []int, targets []target) (bool, string) {
	var wrong []string
	for _, a := range lookupAll(c, from, targets) {
		if a.err != nil {
			wrong = append(wrong, fmt.Sprintf("node %d: lookup %s: %v", a.n, a.tg.aor, a.err))
		} else if a.lr.Found {
			wrong = append(wrong, fmt.Sprintf("node %d resolves %s (node %s at %s)", a.n, a.tg.aor, a.lr.NodeID, a.lr.Contact))
		}
	}
	return len(wrong) == 0, summarise(wrong)
}

// linkedExactly reports whether each node in want has direct links to exactly the nodes
// (by node id) listed for it.
func linkedExactly(c *Cluster, want map[int][]string) (bool, string) {
	var wrong []string
	for n, ids := range want {
		peers, err := c.Peers(n)
		if err != nil {
			wrong = append(wrong, fmt.Sprintf("node %d: %v", n, err))
			continue
		}
		got := make([]string, 0, len(peers))
		for _, p := range peers {
			got = append(got, p.NodeID)
		}
		slices.Sort(got)
		w := slices.Sorted(slices.Values(ids))
		if !slices.Equal(got, w) {
			wrong = append(wrong, fmt.Sprintf("node %d linked to %s, want %s", n, shortIDs(got), shortIDs(w)))
		}
	}
	return len(wrong) == 0, summarise(wrong)
}

// idsOf lists the node ids of the daemons in namespaces ns.
func idsOf(procs map[int]*Process, ns ...int) []string {
	out := make([]string, 0, len(ns))
	for _, n := range ns {
		out = append(out, procs[n].Ready.NodeID)
	}
	return out
}

func shortIDs(ids []string) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = id[:min(8, len(id))]
	}
	return "[" + strings.Join(s, " ") + "]"
}

// summarise keeps a failure description readable: the first few items and a count.
func summarise(items []string) string {
	const show = 6
	if len(items) <= show {
		return strings.Join(items, "; ")
	}
	return fmt.Sprintf("%s; and %d more", strings.Join(items[:show], "; "), len(items)-show)
}

// span lists the integers lo..hi.
func span(lo, hi int) []int {
	out := make([]int, 0, hi-lo+1)
	for n := lo; n <= hi; n++ {
		out = append(out, n)
	}
	return out
}

// ext is the extension of the user on node n in these tests.
func ext(n int) string { return fmt.Sprintf("%d", 100+n) }

// enrolAll creates team name and enrols nodes ns into it, node n as extension ext(n).
func enrolAll(t *testing.T, c *Cluster, name string, ns ...int) *Team {
	t.Helper()
	team, err := c.EnrolAll(name, ext, ns...)
	if err != nil {
		t.Fatal(err)
	}
	return team
}

// perfect is the lab's default radio: every link up, no delay or loss.
var perfect = radiolink.Link{Up: true}

// sizeIs reports whether every node in ns estimates the mesh at size nodes. The core updates
// its estimate on its housekeeping tick (every 2 s), so callers poll it.
func sizeIs(c *Cluster, ns []int, size int) (bool, string) {
	var wrong []string
	for _, n := range ns {
		st, err := c.Status(n)
		if err != nil {
			wrong = append(wrong, fmt.Sprintf("node %d: %v", n, err))
		} else if st.SizeEstimate != size {
			wrong = append(wrong, fmt.Sprintf("node %d estimates %d nodes (%s mode)", n, st.SizeEstimate, st.Mode))
		}
	}
	return len(wrong) == 0, summarise(wrong)
}

// watchAll starts an event watch on each node in ns; the cluster stops them at the end.
func watchAll(t *testing.T, c *Cluster, ns ...int) map[int]*Watcher {
	t.Helper()
	ws := map[int]*Watcher{}
	for _, n := range ns {
		w, err := c.Watch(n, 4096)
		if err != nil {
			t.Fatal(err)
		}
		ws[n] = w
	}
	return ws
}

// learnt waits until each watched node n has stored a live registration for every AoR in
// want[n], and returns, per node, when (by the daemon's clock, the host's) it stored the last
// of them. It fails the test after timeout.
func learnt(t *testing.T, ws map[int]*Watcher, want map[int][]string, timeout time.Duration) map[int]time.Time {
	t.Helper()
	deadline := time.After(timeout)
	out := map[int]time.Time{}
	for n, aors := range want {
		missing := map[string]bool{}
		for _, a := range aors {
			missing[a] = true
		}
		for len(missing) > 0 {
			select {
			case ev, ok := <-ws[n].Events:
				if !ok {
					t.Fatalf("node %d: the event watch ended while %v were missing", n, missing)
				}
				if ev.Type == "record" && ev.Kind == "registration" && !ev.Deleted && missing[ev.AoR] {
					delete(missing, ev.AoR)
					if ev.Time.After(out[n]) {
						out[n] = ev.Time
					}
				}
			case <-deadline:
				t.Fatalf("after %v node %d has not stored the registrations of %v", timeout, n, missing)
			}
		}
	}
	return out
}

// latest is the latest of the times, and whose it is.
func latest(times map[int]time.Time) (int, time.Time) {
	who, last := 0, time.Time{}
	for n, at := range times {
		if at.After(last) {
			who, last = n, at
		}
	}
	return who, last
}

// aorsOf lists the AoRs of targets.
func aorsOf(targets []target) []string {
	out := make([]string, len(targets))
	for i, tg := range targets {
		out[i] = tg.aor
	}
	return out
}
