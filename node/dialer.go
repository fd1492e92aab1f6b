package node

import (
	"net"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"time"

	"meshcomm/discovery"
	"meshcomm/mesh"
)

// Redial back-off: after the n-th failed dial of a target, wait min(dialBackoffMin << (n-1),
// dialBackoffMax); after a link goes down, redial after dialBackoffMin.
const (
	dialBackoffMin = time.Second
	dialBackoffMax = 30 * time.Second
	// dialTimeout bounds one dial: twice the transport's handshake timeout, and a little.
	dialTimeout = 25 * time.Second
)

// target is a peer the node keeps a link to: a static --peer entry (for as long as the node
// runs) or a peer discovery found (until discovery loses it).
type target struct {
	key      string      // the static entry, or "mdns:" + node id
	addrs    []string    // "host:port", tried in turn
	id       mesh.NodeID // zero for a static peer not reached yet
	static   bool
	dialing  bool
	attempt  int // dials so far; selects the address
	failures int // consecutive failures
	next     time.Time
}

// dialer decides when to dial which target. It is owned by the loop and does no I/O: the loop
// starts the dials it returns from due and reports their outcome.
type dialer struct {
	targets map[string]*target
	up      map[mesh.NodeID]bool // peers with a link now
	self    mesh.NodeID
}

func newDialer(self mesh.NodeID) *dialer {
	return &dialer{targets: map[string]*target{}, up: map[mesh.NodeID]bool{}, self: self}
}

// addStatic adds a --peer HOST:PORT entry, dialled at once.
func (d *dialer) addStatic(entry string, now time.Time) {
	d.targets[entry] = &target{key: entry, addrs: []string{entry}, static: true, next: now}
}

// found adds or updates a peer discovery reported.
func (d *dialer) found(p discovery.Peer, now time.Time) {
	if p.NodeID.IsZero() || p.NodeID == d.self || len(p.Addrs) == 0 {
		return
	}
	addrs := make([]string, 0, len(p.Addrs))
	for _, a := range preferIPv4(p.Addrs) {
		addrs = append(addrs, a.String())
	}
	key := "mdns:" + p.NodeID.String()
	t := d.targets[key]
	if t == nil {
		t = &target{key: key, id: p.NodeID, next: now}
		d.targets[key] = t
	} else if !slices.Equal(t.addrs, addrs) {
		t.failures, t.next = 0, now // new addresses: try them at once
	}
	t.addrs = addrs
}

// lost forgets a discovered peer (its link, if any, stays until the transport drops it).
func (d *dialer) lost(id mesh.NodeID) { delete(d.targets, "mdns:"+id.String()) }

// peerUp and peerDown track links.
func (d *dialer) peerUp(id mesh.NodeID) { d.up[id] = true }

func (d *dialer) peerDown(id mesh.NodeID, now time.Time) {
	delete(d.up, id)
	for _, t := range d.targets {
		if t.id == id && !t.dialing {
			t.failures, t.next = 0, now.Add(dialBackoffMin)
		}
	}
}

// retryNow makes every target without a link due at once (trust changed: a peer refused so
// far may be accepted now).
func (d *dialer) retryNow(now time.Time) {
	for _, t := range d.targets {
		t.failures, t.next = 0, now
	}
}

// due returns the targets to dial now, each with the address to try, and marks them dialling.
func (d *dialer) due(now time.Time) []dialAttempt {
	var out []dialAttempt
	for _, t := range d.sorted() {
		if t.dialing || now.Before(t.next) || !t.id.IsZero() && d.up[t.id] {
			continue
		}
		t.dialing = true
		addr := t.addrs[t.attempt%len(t.addrs)]
		t.attempt++
		out = append(out, dialAttempt{key: t.key, to: mesh.Contact{ID: t.id, Addr: addr}})
	}
	return out
}

// dialAttempt is one dial the loop should start.
type dialAttempt struct {
	key string
	to  mesh.Contact
}

// dialResult is a dial's outcome, reported back to the loop.
type dialResult struct {
	key  string
	peer mesh.Contact // the proven contact on success
	err  error
}

// result records a dial's outcome. A static peer learns its node id from its first success.
func (d *dialer) result(r dialResult, now time.Time) {
	t := d.targets[r.key]
	if t == nil {
		return
	}
	t.dialing = false
	if r.err != nil {
		t.failures++
		t.next = now.Add(min(dialBackoffMin<<min(t.failures-1, 10), dialBackoffMax))
		return
	}
	t.failures = 0
	if t.static {
		t.id = r.peer.ID
	}
	t.next = now.Add(dialBackoffMin)
}

// nextWake is when due may next return something (zero: nothing is waiting).
func (d *dialer) nextWake() time.Time {
	var next time.Time
	for _, t := range d.targets {
		if t.dialing || !t.id.IsZero() && d.up[t.id] {
			continue
		}
		if next.IsZero() || t.next.Before(next) {
			next = t.next
		}
	}
	return next
}

func (d *dialer) sorted() []*target {
	out := make([]*target, 0, len(d.targets))
	for _, t := range d.targets {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

// preferIPv4 orders addresses IPv4 first, then global IPv6, then link-local IPv6: the order
// most likely to work on a field laptop's Wi-Fi.
func preferIPv4(addrs []netip.AddrPort) []netip.AddrPort {
	out := append([]netip.AddrPort(nil), addrs...)
	rank := func(a netip.AddrPort) int {
		switch {
		case a.Addr().Is4():
			return 0
		case !a.Addr().IsLinkLocalUnicast():
			return 1
		}
		return 2
	}
	sort.SliceStable(out, func(i, j int) bool { return rank(out[i]) < rank(out[j]) })
	return out
}

// advertisedAddr is the address this node tells others to reach it at (in its membership and
// registration records): the socket's own address, or, when the socket listens on every
// address, the first usable address of an up interface, with the socket's port, in this
// order: an IPv4 address that is not link-local, a global IPv6 address, an IPv4 link-local
// one (169.254/16). An IPv6 link-local address is never advertised: it needs the zone of the
// peer's own interface, which only the peer knows. With no such address it is loopback when
// no other interface has an address, and otherwise empty: peers then use the address they see
// the node at, and lookups from afar find no contact.
func advertisedAddr(local net.Addr) string {
	ua, ok := local.(*net.UDPAddr)
	if !ok || !ua.IP.IsUnspecified() {
		return local.String()
	}
	ifs, err := net.Interfaces()
	if err != nil {
		return ""
	}
	var ips []net.IP
	for _, ifi := range ifs {
		if ifi.Flags&net.FlagUp == 0 || ifi.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifi.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				ips = append(ips, ipn.IP)
			}
		}
	}
	if ip := pickAdvertised(ips); ip != nil {
		return net.JoinHostPort(ip.String(), strconv.Itoa(ua.Port))
	}
	if len(ips) == 0 {
		return net.JoinHostPort("127.0.0.1", strconv.Itoa(ua.Port))
	}
	return ""
}

// pickAdvertised chooses among interface addresses (see advertisedAddr); nil if none fits.
func pickAdvertised(ips []net.IP) net.IP {
	for _, fits := range []func(net.IP) bool{
		func(ip net.IP) bool { return ip.To4() != nil && ip.IsGlobalUnicast() },
		func(ip net.IP) bool { return ip.To4() == nil && ip.IsGlobalUnicast() },
		func(ip net.IP) bool { return ip.To4() != nil && ip.IsLinkLocalUnicast() },
	} {
		for _, ip := range ips {
			if fits(ip) {
				return ip
			}
		}
	}
	return nil
}
