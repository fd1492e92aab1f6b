package transport

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"testing"
	"time"

	"meshcomm/mesh"
)

func TestFramesFlowBothWaysBetweenTwoNodes(t *testing.T) {
	ca := newCA(t, "team")
	trust := trusting(ca)
	a, b := newNode(t, ca, trust), newNode(t, ca, trust)
	ctx := ctxFor(t)

	if err := a.Send(ctx, b.contact(), []byte("hello b")); err != nil {
		t.Fatal(err)
	}
	got := b.nextFrame(t)
	if string(got.payload) != "hello b" || got.from.ID != a.LocalID() {
		t.Fatalf("b got %q from %s", got.payload, got.from.ID.Short())
	}
	// b answers over the connection a made: the contact needs no address.
	if err := b.Send(ctx, mesh.Contact{ID: a.LocalID()}, []byte("hello a")); err != nil {
		t.Fatal(err)
	}
	got = a.nextFrame(t)
	if string(got.payload) != "hello a" || got.from.ID != b.LocalID() {
		t.Fatalf("a got %q from %s", got.payload, got.from.ID.Short())
	}
	if got.from.Addr != b.LocalAddr().String() {
		t.Fatalf("a sees b at %s, b listens at %s (one socket per node)", got.from.Addr, b.LocalAddr())
	}
	for _, n := range []*testNode{a, b} {
		if s := n.Stats(); s.Peers != 1 || s.Connections != 1 || s.FramesSent != 1 || s.FramesReceived != 1 {
			t.Fatalf("stats %+v", s)
		}
	}
	if s := a.Stats(); s.ConnectionsDialed != 1 || s.ConnectionsAccepted != 0 {
		t.Fatalf("a dialled %d, accepted %d", s.ConnectionsDialed, s.ConnectionsAccepted)
	}
}

func TestThreeNodesExchangeFramesOfEverySize(t *testing.T) {
	ca := newCA(t, "team")
	trust := trusting(ca)
	nodes := []*testNode{newNode(t, ca, trust), newNode(t, ca, trust), newNode(t, ca, trust)}
	ctx := ctxFor(t)
	sizes := []int{1, 1200, 64 << 10, MaxFrameBytes}
	for i, from := range nodes {
		for j, to := range nodes {
			if i == j {
				continue
			}
			for _, size := range sizes {
				p := bytes.Repeat([]byte{byte(i<<4 | j)}, size)
				if err := from.Send(ctx, to.contact(), p); err != nil {
					t.Fatalf("%d->%d size %d: %v", i, j, size, err)
				}
			}
		}
	}
	for j, to := range nodes {
		var got []string
		for range 2 * len(sizes) {
			f := to.nextFrame(t)
			i := slices.IndexFunc(nodes, func(n *testNode) bool { return n.LocalID() == f.from.ID })
			if i < 0 || f.payload[0] != byte(i<<4|j) || bytes.Count(f.payload, f.payload[:1]) != len(f.payload) {
				t.Fatalf("node %d: frame of %d bytes from unexpected sender or corrupted", j, len(f.payload))
			}
			got = append(got, fmt.Sprintf("%d:%d", i, len(f.payload)))
		}
		slices.Sort(got)
		var want []string
		for i := range nodes {
			if i != j {
				for _, size := range sizes {
					want = append(want, fmt.Sprintf("%d:%d", i, size))
				}
			}
		}
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("node %d got %v, want %v", j, got, want)
		}
		if s := to.Stats(); s.Peers != 2 || s.Connections != 2 {
			t.Fatalf("node %d: %d peers over %d connections", j, s.Peers, s.Connections)
		}
	}
}

func TestSendRefusesFramesOutsideTheBound(t *testing.T) {
	ca := newCA(t, "team")
	trust := trusting(ca)
	a, b := newNode(t, ca, trust), newNode(t, ca, trust)
	ctx := ctxFor(t)
	if err := a.Send(ctx, b.contact(), make([]byte, MaxFrameBytes+1)); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("oversized: %v", err)
	}
	if err := a.Send(ctx, b.contact(), nil); !errors.Is(err, ErrEmptyFrame) {
		t.Fatalf("empty: %v", err)
	}
	if s := a.Stats(); s.ConnectionsDialed != 0 {
		t.Fatal("a refused frame still dialled")
	}
	if err := a.Send(ctx, mesh.Contact{ID: b.LocalID()}, []byte("x")); !errors.Is(err, ErrNoAddress) {
		t.Fatalf("no address, no connection: %v", err)
	}
}

