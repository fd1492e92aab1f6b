package discovery

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func twoNodes(t *testing.T) (*simNet, *simNode, *simNode) {
	n := newSimNet(t, 1)
	a := n.addNode(0xA1, "wlan0", "10.0.0.1", "fe80::1")
	b := n.addNode(0xB2, "eth1", "10.0.0.2", "fe80::2")
	return n, a, b
}

func TestTwoNodesFindEachOther(t *testing.T) {
	n, a, b := twoNodes(t)
	n.start(a)
	n.start(b)
	n.run(5 * time.Second)

	found, ok := a.firstEvent(Found, b.id)
	if !ok {
		t.Fatalf("a never found b; a's events: %v", a.events)
	}
	if d := found.at.Sub(simEpoch); d > 200*time.Millisecond {
		t.Errorf("a found b after %v, want within the first announcement round", d)
	}
	want := Peer{NodeID: b.id, Team: "engine-7", Version: ProtocolVersion, Via: "wlan0", Addrs: []netip.AddrPort{
		netip.MustParseAddrPort("10.0.0.2:4178"), netip.AddrPortFrom(netip.MustParseAddr("fe80::2%wlan0"), 4178)}}
	slices.SortFunc(want.Addrs, compareAddrPort)
	if got, _ := a.peerOf(b.id); !got.equal(want) {
		t.Errorf("a's view of b = %+v, want %+v", got, want)
	}
	if _, ok := b.firstEvent(Found, a.id); !ok {
		t.Fatalf("b never found a")
	}
	if got, _ := b.peerOf(a.id); got.Via != "eth1" || len(got.Addrs) != 2 || got.Addrs[0].Port() != 4161 {
		t.Errorf("b's view of a = %+v", got)
	}
	if c := a.countEvents(Found, b.id); c != 1 {
		t.Errorf("a reported b %d times, want once (nothing changed)", c)
	}
}

func TestGoodbyeProducesLost(t *testing.T) {
	n, a, b := twoNodes(t)
	n.start(a)
	n.start(b)
	n.run(3 * time.Second)
	if _, ok := a.peerOf(b.id); !ok {
		t.Fatal("a did not find b")
	}
	stopAt := n.now
	n.stop(b)
	n.run(5 * time.Second)
	lost, ok := a.firstEvent(Lost, b.id)
	if !ok {
		t.Fatal("goodbye did not produce Lost")
	}
	// A TTL-0 record lingers one second (RFC 6762 §10.1).
	if d := lost.at.Sub(stopAt); d < goodbyeGrace || d > goodbyeGrace+100*time.Millisecond {
		t.Errorf("Lost came %v after the goodbye, want %v plus the link latency", d, goodbyeGrace)
	}
	if lost.Peer.NodeID != b.id || len(lost.Peer.Addrs) != 0 {
		t.Errorf("Lost event = %+v", lost.Peer)
	}
	if c := a.countEvents(Lost, b.id); c != 1 {
		t.Errorf("a reported b lost %d times", c)
	}
	if a.core.Stats().Goodbyes == 0 {
		t.Error("goodbye not counted")
	}
}

func TestSilentDepartureExpiresAtTTL(t *testing.T) {
	n, a, b := twoNodes(t)
	n.start(a)
	n.start(b)
	n.run(70 * time.Second) // into the slow phase, past at least one refresh
	gone := n.now
	n.vanish(b)
	lastHeard := a.lastHeard[b.id]
	n.run(3 * time.Minute)
	lost, ok := a.firstEvent(Lost, b.id)
	if !ok {
		t.Fatal("a never noticed b was gone")
	}
	ttl := DefaultSchedule().RecordTTL
	if !lost.at.Equal(lastHeard.Add(ttl)) {
		t.Errorf("Lost at %v, want last response (%v) + TTL %v", lost.at.Sub(simEpoch), lastHeard.Sub(simEpoch), ttl)
	}
	if lost.at.Sub(gone) > ttl {
		t.Errorf("Lost %v after departure, more than the TTL", lost.at.Sub(gone))
	}
	// While b was silent, a re-queried at 80/85/90/95% of the TTL.
	var late int
	for _, q := range a.queries(IPv4) {
		if q.After(lastHeard.Add(ttl*79/100)) && q.Before(lastHeard.Add(ttl)) {
			late++
		}
	}
	if late < len(refreshStages) {
		t.Errorf("a sent %d queries in the last fifth of b's TTL, want at least %d refreshes", late, len(refreshStages))
	}
}

