package node

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"meshcomm/discovery"
	"meshcomm/mesh"
)

func TestOutboxDropsWhenFullAndFlushes(t *testing.T) {
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	var sent [][]byte
	send := func(ctx context.Context, to mesh.Contact, p []byte) error {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-release
		sent = append(sent, p) // one sender goroutine per peer: no race
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o := newOutbox(ctx, send, 2, slog.New(slog.DiscardHandler))
	peer := mesh.Contact{ID: mesh.NodeID{1}, Addr: "x"}
	if !o.enqueue(peer, []byte{1}) {
		t.Fatal("first frame dropped")
	}
	<-entered // the sender holds frame 1; the queue has room for 2 more
	if !o.enqueue(peer, []byte{2}) || !o.enqueue(peer, []byte{3}) {
		t.Fatal("frames dropped with room in the queue")
	}
	if o.enqueue(peer, []byte{4}) {
		t.Fatal("a frame was queued beyond the queue's depth")
	}
	if o.dropped.Load() != 1 {
		t.Errorf("dropped = %d, want 1", o.dropped.Load())
	}
	fctx, fcancel := context.WithTimeout(context.Background(), time.Millisecond)
	if err := o.flush(fctx); err == nil {
		t.Error("flush returned while frames were pending")
	}
	fcancel()
	close(release)
	fctx, fcancel = context.WithTimeout(context.Background(), wait)
	defer fcancel()
	if err := o.flush(fctx); err != nil {
		t.Fatal(err)
	}
	if len(sent) != 3 || sent[0][0] != 1 || sent[2][0] != 3 || o.sent.Load() != 3 || o.sentBytes.Load() != 3 {
		t.Errorf("sent %v (count %d)", sent, o.sent.Load())
	}
}

func TestOutboxDropsQueueBehindAFailedSend(t *testing.T) {
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	send := func(ctx context.Context, to mesh.Contact, p []byte) error {
		entered <- struct{}{}
		<-release
		return errors.New("unreachable")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o := newOutbox(ctx, send, 8, slog.New(slog.DiscardHandler))
	peer := mesh.Contact{ID: mesh.NodeID{1}}
	o.enqueue(peer, []byte{1})
	<-entered
	o.enqueue(peer, []byte{2})
	o.enqueue(peer, []byte{3})
	close(release)
	fctx, fcancel := context.WithTimeout(context.Background(), wait)
	defer fcancel()
	if err := o.flush(fctx); err != nil {
		t.Fatal(err)
	}
	if o.failed.Load() != 3 || o.sent.Load() != 0 {
		t.Errorf("failed = %d, sent = %d; want 3 failed", o.failed.Load(), o.sent.Load())
	}
	cancel()
	o.wait()
}

func TestBusSlowSubscriberLosesEventsCounted(t *testing.T) {
	b := NewBus()
	fast := b.Subscribe(10)
	slow := b.Subscribe(2)
	for i := range 5 {
		b.Publish(Event{Type: EventRecord, Version: uint64(i)})
	}
	if slow.Dropped() != 3 || fast.Dropped() != 0 || b.Dropped() != 3 {
		t.Errorf("dropped: slow %d fast %d bus %d", slow.Dropped(), fast.Dropped(), b.Dropped())
	}
	for i := range 2 {
		if ev := <-slow.C; ev.Version != uint64(i) {
			t.Errorf("slow got version %d, want %d (oldest kept)", ev.Version, i)
		}
	}
	slow.Close()
	slow.Close()
	if _, ok := <-slow.C; ok {
		t.Error("closed subscription still delivers")
	}
	b.Publish(Event{}) // no send on the closed channel
	if len(fast.C) != 6 {
		t.Errorf("fast subscriber holds %d events, want 6", len(fast.C))
	}
}

func TestDialerBackoffLearnAndRedial(t *testing.T) {
	self := mesh.NodeID{9}
	d := newDialer(self)
	t0 := time.Unix(1000, 0)
	d.addStatic("10.0.0.1:7070", t0)
	got := d.due(t0)
	if len(got) != 1 || got[0].to.Addr != "10.0.0.1:7070" || !got[0].to.ID.IsZero() {
		t.Fatalf("due at start: %+v", got)
	}
	if len(d.due(t0)) != 0 {
		t.Fatal("a target being dialled is due again")
	}
	// Failures back off 1 s, 2 s, 4 s ...
	now := t0
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		d.result(dialResult{key: "10.0.0.1:7070", err: errors.New("no")}, now)
		if next := d.nextWake(); next.Sub(now) != want {
			t.Fatalf("after failure %d the next dial is in %v, want %v", i+1, next.Sub(now), want)
		}
		now = d.nextWake()
		if len(d.due(now)) != 1 {
			t.Fatalf("not due after back-off %d", i+1)
		}
	}
	peer := mesh.NodeID{7}
	d.result(dialResult{key: "10.0.0.1:7070", peer: mesh.Contact{ID: peer}}, now)
	d.peerUp(peer)
	if len(d.due(now.Add(time.Hour))) != 0 || !d.nextWake().IsZero() {
		t.Error("a linked target is due")
	}
	d.peerDown(peer, now)
	if got := d.due(now.Add(dialBackoffMin)); len(got) != 1 || got[0].to.ID != peer {
		t.Errorf("after the link went down: %+v, want a redial of the learnt node", got)
	}

	// Discovered peers: own announcements are ignored, IPv4 is tried first, Lost forgets.
	d.found(discovery.Peer{NodeID: self, Addrs: []netip.AddrPort{netip.MustParseAddrPort("10.0.0.9:1")}}, now)
	other := mesh.NodeID{5}
	d.found(discovery.Peer{NodeID: other, Addrs: []netip.AddrPort{
		netip.MustParseAddrPort("[fe80::1%eth0]:7070"), netip.MustParseAddrPort("[2001:db8::1]:7070"),
		netip.MustParseAddrPort("192.0.2.1:7070")}}, now)
	got = d.due(now)
	if len(got) != 1 || got[0].to.ID != other || got[0].to.Addr != "192.0.2.1:7070" {
		t.Errorf("discovered peer dial: %+v", got)
	}
	d.lost(other)
	if _, ok := d.targets["mdns:"+other.String()]; ok {
		t.Error("a lost peer is still a target")
	}
}

func TestRecordDBRoundTripDropsExpiredAndCorrupt(t *testing.T) {
	dir := t.TempDir()
	db, err := openRecordDB(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(5000, 0)
	live := mesh.Record{Resource: mesh.ResourceIDFor("sip:1@a"), Kind: mesh.KindRegistration, Key: []byte{1}, Value: []byte("v"),
		Version: 3, Expiry: now.Add(time.Hour).UnixMilli(), Owner: []byte("o"), Signature: []byte("s")}
	old := live
	old.Key, old.Expiry = []byte{2}, now.Add(-time.Second).UnixMilli()
	gone := live
	gone.Key = []byte{3}
	if err := db.apply([]change{{key: live.RecordKey(), rec: &live}, {key: old.RecordKey(), rec: &old}, {key: gone.RecordKey(), rec: &gone}}); err != nil {
		t.Fatal(err)
	}
	if err := db.apply([]change{{key: gone.RecordKey()}}); err != nil {
		t.Fatal(err)
	}
	if err := db.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(recordsBucket).Put([]byte("junk"), []byte{1, 2, 3})
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := openRecordDB(dir, slog.New(slog.DiscardHandler)); !errors.Is(err, ErrDataDirBusy) {
		t.Errorf("second open of a held database: %v, want ErrDataDirBusy", err)
	}
	res, err := db.load(now.UnixMilli())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Records) != 1 || string(res.Records[0].Key) != "\x01" || res.Expired != 1 || res.Corrupt != 1 {
		t.Errorf("load = %d records, %d expired, %d corrupt", len(res.Records), res.Expired, res.Corrupt)
	}
	db.close()
	all, err := ReadRecords(dir)
	if err != nil || len(all) != 1 {
		t.Errorf("after load the file holds %d records (%v); expired and corrupt ones should be gone", len(all), err)
	}
}

func TestCanonicalTarget(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"101", "sip:101@alpha"},
		{"Medic1", "sip:medic1@alpha"},
		{"sip:202@bravo", "sip:202@bravo"},
		{"SIP:202@Bravo-Team", "sip:202@bravo-team"},
		{"", ""},
		{"1 01", ""},
		{"sip:202", ""},
		{"sip:@bravo", ""},
		{"sip:202@-bravo", ""},
	} {
		got, err := CanonicalTarget(tc.in, "alpha")
		if got != tc.want || (err == nil) != (tc.want != "") {
			t.Errorf("CanonicalTarget(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestRegistrationRoundTripAndRefusals(t *testing.T) {
	in := Registration{NodeID: mesh.NodeID{1, 2}.String(), AoR: "sip:1@a", Addr: "192.0.2.1:7070", Name: "Medic 1", Role: "medic"}
	b, err := EncodeRegistration(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := DecodeRegistration(b)
	if err != nil || out != in {
		t.Errorf("round trip: %+v %v", out, err)
	}
	for _, bad := range []string{``, `[]`, `{"node_id":"zz","aor":"sip:1@a"}`, `{"node_id":"0102","aor":"sip:1@a"}`,
		`{"node_id":"` + in.NodeID + `","aor":"tel:1"}`} {
		if _, err := DecodeRegistration([]byte(bad)); err == nil {
			t.Errorf("DecodeRegistration(%s) accepted", bad)
		}
	}
}

func TestPickAdvertised(t *testing.T) {
	ip := func(s string) net.IP { return net.ParseIP(s) }
	for _, c := range []struct {
		ips  []net.IP
		want string
	}{
		{[]net.IP{ip("fe80::1"), ip("2001:db8::1"), ip("192.0.2.7")}, "192.0.2.7"},
		{[]net.IP{ip("fe80::1"), ip("169.254.3.4"), ip("2001:db8::1")}, "2001:db8::1"},
		{[]net.IP{ip("fe80::1"), ip("169.254.3.4")}, "169.254.3.4"},
		{[]net.IP{ip("fe80::1")}, "<nil>"},
	} {
		if got := pickAdvertised(c.ips).String(); got != c.want {
			t.Errorf("pickAdvertised(%v) = %s, want %s", c.ips, got, c.want)
		}
	}
}
