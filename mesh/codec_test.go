package mesh

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// idOf returns an identifier whose bytes count up from seed, so that fields are told apart.
func idOf(seed byte) (id [IDBytes]byte) {
	for i := range id {
		id[i] = seed + byte(i)
	}
	return id
}

// signedRecord returns a registration record signed by a real ed25519 credential: the typical
// record on the wire.
func signedRecord(t testing.TB, ext int) Record {
	t.Helper()
	auth := NewAuthority([32]byte{1})
	name := fmt.Sprintf("sip:%d@team", ext)
	signer, err := auth.Issue([32]byte{byte(ext), 2}, name)
	if err != nil {
		t.Fatal(err)
	}
	node := signer.Identity().Node
	rec := Record{
		Resource: ResourceIDFor(name),
		Kind:     KindRegistration,
		Key:      node[:],
		Value:    []byte(fmt.Sprintf("sip:%d@10.0.0.%d:5060;transport=quic", ext, ext%250)),
		Version:  1_700_000_000_123,
		Expiry:   1_700_000_600_123,
	}
	rec.Sign(signer)
	return rec
}

// sampleMessages holds one populated message of every type.
func sampleMessages(t testing.TB) []Message {
	rec1, rec2 := signedRecord(t, 101), signedRecord(t, 102)
	tomb := Record{Resource: idOf(9), Kind: KindPresence, Version: 7, Expiry: -5, Deleted: true,
		Owner: []byte("o"), Signature: []byte("s")}
	contacts := []Contact{{ID: idOf(1), Addr: "10.0.0.1:4433"}, {ID: idOf(2)}, {ID: idOf(3), Addr: "[fe80::1]:4433"}}
	rng := Range{Prefix: idOf(4), Bits: 128, Count: 1 << 31, Fingerprint: idOf(5)}
	return []Message{
		&Ping{Nonce: 0xdeadbeefcafef00d, Status: Status{Mode: ModeFlood, SizeEstimate: 12}},
		&Pong{Nonce: 1, Status: Status{Mode: ModeDHT, SizeEstimate: 10_000}},
		&Hello{Status: Status{Mode: ModeDHT, SizeEstimate: 300}, Self: contacts[0]},
		&FindNode{ReqID: 42, Target: idOf(7)},
		&Nodes{ReqID: 42, Nodes: contacts},
		&FindValue{ReqID: 1 << 40, Resource: ResourceIDFor("sip:101@team"), Kind: KindRegistration},
		&Value{ReqID: 43, Records: []Record{rec1, tomb}, Nodes: contacts[:2]},
		&Store{ReqID: 44, Records: []Record{rec1, rec2}},
		&StoreAck{ReqID: 44, Stored: 1, Refused: 65535},
		&Flood{ID: idOf(8), Origin: NodeID(idOf(9)), Hops: 6, Records: []Record{rec2}},
		&FloodAck{ID: idOf(8)},
		&SyncRanges{Session: 3, Ranges: []Range{rng, {Bits: 0}}},
		&SyncItems{Session: 3, Ranges: []Range{rng},
			Items: []ItemVersion{{Hash: idOf(10), Version: 2}, {Hash: idOf(11), Version: 1 << 63, Deleted: true}}},
		&SyncWant{Session: 3, Hashes: [][IDBytes]byte{idOf(10), idOf(11)}},
		&NeighborhoodReq{ReqID: 45},
		&Neighborhood{ReqID: 45, Near: contacts, Far: contacts[1:]},
		&Merge{ID: idOf(12), Hops: 3, Entries: contacts},
		&Leave{},
		&Touch{ReqID: 46, Refs: []RecordRef{{Resource: idOf(13), Kind: KindTalkgroup, Key: []byte("k"), Version: 9},
			{Resource: idOf(14), Kind: KindNode, Version: 1}}},
		&TouchAck{ReqID: 46, Missing: []uint16{0, 127, 128, MaxRefs - 1}},
	}
}

