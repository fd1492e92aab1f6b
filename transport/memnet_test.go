package transport

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"meshcomm/mesh"
	"meshcomm/transport/memnet"
)

// These tests run real Endpoints over the in-memory network inside a synctest bubble: timers
// (keepalives, idle timeouts, link delays) run in virtual time, so waiting out a 20 s idle
// timeout costs nothing and outcomes do not depend on the machine's speed.

// memNode starts a node at addr on the in-memory network.
func memNode(t *testing.T, mn *memnet.Network, addr string, cert tls.Certificate, trust *trustStore) *testNode {
	t.Helper()
	pc, err := mn.Listen(addr)
	if err != nil {
		t.Fatal(err)
	}
	cfg := nodeConfig(t, cert, trust)
	cfg.PacketConn = pc
	n := startNode(t, cfg)
	t.Cleanup(func() { pc.Close() })
	return n
}

// lowerFirst orders two nodes by NodeID.
func lowerFirst(a, b *testNode) (lo, hi *testNode) {
	x, y := a.LocalID(), b.LocalID()
	if bytes.Compare(x[:], y[:]) < 0 {
		return a, b
	}
	return b, a
}

func TestSimultaneousDialKeepsOneConnectionAndLosesNoFrame(t *testing.T) {
	for _, link := range []memnet.Link{
		{Delay: time.Millisecond},
		{Delay: 20 * time.Millisecond},
		{Delay: 150 * time.Millisecond, Loss: 0.1},
		{Delay: 50 * time.Millisecond, Loss: 0.3},
	} {
		for seed := range uint64(3) {
			name := fmt.Sprintf("delay=%v,loss=%v,seed=%d", link.Delay, link.Loss, seed)
			t.Run(name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) { simultaneousDial(t, link, seed) })
			})
		}
	}
}