func TestOwnPacketsIgnored(t *testing.T) {
	n := newSimNet(t, 2)
	n.loopback = true
	a := n.addNode(0xA1, "eth0", "10.0.0.1", "fe80::1")
	n.start(a)
	n.run(40 * time.Second)
	for _, ev := range a.events {
		t.Errorf("lone node reported %v %s", ev.Kind, ev.Peer.NodeID.Short())
	}
	st := a.core.Stats()
	if st.Own == 0 {
		t.Error("own announcements heard through loopback were not counted as own")
	}
	// Our queries list our own PTR as a known answer, so our responder does not answer them.
	if st.QueriesAnswered != 0 || st.Suppressed == 0 {
		t.Errorf("own queries: answered %d, suppressed %d; want 0 answered", st.QueriesAnswered, st.Suppressed)
	}
	if got := len(a.responses(IPv4)); got != DefaultSchedule().Announcements {
		t.Errorf("lone node multicast %d responses on IPv4, want only its %d announcements", got, DefaultSchedule().Announcements)
	}
}

// foreignResponse packs a complete, well-formed announcement of some other service.
func foreignResponse(t *testing.T, service string, id byte) []byte {
	t.Helper()
	other, err := NewCore(CoreConfig{Self: testID(id), Port: 9, Team: "x", Service: service})
	if err != nil {
		t.Fatal(err)
	}
	return other.buildResponse(Interface{Addrs: []netip.Addr{netip.MustParseAddr("10.0.0.9")}}, time.Minute,
		responseParts{full: true}, nil)
}

func TestServiceFiltering(t *testing.T) {
	n := newSimNet(t, 3)
	a := n.addNode(0xA1, "eth0", "10.0.0.1")
	n.start(a)
	n.deliver(a, "10.0.0.9:5353", foreignResponse(t, "_printer._tcp", 0x33))
	n.deliver(a, "10.0.0.9:5353", foreignResponse(t, "_meshcomx._udp", 0x34))
	if len(a.events) != 0 {
		t.Fatalf("foreign services produced events: %v", a.events)
	}
	if got := a.core.Stats().Foreign; got != 2 {
		t.Errorf("Foreign = %d, want 2", got)
	}
	// The same records under our service are accepted.
	n.deliver(a, "10.0.0.9:5353", foreignResponse(t, DefaultService, 0x35))
	if _, ok := a.firstEvent(Found, testID(0x35)); !ok {
		t.Errorf("a response for our service was not accepted (stats %+v)", a.core.Stats())
	}
	// A PTR for our service naming an instance of another service is refused and counted.
	m := &dns.Msg{}
	m.Response = true
	m.Answer = []dns.RR{&dns.PTR{Hdr: dns.RR_Header{Name: a.core.ServiceName(), Rrtype: dns.TypePTR,
		Class: dns.ClassINET, Ttl: 60}, Ptr: "evil._printer._tcp.local."}}
	data, _ := m.Pack()
	n.deliver(a, "10.0.0.9:5353", data)
	if got := a.core.Stats().Malformed["service PTR points outside the service"]; got != 1 {
		t.Errorf("stray PTR counted %d times, want 1", got)
	}
}

