package mailbox

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"meshcomm/mesh"
)

func presenceRec(t *testing.T, m member, st PresenceState, text string, updated time.Time, ttl time.Duration, after uint64) *mesh.Record {
	t.Helper()
	rec, err := NewPresenceRecord(m.signer, Presence{State: st, Text: text, Updated: updated}, updated.Add(ttl), after)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func withdrawal(m member, of *mesh.Record) *mesh.Record {
	w := &mesh.Record{Resource: of.Resource, Kind: of.Kind, Key: of.Key, Version: of.Version + 1, Expiry: of.Expiry, Deleted: true}
	w.Sign(m.signer)
	return w
}

func TestRosterAppliesNewerAndReportsChanges(t *testing.T) {
	tm := newTeam(t, 2)
	a := tm.members[0]
	ro := NewRoster(tm.verifier)
	if err := ro.Watch(a.aor); err != nil {
		t.Fatal(err)
	}
	if v, ok := ro.Get(a.aor); !ok || v.Known {
		t.Fatalf("fresh roster: %+v, %v", v, ok)
	}
	first := presenceRec(t, a, Available, "", t0, time.Hour, 0)
	second := presenceRec(t, a, OnScene, "Sector 4", t0.Add(time.Minute), time.Hour, first.Version)

	view, changed, err := ro.Apply(t0, first)
	if err != nil || !changed || !view.Known || view.Presence.State != Available || view.Node != a.node() {
		t.Fatalf("first: %+v, %v, %v", view, changed, err)
	}
	if _, changed, err := ro.Apply(t0, first); err != nil || changed {
		t.Fatalf("the same record again: changed=%v, %v", changed, err)
	}
	if view, changed, _ := ro.Apply(t0, second); !changed || view.Presence.State != OnScene || view.Presence.Text != "Sector 4" {
		t.Fatalf("second: %+v", view)
	}
	if _, changed, err := ro.Apply(t0, first); err != nil || changed {
		t.Fatalf("an older record after a newer one: changed=%v, %v", changed, err)
	}
	if ro.Counters()[CountStale] != 2 {
		t.Fatalf("counters: %v", ro.Counters())
	}
	// A refresh of the same presence only moves the expiry: no change to report, and the
	// presence outlives the first record's expiry.
	refresh, err := NewPresenceRecord(a.signer, Presence{State: OnScene, Text: "Sector 4", Updated: t0.Add(time.Minute)}, t0.Add(3*time.Hour), second.Version)
	if err != nil {
		t.Fatal(err)
	}
	if _, changed, err := ro.Apply(t0.Add(30*time.Minute), refresh); err != nil || changed {
		t.Fatalf("refresh: changed=%v, %v", changed, err)
	}
	if got := ro.Tick(t0.Add(2 * time.Hour)); len(got) != 0 {
		t.Fatalf("refreshed presence expired: %+v", got)
	}
	got := ro.Tick(t0.Add(3 * time.Hour))
	if len(got) != 1 || got[0].Known || got[0].AoR != a.aor {
		t.Fatalf("expiry: %+v", got)
	}
}

func TestRosterShowsFreshestNodeAndHonoursWithdrawal(t *testing.T) {
	tm := newTeam(t, 1)
	a := tm.members[0]
	laptop2 := tm.issue(t, 42, a.aor) // the same user on a second laptop
	ro := NewRoster(tm.verifier)
	if err := ro.Watch(a.aor); err != nil {
		t.Fatal(err)
	}
	onA := presenceRec(t, a, Busy, "", t0, time.Hour, 0)
	on2 := presenceRec(t, laptop2, OffDuty, "", t0.Add(time.Second), time.Hour, 0)
	ro.Apply(t0, on2)
	if view, changed, _ := ro.Apply(t0, onA); changed || view.Presence.State != OffDuty {
		t.Fatalf("an older presence from another node replaced the fresher one: %+v", view)
	}
	view, changed, err := ro.Apply(t0, withdrawal(laptop2, on2))
	if err != nil || !changed || view.Node != a.node() || view.Presence.State != Busy {
		t.Fatalf("after withdrawal: %+v, %v, %v", view, changed, err)
	}
	if _, changed, _ := ro.Apply(t0, on2); changed {
		t.Fatal("a withdrawn presence came back from an older copy")
	}
	view, changed, _ = ro.Apply(t0, withdrawal(a, onA))
	if !changed || view.Known {
		t.Fatalf("after both withdrew: %+v", view)
	}
}

func TestRosterRefusals(t *testing.T) {
	tm := newTeam(t, 3)
	a, b, c := tm.members[0], tm.members[1], tm.members[2]
	other := &team{auth: mesh.NewAuthority([32]byte{0xB0})}
	stranger := other.issue(t, 9, a.aor)
	ro := NewRoster(tm.verifier)
	if err := ro.Watch(a.aor); err != nil {
		t.Fatal(err)
	}
	forged := presenceRec(t, c, Busy, "", t0, time.Hour, 0)
	forged.Resource = mesh.ResourceIDFor(a.aor) // c writing a's presence
	forged.Sign(c.signer)
	msg, err := NewRecord(a.signer, textMessage(a, b, 1, "hi"), t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		rec    *mesh.Record
		reason string
	}{
		{"not watched", presenceRec(t, b, Busy, "", t0, time.Hour, 0), ReasonNotWatched},
		{"expired", presenceRec(t, a, Busy, "", t0.Add(-2*time.Hour), time.Hour, 0), ReasonExpired},
		{"untrusted", presenceRec(t, stranger, Busy, "", t0, time.Hour, 0), ReasonUnverified},
		{"another's", forged, ReasonUnverified},
		{"not presence", msg, ReasonMalformed},
	} {
		before := ro.Counters()[tc.reason]
		if _, changed, err := ro.Apply(t0, tc.rec); err == nil || changed {
			t.Errorf("%s: accepted (changed=%v)", tc.name, changed)
		}
		if ro.Counters()[tc.reason] != before+1 {
			t.Errorf("%s: not counted as %s: %v", tc.name, tc.reason, ro.Counters())
		}
	}
	if v, _ := ro.Get(a.aor); v.Known {
		t.Fatalf("a refused record shows: %+v", v)
	}
	if err := ro.Watch("102"); !errors.Is(err, ErrPresence) {
		t.Fatalf("watched a bare extension: %v", err)
	}
}

// Whatever order and however often the records of one node arrive, the roster ends showing the
// newest.
func TestRosterConvergesUnderReordering(t *testing.T) {
	tm := newTeam(t, 1)
	a := tm.members[0]
	var recs []*mesh.Record
	var prev uint64
	for i, st := range []PresenceState{Available, Busy, OnScene, OffDuty, Available, OnScene} {
		rec := presenceRec(t, a, st, "", t0.Add(time.Duration(i)*time.Minute), time.Hour, prev)
		prev = rec.Version
		recs = append(recs, rec, rec) // each twice
	}
	for seed := range uint64(30) {
		rng := rand.New(rand.NewPCG(seed, 1))
		shuffled := append([]*mesh.Record(nil), recs...)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		ro := NewRoster(tm.verifier)
		if err := ro.Watch(a.aor); err != nil {
			t.Fatal(err)
		}
		for _, rec := range shuffled {
			if _, _, err := ro.Apply(t0, rec); err != nil {
				t.Fatal(err)
			}
		}
		if v, _ := ro.Get(a.aor); v.Presence.State != OnScene || !v.Presence.Updated.Equal(t0.Add(5*time.Minute)) {
			t.Fatalf("seed %d: roster shows %+v", seed, v.Presence)
		}
	}
}
