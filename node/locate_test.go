package node

import "testing"

// A linked peer's certificate names its user: the locator finds a callee in radio range from
// the link alone, and finds nobody for a user no linked peer carries.
func TestLocatorFindsLinkedPeersByTheirCertificate(t *testing.T) {
	dirs := newTeam(t, "alpha", 101, 2)
	a := startNode(t, dirs[0])
	b := startNode(t, dirs[1], a.LocalAddr())
	resolveAll(t, a, b)

	got := locator{a}.linked(b.Identity().AoR())
	if len(got) != 1 || got[0].NodeID != b.ID() || got[0].Contact.ID != b.ID() || got[0].Contact.Addr == "" {
		t.Fatalf("linked(%s) = %+v, want one binding to b's node with its link address", b.Identity().AoR(), got)
	}
	if got := (locator{a}).linked("sip:999@alpha"); len(got) != 0 {
		t.Errorf("linked(sip:999@alpha) = %+v, want none", got)
	}
	if got := (locator{a}).linked(a.Identity().AoR()); len(got) != 0 {
		t.Errorf("linked(own AoR) = %+v, want none (no link to itself)", got)
	}
}
