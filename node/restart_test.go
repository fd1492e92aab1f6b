package node

import (
	"context"
	"crypto/x509"
	"sort"
	"testing"
	"time"

	"meshcomm/identity"
	"meshcomm/mesh"
	"meshcomm/mesh/hybrid"
	"meshcomm/transport"
)

// A node that crashes (no Leave, not even a connection close reaches its peers) keeps its
// records on disk. Restarted, it reads them back, re-publishes its registration at its new
// address, and holds the mesh's records again at once, although its peers still hold a
// connection to its previous run and their transports raise no new Up for it (anti-entropy is
// slowed to an hour so that only the immediate re-greeting can do this within the deadline).
func TestRestartAfterCrashKeepsRecordsAndResyncs(t *testing.T) {
	slowAE := hybrid.Tuning{AntiEntropyInterval: time.Hour}
	// Reconciliation over a link is started by its lower node id once it has the other's
	// Hello, so C gets the lowest id: it must be greeted by A to catch up.
	dirs := byNodeID(t, newTeam(t, "alpha", 101, 3))
	dirs[0], dirs[2] = dirs[2], dirs[0]
	a := startNodeWith(t, Config{DataDir: dirs[0], Listen: "127.0.0.1:0", Tuning: slowAE})
	b := startNodeWith(t, Config{DataDir: dirs[1], Listen: "127.0.0.1:0", Peers: []string{a.LocalAddr()}, Tuning: slowAE})
	tap := newTapConn(t)
	c := startNodeWith(t, Config{DataDir: dirs[2], PacketConn: tap, Peers: []string{a.LocalAddr()}, Tuning: slowAE})
	all := aorsOf(a, b, c)
	evs := events(t, a, b, c)
	waitFor(t, evs, "every node to hold every registration", func() bool {
		return holdsRegistrations(t, a, all...) && holdsRegistrations(t, b, all...) && holdsRegistrations(t, c, all...)
	})

	tap.cut.Store(true) // from here on C's packets vanish, as a crashed laptop's would
	c.shutdown(false)
	onDisk, err := ReadRecords(dirs[2])
	if err != nil {
		t.Fatal(err)
	}
	regs := map[string]bool{}
	for _, r := range onDisk {
		if r.Kind == mesh.KindRegistration && !r.Deleted {
			reg, err := DecodeRegistration(r.Value)
			if err != nil {
				t.Fatal(err)
			}
			regs[reg.AoR] = true
		}
	}
	for _, aor := range all {
		if !regs[aor] {
			t.Errorf("the crashed node's database lacks the registration of %s", aor)
		}
	}
	if ps, _ := a.Peers(ctxT(t)); len(ps) != 2 {
		t.Fatalf("A has %d links after C crashed; want B and the stale link to C", len(ps))
	}

	evA := events(t, a)
	c2 := startNodeWith(t, Config{DataDir: dirs[2], Listen: "127.0.0.1:0", Peers: []string{a.LocalAddr()}, Tuning: slowAE})
	if c2.ID() != c.ID() {
		t.Fatalf("restarted node has id %s, was %s", c2.ID(), c.ID())
	}
	st, err := c2.Status(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if st.RecordsLoaded != len(onDisk) {
		t.Errorf("records loaded at restart = %d, database held %d", st.RecordsLoaded, len(onDisk))
	}
	waitEvent(t, evA, "A to learn C's registration at its new address", func(ev Event) bool {
		return ev.Type == EventRecord && ev.AoR == all[2] && ev.Addr == c2.Contact().Addr
	})
	evC := events(t, c2)
	waitFor(t, evC, "the restarted node to hold every registration", func() bool { return holdsRegistrations(t, c2, all...) })
	res, err := c2.Lookup(ctxT(t), all[1])
	if err != nil || !res.Found || res.NodeID != b.ID().String() {
		t.Errorf("lookup of %s after restart: %+v %v", all[1], res, err)
	}
}

// byNodeID orders data directories by their identities' node ids.
func byNodeID(t *testing.T, dirs []string) []string {
	t.Helper()
	ids := map[string]string{}
	for _, d := range dirs {
		id, err := identity.Load(d)
		if err != nil {
			t.Fatal(err)
		}
		ids[d] = id.NodeID().String()
	}
	out := append([]string(nil), dirs...)
	sort.Slice(out, func(i, j int) bool { return ids[out[i]] < ids[out[j]] })
	return out
}

// Frames that do not decode are counted by reason and reported; the peer keeps its link and
// its good frames are still answered.
func TestBadFramesAreCountedAndPeerKeepsWorking(t *testing.T) {
	dirs := newTeam(t, "alpha", 101, 2)
	a := startNode(t, dirs[0])
	evA := events(t, a)

	id, err := identity.Load(dirs[1])
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan mesh.Message, 64)
	ep, err := transport.New(transport.Config{
		Listen:      "127.0.0.1:0",
		Certificate: id.TLSCertificate(),
		VerifyPeer: func(chain []*x509.Certificate) error {
			raw := make([][]byte, len(chain))
			for i, c := range chain {
				raw[i] = c.Raw
			}
			_, err := id.VerifyPeer(raw)
			return err
		},
		Logger: testLogger(t),
		Handlers: transport.Handlers{OnFrame: func(_ mesh.Contact, p []byte) {
			if m, err := mesh.Decode(p); err == nil {
				select {
				case got <- m:
				default:
				}
			}
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()

	ping, err := mesh.Encode(&mesh.Ping{Nonce: 77, Status: mesh.Status{Mode: mesh.ModeFlood, SizeEstimate: 1}})
	if err != nil {
		t.Fatal(err)
	}
	bad := map[string][]byte{
		"unknown_version": {9, byte(mesh.TypePing)},
		"unknown_type":    {mesh.WireVersion, 0xEE},
		"truncated":       ping[:len(ping)-3],
		"trailing_bytes":  append(append([]byte(nil), ping...), 0),
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for _, f := range bad {
		if err := ep.Send(ctx, a.Contact(), f); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for len(seen) < len(bad) {
		ev := waitEvent(t, evA, "bad-frame events", func(ev Event) bool { return ev.Type == EventBadFrame })
		if ev.Peer != id.NodeID().String() {
			t.Errorf("bad frame attributed to %s", ev.Peer)
		}
		seen[ev.Detail] = true
	}
	if err := ep.Send(ctx, a.Contact(), ping); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(wait)
	for pong := false; !pong; {
		select {
		case m := <-got:
			p, ok := m.(*mesh.Pong)
			pong = ok && p.Nonce == 77
		case <-deadline:
			t.Fatal("no pong after the bad frames")
		}
	}
	st, err := a.Status(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	for reason := range bad {
		if st.Counters.BadFrames[reason] != 1 {
			t.Errorf("bad_frames[%s] = %d, want 1 (all: %v)", reason, st.Counters.BadFrames[reason], st.Counters.BadFrames)
		}
	}
	if len(st.Peers) != 1 || st.Peers[0].NodeID != id.NodeID().String() {
		t.Errorf("the sender of bad frames lost its link: peers %+v", st.Peers)
	}
}
