package mailbox

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"meshcomm/mesh"
)

func TestMessageRoundTripEveryKind(t *testing.T) {
	tm := newTeam(t, 2)
	a, b := tm.members[0], tm.members[1]
	vm, err := SealVoicemail(seededReader(1), b.pub(), *textMessage(a, b, 3, ""), Voicemail{MediaType: "audio/opus", Audio: []byte("opus frames")})
	if err != nil {
		t.Fatal(err)
	}
	receipt := &Message{ID: MessageID{9}, Kind: KindReceipt, FromAoR: b.aor, FromNode: b.node(), ToAoR: a.aor, SentAt: t0, Body: bytes.Repeat([]byte{7}, 16)}
	for _, m := range []*Message{textMessage(a, b, 1, "Fire on floor 3, need a second line"), vm[0], receipt} {
		t.Run(m.Kind.String(), func(t *testing.T) {
			enc, err := EncodeMessage(m)
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecodeMessage(enc)
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != m.ID || got.Kind != m.Kind || got.FromAoR != m.FromAoR || got.FromNode != m.FromNode ||
				got.ToAoR != m.ToAoR || !got.SentAt.Equal(m.SentAt) || !bytes.Equal(got.Body, m.Body) {
				t.Fatalf("round trip changed the message:\n got %+v\nwant %+v", got, m)
			}
			enc[len(enc)-1] ^= 0xFF // decoding copied: the result does not change with the input
			if got.Body[len(got.Body)-1] != m.Body[len(m.Body)-1] {
				t.Fatal("decoded body shares memory with the input")
			}
		})
	}
}

func TestDecodeMessageRefusesMalformed(t *testing.T) {
	tm := newTeam(t, 2)
	a, b := tm.members[0], tm.members[1]
	good, err := EncodeMessage(textMessage(a, b, 1, "hello"))
	if err != nil {
		t.Fatal(err)
	}
	mutate := func(f func(m *Message)) []byte {
		m := textMessage(a, b, 1, "hello")
		f(m)
		// Encode by hand so that EncodeMessage's own checks do not stop the bad value.
		enc, _ := EncodeMessage(textMessage(a, b, 1, "hello"))
		out := append([]byte(nil), enc[:valueHeaderBytes]...)
		out[1] = byte(m.Kind)
		copy(out[2:18], m.ID[:])
		out = append(out, byte(len(m.FromAoR)))
		out = append(out, m.FromAoR...)
		out = append(out, byte(len(m.ToAoR)))
		out = append(out, m.ToAoR...)
		out = append(out, byte(len(m.Body)>>8), byte(len(m.Body)))
		return append(out, m.Body...)
	}
	cases := []struct {
		name  string
		value []byte
		want  string
	}{
		{"empty", nil, "shorter than"},
		{"unknown version", append([]byte{2}, good[1:]...), "unknown value version 2"},
		{"trailing byte", append(append([]byte(nil), good...), 0), "body length"},
		{"oversized", make([]byte, mesh.MaxValueBytes+1), "limit"},
		{"unknown kind", mutate(func(m *Message) { m.Kind = 9 }), "unknown kind 9"},
		{"zero id", mutate(func(m *Message) { m.ID = MessageID{} }), "zero message id"},
		{"non-canonical address", mutate(func(m *Message) { m.ToAoR = "sip:102@TEAM" }), "canonical"},
		{"not a sip address", mutate(func(m *Message) { m.FromAoR = "mailto:x@y" }), "not a sip: URI"},
		{"empty text", mutate(func(m *Message) { m.Body = nil }), "text is 0 bytes"},
		{"invalid UTF-8", mutate(func(m *Message) { m.Body = []byte{0xff, 0xfe} }), "not valid UTF-8"},
		{"text too long", mutate(func(m *Message) { m.Body = bytes.Repeat([]byte("a"), MaxTextBytes+1) }), "text is 4097 bytes"},
		{"short receipt", mutate(func(m *Message) { m.Kind, m.Body = KindReceipt, []byte{1, 2} }), "receipt body is 2 bytes"},
		{"voicemail garbage", mutate(func(m *Message) { m.Kind = KindVoicemail }), "chunk"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodeMessage(c.value)
			if err == nil || !errors.Is(err, ErrMessage) && !errors.Is(err, ErrVoicemail) {
				t.Fatalf("DecodeMessage = %v, want a malformed-message error", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not say %q", err, c.want)
			}
		})
	}
	for n := range len(good) {
		if _, err := DecodeMessage(good[:n]); err == nil {
			t.Fatalf("a value truncated to %d of %d bytes decoded", n, len(good))
		}
	}
}

