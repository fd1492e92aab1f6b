package transport

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"time"

	"github.com/quic-go/quic-go"

	"meshcomm/mesh"
)

// peer is everything the endpoint holds about one remote node.
type peer struct {
	announced bool               // its Up event was raised: a confirmed connection exists or existed
	active    *conn              // the connection used for sending; nil while only retired ones remain
	conns     map[*conn]struct{} // every open connection, the retired ones being drained included
	seq       uint64             // install counter, to tell the newest connection
}

// PeerInfo describes a connected peer.
type PeerInfo struct {
	Peer        mesh.Contact      // NodeID and the remote UDP address of the connection in use
	Certificate *x509.Certificate // the peer's verified leaf
	Outbound    bool              // the connection in use was dialled by this node
	RTT         time.Duration     // QUIC's smoothed round-trip time on that connection
	MinRTT      time.Duration
	Connections int // open connections, duplicates being drained included
}

// preferred reports whether c is the connection the one-connection-per-pair rule keeps: the one
// initiated by the lower NodeID. Both ends compute the same answer.
func (e *Endpoint) preferred(c *conn) bool {
	weAreLower := bytes.Compare(e.local[:], c.peer[:]) < 0
	return c.outbound == weAreLower
}

// installLocked adds a connection to its peer and returns the connections to retire. The first
// connection to a peer raises its Up event. A second connection arises when both ends dial at
// once (the lower NodeID's wins on both ends), or when a peer reconnects while an old
// connection lingers (the dialler keeps the newest; the acceptor follows its retire marker).
//
// It also returns the peer's other connections, to be probed: a peer that dials while we hold
// a connection to it may have restarted, and a probe on the old connection draws a stateless
// reset from the new process, which ends the old connection at once.
func (e *Endpoint) installLocked(c *conn) (retire, probe []*conn) {
	p := e.peers[c.peer]
	if p == nil {
		p = &peer{conns: map[*conn]struct{}{}}
		e.peers[c.peer] = p
	}
	for o := range p.conns {
		probe = append(probe, o)
	}
	p.seq++
	c.seq = p.seq
	p.conns[c] = struct{}{}
	old := p.active
	switch {
	case old == nil:
		p.active = c
	case e.preferred(c) && !e.preferred(old):
		p.active = c
		retire = []*conn{old}
	case !e.preferred(c) && e.preferred(old):
		retire = []*conn{c}
	default: // same direction: the newest is used; only its dialler retires the older
		p.active = c
		if c.outbound {
			retire = []*conn{old}
		}
	}
	if c.isConfirmed.Load() {
		e.announceLocked(p, c)
	}
	return retire, probe
}

// announceLocked raises the peer's Up event, once.
func (e *Endpoint) announceLocked(p *peer, c *conn) {
	if p.announced {
		return
	}
	p.announced = true
	e.inbox.pushEvent(PeerEvent{Peer: c.contact, Up: true, Certificate: c.leaf})
	e.log.Info("transport: peer up", slog.String("peer", c.peer.Short()), slog.String("addr", c.contact.Addr),
		slog.Bool("outbound", c.outbound))
}

