package mailbox

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"meshcomm/mesh"
)

func TestDirectDeliveryWithReceipt(t *testing.T) {
	tm := newTeam(t, 2)
	a, b := tm.mailbox(t, 0, 1), tm.mailbox(t, 1, 2)
	id, r, err := a.SendText(t0, b.AoR(), "Engine 4 on scene")
	if err != nil {
		t.Fatal(err)
	}
	if !r.Changed || len(r.Direct) != 1 || r.Direct[0].To != b.AoR() || r.Direct[0].ID != id || len(r.Direct[0].Records) != 1 {
		t.Fatalf("SendText ready: %+v", r)
	}
	if e, _ := a.Sent(id); e.State != Queued {
		t.Fatalf("state after send: %s", e.State)
	}

	rb, err := b.ReceiveDirect(t0.Add(time.Second), r.Direct[0].Records)
	if err != nil {
		t.Fatal(err)
	}
	if len(rb.Delivered) != 1 || rb.Delivered[0].Text != "Engine 4 on scene" || rb.Delivered[0].From != a.AoR() || rb.Delivered[0].Via != ViaDirect {
		t.Fatalf("delivered: %+v", rb.Delivered)
	}
	if !rb.Changed || len(rb.Store) != 0 || len(rb.Direct) != 1 || rb.Direct[0].Kind != KindReceipt || rb.Direct[0].To != a.AoR() {
		t.Fatalf("recipient's ready: %+v", rb)
	}

	if ra := a.DirectResult(t0, id, true); len(ra.Updated) != 1 || ra.Updated[0].State != SentDirect {
		t.Fatalf("DirectResult(ok): %+v", ra)
	}
	if ra := a.DirectResult(t0, id, false); ra.Changed || len(ra.Store) != 0 {
		t.Fatalf("a second, stale result changed things: %+v", ra)
	}
	ra, err := a.ReceiveDirect(t0.Add(2*time.Second), rb.Direct[0].Records)
	if err != nil {
		t.Fatal(err)
	}
	if len(ra.Updated) != 1 || ra.Updated[0].State != Delivered || !ra.Updated[0].DeliveredAt.Equal(t0.Add(time.Second)) {
		t.Fatalf("receipt: %+v", ra.Updated)
	}

	// The sender tries again (it never saw the receipt, say): accepted, not delivered twice,
	// and the same receipt goes back.
	again, err := b.ReceiveDirect(t0.Add(time.Minute), r.Direct[0].Records)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Delivered) != 0 || len(again.Direct) != 1 || !bytes.Equal(again.Direct[0].Records[0].Signature, rb.Direct[0].Records[0].Signature) {
		t.Fatalf("repeated direct delivery: %+v", again)
	}
	if got := b.Counters(); got[CountDelivered] != 1 || got[CountDuplicate] != 1 {
		t.Fatalf("counters: %v", got)
	}
	if len(b.Inbox()) != 1 {
		t.Fatalf("inbox: %+v", b.Inbox())
	}
}

func TestStoreAndForwardThroughTheOverlay(t *testing.T) {
	tm := newTeam(t, 2)
	ov := newOverlay(t, tm.verifier)
	a, b := tm.mailbox(t, 0, 1), tm.mailbox(t, 1, 2)
	id, _, err := a.SendText(t0, b.AoR(), "Meet at staging area B")
	if err != nil {
		t.Fatal(err)
	}
	r := a.DirectResult(t0, id, false) // b is out of reach
	if len(r.Store) != 1 || r.Updated[0].State != StoredInOverlay {
		t.Fatalf("direct failure: %+v", r)
	}
	ov.put(t0, r.Store...)

	now := t0.Add(time.Hour) // b registers
	rb := b.ReceiveStored(now, ov.find(now, b.AoR()))
	if len(rb.Delivered) != 1 || rb.Delivered[0].Via != ViaOverlay || len(rb.Store) != 1 || !rb.Store[0].Deleted {
		t.Fatalf("check at registration: %+v", rb)
	}
	ov.put(now, rb.Store...)
	if left := ov.find(now, b.AoR()); len(left) != 0 {
		t.Fatalf("%d message records left after delivery", len(left))
	}
	receipt := rb.Direct[0]
	rr := b.DirectResult(now, receipt.ID, false) // and now a is out of reach
	if len(rr.Store) != 1 {
		t.Fatalf("receipt not stored: %+v", rr)
	}
	ov.put(now, rr.Store...)

	later := now.Add(time.Hour)
	ra := a.ReceiveStored(later, ov.find(later, a.AoR()))
	if len(ra.Updated) != 1 || ra.Updated[0].State != Delivered || !ra.Updated[0].DeliveredAt.Equal(now) {
		t.Fatalf("receipt from the overlay: %+v", ra)
	}
	if len(ra.Store) != 2 { // the receipt's deletion and the sender's own deletion of its message
		t.Fatalf("sender's deletions: %d records", len(ra.Store))
	}
	ov.put(later, ra.Store...)
	if left := ov.find(later, a.AoR()); len(left) != 0 {
		t.Fatalf("%d receipt records left", len(left))
	}

	// A replica that missed the deletion hands the message over once more: deleted again,
	// not delivered again.
	dup := b.ReceiveStored(later, r.Store)
	if len(dup.Delivered) != 0 || len(dup.Store) != 1 || !dup.Store[0].Deleted || len(dup.Direct) != 0 {
		t.Fatalf("stale copy: %+v", dup)
	}
}

