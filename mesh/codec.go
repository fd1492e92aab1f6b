package mesh

// Wire format of the overlay messages (version 1)
//
// Every message travels as one frame:
//
//	| version (1 byte, WireVersion = 1) | type (1 byte, MsgType) | body |
//
// A frame is at most MaxMessageBytes long, the body fills the rest of it exactly (trailing bytes
// are an error), and every field is always present: there are no optional fields, so any strict
// prefix of a valid frame is truncated. A single record, as the runtime persists it
// (EncodeRecord, DecodeRecord), has the version byte but no type byte: | version | Record |.
//
// Field encodings used in the tables below:
//
//	u8        one byte
//	bool      one byte, 0 or 1 (any other value is refused)
//	fixed64   eight bytes, big-endian
//	uvarint   unsigned LEB128 (encoding/binary), minimal length: an over-long encoding is refused;
//	          fields narrower than 64 bits refuse values that do not fit (u16, u32 below)
//	varint    zigzag-encoded signed LEB128 (binary.AppendVarint), minimal length
//	id        16 bytes, as is (NodeID, ResourceID, flood and merge ids, hashes, fingerprints)
//	bytes     uvarint length, then that many bytes; the field's limit is checked before reading
//	list<T>   uvarint count, then count elements of T; the list's limit is checked, and the count
//	          must fit the bytes left (count * smallest element size) before anything is allocated
//
// Shared structures:
//
//	Status      Mode u8 | SizeEstimate uvarint(u32)                                    >= 2 bytes
//	Contact     ID id | Addr bytes (<= MaxAddrBytes)                                  >= 17 bytes
//	Record      Resource id | Kind u8 | Key bytes (<= MaxKeyBytes) |
//	            Value bytes (<= MaxValueBytes) | Version uvarint | Expiry varint |
//	            Deleted bool | Owner bytes (<= MaxCredentialBytes) |
//	            Signature bytes (<= MaxSignatureBytes)                                >= 24 bytes
//	Range       Prefix id | Bits u8 (<= 128) | Count uvarint(u32) | Fingerprint id    >= 34 bytes
//	ItemVersion Hash id | Version uvarint | Deleted bool                              >= 18 bytes
//	RecordRef   Resource id | Kind u8 | Key bytes (<= MaxKeyBytes) | Version uvarint >= 19 bytes
//
// Messages (type byte, then the body fields in order):
//
//	type  message          body
//	 1    Ping             Nonce fixed64 | Status
//	 2    Pong             Nonce fixed64 | Status
//	 3    Hello            Status | Self Contact
//	 4    FindNode         ReqID uvarint | Target id
//	 5    Nodes            ReqID uvarint | Nodes list<Contact> (<= MaxContacts)
//	 6    FindValue        ReqID uvarint | Resource id | Kind u8
//	 7    Value            ReqID uvarint | Records list<Record> (<= MaxRecordsPerMessage) |
//	                       Nodes list<Contact> (<= MaxContacts)
//	 8    Store            ReqID uvarint | Records list<Record> (<= MaxRecordsPerMessage)
//	 9    StoreAck         ReqID uvarint | Stored uvarint(u16) | Refused uvarint(u16)
//	10    Flood            ID id | Origin id | Hops u8 | Records list<Record> (<= MaxRecordsPerMessage)
//	11    FloodAck         ID id
//	12    SyncRanges       Session uvarint | Ranges list<Range> (<= MaxRanges)
//	13    SyncItems        Session uvarint | Ranges list<Range> (<= MaxRanges) |
//	                       Items list<ItemVersion> (<= MaxItems)
//	14    SyncWant         Session uvarint | Hashes list<id> (<= MaxHashes)
//	15    NeighborhoodReq  ReqID uvarint
//	16    Neighborhood     ReqID uvarint | Near list<Contact> (<= MaxContacts) |
//	                       Far list<Contact> (<= MaxContacts)
//	17    Merge            ID id | Hops u8 | Entries list<Contact> (<= MaxContacts)
//	18    Leave            (empty body)
//	19    Touch            ReqID uvarint | Refs list<RecordRef> (<= MaxRefs)
//	20    TouchAck         ReqID uvarint | Missing list<uvarint> (<= MaxRefs entries, each < MaxRefs)
//
// Nonces are fixed-width because they are random; request ids, sessions and versions are
// uvarints because they are counters. Mode and Kind bytes are passed through unchecked: what an
// unknown mode or kind means is the overlay's business (VerifyRecord refuses unknown kinds one
// record at a time), so a newer peer's record does not make a whole message undecodable.
//
// The encoding is canonical: a frame that decodes re-encodes to the same bytes. Encode refuses a
// message that Decode would refuse (a list or field over its limit, a frame over MaxMessageBytes,
// Range.Bits over 128, a TouchAck index at or over MaxRefs). Decode copies every byte field out of
// its input (one allocation per record), so the caller may reuse the buffer, and it returns nil,
// never an empty slice, for an empty list or byte field.
//
// The list limits bound each list on its own: a full list of large elements (256 records of
// MaxValueBytes, 8192 items beside 4096 ranges) does not fit in one frame, so a sender that
// batches should fill a message by EncodedSize, which is cheap, and split the rest.

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
)