func TestBrowseScheduleFastSlowFastAgain(t *testing.T) {
	n := newSimNet(t, 4)
	n.loopback = false
	a := n.addNode(0xA1, "eth0", "10.0.0.1")
	n.start(a)
	sch := DefaultSchedule()
	n.run(75 * time.Second)
	changeAt := n.now
	n.setAddrs(a, "10.0.0.1", "10.0.0.100") // an address change: the link-change signal
	n.run(75 * time.Second)

	qs := a.queries(IPv4)
	if len(qs) == 0 || qs[0].Sub(simEpoch) < firstQueryMinDelay || qs[0].Sub(simEpoch) > firstQueryMinDelay+firstQueryJitter {
		t.Fatalf("first query at %v, want 20–120 ms after start", qs[0].Sub(simEpoch))
	}
	checkPhase := func(start time.Time, qs []time.Time) {
		t.Helper()
		fastEnd := qs[0].Add(sch.FastPeriod)
		fast, slow := 0, 0
		for i := 1; i < len(qs); i++ {
			gap := qs[i].Sub(qs[i-1])
			if qs[i-1].Before(fastEnd) {
				fast++
				if gap != sch.FastInterval {
					t.Errorf("gap %v in the fast phase (query at %v), want %v", gap, qs[i].Sub(start), sch.FastInterval)
				}
			} else {
				slow++
				if gap < sch.SlowInterval*9/10 || gap > sch.SlowInterval*11/10 {
					t.Errorf("gap %v in the slow phase, want %v ±10%%", gap, sch.SlowInterval)
				}
			}
		}
		if fast != int(sch.FastPeriod/sch.FastInterval) || slow < 2 {
			t.Errorf("%d fast and %d slow gaps, want %d fast then at least 2 slow", fast, slow, sch.FastPeriod/sch.FastInterval)
		}
	}
	var before, after []time.Time
	for _, q := range qs {
		if q.Before(changeAt) {
			before = append(before, q)
		} else {
			after = append(after, q)
		}
	}
	checkPhase(simEpoch, before)
	if len(after) == 0 || after[0].Sub(changeAt) > firstQueryMinDelay+firstQueryJitter {
		t.Fatalf("no prompt query after the address change")
	}
	checkPhase(changeAt, after)

	// Announcements: at 0 s, 1 s, 3 s after start and again after the change, the latter
	// carrying the new address.
	var annAt []time.Duration
	for _, r := range a.responses(IPv4) {
		annAt = append(annAt, r.at.Sub(simEpoch))
	}
	c := changeAt.Sub(simEpoch)
	want := []time.Duration{0, time.Second, 3 * time.Second, c, c + time.Second, c + 3*time.Second}
	if !slices.Equal(annAt, want) {
		t.Errorf("announcements at %v, want %v", annAt, want)
	}
	last := a.responses(IPv4)
	if got := addrsIn(last[len(last)-1].msg); !slices.Contains(got, netip.MustParseAddr("10.0.0.100")) {
		t.Errorf("announcement after the change carries %v, want the new address", got)
	}
}

func addrsIn(m *dns.Msg) []netip.Addr {
	var out []netip.Addr
	for _, rr := range append(append([]dns.RR{}, m.Answer...), m.Extra...) {
		if r, ok := rr.(*dns.A); ok {
			a, _ := netip.AddrFromSlice(r.A.To4())
			out = append(out, a)
		}
	}
	return out
}

func TestNewInterfaceBrowsesFastOnlyThere(t *testing.T) {
	n := newSimNet(t, 5)
	a := n.addNode(0xA1, "eth0", "10.0.0.1")
	n.start(a)
	n.run(60 * time.Second)
	mark := len(a.sent)
	wifi := Interface{Index: 99, Name: "wlan0", Addrs: []netip.Addr{netip.MustParseAddr("192.168.1.5")}}
	a.core.SetInterfaces(n.now, []Interface{a.iface, wifi})
	n.collect(a)
	n.run(10 * time.Second)
	perIface := map[int]int{}
	for _, s := range a.sent[mark:] {
		if !s.msg.Response {
			perIface[s.IfIndex]++
		}
	}
	if perIface[99] < 9 {
		t.Errorf("new interface got %d queries in its first 10 s, want fast browsing", perIface[99])
	}
	if perIface[a.iface.Index] > 1 {
		t.Errorf("unchanged interface got %d queries in 10 s, want it to stay slow", perIface[a.iface.Index])
	}
}

