package mailbox

import (
	"bytes"
	"testing"

	"meshcomm/mesh"
)

// Every decoder of outside input is fuzzed: message values and voicemail chunks (from the
// overlay and from peers), presence values (from the overlay and notifications), and the
// persisted state (from disk). Each must refuse bad input with an error, never panic, and
// what it accepts must encode back to an equivalent value.

func FuzzDecodeMessage(f *testing.F) {
	tm := newTeam(f, 2)
	a, b := tm.members[0], tm.members[1]
	text, _ := EncodeMessage(textMessage(a, b, 1, "Fire on floor 3"))
	f.Add(text)
	receipt, _ := EncodeMessage(&Message{ID: MessageID{2}, Kind: KindReceipt, FromAoR: b.aor, FromNode: b.node(), ToAoR: a.aor, SentAt: t0, Body: make([]byte, 15)})
	f.Add(receipt)
	parts, err := SealVoicemail(seededReader(1), b.pub(), *textMessage(a, b, 3, ""), Voicemail{MediaType: "audio/opus", Audio: []byte("frames")})
	if err != nil {
		f.Fatal(err)
	}
	vm, _ := EncodeMessage(parts[0])
	f.Add(vm)
	f.Add([]byte{})
	f.Add([]byte{ValueVersion, byte(KindText)})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMessage(b)
		if err != nil {
			return
		}
		again, err := EncodeMessage(m)
		if err != nil {
			t.Fatalf("decoded message does not encode: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("encoding is not canonical:\n in  %x\n out %x", b, again)
		}
		if _, err := RecordKey(m); err != nil {
			t.Fatalf("decoded message has no record key: %v", err)
		}
	})
}

func FuzzDecodeChunk(f *testing.F) {
	tm := newTeam(f, 2)
	a, b := tm.members[0], tm.members[1]
	// Small seeds: the fuzzer minimises what it finds interesting, which is slow on large inputs.
	parts, err := SealVoicemail(seededReader(1), b.pub(), *textMessage(a, b, 3, ""), Voicemail{MediaType: "audio/opus", Audio: audio(40, 1)})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(parts[0].Body)
	f.Add(make([]byte, chunkHeaderBytes))
	f.Add(append([]byte{0, 1, 0, 2}, make([]byte, 60)...)) // the last of two chunks
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeChunk(b)
		if err != nil {
			return
		}
		again, err := EncodeChunk(c)
		if err != nil {
			t.Fatalf("decoded chunk does not encode: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatal("chunk encoding is not canonical")
		}
	})
}

func FuzzDecodePresence(f *testing.F) {
	for _, p := range []Presence{{State: OnScene, Text: "Sector 4", Updated: t0}, {State: OffDuty, Updated: t0}} {
		b, err := EncodePresence(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"v":1,"state":"busy","updated":5,"extra":[1,2]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodePresence(b)
		if err != nil {
			return
		}
		enc, err := EncodePresence(p)
		if err != nil {
			t.Fatalf("decoded presence does not encode: %v", err)
		}
		back, err := DecodePresence(enc)
		if err != nil || back.State != p.State || back.Text != p.Text || !back.Updated.Equal(p.Updated) {
			t.Fatalf("re-encoded presence differs: %+v, %v", back, err)
		}
	})
}

func FuzzRestore(f *testing.F) {
	tm := newTeam(f, 2)
	a, b := busyMailboxes(f, tm)
	for _, mb := range []*Mailbox{a, b} {
		data, err := mb.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"version":1,"outbox":[],"receipts":[],"inbox":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		mb, err := Restore(tm.config(tm.members[1], 1), data)
		if err != nil {
			return
		}
		out, err := mb.Marshal()
		if err != nil {
			t.Fatalf("restored state does not marshal: %v", err)
		}
		back, err := Restore(tm.config(tm.members[1], 1), out)
		if err != nil {
			t.Fatalf("marshalled state does not restore: %v", err)
		}
		again, _ := back.Marshal()
		if !bytes.Equal(out, again) {
			t.Fatal("state is not stable across Marshal/Restore")
		}
		mb.Resume(t0)
		mb.Tick(t0)
		mb.ReceiveStored(t0, []*mesh.Record{})
	})
}