func TestVoicemailWaitsForAllChunks(t *testing.T) {
	tm := newTeam(t, 2)
	ov := newOverlay(t, tm.verifier)
	a, b := tm.mailbox(t, 0, 1), tm.mailbox(t, 1, 2)
	want := audio(2*ChunkPlaintextBytes+5, 11)
	id, _, err := a.SendVoicemail(t0, b.AoR(), tm.members[1].pub(), Voicemail{MediaType: "audio/opus", Audio: want})
	if err != nil {
		t.Fatal(err)
	}
	recs := a.DirectResult(t0, id, false).Store
	if len(recs) != 3 {
		t.Fatalf("%d records, want 3 chunks", len(recs))
	}
	ov.put(t0, recs[0], recs[2])
	if r := b.ReceiveStored(t0, ov.find(t0, b.AoR())); len(r.Delivered) != 0 || len(r.Store) != 0 || len(r.Refused) != 0 || r.Changed {
		t.Fatalf("incomplete voicemail was acted on: %+v", r)
	}
	if _, err := b.ReceiveDirect(t0, recs[:2]); !errors.Is(err, ErrMissingChunk) {
		t.Fatalf("incomplete direct voicemail: %v", err)
	}
	ov.put(t0, recs[1])
	r := b.ReceiveStored(t0, ov.find(t0, b.AoR()))
	if len(r.Delivered) != 1 || r.Delivered[0].Voicemail == nil || !bytes.Equal(r.Delivered[0].Voicemail.Audio, want) {
		t.Fatalf("complete voicemail: %+v", r.Delivered)
	}
	if len(r.Store) != 3 {
		t.Fatalf("%d deletions, want one per chunk", len(r.Store))
	}
}

