package transport

import (
	"context"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/quic-go/quic-go"

	"meshcomm/mesh"
)

// Errors of the message API.
var (
	ErrClosed       = errors.New("transport: endpoint closed")
	ErrNotConnected = errors.New("transport: no connection to that peer")
	ErrNoAddress    = errors.New("transport: contact has no address to dial")
)

// Application error codes on QUIC connections and streams.
const (
	codeShutdown   quic.ApplicationErrorCode = 0 // the endpoint is closing
	codeDuplicate  quic.ApplicationErrorCode = 1 // the one-connection-per-pair rule closed it
	codeDisconnect quic.ApplicationErrorCode = 2 // Disconnect was called

	streamRefused   quic.StreamErrorCode = 1 // bad input on the stream
	streamCancelled quic.StreamErrorCode = 2 // the sender gave up (context)
	streamClosed    quic.StreamErrorCode = 3 // the local side closed the stream
)

// Endpoint is one node's QUIC endpoint: one UDP socket, used to accept and to dial, with at
// most one connection in use per peer. It implements Network.
type Endpoint struct {
	cfg      Config
	tm       Timeouts
	log      *slog.Logger
	local    mesh.NodeID
	pconn    net.PacketConn
	ownsConn bool
	tr       *quic.Transport
	ln       *quic.Listener
	qconf    *quic.Config
	ctx      context.Context // cancelled by Close
	cancel   context.CancelFunc
	inbox    *delivery
	stats    counters
	wg       sync.WaitGroup // the accept loop and every connection's goroutine

	mu        sync.Mutex
	closed    bool
	peers     map[mesh.NodeID]*peer
	dials     map[string]*dialCall
	listeners map[byte]*streamListener
}

// New opens the endpoint's socket and starts accepting connections.
func New(cfg Config) (*Endpoint, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	e := &Endpoint{
		cfg:       cfg,
		tm:        cfg.Timeouts.withDefaults(),
		log:       cfg.Logger,
		peers:     map[mesh.NodeID]*peer{},
		dials:     map[string]*dialCall{},
		listeners: map[byte]*streamListener{},
		inbox:     newDelivery(cfg.Handlers),
	}
	if e.log == nil {
		e.log = slog.Default()
	}
	leaf := cfg.Certificate.Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(cfg.Certificate.Certificate[0]); err != nil {
			return nil, fmt.Errorf("transport: own certificate: %w", err)
		}
	}
	id, err := e.peerID(leaf)
	if err != nil {
		return nil, fmt.Errorf("transport: own certificate: %w", err)
	}
	e.local = id
	seed := cfg.StatelessResetSeed
	if key, ok := cfg.Certificate.PrivateKey.(ed25519.PrivateKey); ok && len(seed) == 0 {
		seed = key.Seed()
	}
	resetKey, err := statelessResetKey(seed)
	if err != nil {
		return nil, err
	}
	e.pconn = cfg.PacketConn
	if e.pconn == nil {
		udp, err := net.ListenPacket("udp", cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("transport: %w", err)
		}
		e.pconn, e.ownsConn = udp, true
	}
	e.qconf = &quic.Config{
		HandshakeIdleTimeout:  e.tm.Handshake,
		MaxIdleTimeout:        e.tm.Idle,
		KeepAlivePeriod:       e.tm.KeepAlive,
		EnableDatagrams:       true,
		MaxIncomingStreams:    maxIncomingStreams,
		MaxIncomingUniStreams: maxIncomingUniStreams,
	}
	e.tr = &quic.Transport{Conn: e.pconn, StatelessResetKey: resetKey}
	e.ln, err = e.tr.Listen(e.serverTLS(), e.qconf)
	if err != nil {
		e.tr.Close()
		if e.ownsConn {
			e.pconn.Close()
		}
		return nil, fmt.Errorf("transport: %w", err)
	}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	go e.inbox.run()
	e.wg.Add(1)
	go e.acceptLoop()
	e.log.Info("transport: listening", slog.String("addr", e.pconn.LocalAddr().String()), slog.String("node", e.local.Short()))
	return e, nil
}

// Stream limits per connection: concurrent frame streams the peer may have open towards us,
// and concurrent application streams (SIP dialogs and the like).
const (
	maxIncomingUniStreams = 256
	maxIncomingStreams    = 256
)