func TestPeerEventsUpThenDownWhenThePeerCloses(t *testing.T) {
	ca := newCA(t, "team")
	trust := trusting(ca)
	a, b := newNode(t, ca, trust), newNode(t, ca, trust)
	ctx := ctxFor(t)
	got, err := a.Connect(ctx, mesh.Contact{Addr: b.LocalAddr().String()}) // address only: a static peer
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != b.LocalID() {
		t.Fatalf("Connect proved %s, want %s", got.ID.Short(), b.LocalID().Short())
	}
	up := a.nextEvent(t)
	if !up.Up || up.Peer.ID != b.LocalID() || up.Certificate == nil || up.Peer.Addr != b.LocalAddr().String() {
		t.Fatalf("a's first event %+v", up)
	}
	if id, err := Ed25519PeerID(up.Certificate); err != nil || id != b.LocalID() {
		t.Fatal("the event's certificate is not b's")
	}
	if ev := b.nextEvent(t); !ev.Up || ev.Peer.ID != a.LocalID() {
		t.Fatalf("b's first event %+v", ev)
	}
	if rtt, ok := a.RTT(b.LocalID()); !ok || rtt <= 0 {
		t.Fatalf("RTT %v %v", rtt, ok)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	down := a.nextEvent(t)
	if down.Up || down.Peer.ID != b.LocalID() || down.Err == nil {
		t.Fatalf("a's second event %+v", down)
	}
	if len(a.Peers()) != 0 {
		t.Fatal("a still lists b")
	}
	if err := a.SendDatagram(b.LocalID(), []byte("x")); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("datagram to a gone peer: %v", err)
	}
}

func TestDisconnectRaisesDownOnBothSides(t *testing.T) {
	ca := newCA(t, "team")
	trust := trusting(ca)
	a, b := newNode(t, ca, trust), newNode(t, ca, trust)
	if _, err := a.Connect(ctxFor(t), b.contact()); err != nil {
		t.Fatal(err)
	}
	a.nextEvent(t)
	b.nextEvent(t)
	a.Disconnect(b.LocalID())
	if ev := a.nextEvent(t); ev.Up || ev.Peer.ID != b.LocalID() {
		t.Fatalf("a: %+v", ev)
	}
	if ev := b.nextEvent(t); ev.Up || ev.Peer.ID != a.LocalID() {
		t.Fatalf("b: %+v", ev)
	}
}

func TestDatagramsBothWays(t *testing.T) {
	ca := newCA(t, "team")
	trust := trusting(ca)
	a, b := newNode(t, ca, trust), newNode(t, ca, trust)
	if _, err := a.Connect(ctxFor(t), b.contact()); err != nil {
		t.Fatal(err)
	}
	b.nextEvent(t) // b has the connection too
	if err := a.SendDatagram(b.LocalID(), []byte("rtp to b")); err != nil {
		t.Fatal(err)
	}
	if err := b.SendDatagram(a.LocalID(), []byte("rtp to a")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		n    *testNode
		want string
		from mesh.NodeID
	}{{b, "rtp to b", a.LocalID()}, {a, "rtp to a", b.LocalID()}} {
		select {
		case d := <-c.n.datagrams:
			if string(d.payload) != c.want || d.from.ID != c.from {
				t.Fatalf("datagram %q from %s", d.payload, d.from.ID.Short())
			}
		case <-time.After(wait):
			t.Fatalf("datagram %q did not arrive", c.want)
		}
	}
	if err := a.SendDatagram(b.LocalID(), make([]byte, 64<<10)); err == nil {
		t.Fatal("a 64 KiB datagram was accepted")
	}
}

func TestStreamIsANetConnWithOverlayAddresses(t *testing.T) {
	ca := newCA(t, "team")
	trust := trusting(ca)
	a, b := newNode(t, ca, trust), newNode(t, ca, trust)
	l, err := b.Listener(KindSIP)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			served <- err
			return
		}
		s := c.(*Stream)
		if s.Peer().ID != a.LocalID() || s.Kind() != KindSIP || c.RemoteAddr().String() != a.LocalID().String() {
			served <- fmt.Errorf("accepted stream from %v kind %#x", c.RemoteAddr(), s.Kind())
			return
		}
		_, err = io.Copy(c, c) // echo until a closes its side
		c.Close()
		served <- err
	}()

	c, err := a.OpenStream(ctxFor(t), b.contact(), KindSIP)
	if err != nil {
		t.Fatal(err)
	}
	if c.RemoteAddr().String() != b.LocalID().String() || c.LocalAddr().String() != a.LocalID().String() ||
		c.RemoteAddr().Network() != "meshcomm" {
		t.Fatalf("addresses %v -> %v", c.LocalAddr(), c.RemoteAddr())
	}
	msg := []byte("INVITE sip:101@team SIP/2.0\r\n\r\n")
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(wait))
	echo := make([]byte, len(msg))
	if _, err := io.ReadFull(c, echo); err != nil || !bytes.Equal(echo, msg) {
		t.Fatalf("echo %q, %v", echo, err)
	}
	c.SetReadDeadline(time.Now().Add(-time.Second))
	var ne net.Error
	if _, err := c.Read(make([]byte, 1)); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read past the deadline: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(wait):
		t.Fatal("the echo server did not see the stream end")
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after close: %v", err)
	}
	if _, err := b.Listener(0x01); !errors.Is(err, ErrKindReserved) {
		t.Fatalf("reserved kind: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("accept after close: %v", err)
	}
}

