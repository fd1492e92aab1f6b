package mailbox

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"golang.org/x/crypto/curve25519"

	"meshcomm/identity"
)

// audio returns n deterministic pseudo-random bytes standing in for an Opus payload.
func audio(n int, seed uint64) []byte {
	b := make([]byte, n)
	_, _ = seededReader(seed).Read(b)
	return b
}

func sealFor(t *testing.T, to member, head Message, n int) []*Message {
	t.Helper()
	parts, err := SealVoicemail(seededReader(uint64(n)), to.pub(), head, Voicemail{MediaType: "audio/opus", Audio: audio(n, 7)})
	if err != nil {
		t.Fatal(err)
	}
	return parts
}

func TestVoicemailRoundTrip(t *testing.T) {
	tm := newTeam(t, 2)
	a, b := tm.members[0], tm.members[1]
	head := *textMessage(a, b, 5, "")
	plainFull := ChunkPlaintextBytes - 1 - len("audio/opus") // audio that exactly fills one chunk
	for _, n := range []int{1, plainFull, plainFull + 1, 3*ChunkPlaintextBytes + 17, MaxVoicemailAudioBytes} {
		parts := sealFor(t, b, head, n)
		wantChunks := (1 + len("audio/opus") + n + ChunkPlaintextBytes - 1) / ChunkPlaintextBytes
		if len(parts) != wantChunks {
			t.Fatalf("%d bytes of audio: %d chunks, want %d", n, len(parts), wantChunks)
		}
		for _, p := range parts {
			rec, err := NewRecord(a.signer, p, t0.Add(DefaultTTL))
			if err != nil {
				t.Fatalf("%d bytes: chunk does not fit a record: %v", n, err)
			}
			if len(rec.Key) != 34 {
				t.Fatalf("chunk record key is %d bytes, want node+id+index = 34", len(rec.Key))
			}
		}
		rand.New(rand.NewPCG(uint64(n), 1)).Shuffle(len(parts), func(i, j int) { parts[i], parts[j] = parts[j], parts[i] })
		v, err := OpenVoicemail(b.key, parts)
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if v.MediaType != "audio/opus" || !bytes.Equal(v.Audio, audio(n, 7)) {
			t.Fatalf("%d bytes: reassembled voicemail differs", n)
		}
	}
}

func TestVoicemailWrongKeyRefused(t *testing.T) {
	tm := newTeam(t, 3)
	a, b, c := tm.members[0], tm.members[1], tm.members[2]
	parts := sealFor(t, b, *textMessage(a, b, 5, ""), 40000)
	for _, key := range []ed25519.PrivateKey{c.key, a.key} {
		if _, err := OpenVoicemail(key, parts); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("opened with another key: %v, want ErrDecrypt", err)
		}
	}
}

func TestVoicemailTamperedChunkRefused(t *testing.T) {
	tm := newTeam(t, 2)
	a, b := tm.members[0], tm.members[1]
	parts := sealFor(t, b, *textMessage(a, b, 5, ""), 40000)
	c, _ := DecodeChunk(parts[1].Body)
	c.Sealed[100] ^= 0x01
	body, err := EncodeChunk(c)
	if err != nil {
		t.Fatal(err)
	}
	parts[1].Body = body
	_, err = OpenVoicemail(b.key, parts)
	if !errors.Is(err, ErrDecrypt) || !strings.Contains(err.Error(), "chunk 1 of 3") {
		t.Fatalf("tampered chunk: %v, want ErrDecrypt naming chunk 1 of 3", err)
	}
}