func TestReceiveRefusals(t *testing.T) {
	tm := newTeam(t, 3)
	am, bm, cm := tm.members[0], tm.members[1], tm.members[2]
	other := &team{auth: mesh.NewAuthority([32]byte{0xB0})}
	stranger := other.issue(t, 9, am.aor) // claims a's address under an untrusted authority
	sealedToC, err := SealVoicemail(seededReader(3), cm.pub(), *textMessage(am, bm, 8, ""), Voicemail{MediaType: "audio/opus", Audio: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	rec := func(s *mesh.Ed25519Signer, m *Message, expiry time.Time) *mesh.Record {
		r, err := NewRecord(s, m, expiry)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	impostor := func() *mesh.Record { // c signs, under its own key prefix, a message that says it is from a
		m := textMessage(am, bm, 4, "evacuate")
		key, _ := RecordKey(m)
		cNode := cm.node()
		copy(key, cNode[:])
		value, _ := EncodeMessage(m)
		r := &mesh.Record{Resource: mesh.ResourceIDFor(bm.aor), Kind: mesh.KindMessage, Key: key, Value: value, Version: 1, Expiry: t0.Add(time.Hour).UnixMilli()}
		r.Sign(cm.signer)
		return r
	}
	cases := []struct {
		name   string
		rec    *mesh.Record
		reason string
	}{
		{"addressed to another", rec(am.signer, textMessage(am, cm, 1, "hi"), t0.Add(time.Hour)), ReasonNotForMe},
		{"expired", rec(am.signer, &Message{ID: MessageID{2}, Kind: KindText, FromAoR: am.aor, FromNode: am.node(), ToAoR: bm.aor, SentAt: t0.Add(-2 * time.Hour), Body: []byte("old")}, t0.Add(-time.Hour)), ReasonExpired},
		{"expiry too far", rec(am.signer, textMessage(am, bm, 3, "hi"), t0.Add(MaxTTL+ClockSkew+time.Hour)), ReasonExpiryTooFar},
		{"untrusted signer", rec(stranger.signer, &Message{ID: MessageID{5}, Kind: KindText, FromAoR: am.aor, FromNode: stranger.node(), ToAoR: bm.aor, SentAt: t0, Body: []byte("hi")}, t0.Add(time.Hour)), ReasonUnverified},
		{"impostor", impostor(), ReasonMalformed},
		{"sealed to another key", rec(am.signer, sealedToC[0], t0.Add(time.Hour)), ReasonUndecryptable},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := tm.mailbox(t, 1, 2)
			r := b.ReceiveStored(t0, []*mesh.Record{c.rec})
			if len(r.Refused) != 1 || r.Refused[0].Reason != c.reason || r.Refused[0].Err == nil {
				t.Fatalf("refused %+v, want one refusal for %s", r.Refused, c.reason)
			}
			if len(r.Delivered) != 0 || len(r.Store) != 0 || r.Changed {
				t.Fatalf("a refused record was acted on: %+v", r)
			}
			if b.Counters()[c.reason] != 1 {
				t.Fatalf("counters: %v", b.Counters())
			}
			if _, err := b.ReceiveDirect(t0, []*mesh.Record{c.rec}); err == nil {
				t.Fatal("the same record handed over directly was accepted")
			}
		})
	}
}

func TestReceiptsFromTheWrongPartyRefused(t *testing.T) {
	tm := newTeam(t, 3)
	a := tm.mailbox(t, 0, 1)
	am, bm, cm := tm.members[0], tm.members[1], tm.members[2]
	id, _, err := a.SendText(t0, bm.aor, "hi")
	if err != nil {
		t.Fatal(err)
	}
	a.DirectResult(t0, id, false)
	receipt := func(from member, ref MessageID) *mesh.Record {
		m := &Message{ID: MessageID{0xEE, ref[0]}, Kind: KindReceipt, FromAoR: from.aor, FromNode: from.node(), ToAoR: am.aor, SentAt: t0, Body: ref[:]}
		r, err := NewRecord(from.signer, m, t0.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := a.ReceiveStored(t0, []*mesh.Record{receipt(cm, id), receipt(bm, MessageID{0x77})})
	reasons := map[string]bool{}
	for _, f := range r.Refused {
		reasons[f.Reason] = true
	}
	if !reasons[ReasonForged] || !reasons[ReasonUnknown] || len(r.Refused) != 2 {
		t.Fatalf("refusals: %+v", r.Refused)
	}
	if len(r.Store) != 2 { // both were at a's own resource, for a alone: cleared
		t.Fatalf("%d deletions, want 2", len(r.Store))
	}
	if e, _ := a.Sent(id); e.State != StoredInOverlay {
		t.Fatalf("a third party's receipt changed the state to %s", e.State)
	}
}

func TestFullInboxLeavesMessagesInTheOverlay(t *testing.T) {
	tm := newTeam(t, 2)
	ov := newOverlay(t, tm.verifier)
	a := tm.mailbox(t, 0, 1)
	cfg := tm.config(tm.members[1], 2)
	cfg.MaxInbox = 1
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"one", "two"} {
		id, _, err := a.SendText(t0, b.AoR(), text)
		if err != nil {
			t.Fatal(err)
		}
		ov.put(t0, a.DirectResult(t0, id, false).Store...)
	}
	r := b.ReceiveStored(t0, ov.find(t0, b.AoR()))
	if len(r.Delivered) != 1 || len(r.Refused) != 1 || r.Refused[0].Reason != ReasonInboxFull || len(r.Store) != 1 {
		t.Fatalf("full inbox: %+v", r)
	}
	ov.put(t0, r.Store...)
	if _, err := b.Remove(r.Delivered[0].Ref); err != nil {
		t.Fatal(err)
	}
	r = b.ReceiveStored(t0, ov.find(t0, b.AoR()))
	if len(r.Delivered) != 1 || len(r.Refused) != 0 {
		t.Fatalf("after making room: %+v", r)
	}
}

func TestConfigChecked(t *testing.T) {
	tm := newTeam(t, 2)
	for name, f := range map[string]func(c *Config){
		"key of another node": func(c *Config) { c.Key = tm.members[1].key },
		"no verifier":         func(c *Config) { c.Verifier = nil },
		"no random source":    func(c *Config) { c.Rand = nil },
		"TTL too long":        func(c *Config) { c.TTL = MaxTTL + time.Hour },
		"short key":           func(c *Config) { c.Key = c.Key[:10] },
	} {
		cfg := tm.config(tm.members[0], 1)
		f(&cfg)
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	a := tm.mailbox(t, 0, 1)
	for _, to := range []string{"101", "sip:102@TEAM", ""} {
		if _, _, err := a.SendText(t0, to, "hi"); err == nil {
			t.Errorf("sent to %q", to)
		}
	}
	if _, _, err := a.SendText(t0, "sip:102@team", ""); err == nil {
		t.Error("sent an empty text")
	}
}

func TestOutboxBounded(t *testing.T) {
	tm := newTeam(t, 2)
	cfg := tm.config(tm.members[0], 1)
	cfg.MaxOutboxBytes = 100 << 10
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	v := Voicemail{MediaType: "audio/opus", Audio: audio(60<<10, 1)}
	if _, _, err := a.SendVoicemail(t0, tm.members[1].aor, tm.members[1].pub(), v); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.SendVoicemail(t0, tm.members[1].aor, tm.members[1].pub(), v); !errors.Is(err, ErrOutboxFull) {
		t.Fatalf("second voicemail: %v, want ErrOutboxFull", err)
	}
	if len(a.Outbox()) != 1 {
		t.Fatalf("outbox holds %d entries", len(a.Outbox()))
	}
}
