package mailbox

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"filippo.io/edwards25519"
	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/nacl/box"
)

// Voicemail limits. A chunk's sealed bytes plus its header and the message header fit one
// record value (mesh.MaxValueBytes).
const (
	// ChunkPlaintextBytes is how much of the plaintext stream each chunk carries (the last
	// may carry less).
	ChunkPlaintextBytes = 15 * 1024
	// MaxVoicemailAudioBytes bounds the audio: 120 s of Opus at 32 kbit/s is 480,000 bytes.
	MaxVoicemailAudioBytes = 512 << 10
	// MaxMediaTypeBytes bounds the media type ("audio/opus", "audio/wav").
	MaxMediaTypeBytes = 64
	// MaxVoicemailChunks is the most chunks a voicemail can have.
	MaxVoicemailChunks = (1 + MaxMediaTypeBytes + MaxVoicemailAudioBytes + ChunkPlaintextBytes - 1) / ChunkPlaintextBytes
	chunkHeaderBytes   = 2 + 2 + 32
	maxSealedBytes     = ChunkPlaintextBytes + box.Overhead
)

// Errors of sealing, reassembling and opening voicemail; each refusal wraps one of them.
var (
	ErrVoicemail      = errors.New("voicemail is malformed")
	ErrMissingChunk   = errors.New("voicemail chunk missing")
	ErrDuplicateChunk = errors.New("voicemail chunk duplicated")
	ErrDecrypt        = errors.New("voicemail does not decrypt (wrong key or tampered)")
	ErrRecipientKey   = errors.New("recipient key unusable for voicemail")
)

// Voicemail is a voice message in the clear: an audio payload and its media type.
type Voicemail struct {
	MediaType string // e.g. "audio/opus" or "audio/wav"
	Audio     []byte
}

// Chunk is the body of one KindVoicemail message: a piece of the sealed voicemail.
type Chunk struct {
	Index     int      // 0 .. Count-1
	Count     int      // 1 .. MaxVoicemailChunks, the same in every chunk
	Ephemeral [32]byte // the sender's one-off X25519 public key, the same in every chunk
	Sealed    []byte   // nacl/box output: 16-byte tag then the encrypted plaintext piece
}

// EncodeChunk encodes c: index (2 bytes), count (2 bytes), ephemeral key (32), sealed bytes.
func EncodeChunk(c Chunk) ([]byte, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	b := make([]byte, 0, chunkHeaderBytes+len(c.Sealed))
	b = binary.BigEndian.AppendUint16(b, uint16(c.Index))
	b = binary.BigEndian.AppendUint16(b, uint16(c.Count))
	b = append(b, c.Ephemeral[:]...)
	return append(b, c.Sealed...), nil
}

// DecodeChunk decodes and checks a voicemail chunk: a count of 1 to MaxVoicemailChunks, an
// index below it, and sealed bytes of exactly a full piece for every chunk but the last (which
// holds 1 to ChunkPlaintextBytes). The result shares no memory with b.
func DecodeChunk(b []byte) (Chunk, error) {
	if len(b) > chunkHeaderBytes+maxSealedBytes {
		return Chunk{}, fmt.Errorf("%w: chunk is %d bytes (limit %d)", ErrVoicemail, len(b), chunkHeaderBytes+maxSealedBytes)
	}
	if len(b) < chunkHeaderBytes {
		return Chunk{}, fmt.Errorf("%w: chunk is %d bytes, shorter than its %d-byte header", ErrVoicemail, len(b), chunkHeaderBytes)
	}
	c := Chunk{
		Index:  int(binary.BigEndian.Uint16(b[0:2])),
		Count:  int(binary.BigEndian.Uint16(b[2:4])),
		Sealed: append([]byte(nil), b[chunkHeaderBytes:]...),
	}
	copy(c.Ephemeral[:], b[4:36])
	if err := c.validate(); err != nil {
		return Chunk{}, err
	}
	return c, nil
}

func (c *Chunk) validate() error {
	if c.Count < 1 || c.Count > MaxVoicemailChunks {
		return fmt.Errorf("%w: chunk count %d (want 1 to %d)", ErrVoicemail, c.Count, MaxVoicemailChunks)
	}
	if c.Index < 0 || c.Index >= c.Count {
		return fmt.Errorf("%w: chunk index %d of %d", ErrVoicemail, c.Index, c.Count)
	}
	n := len(c.Sealed)
	if c.Index < c.Count-1 && n != maxSealedBytes {
		return fmt.Errorf("%w: chunk %d of %d holds %d sealed bytes (every chunk but the last holds %d)", ErrVoicemail, c.Index, c.Count, n, maxSealedBytes)
	}
	if n <= box.Overhead || n > maxSealedBytes {
		return fmt.Errorf("%w: chunk %d holds %d sealed bytes (want %d to %d)", ErrVoicemail, c.Index, n, box.Overhead+1, maxSealedBytes)
	}
	return nil
}

