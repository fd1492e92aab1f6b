package discovery

import (
	"net/netip"
	"slices"
	"strings"
	"time"

	"meshcomm/mesh"
)

// Cache bounds per interface: records beyond them are dropped and counted (Stats.CacheFull).
const (
	maxInstances    = 1024
	maxHosts        = 1024
	maxAddrsPerHost = 16
)

// refreshStages are the fractions of a PTR's TTL at which the browser re-queries before the
// record would expire (RFC 6762 §5.2).
var refreshStages = []float64{0.80, 0.85, 0.90, 0.95}

type ptrEntry struct {
	received    time.Time
	expires     time.Time
	ttl         time.Duration
	refreshSent int
}

type srvEntry struct {
	target  string
	port    uint16
	src     netip.Addr // the responder's source address: fallback when no address records came
	expires time.Time
}

type txtEntry struct {
	rec     txtRecord
	expires time.Time
}

type addrEntry struct {
	received time.Time
	expires  time.Time
}

type hostFamily struct {
	host string
	fam  Family
}

// ifaceCache holds the records of our service seen on one interface, keyed by canonical name.
type ifaceCache struct {
	ptrs  map[string]*ptrEntry
	srvs  map[string]*srvEntry
	txts  map[string]*txtEntry
	hosts map[string]map[netip.Addr]*addrEntry
}

func newIfaceCache() ifaceCache {
	return ifaceCache{ptrs: map[string]*ptrEntry{}, srvs: map[string]*srvEntry{}, txts: map[string]*txtEntry{},
		hosts: map[string]map[netip.Addr]*addrEntry{}}
}

