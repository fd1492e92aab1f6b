package discovery

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"meshcomm/mesh"
)

// Static peer resolution timing.
const (
	staticRefresh    = 60 * time.Second // re-resolve names this often
	staticMaxBackoff = 30 * time.Second // retry a failed resolution at most this far apart
	// StaticVia is the Via of a configured peer.
	StaticVia = "static"
)

// staticPeer is one configured --peer HOST:PORT entry.
type staticPeer struct {
	entry       string
	host        string
	port        uint16
	literal     bool // host is an IP address: nothing to resolve
	addrs       []netip.AddrPort
	id          mesh.NodeID
	nextResolve time.Time
	failures    int
	resolving   bool
	reported    bool
}

// staticTable tracks the configured peers. Like Core it owns no sockets or goroutines: the
// driver asks it what to resolve and feeds the answers back.
type staticTable struct {
	peers []*staticPeer
}

// parseStaticPeers validates HOST:PORT entries (IPv6 literals in brackets, zones allowed).
func parseStaticPeers(entries []string) (*staticTable, error) {
	t := &staticTable{}
	seen := map[string]bool{}
	for _, e := range entries {
		host, portStr, err := net.SplitHostPort(e)
		if err != nil {
			return nil, fmt.Errorf("discovery: static peer %q: %w", e, err)
		}
		port, err := strconv.ParseUint(portStr, 10, 16)
		if err != nil || port == 0 {
			return nil, fmt.Errorf("discovery: static peer %q: bad port", e)
		}
		if host == "" {
			return nil, fmt.Errorf("discovery: static peer %q: empty host", e)
		}
		if seen[e] {
			continue
		}
		seen[e] = true
		p := &staticPeer{entry: e, host: host, port: uint16(port)}
		if a, err := netip.ParseAddr(host); err == nil {
			p.literal = true
			p.addrs = []netip.AddrPort{netip.AddrPortFrom(a.Unmap(), p.port)}
		}
		t.peers = append(t.peers, p)
	}
	return t, nil
}

func (p *staticPeer) event() Event {
	return Event{Kind: Found, Peer: Peer{NodeID: p.id, Addrs: slices.Clone(p.addrs), Via: StaticVia, Static: p.entry}}
}

// start reports the literal entries at once.
func (t *staticTable) start() []Event {
	var out []Event
	for _, p := range t.peers {
		if p.literal {
			p.reported = true
			out = append(out, p.event())
		}
	}
	return out
}

// due returns the names to resolve now and marks them in flight.
func (t *staticTable) due(now time.Time) []string {
	var out []string
	for _, p := range t.peers {
		if !p.literal && !p.resolving && !now.Before(p.nextResolve) {
			p.resolving = true
			out = append(out, p.entry)
		}
	}
	return out
}

func (t *staticTable) find(entry string) *staticPeer {
	for _, p := range t.peers {
		if p.entry == entry {
			return p
		}
	}
	return nil
}

func (t *staticTable) host(entry string) string {
	if p := t.find(entry); p != nil {
		return p.host
	}
	return ""
}

// resolved records the outcome of resolving entry: Found when the address set is new or
// changed; on failure a retry after 1 s, 2 s, 4 s ... up to staticMaxBackoff. A peer that stops
// resolving keeps its last addresses (it is configured, so never Lost).
func (t *staticTable) resolved(now time.Time, entry string, addrs []netip.Addr, err error) ([]Event, error) {
	p := t.find(entry)
	if p == nil {
		return nil, nil
	}
	p.resolving = false
	if err == nil && len(addrs) == 0 {
		err = errors.New("no addresses")
	}
	if err != nil {
		p.failures++
		p.nextResolve = now.Add(min(time.Second<<min(p.failures-1, 10), staticMaxBackoff))
		return nil, err
	}
	p.failures = 0
	p.nextResolve = now.Add(staticRefresh)
	var aps []netip.AddrPort
	for _, a := range addrs {
		aps = append(aps, netip.AddrPortFrom(a.Unmap(), p.port))
	}
	slices.SortFunc(aps, compareAddrPort)
	aps = slices.Compact(aps)
	if p.reported && slices.Equal(aps, p.addrs) {
		return nil, nil
	}
	p.addrs, p.reported = aps, true
	return []Event{p.event()}, nil
}

// learn records the NodeID the transport found behind entry and re-reports the peer with it.
func (t *staticTable) learn(entry string, id mesh.NodeID) []Event {
	p := t.find(entry)
	if p == nil || p.id == id {
		return nil
	}
	p.id = id
	if !p.reported {
		return nil
	}
	return []Event{p.event()}
}

// nextWake returns the earliest pending resolution (zero if none).
func (t *staticTable) nextWake() time.Time {
	var next time.Time
	for _, p := range t.peers {
		if p.literal || p.resolving {
			continue
		}
		if next.IsZero() || p.nextResolve.Before(next) {
			next = p.nextResolve
		}
	}
	return next
}