func mustEncode(t testing.TB, m Message) []byte {
	t.Helper()
	b, err := Encode(m)
	if err != nil {
		t.Fatalf("Encode(%T): %v", m, err)
	}
	return b
}

// checkRoundTrip encodes m and checks the frame's header, its size, and that it decodes to m and
// re-encodes to the same bytes.
func checkRoundTrip(t *testing.T, m Message) {
	t.Helper()
	b := mustEncode(t, m)
	if b[0] != WireVersion || MsgType(b[1]) != m.Type() {
		t.Fatalf("%T: header % x, want version %d type %d", m, b[:2], WireVersion, m.Type())
	}
	if got := EncodedSize(m); got != len(b) {
		t.Fatalf("%T: EncodedSize = %d, len(Encode) = %d", m, got, len(b))
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatalf("Decode(Encode(%T)): %v", m, err)
	}
	if !reflect.DeepEqual(got, m) {
		t.Fatalf("%T: round trip changed the message\n got %+v\nwant %+v", m, got, m)
	}
	if again := mustEncode(t, got); !bytes.Equal(again, b) {
		t.Fatalf("%T: re-encoding gave different bytes", m)
	}
}

func TestRoundTripEveryType(t *testing.T) {
	seen := map[MsgType]bool{}
	for _, m := range sampleMessages(t) {
		t.Run(msgTypeName(m.Type()), func(t *testing.T) { checkRoundTrip(t, m) })
		seen[m.Type()] = true
	}
	for _, ty := range allTypes() {
		if !seen[ty] {
			t.Errorf("sampleMessages has no %s", msgTypeName(ty))
		}
	}
}

func TestRoundTripRandomMessages(t *testing.T) {
	for seed := range uint64(100) {
		g := newMessageGen(seed)
		for _, ty := range allTypes() {
			m := g.message(ty)
			t.Run(fmt.Sprintf("seed%d/%s", seed, msgTypeName(ty)), func(t *testing.T) { checkRoundTrip(t, m) })
		}
	}
}

func TestEncodedSizeIsExact(t *testing.T) {
	g := newMessageGen(7)
	for i := range 2000 {
		m := g.message(allTypes()[i%len(allTypes())])
		if size, b := EncodedSize(m), mustEncode(t, m); size != len(b) {
			t.Fatalf("message %d (%T): EncodedSize = %d, len(Encode) = %d", i, m, size, len(b))
		}
	}
	for _, ty := range allTypes() { // zero values: every list empty, every varint one byte
		m := newMessage(ty)
		if size, b := EncodedSize(m), mustEncode(t, m); size != len(b) {
			t.Fatalf("empty %T: EncodedSize = %d, len(Encode) = %d", m, size, len(b))
		}
	}
}

