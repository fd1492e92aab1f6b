package memnet

import (
	"errors"
	"net"
	"os"
	"testing"
	"testing/synctest"
	"time"
)

func listen(t *testing.T, n *Network, addr string) *PacketConn {
	t.Helper()
	c, err := n.Listen(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// read returns the next datagram or fails if none is queued.
func read(t *testing.T, c *PacketConn) (string, net.Addr) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(time.Second))
	b := make([]byte, 2*MTU)
	n, from, err := c.ReadFrom(b)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(b[:n]), from
}

func TestDatagramsArriveWithTheirSource(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(1)
		a, b := listen(t, n, "10.0.0.1:7070"), listen(t, n, "10.0.0.2:0")
		if b.LocalAddr().(*net.UDPAddr).Port < firstEphemeralPort {
			t.Fatalf("port 0 gave %v", b.LocalAddr())
		}
		if _, err := a.WriteTo([]byte("hi"), b.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		got, from := read(t, b)
		if got != "hi" || from.String() != "10.0.0.1:7070" {
			t.Fatalf("%q from %v", got, from)
		}
		if _, err := n.Listen("10.0.0.1:7070"); err == nil {
			t.Fatal("two conns on one address")
		}
		if c := n.Counters(); c.Delivered != 1 {
			t.Fatalf("%+v", c)
		}
	})
}

func TestLinksDropDelayAndPartition(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(1)
		a, b := listen(t, n, "10.0.0.1:1"), listen(t, n, "10.0.0.2:1")
		c := listen(t, n, "10.0.0.3:1")

		n.SetLink("10.0.0.1", "10.0.0.2", Link{Delay: 30 * time.Millisecond})
		start := time.Now()
		a.WriteTo([]byte("slow"), b.LocalAddr())
		a.WriteTo([]byte("fast"), c.LocalAddr())
		if got, _ := read(t, c); got != "fast" || time.Since(start) != 0 {
			t.Fatalf("%q after %v on the default link", got, time.Since(start))
		}
		if got, _ := read(t, b); got != "slow" || time.Since(start) != 30*time.Millisecond {
			t.Fatalf("%q after %v on a 30 ms link", got, time.Since(start))
		}

		if err := n.Partition([]string{"10.0.0.1"}, []string{"10.0.0.2", "10.0.0.3"}); err != nil {
			t.Fatal(err)
		}
		a.WriteTo([]byte("x"), b.LocalAddr())
		b.WriteTo([]byte("x"), a.LocalAddr()) // symmetric
		b.WriteTo([]byte("inside"), c.LocalAddr())
		if got, _ := read(t, c); got != "inside" {
			t.Fatalf("%q", got)
		}
		if cnt := n.Counters(); cnt.DroppedDown != 2 {
			t.Fatalf("%+v", cnt)
		}
		n.Heal()
		a.WriteTo([]byte("healed"), b.LocalAddr())
		if got, _ := read(t, b); got != "healed" {
			t.Fatalf("%q", got)
		}

		a.WriteTo(make([]byte, MTU+1), b.LocalAddr())
		a.WriteTo([]byte("nobody"), &net.UDPAddr{IP: net.IPv4(10, 0, 0, 9), Port: 1})
		if cnt := n.Counters(); cnt.DroppedSize != 1 || cnt.DroppedNoDst != 1 {
			t.Fatalf("%+v", cnt)
		}
	})
}

func TestLossFollowsTheSeededProbability(t *testing.T) {
	const sent = QueuePackets // the receiver never reads: all must fit in its queue
	n := New(42)
	a, b := listen(t, n, "10.0.0.1:1"), listen(t, n, "10.0.0.2:1")
	n.SetDefault(Link{Loss: 0.25})
	for range sent {
		a.WriteTo([]byte("p"), b.LocalAddr())
	}
	c := n.Counters()
	if c.Delivered+c.DroppedLoss != sent {
		t.Fatalf("%+v", c)
	}
	if rate := float64(c.DroppedLoss) / sent; rate < 0.22 || rate > 0.28 {
		t.Fatalf("loss rate %.3f for a 0.25 link", rate)
	}
}

func TestDeadlinesAndClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(1)
		a := listen(t, n, "10.0.0.1:1")
		start := time.Now()
		a.SetReadDeadline(start.Add(time.Second))
		if _, _, err := a.ReadFrom(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) || time.Since(start) != time.Second {
			t.Fatalf("%v after %v", err, time.Since(start))
		}
		// A deadline moved while a read waits applies to that read.
		a.SetReadDeadline(time.Time{})
		errc := make(chan error)
		go func() {
			_, _, err := a.ReadFrom(make([]byte, 1))
			errc <- err
		}()
		synctest.Wait()
		a.SetReadDeadline(time.Now())
		if err := <-errc; !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("%v", err)
		}
		a.SetReadDeadline(time.Time{})
		go func() {
			_, _, err := a.ReadFrom(make([]byte, 1))
			errc <- err
		}()
		synctest.Wait()
		a.Close()
		if err := <-errc; !errors.Is(err, net.ErrClosed) {
			t.Fatalf("%v", err)
		}
		if _, err := a.WriteTo([]byte("x"), a.LocalAddr()); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("%v", err)
		}
		if _, err := n.Listen("10.0.0.1:1"); err != nil {
			t.Fatalf("the address was not freed: %v", err)
		}
	})
}

func TestAFullQueueDropsPackets(t *testing.T) {
	n := New(1)
	a, b := listen(t, n, "10.0.0.1:1"), listen(t, n, "10.0.0.2:1")
	for range QueuePackets + 10 {
		a.WriteTo([]byte("p"), b.LocalAddr())
	}
	if c := n.Counters(); c.Delivered != QueuePackets || c.DroppedFull != 10 {
		t.Fatalf("%+v", c)
	}
}
