package radiolink

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"sync/atomic"
	"testing"
	"time"
)

// These tests build real namespaces and need root and ip(8), as the field tests do.

var labCount atomic.Int32

// startLab starts a lab of n nodes with a prefix unique to this process and test, and tears it
// down when the test ends.
func startLab(t *testing.T, n int) *Lab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: lab tests create network namespaces and need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("skipping: lab tests need ip(8) from iproute2")
	}
	prefix := fmt.Sprintf("rlt%dx%d-", os.Getpid(), labCount.Add(1))
	lab, err := Start(Config{Prefix: prefix, Nodes: n, Seed: 42})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := lab.Close(); err != nil {
			t.Errorf("closing the lab: %v", err)
		}
		for i := 1; i <= n; i++ {
			if _, err := os.Stat(netnsDir + "/" + lab.Namespace(i)); err == nil {
				t.Errorf("namespace %s survived Close", lab.Namespace(i))
			}
		}
	})
	return lab
}

func listen(t *testing.T, lab *Lab, n int) *net.UDPConn {
	t.Helper()
	c, err := lab.ListenUDP(n, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// echo answers every datagram on c with the same bytes until c is closed.
func echo(c *net.UDPConn) {
	buf := make([]byte, 2048)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		c.WriteToUDPAddrPort(buf[:n], from)
	}
}

func addrOf(lab *Lab, n int, c *net.UDPConn) netip.AddrPort {
	return netip.AddrPortFrom(lab.Addr(n), c.LocalAddr().(*net.UDPAddr).AddrPort().Port())
}

// roundTrip sends one numbered datagram to an echo server and returns the time until the same
// datagram came back, or an error after timeout.
func roundTrip(c *net.UDPConn, to netip.AddrPort, seq uint32, timeout time.Duration) (time.Duration, error) {
	msg := binary.BigEndian.AppendUint32([]byte("rtt"), seq)
	start := time.Now()
	if _, err := c.WriteToUDPAddrPort(msg, to); err != nil {
		return 0, err
	}
	c.SetReadDeadline(start.Add(timeout))
	buf := make([]byte, 64)
	for {
		n, _, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return 0, err
		}
		if bytes.Equal(buf[:n], msg) {
			return time.Since(start), nil
		}
	}
}

// quiet asserts that c receives nothing within a short window. It is called only after the
// emulator's counters show that the frames in question were already dropped, so the window
// guards against a misrouted copy, not against a slow one.
func quiet(t *testing.T, c *net.UDPConn, who string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	buf := make([]byte, 2048)
	n, from, err := c.ReadFromUDPAddrPort(buf)
	if err == nil {
		t.Errorf("%s received %q from %v, want nothing", who, buf[:n], from)
	} else if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("%s: %v", who, err)
	}
}

// waitFor polls cond until it holds, failing the test after a generous deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func TestLabDelayDoublesIntoRoundTrip(t *testing.T) {
	lab := startLab(t, 2)
	const oneWay = 20 * time.Millisecond
	if err := lab.Emulator().Degrade(1, 2, func(l *Link) { l.Delay = oneWay }); err != nil {
		t.Fatal(err)
	}
	a, b := listen(t, lab, 1), listen(t, lab, 2)
	go echo(b)
	to := addrOf(lab, 2, b)
	if _, err := roundTrip(a, to, 0, 5*time.Second); err != nil { // resolves ARP first
		t.Fatalf("warm-up round trip: %v", err)
	}
	const slack = 250 * time.Millisecond // generous: this checks the delay, it is no benchmark
	for seq := uint32(1); seq <= 5; seq++ {
		rtt, err := roundTrip(a, to, seq, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("round trip %d: %v", seq, rtt)
		if rtt < 2*oneWay || rtt >= 2*oneWay+slack {
			t.Errorf("round trip %d took %v, want >= %v and < %v", seq, rtt, 2*oneWay, 2*oneWay+slack)
		}
	}
}

func TestLabLinkDownDeliversNothing(t *testing.T) {
	lab := startLab(t, 2)
	em := lab.Emulator()
	a, b := listen(t, lab, 1), listen(t, lab, 2)
	to := addrOf(lab, 2, b)
	go echo(b)
	if _, err := roundTrip(a, to, 0, 5*time.Second); err != nil {
		t.Fatalf("round trip over an up link: %v", err)
	}
	if err := em.LinkDown(1, 2); err != nil {
		t.Fatal(err)
	}
	before := em.Stats().Pair(1, 2)
	const sent = 20
	for i := range sent {
		if _, err := a.WriteToUDPAddrPort([]byte{byte(i)}, to); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the emulator to drop the datagrams", func() bool {
		return em.Stats().Pair(1, 2).DroppedDown >= before.DroppedDown+sent
	})
	if got := em.Stats().Pair(1, 2).Forwarded; got != before.Forwarded {
		t.Errorf("forwarded %d frames over a down link", got-before.Forwarded)
	}
	quiet(t, a, "node 1 (no echo can come back)")

	if err := em.LinkUp(1, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := roundTrip(a, to, 1, 5*time.Second); err != nil {
		t.Fatalf("round trip after the link came back: %v", err)
	}
}