func TestVoicemailChunksBoundToTheirPlace(t *testing.T) {
	tm := newTeam(t, 3)
	a, b, c := tm.members[0], tm.members[1], tm.members[2]
	head := *textMessage(a, b, 5, "")
	parts := sealFor(t, b, head, 40000)

	// Two chunks swapped in position (index rewritten) do not open.
	c0, _ := DecodeChunk(parts[0].Body)
	c1, _ := DecodeChunk(parts[1].Body)
	c0.Index, c1.Index = 1, 0
	swapped := []*Message{clonePart(parts[0], c0), clonePart(parts[1], c1), parts[2]}
	if _, err := OpenVoicemail(b.key, swapped); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("swapped chunks: %v, want ErrDecrypt", err)
	}
	// The same ciphertext relabelled as another message id, or claimed by another sender,
	// does not open either.
	for name, f := range map[string]func(m *Message){
		"other id":     func(m *Message) { m.ID[0] ^= 1 },
		"other sender": func(m *Message) { m.FromNode, m.FromAoR = c.node(), c.aor },
	} {
		relabelled := make([]*Message, len(parts))
		for i, p := range parts {
			cp := *p
			f(&cp)
			relabelled[i] = &cp
		}
		if _, err := OpenVoicemail(b.key, relabelled); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("%s: %v, want ErrDecrypt", name, err)
		}
	}
}

func clonePart(p *Message, c Chunk) *Message {
	cp := *p
	cp.Body, _ = EncodeChunk(c)
	return &cp
}

func TestVoicemailLossAndDuplicationDetected(t *testing.T) {
	tm := newTeam(t, 2)
	a, b := tm.members[0], tm.members[1]
	parts := sealFor(t, b, *textMessage(a, b, 5, ""), 4*ChunkPlaintextBytes)
	if len(parts) != 5 {
		t.Fatalf("%d chunks, want 5", len(parts))
	}
	_, err := OpenVoicemail(b.key, []*Message{parts[0], parts[1], parts[4]})
	if !errors.Is(err, ErrMissingChunk) || !strings.Contains(err.Error(), "[2 3]") {
		t.Fatalf("two chunks lost: %v, want ErrMissingChunk naming indices [2 3]", err)
	}
	if _, err := OpenVoicemail(b.key, nil); !errors.Is(err, ErrMissingChunk) {
		t.Fatalf("no chunks: %v, want ErrMissingChunk", err)
	}
	dup := append(append([]*Message(nil), parts...), parts[3])
	if _, err := OpenVoicemail(b.key, dup); !errors.Is(err, ErrDuplicateChunk) {
		t.Fatalf("duplicated chunk: %v, want ErrDuplicateChunk", err)
	}
	other := sealFor(t, b, *textMessage(a, b, 6, ""), 4*ChunkPlaintextBytes)
	mixed := append(append([]*Message(nil), parts[:4]...), other[4])
	if _, err := OpenVoicemail(b.key, mixed); !errors.Is(err, ErrVoicemail) {
		t.Fatalf("chunk of another voicemail: %v, want ErrVoicemail", err)
	}
}

func TestChunkSizesChecked(t *testing.T) {
	eph := [32]byte{1}
	full := make([]byte, maxSealedBytes)
	cases := map[string]Chunk{
		"oversized last":    {Index: 0, Count: 1, Ephemeral: eph, Sealed: make([]byte, maxSealedBytes+1)},
		"short middle":      {Index: 0, Count: 2, Ephemeral: eph, Sealed: make([]byte, maxSealedBytes-1)},
		"only a tag":        {Index: 0, Count: 1, Ephemeral: eph, Sealed: make([]byte, 16)},
		"index past count":  {Index: 2, Count: 2, Ephemeral: eph, Sealed: full},
		"zero count":        {Index: 0, Count: 0, Ephemeral: eph, Sealed: full},
		"too many chunks":   {Index: 0, Count: MaxVoicemailChunks + 1, Ephemeral: eph, Sealed: full},
		"negative index":    {Index: -1, Count: 2, Ephemeral: eph, Sealed: full},
		"oversized encoded": {Index: 0, Count: 2, Ephemeral: eph, Sealed: make([]byte, 70000)},
	}
	for name, c := range cases {
		if _, err := EncodeChunk(c); !errors.Is(err, ErrVoicemail) {
			t.Errorf("%s: EncodeChunk = %v, want ErrVoicemail", name, err)
		}
	}
	good, err := EncodeChunk(Chunk{Index: 0, Count: 2, Ephemeral: eph, Sealed: full})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeChunk(append(good, 0)); !errors.Is(err, ErrVoicemail) {
		t.Fatalf("a chunk one byte too long decoded: %v", err)
	}
	for n := range len(good) { // every chunk but the last is full: any cut is refused
		if _, err := DecodeChunk(good[:n]); err == nil {
			t.Fatalf("a chunk cut to %d bytes decoded", n)
		}
	}
}

