package sip

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"

	"meshcomm/mesh"
	"meshcomm/transport"
)

// sipConn is a SIP stream to one peer as sipgo sees it: overlay addresses instead of the
// stream's own, and a read side that hands sipgo only bounded, well-formed messages (see
// framing.go); refused messages are answered, counted and logged here.
type sipConn struct {
	net.Conn
	ua     *UA
	peer   mesh.NodeID
	fr     *frameReader
	remote net.Addr
	local  net.Addr

	pending []byte // the rest of the message being handed to sipgo
	wmu     sync.Mutex
	dead    atomic.Bool // a read or write failed: the stream is gone
}

func (ua *UA) newSIPConn(c net.Conn, peer mesh.NodeID) *sipConn {
	sc := &sipConn{
		Conn:   c,
		ua:     ua,
		peer:   peer,
		fr:     newFrameReader(c, c.SetReadDeadline, ua.lim),
		remote: overlayNetAddr(peer),
		local:  overlayNetAddr(ua.local),
	}
	ua.mu.Lock()
	ua.conns[sc] = struct{}{}
	ua.mu.Unlock()
	return sc
}

// Close closes the stream.
func (c *sipConn) Close() error {
	c.ua.mu.Lock()
	delete(c.ua.conns, c)
	c.ua.mu.Unlock()
	return c.Conn.Close()
}

func (c *sipConn) RemoteAddr() net.Addr { return c.remote }
func (c *sipConn) LocalAddr() net.Addr  { return c.local }

