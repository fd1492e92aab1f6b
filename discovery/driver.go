package discovery

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"meshcomm/mesh"
)

// Resolver resolves static peer names; *net.Resolver satisfies it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Config configures a Discovery.
type Config struct {
	NodeID   mesh.NodeID
	Port     uint16 // the QUIC port to advertise
	Team     string
	Service  string   // default DefaultService
	Domain   string   // default DefaultDomain
	Schedule Schedule // default DefaultSchedule()
	// StaticPeers are HOST:PORT entries reported as Found (NodeID zero until learnt).
	StaticPeers []string
	Logger      *slog.Logger
	// Interfaces lists the interfaces to run on (default SystemInterfaces). It is called again
	// every InterfaceRecheck: a changed list is the link-change signal.
	Interfaces       func() ([]Interface, error)
	InterfaceRecheck time.Duration // default 2 s
	Resolver         Resolver      // default net.DefaultResolver
}

// Discovery announces this node and browses for peers on every interface, over real
// multicast sockets. Create it with New, start it with Run, read Events.
type Discovery struct {
	cfg    Config
	log    *slog.Logger
	core   *Core
	static *staticTable
	events chan Event
	learn  chan learnRequest

	mu    sync.Mutex
	stats Stats
}

type learnRequest struct {
	entry string
	id    mesh.NodeID
}

type lookupResult struct {
	entry string
	addrs []netip.Addr
	err   error
}

// staticLookupTimeout bounds one name resolution of a static peer.
const staticLookupTimeout = 5 * time.Second

// New validates cfg and returns a Discovery ready to Run.
func New(cfg Config) (*Discovery, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Interfaces == nil {
		cfg.Interfaces = SystemInterfaces
	}
	if cfg.InterfaceRecheck <= 0 {
		cfg.InterfaceRecheck = 2 * time.Second
	}
	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver
	}
	if cfg.Port == 0 {
		return nil, errors.New("discovery: zero port")
	}
	var seed [8]byte
	_, _ = rand.Read(seed[:]) // crypto/rand.Read never fails on supported platforms
	core, err := NewCore(CoreConfig{Self: cfg.NodeID, Port: cfg.Port, Team: cfg.Team, Service: cfg.Service,
		Domain: cfg.Domain, Schedule: cfg.Schedule, Seed: binary.LittleEndian.Uint64(seed[:]), Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	static, err := parseStaticPeers(cfg.StaticPeers)
	if err != nil {
		return nil, err
	}
	return &Discovery{cfg: cfg, log: cfg.Logger.With("component", "discovery"), core: core, static: static,
		events: make(chan Event), learn: make(chan learnRequest, 16)}, nil
}

// Events delivers Found and Lost in order. Nothing is dropped: events queue inside until read.
// The channel is closed when Run returns.
func (d *Discovery) Events() <-chan Event { return d.events }

// LearnStaticNodeID tells discovery which node answered at a static entry, so that the peer
// is re-reported with its NodeID. It does nothing once Run has returned or ctx is done.
func (d *Discovery) LearnStaticNodeID(ctx context.Context, entry string, id mesh.NodeID) {
	select {
	case d.learn <- learnRequest{entry, id}:
	case <-ctx.Done():
	}
}

// Stats returns the core's counters as of the last loop iteration.
func (d *Discovery) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stats
}

