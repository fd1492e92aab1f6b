package discovery

import (
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// FuzzHandlePacket feeds arbitrary datagrams to the core's network entry point. Whatever
// arrives, the core must not panic, must count the packet, must only report real peers and
// must only send bounded, decodable packets.
func FuzzHandlePacket(f *testing.F) {
	seed, err := NewCore(CoreConfig{Self: testID(0x55), Port: 4433, Team: "seed"})
	if err != nil {
		f.Fatal(err)
	}
	in := Interface{Index: 2, Name: "eth0", Addrs: []netip.Addr{netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("fe80::5")}}
	f.Add(seed.buildResponse(in, time.Minute, responseParts{full: true, enum: true}, nil), uint16(Port))
	f.Add(seed.buildResponse(in, 0, responseParts{full: true}, nil), uint16(Port))
	st := &ifaceState{Interface: in, cache: newIfaceCache()}
	f.Add(seed.buildQuery(st, simEpoch), uint16(Port))
	f.Add(query(DefaultService+".local.", dns.TypePTR, dns.ClassINET, 9), uint16(40000))
	f.Add(query("_services._dns-sd._udp.local.", dns.TypeANY, dns.ClassINET|classFlush, 0), uint16(Port))
	f.Add([]byte{0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0}, uint16(Port))
	f.Add([]byte("garbage"), uint16(Port))

	f.Fuzz(func(t *testing.T, data []byte, port uint16) {
		self := testID(0xA1)
		c, err := NewCore(CoreConfig{Self: self, Port: 1, Team: "fuzz", Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		now := simEpoch
		c.SetInterfaces(now, []Interface{{Index: 2, Name: "eth0", Addrs: []netip.Addr{netip.MustParseAddr("10.0.0.1"),
			netip.MustParseAddr("fe80::1")}}})
		c.Ready()
		c.HandlePacket(now, Packet{IfIndex: 2, Src: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.9"), port), Data: data})
		c.HandlePacket(now, Packet{IfIndex: 2, Src: netip.AddrPortFrom(netip.MustParseAddr("fe80::9%eth0"), port), Data: data})
		if got := c.Stats().PacketsIn; got != 2 {
			t.Fatalf("PacketsIn = %d, want 2", got)
		}
		for range 5 {
			now = now.Add(700 * time.Millisecond)
			c.Tick(now)
		}
		c.Tick(now.Add(3 * time.Hour)) // past every TTL
		r := c.Ready()
		for _, o := range r.Sends {
			if len(o.Data) > MaxPacketSize {
				t.Fatalf("sent %d bytes", len(o.Data))
			}
			if err := new(dns.Msg).Unpack(o.Data); err != nil {
				t.Fatalf("sent an undecodable packet: %v", err)
			}
		}
		for _, ev := range r.Events {
			if ev.Peer.NodeID.IsZero() || ev.Peer.NodeID == self {
				t.Fatalf("event about %v", ev.Peer.NodeID)
			}
		}
		if len(c.Peers()) != 0 {
			t.Fatalf("peers outlived every TTL: %v", c.Peers())
		}
	})
}

// FuzzDecodeTXT checks that TXT decoding never panics and that whatever it accepts encodes
// back to the same record.
func FuzzDecodeTXT(f *testing.F) {
	f.Add("id="+testID(1).String(), "v=1", `team=caf\195\169 \"7\"`)
	f.Add("id=zz", "v=x", `team=\`)
	f.Add("ID="+testID(2).String(), "V=255", "team=")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		rec, err := decodeTXT([]string{a, b, c})
		if err != nil {
			return
		}
		again, err := decodeTXT(encodeTXT(rec))
		if err != nil || again != rec {
			t.Fatalf("re-encoding %+v gave %+v, %v", rec, again, err)
		}
	})
}