// confirm marks a dialled connection as accepted by the peer (see conn.confirmed).
func (e *Endpoint) confirm(c *conn) {
	if c.isConfirmed.Load() {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if c.isConfirmed.Load() {
		return
	}
	c.isConfirmed.Store(true)
	close(c.confirmed)
	if p := e.peers[c.peer]; p != nil {
		if _, ok := p.conns[c]; ok {
			e.announceLocked(p, c)
		}
	}
}

// removeLocked drops a connection that ended and raises the peer's Down event if it was the
// last. If the connection in use ended while a retired one is still open, the newest of those
// is put back in use (its marker only promised that frames would stop, and they may resume).
func (e *Endpoint) removeLocked(c *conn, cause error) (unretire *conn) {
	p := e.peers[c.peer]
	if p == nil {
		return nil
	}
	delete(p.conns, c)
	if len(p.conns) == 0 {
		delete(e.peers, c.peer)
		if p.announced {
			e.inbox.pushEvent(PeerEvent{Peer: c.contact, Up: false, Certificate: c.leaf, Err: cause})
			e.log.Info("transport: peer down", slog.String("peer", c.peer.Short()), slog.String("addr", c.contact.Addr),
				slog.Any("cause", cause))
		}
		return nil
	}
	if p.active != c {
		return nil
	}
	p.active = nil
	var newest *conn
	for o := range p.conns {
		if newest == nil || o.seq > newest.seq {
			newest = o
		}
	}
	if newest != nil && !newest.closing {
		newest.retired, newest.sentFirst, newest.sentLast = false, false, false
		if newest.drain != nil {
			newest.drain.Stop()
			newest.drain = nil
		}
		p.active = newest
		return newest
	}
	return nil
}

// dialCall is one dial in progress; callers wanting the same peer wait for it.
type dialCall struct {
	done chan struct{}
	c    *conn
	err  error
}

// connect returns the connection in use to to.ID, dialling to.Addr if there is none. A zero
// to.ID accepts whichever trusted node answers at to.Addr.
func (e *Endpoint) connect(ctx context.Context, to mesh.Contact) (*conn, error) {
	key := "id:" + to.ID.String()
	if to.ID.IsZero() {
		key = "addr:" + to.Addr
	}
	if to.ID == e.local {
		return nil, ErrSelf
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil, ErrClosed
	}
	if !to.ID.IsZero() {
		if p := e.peers[to.ID]; p != nil && p.active != nil {
			c := p.active
			e.mu.Unlock()
			return c, nil
		}
	}
	call := e.dials[key]
	if call == nil {
		if to.Addr == "" {
			e.mu.Unlock()
			return nil, fmt.Errorf("%w: %s", ErrNoAddress, to.ID.Short())
		}
		call = &dialCall{done: make(chan struct{})}
		e.dials[key] = call
		e.wg.Add(1)
		e.mu.Unlock()
		// The dial belongs to every caller waiting for it, so it is bounded by the handshake
		// timeouts and Close, not by the first caller's context.
		go e.dial(key, to, call)
	} else {
		e.mu.Unlock()
	}
	select {
	case <-call.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if call.err != nil {
		return nil, call.err
	}
	return e.current(call.c), nil
}

// current is the connection in use to c's peer: c itself unless c lost to a duplicate.
func (e *Endpoint) current(c *conn) *conn {
	e.mu.Lock()
	defer e.mu.Unlock()
	if p := e.peers[c.peer]; p != nil && p.active != nil {
		return p.active
	}
	return c
}

func (e *Endpoint) dial(key string, to mesh.Contact, call *dialCall) {
	defer e.wg.Done()
	var refusal error // the peer refused our certificate during the handshake
	defer func() {
		e.mu.Lock()
		delete(e.dials, key)
		e.mu.Unlock()
		close(call.done)
		if refusal != nil {
			e.peerRefused(to.Addr, refusal)
		}
	}()
	addr, err := net.ResolveUDPAddr("udp", to.Addr)
	if err != nil {
		call.err = fmt.Errorf("transport: dial %s: %w", to.Addr, err)
		e.stats.dialFailures.Add(1)
		return
	}
	ctx, cancel := context.WithTimeout(e.ctx, 2*e.tm.Handshake)
	defer cancel()
	qc, err := e.tr.Dial(ctx, addr, e.clientTLS(to.ID, addr), e.qconf)
	if err != nil {
		e.stats.dialFailures.Add(1)
		if e.ctx.Err() != nil {
			err = ErrClosed
		}
		if isPeerRefusal(err) {
			refusal = err
		}
		call.err = fmt.Errorf("transport: dial %s: %w", to.Addr, err)
		return
	}
	e.stats.dialed.Add(1)
	c, err := e.newConn(qc, true)
	if err != nil {
		qc.CloseWithError(codeShutdown, "no peer identity")
		call.err = err
		return
	}
	e.start(c)
	call.c = c
}

// Connect makes sure there is a connection to the peer, waits until the peer has accepted it
// (verified our certificate), and returns the peer's contact as proven by its certificate
// (useful with a zero to.ID: a static peer known only by address).
func (e *Endpoint) Connect(ctx context.Context, to mesh.Contact) (mesh.Contact, error) {
	c, err := e.connect(ctx, to)
	if err != nil {
		return mesh.Contact{}, err
	}
	select {
	case <-c.confirmed:
		return c.contact, nil
	case <-c.qc.Context().Done():
		return mesh.Contact{}, fmt.Errorf("transport: connect to %s: %w", c.contact.Addr, context.Cause(c.qc.Context()))
	case <-ctx.Done():
		return mesh.Contact{}, ctx.Err()
	}
}

// Disconnect closes every connection to the peer; it raises the peer's Down event.
func (e *Endpoint) Disconnect(id mesh.NodeID) {
	e.mu.Lock()
	var conns []*conn
	if p := e.peers[id]; p != nil {
		for c := range p.conns {
			conns = append(conns, c)
		}
	}
	e.mu.Unlock()
	for _, c := range conns {
		c.qc.CloseWithError(codeDisconnect, "disconnect")
	}
}

// Peers lists the connected peers, in NodeID order.
func (e *Endpoint) Peers() []PeerInfo {
	e.mu.Lock()
	out := make([]PeerInfo, 0, len(e.peers))
	for _, p := range e.peers {
		if p.announced {
			out = append(out, p.infoLocked())
		}
	}
	e.mu.Unlock()
	slices.SortFunc(out, func(a, b PeerInfo) int { return bytes.Compare(a.Peer.ID[:], b.Peer.ID[:]) })
	return out
}

// Peer describes one connected peer.
func (e *Endpoint) Peer(id mesh.NodeID) (PeerInfo, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	p := e.peers[id]
	if p == nil || !p.announced {
		return PeerInfo{}, false
	}
	return p.infoLocked(), true
}

// RTT is QUIC's smoothed round-trip time to a connected peer.
func (e *Endpoint) RTT(id mesh.NodeID) (time.Duration, bool) {
	info, ok := e.Peer(id)
	return info.RTT, ok
}

func (p *peer) infoLocked() PeerInfo {
	c := p.active
	if c == nil {
		for o := range p.conns {
			if c == nil || o.seq > c.seq {
				c = o
			}
		}
	}
	st := c.qc.ConnectionStats()
	return PeerInfo{Peer: c.contact, Certificate: c.leaf, Outbound: c.outbound, RTT: st.SmoothedRTT,
		MinRTT: st.MinRTT, Connections: len(p.conns)}
}

// errConnRetired says a connection stopped taking frames between choosing it and using it.
var errConnRetired = errors.New("transport: connection retired")

// isPeerRefusal reports whether a connection error is the peer aborting the TLS handshake (a
// certificate it does not accept).
func isPeerRefusal(err error) bool {
	var te *quic.TransportError
	return errors.As(err, &te) && te.Remote && te.ErrorCode.IsCryptoError()
}

// peerRefused counts and logs a peer refusing this node's certificate.
func (e *Endpoint) peerRefused(addr string, err error) {
	e.stats.refusedByPeers.Add(1)
	e.log.Warn("transport: refused by peer", slog.String("remote", addr), slog.String("err", err.Error()))
}
