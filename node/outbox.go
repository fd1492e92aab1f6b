package node

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"meshcomm/mesh"
)

// sendFunc sends one frame to a peer, dialling it if needed (transport.Endpoint.Send).
type sendFunc func(ctx context.Context, to mesh.Contact, payload []byte) error

// Outbox timings.
const (
	// sendTimeout bounds one frame's send: a dial (up to twice the 10 s handshake timeout)
	// and a wait for flow-control credit.
	sendTimeout = 25 * time.Second
	// senderIdle is how long a peer's sender goroutine lingers with nothing to send.
	senderIdle = 30 * time.Second
)

// outbox sends frames to peers without ever blocking the loop: one bounded queue and one
// sender goroutine per peer, so a peer that is slow to dial or to take frames delays only its
// own frames. A frame that finds its queue full is dropped and counted; when a send fails
// (the peer cannot be reached), the frames queued behind it are dropped too, since each would
// wait out the same dial. The overlay retransmits what matters.
type outbox struct {
	send  sendFunc
	ctx   context.Context
	depth int
	log   *slog.Logger

	mu      sync.Mutex
	queues  map[mesh.NodeID]*peerQueue
	pending int           // frames queued or being sent
	idle    chan struct{} // closed while pending == 0
	wg      sync.WaitGroup

	sent, sentBytes, dropped, failed atomic.Uint64
}

type outFrame struct {
	to      mesh.Contact
	payload []byte
}

type peerQueue struct{ ch chan outFrame }

func newOutbox(ctx context.Context, send sendFunc, depth int, log *slog.Logger) *outbox {
	idle := make(chan struct{})
	close(idle)
	return &outbox{send: send, ctx: ctx, depth: depth, log: log, queues: map[mesh.NodeID]*peerQueue{}, idle: idle}
}

// enqueue queues one frame for to; it reports false when the frame was dropped.
func (o *outbox) enqueue(to mesh.Contact, payload []byte) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.ctx.Err() != nil {
		o.dropped.Add(1)
		return false
	}
	q := o.queues[to.ID]
	if q == nil {
		q = &peerQueue{ch: make(chan outFrame, o.depth)}
		o.queues[to.ID] = q
		o.wg.Add(1)
		go o.run(to.ID, q)
	}
	select {
	case q.ch <- outFrame{to, payload}:
	default:
		o.dropped.Add(1)
		return false
	}
	if o.pending == 0 {
		o.idle = make(chan struct{})
	}
	o.pending++
	return true
}

// finished marks n frames as no longer pending.
func (o *outbox) finished(n int) {
	if n == 0 {
		return
	}
	o.mu.Lock()
	o.pending -= n
	if o.pending == 0 {
		close(o.idle)
	}
	o.mu.Unlock()
}

// run is one peer's sender.
func (o *outbox) run(id mesh.NodeID, q *peerQueue) {
	defer o.wg.Done()
	timer := time.NewTimer(senderIdle)
	defer timer.Stop()
	for {
		select {
		case f := <-q.ch:
			ctx, cancel := context.WithTimeout(o.ctx, sendTimeout)
			err := o.send(ctx, f.to, f.payload)
			cancel()
			if err == nil {
				o.sent.Add(1)
				o.sentBytes.Add(uint64(len(f.payload)))
				o.finished(1)
			} else {
				n := 1 + drainQueue(q.ch)
				o.failed.Add(uint64(n))
				o.finished(n)
				if o.ctx.Err() == nil {
					o.log.Debug("node: send failed", "peer", id.Short(), "addr", f.to.Addr, "frames_dropped", n, "err", err)
				}
			}
			timer.Reset(senderIdle)
		case <-timer.C:
			o.mu.Lock()
			if len(q.ch) == 0 {
				delete(o.queues, id)
				o.mu.Unlock()
				return
			}
			o.mu.Unlock()
			timer.Reset(senderIdle)
		case <-o.ctx.Done():
			n := drainQueue(q.ch)
			o.dropped.Add(uint64(n))
			o.finished(n)
			return
		}
	}
}

func drainQueue(ch chan outFrame) int {
	n := 0
	for {
		select {
		case <-ch:
			n++
		default:
			return n
		}
	}
}

// flush waits until every queued frame has been sent or given up, or ctx ends.
func (o *outbox) flush(ctx context.Context) error {
	o.mu.Lock()
	idle := o.idle
	o.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// wait waits for every sender goroutine to end (after the outbox's context is cancelled).
func (o *outbox) wait() { o.wg.Wait() }