func TestNewRecordFieldsAndAccessPolicy(t *testing.T) {
	tm := newTeam(t, 3)
	a, b, c := tm.members[0], tm.members[1], tm.members[2]
	m := textMessage(a, b, 1, "status?")
	rec, err := NewRecord(a.signer, m, t0.Add(DefaultTTL))
	if err != nil {
		t.Fatal(err)
	}
	node := a.node()
	wantKey := append(node[:], m.ID[:]...) // the node id's bytes, then the id
	if rec.Resource != mesh.ResourceIDFor(b.aor) || rec.Kind != mesh.KindMessage || !bytes.Equal(rec.Key, wantKey) ||
		rec.Version != 1 || rec.Expiry != t0.Add(DefaultTTL).UnixMilli() {
		t.Fatalf("record fields: %+v", rec)
	}
	got, err := VerifyRecord(tm.verifier, rec)
	if err != nil {
		t.Fatalf("the sender's record does not verify: %v", err)
	}
	if got.ID != m.ID || string(got.Body) != "status?" {
		t.Fatalf("VerifyRecord returned %+v", got)
	}
	if _, err := NewRecord(c.signer, m, t0.Add(time.Hour)); err == nil {
		t.Fatal("a record for a message of another sender was built")
	}
	// The recipient and the sender may delete it; a third party may not.
	for _, who := range []member{a, b} {
		if _, err := mesh.VerifyRecord(tm.verifier, Tombstone(who.signer, rec)); err != nil {
			t.Fatalf("deletion by %s refused: %v", who.aor, err)
		}
	}
	if _, err := mesh.VerifyRecord(tm.verifier, Tombstone(c.signer, rec)); !errors.Is(err, mesh.ErrNotOwner) {
		t.Fatalf("deletion by a third party: %v, want ErrNotOwner", err)
	}
	tomb := Tombstone(b.signer, rec)
	if !tomb.Deleted || tomb.Version != rec.Version+1 || tomb.Expiry != rec.Expiry || !tomb.Newer(rec) {
		t.Fatalf("tombstone %+v does not supersede the record", tomb)
	}
}

func TestParseRecordRefusesInconsistentRecords(t *testing.T) {
	tm := newTeam(t, 3)
	a, b, c := tm.members[0], tm.members[1], tm.members[2]
	fresh := func() *mesh.Record {
		rec, err := NewRecord(a.signer, textMessage(a, b, 1, "hi"), t0.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return rec
	}
	cases := map[string]func(r *mesh.Record) mesh.Identity{
		"wrong resource": func(r *mesh.Record) mesh.Identity {
			r.Resource = mesh.ResourceIDFor(c.aor)
			return a.signer.Identity()
		},
		"wrong key": func(r *mesh.Record) mesh.Identity { r.Key[20] ^= 1; return a.signer.Identity() },
		"signed by another": func(r *mesh.Record) mesh.Identity {
			return c.signer.Identity()
		},
		"deletion":   func(r *mesh.Record) mesh.Identity { r.Deleted = true; return a.signer.Identity() },
		"other kind": func(r *mesh.Record) mesh.Identity { r.Kind = mesh.KindPresence; return a.signer.Identity() },
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			rec := fresh()
			id := f(rec)
			if _, err := ParseRecord(rec, id); !errors.Is(err, ErrMessage) {
				t.Fatalf("ParseRecord = %v, want ErrMessage", err)
			}
		})
	}
	if _, err := ParseRecord(fresh(), a.signer.Identity()); err != nil {
		t.Fatalf("the untouched record: %v", err)
	}
}

func TestMessageIDText(t *testing.T) {
	id, err := NewMessageID(seededReader(4))
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseMessageID(id.String())
	if err != nil || back != id {
		t.Fatalf("ParseMessageID(%s) = %s, %v", id, back, err)
	}
	for _, bad := range []string{"", "zz", id.String()[:30]} {
		if _, err := ParseMessageID(bad); err == nil {
			t.Fatalf("ParseMessageID(%q) accepted", bad)
		}
	}
	if _, err := NewMessageID(bytes.NewReader(make([]byte, 16))); err == nil {
		t.Fatal("an all-zero id was drawn")
	}
	if _, err := NewMessageID(bytes.NewReader(nil)); err == nil {
		t.Fatal("an id was drawn from an empty source")
	}
}

func TestMessageRefText(t *testing.T) {
	tm := newTeam(t, 1)
	ref := MessageRef{Node: tm.members[0].node(), ID: MessageID{1, 2, 3}}
	b, err := ref.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	var back MessageRef
	if err := back.UnmarshalText(b); err != nil || back != ref {
		t.Fatalf("round trip of %s: %s, %v", b, back, err)
	}
	for _, bad := range []string{"", ref.ID.String(), "zz/" + ref.ID.String(), ref.Node.String() + "/zz", ref.String() + "0"} {
		if _, err := ParseMessageRef(bad); err == nil {
			t.Errorf("ParseMessageRef(%q) accepted", bad)
		}
	}
}
