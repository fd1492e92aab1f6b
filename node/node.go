package node

import (
	"context"
	crand "crypto/rand"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"meshcomm/discovery"
	"meshcomm/identity"
	"meshcomm/mailbox"
	"meshcomm/mesh"
	"meshcomm/mesh/hybrid"
	"meshcomm/sip"
	"meshcomm/transport"
)

// Node is a running meshcomm peer: the overlay core driven by one loop goroutine, the QUIC
// endpoint, discovery, the record database and the control socket.
type Node struct {
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	id      *identity.Identity
	self    mesh.Contact
	started time.Time
	loaded  loadResult

	// Owned by the loop goroutine.
	core     *hybrid.Node
	dial     *dialer
	links    *links
	lastSize int // the size estimate last reported
	lookups  map[mesh.LookupID]chan mesh.LookupDone

	ep        *transport.Endpoint
	db        *recordDB
	out       *outbox
	bus       *Bus
	disc      *discovery.Discovery
	ctl       *controlServer
	stat      counters
	relayStat relayCounters // media datagrams passed on for calls through this node

	ua       *sip.UA                          // the phone: calls and messages over the mesh
	audio    *audio                           // calls' media
	post     *postOffice                      // stored messages and voicemail
	presence atomic.Pointer[mailbox.Presence] // this user's presence as last set
	roster   *roster                          // other users' presence

	leaving     context.Context // done once shutdown has begun: no more dials
	stopDialing context.CancelFunc

	inbox    chan inbound
	calls    chan loopCall
	dialed   chan dialResult
	found    <-chan discovery.Event
	stop     chan bool // true: leave the mesh cleanly first
	loopDone chan struct{}
	discDone chan struct{}

	ctx       context.Context // cancelled at shutdown: dials, sends, discovery
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// Start opens the data directory (creating a zero-setup identity when it holds none and
// cfg.Ext is set), the record database, the QUIC endpoint, discovery and the control socket,
// starts the overlay, publishes this node's registration, and runs until Close.
func Start(cfg Config) (*Node, error) {
	cfg = cfg.withDefaults()
	if cfg.DataDir == "" {
		return nil, errors.New("node: no data directory")
	}
	n := &Node{cfg: cfg, log: cfg.Logger, now: cfg.Now, bus: NewBus(),
		lookups: map[mesh.LookupID]chan mesh.LookupDone{},
		inbox:   make(chan inbound, 256), calls: make(chan loopCall), dialed: make(chan dialResult, 16),
		stop: make(chan bool), loopDone: make(chan struct{}), discDone: make(chan struct{})}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.leaving, n.stopDialing = context.WithCancel(n.ctx)
	if err := n.open(); err != nil {
		close(n.loopDone) // frees transport handlers waiting to deliver
		n.cancel()
		n.release() // the control socket and discovery come last in open and are not running
		return nil, err
	}
	go n.run()
	n.startPhone()
	return n, nil
}

// open does the fallible part of Start; on error, release undoes what was done.
func (n *Node) open() error {
	if err := n.openIdentity(); err != nil {
		return err
	}
	var err error
	if n.db, err = openRecordDB(n.cfg.DataDir, n.log); err != nil {
		return err
	}
	if err := n.bootstrapIdentity(); err != nil {
		return err
	}
	now := n.now()
	n.started = now
	if n.loaded, err = n.db.load(now.UnixMilli()); err != nil {
		return fmt.Errorf("reading %s: %w", DBFile, err)
	}
	n.audio = newAudio(n.sendMedia,
		audioPlan{play: n.cfg.AnswerPlay, record: n.cfg.AnswerRecordDir}, n.log)
	if err := n.openTransport(); err != nil {
		return err
	}
	n.out = newOutbox(n.ctx, n.send, OutboxDepth, n.log)
	if err := n.openPhone(); err != nil {
		return err
	}
	n.startCore(now)
	n.drain(now) // own records on disk before Start returns
	n.dial = newDialer(n.self.ID)
	n.links = newLinks()
	for _, p := range n.cfg.Peers {
		n.dial.addStatic(p, now)
	}
	if n.ctl, err = listenControl(n); err != nil {
		return err
	}
	n.startDiscovery()
	n.log.Info("node: started", "node", n.self.ID.String(), "aor", n.id.AoR(), "addr", n.self.Addr,
		"records_loaded", len(n.loaded.Records), "records_expired", n.loaded.Expired)
	return nil
}

// openIdentity loads the identity, or checks that one can be created.
func (n *Node) openIdentity() error {
	if err := os.MkdirAll(n.cfg.DataDir, 0o700); err != nil {
		return err
	}
	id, err := identity.LoadWithClock(n.cfg.DataDir, n.now)
	switch {
	case errors.Is(err, identity.ErrNoIdentity):
		if n.cfg.Ext == "" {
			return fmt.Errorf("%s: %w", n.cfg.DataDir, ErrNeedExt)
		}
		return nil // created by bootstrapIdentity, under the database lock
	case err != nil:
		return err
	}
	n.id = id
	return nil
}

// bootstrapIdentity creates the zero-setup identity when there is none, and checks that an
// existing one matches the extension and team asked for.
func (n *Node) bootstrapIdentity() error {
	if n.cfg.Ext != "" || n.id == nil {
		id, err := identity.BootstrapTeam(n.cfg.DataDir, n.cfg.Team, n.cfg.Ext, n.now())
		if err != nil {
			return err
		}
		n.id = id
	} else if n.cfg.Team != "" && n.cfg.Team != n.id.Team() {
		return fmt.Errorf("%s holds an identity of team %q, asked for team %q", n.cfg.DataDir, n.id.Team(), n.cfg.Team)
	}
	v := n.id.Verifier()
	v.Now = n.now
	v.Logger = n.log
	v.OnUntrusted = func(e *identity.UntrustedError) {
		n.bus.Publish(Event{Time: n.now(), Type: EventUntrusted, Detail: e.Error()})
	}
	return nil
}

func (n *Node) openTransport() error {
	id := n.id
	ep, err := transport.New(transport.Config{
		Listen:      n.cfg.Listen,
		PacketConn:  n.cfg.PacketConn,
		Certificate: id.TLSCertificate(),
		VerifyPeer: func(chain []*x509.Certificate) error {
			raw := make([][]byte, len(chain))
			for i, c := range chain {
				raw[i] = c.Raw
			}
			_, err := id.VerifyPeer(raw)
			return err
		},
		Now:    n.now,
		Logger: n.log,
		Handlers: transport.Handlers{
			OnFrame:    func(from mesh.Contact, p []byte) { n.deliver(inbound{from: from, payload: p}) },
			OnDatagram: func(from mesh.Contact, p []byte) { n.onDatagram(from.ID, p) },
			OnPeer:     func(ev transport.PeerEvent) { n.deliver(inbound{from: ev.Peer, event: &ev}) },
		},
	})
	if err != nil {
		return fmt.Errorf("cannot listen on %s (is another meshcomm daemon using it? choose another with --listen): %w", n.cfg.Listen, err)
	}
	n.ep = ep
	n.self = mesh.Contact{ID: id.NodeID(), Addr: advertisedAddr(ep.LocalAddr())}
	return nil
}

// errNotLinked: a frame for a peer with no link, while leaving (no new dials then).
var errNotLinked = errors.New("no link to the peer while leaving")

// send is the outbox's way out. Once the node is leaving it does not dial: a peer without a
// link gets nothing and dials under way are abandoned, so that shutdown is not held up by
// handshakes with peers that are gone.
func (n *Node) send(ctx context.Context, to mesh.Contact, payload []byte) error {
	if _, linked := n.ep.Peer(to.ID); !linked {
		if n.leaving.Err() != nil {
			return errNotLinked
		}
		dctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stop := context.AfterFunc(n.leaving, cancel)
		defer stop()
		ctx = dctx
	}
	return n.ep.Send(ctx, to, payload)
}

// deliver hands what the transport received to the loop (the transport's handler goroutine
// waits here while the loop is busy, which slows the peers down through QUIC flow control).
func (n *Node) deliver(in inbound) {
	select {
	case n.inbox <- in:
	case <-n.loopDone:
	}
}

// startCore makes the overlay core, puts back what the database held, and publishes this
// node's registration and certificate.
func (n *Node) startCore(now time.Time) {
	var seed [16]byte
	_, _ = crand.Read(seed[:]) // never fails on supported platforms
	rnd := rand.New(rand.NewPCG(binary.LittleEndian.Uint64(seed[:8]), binary.LittleEndian.Uint64(seed[8:])))
	n.core = hybrid.New(hybrid.Config{Self: n.self, Signer: n.id.Signer(), Verifier: n.id.Verifier(), Rand: rnd, Tuning: n.cfg.Tuning})
	n.core.Start(now)
	n.restore(now)
	reg, err := EncodeRegistration(Registration{NodeID: n.self.ID.String(), AoR: n.id.AoR(), Addr: n.self.Addr,
		Name: n.id.DisplayName(), Role: n.id.Role()})
	if err == nil {
		_, err = n.core.Publish(now, mesh.KindRegistration, mesh.ResourceIDFor(n.id.AoR()), n.self.ID[:], reg, RegistrationTTL)
	}
	if err != nil {
		n.log.Error("node: cannot publish the registration", "err", err)
	}
	if _, err := n.core.Publish(now, mesh.KindCertificate, mesh.ResourceIDFor(n.id.AoR()), n.self.ID[:],
		n.id.Certificate().Raw, CertificateTTL); err != nil {
		n.log.Error("node: cannot publish the certificate", "err", err)
	}
	n.republishPresence(now)
}

// republishPresence publishes again the presence this user last set before a restart.
func (n *Node) republishPresence(now time.Time) {
	res := mesh.ResourceIDFor(n.id.AoR())
	for i := range n.loaded.Records {
		r := &n.loaded.Records[i]
		if r.Kind != mesh.KindPresence || r.Deleted || r.Resource != res || string(r.Key) != string(n.self.ID[:]) {
			continue
		}
		p, err := mailbox.DecodePresence(r.Value)
		if err != nil {
			continue
		}
		if _, err := n.core.Publish(now, mesh.KindPresence, res, n.self.ID[:], r.Value, RegistrationTTL); err == nil {
			n.presence.Store(&p)
		}
	}
}

// restore hands the records loaded from disk back: revocations to the verifier, and the records
// held for others to the core (which verifies them and skips expired ones). The node's own
// records are published afresh by startCore, with new versions.
func (n *Node) restore(now time.Time) {
	for i := range n.loaded.Records {
		if r := &n.loaded.Records[i]; r.Kind == mesh.KindRevocation && !r.Deleted {
			n.honourRevocation(r)
		}
	}
	n.core.Restore(now, n.loaded.Records)
}

func (n *Node) startDiscovery() {
	if !n.cfg.MDNS {
		close(n.discDone)
		return
	}
	port := uint16(0)
	if ua, ok := n.ep.LocalAddr().(*net.UDPAddr); ok {
		port = uint16(ua.Port)
	}
	d, err := discovery.New(discovery.Config{NodeID: n.self.ID, Port: port, Team: n.id.Team(), Logger: n.log})
	if err != nil {
		n.log.Warn("node: mDNS discovery is off", "err", err)
		close(n.discDone)
		return
	}
	n.disc, n.found = d, d.Events()
	go func() {
		defer close(n.discDone)
		if err := d.Run(n.ctx); err != nil {
			n.log.Warn("node: mDNS discovery stopped", "err", err)
		}
	}()
}

// Close leaves the mesh cleanly: the overlay deletes this node's records and tells its
// peers, queued frames get FlushTimeout to leave, discovery says goodbye, and everything is
// closed. It is idempotent.
func (n *Node) Close() error {
	n.shutdown(true)
	return nil
}

// shutdown stops the node; leave says whether to leave the mesh cleanly first (false is what
// a crash looks like to the peers, minus the idle timeout).
func (n *Node) shutdown(leave bool) {
	n.closeOnce.Do(func() {
		if n.ctl != nil {
			n.ctl.close()
		}
		n.closePhone()
		n.stopDialing()
		select {
		case n.stop <- leave:
		case <-n.loopDone:
		}
		<-n.loopDone
		if leave {
			ctx, cancel := context.WithTimeout(context.Background(), FlushTimeout)
			if err := n.out.flush(ctx); err != nil {
				n.log.Warn("node: frames still queued at shutdown", "err", err)
			}
			cancel()
		}
		n.cancel()
		<-n.discDone
		n.out.wait()
		n.wg.Wait()
		n.release()
		n.log.Info("node: stopped", "node", n.self.ID.Short())
	})
}

// release closes what open opened.
func (n *Node) release() {
	if n.ep != nil {
		n.ep.Close()
	}
	if n.db != nil {
		if err := n.db.close(); err != nil {
			n.log.Warn("node: closing the database", "err", err)
		}
	}
}

// ID is this node's identifier.
func (n *Node) ID() mesh.NodeID { return n.self.ID }

// Contact is this node's advertised contact.
func (n *Node) Contact() mesh.Contact { return n.self }

// Identity is the node's identity.
func (n *Node) Identity() *identity.Identity { return n.id }

// LocalAddr is the UDP address the QUIC endpoint is bound to.
func (n *Node) LocalAddr() string { return n.ep.LocalAddr().String() }

// Subscribe returns a subscription to the node's events (see Bus).
func (n *Node) Subscribe(buffer int) *Subscription { return n.bus.Subscribe(buffer) }

// Done is closed when the node's loop has stopped.
func (n *Node) Done() <-chan struct{} { return n.loopDone }