func TestTrustAddedAtRunTimeTakesEffectWithoutRestart(t *testing.T) {
	caA, caC := newCA(t, "alpha"), newCA(t, "charlie")
	trustA := trusting(caA)
	a := newNode(t, caA, trustA)
	c := newNode(t, caC, trusting(caA, caC)) // c trusts a's team; a does not trust c's yet
	ctx := ctxFor(t)
	// Send would return nil (a TLS 1.3 client finishes its handshake before the server checks
	// its certificate); Connect waits for the peer to accept.
	if _, err := c.Connect(ctx, a.contact()); err == nil {
		t.Fatal("a accepted a peer from an untrusted team")
	}
	if r := a.nextRefusal(t); r != ReasonUntrusted {
		t.Fatalf("refused for %s", r)
	}
	if n := a.Stats().Refused[ReasonUntrusted]; n != 1 {
		t.Fatalf("a counted %d untrusted refusals", n)
	}
	if a.Stats().Peers != 0 {
		t.Fatal("a kept the untrusted peer")
	}
	if r := c.nextRefusal(t); r != refusedByPeer {
		t.Fatalf("c saw %s", r)
	}
	if st := c.Stats(); st.RefusedByPeers != 1 || st.Peers != 0 || len(c.events) != 0 {
		t.Fatalf("c: %+v, %d events", st, len(c.events))
	}
	trustA.add(caC)
	if err := c.Send(ctx, a.contact(), []byte("let me in")); err != nil {
		t.Fatal(err)
	}
	if f := a.nextFrame(t); string(f.payload) != "let me in" || f.from.ID != c.LocalID() {
		t.Fatalf("a got %q", f.payload)
	}
}

func TestHandlersSeeUpBeforeFramesAndDownAfter(t *testing.T) {
	ca := newCA(t, "team")
	trust := trusting(ca)
	a := newNode(t, ca, trust)
	log := make(chan string, 100)
	cfg := nodeConfig(t, ca.issue(t, leafOpts{}), trust)
	cfg.Logger = slog.New(slog.DiscardHandler)
	cfg.Handlers = Handlers{
		OnFrame: func(from mesh.Contact, p []byte) { log <- "frame" },
		OnPeer:  func(ev PeerEvent) { log <- fmt.Sprintf("up=%v", ev.Up) },
	}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	const frames = 20
	for range frames {
		if err := a.Send(ctxFor(t), mesh.Contact{ID: b.LocalID(), Addr: b.LocalAddr().String()}, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	next := func() string {
		select {
		case s := <-log:
			return s
		case <-time.After(wait):
			t.Fatal("handler not called")
		}
		return ""
	}
	if s := next(); s != "up=true" {
		t.Fatalf("first call %q, want the Up event", s)
	}
	for i := range frames {
		if s := next(); s != "frame" {
			t.Fatalf("call %d: %q", i+2, s)
		}
	}
	a.Close()
	if s := next(); s != "up=false" {
		t.Fatalf("last call %q, want the Down event", s)
	}
}

func TestSendToSelfIsRefusedWithoutDialling(t *testing.T) {
	ca := newCA(t, "team")
	a := newNode(t, ca, trusting(ca))
	if err := a.Send(ctxFor(t), a.contact(), []byte("x")); !errors.Is(err, ErrSelf) {
		t.Fatalf("%v", err)
	}
	if s := a.Stats(); s.ConnectionsDialed+s.DialFailures != 0 {
		t.Fatalf("%+v", s)
	}
}

func TestAListenerThatDoesNotAcceptRefusesStreamsPastItsBacklog(t *testing.T) {
	ca := newCA(t, "team")
	trust := trusting(ca)
	a, b := newNode(t, ca, trust), newNode(t, ca, trust)
	if _, err := b.Listener(KindSIP); err != nil {
		t.Fatal(err)
	}
	for i := range listenerBacklog + 1 {
		if _, err := a.OpenStream(ctxFor(t), b.contact(), KindSIP); err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
	}
	if r := b.nextRefusal(t); r != ReasonBacklogFull {
		t.Fatalf("refused for %s", r)
	}
	if n := b.Stats().Refused[ReasonBacklogFull]; n != 1 {
		t.Fatalf("%d backlog refusals", n)
	}
}
