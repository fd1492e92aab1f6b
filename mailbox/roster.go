package mailbox

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"meshcomm/mesh"
)

// Roster limits.
const (
	MaxRosterWatched = 4096 // most addresses one roster follows
	MaxNodesPerAoR   = 16   // most nodes whose presence is kept for one address
)

// Roster refusal reasons, the keys of (*Roster).Counters, besides ReasonMalformed,
// ReasonUnverified and ReasonExpired.
const (
	ReasonNotWatched   = "not-watched"
	ReasonTooManyNodes = "too-many-nodes"
	CountStale         = "stale"
)

// ErrNotWatched refuses a presence record for an address the roster does not follow.
var ErrNotWatched = errors.New("presence for an address not on the roster")

// PresenceView is what a roster shows for one address: the freshest presence any of its nodes
// publishes, or Known false when none does.
type PresenceView struct {
	AoR      string
	Known    bool
	Node     mesh.NodeID // the node whose presence is shown
	Presence Presence
	Expiry   time.Time
}

type rosterRecord struct {
	presence Presence
	version  uint64
	expiry   int64 // Unix ms
	deleted  bool  // a withdrawal, kept until expiry so an older copy cannot come back
}

type watch struct {
	aor   string
	nodes map[mesh.NodeID]*rosterRecord
	shown PresenceView
}

// Roster follows the presence of a set of addresses: it applies presence records (from a
// lookup or a notification, in any order and any number of times: the higher version wins),
// drops them at expiry, and reports each change of what it shows. It is the state behind
// subscribe/notify; the node delivers the records and publishes the changes. Not safe for
// concurrent use.
type Roster struct {
	verifier mesh.Verifier
	watched  map[mesh.ResourceID]*watch
	counters map[string]uint64
}

// NewRoster returns an empty roster that authenticates records through v.
func NewRoster(v mesh.Verifier) *Roster {
	return &Roster{verifier: v, watched: map[mesh.ResourceID]*watch{}, counters: map[string]uint64{}}
}

// Watch adds an address (canonical AoR) to the roster; it starts unknown.
func (ro *Roster) Watch(aor string) error {
	if err := checkAoR(aor); err != nil {
		return fmt.Errorf("%w: %v", ErrPresence, err)
	}
	res := mesh.ResourceIDFor(aor)
	if _, ok := ro.watched[res]; ok {
		return nil
	}
	if len(ro.watched) >= MaxRosterWatched {
		return fmt.Errorf("roster already follows %d addresses (limit %d)", len(ro.watched), MaxRosterWatched)
	}
	ro.watched[res] = &watch{aor: aor, nodes: map[mesh.NodeID]*rosterRecord{}, shown: PresenceView{AoR: aor}}
	return nil
}

// Unwatch removes an address and everything known about it.
func (ro *Roster) Unwatch(aor string) { delete(ro.watched, mesh.ResourceIDFor(aor)) }

// Apply takes one presence record (a live one or a withdrawal). It returns the change of the
// address's view when there is one. A record older than what is held is ignored (counted as
// stale); a refused one returns an error and is counted by reason.
func (ro *Roster) Apply(now time.Time, rec *mesh.Record) (PresenceView, bool, error) {
	if rec.Kind != mesh.KindPresence {
		return ro.refuse(ReasonMalformed, fmt.Errorf("%w: record kind is %s, not presence", ErrPresence, rec.Kind))
	}
	w, ok := ro.watched[rec.Resource]
	if !ok {
		return ro.refuse(ReasonNotWatched, fmt.Errorf("%w: resource %s", ErrNotWatched, rec.Resource.Short()))
	}
	nowMs := now.UnixMilli()
	if rec.Expired(nowMs) {
		return ro.refuse(ReasonExpired, fmt.Errorf("%w: presence of %s", mesh.ErrExpired, w.aor))
	}
	id, err := mesh.VerifyRecord(ro.verifier, rec)
	if err != nil {
		if errors.Is(err, mesh.ErrMalformed) {
			return ro.refuse(ReasonMalformed, err)
		}
		return ro.refuse(ReasonUnverified, err)
	}
	next := &rosterRecord{version: rec.Version, expiry: rec.Expiry, deleted: rec.Deleted}
	if !rec.Deleted {
		if next.presence, err = ParsePresenceRecord(rec, id); err != nil {
			return ro.refuse(ReasonMalformed, err)
		}
	}
	held, ok := w.nodes[id.Node]
	if ok && (held.version > next.version || held.version == next.version && (held.deleted || !next.deleted)) {
		ro.counters[CountStale]++
		return PresenceView{}, false, nil
	}
	if !ok && len(w.nodes) >= MaxNodesPerAoR {
		ro.prune(w, nowMs)
		if len(w.nodes) >= MaxNodesPerAoR {
			return ro.refuse(ReasonTooManyNodes, fmt.Errorf("%w: %s already has %d nodes", ErrPresence, w.aor, len(w.nodes)))
		}
	}
	w.nodes[id.Node] = next
	view, changed := ro.refresh(w, nowMs)
	return view, changed, nil
}

