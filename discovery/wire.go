package discovery

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"meshcomm/mesh"
)

// Wire limits.
const (
	maxTeamLen = 64
	// maxTTL caps the TTL accepted from the network so that a bogus record cannot linger.
	maxTTL = 2 * time.Hour
	// legacyTTL caps TTLs in replies to legacy (non-5353) queriers (RFC 6762 §6.7).
	legacyTTL = 10 * time.Second
	// queryBudget bounds a query's size: known answers that do not fit are left out (their
	// owners then answer, which costs traffic but loses nothing).
	queryBudget = 1400
	// maxIncompleteQuestions bounds the SRV/TXT questions added for half-known instances.
	maxIncompleteQuestions = 8
	// classFlush is the cache-flush bit of a resource record's class (RFC 6762 §10.2); in a
	// question the same bit asks for a unicast reply (QU, §5.4).
	classFlush = 0x8000
)

// txtRecord is the content of this service's TXT record.
type txtRecord struct {
	ID      mesh.NodeID
	Version int
	Team    string
}

// encodeTXT renders the TXT strings in the escaped presentation form miekg/dns packs.
func encodeTXT(r txtRecord) []string {
	return []string{
		"id=" + r.ID.String(),
		"v=" + strconv.Itoa(r.Version),
		"team=" + txtEscape(r.Team),
	}
}

// decodeTXT parses TXT strings as miekg/dns unpacked them (escaped presentation form). Keys
// are case-insensitive and unknown keys are ignored (RFC 6763 §6.4); id and v are required.
func decodeTXT(strs []string) (txtRecord, error) {
	var r txtRecord
	var haveID, haveV bool
	for _, s := range strs {
		raw, err := txtUnescape(s)
		if err != nil {
			return r, err
		}
		key, val, _ := strings.Cut(raw, "=")
		switch strings.ToLower(key) {
		case "id":
			b, err := hex.DecodeString(val)
			if err != nil || len(b) != mesh.IDBytes {
				return r, fmt.Errorf("txt id %q is not %d hex bytes", val, mesh.IDBytes)
			}
			copy(r.ID[:], b)
			if r.ID.IsZero() {
				return r, errors.New("txt id is zero")
			}
			haveID = true
		case "v":
			v, err := strconv.Atoi(val)
			if err != nil || v < 1 || v > 255 {
				return r, fmt.Errorf("txt version %q is not 1..255", val)
			}
			r.Version, haveV = v, true
		case "team":
			if len(val) > maxTeamLen {
				return r, fmt.Errorf("txt team longer than %d bytes", maxTeamLen)
			}
			r.Team = val
		}
	}
	if !haveID || !haveV {
		return r, errors.New("txt lacks id or v")
	}
	return r, nil
}