func TestEmptyListsDecodeAsNil(t *testing.T) {
	m := &Value{Records: []Record{{Key: []byte{}, Value: []byte{}}}, Nodes: []Contact{}}
	got, err := Decode(mustEncode(t, m))
	if err != nil {
		t.Fatal(err)
	}
	want := &Value{Records: []Record{{}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestDecodeSharesNoMemoryWithInput(t *testing.T) {
	in := &Store{ReqID: 1, Records: []Record{signedRecord(t, 101)}}
	frame := mustEncode(t, in)
	got, err := Decode(frame)
	if err != nil {
		t.Fatal(err)
	}
	for i := range frame {
		frame[i] = 0xaa
	}
	if !reflect.DeepEqual(got, in) {
		t.Fatal("overwriting the input changed the decoded message")
	}
	rec := &got.(*Store).Records[0]
	value := bytes.Clone(rec.Value)
	_ = append(rec.Key, "appended"...)
	if !bytes.Equal(rec.Value, value) {
		t.Fatal("appending to Key overwrote Value")
	}
}

func TestAppendEncodeKeepsPrefix(t *testing.T) {
	m := &FindNode{ReqID: 9, Target: idOf(1)}
	out, err := AppendEncode([]byte("prefix"), m)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(out, []byte("prefix")) || !bytes.Equal(out[6:], mustEncode(t, m)) {
		t.Fatalf("AppendEncode = %q", out)
	}
}

func TestRecordRoundTrip(t *testing.T) {
	recs := []Record{signedRecord(t, 101), {}}
	g := newMessageGen(3)
	for range 200 {
		recs = append(recs, g.record())
	}
	for i, rec := range recs {
		b, err := EncodeRecord(&rec)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if b[0] != WireVersion || len(b) != 1+recordSize(&rec) {
			t.Fatalf("record %d: version %d, %d bytes, want %d", i, b[0], len(b), 1+recordSize(&rec))
		}
		got, err := DecodeRecord(b)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, rec) {
			t.Fatalf("record %d: got %+v, want %+v", i, got, rec)
		}
	}
}

func TestDecodeTruncatedAtEveryOffset(t *testing.T) {
	frames := [][]byte{}
	for _, m := range sampleMessages(t) {
		frames = append(frames, mustEncode(t, m))
	}
	g := newMessageGen(11)
	for _, ty := range allTypes() {
		frames = append(frames, mustEncode(t, g.message(ty)))
	}
	for _, frame := range frames {
		for i := range len(frame) {
			m, err := Decode(frame[:i])
			if !errors.Is(err, ErrTruncated) || m != nil {
				t.Fatalf("%s cut to %d of %d bytes: Decode = %v, %v; want ErrTruncated",
					msgTypeName(MsgType(frame[1])), i, len(frame), m, err)
			}
		}
	}
	rec := signedRecord(t, 101)
	b, err := EncodeRecord(&rec)
	if err != nil {
		t.Fatal(err)
	}
	for i := range len(b) {
		if _, err := DecodeRecord(b[:i]); !errors.Is(err, ErrTruncated) {
			t.Fatalf("record cut to %d of %d bytes: %v; want ErrTruncated", i, len(b), err)
		}
	}
}

func TestDecodeRefusesFrameHeaderAndTail(t *testing.T) {
	ping := mustEncode(t, &Ping{Nonce: 1})
	withHeader := func(version, typ byte) []byte {
		return append([]byte{version, typ}, ping[2:]...)
	}
	rec := signedRecord(t, 101)
	recBytes, err := EncodeRecord(&rec)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		frame []byte
		want  error
	}{
		{"empty", nil, ErrTruncated},
		{"version only", []byte{WireVersion}, ErrTruncated},
		{"version 0", withHeader(0, byte(TypePing)), ErrUnknownVersion},
		{"version 2", withHeader(2, byte(TypePing)), ErrUnknownVersion},
		{"version 255", withHeader(255, byte(TypePing)), ErrUnknownVersion},
		{"type 0", withHeader(WireVersion, 0), ErrUnknownType},
		{"type after the last", withHeader(WireVersion, byte(maxMsgType)+1), ErrUnknownType},
		{"type 255", withHeader(WireVersion, 255), ErrUnknownType},
		{"one byte over MaxMessageBytes", append(withHeader(WireVersion, byte(TypePing)),
			make([]byte, MaxMessageBytes+1-len(ping))...), ErrTooLarge},
	}
	for _, m := range sampleMessages(t) {
		cases = append(cases, struct {
			name  string
			frame []byte
			want  error
		}{"trailing byte after " + msgTypeName(m.Type()), append(mustEncode(t, m), 0), ErrTrailingBytes})
	}
	for _, c := range cases {
		m, err := Decode(c.frame)
		if !errors.Is(err, c.want) || m != nil {
			t.Errorf("%s: Decode = %v, %v; want %v", c.name, m, err, c.want)
		}
	}
	recCases := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"version 2", append([]byte{2}, recBytes[1:]...), ErrUnknownVersion},
		{"trailing byte", append(bytes.Clone(recBytes), 0), ErrTrailingBytes},
		{"over MaxMessageBytes", make([]byte, MaxMessageBytes+1), ErrTooLarge},
	}
	for _, c := range recCases {
		if _, err := DecodeRecord(c.b); !errors.Is(err, c.want) {
			t.Errorf("record %s: DecodeRecord = %v; want %v", c.name, err, c.want)
		}
	}
}

