package discovery

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/miekg/dns"
)

// Response delay for multicast answers to shared-record queries (RFC 6762 §6): 20–120 ms, and
// never the same record on the same interface twice within a second.
const (
	responseMinDelay  = 20 * time.Millisecond
	responseJitter    = 100 * time.Millisecond
	multicastSpacing  = time.Second
	goodbyeGrace      = time.Second // a TTL-0 record lingers this long (RFC 6762 §10.1)
	maxRecordsDecoded = 512         // records per packet looked at; more is malformed
)

// pendingResponse is a multicast answer waiting for its random delay; queries arriving in the
// meantime merge into it.
type pendingResponse struct {
	due   time.Time
	parts responseParts
}

// HandlePacket feeds one received datagram to the core. Anything may arrive here: oversized,
// truncated or hostile packets are counted under Stats.Malformed, logged, and dropped.
func (c *Core) HandlePacket(now time.Time, p Packet) {
	if c.stopped {
		return
	}
	c.stats.PacketsIn++
	if len(p.Data) > MaxPacketSize {
		c.malformed("oversized", p.Src, fmt.Errorf("%d bytes > %d", len(p.Data), MaxPacketSize))
		return
	}
	st := c.ifaces[p.IfIndex]
	if st == nil || !slices.Contains(c.cfg.Families, familyOf(p.Src.Addr())) {
		c.stats.UnknownInterface++
		return
	}
	m, err := unpack(p.Data)
	if err != nil {
		c.malformed("unpack", p.Src, err)
		return
	}
	if len(m.Answer)+len(m.Ns)+len(m.Extra)+len(m.Question) > maxRecordsDecoded {
		c.malformed("too many records", p.Src, nil)
		return
	}
	if m.Opcode != dns.OpcodeQuery || m.Rcode != dns.RcodeSuccess {
		c.stats.Foreign++ // RFC 6762 §18.3, §18.11: silently ignored
		return
	}
	if m.Response {
		if p.Src.Port() != Port {
			c.malformed("response from port other than 5353", p.Src, nil) // RFC 6762 §6
			return
		}
		c.handleResponse(now, st, p.Src, m)
		return
	}
	c.handleQuery(now, st, familyOf(p.Src.Addr()), p.Src, m)
}

// unpack decodes a DNS message. miekg/dns is fuzzed upstream; the recover is a last line of
// defence so that a decoder bug costs one packet, not the node.
func unpack(data []byte) (m *dns.Msg, err error) {
	defer func() {
		if r := recover(); r != nil {
			m, err = nil, fmt.Errorf("decoder panic: %v", r)
		}
	}()
	m = new(dns.Msg)
	if err := m.Unpack(data); err != nil {
		return nil, err
	}
	return m, nil
}

func ttlOf(h *dns.RR_Header) time.Duration {
	return min(time.Duration(h.Ttl)*time.Second, maxTTL)
}

// isInstance reports whether name is exactly one label under our service.
func (c *Core) isInstance(name string) bool {
	return dns.IsSubDomain(c.service, name) && dns.CountLabel(name) == dns.CountLabel(c.service)+1
}

func (c *Core) handleResponse(now time.Time, st *ifaceState, src netip.AddrPort, m *dns.Msg) {
	rrs := make([]dns.RR, 0, len(m.Answer)+len(m.Extra))
	rrs = append(append(rrs, m.Answer...), m.Extra...)
	relevant, own, greet := false, false, false
	// Service records first, so that address records can be matched to SRV targets.
	for _, rr := range rrs {
		h := rr.Header()
		if h.Class&^classFlush != dns.ClassINET {
			continue
		}
		name := dns.CanonicalName(h.Name)
		switch r := rr.(type) {
		case *dns.PTR:
			if name != c.service {
				continue
			}
			inst := dns.CanonicalName(r.Ptr)
			if !c.isInstance(inst) {
				c.malformed("service PTR points outside the service", src, errors.New(inst))
				continue
			}
			if inst == c.instance {
				own = true
				continue
			}
			relevant = true
			if h.Ttl == 0 {
				c.stats.Goodbyes++
			} else if _, known := st.cache.ptrs[inst]; !known {
				greet = true
			}
			if !st.cache.putPTR(now, inst, ttlOf(h)) {
				c.stats.CacheFull++
			}
		case *dns.SRV:
			if !c.isInstance(name) {
				continue
			}
			if name == c.instance {
				own = true
				continue
			}
			relevant = true
			if !st.cache.putSRV(now, name, dns.CanonicalName(r.Target), r.Port, src.Addr(), ttlOf(h)) {
				c.stats.CacheFull++
			}
		case *dns.TXT:
			if !c.isInstance(name) {
				continue
			}
			if name == c.instance {
				own = true
				continue
			}
			rec, err := decodeTXT(r.Txt)
			if err != nil {
				c.malformed("txt", src, err)
				continue
			}
			if rec.ID == c.cfg.Self {
				c.malformed("another instance claims our NodeID", src, errors.New(name))
				own = true
				continue
			}
			relevant = true
			if !st.cache.putTXT(now, name, rec, ttlOf(h)) {
				c.stats.CacheFull++
			}
		}
	}
	flushed := map[hostFamily]bool{}
	for _, rr := range rrs {
		h := rr.Header()
		var addr netip.Addr
		switch r := rr.(type) {
		case *dns.A:
			addr, _ = netip.AddrFromSlice(r.A.To4())
		case *dns.AAAA:
			addr, _ = netip.AddrFromSlice(r.AAAA.To16())
		default:
			continue
		}
		name := dns.CanonicalName(h.Name)
		if h.Class&^classFlush != dns.ClassINET || !st.cache.isTarget(name) || !usableAddr(addr) {
			continue
		}
		relevant = true
		key := hostFamily{name, familyOf(addr)}
		if h.Class&classFlush != 0 && !flushed[key] {
			flushed[key] = true
			st.cache.flushStale(now, key)
		}
		if !st.cache.putAddr(now, name, addr, ttlOf(h)) {
			c.stats.CacheFull++
		}
	}
	if own {
		c.stats.Own++
	}
	if greet {
		// A newcomer announced itself: answer as if it had asked, so that it learns of us
		// from this response too, not only from the answer to its first query (the two
		// merge into one packet when they fall within the same response delay).
		c.stats.Greetings++
		c.scheduleMulticast(now, st, familyOf(src.Addr()), responseParts{full: true})
	}
	if !relevant {
		if !own {
			c.stats.Foreign++
		}
		return
	}
	c.refreshPeers(now)
}