func (ro *Roster) refuse(reason string, err error) (PresenceView, bool, error) {
	ro.counters[reason]++
	return PresenceView{}, false, err
}

// Tick drops presence that expired by now and returns the views that changed, by address.
func (ro *Roster) Tick(now time.Time) []PresenceView {
	var out []PresenceView
	for _, w := range ro.watched {
		ro.prune(w, now.UnixMilli())
		if view, changed := ro.refresh(w, now.UnixMilli()); changed {
			out = append(out, view)
		}
	}
	slices.SortFunc(out, func(a, b PresenceView) int { return strings.Compare(a.AoR, b.AoR) })
	return out
}

func (ro *Roster) prune(w *watch, nowMs int64) {
	for n, r := range w.nodes {
		if nowMs >= r.expiry {
			delete(w.nodes, n)
		}
	}
}

// refresh recomputes the view of w: the live record with the latest update time (ties broken
// by the higher node id, so every roster shows the same).
func (ro *Roster) refresh(w *watch, nowMs int64) (PresenceView, bool) {
	view := PresenceView{AoR: w.aor}
	for n, r := range w.nodes {
		if r.deleted || nowMs >= r.expiry {
			continue
		}
		if view.Known {
			c := r.presence.Updated.Compare(view.Presence.Updated)
			if c < 0 || c == 0 && slices.Compare(n[:], view.Node[:]) < 0 {
				continue
			}
		}
		view = PresenceView{AoR: w.aor, Known: true, Node: n, Presence: r.presence, Expiry: time.UnixMilli(r.expiry).UTC()}
	}
	changed := !sameView(view, w.shown)
	w.shown = view // a refresh of the same presence moves only the expiry: no change to report
	return view, changed
}

func sameView(a, b PresenceView) bool {
	return a.AoR == b.AoR && a.Known == b.Known && a.Node == b.Node &&
		a.Presence.State == b.Presence.State && a.Presence.Text == b.Presence.Text && a.Presence.Updated.Equal(b.Presence.Updated)
}

// Get returns the view of one address on the roster.
func (ro *Roster) Get(aor string) (PresenceView, bool) {
	w, ok := ro.watched[mesh.ResourceIDFor(aor)]
	if !ok {
		return PresenceView{}, false
	}
	return w.shown, true
}

// Views returns the view of every address on the roster, by address.
func (ro *Roster) Views() []PresenceView {
	out := make([]PresenceView, 0, len(ro.watched))
	for _, w := range ro.watched {
		out = append(out, w.shown)
	}
	slices.SortFunc(out, func(a, b PresenceView) int { return strings.Compare(a.AoR, b.AoR) })
	return out
}

// Counters returns how many records were refused by reason, and how many were stale.
func (ro *Roster) Counters() map[string]uint64 {
	out := make(map[string]uint64, len(ro.counters))
	for k, v := range ro.counters {
		out[k] = v
	}
	return out
}