func TestKnownAnswerSuppression(t *testing.T) {
	n, a, b := twoNodes(t)
	n.start(a)
	n.start(b)
	n.run(4 * time.Minute)
	if a.core.Stats().Suppressed == 0 {
		t.Error("a never suppressed an answer to a query that listed it as known")
	}
	if c := b.countEvents(Lost, a.id); c != 0 {
		t.Errorf("b lost a %d times on a lossless link", c)
	}
	// b queries every ~20 s but a answers only when its record in b's cache is past half life.
	var answers int
	for _, r := range a.responses(IPv4) {
		if r.at.After(simEpoch.Add(time.Minute)) {
			answers++
		}
	}
	if q := len(b.queries(IPv4)); answers*2 > q {
		t.Errorf("a multicast %d responses against %d queries from b in the slow phase", answers, q)
	}
}

func TestInterfaceRemovalLosesPeers(t *testing.T) {
	n, a, b := twoNodes(t)
	n.start(a)
	n.start(b)
	n.run(2 * time.Second)
	a.core.SetInterfaces(n.now, nil)
	n.collect(a)
	if lost, ok := a.firstEvent(Lost, b.id); !ok || !lost.at.Equal(n.now) {
		t.Errorf("removing the interface did not lose b at once: %v", a.events)
	}
}

func TestAddressChangeUpdatesPeer(t *testing.T) {
	n, a, b := twoNodes(t)
	n.start(a)
	n.start(b)
	n.run(5 * time.Second)
	n.setAddrs(b, "10.0.0.22", "fe80::2")
	n.run(5 * time.Second)
	got, ok := a.peerOf(b.id)
	if !ok {
		t.Fatal("a lost b")
	}
	want := []netip.AddrPort{netip.MustParseAddrPort("10.0.0.22:4178"),
		netip.AddrPortFrom(netip.MustParseAddr("fe80::2%wlan0"), 4178)}
	if !slices.Equal(got.Addrs, want) {
		t.Errorf("after b's address change a has %v, want %v (old address flushed)", got.Addrs, want)
	}
	if last := a.events[len(a.events)-1]; last.Kind != Found || !slices.Equal(last.Peer.Addrs, want) {
		t.Errorf("last event %v %v, want Found with the new addresses", last.Kind, last.Peer.Addrs)
	}
}

func query(name string, qtype, qclass uint16, id uint16) []byte {
	m := &dns.Msg{}
	m.Id = id
	m.Question = []dns.Question{{Name: name, Qtype: qtype, Qclass: qclass}}
	data, _ := m.Pack()
	return data
}

func TestLegacyUnicastQuery(t *testing.T) {
	n := newSimNet(t, 6)
	a := n.addNode(0xA1, "eth0", "10.0.0.1")
	n.start(a)
	n.run(5 * time.Second)
	mark := len(a.sent)
	n.deliver(a, "10.0.0.9:40000", query(a.core.ServiceName(), dns.TypePTR, dns.ClassINET, 77))
	sent := a.sent[mark:]
	if len(sent) != 1 || sent[0].Dst != netip.MustParseAddrPort("10.0.0.9:40000") {
		t.Fatalf("legacy query answered with %+v, want one unicast reply to the querier", sent)
	}
	m := sent[0].msg
	if m.Id != 77 || len(m.Question) != 1 || !m.Response {
		t.Errorf("legacy reply header %+v, want ID 77 and the question echoed", m.MsgHdr)
	}
	for _, rr := range m.Answer {
		if rr.Header().Ttl > uint32(legacyTTL/time.Second) || rr.Header().Class&classFlush != 0 {
			t.Errorf("legacy reply record %v: TTL above 10 s or cache-flush set", rr)
		}
	}
}

func TestQUQueryGetsImmediateUnicast(t *testing.T) {
	n := newSimNet(t, 7)
	a := n.addNode(0xA1, "eth0", "10.0.0.1")
	n.start(a)
	n.run(5 * time.Second)
	mark := len(a.sent)
	n.deliver(a, "10.0.0.9:5353", query(a.core.InstanceName(), dns.TypeSRV, dns.ClassINET|classFlush, 0))
	sent := a.sent[mark:]
	if len(sent) != 1 || sent[0].Dst != netip.MustParseAddrPort("10.0.0.9:5353") {
		t.Fatalf("QU query answered with %+v, want one unicast reply", sent)
	}
}