// frame assembles a frame by hand from raw parts.
func frame(ty MsgType, parts ...[]byte) []byte {
	b := []byte{WireVersion, byte(ty)}
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func uv(v uint64) []byte { return binary.AppendUvarint(nil, v) }

// rawRecord is a valid record body whose fields the caller may replace.
type rawRecord struct{ key, value, version, expiry, deleted, owner, sig []byte }

func (r rawRecord) bytes() []byte {
	id := idOf(1)
	b := append([]byte(nil), id[:]...)
	b = append(b, byte(KindNode))
	for _, p := range [][]byte{r.key, r.value, r.version, r.expiry, r.deleted, r.owner, r.sig} {
		b = append(b, p...)
	}
	return b
}

func validRawRecord() rawRecord {
	return rawRecord{key: uv(0), value: uv(0), version: uv(1), expiry: uv(2), deleted: []byte{0},
		owner: uv(0), sig: uv(0)}
}

func TestDecodeRefusesBadFields(t *testing.T) {
	id := idOf(1)
	longField := func(n int) []byte { return append(uv(uint64(n)), make([]byte, n)...) }
	withRecord := func(edit func(*rawRecord)) []byte {
		r := validRawRecord()
		edit(&r)
		return frame(TypeStore, uv(1), uv(1), r.bytes())
	}
	cases := []struct {
		name  string
		frame []byte
		want  error
	}{
		{"valid record (control)", withRecord(func(*rawRecord) {}), nil},
		{"boolean 2", withRecord(func(r *rawRecord) { r.deleted = []byte{2} }), ErrInvalidField},
		{"non-minimal varint", withRecord(func(r *rawRecord) { r.version = []byte{0x81, 0x00} }), ErrInvalidField},
		{"varint over 64 bits", withRecord(func(r *rawRecord) { r.version = bytes.Repeat([]byte{0xff}, 10) }), ErrInvalidField},
		{"key too long", withRecord(func(r *rawRecord) { r.key = longField(MaxKeyBytes + 1) }), ErrFieldTooLong},
		{"value too long", withRecord(func(r *rawRecord) { r.value = longField(MaxValueBytes + 1) }), ErrFieldTooLong},
		{"owner too long", withRecord(func(r *rawRecord) { r.owner = longField(MaxCredentialBytes + 1) }), ErrFieldTooLong},
		{"signature too long", withRecord(func(r *rawRecord) { r.sig = longField(MaxSignatureBytes + 1) }), ErrFieldTooLong},
		{"key length past the end", withRecord(func(r *rawRecord) { r.key = uv(MaxKeyBytes) }), ErrTruncated},
		{"huge byte-field length", withRecord(func(r *rawRecord) { r.value = uv(1 << 62) }), ErrFieldTooLong},
		{"addr too long", frame(TypeHello, []byte{1}, uv(0), id[:], longField(MaxAddrBytes+1)), ErrFieldTooLong},
		{"size estimate over 32 bits", frame(TypePing, make([]byte, 8), []byte{1}, uv(1<<32)), ErrInvalidField},
		{"stored over 16 bits", frame(TypeStoreAck, uv(1), uv(1<<16), uv(0)), ErrInvalidField},
		{"range bits 129", frame(TypeSyncRanges, uv(1), uv(1), id[:], []byte{129}, uv(0), id[:]), ErrInvalidField},
		{"range count over 32 bits", frame(TypeSyncRanges, uv(1), uv(1), id[:], []byte{8}, uv(1<<32), id[:]), ErrInvalidField},
		{"item deleted 7", frame(TypeSyncItems, uv(1), uv(0), uv(1), id[:], uv(1), []byte{7}), ErrInvalidField},
		{"touch ack index MaxRefs", frame(TypeTouchAck, uv(1), uv(1), uv(MaxRefs)), ErrInvalidField},
		{"ref key too long", frame(TypeTouch, uv(1), uv(1), id[:], []byte{1}, longField(MaxKeyBytes+1), uv(0)), ErrFieldTooLong},
	}
	for _, c := range cases {
		m, err := Decode(c.frame)
		if c.want == nil {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		if !errors.Is(err, c.want) || m != nil {
			t.Errorf("%s: Decode = %v, %v; want %v", c.name, m, err, c.want)
		}
	}
}

// allocatedBytes returns the bytes f allocates: the least of a few runs, since the count is
// process-wide and another goroutine may allocate meanwhile (the test must not run in parallel).
func allocatedBytes(f func()) uint64 {
	least := uint64(1<<64 - 1)
	for range 5 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		least = min(least, after.TotalAlloc-before.TotalAlloc)
	}
	return least
}

func TestDecodeRefusesCountsBeforeAllocating(t *testing.T) {
	lists := []struct {
		name   string
		max    int
		prefix func(count uint64) []byte // a frame up to and including the count
	}{
		{"Nodes", MaxContacts, func(n uint64) []byte { return frame(TypeNodes, uv(1), uv(n)) }},
		{"Value.Records", MaxRecordsPerMessage, func(n uint64) []byte { return frame(TypeValue, uv(1), uv(n)) }},
		{"Value.Nodes", MaxContacts, func(n uint64) []byte { return frame(TypeValue, uv(1), uv(0), uv(n)) }},
		{"Store", MaxRecordsPerMessage, func(n uint64) []byte { return frame(TypeStore, uv(1), uv(n)) }},
		{"Flood", MaxRecordsPerMessage, func(n uint64) []byte {
			return frame(TypeFlood, make([]byte, 2*IDBytes+1), uv(n))
		}},
		{"SyncRanges", MaxRanges, func(n uint64) []byte { return frame(TypeSyncRanges, uv(1), uv(n)) }},
		{"SyncItems.Ranges", MaxRanges, func(n uint64) []byte { return frame(TypeSyncItems, uv(1), uv(n)) }},
		{"SyncItems.Items", MaxItems, func(n uint64) []byte { return frame(TypeSyncItems, uv(1), uv(0), uv(n)) }},
		{"SyncWant", MaxHashes, func(n uint64) []byte { return frame(TypeSyncWant, uv(1), uv(n)) }},
		{"Neighborhood.Near", MaxContacts, func(n uint64) []byte { return frame(TypeNeighborhood, uv(1), uv(n)) }},
		{"Neighborhood.Far", MaxContacts, func(n uint64) []byte { return frame(TypeNeighborhood, uv(1), uv(0), uv(n)) }},
		{"Merge", MaxContacts, func(n uint64) []byte { return frame(TypeMerge, make([]byte, IDBytes+1), uv(n)) }},
		{"Touch", MaxRefs, func(n uint64) []byte { return frame(TypeTouch, uv(1), uv(n)) }},
		{"TouchAck", MaxRefs, func(n uint64) []byte { return frame(TypeTouchAck, uv(1), uv(n)) }},
	}
	const padding = 100 // bytes after the count: too few for any of the counts below
	for _, l := range lists {
		for _, c := range []struct {
			count uint64
			want  error
		}{
			{uint64(l.max) + 1, ErrTooMany},
			{1 << 40, ErrTooMany},
			{1<<64 - 1, ErrTooMany},
			{uint64(l.max), ErrTruncated}, // within the limit, but cannot fit in the padding
		} {
			in := append(l.prefix(c.count), make([]byte, padding)...)
			var err error
			alloc := allocatedBytes(func() { _, err = Decode(in) })
			if !errors.Is(err, c.want) {
				t.Errorf("%s with count %d: %v; want %v", l.name, c.count, err, c.want)
			}
			if alloc > 4<<10 {
				t.Errorf("%s with count %d: refusing it allocated %d bytes", l.name, c.count, alloc)
			}
		}
	}
}

func TestEncodeRefusesWhatDecodeRefuses(t *testing.T) {
	contacts := func(n int) []Contact { return make([]Contact, n) }
	records := func(n int) []Record { return make([]Record, n) }
	long := func(n int) []byte { return make([]byte, n) }
	type foreign struct{ Message }
	cases := []struct {
		name string
		m    Message
		want error
	}{
		{"nil", nil, ErrInvalidField},
		{"nil pointer", (*Store)(nil), ErrInvalidField},
		{"foreign type", foreign{}, ErrUnknownType},
		{"Nodes over MaxContacts", &Nodes{Nodes: contacts(MaxContacts + 1)}, ErrTooMany},
		{"Value.Nodes over MaxContacts", &Value{Nodes: contacts(MaxContacts + 1)}, ErrTooMany},
		{"Value.Records over limit", &Value{Records: records(MaxRecordsPerMessage + 1)}, ErrTooMany},
		{"Store over limit", &Store{Records: records(MaxRecordsPerMessage + 1)}, ErrTooMany},
		{"Flood over limit", &Flood{Records: records(MaxRecordsPerMessage + 1)}, ErrTooMany},
		{"SyncRanges over MaxRanges", &SyncRanges{Ranges: make([]Range, MaxRanges+1)}, ErrTooMany},
		{"SyncItems.Ranges over MaxRanges", &SyncItems{Ranges: make([]Range, MaxRanges+1)}, ErrTooMany},
		{"SyncItems over MaxItems", &SyncItems{Items: make([]ItemVersion, MaxItems+1)}, ErrTooMany},
		{"SyncWant over MaxHashes", &SyncWant{Hashes: make([][IDBytes]byte, MaxHashes+1)}, ErrTooMany},
		{"Near over MaxContacts", &Neighborhood{Near: contacts(MaxContacts + 1)}, ErrTooMany},
		{"Far over MaxContacts", &Neighborhood{Far: contacts(MaxContacts + 1)}, ErrTooMany},
		{"Merge over MaxContacts", &Merge{Entries: contacts(MaxContacts + 1)}, ErrTooMany},
		{"Touch over MaxRefs", &Touch{Refs: make([]RecordRef, MaxRefs+1)}, ErrTooMany},
		{"TouchAck over MaxRefs", &TouchAck{Missing: make([]uint16, MaxRefs+1)}, ErrTooMany},
		{"TouchAck index MaxRefs", &TouchAck{Missing: []uint16{MaxRefs}}, ErrInvalidField},
		{"Range.Bits 129", &SyncRanges{Ranges: []Range{{Bits: 129}}}, ErrInvalidField},
		{"Hello addr too long", &Hello{Self: Contact{Addr: strings.Repeat("a", MaxAddrBytes+1)}}, ErrFieldTooLong},
		{"Merge addr too long", &Merge{Entries: []Contact{{Addr: strings.Repeat("a", MaxAddrBytes+1)}}}, ErrFieldTooLong},
		{"record key too long", &Store{Records: []Record{{Key: long(MaxKeyBytes + 1)}}}, ErrFieldTooLong},
		{"record value too long", &Flood{Records: []Record{{Value: long(MaxValueBytes + 1)}}}, ErrFieldTooLong},
		{"record owner too long", &Value{Records: []Record{{Owner: long(MaxCredentialBytes + 1)}}}, ErrFieldTooLong},
		{"record signature too long", &Store{Records: []Record{{Signature: long(MaxSignatureBytes + 1)}}}, ErrFieldTooLong},
		{"ref key too long", &Touch{Refs: []RecordRef{{Key: long(MaxKeyBytes + 1)}}}, ErrFieldTooLong},
		{"frame over MaxMessageBytes", &Store{Records: fullRecords(MaxRecordsPerMessage)}, ErrTooLarge},
	}
	for _, c := range cases {
		dst := []byte("keep")
		out, err := AppendEncode(dst, c.m)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: AppendEncode error %v; want %v", c.name, err, c.want)
		}
		if string(out) != "keep" {
			t.Errorf("%s: AppendEncode changed dst on error: %q", c.name, out)
		}
	}
	for _, m := range []Message{nil, (*Ping)(nil), foreign{}} {
		if n := EncodedSize(m); n != 0 {
			t.Errorf("EncodedSize(%#v) = %d, want 0", m, n)
		}
	}
	for _, rec := range []*Record{nil, {Key: long(MaxKeyBytes + 1)}, {Signature: long(MaxSignatureBytes + 1)}} {
		if _, err := EncodeRecord(rec); err == nil {
			t.Errorf("EncodeRecord(%v) succeeded; want an error", rec)
		}
	}
}

