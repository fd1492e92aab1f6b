package transport

import (
	"context"
	"crypto/x509"
	"errors"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"

	"meshcomm/mesh"
)

// conn is one QUIC connection to a peer.
type conn struct {
	e        *Endpoint
	qc       *quic.Conn
	peer     mesh.NodeID
	contact  mesh.Contact
	leaf     *x509.Certificate
	outbound bool
	seq      uint64 // install order within the peer, guarded by e.mu

	// A dialled connection is confirmed when the first stream or datagram arrives from the
	// acceptor, which sends only once it has verified our certificate (a TLS 1.3 client
	// finishes its handshake before the server has checked the client's certificate). An
	// accepted connection is confirmed from the start.
	confirmed   chan struct{} // closed when confirmed
	isConfirmed atomic.Bool

	// Retirement (see doc.go), guarded by e.mu.
	retired   bool        // no longer used for sending; being drained
	closing   bool        // the drain finished (or timed out): the connection is being closed
	sentFirst bool        // our phase-0 marker went out
	sentLast  bool        // our phase-1 marker went out
	drain     *time.Timer // closes the connection if the drain takes longer than Timeouts.Drain

	// sendMu is held shared while a frame stream is opened and exclusively while a retire
	// marker is, so that no frame stream is opened after a marker.
	sendMu       sync.RWMutex
	noMoreFrames bool

	// Incoming unidirectional streams in accept order, until their reader finishes, so that a
	// retire marker can wait for every stream opened before it.
	uniMu   sync.Mutex
	uniSeq  int
	uniDone map[int]chan struct{}

	readers sync.WaitGroup
}

// serve runs the connection's accept loops until it ends, then removes it from the peer table
// once its last frame is handed over.
func (c *conn) serve() {
	e := c.e
	defer e.wg.Done()
	ctx := c.qc.Context()
	c.readers.Add(3)
	go c.acceptUni(ctx)
	go c.acceptBidi(ctx)
	go c.receiveDatagrams(ctx)
	<-ctx.Done()
	c.readers.Wait()
	cause := context.Cause(ctx)
	e.mu.Lock()
	if c.drain != nil {
		c.drain.Stop()
	}
	unretire := e.removeLocked(c, cause)
	e.mu.Unlock()
	if unretire != nil {
		unretire.allowFrames()
	}
	if !c.isConfirmed.Load() && isPeerRefusal(cause) {
		e.peerRefused(c.contact.Addr, cause)
	}
	e.log.Debug("transport: connection ended", slog.String("peer", c.peer.Short()), slog.Any("cause", cause))
}

func (c *conn) acceptUni(ctx context.Context) {
	defer c.readers.Done()
	for {
		st, err := c.qc.AcceptUniStream(ctx)
		if err != nil {
			return
		}
		c.e.stats.streamsAccepted.Add(1)
		c.e.confirm(c) // before any frame of the stream can be delivered
		c.uniMu.Lock()
		seq := c.uniSeq
		c.uniSeq++
		done := make(chan struct{})
		c.uniDone[seq] = done
		c.uniMu.Unlock()
		c.readers.Add(1)
		go func() {
			defer c.readers.Done()
			c.readUni(st, seq)
			c.uniMu.Lock()
			delete(c.uniDone, seq)
			c.uniMu.Unlock()
			close(done)
		}()
	}
}

// readUni reads one incoming unidirectional stream: frames, a retire marker or a probe.
func (c *conn) readUni(st *quic.ReceiveStream, seq int) {
	r := &idleReader{st: st, idle: c.e.tm.StreamIdle}
	kind, phase, err := decodeUniStream(r, func(payload []byte) bool {
		c.e.stats.framesReceived.Add(1)
		return c.e.inbox.pushFrame(c.contact, payload)
	})
	var unknown *UnknownKindError
	switch {
	case errors.Is(err, errStopped):
		st.CancelRead(streamClosed)
	case errors.As(err, &unknown):
		c.e.refuse(ReasonUnknownKind, err, slog.String("peer", c.peer.Short()), slog.String("direction", "uni"))
		st.CancelRead(streamRefused)
	case err != nil:
		c.refuseStream(st, err)
	case kind == kindRetire:
		c.waitStreamsBefore(seq)
		c.e.onMarker(c, phase)
	}
}

// waitStreamsBefore waits until every unidirectional stream accepted before seq is read.
func (c *conn) waitStreamsBefore(seq int) {
	c.uniMu.Lock()
	var wait []chan struct{}
	for s, ch := range c.uniDone {
		if s < seq {
			wait = append(wait, ch)
		}
	}
	c.uniMu.Unlock()
	for _, ch := range wait {
		<-ch
	}
}

// refuseStream counts a bad or stalled incoming stream and stops reading it. A stream that
// failed because the connection or the peer ended it is not a refusal.
func (c *conn) refuseStream(st *quic.ReceiveStream, err error) {
	var reason string
	switch {
	case errors.Is(err, ErrFrameTooLarge):
		reason = ReasonFrameTooLarge
	case errors.Is(err, ErrEmptyFrame):
		reason = ReasonEmptyFrame
	case errors.Is(err, ErrTruncated):
		reason = ReasonTruncated
	case errors.Is(err, ErrBadMarker):
		reason = ReasonRetireGarbage
	case errors.Is(err, ErrProbeTooLong):
		reason = ReasonProbeTooLong
	case errors.Is(err, os.ErrDeadlineExceeded):
		reason = ReasonStalled
	default:
		return // connection closed, stream reset by the peer
	}
	c.e.refuse(reason, err, slog.String("peer", c.peer.Short()), slog.String("addr", c.contact.Addr))
	st.CancelRead(streamRefused)
}

func (c *conn) receiveDatagrams(ctx context.Context) {
	defer c.readers.Done()
	for {
		b, err := c.qc.ReceiveDatagram(ctx)
		if err != nil {
			return
		}
		c.e.stats.datagramsReceived.Add(1)
		c.e.confirm(c)
		if !c.e.inbox.pushDatagram(c.contact, b) {
			c.e.refuse(ReasonDatagramQueued, nil, slog.String("peer", c.peer.Short()))
		}
	}
}

// sendFrame sends one frame on its own unidirectional stream. It returns once QUIC has taken
// the bytes (they are then delivered while the connection lives).
func (c *conn) sendFrame(ctx context.Context, payload []byte) error {
	c.sendMu.RLock()
	if c.noMoreFrames {
		c.sendMu.RUnlock()
		return errConnRetired
	}
	st, err := c.qc.OpenUniStreamSync(ctx)
	c.sendMu.RUnlock()
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { st.CancelWrite(streamCancelled) })
	defer stop()
	buf := make([]byte, 0, 1+frameHeaderBytes+len(payload))
	buf = append(buf, kindFrames)
	buf = appendFrameHeader(buf, len(payload))
	buf = append(buf, payload...)
	if _, err := st.Write(buf); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	if err := st.Close(); err != nil {
		return err
	}
	c.e.stats.framesSent.Add(1)
	return nil
}

// allowFrames lets frames flow again on a connection put back in use.
func (c *conn) allowFrames() {
	c.sendMu.Lock()
	c.noMoreFrames = false
	c.sendMu.Unlock()
}

// idleReader reads a stream with a deadline that moves forward with every read, so a stream
// that stalls is cut while a slow one that keeps moving is not.
type idleReader struct {
	st   *quic.ReceiveStream
	idle time.Duration
}

func (r *idleReader) Read(b []byte) (int, error) {
	r.st.SetReadDeadline(time.Now().Add(r.idle))
	return r.st.Read(b)
}