// Read returns the bytes of checked messages. A refused message is answered (when it is a
// request whose headers parsed) and skipped; a fatal refusal ends the stream.
func (c *sipConn) Read(p []byte) (int, error) {
	for len(c.pending) == 0 {
		raw, msg, err := c.fr.next()
		if err != nil {
			var fe *frameError
			if !errors.As(err, &fe) {
				c.dead.Store(true)
				return 0, err
			}
			c.ua.refuse(fe.reason, fe.err, slog.String("peer", c.peer.Short()))
			if fe.req != nil && fe.status != 0 {
				c.respond(fe.req, fe.status, "")
			}
			if fe.fatal {
				c.dead.Store(true)
				c.Close()
				return 0, io.EOF
			}
			continue
		}
		if req, ok := msg.(*sip.Request); ok && !req.IsAck() && !req.IsCancel() && !c.ua.limiter.allow(c.peer) {
			c.ua.refuse(ReasonRateLimited, nil, slog.String("peer", c.peer.Short()), slog.String("method", string(req.Method)))
			c.respond(req, sip.StatusServiceUnavailable, "1")
			continue
		}
		c.pending = raw
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

// respond answers a refused request directly on the stream (statelessly).
func (c *sipConn) respond(req *sip.Request, status int, retryAfter string) {
	if req.IsAck() {
		return // an ACK is never answered
	}
	res := sip.NewResponseFromRequest(req, status, statusText(status), nil)
	if retryAfter != "" {
		res.AppendHeader(sip.NewHeader("Retry-After", retryAfter))
	}
	if _, err := c.Write([]byte(res.String())); err != nil {
		c.ua.log.Debug("sip: answering a refused request", slog.String("err", err.Error()))
	}
}

// Write writes one whole message; writes never interleave.
func (c *sipConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	n, err := c.Conn.Write(p)
	if err != nil {
		c.dead.Store(true)
	}
	return n, err
}

// statusText is the reason phrase of the statuses this package sends.
func statusText(code int) string {
	switch code {
	case 400:
		return "Bad Request"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 413:
		return "Request Entity Too Large"
	case 415:
		return "Unsupported Media Type"
	case 480:
		return "Temporarily Unavailable"
	case 481:
		return "Call/Transaction Does Not Exist"
	case 482:
		return "Loop Detected"
	case 483:
		return "Too Many Hops"
	case 486:
		return "Busy Here"
	case 487:
		return "Request Terminated"
	case 488:
		return "Not Acceptable Here"
	case 491:
		return "Request Pending"
	case 500:
		return "Server Internal Error"
	case 503:
		return "Service Unavailable"
	case 603:
		return "Decline"
	}
	return "Status " + strconv.Itoa(code)
}

// acceptListener hands sipgo the streams peers open, wrapped; a stream without an
// authenticated NodeID is refused.
type acceptListener struct {
	ua    *UA
	inner net.Listener
}

func (l *acceptListener) Accept() (net.Conn, error) {
	for {
		c, err := l.inner.Accept()
		if err != nil {
			return nil, err
		}
		a, ok := c.RemoteAddr().(transport.Addr)
		if !ok || a.ID.IsZero() {
			l.ua.refuse(ReasonNoPeerIdentity, fmt.Errorf("stream from %v", c.RemoteAddr()))
			c.Close()
			continue
		}
		if p, ok := c.(interface{ Peer() mesh.Contact }); ok {
			l.ua.learn(p.Peer())
		}
		l.ua.stats.streamsAccepted.Add(1)
		return l.ua.newSIPConn(c, a.ID), nil
	}
}

func (l *acceptListener) Close() error   { return l.inner.Close() }
func (l *acceptListener) Addr() net.Addr { return overlayNetAddr(l.ua.local) }

// dialedListener is how streams this node opens reach sipgo: sipgo can only dial TCP, but it
// serves any listener, and a served connection joins its pool under its remote address. So
// a dialled stream is handed to sipgo through this listener, and inject returns once sipgo
// has put it in its pool (sipgo adds a connection before it calls Accept again).
type dialedListener struct {
	addr  net.Addr
	queue chan injection
	done  chan struct{}
	once  sync.Once
	last  chan struct{} // closed at the next Accept: the previous conn is in the pool
}

type injection struct {
	conn   net.Conn
	pooled chan struct{}
}

func newDialedListener(addr net.Addr) *dialedListener {
	return &dialedListener{addr: addr, queue: make(chan injection), done: make(chan struct{})}
}

func (l *dialedListener) Accept() (net.Conn, error) {
	if l.last != nil {
		close(l.last)
		l.last = nil
	}
	select {
	case in := <-l.queue:
		l.last = in.pooled
		return in.conn, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// inject hands a dialled stream to sipgo and waits until it is in sipgo's pool.
func (l *dialedListener) inject(ctx context.Context, c net.Conn) error {
	in := injection{conn: c, pooled: make(chan struct{})}
	select {
	case l.queue <- in:
	case <-l.done:
		return net.ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-in.pooled:
		return nil
	case <-l.done:
		return net.ErrClosed
	}
}

func (l *dialedListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *dialedListener) Addr() net.Addr { return l.addr }

// ensureStream makes sure sipgo has a stream to a node, opening one if needed. hint is the
// node's contact if the caller knows it; otherwise the last address seen for the node is used
// (or whatever connection the transport already has to it).
func (ua *UA) ensureStream(ctx context.Context, id mesh.NodeID, hint mesh.Contact) error {
	if id == ua.local {
		return errors.New("sip: a stream to this node itself")
	}
	key := overlayAddr(id)
	if c := ua.pool().Get(key); c != nil {
		c.TryClose()
		return nil
	}
	_, err, _ := ua.dials.Do(key, func() (any, error) {
		if c := ua.pool().Get(key); c != nil {
			c.TryClose()
			return nil, nil
		}
		to := hint
		if to.ID != id || to.Addr == "" {
			to = mesh.Contact{ID: id, Addr: ua.addressOf(id)}
		}
		dctx, cancel := context.WithTimeout(ctx, dialTimeout)
		defer cancel()
		conn, err := ua.cfg.Dialer.OpenStream(dctx, to, ua.cfg.StreamKind)
		if err != nil {
			return nil, fmt.Errorf("sip: no stream to %s: %w", id.Short(), err)
		}
		ua.stats.streamsOpened.Add(1)
		if err := ua.dialed.inject(dctx, ua.newSIPConn(conn, id)); err != nil {
			conn.Close()
			return nil, err
		}
		return nil, nil
	})
	return err
}

// sendOver runs send, which writes to node over sipgo; if the stream to node turns out to be
// gone (a duplicate QUIC connection retired, a peer that restarted), it opens another and runs
// send once more.
func (ua *UA) sendOver(ctx context.Context, node mesh.NodeID, hint mesh.Contact, send func() error) error {
	if err := ua.ensureStream(ctx, node, hint); err != nil {
		return err
	}
	err := send()
	if err == nil || !ua.dropDeadStream(node) {
		return err
	}
	ua.log.Info("sip: stream lost, sending again on a new one", slog.String("node", node.Short()), slog.String("err", err.Error()))
	if err := ua.ensureStream(ctx, node, hint); err != nil {
		return err
	}
	return send()
}

// dropDeadStream removes sipgo's stream to node from its pool if the stream is dead, and
// reports whether there is now no stream to it.
func (ua *UA) dropDeadStream(node mesh.NodeID) bool {
	key := overlayAddr(node)
	c := ua.pool().Get(key)
	if c == nil {
		return true
	}
	defer c.TryClose()
	tc, ok := c.(*sip.TCPConnection)
	if !ok {
		return false
	}
	sc, ok := tc.Conn.(*sipConn)
	if !ok || !sc.dead.Load() {
		return false
	}
	ua.pool().Delete(key)
	sc.Close()
	return true
}

// dialTimeout bounds opening a stream (the transport dials a peer it has no connection to).
const dialTimeout = 20 * time.Second

// pool is sipgo's pool of connections of the overlay transport.
func (ua *UA) pool() *sip.ConnectionPool { return ua.sua.TransportLayer().Pool(overlayTransport) }

// learn remembers a node's QUIC address, to reach it later without a look-up.
func (ua *UA) learn(c mesh.Contact) {
	if c.ID.IsZero() || c.Addr == "" {
		return
	}
	ua.mu.Lock()
	defer ua.mu.Unlock()
	if len(ua.book) >= maxBook {
		clear(ua.book)
	}
	ua.book[c.ID] = c.Addr
}

// maxBook bounds the address book (it is refilled as peers are heard from).
const maxBook = 4096

func (ua *UA) addressOf(id mesh.NodeID) string {
	ua.mu.Lock()
	defer ua.mu.Unlock()
	return ua.book[id]
}