func usableAddr(a netip.Addr) bool {
	return a.IsValid() && !a.IsUnspecified() && !a.IsMulticast() && !a.IsLoopback()
}

func (c *Core) handleQuery(now time.Time, st *ifaceState, fam Family, src netip.AddrPort, m *dns.Msg) {
	var parts responseParts
	direct, unicast := false, false
	for _, q := range m.Question {
		class := q.Qclass &^ classFlush
		if class != dns.ClassINET && class != dns.ClassANY {
			continue
		}
		name := dns.CanonicalName(q.Name)
		any := q.Qtype == dns.TypeANY
		switch {
		case name == c.service && (q.Qtype == dns.TypePTR || any):
			parts.full = true
		case name == c.enumName && (q.Qtype == dns.TypePTR || any):
			parts.enum = true
		case name == c.instance && (q.Qtype == dns.TypeSRV || q.Qtype == dns.TypeTXT || any),
			name == c.host && (q.Qtype == dns.TypeA || q.Qtype == dns.TypeAAAA || any):
			parts.full, direct = true, true
		default:
			continue
		}
		if q.Qclass&classFlush != 0 {
			unicast = true
		}
	}
	if parts.full && !direct && c.knownByQuerier(m) {
		parts.full = false
		c.stats.Suppressed++
	}
	if !parts.full && !parts.enum {
		return
	}
	c.stats.QueriesAnswered++
	if src.Port() != Port { // legacy unicast querier (RFC 6762 §6.7)
		c.emit(st, fam, src, c.buildResponse(st.Interface, c.cfg.Schedule.RecordTTL, parts, m))
		c.stats.ResponsesSent++
		return
	}
	if unicast { // QU question (RFC 6762 §5.4)
		c.emit(st, fam, src, c.buildResponse(st.Interface, c.cfg.Schedule.RecordTTL, parts, nil))
		c.stats.ResponsesSent++
		return
	}
	c.scheduleMulticast(now, st, fam, parts)
}

// scheduleMulticast queues a multicast response after 20–120 ms, no sooner than a second after
// the previous one on the same interface and family, merging with one already queued.
func (c *Core) scheduleMulticast(now time.Time, st *ifaceState, fam Family, parts responseParts) {
	if p, ok := st.pending[fam]; ok {
		p.parts.full = p.parts.full || parts.full
		p.parts.enum = p.parts.enum || parts.enum
		return
	}
	due := now.Add(responseMinDelay + time.Duration(c.rng.Int64N(int64(responseJitter))))
	if last, ok := st.lastMulticast[fam]; ok && due.Before(last.Add(multicastSpacing)) {
		due = last.Add(multicastSpacing)
	}
	st.pending[fam] = &pendingResponse{due: due, parts: parts}
}

// knownByQuerier reports whether the query lists our PTR as a known answer with at least half
// its TTL left (RFC 6762 §7.1).
func (c *Core) knownByQuerier(m *dns.Msg) bool {
	for _, rr := range m.Answer {
		r, ok := rr.(*dns.PTR)
		if ok && dns.CanonicalName(r.Hdr.Name) == c.service && dns.CanonicalName(r.Ptr) == c.instance &&
			time.Duration(r.Hdr.Ttl)*time.Second >= c.cfg.Schedule.RecordTTL/2 {
			return true
		}
	}
	return false
}