// fullRecords returns n records with values at MaxValueBytes.
func fullRecords(n int) []Record {
	rs := make([]Record, n)
	for i := range rs {
		rs[i].Value = make([]byte, MaxValueBytes)
	}
	return rs
}

func TestLimitsAreInclusive(t *testing.T) {
	addr := strings.Repeat("a", MaxAddrBytes)
	full := []Message{
		&Nodes{Nodes: make([]Contact, MaxContacts)},
		&Neighborhood{Near: make([]Contact, MaxContacts), Far: make([]Contact, MaxContacts)},
		&Merge{Entries: []Contact{{Addr: addr}}},
		&Store{Records: make([]Record, MaxRecordsPerMessage)},
		&Store{Records: []Record{{Key: make([]byte, MaxKeyBytes), Value: make([]byte, MaxValueBytes),
			Owner: make([]byte, MaxCredentialBytes), Signature: make([]byte, MaxSignatureBytes)}}},
		&SyncItems{Ranges: []Range{{Bits: maxRangeBits}}, Items: make([]ItemVersion, MaxItems)},
		&SyncRanges{Ranges: make([]Range, MaxRanges)},
		&SyncWant{Hashes: make([][IDBytes]byte, MaxHashes)},
		&Touch{Refs: make([]RecordRef, MaxRefs)},
		&TouchAck{Missing: make([]uint16, MaxRefs)},
	}
	for _, m := range full {
		// Zero-valued elements decode back as they are; only the lists' emptiness is normalised.
		t.Run(msgTypeName(m.Type()), func(t *testing.T) { checkRoundTrip(t, m) })
	}
}

