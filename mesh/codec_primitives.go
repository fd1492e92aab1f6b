package mesh

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
)

// The field encodings of the wire format (see codec.go): how each is read, written and sized.

// wireReader reads a frame body. Its error is sticky: after the first failure every read returns
// a zero value without consuming input, so a message decoder reads its fields straight through
// and the caller looks at the error once, in finish.
type wireReader struct {
	b   []byte // unread input
	err error
}

func (r *wireReader) fail(sentinel error, format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...)
	}
}

// finish returns the first error, or ErrTrailingBytes if input is left over.
func (r *wireReader) finish() error {
	if r.err != nil {
		return r.err
	}
	if len(r.b) != 0 {
		return fmt.Errorf("%w: %d bytes after the last field", ErrTrailingBytes, len(r.b))
	}
	return nil
}

// need reports whether n more bytes are available, failing with ErrTruncated if not.
func (r *wireReader) need(n int, what string) bool {
	if r.err != nil {
		return false
	}
	if len(r.b) < n {
		r.fail(ErrTruncated, "%s needs %d bytes, %d left", what, n, len(r.b))
		return false
	}
	return true
}

func (r *wireReader) u8(what string) uint8 {
	if !r.need(1, what) {
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *wireReader) boolean(what string) bool {
	switch v := r.u8(what); v {
	case 0:
		return false
	case 1:
		return true
	default:
		r.fail(ErrInvalidField, "%s: boolean byte %d", what, v)
		return false
	}
}

func (r *wireReader) fixed64(what string) uint64 {
	if !r.need(8, what) {
		return 0
	}
	v := binary.BigEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

func (r *wireReader) id(what string) (id [IDBytes]byte) {
	if !r.need(IDBytes, what) {
		return id
	}
	copy(id[:], r.b)
	r.b = r.b[IDBytes:]
	return id
}

// uvarint reads a minimal-length unsigned LEB128.
func (r *wireReader) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	switch {
	case n == 0:
		r.fail(ErrTruncated, "%s: varint runs past the end", what)
		return 0
	case n < 0:
		r.fail(ErrInvalidField, "%s: varint overflows 64 bits", what)
		return 0
	case n > 1 && r.b[n-1] == 0:
		r.fail(ErrInvalidField, "%s: varint is not minimal", what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

// varint reads a zigzag-encoded signed varint (binary.AppendVarint's encoding).
func (r *wireReader) varint(what string) int64 {
	u := r.uvarint(what)
	v := int64(u >> 1)
	if u&1 != 0 {
		v = ^v
	}
	return v
}

func (r *wireReader) uvarintMax(max uint64, what string) uint64 {
	v := r.uvarint(what)
	if v > max {
		r.fail(ErrInvalidField, "%s: %d exceeds %d", what, v, max)
		return 0
	}
	return v
}

func (r *wireReader) u16(what string) uint16 { return uint16(r.uvarintMax(math.MaxUint16, what)) }
func (r *wireReader) u32(what string) uint32 { return uint32(r.uvarintMax(math.MaxUint32, what)) }

// length reads a byte-field length, checking it against the field's limit and the input left.
func (r *wireReader) length(max int, what string) int {
	n := r.uvarint(what)
	if r.err != nil {
		return 0
	}
	if n > uint64(max) {
		r.fail(ErrFieldTooLong, "%s: %d bytes, limit %d", what, n, max)
		return 0
	}
	if !r.need(int(n), what) {
		return 0
	}
	return int(n)
}

// bytesAlias reads a byte field without copying: the result aliases the input (its capacity is
// cut to its length) and is nil when empty. Callers copy it out before returning it.
func (r *wireReader) bytesAlias(max int, what string) []byte {
	n := r.length(max, what)
	if n == 0 {
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

// bytesCopy reads a byte field into fresh memory; nil when empty.
func (r *wireReader) bytesCopy(max int, what string) []byte {
	v := r.bytesAlias(max, what)
	if v == nil {
		return nil
	}
	return append([]byte(nil), v...)
}

func (r *wireReader) str(max int, what string) string {
	n := r.length(max, what)
	if n == 0 {
		return ""
	}
	v := string(r.b[:n])
	r.b = r.b[n:]
	return v
}

// count reads a list length, checking it against the list's limit and against the input left:
// count elements of at least minElem bytes each must fit, so no count can make the decoder
// allocate more than the input could hold.
func (r *wireReader) count(max, minElem int, what string) int {
	n := r.uvarint(what)
	if r.err != nil {
		return 0
	}
	if n > uint64(max) {
		r.fail(ErrTooMany, "%s: %d entries, limit %d", what, n, max)
		return 0
	}
	if !r.need(int(n)*minElem, what) {
		return 0
	}
	return int(n)
}

// readList reads a list<T>; nil when empty or on error.
func readList[T any](r *wireReader, max, minElem int, what string, elem func(*wireReader, *T)) []T {
	n := r.count(max, minElem, what)
	if n == 0 {
		return nil
	}
	out := make([]T, n)
	for i := range out {
		elem(r, &out[i])
		if r.err != nil {
			return nil
		}
	}
	return out
}

// Writing. Encoders check limits before appending (checkLimits), so appenders never fail.

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func appendString(b []byte, v string) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func appendList[T any](b []byte, xs []T, elem func([]byte, *T) []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(xs)))
	for i := range xs {
		b = elem(b, &xs[i])
	}
	return b
}

// Sizing.

func uvarintSize(v uint64) int { return (bits.Len64(v|1) + 6) / 7 }

func varintSize(v int64) int { return uvarintSize(uint64(v<<1) ^ uint64(v>>63)) }

func bytesSize(n int) int { return uvarintSize(uint64(n)) + n }

func listSize[T any](xs []T, elem func(*T) int) int {
	n := uvarintSize(uint64(len(xs)))
	for i := range xs {
		n += elem(&xs[i])
	}
	return n
}

// Limits.

func checkLen(n, max int, what string) error {
	if n > max {
		return fmt.Errorf("%w: %s: %d bytes, limit %d", ErrFieldTooLong, what, n, max)
	}
	return nil
}

func checkCount(n, max int, what string) error {
	if n > max {
		return fmt.Errorf("%w: %s: %d entries, limit %d", ErrTooMany, what, n, max)
	}
	return nil
}

func checkList[T any](xs []T, max int, what string, elem func(*T) error) error {
	if err := checkCount(len(xs), max, what); err != nil {
		return err
	}
	if elem == nil {
		return nil
	}
	for i := range xs {
		if err := elem(&xs[i]); err != nil {
			return fmt.Errorf("%s[%d]: %w", what, i, err)
		}
	}
	return nil
}
