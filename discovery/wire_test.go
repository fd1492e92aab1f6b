package discovery

import (
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestTXTRoundTripsThroughTheWire(t *testing.T) {
	for _, team := range []string{"", "engine-7", `with "quotes" and \back\slashes`, "Équipe 3 – Lyon", "tab\there", "a=b"} {
		c, err := NewCore(CoreConfig{Self: testID(9), Port: 1, Team: team})
		if err != nil {
			t.Fatal(err)
		}
		data := c.buildResponse(Interface{Addrs: []netip.Addr{netip.MustParseAddr("10.0.0.1")}}, time.Minute,
			responseParts{full: true}, nil)
		m := new(dns.Msg)
		if err := m.Unpack(data); err != nil {
			t.Fatal(err)
		}
		var got txtRecord
		for _, rr := range m.Answer {
			if txt, ok := rr.(*dns.TXT); ok {
				if got, err = decodeTXT(txt.Txt); err != nil {
					t.Fatalf("team %q: %v", team, err)
				}
			}
		}
		want := txtRecord{ID: testID(9), Version: ProtocolVersion, Team: team}
		if got != want {
			t.Errorf("TXT round trip: got %+v, want %+v", got, want)
		}
	}
}

func TestDecodeTXTRejects(t *testing.T) {
	id := testID(1).String()
	for name, strs := range map[string][]string{
		"no id":        {"v=1"},
		"no version":   {"id=" + id},
		"short id":     {"id=abcd", "v=1"},
		"zero id":      {"id=00000000000000000000000000000000", "v=1"},
		"bad version":  {"id=" + id, "v=0"},
		"long team":    {"id=" + id, "v=1", "team=" + string(make([]byte, maxTeamLen+1))},
		"lone escape":  {"id=" + id, "v=1", `team=x\`},
		"short escape": {"id=" + id, "v=1", `team=\12`},
		"big escape":   {"id=" + id, "v=1", `team=\999`},
	} {
		if _, err := decodeTXT(strs); err == nil {
			t.Errorf("%s: %q accepted", name, strs)
		}
	}
	// Keys are case-insensitive and unknown keys are ignored.
	got, err := decodeTXT([]string{"ID=" + id, "V=2", "future=thing", "team=x"})
	if err != nil || got.ID != testID(1) || got.Version != 2 || got.Team != "x" {
		t.Errorf("decodeTXT = %+v, %v", got, err)
	}
}

func TestQueryStaysWithinBudget(t *testing.T) {
	n := newSimNet(t, 11)
	a := n.addNode(0xA1, "eth0", "10.0.0.1")
	n.start(a)
	// Fill the cache with many complete peers, far more than fit as known answers.
	for i := range 200 {
		if byte(i) == 0xA1 {
			continue // a itself
		}
		other, err := NewCore(CoreConfig{Self: testID(byte(i)), Port: 9, Team: "t"})
		if err != nil {
			t.Fatal(err)
		}
		n.deliver(a, "10.0.0.9:5353", other.buildResponse(Interface{Addrs: []netip.Addr{
			netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})}}, time.Minute, responseParts{full: true}, nil))
	}
	n.run(2 * time.Second)
	qs := 0
	for _, s := range a.sent {
		if !s.msg.Response {
			qs++
			if len(s.Data) > queryBudget {
				t.Errorf("query of %d bytes exceeds the budget %d", len(s.Data), queryBudget)
			}
			if len(s.msg.Answer) < 10 {
				t.Errorf("query carries only %d known answers", len(s.msg.Answer))
			}
		}
	}
	if qs == 0 {
		t.Fatal("no queries sent")
	}
}