// WireVersion is the version byte that opens every frame and every encoded record. The wire
// format it names is described at the top of codec.go.
const WireVersion = 1

// Bounds of the wire codec. Decode refuses input that exceeds one; Encode refuses to produce it.
const (
	MaxMessageBytes      = 256 << 10 // a whole frame, header included
	MaxContacts          = 1024      // per contact list (Nodes, Value, Neighborhood.Near and .Far, Merge)
	MaxRecordsPerMessage = 256       // per record list (Value, Store, Flood)
	MaxRanges            = 4096      // per SyncRanges/SyncItems
	MaxItems             = 8192      // per SyncItems
	MaxHashes            = 8192      // per SyncWant
	MaxRefs              = 256       // per Touch, and the bound on a TouchAck's indexes
	MaxAddrBytes         = 255       // per Contact.Addr
)

// frameHeaderBytes is the version byte and the type byte.
const frameHeaderBytes = 2

// Errors of the wire codec. Every error Encode, Decode, EncodeRecord and DecodeRecord return
// wraps exactly one of these (test with errors.Is); WireErrorReason names them for counters.
var (
	ErrUnknownVersion = errors.New("unknown wire version")
	ErrUnknownType    = errors.New("unknown message type")
	ErrTruncated      = errors.New("frame is truncated")
	ErrTrailingBytes  = errors.New("frame has trailing bytes")
	ErrTooLarge       = errors.New("frame exceeds MaxMessageBytes")
	ErrTooMany        = errors.New("list exceeds its limit")
	ErrFieldTooLong   = errors.New("field exceeds its length limit")
	ErrInvalidField   = errors.New("field holds an invalid value")
)

var wireErrorReasons = []struct {
	err    error
	reason string
}{
	{ErrUnknownVersion, "unknown_version"},
	{ErrUnknownType, "unknown_type"},
	{ErrTruncated, "truncated"},
	{ErrTrailingBytes, "trailing_bytes"},
	{ErrTooLarge, "too_large"},
	{ErrTooMany, "too_many"},
	{ErrFieldTooLong, "field_too_long"},
	{ErrInvalidField, "invalid_field"},
}

// WireErrorReason returns a short, stable label for a codec error, fit for a metric or log
// attribute: "truncated", "unknown_type", ... It returns "" for nil and "other" for an error the
// codec did not produce.
func WireErrorReason(err error) string {
	if err == nil {
		return ""
	}
	for _, e := range wireErrorReasons {
		if errors.Is(err, e.err) {
			return e.reason
		}
	}
	return "other"
}

// wireMessage is implemented by every message type of this package (codec_messages.go).
type wireMessage interface {
	Message
	bodySize() int            // exact body size in bytes, limits not checked
	checkLimits() error       // the bounds Encode enforces, other than the frame size
	appendBody([]byte) []byte // the body, appended
	decodeBody(r *wireReader) // fills the message from r; errors are left in r
}

// newMessage returns an empty message of a wire type, or nil for an unknown type.
func newMessage(t MsgType) wireMessage {
	switch t {
	case TypePing:
		return new(Ping)
	case TypePong:
		return new(Pong)
	case TypeHello:
		return new(Hello)
	case TypeFindNode:
		return new(FindNode)
	case TypeNodes:
		return new(Nodes)
	case TypeFindValue:
		return new(FindValue)
	case TypeValue:
		return new(Value)
	case TypeStore:
		return new(Store)
	case TypeStoreAck:
		return new(StoreAck)
	case TypeFlood:
		return new(Flood)
	case TypeFloodAck:
		return new(FloodAck)
	case TypeSyncRanges:
		return new(SyncRanges)
	case TypeSyncItems:
		return new(SyncItems)
	case TypeSyncWant:
		return new(SyncWant)
	case TypeNeighborhoodReq:
		return new(NeighborhoodReq)
	case TypeNeighborhood:
		return new(Neighborhood)
	case TypeMerge:
		return new(Merge)
	case TypeLeave:
		return new(Leave)
	case TypeTouch:
		return new(Touch)
	case TypeTouchAck:
		return new(TouchAck)
	}
	return nil
}

// asWire returns m as one of this package's messages, refusing nil and foreign types.
func asWire(m Message) (wireMessage, error) {
	w, ok := m.(wireMessage)
	if !ok {
		if m == nil {
			return nil, fmt.Errorf("%w: nil message", ErrInvalidField)
		}
		return nil, fmt.Errorf("%w: %T is not an overlay message", ErrUnknownType, m)
	}
	if v := reflect.ValueOf(m); v.Kind() == reflect.Pointer && v.IsNil() {
		return nil, fmt.Errorf("%w: nil %T", ErrInvalidField, m)
	}
	return w, nil
}