func TestLabRelayTopology(t *testing.T) {
	lab := startLab(t, 3)
	em := lab.Emulator()
	if err := em.LinkDown(1, 3); err != nil { // 1 hears 2, 2 hears 3, 1 and 3 do not hear each other
		t.Fatal(err)
	}
	// The nodes announced themselves (IPv6 multicast listener reports) while the lab was still
	// a full mesh: count from here.
	before := em.Stats()
	c1, c2, c3 := listen(t, lab, 1), listen(t, lab, 2), listen(t, lab, 3)
	go echo(c1)
	go echo(c3)
	for _, n := range []int{1, 3} {
		c := map[int]*net.UDPConn{1: c1, 3: c3}[n]
		if _, err := roundTrip(c2, addrOf(lab, n, c), uint32(n), 5*time.Second); err != nil {
			t.Errorf("node 2 cannot reach node %d: %v", n, err)
		}
	}

	probe := listen(t, lab, 1) // a fresh socket: the echo server owns c1's reads
	mid := em.Stats()
	if _, err := probe.WriteToUDPAddrPort([]byte("direct"), addrOf(lab, 3, c3)); err != nil {
		t.Fatal(err)
	}
	// Node 1 first asks who has node 3's address: the broadcast reaches node 2 only.
	waitFor(t, "node 1's ARP request to reach node 2 and be dropped on the way to node 3", func() bool {
		s := em.Stats()
		return s.Pair(1, 3).DroppedDown > mid.Pair(1, 3).DroppedDown && s.Pair(1, 2).Forwarded > mid.Pair(1, 2).Forwarded
	})
	s := em.Stats()
	if s.Pair(1, 3).Forwarded != before.Pair(1, 3).Forwarded || s.Pair(3, 1).Forwarded != before.Pair(3, 1).Forwarded {
		t.Errorf("frames crossed the down link: 1->3 %+v, 3->1 %+v", s.Pair(1, 3), s.Pair(3, 1))
	}
	quiet(t, probe, "node 1 (node 3's echo)")
}

func TestLabLossDropsAboutHalf(t *testing.T) {
	lab := startLab(t, 2)
	em := lab.Emulator()
	a, b := listen(t, lab, 1), listen(t, lab, 2)
	to := addrOf(lab, 2, b)
	go echo(b)
	if _, err := roundTrip(a, to, 0, 5*time.Second); err != nil { // resolve ARP on a clean link
		t.Fatal(err)
	}
	b.Close() // stop the echo; count on a fresh socket
	sink := listen(t, lab, 2)
	to = addrOf(lab, 2, sink)
	var received atomic.Int64
	marker := []byte("end of run")
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64)
		for {
			n, _, err := sink.ReadFromUDPAddrPort(buf)
			if err != nil || bytes.Equal(buf[:n], marker) {
				return
			}
			received.Add(1)
		}
	}()

	if err := em.Degrade(1, 2, func(l *Link) { l.Loss = 0.5 }); err != nil {
		t.Fatal(err)
	}
	before := em.Stats().Pair(1, 2)
	const sent = 400
	for i := range sent {
		if _, err := a.WriteToUDPAddrPort([]byte{byte(i)}, to); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the emulator to route every datagram", func() bool {
		p := em.Stats().Pair(1, 2)
		return p.Forwarded+p.DroppedLoss >= before.Forwarded+before.DroppedLoss+sent
	})
	after := em.Stats().Pair(1, 2)
	// A marker over the now lossless link: the pair keeps order, so once it is read every
	// datagram forwarded before it has been read too.
	if err := em.Degrade(1, 2, func(l *Link) { l.Loss = 0 }); err != nil {
		t.Fatal(err)
	}
	if _, err := a.WriteToUDPAddrPort(marker, to); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the marker datagram never arrived")
	}

	// Binomial(400, 0.5): mean 200, sd 10. The band is six standard deviations wide each side.
	got := received.Load()
	if got < 140 || got > 260 {
		t.Errorf("received %d of %d datagrams at loss 0.5, want 140..260", got, sent)
	}
	if lost := after.DroppedLoss - before.DroppedLoss; lost < 140 || lost > 260 {
		t.Errorf("emulator counted %d losses of %d, want 140..260", lost, sent)
	}
	if forwarded := after.Forwarded - before.Forwarded; uint64(got) > forwarded {
		t.Errorf("received %d datagrams but the emulator forwarded only %d frames", got, forwarded)
	}
}