func simultaneousDial(t *testing.T, link memnet.Link, seed uint64) {
	const frames = 40
	mn := memnet.New(seed)
	mn.SetDefault(link)
	ca := newCA(t, "team")
	trust := trusting(ca)
	a := memNode(t, mn, "10.0.0.1:7070", ca.issue(t, leafOpts{}), trust)
	b := memNode(t, mn, "10.0.0.2:7070", ca.issue(t, leafOpts{}), trust)

	var wg sync.WaitGroup
	for _, dir := range [][2]*testNode{{a, b}, {b, a}} {
		wg.Go(func() {
			ctx := ctxFor(t)
			for i := range frames {
				if err := dir[0].Send(ctx, dir[1].contact(), fmt.Appendf(nil, "%d", i)); err != nil {
					t.Errorf("send %d: %v", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	time.Sleep(time.Minute) // virtual: retransmissions, drains and keepalives all play out
	synctest.Wait()

	lo, hi := lowerFirst(a, b)
	for _, n := range []*testNode{a, b} {
		s := n.Stats()
		if s.ConnectionsDialed != 1 || s.ConnectionsAccepted != 1 {
			t.Fatalf("no race: dialled %d, accepted %d", s.ConnectionsDialed, s.ConnectionsAccepted)
		}
		if s.Peers != 1 || s.Connections != 1 {
			t.Fatalf("%d peers over %d connections after the race", s.Peers, s.Connections)
		}
		peers := n.Peers()
		if want := n == lo; peers[0].Outbound != want {
			t.Fatalf("the connection kept was dialled by %s, want the lower NodeID %s",
				map[bool]string{true: "this node", false: "the peer"}[peers[0].Outbound], lo.LocalID().Short())
		}
		got := map[string]bool{}
		for len(n.frames) > 0 {
			got[string((<-n.frames).payload)] = true
		}
		if len(got) != frames {
			t.Fatalf("%d of %d frames arrived", len(got), frames)
		}
		if len(n.events) != 1 {
			t.Fatalf("%d peer events, want one Up and nothing else", len(n.events))
		}
		if ev := <-n.events; !ev.Up {
			t.Fatalf("event %+v", ev)
		}
	}
	if r := lo.Stats().DuplicatesRetired + hi.Stats().DuplicatesRetired; r == 0 {
		t.Fatal("nobody closed the duplicate")
	}
}

func TestPartitionTakesPeersDownAfterTheIdleTimeoutAndHealingBringsThemBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mn := memnet.New(1)
		mn.SetDefault(memnet.Link{Delay: 5 * time.Millisecond})
		ca := newCA(t, "team")
		trust := trusting(ca)
		a := memNode(t, mn, "10.0.0.1:7070", ca.issue(t, leafOpts{}), trust)
		b := memNode(t, mn, "10.0.0.2:7070", ca.issue(t, leafOpts{}), trust)
		if err := a.Send(ctxFor(t), b.contact(), []byte("before")); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		time.Sleep(time.Second)
		for _, n := range []*testNode{a, b} {
			if ev := <-n.events; !ev.Up {
				t.Fatalf("%+v", ev)
			}
		}
		// Quiet for a while: keepalives hold the connection up.
		time.Sleep(3 * DefaultIdleTimeout)
		if len(a.events)+len(b.events) != 0 {
			t.Fatal("an idle but healthy connection went down")
		}

		mn.Partition([]string{"10.0.0.1"}, []string{"10.0.0.2"})
		start := time.Now()
		time.Sleep(DefaultIdleTimeout - DefaultKeepAlive - time.Second)
		if len(a.events)+len(b.events) != 0 {
			t.Fatal("a peer went down before the idle timeout")
		}
		// QUIC restarts the idle timer at the first packet it sends after the last one it
		// received, at most a keepalive period after it.
		time.Sleep(2*DefaultKeepAlive + 2*time.Second)
		synctest.Wait()
		for _, n := range []*testNode{a, b} {
			if len(n.events) != 1 {
				t.Fatalf("%d events after %v of partition", len(n.events), time.Since(start))
			}
			if ev := <-n.events; ev.Up || ev.Err == nil {
				t.Fatalf("%+v", ev)
			}
		}
		if err := a.Send(ctxFor(t), b.contact(), []byte("during")); err == nil {
			t.Fatal("a reached b across the partition")
		}

		mn.Heal()
		if err := b.Send(ctxFor(t), a.contact(), []byte("after")); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		time.Sleep(time.Second)
		if f := <-a.frames; string(f.payload) != "after" {
			t.Fatalf("%q", f.payload)
		}
		for _, n := range []*testNode{a, b} {
			if ev := <-n.events; !ev.Up {
				t.Fatalf("%+v", ev)
			}
		}
	})
}

func TestRestartedPeerIsReachableBothWays(t *testing.T) {
	for _, restartLower := range []bool{true, false} {
		t.Run(fmt.Sprintf("restart lower=%v", restartLower), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { restartedPeer(t, restartLower) })
		})
	}
}

func restartedPeer(t *testing.T, restartLower bool) {
	mn := memnet.New(1)
	mn.SetDefault(memnet.Link{Delay: 5 * time.Millisecond})
	ca := newCA(t, "team")
	trust := trusting(ca)
	certs := []tls.Certificate{ca.issue(t, leafOpts{}), ca.issue(t, leafOpts{})}
	idOf := func(c tls.Certificate) mesh.NodeID { id, _ := Ed25519PeerID(c.Leaf); return id }
	x, y := idOf(certs[0]), idOf(certs[1])
	if (bytes.Compare(x[:], y[:]) < 0) != restartLower {
		certs[0], certs[1] = certs[1], certs[0]
	}
	// certs[0] is the node that restarts.
	stay := memNode(t, mn, "10.0.0.2:7070", certs[1], trust)
	old := memNode(t, mn, "10.0.0.1:7070", certs[0], trust)
	if err := stay.Send(ctxFor(t), old.contact(), []byte("hello")); err != nil {
		t.Fatal(err)
	}
	synctest.Wait()
	time.Sleep(time.Second)
	<-old.frames

	// The node dies without a word (its link goes first, so no CONNECTION_CLOSE gets out) and
	// comes back at the same address with the same identity.
	mn.SetLink("10.0.0.1", "10.0.0.2", memnet.Link{Down: true})
	old.Close()
	old.cfg.PacketConn.Close()
	mn.SetLink("10.0.0.1", "10.0.0.2", memnet.Link{Delay: 5 * time.Millisecond})
	back := memNode(t, mn, "10.0.0.1:7070", certs[0], trust)

	if err := back.Send(ctxFor(t), stay.contact(), []byte("i am back")); err != nil {
		t.Fatal(err)
	}
	synctest.Wait()
	time.Sleep(time.Second)
	if f := <-stay.frames; string(f.payload) != "i am back" {
		t.Fatalf("%q", f.payload)
	}
	// Well within the idle timeout, the node that stayed reaches the one that came back.
	deadline := time.Now().Add(DefaultIdleTimeout / 2)
	for time.Now().Before(deadline) {
		if err := stay.Send(ctxFor(t), back.contact(), []byte("welcome back")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		t.Logf("%v stay %+v peers %+v\nback %+v", time.Now(), stay.Stats(), stay.Peers(), back.Stats())
		if len(back.frames) > 0 {
			break
		}
	}
	if len(back.frames) == 0 {
		t.Fatal("frames to the restarted node were lost for half the idle timeout")
	}
	if f := <-back.frames; string(f.payload) != "welcome back" {
		t.Fatalf("%q", f.payload)
	}
}