// statelessResetKey derives the QUIC stateless reset key from a secret seed (one-way, so the
// seed is not exposed), or makes a random one.
func statelessResetKey(seed []byte) (*quic.StatelessResetKey, error) {
	var key quic.StatelessResetKey
	if len(seed) == 0 {
		rand.Read(key[:])
		return &key, nil
	}
	k, err := hkdf.Key(sha256.New, seed, nil, "meshcomm transport stateless reset", len(key))
	if err != nil {
		return nil, fmt.Errorf("transport: stateless reset key: %w", err)
	}
	copy(key[:], k)
	return &key, nil
}

// LocalID is this node's NodeID, derived from its certificate.
func (e *Endpoint) LocalID() mesh.NodeID { return e.local }

// LocalAddr is the UDP address of the endpoint's socket.
func (e *Endpoint) LocalAddr() net.Addr { return e.pconn.LocalAddr() }

// Contact is this node's own contact with the socket's address (which may be a wildcard).
func (e *Endpoint) Contact() mesh.Contact {
	return mesh.Contact{ID: e.local, Addr: e.pconn.LocalAddr().String()}
}

func (e *Endpoint) acceptLoop() {
	defer e.wg.Done()
	for {
		qc, err := e.ln.Accept(e.ctx)
		if err != nil {
			return
		}
		e.stats.accepted.Add(1)
		c, err := e.newConn(qc, false)
		if err != nil { // cannot happen after a verified handshake; keep running anyway
			e.log.Error("transport: accepted connection without a usable peer", slog.String("err", err.Error()))
			qc.CloseWithError(codeShutdown, "no peer identity")
			continue
		}
		e.start(c)
	}
}

// newConn wraps a QUIC connection whose handshake completed.
func (e *Endpoint) newConn(qc *quic.Conn, outbound bool) (*conn, error) {
	chain := qc.ConnectionState().TLS.PeerCertificates
	if len(chain) == 0 {
		return nil, ErrNoCertificate
	}
	id, err := e.peerID(chain[0])
	if err != nil {
		return nil, err
	}
	c := &conn{
		e:         e,
		qc:        qc,
		peer:      id,
		contact:   mesh.Contact{ID: id, Addr: qc.RemoteAddr().String()},
		leaf:      chain[0],
		outbound:  outbound,
		confirmed: make(chan struct{}),
		uniDone:   map[int]chan struct{}{},
	}
	if !outbound {
		c.isConfirmed.Store(true)
		close(c.confirmed)
	}
	return c, nil
}

// start installs a connection in the peer table and starts serving it. A connection arriving
// after Close is closed at once.
func (e *Endpoint) start(c *conn) {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		c.qc.CloseWithError(codeShutdown, "shutting down")
		return
	}
	retire, probe := e.installLocked(c)
	if !c.outbound {
		probe = append(probe, c) // the acceptor speaks first: it confirms the connection
	}
	e.wg.Add(1 + len(retire) + len(probe))
	e.mu.Unlock()
	for _, r := range retire {
		go func() {
			defer e.wg.Done()
			e.retire(r)
		}()
	}
	for _, o := range probe {
		go func() {
			defer e.wg.Done()
			o.sendProbe()
		}()
	}
	go c.serve()
}

// Close closes every connection (peers see them end at once; frames not yet acknowledged are
// lost), stops the socket, and returns after the last handler call. Do not call it from a
// handler.
func (e *Endpoint) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return ErrClosed
	}
	e.closed = true // from here on, nothing is added to e.wg
	var conns []*conn
	for _, p := range e.peers {
		for c := range p.conns {
			conns = append(conns, c)
		}
	}
	listeners := make([]*streamListener, 0, len(e.listeners))
	for _, l := range e.listeners {
		listeners = append(listeners, l)
	}
	e.mu.Unlock()
	for _, l := range listeners {
		l.Close()
	}
	e.ln.Close()
	for _, c := range conns {
		c.qc.CloseWithError(codeShutdown, "shutting down")
	}
	e.cancel()
	e.wg.Wait()
	err := e.tr.Close()
	if e.ownsConn {
		if cerr := e.pconn.Close(); err == nil {
			err = cerr
		}
	}
	e.inbox.close()
	<-e.inbox.done
	return err
}