func TestLabMulticastReachesHearersOnly(t *testing.T) {
	lab := startLab(t, 4)
	em := lab.Emulator()
	if err := em.Move(1, []int{2, 3}); err != nil { // node 4 is out of node 1's range
		t.Fatal(err)
	}
	for _, group := range []netip.AddrPort{
		netip.MustParseAddrPort("224.0.0.251:5353"),
		netip.MustParseAddrPort("[ff02::fb%eth0]:5353"),
	} {
		t.Run(group.Addr().String(), func(t *testing.T) {
			members := map[int]*net.UDPConn{}
			for n := 2; n <= 4; n++ {
				c, err := lab.ListenMulticastUDP(n, group)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				members[n] = c
			}
			sender := listen(t, lab, 1)
			if group.Addr().Is6() {
				var err error
				sender.Close()
				err = InNamespace(lab.Namespace(1), func() error {
					sender, err = net.ListenUDP("udp6", &net.UDPAddr{})
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { sender.Close() })
			}
			before := em.Stats().Pair(1, 4)
			msg := []byte("mdns-like hello to " + group.String())
			if _, err := sender.WriteToUDPAddrPort(msg, group); err != nil {
				t.Fatal(err)
			}
			for _, n := range []int{2, 3} {
				members[n].SetReadDeadline(time.Now().Add(5 * time.Second))
				buf := make([]byte, 256)
				for {
					k, _, err := members[n].ReadFromUDPAddrPort(buf)
					if err != nil {
						t.Fatalf("node %d (hears node 1): %v", n, err)
					}
					if bytes.Equal(buf[:k], msg) {
						break
					}
				}
			}
			if got := em.Stats().Pair(1, 4); got.Forwarded != before.Forwarded || got.DroppedDown == before.DroppedDown {
				t.Errorf("pair 1->4 before %+v after %+v: want nothing forwarded and a drop counted", before, got)
			}
			quiet(t, members[4], "node 4 (out of range)")
		})
	}
}

func TestCleanupRemovesLeftovers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipping: needs root to create network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("skipping: needs ip(8) from iproute2")
	}
	prefix := fmt.Sprintf("rlc%d-", os.Getpid())
	for _, ns := range []string{prefix + "1", prefix + "2"} {
		if err := runIP("", "netns", "add", ns); err != nil {
			t.Fatal(err)
		}
	}
	keep := prefix + "keep" // not prefix+digits: not a lab node, must survive
	if err := runIP("", "netns", "add", keep); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { runIP("", "netns", "delete", keep) })

	if _, err := Start(Config{Prefix: prefix, Nodes: 2}); err == nil {
		t.Fatal("Start succeeded over leftover namespaces")
	}
	removed, err := Cleanup(prefix)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(removed) != fmt.Sprint([]string{prefix + "1", prefix + "2"}) {
		t.Errorf("Cleanup removed %v", removed)
	}
	for _, ns := range removed {
		if _, err := os.Stat(netnsDir + "/" + ns); err == nil {
			t.Errorf("%s still exists", ns)
		}
	}
	if _, err := os.Stat(netnsDir + "/" + keep); err != nil {
		t.Errorf("Cleanup removed %s, which is not a lab node: %v", keep, err)
	}
}

// TestLabCarriesATCPStreamIntact checks what a userspace forwarder most easily gets wrong:
// checksums and segmentation offloads. A TAP device without offloads makes the sending kernel
// finish every checksum and cut every segment before the emulator sees the frame.
func TestLabCarriesATCPStreamIntact(t *testing.T) {
	lab := startLab(t, 2)
	var ln net.Listener
	if err := InNamespace(lab.Namespace(2), func() (err error) {
		ln, err = net.Listen("tcp4", ":0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	payload := make([]byte, 2<<20)
	for i := range payload {
		payload[i] = byte(i*7 + i>>11)
	}
	received := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			received <- nil
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		b, _ := io.ReadAll(c)
		received <- b
	}()
	var c net.Conn
	to := netip.AddrPortFrom(lab.Addr(2), uint16(ln.Addr().(*net.TCPAddr).Port))
	if err := InNamespace(lab.Namespace(1), func() (err error) {
		c, err = net.DialTimeout("tcp4", to.String(), 5*time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(payload); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if got := <-received; !bytes.Equal(got, payload) {
		t.Fatalf("received %d bytes, not the %d sent", len(got), len(payload))
	}
	if s := lab.Emulator().Stats(); s.Malformed != 0 {
		t.Errorf("%d malformed frames (a frame over %d bytes means offloads leaked through)", s.Malformed, MaxFrameLen)
	}
}
