package mailbox

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"meshcomm/identity"
	"meshcomm/mesh"
)

// MessageID names one message among its sender's: 16 random bytes.
type MessageID [16]byte

func (id MessageID) String() string { return hex.EncodeToString(id[:]) }

// Short is the first 8 hex digits, for humans.
func (id MessageID) Short() string { return hex.EncodeToString(id[:4]) }

// IsZero reports whether the identifier is all zeros (never a valid message).
func (id MessageID) IsZero() bool { return id == MessageID{} }

// ParseMessageID reads the 32 hex digits String produces.
func ParseMessageID(s string) (MessageID, error) {
	var id MessageID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(id) {
		return id, fmt.Errorf("message id %q is not %d hex digits", s, 2*len(id))
	}
	copy(id[:], b)
	return id, nil
}

// NewMessageID draws a message identifier from rnd.
func NewMessageID(rnd io.Reader) (MessageID, error) {
	var id MessageID
	if _, err := io.ReadFull(rnd, id[:]); err != nil {
		return id, fmt.Errorf("drawing a message id: %w", err)
	}
	if id.IsZero() {
		return id, errors.New("drawing a message id: random source gave all zeros")
	}
	return id, nil
}

// Kind says what a stored message carries.
type Kind uint8

const (
	KindText      Kind = 1 // a text message; Body is UTF-8 text
	KindVoicemail Kind = 2 // one chunk of an encrypted voice message; Body is a Chunk encoding
	KindReceipt   Kind = 3 // a delivery receipt; Body is the delivered message's id
)

func (k Kind) String() string {
	switch k {
	case KindText:
		return "text"
	case KindVoicemail:
		return "voicemail"
	case KindReceipt:
		return "receipt"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Limits of the message value encoding. A value never exceeds mesh.MaxValueBytes.
const (
	// ValueVersion is the version byte every message value starts with.
	ValueVersion = 1
	// MaxAoRBytes bounds a sip: address in a value (a canonical AoR is at most about 100 bytes).
	MaxAoRBytes = 128
	// MaxTextBytes bounds a text message's UTF-8 body.
	MaxTextBytes = 4096
	// valueHeaderBytes is the fixed part: version, kind, id, from node, sent time.
	valueHeaderBytes = 1 + 1 + 16 + mesh.IDBytes + 8
	// maxValueOverhead is everything but the body, at its largest.
	maxValueOverhead = valueHeaderBytes + 1 + MaxAoRBytes + 1 + MaxAoRBytes + 2
	// MaxBodyBytes bounds any body so that the value fits one record.
	MaxBodyBytes = mesh.MaxValueBytes - maxValueOverhead
)

// Message is the decoded value of a KindMessage record: a text, one voicemail chunk or a
// delivery receipt, from one user's node to another user.
type Message struct {
	ID       MessageID
	Kind     Kind
	FromAoR  string      // the sender's canonical address, e.g. "sip:101@team"
	FromNode mesh.NodeID // the sender's node: the record key starts with it
	ToAoR    string      // the recipient's canonical address; the record lives at its resource
	SentAt   time.Time   // millisecond precision
	Body     []byte
}

// ErrMessage is wrapped by every refusal of a message value or record.
var ErrMessage = errors.New("message is malformed")

func messageErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMessage, fmt.Sprintf(format, args...))
}

// EncodeMessage encodes m as a record value (see the package documentation for the layout),
// after checking it as DecodeMessage would.
func EncodeMessage(m *Message) ([]byte, error) {
	if err := m.validate(); err != nil {
		return nil, err
	}
	b := make([]byte, 0, valueHeaderBytes+2+len(m.FromAoR)+len(m.ToAoR)+2+len(m.Body))
	b = append(b, ValueVersion, byte(m.Kind))
	b = append(b, m.ID[:]...)
	b = append(b, m.FromNode[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(m.SentAt.UnixMilli()))
	b = append(b, byte(len(m.FromAoR)))
	b = append(b, m.FromAoR...)
	b = append(b, byte(len(m.ToAoR)))
	b = append(b, m.ToAoR...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(m.Body)))
	b = append(b, m.Body...)
	return b, nil
}