// Encode returns the frame of m.
func Encode(m Message) ([]byte, error) {
	return AppendEncode(nil, m)
}

// AppendEncode appends the frame of m to dst. On error it returns dst unchanged and an error
// wrapping ErrUnknownType, ErrTooMany, ErrFieldTooLong, ErrInvalidField or ErrTooLarge.
func AppendEncode(dst []byte, m Message) ([]byte, error) {
	w, err := asWire(m)
	if err != nil {
		return dst, err
	}
	if err := w.checkLimits(); err != nil {
		return dst, fmt.Errorf("encode %s: %w", msgTypeName(w.Type()), err)
	}
	size := frameHeaderBytes + w.bodySize()
	if size > MaxMessageBytes {
		return dst, fmt.Errorf("encode %s: %w: %d bytes", msgTypeName(w.Type()), ErrTooLarge, size)
	}
	dst = slices.Grow(dst, size)
	dst = append(dst, WireVersion, byte(w.Type()))
	return w.appendBody(dst), nil
}

// EncodedSize returns len(Encode(m)) without encoding, by arithmetic over the message's fields.
// It does not check limits: for a message Encode would refuse as too large it returns the size
// the frame would have had. It returns 0 for nil or a message type that has no encoding.
func EncodedSize(m Message) int {
	w, err := asWire(m)
	if err != nil {
		return 0
	}
	return frameHeaderBytes + w.bodySize()
}

// Decode parses one frame. The returned message is a pointer (*Ping, *Store, ...) that shares no
// memory with b. On error it returns nil and an error wrapping one of the codec's sentinels.
func Decode(b []byte) (Message, error) {
	if len(b) > MaxMessageBytes {
		return nil, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(b))
	}
	if len(b) < frameHeaderBytes {
		return nil, fmt.Errorf("%w: %d-byte frame has no header", ErrTruncated, len(b))
	}
	if b[0] != WireVersion {
		return nil, fmt.Errorf("%w: %d", ErrUnknownVersion, b[0])
	}
	m := newMessage(MsgType(b[1]))
	if m == nil {
		return nil, fmt.Errorf("%w: %d", ErrUnknownType, b[1])
	}
	r := wireReader{b: b[frameHeaderBytes:]}
	m.decodeBody(&r)
	if err := r.finish(); err != nil {
		return nil, fmt.Errorf("decode %s: %w", msgTypeName(m.Type()), err)
	}
	return m, nil
}

// EncodeRecord returns the encoding of one record: the version byte, then the record as it
// travels inside messages. It refuses a record over the field limits of record.go.
func EncodeRecord(rec *Record) ([]byte, error) {
	if rec == nil {
		return nil, fmt.Errorf("%w: nil record", ErrInvalidField)
	}
	if err := checkRecord(rec); err != nil {
		return nil, fmt.Errorf("encode record: %w", err)
	}
	b := make([]byte, 0, 1+recordSize(rec))
	b = append(b, WireVersion)
	return appendRecord(b, rec), nil
}

// DecodeRecord parses what EncodeRecord produced. The record shares no memory with b.
func DecodeRecord(b []byte) (Record, error) {
	if len(b) > MaxMessageBytes {
		return Record{}, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(b))
	}
	if len(b) < 1 {
		return Record{}, fmt.Errorf("%w: empty record", ErrTruncated)
	}
	if b[0] != WireVersion {
		return Record{}, fmt.Errorf("%w: %d", ErrUnknownVersion, b[0])
	}
	r := wireReader{b: b[1:]}
	var rec Record
	decodeRecord(&r, &rec)
	if err := r.finish(); err != nil {
		return Record{}, fmt.Errorf("decode record: %w", err)
	}
	return rec, nil
}

var msgTypeNames = [...]string{
	TypePing: "Ping", TypePong: "Pong", TypeHello: "Hello", TypeFindNode: "FindNode",
	TypeNodes: "Nodes", TypeFindValue: "FindValue", TypeValue: "Value", TypeStore: "Store",
	TypeStoreAck: "StoreAck", TypeFlood: "Flood", TypeFloodAck: "FloodAck",
	TypeSyncRanges: "SyncRanges", TypeSyncItems: "SyncItems", TypeSyncWant: "SyncWant",
	TypeNeighborhoodReq: "NeighborhoodReq", TypeNeighborhood: "Neighborhood", TypeMerge: "Merge",
	TypeLeave: "Leave", TypeTouch: "Touch", TypeTouchAck: "TouchAck",
}

func msgTypeName(t MsgType) string {
	if int(t) < len(msgTypeNames) && msgTypeNames[t] != "" {
		return msgTypeNames[t]
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}