func TestSealVoicemailRefuses(t *testing.T) {
	tm := newTeam(t, 2)
	a, b := tm.members[0], tm.members[1]
	head := *textMessage(a, b, 5, "")
	for name, v := range map[string]Voicemail{
		"no audio":          {MediaType: "audio/opus"},
		"too much audio":    {MediaType: "audio/opus", Audio: make([]byte, MaxVoicemailAudioBytes+1)},
		"no media type":     {Audio: []byte{1}},
		"control character": {MediaType: "audio/\nopus", Audio: []byte{1}},
	} {
		if _, err := SealVoicemail(seededReader(1), b.pub(), head, v); !errors.Is(err, ErrVoicemail) {
			t.Errorf("%s: %v, want ErrVoicemail", name, err)
		}
	}
	// The identity point, which has small order, and bytes that are no point are refused.
	identityPoint := make([]byte, 32)
	identityPoint[0] = 1
	notAPoint := make([]byte, 32)
	notAPoint[0] = 2 // y = 2 has no x on the curve
	for _, key := range [][]byte{identityPoint, notAPoint, make([]byte, 31)} {
		if _, err := SealVoicemail(seededReader(1), key, head, Voicemail{MediaType: "audio/opus", Audio: []byte{1}}); !errors.Is(err, ErrRecipientKey) {
			t.Errorf("key %x: %v, want ErrRecipientKey", key, err)
		}
	}
}

// The X25519 key derived from the private side matches the one derived from the public side.
func TestKeyConversionAgrees(t *testing.T) {
	for i := range 20 {
		seed := audio(32, uint64(i))
		key := ed25519.NewKeyFromSeed(seed)
		pub, err := x25519Public(key.Public().(ed25519.PublicKey))
		if err != nil {
			t.Fatal(err)
		}
		priv, err := x25519Private(key)
		if err != nil {
			t.Fatal(err)
		}
		fromPriv, err := curve25519.X25519(priv[:], curve25519.Basepoint)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(fromPriv, pub[:]) {
			t.Fatalf("seed %x: X25519 public keys differ:\n from private %x\n from public  %x", seed, fromPriv, pub[:])
		}
	}
}

// With the project's X.509 certificates: the key comes out of the recipient's certificate, and
// only the recipient's private key opens what was sealed to it.
func TestVoicemailToCertificate(t *testing.T) {
	ca, err := identity.NewCA("rescue", t0)
	if err != nil {
		t.Fatal(err)
	}
	alice, err := ca.IssueMember("201", "Alice", "medic", t0)
	if err != nil {
		t.Fatal(err)
	}
	bob, err := ca.IssueMember("202", "Bob", "medic", t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := RecipientKey(bob.Cert, "sip:201@rescue"); !errors.Is(err, ErrRecipientKey) {
		t.Fatalf("key of a certificate for another address: %v", err)
	}
	pub, err := RecipientKey(bob.Cert, "sip:202@rescue")
	if err != nil {
		t.Fatal(err)
	}
	head := Message{ID: MessageID{1}, FromAoR: "sip:201@rescue", FromNode: nodeOfKey(alice.Key), ToAoR: "sip:202@rescue", SentAt: t0}
	want := Voicemail{MediaType: "audio/wav", Audio: audio(50000, 3)}
	parts, err := SealVoicemail(seededReader(9), pub, head, want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := OpenVoicemail(bob.Key, parts)
	if err != nil {
		t.Fatal(err)
	}
	if got.MediaType != want.MediaType || !bytes.Equal(got.Audio, want.Audio) {
		t.Fatal("voicemail changed on the way")
	}
	if _, err := OpenVoicemail(alice.Key, parts); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("the sender opened it: %v", err)
	}
}
