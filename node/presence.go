package node

import (
	"context"
	"fmt"
	"sync"
	"time"

	"meshcomm/mailbox"
	"meshcomm/mesh"
)

// rosterPollInterval is how often the presence of watched users is looked up in the overlay.
// In flood mode every presence record reaches every node as it changes (the roster is notified
// at once) and the poll only reads this node's own copy; in DHT mode the poll is what brings
// changes.
const rosterPollInterval = 15 * time.Second

// roster follows other users' presence: every user whose registration this node sees, and
// those watched explicitly. Changes are published on the event bus (EventPresence), which is
// how rosters on screen update.
type roster struct {
	n  *Node
	mu sync.Mutex
	r  *mailbox.Roster
}

func newRoster(n *Node) *roster { return &roster{n: n, r: mailbox.NewRoster(n.id.Verifier())} }

func (ro *roster) watch(aor string) error {
	if aor == ro.n.id.AoR() {
		return nil
	}
	ro.mu.Lock()
	defer ro.mu.Unlock()
	if _, known := ro.r.Get(aor); known {
		return nil
	}
	return ro.r.Watch(aor)
}

// seen takes a record the core stored: registrations add their user to the roster, presence
// records of watched users update it.
func (ro *roster) seen(now time.Time, r *mesh.Record) {
	switch r.Kind {
	case mesh.KindRegistration:
		if r.Deleted {
			return
		}
		if reg, err := DecodeRegistration(r.Value); err == nil {
			_ = ro.watch(reg.AoR) // a full roster refuses; the user is then only polled when watched
		}
	case mesh.KindPresence:
		ro.apply(now, r)
	}
}

func (ro *roster) apply(now time.Time, r *mesh.Record) {
	ro.mu.Lock()
	view, changed, err := ro.r.Apply(now, r)
	ro.mu.Unlock()
	if err != nil || !changed {
		return
	}
	ro.n.bus.Publish(Event{Time: now, Type: EventPresence, AoR: view.AoR, Detail: presenceDetail(view)})
}

func presenceDetail(v mailbox.PresenceView) string {
	if !v.Known {
		return v.AoR + " unknown"
	}
	return fmt.Sprintf("%s is %s %s", v.AoR, v.Presence.State, v.Presence.Text)
}

// poll looks up every watched user's presence until ctx ends.
func (ro *roster) poll(ctx context.Context) {
	t := time.NewTicker(rosterPollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ro.mu.Lock()
		views := ro.r.Views()
		for _, v := range ro.r.Tick(ro.n.now()) {
			ro.n.bus.Publish(Event{Time: ro.n.now(), Type: EventPresence, AoR: v.AoR, Detail: presenceDetail(v)})
		}
		ro.mu.Unlock()
		for _, v := range views {
			lctx, cancel := context.WithTimeout(ctx, DefaultLookupTimeout)
			done, err := ro.n.pollLookup(lctx, mesh.ResourceIDFor(v.AoR), mesh.KindPresence)
			cancel()
			if err != nil {
				continue
			}
			for i := range done.Records {
				ro.apply(ro.n.now(), &done.Records[i])
			}
		}
	}
}

func (ro *roster) list() []PresenceInfo {
	ro.mu.Lock()
	defer ro.mu.Unlock()
	out := []PresenceInfo{}
	for _, v := range ro.r.Views() {
		p := PresenceInfo{AoR: v.AoR, Known: v.Known}
		if v.Known {
			p.State, p.Text, p.Updated = string(v.Presence.State), v.Presence.Text, v.Presence.Updated
		}
		out = append(out, p)
	}
	return out
}

// Roster lists the users this node follows and their presence.
func (n *Node) Roster(context.Context) ([]PresenceInfo, error) { return n.roster.list(), nil }

// WatchPresence adds users to the roster.
func (n *Node) WatchPresence(_ context.Context, targets []string) ([]PresenceInfo, error) {
	for _, t := range targets {
		aor, err := CanonicalTarget(t, n.id.Team())
		if err != nil {
			return nil, err
		}
		if err := n.roster.watch(aor); err != nil {
			return nil, err
		}
	}
	return n.roster.list(), nil
}

// ownPresence is this user's presence as last set, for the status.
func (n *Node) ownPresence() *PresenceInfo {
	p := n.presence.Load()
	if p == nil {
		return nil
	}
	return &PresenceInfo{AoR: n.id.AoR(), Known: true, State: string(p.State), Text: p.Text, Updated: p.Updated}
}