// Run opens the sockets and drives the core until ctx is done; it then sends goodbyes and
// returns. It returns an error only if no mDNS socket could be opened.
func (d *Discovery) Run(ctx context.Context) error {
	socks, err := openMulticastSockets(ctx, d.log)
	if err != nil {
		close(d.events)
		return err
	}
	d.core.cfg.Families = socks.families()
	done := make(chan struct{})
	packets := make(chan Packet, 64)
	lookups := make(chan lookupResult, len(d.static.peers))
	var wg sync.WaitGroup
	for _, f := range socks.families() {
		wg.Go(func() { socks.readLoop(f, packets, done) })
	}
	queue := newEventQueue(d.events)
	defer func() {
		close(done)
		socks.close()
		wg.Wait()
		queue.close()
	}()

	ifNames := map[int]string{}
	refreshInterfaces := func(now time.Time) {
		ifs, err := d.cfg.Interfaces()
		if err != nil {
			d.log.Warn("cannot list interfaces", "err", err)
			return
		}
		usable := socks.update(ifs)
		clear(ifNames)
		for _, in := range usable {
			ifNames[in.Index] = in.Name
		}
		d.core.SetInterfaces(now, usable)
	}
	resolveDue := func(now time.Time) {
		for _, entry := range d.static.due(now) {
			host := d.static.host(entry)
			wg.Go(func() {
				lctx, cancel := context.WithTimeout(ctx, staticLookupTimeout)
				defer cancel()
				addrs, err := d.cfg.Resolver.LookupNetIP(lctx, "ip", host)
				lookups <- lookupResult{entry, addrs, err} // buffered: one slot per entry
			})
		}
	}
	flush := func() {
		r := d.core.Ready()
		for _, o := range r.Sends {
			if err := socks.send(o, ifNames[o.IfIndex]); err != nil {
				d.log.Debug("mDNS send", "interface", ifNames[o.IfIndex], "family", o.Family, "err", err)
			}
		}
		queue.push(r.Events...)
		d.mu.Lock()
		d.stats = d.core.Stats()
		d.mu.Unlock()
	}

	now := time.Now()
	queue.push(d.static.start()...)
	resolveDue(now)
	refreshInterfaces(now)
	d.core.Tick(now)
	flush()

	recheck := time.NewTicker(d.cfg.InterfaceRecheck)
	defer recheck.Stop()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		timer.Reset(d.untilWake(time.Now()))
		select {
		case <-ctx.Done():
			d.core.Stop(time.Now())
			flush()
			return nil
		case p := <-packets:
			d.core.HandlePacket(time.Now(), p)
		case <-timer.C:
			now := time.Now()
			d.core.Tick(now)
			resolveDue(now)
		case <-recheck.C:
			refreshInterfaces(time.Now())
		case res := <-lookups:
			evs, err := d.static.resolved(time.Now(), res.entry, res.addrs, res.err)
			if err != nil {
				d.log.Warn("cannot resolve static peer", "peer", res.entry, "err", err)
			}
			queue.push(evs...)
		case req := <-d.learn:
			queue.push(d.static.learn(req.entry, req.id)...)
		}
		flush()
	}
}

// untilWake is how long the loop may sleep before the core or a static lookup needs it.
func (d *Discovery) untilWake(now time.Time) time.Duration {
	next := d.core.NextWake()
	if s := d.static.nextWake(); !s.IsZero() && (next.IsZero() || s.Before(next)) {
		next = s
	}
	if next.IsZero() {
		return time.Hour
	}
	return max(next.Sub(now), 0)
}

// eventQueue delivers events to an unbuffered channel in order without ever blocking the
// caller: a slow reader makes the queue grow instead of losing events.
type eventQueue struct {
	mu      sync.Mutex
	pending []Event
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
}

func newEventQueue(out chan<- Event) *eventQueue {
	q := &eventQueue{wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go q.run(out)
	return q
}

func (q *eventQueue) push(evs ...Event) {
	if len(evs) == 0 {
		return
	}
	q.mu.Lock()
	q.pending = append(q.pending, evs...)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *eventQueue) run(out chan<- Event) {
	defer close(q.done)
	defer close(out)
	for {
		q.mu.Lock()
		batch := q.pending
		q.pending = nil
		q.mu.Unlock()
		for _, ev := range batch {
			select {
			case out <- ev:
			case <-q.stop:
				return
			}
		}
		select {
		case <-q.wake:
		case <-q.stop:
			return
		}
	}
}

// close stops delivery (undelivered events are dropped: the reader has stopped caring once
// Run returned) and closes the channel.
func (q *eventQueue) close() {
	close(q.stop)
	<-q.done
}