// RecipientKey returns the ed25519 key of a member certificate whose sip: URI names aor: the
// key voicemail for aor is sealed to. The caller has checked the certificate's chain.
func RecipientKey(cert *x509.Certificate, aor string) (ed25519.PublicKey, error) {
	pub, ok := cert.PublicKey.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: certificate key is %T, not ed25519", ErrRecipientKey, cert.PublicKey)
	}
	for _, u := range cert.URIs {
		if u.String() == aor {
			return pub, nil
		}
	}
	return nil, fmt.Errorf("%w: certificate does not name %s", ErrRecipientKey, aor)
}

// x25519Public converts an ed25519 public key to the X25519 (Montgomery) form of the same
// point, refusing invalid encodings and points of small order.
func x25519Public(pub ed25519.PublicKey) (*[32]byte, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: public key is %d bytes", ErrRecipientKey, len(pub))
	}
	p, err := new(edwards25519.Point).SetBytes(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrRecipientKey, err)
	}
	if new(edwards25519.Point).MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) == 1 {
		return nil, fmt.Errorf("%w: public key has small order", ErrRecipientKey)
	}
	var out [32]byte
	copy(out[:], p.BytesMontgomery())
	return &out, nil
}

// x25519Private derives the X25519 scalar of an ed25519 key as RFC 8032 does for signing: the
// first half of SHA-512 over the seed, clamped.
func x25519Private(key ed25519.PrivateKey) (*[32]byte, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: private key is %d bytes", ErrRecipientKey, len(key))
	}
	h := sha512.Sum512(key.Seed())
	var s [32]byte
	copy(s[:], h[:32])
	s[0] &= 248
	s[31] &= 127
	s[31] |= 64
	return &s, nil
}

// sharedKey is nacl/box's precomputed key between priv and peer, refusing a peer point of
// small order (whose shared secret is all zeros).
func sharedKey(peer, priv *[32]byte) (*[32]byte, error) {
	if _, err := curve25519.X25519(priv[:], peer[:]); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrRecipientKey, err)
	}
	var k [32]byte
	box.Precompute(&k, peer, priv)
	return &k, nil
}

// chunkNonce binds a chunk to its voicemail: sender node, recipient, message id, ephemeral key,
// index and count. A chunk moved to another index, voicemail or recipient does not open.
func chunkNonce(m *Message, eph *[32]byte, index, count int) *[24]byte {
	h := sha256.New()
	h.Write([]byte("meshcomm-voicemail-v1"))
	h.Write(m.FromNode[:])
	h.Write([]byte{byte(len(m.ToAoR))})
	h.Write([]byte(m.ToAoR))
	h.Write(m.ID[:])
	h.Write(eph[:])
	var ic [4]byte
	binary.BigEndian.PutUint16(ic[0:2], uint16(index))
	binary.BigEndian.PutUint16(ic[2:4], uint16(count))
	h.Write(ic[:])
	var n [24]byte
	copy(n[:], h.Sum(nil))
	return &n
}

func checkVoicemail(v Voicemail) error {
	if n := len(v.MediaType); n == 0 || n > MaxMediaTypeBytes {
		return fmt.Errorf("%w: media type is %d bytes (want 1 to %d)", ErrVoicemail, n, MaxMediaTypeBytes)
	}
	for _, c := range []byte(v.MediaType) {
		if c <= ' ' || c > '~' {
			return fmt.Errorf("%w: media type %q has a character outside printable ASCII", ErrVoicemail, v.MediaType)
		}
	}
	if n := len(v.Audio); n == 0 || n > MaxVoicemailAudioBytes {
		return fmt.Errorf("%w: audio is %d bytes (want 1 to %d)", ErrVoicemail, n, MaxVoicemailAudioBytes)
	}
	return nil
}