// DecodeMessage decodes and checks a record value: at most mesh.MaxValueBytes, version 1, a
// known kind, canonical addresses, and a body valid for the kind. The result shares no memory
// with b.
func DecodeMessage(b []byte) (*Message, error) {
	if len(b) > mesh.MaxValueBytes {
		return nil, messageErr("value is %d bytes (limit %d)", len(b), mesh.MaxValueBytes)
	}
	if len(b) < valueHeaderBytes {
		return nil, messageErr("value is %d bytes, shorter than the %d-byte header", len(b), valueHeaderBytes)
	}
	if b[0] != ValueVersion {
		return nil, messageErr("unknown value version %d", b[0])
	}
	m := &Message{Kind: Kind(b[1])}
	copy(m.ID[:], b[2:18])
	copy(m.FromNode[:], b[18:34])
	ms := int64(binary.BigEndian.Uint64(b[34:42]))
	rest := b[valueHeaderBytes:]
	var ok bool
	if m.FromAoR, rest, ok = cutShortString(rest); !ok {
		return nil, messageErr("truncated sender address")
	}
	if m.ToAoR, rest, ok = cutShortString(rest); !ok {
		return nil, messageErr("truncated recipient address")
	}
	if len(rest) < 2 {
		return nil, messageErr("truncated body length")
	}
	n := int(binary.BigEndian.Uint16(rest))
	rest = rest[2:]
	if len(rest) != n {
		return nil, messageErr("body length %d does not match the %d bytes that follow", n, len(rest))
	}
	if ms <= 0 {
		return nil, messageErr("sent time %d is not a positive Unix millisecond count", ms)
	}
	m.SentAt = time.UnixMilli(ms).UTC()
	m.Body = append([]byte(nil), rest...)
	if err := m.validate(); err != nil {
		return nil, err
	}
	return m, nil
}

func cutShortString(b []byte) (string, []byte, bool) {
	if len(b) < 1 || len(b) < 1+int(b[0]) {
		return "", nil, false
	}
	n := int(b[0])
	return string(b[1 : 1+n]), b[1+n:], true
}

// validate checks everything DecodeMessage checks.
func (m *Message) validate() error {
	if m.ID.IsZero() {
		return messageErr("zero message id")
	}
	if m.FromNode.IsZero() {
		return messageErr("zero sender node")
	}
	if m.SentAt.UnixMilli() <= 0 {
		return messageErr("sent time %v is not after 1970", m.SentAt)
	}
	if err := checkAoR(m.FromAoR); err != nil {
		return messageErr("sender: %v", err)
	}
	if err := checkAoR(m.ToAoR); err != nil {
		return messageErr("recipient: %v", err)
	}
	if len(m.Body) > MaxBodyBytes {
		return messageErr("body is %d bytes (limit %d)", len(m.Body), MaxBodyBytes)
	}
	switch m.Kind {
	case KindText:
		if len(m.Body) == 0 || len(m.Body) > MaxTextBytes {
			return messageErr("text is %d bytes (want 1 to %d)", len(m.Body), MaxTextBytes)
		}
		if !utf8.Valid(m.Body) {
			return messageErr("text is not valid UTF-8")
		}
	case KindReceipt:
		if len(m.Body) != len(MessageID{}) {
			return messageErr("receipt body is %d bytes (want a %d-byte message id)", len(m.Body), len(MessageID{}))
		}
		if MessageID(m.Body).IsZero() {
			return messageErr("receipt refers to the zero message id")
		}
	case KindVoicemail:
		if _, err := DecodeChunk(m.Body); err != nil {
			return err
		}
	default:
		return messageErr("unknown kind %d", uint8(m.Kind))
	}
	return nil
}

// checkAoR accepts a canonical "sip:EXT@TEAM" address (identity.ParseAoR) of bounded length.
func checkAoR(aor string) error {
	if len(aor) > MaxAoRBytes {
		return fmt.Errorf("address is %d bytes (limit %d)", len(aor), MaxAoRBytes)
	}
	_, _, err := identity.ParseAoR(aor)
	return err
}

// ReceiptFor returns the id a receipt's body refers to; ok is false for other kinds.
func (m *Message) ReceiptFor() (MessageID, bool) {
	if m.Kind != KindReceipt || len(m.Body) != len(MessageID{}) {
		return MessageID{}, false
	}
	return MessageID(m.Body), true
}
