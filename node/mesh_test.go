package node

import (
	"strings"
	"testing"
	"time"
)

// Four nodes of one team, linked A-B, A-C, C-D over real QUIC on loopback, mesh and resolve
// each other's registrations through the control socket.
func TestFourNodesMeshAndResolveOverControlSocket(t *testing.T) {
	dirs := newTeam(t, "alpha", 101, 4)
	a := startNode(t, dirs[0])
	b := startNode(t, dirs[1], a.LocalAddr())
	c := startNode(t, dirs[2], a.LocalAddr())
	d := startNode(t, dirs[3], c.LocalAddr())
	nodes := []*Node{a, b, c, d}
	all := aorsOf(nodes...)
	evs := events(t, nodes...)
	waitFor(t, evs, "every node to hold every registration and count four nodes", func() bool {
		for _, n := range nodes {
			if !holdsRegistrations(t, n, all...) {
				return false
			}
			if st, err := n.Status(ctxT(t)); err != nil || st.SizeEstimate != len(nodes) {
				return false
			}
		}
		return true
	})

	for i, n := range nodes {
		cl, err := Dial(dirs[i])
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		st, err := cl.Status(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if st.NodeID != n.ID().String() || st.AoR != all[i] || st.Mode != "flood" {
			t.Errorf("node %d status: id %s aor %s mode %s", i, st.NodeID, st.AoR, st.Mode)
		}
		if st.Records < 4 || st.OwnRecords < 3 { // registration, certificate, membership of its own
			t.Errorf("node %d holds %d records (%d own)", i, st.Records, st.OwnRecords)
		}
		for j, m := range nodes {
			ext := strings.TrimPrefix(strings.Split(all[j], "@")[0], "sip:")
			res, err := cl.Lookup(ctxT(t), ext, 5*time.Second)
			if err != nil {
				t.Fatalf("node %d lookup %s: %v", i, ext, err)
			}
			if !res.Found || res.AoR != all[j] || res.NodeID != m.ID().String() || res.Contact != m.Contact().Addr || res.Hops != 0 {
				t.Errorf("node %d lookup %s = %+v, want node %s at %s in 0 hops", i, ext, res, m.ID(), m.Contact().Addr)
			}
		}
	}

	// Links: A has B and C; D only C.
	cl, err := Dial(dirs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	peers, err := cl.Peers(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, p := range peers {
		got[p.NodeID] = p.AoR
		if p.RTTMs < 0 || p.Addr == "" || p.Team != "alpha" {
			t.Errorf("peer %+v", p)
		}
	}
	if len(got) != 2 || got[b.ID().String()] != all[1] || got[c.ID().String()] != all[2] {
		t.Errorf("A's peers = %v, want B and C", got)
	}

	// A full sip: URI, in any case, resolves too; an unknown extension does not.
	res, err := cl.Lookup(ctxT(t), strings.ToUpper(all[3]), 5*time.Second)
	if err != nil || !res.Found || res.NodeID != d.ID().String() {
		t.Errorf("lookup of %s: %+v %v", strings.ToUpper(all[3]), res, err)
	}
	res, err = cl.Lookup(ctxT(t), "999", 5*time.Second)
	if err != nil || res.Found || len(res.Registrations) != 0 {
		t.Errorf("lookup of 999: %+v %v", res, err)
	}
	if _, err := cl.Lookup(ctxT(t), "not an extension!", time.Second); err == nil {
		t.Error("lookup of a malformed target succeeded")
	}
}

// A clean Close deletes the node's registration everywhere; its peers see it go.
func TestCleanCloseDeletesRegistration(t *testing.T) {
	dirs := newTeam(t, "alpha", 101, 2)
	a := startNode(t, dirs[0])
	b := startNode(t, dirs[1], a.LocalAddr())
	evs := events(t, a)
	all := aorsOf(a, b)
	waitFor(t, evs, "A to hold B's registration", func() bool { return holdsRegistrations(t, a, all...) })

	bID := b.ID().String()
	b.Close()
	waitEvent(t, evs, "B's registration to be deleted at A", func(ev Event) bool {
		return ev.Type == EventRecord && ev.Kind == "registration" && ev.Deleted && ev.Key == bID
	})
	if holdsRegistrations(t, a, all[1]) {
		t.Error("A still holds B's registration after B left")
	}
	select {
	case <-b.Done():
	default:
		t.Error("B's loop still runs after Close")
	}
	if _, err := b.Status(ctxT(t)); err != ErrClosed {
		t.Errorf("status of a closed node: %v", err)
	}
	if _, err := Dial(dirs[1]); err == nil {
		t.Error("the control socket still answers after Close")
	}
}
