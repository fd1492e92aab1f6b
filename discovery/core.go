package discovery

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"

	"meshcomm/mesh"
)

// Defaults for the advertised service.
const (
	DefaultService  = "_meshcomm._udp"
	DefaultDomain   = "local."
	ProtocolVersion = 1
	// MaxPacketSize bounds every datagram the core decodes; larger ones are counted as malformed.
	MaxPacketSize = 9000
	// Port is the mDNS port (RFC 6762).
	Port = 5353
)

// The mDNS multicast groups.
var (
	GroupV4 = netip.MustParseAddr("224.0.0.251")
	GroupV6 = netip.MustParseAddr("ff02::fb")
)

// Family is an IP address family.
type Family uint8

const (
	IPv4 Family = 4
	IPv6 Family = 6
)

func (f Family) String() string {
	if f == IPv4 {
		return "ipv4"
	}
	return "ipv6"
}

func familyOf(a netip.Addr) Family {
	if a.Unmap().Is4() {
		return IPv4
	}
	return IPv6
}

func (f Family) group() netip.AddrPort {
	if f == IPv4 {
		return netip.AddrPortFrom(GroupV4, Port)
	}
	return netip.AddrPortFrom(GroupV6, Port)
}

// Interface is an up, multicast-capable network interface and its unicast addresses.
type Interface struct {
	Index int
	Name  string
	Addrs []netip.Addr
}

func (i Interface) has(f Family) bool {
	return slices.ContainsFunc(i.Addrs, func(a netip.Addr) bool { return familyOf(a) == f })
}

func (i Interface) equal(o Interface) bool {
	return i.Index == o.Index && i.Name == o.Name && slices.Equal(i.Addrs, o.Addrs)
}

// Packet is one received datagram and where it came from.
type Packet struct {
	IfIndex int
	Src     netip.AddrPort
	Data    []byte
}

// Outgoing is one datagram the core wants sent out of interface IfIndex to Dst (the family's
// multicast group, or a unicast address for legacy and QU replies).
type Outgoing struct {
	IfIndex int
	Family  Family
	Dst     netip.AddrPort
	Data    []byte
}

// Peer is a discovered meshcomm node. NodeID is zero for a static peer whose identity the
// transport has not learnt yet.
type Peer struct {
	NodeID  mesh.NodeID
	Addrs   []netip.AddrPort // sorted; IPv6 link-local addresses carry the interface as zone
	Team    string
	Version int
	Via     string // the interface the peer was seen on ("static" for configured peers)
	Static  string // the configured HOST:PORT entry, empty for mDNS-discovered peers
}

func (p Peer) equal(o Peer) bool {
	return p.NodeID == o.NodeID && p.Team == o.Team && p.Version == o.Version && p.Via == o.Via &&
		p.Static == o.Static && slices.Equal(p.Addrs, o.Addrs)
}

// EventKind says what happened to a peer.
type EventKind uint8

const (
	// Found reports a new peer or a change in a known peer's addresses, team or interface.
	Found EventKind = iota + 1
	// Lost reports that a peer said goodbye or its records expired; only Peer.NodeID is set.
	Lost
)