func TestServiceEnumeration(t *testing.T) {
	n := newSimNet(t, 8)
	a := n.addNode(0xA1, "eth0", "10.0.0.1")
	n.start(a)
	n.run(5 * time.Second)
	mark := len(a.sent)
	n.deliver(a, "10.0.0.9:5353", query("_services._dns-sd._udp.local.", dns.TypePTR, dns.ClassINET, 0))
	n.run(2 * time.Second)
	var got []string
	for _, s := range a.sent[mark:] {
		if !s.msg.Response {
			continue
		}
		for _, rr := range s.msg.Answer {
			if p, ok := rr.(*dns.PTR); ok {
				got = append(got, p.Hdr.Name+" -> "+p.Ptr)
			}
		}
	}
	want := "_services._dns-sd._udp.local. -> " + a.core.ServiceName()
	if !slices.Contains(got, want) || len(got) != 1 {
		t.Errorf("enumeration answered %v, want just %q", got, want)
	}
}

func TestResponsesAreDelayedAndSpaced(t *testing.T) {
	n := newSimNet(t, 9)
	a := n.addNode(0xA1, "eth0", "10.0.0.1")
	n.start(a)
	n.run(10 * time.Second)
	mark := len(a.sent)
	q := query(a.core.ServiceName(), dns.TypePTR, dns.ClassINET, 0)
	asked := n.now
	n.deliver(a, "10.0.0.9:5353", q)
	n.deliver(a, "10.0.0.8:5353", q) // merges into the pending answer
	n.run(500 * time.Millisecond)
	n.deliver(a, "10.0.0.9:5353", q) // within a second of the last multicast: deferred
	n.run(2 * time.Second)
	var at []time.Duration
	for _, s := range a.sent[mark:] {
		if s.msg.Response {
			at = append(at, s.at.Sub(asked))
		}
	}
	if len(at) != 2 || at[0] < responseMinDelay || at[0] > responseMinDelay+responseJitter || at[1]-at[0] != multicastSpacing {
		t.Errorf("responses at %v after the first query, want one after 20–120 ms and the next 1 s later", at)
	}
}

func TestMalformedPacketsCountedAndSurvived(t *testing.T) {
	n, a, b := twoNodes(t)
	n.start(a)
	n.deliver(a, "10.0.0.9:5353", []byte{0xde, 0xad, 0xbe, 0xef})
	n.deliver(a, "10.0.0.9:5353", make([]byte, MaxPacketSize+1))
	// A well-formed response for our service whose TXT lacks the NodeID.
	bad := foreignResponse(t, DefaultService, 0x44)
	m := new(dns.Msg)
	if err := m.Unpack(bad); err != nil {
		t.Fatal(err)
	}
	for _, rr := range m.Answer {
		if txt, ok := rr.(*dns.TXT); ok {
			txt.Txt = []string{"v=1", "team=x"}
		}
	}
	bad, _ = m.Pack()
	n.deliver(a, "10.0.0.9:5353", bad)
	// A response from a port other than 5353.
	n.deliver(a, "10.0.0.9:1234", foreignResponse(t, DefaultService, 0x45))
	st := a.core.Stats()
	for _, reason := range []string{"unpack", "oversized", "txt", "response from port other than 5353"} {
		if st.Malformed[reason] != 1 {
			t.Errorf("Malformed[%q] = %d, want 1 (all: %v)", reason, st.Malformed[reason], st.Malformed)
		}
	}
	if len(a.events) != 0 {
		t.Errorf("bad packets produced events: %v", a.events)
	}
	n.start(b)
	n.run(2 * time.Second)
	if _, ok := a.peerOf(b.id); !ok {
		t.Error("after bad packets a no longer discovers peers")
	}
}

