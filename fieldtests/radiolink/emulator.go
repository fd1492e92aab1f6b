package radiolink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/bits"
	"os"
	"sync"
	"time"
)

// Port is one node's interface as the emulator sees it: frames the node sent come out of
// ReadFrame, frames for the node go into WriteFrame. ReadFrame blocks until a frame arrives or
// the port is closed. The lab's ports are TAP devices; tests use in-memory ports.
type Port interface {
	ReadFrame(buf []byte) (int, error)
	WriteFrame(frame []byte) error
	Close() error
}

// readBufLen is larger than any frame a TAP device can hold, so a read is never truncated and
// an oversize frame is seen whole, counted and dropped.
const readBufLen = 1 << 17

// Emulator forwards frames between nodes' ports through a Medium, in real time: one goroutine
// per port reads frames and routes them, one scheduler goroutine sleeps until the next frame is
// due and writes it. Its control methods are safe to call from any goroutine while it runs and
// take effect for the next frame routed.
type Emulator struct {
	mu     sync.Mutex
	medium *Medium
	ports  []Port
	wake   chan struct{}
	log    *slog.Logger
}

// NewEmulator returns an emulator forwarding between ports (ports[i] is node i+1) through
// medium. It takes ownership of both: Run closes the ports when it returns.
func NewEmulator(medium *Medium, ports []Port, log *slog.Logger) (*Emulator, error) {
	if len(ports) != medium.Nodes() {
		return nil, fmt.Errorf("radiolink: %d ports for %d nodes", len(ports), medium.Nodes())
	}
	if log == nil {
		log = slog.Default()
	}
	return &Emulator{medium: medium, ports: ports, wake: make(chan struct{}, 1), log: log}, nil
}

// Run forwards frames until ctx is done, then closes the ports and returns after every
// goroutine it started has stopped. A port that fails to read is logged and leaves its node
// deaf; the others keep running.
func (e *Emulator) Run(ctx context.Context) error {
	var readers sync.WaitGroup
	for i, p := range e.ports {
		readers.Go(func() { e.readLoop(ctx, i+1, p) })
	}
	e.schedule(ctx)
	var errs []error
	for _, p := range e.ports {
		errs = append(errs, p.Close())
	}
	readers.Wait()
	return errors.Join(errs...)
}

func (e *Emulator) readLoop(ctx context.Context, node int, p Port) {
	buf := make([]byte, readBufLen)
	for {
		n, err := p.ReadFrame(buf)
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, os.ErrClosed) {
				e.log.Error("radiolink: reading a node's port failed; the node is deaf from now on", "node", node, "err", err)
			}
			return
		}
		frame := make([]byte, n)
		copy(frame, buf[:n])
		e.mu.Lock()
		err = e.medium.Route(time.Now(), node, frame)
		malformed := e.medium.malformed
		e.mu.Unlock()
		if err != nil {
			if isPowerOfTwo(malformed) { // log the 1st, 2nd, 4th ... so a flood cannot flood the log
				e.log.Warn("radiolink: dropped a malformed frame", "node", node, "len", n, "err", err, "malformed_total", malformed)
			}
			continue
		}
		select {
		case e.wake <- struct{}{}:
		default:
		}
	}
}

func isPowerOfTwo(n uint64) bool { return n != 0 && bits.OnesCount64(n) == 1 }

// schedule writes each frame when it is due, until ctx is done.
func (e *Emulator) schedule(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		e.mu.Lock()
		due := e.medium.PopDue(time.Now())
		e.mu.Unlock()
		for _, d := range due {
			if err := e.ports[d.To-1].WriteFrame(d.Frame); err != nil {
				e.mu.Lock()
				e.medium.CountWriteError()
				failures := e.medium.writeErrors
				e.mu.Unlock()
				if isPowerOfTwo(failures) {
					e.log.Warn("radiolink: a node's port refused a frame", "node", d.To, "err", err, "write_errors_total", failures)
				}
			}
		}
		e.mu.Lock()
		next, ok := e.medium.NextDue()
		e.mu.Unlock()
		var fire <-chan time.Time
		if ok {
			timer.Reset(time.Until(next))
			fire = timer.C
		}
		select {
		case <-ctx.Done():
			return
		case <-e.wake:
		case <-fire:
		}
	}
}

// Do runs fn with the medium locked, for a change the other methods do not offer.
func (e *Emulator) Do(fn func(*Medium) error) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return fn(e.medium)
}

// Link returns the directed link from -> to.
func (e *Emulator) Link(from, to int) (l Link, err error) {
	err = e.Do(func(m *Medium) error { l, err = m.Link(from, to); return err })
	return l, err
}

// SetLink replaces the directed link from -> to.
func (e *Emulator) SetLink(from, to int, l Link) error {
	return e.Do(func(m *Medium) error { return m.SetLink(from, to, l) })
}

// SetPair replaces both directed links between a and b.
func (e *Emulator) SetPair(a, b int, l Link) error {
	return e.Do(func(m *Medium) error {
		if err := m.SetLink(a, b, l); err != nil {
			return err
		}
		return m.SetLink(b, a, l)
	})
}

// Degrade changes both directed links between a and b through change (for example their delay
// or loss), keeping what change leaves alone.
func (e *Emulator) Degrade(a, b int, change func(*Link)) error {
	return e.Do(func(m *Medium) error {
		if err := m.UpdateLink(a, b, change); err != nil {
			return err
		}
		return m.UpdateLink(b, a, change)
	})
}

// LinkUp brings both directed links between a and b up.
func (e *Emulator) LinkUp(a, b int) error { return e.setPairUp(a, b, true) }

// LinkDown takes both directed links between a and b down; frames in flight on them are dropped.
func (e *Emulator) LinkDown(a, b int) error { return e.setPairUp(a, b, false) }

func (e *Emulator) setPairUp(a, b int, up bool) error {
	return e.Do(func(m *Medium) error {
		if err := m.SetUp(a, b, up); err != nil {
			return err
		}
		return m.SetUp(b, a, up)
	})
}

// Partition splits the nodes into groups that hear only each other (see Medium.Partition).
func (e *Emulator) Partition(groups ...[]int) error {
	return e.Do(func(m *Medium) error { return m.Partition(groups...) })
}

// Heal brings every link up (see Medium.Heal).
func (e *Emulator) Heal() { _ = e.Do(func(m *Medium) error { m.Heal(); return nil }) }

// Move places node n where it hears exactly the nodes in hears (see Medium.Move).
func (e *Emulator) Move(n int, hears []int) error {
	return e.Do(func(m *Medium) error { return m.Move(n, hears) })
}

// Stats returns a snapshot of the counters.
func (e *Emulator) Stats() (s Stats) {
	_ = e.Do(func(m *Medium) error { s = m.Stats(); return nil })
	return s
}