// SealVoicemail encrypts v to the holder of recipient (an ed25519 key from the recipient's
// certificate) and splits it into voicemail messages that copy head's id, addresses, sender
// node and sent time. rnd supplies the one-off ephemeral key. See the package documentation
// for the scheme.
func SealVoicemail(rnd io.Reader, recipient ed25519.PublicKey, head Message, v Voicemail) ([]*Message, error) {
	if err := checkVoicemail(v); err != nil {
		return nil, err
	}
	peer, err := x25519Public(recipient)
	if err != nil {
		return nil, err
	}
	ephPub, ephPriv, err := box.GenerateKey(rnd)
	if err != nil {
		return nil, fmt.Errorf("drawing an ephemeral key: %w", err)
	}
	key, err := sharedKey(peer, ephPriv)
	if err != nil {
		return nil, err
	}
	plain := make([]byte, 0, 1+len(v.MediaType)+len(v.Audio))
	plain = append(plain, byte(len(v.MediaType)))
	plain = append(plain, v.MediaType...)
	plain = append(plain, v.Audio...)
	count := (len(plain) + ChunkPlaintextBytes - 1) / ChunkPlaintextBytes
	head.Kind = KindVoicemail
	out := make([]*Message, 0, count)
	for i := range count {
		piece := plain[i*ChunkPlaintextBytes : min(len(plain), (i+1)*ChunkPlaintextBytes)]
		c := Chunk{Index: i, Count: count, Ephemeral: *ephPub}
		c.Sealed = box.SealAfterPrecomputation(nil, piece, chunkNonce(&head, ephPub, i, count), key)
		body, err := EncodeChunk(c)
		if err != nil {
			return nil, err
		}
		m := head
		m.Body = body
		if err := m.validate(); err != nil {
			return nil, err
		}
		out = append(out, &m)
	}
	return out, nil
}

// OpenVoicemail reassembles and decrypts a voicemail from its messages (in any order) with the
// recipient's private key. It refuses, with an error wrapping the matching sentinel, parts that
// disagree on the voicemail they belong to (ErrVoicemail), a duplicated index
// (ErrDuplicateChunk), a missing one (ErrMissingChunk), a piece that does not open under key
// (ErrDecrypt) and a plaintext that is not a valid voicemail (ErrVoicemail).
func OpenVoicemail(key ed25519.PrivateKey, parts []*Message) (Voicemail, error) {
	if len(parts) == 0 {
		return Voicemail{}, fmt.Errorf("%w: no chunks", ErrMissingChunk)
	}
	head := parts[0]
	chunks := make([]*Chunk, 0, len(parts))
	for _, p := range parts {
		if p.Kind != KindVoicemail {
			return Voicemail{}, fmt.Errorf("%w: part of kind %s", ErrVoicemail, p.Kind)
		}
		if p.ID != head.ID || p.FromNode != head.FromNode || p.FromAoR != head.FromAoR || p.ToAoR != head.ToAoR || !p.SentAt.Equal(head.SentAt) {
			return Voicemail{}, fmt.Errorf("%w: parts belong to different messages", ErrVoicemail)
		}
		c, err := DecodeChunk(p.Body)
		if err != nil {
			return Voicemail{}, err
		}
		chunks = append(chunks, &c)
	}
	count, eph := chunks[0].Count, chunks[0].Ephemeral
	byIndex := make([]*Chunk, count)
	for _, c := range chunks {
		if c.Count != count || c.Ephemeral != eph {
			return Voicemail{}, fmt.Errorf("%w: chunks disagree on their count or key", ErrVoicemail)
		}
		if byIndex[c.Index] != nil {
			return Voicemail{}, fmt.Errorf("%w: index %d of %d", ErrDuplicateChunk, c.Index, count)
		}
		byIndex[c.Index] = c
	}
	if missing := missingIndices(byIndex); len(missing) > 0 {
		return Voicemail{}, fmt.Errorf("%w: %d of %d (indices %v)", ErrMissingChunk, len(missing), count, missing)
	}
	priv, err := x25519Private(key)
	if err != nil {
		return Voicemail{}, err
	}
	shared, err := sharedKey(&eph, priv)
	if err != nil {
		return Voicemail{}, fmt.Errorf("%w: %v", ErrDecrypt, err)
	}
	plain := make([]byte, 0, count*ChunkPlaintextBytes)
	for i, c := range byIndex {
		var ok bool
		plain, ok = box.OpenAfterPrecomputation(plain, c.Sealed, chunkNonce(head, &eph, i, count), shared)
		if !ok {
			return Voicemail{}, fmt.Errorf("%w: chunk %d of %d", ErrDecrypt, i, count)
		}
	}
	n := int(plain[0])
	if len(plain) < 1+n {
		return Voicemail{}, fmt.Errorf("%w: plaintext shorter than its media type", ErrVoicemail)
	}
	v := Voicemail{MediaType: string(plain[1 : 1+n]), Audio: plain[1+n:]}
	if err := checkVoicemail(v); err != nil {
		return Voicemail{}, err
	}
	return v, nil
}

func missingIndices(byIndex []*Chunk) []int {
	var missing []int
	for i, c := range byIndex {
		if c == nil {
			missing = append(missing, i)
		}
	}
	return slices.Clip(missing)
}