// txtEscape renders raw bytes in the presentation form miekg/dns expects when packing a TXT
// string: quote and backslash escaped, unprintable bytes as \DDD.
func txtEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < ' ' || c > '~':
			fmt.Fprintf(&b, "\\%03d", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// txtUnescape reverses the escaping miekg/dns applies when unpacking a TXT string.
func txtUnescape(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 >= len(s) {
			return "", errors.New("txt string ends in a lone backslash")
		}
		if isDigit(s[i+1]) {
			if i+3 >= len(s) || !isDigit(s[i+2]) || !isDigit(s[i+3]) {
				return "", errors.New("txt string has a short \\DDD escape")
			}
			v := int(s[i+1]-'0')*100 + int(s[i+2]-'0')*10 + int(s[i+3]-'0')
			if v > 255 {
				return "", errors.New("txt string has a \\DDD escape above 255")
			}
			b.WriteByte(byte(v))
			i += 3
			continue
		}
		b.WriteByte(s[i+1])
		i++
	}
	return b.String(), nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// responseParts says what a response carries.
type responseParts struct {
	full bool // our PTR, SRV, TXT and address records
	enum bool // the DNS-SD service enumeration PTR (RFC 6763 §9)
}

// buildResponse packs our records for interface in. legacy, when set, is the query of a legacy
// unicast querier: its ID and questions are echoed, TTLs capped and cache-flush bits cleared.
func (c *Core) buildResponse(in Interface, ttl time.Duration, parts responseParts, legacy *dns.Msg) []byte {
	m := &dns.Msg{Compress: true}
	m.Response, m.Authoritative = true, true
	flush := uint16(dns.ClassINET | classFlush)
	if legacy != nil {
		m.Id = legacy.Id
		m.Question = legacy.Question
		ttl = min(ttl, legacyTTL)
		flush = dns.ClassINET
	}
	secs := uint32(ttl / time.Second)
	hdr := func(name string, t, class uint16) dns.RR_Header {
		return dns.RR_Header{Name: name, Rrtype: t, Class: class, Ttl: secs}
	}
	if parts.enum {
		m.Answer = append(m.Answer, &dns.PTR{Hdr: hdr(c.enumName, dns.TypePTR, dns.ClassINET), Ptr: c.service})
	}
	if parts.full {
		m.Answer = append(m.Answer,
			&dns.PTR{Hdr: hdr(c.service, dns.TypePTR, dns.ClassINET), Ptr: c.instance},
			&dns.SRV{Hdr: hdr(c.instance, dns.TypeSRV, flush), Port: c.cfg.Port, Target: c.host},
			&dns.TXT{Hdr: hdr(c.instance, dns.TypeTXT, flush), Txt: c.txt})
		for _, a := range in.Addrs {
			ip := net.IP(a.WithZone("").AsSlice())
			if familyOf(a) == IPv4 {
				m.Extra = append(m.Extra, &dns.A{Hdr: hdr(c.host, dns.TypeA, flush), A: ip.To4()})
			} else {
				m.Extra = append(m.Extra, &dns.AAAA{Hdr: hdr(c.host, dns.TypeAAAA, flush), AAAA: ip})
			}
		}
	}
	data, err := m.Pack()
	if err != nil {
		c.log.Error("cannot pack mDNS response", "err", err)
		return nil
	}
	return data
}

// buildQuery packs a browse query for interface st: the service PTR question, SRV/TXT questions
// for instances half known, and as known answers our own PTR (so our own responder, hearing the
// query through multicast loopback, stays quiet) plus every cached PTR still above half its TTL
// (RFC 6762 §7.1), as many as fit in queryBudget.
func (c *Core) buildQuery(st *ifaceState, now time.Time) []byte {
	m := &dns.Msg{Compress: true}
	m.Question = []dns.Question{{Name: c.service, Qtype: dns.TypePTR, Qclass: dns.ClassINET}}
	for i, inst := range st.cache.incomplete(now) {
		if i == maxIncompleteQuestions {
			break
		}
		m.Question = append(m.Question,
			dns.Question{Name: inst, Qtype: dns.TypeSRV, Qclass: dns.ClassINET},
			dns.Question{Name: inst, Qtype: dns.TypeTXT, Qclass: dns.ClassINET})
	}
	known := func(inst string, ttl time.Duration) *dns.PTR {
		return &dns.PTR{Hdr: dns.RR_Header{Name: c.service, Rrtype: dns.TypePTR, Class: dns.ClassINET,
			Ttl: uint32(ttl / time.Second)}, Ptr: inst}
	}
	m.Answer = append(m.Answer, known(c.instance, c.cfg.Schedule.RecordTTL))
	for _, ka := range st.cache.knownAnswers(now) {
		m.Answer = append(m.Answer, known(ka.instance, ka.remaining))
		if m.Len() > queryBudget {
			m.Answer = m.Answer[:len(m.Answer)-1]
			break
		}
	}
	data, err := m.Pack()
	if err != nil {
		c.log.Error("cannot pack mDNS query", "err", err)
		return nil
	}
	return data
}
