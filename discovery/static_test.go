package discovery

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"
)

func TestParseStaticPeersRejectsBadEntries(t *testing.T) {
	for _, e := range []string{"nohost", "host:", "host:0", "host:70000", ":5000", "[fe80::1:5000"} {
		if _, err := parseStaticPeers([]string{e}); err == nil {
			t.Errorf("entry %q accepted", e)
		}
	}
}

func TestStaticLiteralsReportedAtStart(t *testing.T) {
	tab, err := parseStaticPeers([]string{"10.1.2.3:4433", "[fe80::7%eth0]:4433", "truck.example:4433", "10.1.2.3:4433"})
	if err != nil {
		t.Fatal(err)
	}
	evs := tab.start()
	if len(evs) != 2 {
		t.Fatalf("start reported %d peers, want the 2 distinct literals: %+v", len(evs), evs)
	}
	want := Peer{Addrs: []netip.AddrPort{netip.MustParseAddrPort("10.1.2.3:4433")}, Via: StaticVia, Static: "10.1.2.3:4433"}
	if evs[0].Kind != Found || !evs[0].Peer.equal(want) {
		t.Errorf("literal reported as %+v, want %+v", evs[0], want)
	}
	if got := evs[1].Peer.Addrs[0].Addr().Zone(); got != "eth0" {
		t.Errorf("zone of a link-local literal = %q, want eth0", got)
	}
	if due := tab.due(simEpoch); !slices.Equal(due, []string{"truck.example:4433"}) {
		t.Errorf("due = %v, want only the name", due)
	}
}

func TestStaticResolution(t *testing.T) {
	tab, err := parseStaticPeers([]string{"truck.example:4433"})
	if err != nil {
		t.Fatal(err)
	}
	const e = "truck.example:4433"
	now := simEpoch
	tab.due(now)
	if tab.due(now) != nil {
		t.Error("an entry in flight was handed out twice")
	}

	// Failures back off 1 s, 2 s, 4 s.
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		evs, err := tab.resolved(now, e, nil, errors.New("no such host"))
		if err == nil || evs != nil {
			t.Fatalf("failure %d: events %v, err %v", i, evs, err)
		}
		if got := tab.nextWake().Sub(now); got != want {
			t.Errorf("after failure %d retry in %v, want %v", i+1, got, want)
		}
		now = tab.nextWake()
		tab.due(now)
	}

	addrs := []netip.Addr{netip.MustParseAddr("10.9.9.9"), netip.MustParseAddr("::ffff:10.9.9.8")}
	evs, err := tab.resolved(now, e, addrs, nil)
	if err != nil || len(evs) != 1 {
		t.Fatalf("resolution: %v, %v", evs, err)
	}
	want := []netip.AddrPort{netip.MustParseAddrPort("10.9.9.8:4433"), netip.MustParseAddrPort("10.9.9.9:4433")}
	if p := evs[0].Peer; !slices.Equal(p.Addrs, want) || !p.NodeID.IsZero() || p.Static != e {
		t.Errorf("resolved peer %+v, want addrs %v and zero NodeID", p, want)
	}
	if got := tab.nextWake().Sub(now); got != staticRefresh {
		t.Errorf("next resolution in %v, want %v", got, staticRefresh)
	}

	// The same answer again reports nothing; a different one reports the change.
	now = tab.nextWake()
	tab.due(now)
	if evs, _ := tab.resolved(now, e, []netip.Addr{addrs[1], addrs[0]}, nil); evs != nil {
		t.Errorf("unchanged resolution reported %v", evs)
	}
	tab.due(now)
	if evs, _ := tab.resolved(now, e, []netip.Addr{netip.MustParseAddr("10.9.9.7")}, nil); len(evs) != 1 {
		t.Errorf("changed resolution reported %v", evs)
	}

	// The transport learns the NodeID: the peer is re-reported with it, once.
	id := testID(0x77)
	if evs := tab.learn(e, id); len(evs) != 1 || evs[0].Peer.NodeID != id {
		t.Errorf("learn reported %v", evs)
	}
	if evs := tab.learn(e, id); evs != nil {
		t.Errorf("learning the same NodeID again reported %v", evs)
	}
	if evs := tab.learn("unknown:1", id); evs != nil {
		t.Errorf("learning about an unknown entry reported %v", evs)
	}
}
