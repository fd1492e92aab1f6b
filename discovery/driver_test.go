package discovery

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestEventQueueNeverBlocksAndKeepsOrder(t *testing.T) {
	out := make(chan Event)
	q := newEventQueue(out)
	const n = 5000
	for i := range n { // nobody reads yet: push must not block
		q.push(Event{Kind: Found, Peer: Peer{Team: strings.Repeat("x", i%7), Version: i}})
	}
	for i := range n {
		select {
		case ev := <-out:
			if ev.Peer.Version != i {
				t.Fatalf("event %d arrived as number %d", ev.Peer.Version, i)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("event %d never delivered", i)
		}
	}
	q.close()
	if _, ok := <-out; ok {
		t.Error("channel still open after close")
	}
}

type fakeResolver map[string][]netip.Addr

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	return f[host], nil
}

// TestRunReportsStaticPeers drives the real loop with no interfaces (nothing is multicast):
// static peers are reported, re-reported with a learnt NodeID, and the channel closes on stop.
func TestRunReportsStaticPeers(t *testing.T) {
	d, err := New(Config{NodeID: testID(1), Port: 4433, StaticPeers: []string{"10.5.5.5:4433", "truck:4433"},
		Interfaces: func() ([]Interface, error) { return nil, nil },
		Resolver:   fakeResolver{"truck": {netip.MustParseAddr("10.6.6.6")}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- d.Run(ctx) }()
	next := func() Event {
		t.Helper()
		select {
		case ev, ok := <-d.Events():
			if !ok {
				if err := <-runErr; err != nil && strings.Contains(err.Error(), "no mDNS socket") {
					t.Skipf("cannot bind the mDNS port here: %v", err)
				}
				t.Fatal("events closed early")
			}
			return ev
		case <-time.After(10 * time.Second):
			t.Fatal("no event")
		}
		return Event{}
	}
	got := map[string]Peer{}
	for range 2 {
		ev := next()
		got[ev.Peer.Static] = ev.Peer
	}
	if p := got["10.5.5.5:4433"]; len(p.Addrs) != 1 || p.Addrs[0] != netip.MustParseAddrPort("10.5.5.5:4433") {
		t.Errorf("literal static peer reported as %+v", p)
	}
	if p := got["truck:4433"]; len(p.Addrs) != 1 || p.Addrs[0] != netip.MustParseAddrPort("10.6.6.6:4433") || !p.NodeID.IsZero() {
		t.Errorf("resolved static peer reported as %+v", p)
	}
	d.LearnStaticNodeID(ctx, "truck:4433", testID(9))
	if ev := next(); ev.Peer.Static != "truck:4433" || ev.Peer.NodeID != testID(9) {
		t.Errorf("after learning, got %+v", ev)
	}
	cancel()
	if err := <-runErr; err != nil {
		t.Fatalf("Run: %v", err)
	}
	for range d.Events() {
	}
}