func TestCacheBound(t *testing.T) {
	n := newSimNet(t, 10)
	a := n.addNode(0xA1, "eth0", "10.0.0.1")
	n.start(a)
	m := &dns.Msg{}
	m.Response = true
	for i := range maxInstances + 10 {
		m.Answer = []dns.RR{&dns.PTR{Hdr: dns.RR_Header{Name: a.core.ServiceName(), Rrtype: dns.TypePTR,
			Class: dns.ClassINET, Ttl: 60}, Ptr: testID(byte(i)).String() + string(rune('a'+i%26)) +
			string(rune('a'+i/26%26)) + "." + a.core.ServiceName()}}
		data, _ := m.Pack()
		n.deliver(a, "10.0.0.9:5353", data)
	}
	st := a.core.Stats()
	if st.CacheFull != 10 {
		t.Errorf("CacheFull = %d, want 10", st.CacheFull)
	}
	if got := len(a.core.ifaces[a.iface.Index].cache.ptrs); got != maxInstances {
		t.Errorf("cache holds %d PTRs, want the bound %d", got, maxInstances)
	}
}

func TestNewCoreRejectsBadConfig(t *testing.T) {
	for name, cfg := range map[string]CoreConfig{
		"zero id":      {Port: 1},
		"bad service":  {Self: testID(1), Service: "meshcomm"},
		"long team":    {Self: testID(1), Team: string(make([]byte, maxTeamLen+1))},
		"bad schedule": {Self: testID(1), Schedule: Schedule{FastInterval: time.Second, SlowInterval: time.Second, RecordTTL: time.Second}},
	} {
		if _, err := NewCore(cfg); err == nil {
			t.Errorf("%s: NewCore accepted %+v", name, cfg)
		}
	}
}

func TestNewcomerAnnouncementIsAnswered(t *testing.T) {
	n := newSimNet(t, 12)
	a := n.addNode(0xA1, "eth0", "10.0.0.1")
	n.start(a)
	n.run(time.Minute)
	newcomer, err := NewCore(CoreConfig{Self: testID(0xB2), Port: 9, Team: "t"})
	if err != nil {
		t.Fatal(err)
	}
	ann := newcomer.buildResponse(Interface{Addrs: []netip.Addr{netip.MustParseAddr("10.0.0.2")}},
		DefaultSchedule().RecordTTL, responseParts{full: true}, nil)
	countResponses := func() int { return len(a.responses(IPv4)) }
	before := countResponses()
	heard := n.now
	n.deliver(a, "10.0.0.2:5353", ann)
	n.run(200 * time.Millisecond)
	rs := a.responses(IPv4)
	if len(rs) != before+1 || rs[len(rs)-1].at.Sub(heard) > responseMinDelay+responseJitter {
		t.Fatalf("a sent %d responses within 200 ms of a newcomer's announcement, want 1 within 120 ms", len(rs)-before)
	}
	// Hearing the same peer announce again is no news.
	n.run(5 * time.Second)
	before = countResponses()
	n.deliver(a, "10.0.0.2:5353", ann)
	n.run(2 * time.Second)
	if got := countResponses() - before; got != 0 {
		t.Errorf("a answered a known peer's announcement %d times", got)
	}
	if got := a.core.Stats().Greetings; got != 1 {
		t.Errorf("Greetings = %d, want 1", got)
	}
}

func TestImpostorOfOurNodeIDIgnored(t *testing.T) {
	n := newSimNet(t, 13)
	a := n.addNode(0xA1, "eth0", "10.0.0.1")
	n.start(a)
	twin, err := NewCore(CoreConfig{Self: a.id, Port: 9, Team: "t"})
	if err != nil {
		t.Fatal(err)
	}
	m := new(dns.Msg)
	if err := m.Unpack(twin.buildResponse(Interface{Addrs: []netip.Addr{netip.MustParseAddr("10.0.0.66")}},
		time.Minute, responseParts{full: true}, nil)); err != nil {
		t.Fatal(err)
	}
	impostor := "impostor." + a.core.ServiceName()
	for _, rr := range m.Answer {
		switch r := rr.(type) {
		case *dns.PTR:
			r.Ptr = impostor
		default:
			rr.Header().Name = impostor
		}
	}
	data, _ := m.Pack()
	n.deliver(a, "10.0.0.66:5353", data)
	if len(a.events) != 0 || len(a.core.Peers()) != 0 {
		t.Errorf("a packet claiming our NodeID produced %v", a.events)
	}
	if got := a.core.Stats().Malformed["another instance claims our NodeID"]; got != 1 {
		t.Errorf("impostor counted %d times, want 1", got)
	}
}
