package transport

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"

	"meshcomm/mesh"
)

// Addr is a node's overlay address on a stream: its NodeID, stable whatever UDP address the
// connection uses. String is the NodeID in 32 hex digits (a valid DNS label).
type Addr struct{ ID mesh.NodeID }

// Network is "meshcomm".
func (Addr) Network() string { return "meshcomm" }

func (a Addr) String() string { return a.ID.String() }

// listenerBacklog is how many accepted streams may wait for Accept before new ones are refused.
const listenerBacklog = 64

// ErrKindReserved says a stream kind below FirstAppKind was asked for.
var ErrKindReserved = fmt.Errorf("transport: stream kinds below %#x are reserved", FirstAppKind)

// OpenStream opens a bidirectional stream of the given kind to a peer (dialling it if needed).
// The peer receives it from its Listener(kind).
func (e *Endpoint) OpenStream(ctx context.Context, to mesh.Contact, kind byte) (net.Conn, error) {
	if kind < FirstAppKind {
		return nil, ErrKindReserved
	}
	c, err := e.connect(ctx, to)
	if err != nil {
		return nil, err
	}
	st, err := c.qc.OpenStreamSync(ctx)
	if err != nil {
		return nil, fmt.Errorf("transport: open stream to %s: %w", c.peer.Short(), err)
	}
	// The kind byte goes out at once, so the peer sees the stream before we write anything.
	if _, err := st.Write([]byte{kind}); err != nil {
		st.CancelRead(streamClosed)
		st.CancelWrite(streamClosed)
		return nil, fmt.Errorf("transport: open stream to %s: %w", c.peer.Short(), err)
	}
	e.stats.streamsOpened.Add(1)
	return e.newStream(c, st, kind), nil
}

func (e *Endpoint) newStream(c *conn, st *quic.Stream, kind byte) *Stream {
	return &Stream{st: st, kind: kind, local: Addr{e.local}, remote: Addr{c.peer}, peer: c.contact, leaf: c.leaf}
}

// Listener returns the listener for incoming streams of a kind. There is one per kind; a
// closed listener's kind is refused until Listener is called again.
func (e *Endpoint) Listener(kind byte) (net.Listener, error) {
	if kind < FirstAppKind {
		return nil, ErrKindReserved
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, ErrClosed
	}
	if l := e.listeners[kind]; l != nil {
		return l, nil
	}
	l := &streamListener{e: e, kind: kind, queue: make(chan *Stream, listenerBacklog), done: make(chan struct{})}
	e.listeners[kind] = l
	return l, nil
}

func (c *conn) acceptBidi(ctx context.Context) {
	defer c.readers.Done()
	for {
		st, err := c.qc.AcceptStream(ctx)
		if err != nil {
			return
		}
		c.e.stats.streamsAccepted.Add(1)
		c.e.confirm(c)
		c.readers.Add(1)
		go func() {
			defer c.readers.Done()
			c.routeStream(st)
		}()
	}
}

// routeStream reads an incoming bidirectional stream's kind and hands it to its listener.
func (c *conn) routeStream(st *quic.Stream) {
	e := c.e
	st.SetReadDeadline(time.Now().Add(e.tm.StreamIdle))
	kind, err := readKind(st)
	if err != nil {
		if errors.Is(err, ErrTruncated) || errors.Is(err, os.ErrDeadlineExceeded) {
			reason := ReasonTruncated
			if !errors.Is(err, ErrTruncated) {
				reason = ReasonStalled
			}
			e.refuse(reason, err, slog.String("peer", c.peer.Short()), slog.String("direction", "bidi"))
		}
		resetStream(st, streamRefused)
		return
	}
	st.SetReadDeadline(time.Time{})
	// Queued under e.mu, so a listener closing concurrently either refuses the stream here or
	// finds it in its queue when it drains it.
	s := e.newStream(c, st, kind)
	e.mu.Lock()
	l := e.listeners[kind]
	queued := false
	if l != nil {
		select {
		case l.queue <- s:
			queued = true
		default:
		}
	}
	e.mu.Unlock()
	switch {
	case l == nil:
		e.refuse(ReasonUnknownKind, &UnknownKindError{Kind: kind}, slog.String("peer", c.peer.Short()),
			slog.String("direction", "bidi"))
		resetStream(st, streamRefused)
	case !queued:
		e.refuse(ReasonBacklogFull, nil, slog.String("peer", c.peer.Short()), slog.Int("kind", int(kind)))
		resetStream(st, streamRefused)
	}
}