// expiry returns when a record received now with ttl expires, and whether it may be stored:
// a goodbye (TTL 0) only shortens an existing record to goodbyeGrace.
func expiry(now time.Time, ttl time.Duration, existing time.Time) (time.Time, bool) {
	if ttl > 0 {
		return now.Add(ttl), true
	}
	if existing.IsZero() {
		return time.Time{}, false
	}
	return minTime(existing, now.Add(goodbyeGrace)), true
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// putPTR stores a service PTR; it reports false if the cache is full.
func (c *ifaceCache) putPTR(now time.Time, inst string, ttl time.Duration) bool {
	e := c.ptrs[inst]
	if e == nil {
		if ttl == 0 {
			return true
		}
		if len(c.ptrs) >= maxInstances {
			return false
		}
		e = &ptrEntry{}
		c.ptrs[inst] = e
	}
	exp, _ := expiry(now, ttl, e.expires)
	if ttl > 0 {
		*e = ptrEntry{received: now, ttl: ttl}
	}
	e.expires = exp
	return true
}

func (c *ifaceCache) putSRV(now time.Time, inst, target string, port uint16, src netip.Addr, ttl time.Duration) bool {
	e := c.srvs[inst]
	var existing time.Time
	if e != nil {
		existing = e.expires
	} else if len(c.srvs) >= maxInstances {
		return false
	}
	exp, ok := expiry(now, ttl, existing)
	if !ok {
		return true
	}
	if ttl == 0 {
		e.expires = exp
		return true
	}
	c.srvs[inst] = &srvEntry{target: target, port: port, src: src, expires: exp}
	return true
}

func (c *ifaceCache) putTXT(now time.Time, inst string, rec txtRecord, ttl time.Duration) bool {
	e := c.txts[inst]
	var existing time.Time
	if e != nil {
		existing = e.expires
	} else if len(c.txts) >= maxInstances {
		return false
	}
	exp, ok := expiry(now, ttl, existing)
	if !ok {
		return true
	}
	if ttl == 0 {
		e.expires = exp
		return true
	}
	c.txts[inst] = &txtEntry{rec: rec, expires: exp}
	return true
}

// isTarget reports whether host is the target of a cached SRV record.
func (c *ifaceCache) isTarget(host string) bool {
	for _, s := range c.srvs {
		if s.target == host {
			return true
		}
	}
	return false
}

func (c *ifaceCache) putAddr(now time.Time, host string, a netip.Addr, ttl time.Duration) bool {
	addrs := c.hosts[host]
	if addrs == nil {
		if ttl == 0 {
			return true
		}
		if len(c.hosts) >= maxHosts {
			return false
		}
		addrs = map[netip.Addr]*addrEntry{}
		c.hosts[host] = addrs
	}
	e := addrs[a]
	var existing time.Time
	if e != nil {
		existing = e.expires
	} else if len(addrs) >= maxAddrsPerHost {
		return false
	}
	exp, ok := expiry(now, ttl, existing)
	if !ok {
		return true
	}
	if ttl == 0 {
		e.expires = exp
		return true
	}
	addrs[a] = &addrEntry{received: now, expires: exp}
	return true
}

// flushStale applies a cache-flush record (RFC 6762 §10.2): records of the same name and type
// received more than a second ago expire in a second.
func (c *ifaceCache) flushStale(now time.Time, key hostFamily) {
	for a, e := range c.hosts[key.host] {
		if familyOf(a) == key.fam && now.Sub(e.received) > time.Second {
			e.expires = minTime(e.expires, now.Add(time.Second))
		}
	}
}

// expire removes expired records and reports whether anything was removed.
func (c *ifaceCache) expire(now time.Time) bool {
	removed := false
	for k, e := range c.ptrs {
		if !now.Before(e.expires) {
			delete(c.ptrs, k)
			removed = true
		}
	}
	for k, e := range c.srvs {
		if !now.Before(e.expires) {
			delete(c.srvs, k)
			removed = true
		}
	}
	for k, e := range c.txts {
		if !now.Before(e.expires) {
			delete(c.txts, k)
			removed = true
		}
	}
	for h, addrs := range c.hosts {
		for a, e := range addrs {
			if !now.Before(e.expires) {
				delete(addrs, a)
				removed = true
			}
		}
		if len(addrs) == 0 {
			delete(c.hosts, h)
		}
	}
	return removed
}

func (e *ptrEntry) nextRefresh() time.Time {
	if e.refreshSent >= len(refreshStages) || e.ttl == 0 || !e.expires.Equal(e.received.Add(e.ttl)) {
		return time.Time{} // done, or a goodbye shortened it
	}
	return e.received.Add(time.Duration(float64(e.ttl) * refreshStages[e.refreshSent]))
}

// refreshDue advances the refresh stage of every PTR whose refresh time has come and reports
// whether any did (the browser then queries at once).
func (c *ifaceCache) refreshDue(now time.Time) bool {
	due := false
	for _, e := range c.ptrs {
		for t := e.nextRefresh(); !t.IsZero() && !now.Before(t); t = e.nextRefresh() {
			e.refreshSent++
			due = true
		}
	}
	return due
}

// nextEvent returns the earliest expiry or refresh in the cache (zero if empty).
func (c *ifaceCache) nextEvent() time.Time {
	var next time.Time
	consider := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, e := range c.ptrs {
		consider(e.expires)
		consider(e.nextRefresh())
	}
	for _, e := range c.srvs {
		consider(e.expires)
	}
	for _, e := range c.txts {
		consider(e.expires)
	}
	for _, addrs := range c.hosts {
		for _, e := range addrs {
			consider(e.expires)
		}
	}
	return next
}

type knownAnswer struct {
	instance  string
	remaining time.Duration
}

// knownAnswers lists cached PTRs with more than half their TTL left, sorted by instance.
func (c *ifaceCache) knownAnswers(now time.Time) []knownAnswer {
	var out []knownAnswer
	for inst, e := range c.ptrs {
		if rem := e.expires.Sub(now); e.ttl > 0 && rem >= e.ttl/2 {
			out = append(out, knownAnswer{inst, rem})
		}
	}
	slices.SortFunc(out, func(a, b knownAnswer) int { return strings.Compare(a.instance, b.instance) })
	return out
}

// incomplete lists live instances whose SRV or TXT is missing, sorted.
func (c *ifaceCache) incomplete(now time.Time) []string {
	var out []string
	for inst, e := range c.ptrs {
		if now.Before(e.expires) && (c.srvs[inst] == nil || c.txts[inst] == nil) {
			out = append(out, inst)
		}
	}
	slices.Sort(out)
	return out
}

// resolved returns one peer per live, complete instance on the interface named via.
func (c *ifaceCache) resolved(now time.Time, via string) []Peer {
	var out []Peer
	for inst, p := range c.ptrs {
		srv, txt := c.srvs[inst], c.txts[inst]
		if !now.Before(p.expires) || srv == nil || txt == nil || !now.Before(srv.expires) || !now.Before(txt.expires) {
			continue
		}
		peer := Peer{NodeID: txt.rec.ID, Team: txt.rec.Team, Version: txt.rec.Version, Via: via}
		for a, e := range c.hosts[srv.target] {
			if now.Before(e.expires) {
				peer.Addrs = append(peer.Addrs, netip.AddrPortFrom(withZone(a, via), srv.port))
			}
		}
		if len(peer.Addrs) == 0 && usableAddr(srv.src) {
			peer.Addrs = append(peer.Addrs, netip.AddrPortFrom(withZone(srv.src, via), srv.port))
		}
		out = append(out, peer)
	}
	return out
}

// withZone scopes an IPv6 link-local address to the interface it was seen on.
func withZone(a netip.Addr, iface string) netip.Addr {
	if a.Is6() && (a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast()) {
		return a.WithZone(iface)
	}
	return a.WithZone("")
}

func compareAddrPort(a, b netip.AddrPort) int { return a.Compare(b) }

// refreshPeers recomputes the peer set from every interface's cache and emits Found for new or
// changed peers and Lost for vanished ones. A peer seen on several interfaces is reported once,
// with the union of its addresses, Via naming the lowest-indexed interface.
func (c *Core) refreshPeers(now time.Time) {
	current := map[mesh.NodeID]Peer{}
	for _, idx := range c.sortedIfaces() {
		st := c.ifaces[idx]
		for _, p := range st.cache.resolved(now, st.Name) {
			if p.NodeID == c.cfg.Self {
				continue
			}
			if have, ok := current[p.NodeID]; ok {
				have.Addrs = append(have.Addrs, p.Addrs...)
				p = have
			}
			current[p.NodeID] = p
		}
	}
	ids := make([]mesh.NodeID, 0, len(current)+len(c.published))
	for id, p := range current {
		slices.SortFunc(p.Addrs, compareAddrPort)
		p.Addrs = slices.Compact(p.Addrs)
		current[id] = p
		ids = append(ids, id)
	}
	for id := range c.published {
		if _, ok := current[id]; !ok {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, func(a, b mesh.NodeID) int { return strings.Compare(string(a[:]), string(b[:])) })
	for _, id := range ids {
		p, present := current[id]
		old, before := c.published[id]
		switch {
		case present && (!before || !old.equal(p)):
			c.out.Events = append(c.out.Events, Event{Kind: Found, Peer: p})
		case !present && before:
			c.out.Events = append(c.out.Events, Event{Kind: Lost, Peer: Peer{NodeID: id}})
		}
	}
	c.published = current
}