func (k EventKind) String() string {
	switch k {
	case Found:
		return "found"
	case Lost:
		return "lost"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Event is a change in the set of known peers.
type Event struct {
	Kind EventKind
	Peer Peer
}

// Ready is the batch of effects the core accumulated since it was last drained.
type Ready struct {
	Sends  []Outgoing
	Events []Event
}

// Schedule holds the timing of announcements, browsing and record lifetimes.
type Schedule struct {
	FastInterval  time.Duration // browse interval right after start or an interface change
	FastPeriod    time.Duration // how long browsing stays fast
	SlowInterval  time.Duration // browse interval afterwards (jittered by ±10%)
	RecordTTL     time.Duration // TTL of the records this node announces
	Announcements int           // unsolicited announcements at 0 s, 1 s, 3 s, ... (RFC 6762 §8.3)
	// BeaconInterval is the shortest period of the beacon, the announcement repeated for as
	// long as the node runs so that a laptop coming into radio range is found within about a
	// second (0: no beacon). The period grows by BeaconSpacing for every peer already cached
	// on the interface, so that a shared medium carries about one beacon per BeaconSpacing
	// however many nodes share it, and never exceeds SlowInterval.
	BeaconInterval time.Duration
	BeaconSpacing  time.Duration
}

// DefaultSchedule is the schedule a node runs with unless configured otherwise.
func DefaultSchedule() Schedule {
	return Schedule{
		FastInterval:  time.Second,
		FastPeriod:    10 * time.Second,
		SlowInterval:  20 * time.Second,
		RecordTTL:     120 * time.Second,
		Announcements: 3,

		BeaconInterval: time.Second,
		BeaconSpacing:  250 * time.Millisecond,
	}
}

// CoreConfig configures the mDNS core.
type CoreConfig struct {
	Self     mesh.NodeID
	Port     uint16 // the QUIC port peers should dial
	Team     string
	Service  string // default DefaultService
	Domain   string // default DefaultDomain
	Schedule Schedule
	Seed     uint64       // seeds response and interval jitter
	Logger   *slog.Logger // malformed packets are logged here (default: discarded)
	// Families limits which address families the core sends on (default both).
	Families []Family
}

// Stats counts what the core has seen; Malformed is keyed by reason.
type Stats struct {
	PacketsIn        uint64
	Malformed        map[string]uint64
	UnknownInterface uint64 // packets from an interface or family the core does not use
	Own              uint64 // records of our own instance seen (multicast loopback)
	Foreign          uint64 // packets with nothing for our service
	QueriesAnswered  uint64
	Suppressed       uint64 // queries not answered because the querier already knew us
	Goodbyes         uint64
	Greetings        uint64 // responses sent because a newcomer announced itself
	BeaconsSent      uint64 // announcements repeated by the beacon
	CacheFull        uint64 // records dropped because a cache bound was reached
	QueriesSent      uint64
	ResponsesSent    uint64
}

// Core is the socket-free mDNS responder and browser: it is fed packets, interface lists and
// the time, and returns datagrams to send and peer events. It is not safe for concurrent use.
type Core struct {
	cfg       CoreConfig
	service   string // "_meshcomm._udp.local."
	instance  string // "<nodeid hex>._meshcomm._udp.local."
	host      string // "mc-<nodeid hex>.local."
	enumName  string // "_services._dns-sd._udp.local."
	txt       []string
	rng       *rand.Rand
	log       *slog.Logger
	ifaces    map[int]*ifaceState
	published map[mesh.NodeID]Peer
	stats     Stats
	out       Ready
	stopped   bool
}

type ifaceState struct {
	Interface
	sched         browseSchedule
	cache         ifaceCache
	pending       map[Family]*pendingResponse // multicast responses waiting for their delay
	lastMulticast map[Family]time.Time
}

// NewCore returns a core for cfg; it sends nothing until SetInterfaces gives it interfaces.
func NewCore(cfg CoreConfig) (*Core, error) {
	if cfg.Self.IsZero() {
		return nil, fmt.Errorf("discovery: zero NodeID")
	}
	if cfg.Service == "" {
		cfg.Service = DefaultService
	}
	if cfg.Domain == "" {
		cfg.Domain = DefaultDomain
	}
	if cfg.Schedule == (Schedule{}) {
		cfg.Schedule = DefaultSchedule()
	}
	if err := validateSchedule(cfg.Schedule); err != nil {
		return nil, err
	}
	if err := validateServiceName(cfg.Service); err != nil {
		return nil, err
	}
	if _, ok := dns.IsDomainName(cfg.Domain); !ok {
		return nil, fmt.Errorf("discovery: bad domain %q", cfg.Domain)
	}
	if len(cfg.Team) > maxTeamLen {
		return nil, fmt.Errorf("discovery: team name longer than %d bytes", maxTeamLen)
	}
	if len(cfg.Families) == 0 {
		cfg.Families = []Family{IPv4, IPv6}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	domain := dns.CanonicalName(cfg.Domain)
	service := dns.CanonicalName(cfg.Service + "." + domain)
	c := &Core{
		cfg:       cfg,
		service:   service,
		instance:  cfg.Self.String() + "." + service,
		host:      "mc-" + cfg.Self.String() + "." + domain,
		enumName:  "_services._dns-sd._udp." + domain,
		txt:       encodeTXT(txtRecord{ID: cfg.Self, Version: ProtocolVersion, Team: cfg.Team}),
		rng:       rand.New(rand.NewPCG(cfg.Seed, uint64(cfg.Self[0])<<8|uint64(cfg.Self[1]))),
		log:       log.With("component", "discovery"),
		ifaces:    map[int]*ifaceState{},
		published: map[mesh.NodeID]Peer{},
		stats:     Stats{Malformed: map[string]uint64{}},
	}
	return c, nil
}

func validateSchedule(s Schedule) error {
	if s.FastInterval <= 0 || s.SlowInterval <= 0 || s.FastPeriod < 0 || s.Announcements < 0 ||
		s.BeaconInterval < 0 || s.BeaconSpacing < 0 {
		return fmt.Errorf("discovery: bad schedule %+v", s)
	}
	if s.RecordTTL < 2*time.Second || s.RecordTTL > maxTTL {
		return fmt.Errorf("discovery: record TTL %v out of range [2s, %v]", s.RecordTTL, maxTTL)
	}
	return nil
}

func validateServiceName(s string) error {
	labels := dns.SplitDomainName(s)
	if len(labels) != 2 || !strings.HasPrefix(labels[0], "_") || (labels[1] != "_udp" && labels[1] != "_tcp") ||
		len(labels[0]) > 16 {
		return fmt.Errorf("discovery: service %q is not of the form _name._udp", s)
	}
	return nil
}

// ServiceName returns the fully qualified service the core browses for.
func (c *Core) ServiceName() string { return c.service }

// InstanceName returns this node's fully qualified service instance name.
func (c *Core) InstanceName() string { return c.instance }

// Stats returns a copy of the counters.
func (c *Core) Stats() Stats {
	s := c.stats
	s.Malformed = make(map[string]uint64, len(c.stats.Malformed))
	for k, v := range c.stats.Malformed {
		s.Malformed[k] = v
	}
	return s
}

// Peers returns the peers currently known, sorted by NodeID.
func (c *Core) Peers() []Peer {
	out := make([]Peer, 0, len(c.published))
	for _, p := range c.published {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b Peer) int { return strings.Compare(string(a.NodeID[:]), string(b.NodeID[:])) })
	return out
}

// Ready drains and returns the accumulated sends and events.
func (c *Core) Ready() Ready {
	r := c.out
	c.out = Ready{}
	return r
}

// SetInterfaces tells the core which interfaces are up now. A new interface, or one whose
// addresses changed, restarts announcements and fast browsing on it; a vanished one drops its
// cache (peers seen only there are Lost).
func (c *Core) SetInterfaces(now time.Time, ifs []Interface) {
	if c.stopped {
		return
	}
	seen := map[int]bool{}
	for _, in := range ifs {
		in.Addrs = slices.Clone(in.Addrs)
		slices.SortFunc(in.Addrs, func(a, b netip.Addr) int { return a.Compare(b) })
		in.Addrs = slices.Compact(in.Addrs)
		seen[in.Index] = true
		st, ok := c.ifaces[in.Index]
		if ok && st.equal(in) {
			continue
		}
		if !ok || st.Name != in.Name {
			st = &ifaceState{pending: map[Family]*pendingResponse{}, lastMulticast: map[Family]time.Time{},
				cache: newIfaceCache()}
			c.ifaces[in.Index] = st
		}
		st.Interface = in
		st.sched.reset(now, c.cfg.Schedule.BeaconInterval, c.rng)
	}
	for idx := range c.ifaces {
		if !seen[idx] {
			delete(c.ifaces, idx)
		}
	}
	c.refreshPeers(now)
}

// Tick sends what is due (announcements, queries, delayed responses) and expires the cache.
func (c *Core) Tick(now time.Time) {
	if c.stopped {
		return
	}
	for _, idx := range c.sortedIfaces() {
		st := c.ifaces[idx]
		if st.sched.announceDue(now, c.cfg.Schedule.Announcements) {
			c.sendResponse(st, now, c.cfg.Schedule.RecordTTL)
			st.sched.announced(now)
			if !st.sched.nextBeacon.IsZero() {
				st.sched.nextBeacon = now.Add(c.beaconPeriod(st)) // the announcement was a beacon too
			}
		}
		for _, f := range []Family{IPv4, IPv6} {
			if p, ok := st.pending[f]; ok && !now.Before(p.due) {
				delete(st.pending, f)
				c.multicastResponse(st, f, now, p.parts)
			}
		}
		if st.sched.beaconDue(now, c.cfg.Schedule.Announcements) {
			c.sendBeacon(st, now)
			st.sched.beaconed(now, c.beaconPeriod(st), c.rng)
		}
		if st.cache.refreshDue(now) {
			st.sched.nextQuery = now
		}
		if st.sched.queryDue(now) {
			c.sendQuery(st, now)
			st.sched.queried(now, c.cfg.Schedule, c.rng)
		}
	}
	expired := false
	for _, st := range c.ifaces {
		expired = st.cache.expire(now) || expired
	}
	if expired {
		c.refreshPeers(now)
	}
}

// NextWake returns when Tick next has something to do (zero if nothing is scheduled).
func (c *Core) NextWake() time.Time {
	var next time.Time
	earliest := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	if c.stopped {
		return next
	}
	for _, st := range c.ifaces {
		if st.sched.announcesSent < c.cfg.Schedule.Announcements {
			earliest(st.sched.nextAnnounce)
		}
		earliest(st.sched.nextQuery)
		if st.sched.announcesSent >= c.cfg.Schedule.Announcements {
			earliest(st.sched.nextBeacon)
		}
		for _, p := range st.pending {
			earliest(p.due)
		}
		earliest(st.cache.nextEvent())
	}
	return next
}

// Stop queues goodbye packets (every record with TTL 0, sent twice) on every interface and
// makes the core inert.
func (c *Core) Stop(now time.Time) {
	if c.stopped {
		return
	}
	for _, idx := range c.sortedIfaces() {
		st := c.ifaces[idx]
		for range 2 {
			c.sendResponse(st, now, 0)
		}
	}
	c.stopped = true
}

func (c *Core) sortedIfaces() []int {
	idx := make([]int, 0, len(c.ifaces))
	for i := range c.ifaces {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	return idx
}

// sendResponse multicasts our full record set on every family of st (announcement or goodbye).
func (c *Core) sendResponse(st *ifaceState, now time.Time, ttl time.Duration) {
	for _, f := range c.cfg.Families {
		if !st.has(f) {
			continue
		}
		c.emit(st, f, f.group(), c.buildResponse(st.Interface, ttl, responseParts{full: true}, nil))
		c.stats.ResponsesSent++
		st.lastMulticast[f] = now
	}
}

// sendBeacon multicasts our full record set on one family of st, alternating between the
// families the interface has: a laptop hearing it for the first time greets back at once
// (handleResponse), which is first contact in one exchange.
func (c *Core) sendBeacon(st *ifaceState, now time.Time) {
	var fams []Family
	for _, f := range c.cfg.Families {
		if st.has(f) {
			fams = append(fams, f)
		}
	}
	if len(fams) == 0 {
		return
	}
	f := fams[st.sched.beacons%len(fams)]
	c.emit(st, f, f.group(), c.buildResponse(st.Interface, c.cfg.Schedule.RecordTTL, responseParts{full: true}, nil))
	c.stats.BeaconsSent++
	st.lastMulticast[f] = now
}

// beaconPeriod is the beacon's period on st: BeaconInterval, plus BeaconSpacing for every
// peer cached there, at most SlowInterval.
func (c *Core) beaconPeriod(st *ifaceState) time.Duration {
	sch := c.cfg.Schedule
	return min(max(sch.BeaconInterval, time.Duration(len(st.cache.ptrs))*sch.BeaconSpacing), sch.SlowInterval)
}

func (c *Core) multicastResponse(st *ifaceState, f Family, now time.Time, parts responseParts) {
	if !st.has(f) {
		return
	}
	c.emit(st, f, f.group(), c.buildResponse(st.Interface, c.cfg.Schedule.RecordTTL, parts, nil))
	c.stats.ResponsesSent++
	st.lastMulticast[f] = now
}

func (c *Core) sendQuery(st *ifaceState, now time.Time) {
	for _, f := range c.cfg.Families {
		if !st.has(f) {
			continue
		}
		c.emit(st, f, f.group(), c.buildQuery(st, now))
		c.stats.QueriesSent++
	}
}

func (c *Core) emit(st *ifaceState, f Family, dst netip.AddrPort, data []byte) {
	if data == nil {
		return
	}
	c.out.Sends = append(c.out.Sends, Outgoing{IfIndex: st.Index, Family: f, Dst: dst, Data: data})
}

// malformed counts a bad packet and logs it at counts 1, 2, 4, 8, ... per reason so that a
// flood of garbage cannot flood the log.
func (c *Core) malformed(reason string, src netip.AddrPort, err error) {
	c.stats.Malformed[reason]++
	n := c.stats.Malformed[reason]
	if n&(n-1) == 0 {
		c.log.Warn("malformed mDNS packet", "reason", reason, "from", src.String(), "err", err, "count", n)
	}
}