func resetStream(st *quic.Stream, code quic.StreamErrorCode) {
	st.CancelRead(code)
	st.CancelWrite(code)
}

// streamListener queues the incoming streams of one kind. It implements net.Listener.
type streamListener struct {
	e     *Endpoint
	kind  byte
	queue chan *Stream
	once  sync.Once
	done  chan struct{}
}

// Accept waits for the next stream of the listener's kind; its result is a *Stream.
func (l *streamListener) Accept() (net.Conn, error) {
	select {
	case s := <-l.queue:
		return s, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops the listener; streams still queued are refused.
func (l *streamListener) Close() error {
	err := net.ErrClosed
	l.once.Do(func() {
		err = nil
		l.e.mu.Lock()
		if l.e.listeners[l.kind] == l {
			delete(l.e.listeners, l.kind)
		}
		close(l.done)
		l.e.mu.Unlock()
		for {
			select {
			case s := <-l.queue:
				resetStream(s.st, streamRefused)
			default:
				return
			}
		}
	})
	return err
}

// Addr is this node's overlay address.
func (l *streamListener) Addr() net.Addr { return Addr{l.e.local} }

// Stream is an application stream to a peer. It implements net.Conn with overlay addresses.
type Stream struct {
	st            *quic.Stream
	kind          byte
	local, remote Addr
	peer          mesh.Contact
	leaf          *x509.Certificate

	writeMu   sync.Mutex // quic-go forbids Close concurrent with Write
	closeOnce sync.Once
	closed    atomic.Bool
}

// Kind is the stream's kind byte.
func (s *Stream) Kind() byte { return s.kind }

// Peer is the peer's contact (NodeID and UDP address of the connection).
func (s *Stream) Peer() mesh.Contact { return s.peer }

// PeerCertificate is the peer's verified leaf certificate.
func (s *Stream) PeerCertificate() *x509.Certificate { return s.leaf }

// Read reads what the peer wrote; io.EOF once the peer closed its side.
func (s *Stream) Read(b []byte) (int, error) {
	n, err := s.st.Read(b)
	if err != nil && s.closed.Load() {
		err = net.ErrClosed
	}
	return n, err
}

// Write writes to the peer.
func (s *Stream) Write(b []byte) (int, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.closed.Load() {
		return 0, net.ErrClosed
	}
	return s.st.Write(b)
}

// Close ends our side: what was written is still delivered, then the peer reads io.EOF; our
// reads stop (the peer's further writes fail).
func (s *Stream) Close() error {
	err := net.ErrClosed
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.st.CancelRead(streamClosed)
		s.st.SetWriteDeadline(time.Now()) // unblock a Write waiting for flow control
		s.writeMu.Lock()
		err = s.st.Close()
		s.writeMu.Unlock()
	})
	return err
}

// LocalAddr is this node's overlay address.
func (s *Stream) LocalAddr() net.Addr { return s.local }

// RemoteAddr is the peer's overlay address.
func (s *Stream) RemoteAddr() net.Addr { return s.remote }

// SetDeadline sets the read and write deadlines.
func (s *Stream) SetDeadline(t time.Time) error { return s.st.SetDeadline(t) }

// SetReadDeadline sets the read deadline.
func (s *Stream) SetReadDeadline(t time.Time) error { return s.st.SetReadDeadline(t) }

// SetWriteDeadline sets the write deadline.
func (s *Stream) SetWriteDeadline(t time.Time) error { return s.st.SetWriteDeadline(t) }