func TestFrameOfExactlyMaxMessageBytes(t *testing.T) {
	m := &Store{Records: fullRecords(MaxMessageBytes / MaxValueBytes)}
	last := &m.Records[len(m.Records)-1]
	for range 10 { // shrink the last value until the frame is exactly the limit
		if over := EncodedSize(m) - MaxMessageBytes; over != 0 {
			last.Value = last.Value[:len(last.Value)-over]
		}
	}
	if got := EncodedSize(m); got != MaxMessageBytes {
		t.Fatalf("could not build a frame of exactly MaxMessageBytes: %d", got)
	}
	checkRoundTrip(t, m)
	last.Value = append(last.Value, 0)
	if _, err := Encode(m); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("one byte over: %v; want ErrTooLarge", err)
	}
}

func TestWireErrorReason(t *testing.T) {
	for _, e := range wireErrorReasons {
		wrapped := fmt.Errorf("decode Store: %w", fmt.Errorf("%w: detail", e.err))
		if got := WireErrorReason(wrapped); got != e.reason {
			t.Errorf("WireErrorReason(%v) = %q, want %q", wrapped, got, e.reason)
		}
	}
	if got := WireErrorReason(nil); got != "" {
		t.Errorf("WireErrorReason(nil) = %q", got)
	}
	if got := WireErrorReason(errors.New("elsewhere")); got != "other" {
		t.Errorf("WireErrorReason(foreign) = %q", got)
	}
	_, err := Decode([]byte{WireVersion, 0})
	if got := WireErrorReason(err); got != "unknown_type" {
		t.Errorf("reason of a real decode error = %q", got)
	}
}
