package radiolink

import (
	"context"
	"io"
	"os"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// memPort is an in-memory Port: the test sends what the node transmits into tx and reads what
// the node receives from rx.
type memPort struct {
	tx        chan []byte
	rx        chan []byte
	closed    chan struct{}
	closeOnce sync.Once
}

func newMemPort() *memPort {
	return &memPort{tx: make(chan []byte), rx: make(chan []byte, 64), closed: make(chan struct{})}
}

func (p *memPort) ReadFrame(buf []byte) (int, error) {
	select {
	case f := <-p.tx:
		return copy(buf, f), nil
	case <-p.closed:
		return 0, os.ErrClosed
	}
}

func (p *memPort) WriteFrame(frame []byte) error {
	select {
	case p.rx <- frame:
		return nil
	default:
		return io.ErrShortWrite // a full receive queue, as a full device queue would
	}
}

func (p *memPort) Close() error { p.closeOnce.Do(func() { close(p.closed) }); return nil }

// runEmulator starts an emulator over n in-memory ports inside the current synctest bubble and
// stops it when the test ends.
func runEmulator(t *testing.T, n int, initial Link) (*Emulator, []*memPort) {
	t.Helper()
	m := newMedium(t, n, initial)
	mem := make([]*memPort, n)
	ports := make([]Port, n)
	for i := range mem {
		mem[i] = newMemPort()
		ports[i] = mem[i]
	}
	em, err := NewEmulator(m, ports, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error)
	go func() { stopped <- em.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-stopped; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return em, mem
}

func pending(p *memPort) int { return len(p.rx) }

func TestEmulatorDeliversAfterTheDelayInVirtualTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		em, ports := runEmulator(t, 3, Link{Up: true})
		if err := em.SetPair(1, 2, Link{Up: true, Delay: 20 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		ports[0].tx <- ethFrame(NodeMAC(2), NodeMAC(1), 1, 0)
		synctest.Wait()
		if pending(ports[1]) != 0 {
			t.Fatal("delivered before the delay")
		}
		time.Sleep(20*time.Millisecond - time.Nanosecond) // virtual time: the bubble's fake clock
		synctest.Wait()
		if pending(ports[1]) != 0 {
			t.Fatal("delivered before the delay")
		}
		f := <-ports[1].rx
		if got := time.Since(start); got != 20*time.Millisecond || f[14] != 1 {
			t.Errorf("frame %d delivered after %v, want frame 1 after exactly 20ms", f[14], got)
		}
		if pending(ports[2]) != 0 || pending(ports[0]) != 0 {
			t.Error("unicast to node 2 reached another node")
		}
	})
}

func TestEmulatorControlTakesEffectForTheNextFrame(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		em, ports := runEmulator(t, 3, Link{Up: true})
		ports[0].tx <- ethFrame(broadcast, NodeMAC(1), 1, 0)
		synctest.Wait()
		if pending(ports[1]) != 1 || pending(ports[2]) != 1 {
			t.Fatalf("broadcast reached %d and %d frames at nodes 2 and 3, want 1 each", pending(ports[1]), pending(ports[2]))
		}
		<-ports[1].rx
		<-ports[2].rx

		if err := em.Partition([]int{1, 2}, []int{3}); err != nil {
			t.Fatal(err)
		}
		ports[0].tx <- ethFrame(broadcast, NodeMAC(1), 2, 0)
		synctest.Wait()
		if pending(ports[1]) != 1 || pending(ports[2]) != 0 {
			t.Fatalf("after partition: %d and %d frames at nodes 2 and 3, want 1 and 0", pending(ports[1]), pending(ports[2]))
		}
		<-ports[1].rx

		em.Heal()
		ports[0].tx <- ethFrame(broadcast, NodeMAC(1), 3, 0)
		synctest.Wait()
		if pending(ports[2]) != 1 {
			t.Fatal("after heal node 3 still hears nothing")
		}
		s := em.Stats()
		if p := s.Pair(1, 3); p.Forwarded != 2 || p.DroppedDown != 1 {
			t.Errorf("pair 1->3: %+v, want 2 forwarded and 1 dropped", p)
		}
	})
}

func TestEmulatorCountsRefusedWritesAndKeepsRunning(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		em, ports := runEmulator(t, 2, Link{Up: true})
		capacity := cap(ports[1].rx)
		for i := range capacity + 3 {
			ports[0].tx <- ethFrame(NodeMAC(2), NodeMAC(1), byte(i), 0)
		}
		synctest.Wait()
		if s := em.Stats(); s.WriteErrors != 3 {
			t.Errorf("write errors %d, want 3", s.WriteErrors)
		}
		ports[0].tx <- make([]byte, 3) // malformed: counted, not fatal
		synctest.Wait()
		for range capacity {
			<-ports[1].rx
		}
		ports[0].tx <- ethFrame(NodeMAC(2), NodeMAC(1), 0xee, 0)
		synctest.Wait()
		if f := <-ports[1].rx; f[14] != 0xee {
			t.Errorf("got frame %x after the errors", f[14])
		}
		if s := em.Stats(); s.Malformed != 1 {
			t.Errorf("malformed %d, want 1", s.Malformed)
		}
	})
}
