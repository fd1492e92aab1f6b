package node

import (
	"testing"

	"meshcomm/mesh"
)

// In flood mode the roster's and the post office's periodic lookups read this node's own copy
// (every record reaches every node): a poll for a record that does not exist sends nothing to
// the neighbours, and one that exists is found without a lookup.
func TestBackgroundPollsStayLocalInFloodMode(t *testing.T) {
	dirs := newTeam(t, "alpha", 101, 2)
	a := startNode(t, dirs[0])
	b := startNode(t, dirs[1], a.LocalAddr())
	resolveAll(t, a, b)

	coreLookups := func() uint64 {
		st, err := a.Status(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		return st.Counters.LookupsFound + st.Counters.LookupsMissed
	}
	before := coreLookups()
	bRes := mesh.ResourceIDFor(b.Identity().AoR())
	done, err := a.pollLookup(ctxT(t), bRes, mesh.KindPresence)
	if err != nil {
		t.Fatal(err)
	}
	if len(done.Records) != 0 {
		t.Fatalf("poll found %d presence records of a user who set none", len(done.Records))
	}

	if _, err := b.SetPresence(ctxT(t), PresenceParams{State: "on-scene", Text: "Engine 7"}); err != nil {
		t.Fatal(err)
	}
	evs := events(t, a)
	waitFor(t, evs, "b's presence to reach a's roster", func() bool {
		for _, p := range a.roster.list() {
			if p.AoR == b.Identity().AoR() && p.State == "on-scene" {
				return true
			}
		}
		return false
	})
	done, err = a.pollLookup(ctxT(t), bRes, mesh.KindPresence)
	if err != nil {
		t.Fatal(err)
	}
	if len(done.Records) != 1 || done.Records[0].Kind != mesh.KindPresence {
		t.Fatalf("poll after b set its presence returned %+v, want b's presence record", done.Records)
	}
	if got := coreLookups(); got != before {
		t.Errorf("polls in flood mode ran %d overlay lookups, want none", got-before)
	}
}
