package sip

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"

	"meshcomm/mesh"
)

// OverlayPort is the port of every node's overlay SIP address. It is never bound: it only
// completes the "host:port" form sipgo keys its connection pool and destinations by.
const OverlayPort = 5061

// overlayTransport is the transport sipgo believes it uses: its TLS transport serves the
// QUIC streams, which are encrypted and authenticated by the QUIC handshake.
const overlayTransport = "TLS"

var errNotOverlayHost = errors.New("sip: host is not an overlay address")

// overlayIP is a node's overlay address as an IP: the 16 bytes of its NodeID read as IPv6.
// It needs no table and no DNS, and parses as an IP wherever sipgo looks at a host.
func overlayIP(id mesh.NodeID) netip.Addr { return netip.AddrFrom16(id) }

// overlayAddr is the "host:port" string sipgo uses for a node: the key of its connection
// pool, the source of requests that node sends us, the destination of requests to it. It is
// formatted exactly as sipgo formats a resolved address (net.IP, then JoinHostPort).
func overlayAddr(id mesh.NodeID) string {
	return net.JoinHostPort(net.IP(id[:]).String(), strconv.Itoa(OverlayPort))
}

// overlayNetAddr is overlayAddr as a net.Addr (the addresses of the streams sipgo reads).
func overlayNetAddr(id mesh.NodeID) net.Addr {
	return &net.TCPAddr{IP: net.IP(id[:]), Port: OverlayPort}
}

// overlayHost is a node's host in a SIP URI or Via: its IPv6 address in brackets (a bare
// IPv6 host would be mistaken for host:port).
func overlayHost(id mesh.NodeID) string { return "[" + overlayIP(id).String() + "]" }

// nodeFromHost reads a NodeID back from a URI or Via host (brackets optional).
func nodeFromHost(host string) (mesh.NodeID, error) {
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	// An IPv4 host is the NodeID whose bytes form a v4-mapped address (sipgo prints those as
	// IPv4), so every NodeID round-trips.
	if err != nil || a.Zone() != "" {
		return mesh.NodeID{}, fmt.Errorf("%w: %q", errNotOverlayHost, host)
	}
	return mesh.NodeID(a.As16()), nil
}

// nodeFromAddr reads a NodeID from an overlayAddr "host:port" string.
func nodeFromAddr(addr string) (mesh.NodeID, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return mesh.NodeID{}, fmt.Errorf("%w: %q", errNotOverlayHost, addr)
	}
	return nodeFromHost(host)
}

// contactURI is the URI that reaches user on node id: sip:user@[id]:5061;transport=tls.
func contactURI(user string, id mesh.NodeID) sip.Uri {
	return sip.Uri{
		Scheme:    "sip",
		User:      user,
		Host:      overlayHost(id),
		Port:      OverlayPort,
		UriParams: sip.HeaderParams{{K: "transport", V: "tls"}},
	}
}

// routeURI is the loose-routing URI of a node acting as a proxy hop.
func routeURI(id mesh.NodeID) sip.Uri {
	u := contactURI("", id)
	u.UriParams = append(u.UriParams, sip.HeaderKV{K: "lr", V: ""})
	return u
}

// AoR is a parsed address of record, "sip:user@domain" in lower case.
type AoR struct {
	User, Domain string
}

func (a AoR) String() string { return "sip:" + a.User + "@" + a.Domain }

// ParseAoR checks and canonicalises an address of record: a sip: URI with a user part and a
// domain, no port, parameters or headers; letters are lower-cased.
func ParseAoR(s string) (AoR, error) {
	rest, ok := strings.CutPrefix(strings.ToLower(strings.TrimSpace(s)), "sip:")
	if !ok {
		return AoR{}, fmt.Errorf("sip: address %q is not a sip: URI", s)
	}
	user, domain, ok := strings.Cut(rest, "@")
	if !ok || user == "" || domain == "" {
		return AoR{}, fmt.Errorf("sip: address %q needs user@domain", s)
	}
	if len(rest) > 128 {
		return AoR{}, fmt.Errorf("sip: address %q is longer than 128 bytes", s)
	}
	for _, part := range []string{user, domain} {
		for _, c := range part {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
				return AoR{}, fmt.Errorf("sip: address %q has a character %q outside [a-z0-9._-]", s, c)
			}
		}
	}
	return AoR{User: user, Domain: domain}, nil
}

// aorOfURI is the address of record a URI names (its user and host), if it is one.
func aorOfURI(u sip.Uri) (AoR, error) {
	return ParseAoR("sip:" + u.User + "@" + u.Host)
}

// aorURI is the URI of an address of record.
func aorURI(a AoR) sip.Uri { return sip.Uri{Scheme: "sip", User: a.User, Host: a.Domain} }
