package node

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"meshcomm/identity"
)

// A revocation published at one node is honoured there, floods to the others, and every node
// drops its link to the revoked laptop.
func TestPublishedRevocationFloodsAndCutsTheRevokedPeer(t *testing.T) {
	dirs := newTeam(t, "alpha", 101, 4) // the fourth laptop joins after the revocation
	a := startNode(t, dirs[0])
	b := startNode(t, dirs[1], a.LocalAddr())
	c := startNode(t, dirs[2], a.LocalAddr(), b.LocalAddr())
	all := aorsOf(a, b, c)
	evs := events(t, a, b)
	waitFor(t, evs, "mesh", func() bool { return holdsRegistrations(t, a, all...) && holdsRegistrations(t, b, all...) })
	waitFor(t, evs, "B to link to C", func() bool {
		ps, _ := b.Peers(ctxT(t))
		for _, p := range ps {
			if p.NodeID == c.ID().String() {
				return true
			}
		}
		return false
	})

	rec, err := identity.Revoke(identity.LocalCADir(dirs[0]), filepath.Join(dirs[2], "node.pem"), "lost laptop", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	file, err := identity.EncodeRevocationFile(rec)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := Dial(dirs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	res, err := cl.PublishRevocation(ctxT(t), file)
	if err != nil {
		t.Fatal(err)
	}
	fp := identity.FingerprintOf(c.Identity().Certificate().Raw)
	if res.Fingerprint != fp.String() || res.AoR != all[2] || res.SentTo < 1 {
		t.Errorf("publish result %+v, want fingerprint %s of %s sent to B", res, fp, all[2])
	}
	cut := map[*Node]bool{}
	waitFor(t, evs, "A and B to drop their links to C", func() bool {
		for _, n := range []*Node{a, b} {
			ps, _ := n.Peers(ctxT(t))
			linked := false
			for _, p := range ps {
				linked = linked || p.NodeID == c.ID().String()
			}
			cut[n] = !linked && n.Identity().Verifier().Revoked(fp)
		}
		return cut[a] && cut[b]
	})
	recs, err := b.Records(ctxT(t), "revocation")
	if err != nil || len(recs) != 1 || recs[0].Key != fp.String() {
		t.Errorf("B's revocation records: %+v %v", recs, err)
	}

	// A laptop that joins later learns the revocation from the mesh and keeps no link to C,
	// though it is told C's address and keeps redialling it.
	d := startNode(t, dirs[3], a.LocalAddr(), c.LocalAddr())
	evd := events(t, d)
	waitFor(t, evd, "the later joiner to honour the revocation and link to A alone", func() bool {
		ps, _ := d.Peers(ctxT(t))
		return d.Identity().Verifier().Revoked(fp) && holdsRegistrations(t, d, all[0], all[1]) &&
			len(ps) == 1 && ps[0].NodeID == a.ID().String()
	})

	// Garbage is refused with a clear error.
	if _, err := cl.PublishRevocation(ctxT(t), []byte("not a revocation")); err == nil {
		t.Error("a garbage revocation file was accepted")
	}
}

// Two teams that do not trust each other see "untrusted team nearby"; once each trusts the
// other's CA through the control socket they mesh and resolve each other's users.
func TestUntrustedTeamThenTrustAdd(t *testing.T) {
	alpha := newTeam(t, "alpha", 101, 1)
	bravo := newTeam(t, "bravo", 201, 1)
	a := startNode(t, alpha[0])
	e := startNode(t, bravo[0], a.LocalAddr())
	evs := events(t, a, e)

	untrusted := func(n *Node, team string) bool {
		st, err := n.Status(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range st.Untrusted {
			if u.Team == team {
				return true
			}
		}
		return false
	}
	waitFor(t, evs, "bravo to see alpha as untrusted", func() bool { return untrusted(e, "alpha") })

	trust := func(dir, caHolder string) {
		t.Helper()
		pem, err := os.ReadFile(filepath.Join(identity.LocalCADir(caHolder), "ca.pem"))
		if err != nil {
			t.Fatal(err)
		}
		cl, err := Dial(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		if _, err := cl.TrustAdd(ctxT(t), pem); err != nil {
			t.Fatal(err)
		}
	}
	trust(bravo[0], alpha[0])
	waitFor(t, evs, "alpha to see bravo as untrusted", func() bool { return untrusted(a, "bravo") })
	trust(alpha[0], bravo[0])
	waitFor(t, evs, "the two teams to hold each other's registrations", func() bool {
		return holdsRegistrations(t, a, "sip:201@bravo") && holdsRegistrations(t, e, "sip:101@alpha")
	})
	res, err := a.Lookup(ctxT(t), "sip:201@bravo")
	if err != nil || !res.Found || res.NodeID != e.ID().String() {
		t.Errorf("lookup across teams: %+v %v", res, err)
	}
}
