package mesh

import (
	"encoding/binary"
	"fmt"
)

// Wire encodings of the structures messages are built from (tables in codec.go).

// Smallest encodings of list elements: a count is refused unless count elements this small fit in
// the bytes left.
const (
	minContactBytes = IDBytes + 1   // ID, empty Addr
	minRecordBytes  = IDBytes + 8   // Resource, Kind, four empty byte fields, Version, Expiry, Deleted
	minRangeBytes   = 2*IDBytes + 2 // Prefix, Bits, Count, Fingerprint
	minItemBytes    = IDBytes + 2   // Hash, Version, Deleted
	minRefBytes     = IDBytes + 3   // Resource, Kind, empty Key, Version
	minHashBytes    = IDBytes       // a SyncWant hash
	minIndexBytes   = 1             // a TouchAck index
)

// maxRangeBits is the longest Range prefix: the whole identifier.
const maxRangeBits = IDBytes * 8

func errInvalidBits(bits uint8) error {
	return fmt.Errorf("%w: Range.Bits %d exceeds %d", ErrInvalidField, bits, maxRangeBits)
}

func errInvalidIndex(i uint64) error {
	return fmt.Errorf("%w: TouchAck index %d is not below MaxRefs (%d)", ErrInvalidField, i, MaxRefs)
}

// Status

func statusSize(s *Status) int { return 1 + uvarintSize(uint64(s.SizeEstimate)) }

func appendStatus(b []byte, s *Status) []byte {
	b = append(b, byte(s.Mode))
	return binary.AppendUvarint(b, uint64(s.SizeEstimate))
}

func decodeStatus(r *wireReader, s *Status) {
	s.Mode = Mode(r.u8("Status.Mode"))
	s.SizeEstimate = r.u32("Status.SizeEstimate")
}

// Contact

func contactSize(c *Contact) int { return IDBytes + bytesSize(len(c.Addr)) }

func checkContact(c *Contact) error { return checkLen(len(c.Addr), MaxAddrBytes, "Addr") }

func appendContact(b []byte, c *Contact) []byte {
	b = append(b, c.ID[:]...)
	return appendString(b, c.Addr)
}

func decodeContact(r *wireReader, c *Contact) {
	c.ID = r.id("Contact.ID")
	c.Addr = r.str(MaxAddrBytes, "Contact.Addr")
}

func contactsSize(cs []Contact) int { return listSize(cs, contactSize) }

func checkContacts(cs []Contact, what string) error {
	return checkList(cs, MaxContacts, what, checkContact)
}

func appendContacts(b []byte, cs []Contact) []byte { return appendList(b, cs, appendContact) }

func decodeContacts(r *wireReader, what string) []Contact {
	return readList(r, MaxContacts, minContactBytes, what, decodeContact)
}

// Record

func recordSize(rec *Record) int {
	return IDBytes + 1 + bytesSize(len(rec.Key)) + bytesSize(len(rec.Value)) +
		uvarintSize(rec.Version) + varintSize(rec.Expiry) + 1 +
		bytesSize(len(rec.Owner)) + bytesSize(len(rec.Signature))
}

func checkRecord(rec *Record) error {
	if err := checkLen(len(rec.Key), MaxKeyBytes, "Key"); err != nil {
		return err
	}
	if err := checkLen(len(rec.Value), MaxValueBytes, "Value"); err != nil {
		return err
	}
	if err := checkLen(len(rec.Owner), MaxCredentialBytes, "Owner"); err != nil {
		return err
	}
	return checkLen(len(rec.Signature), MaxSignatureBytes, "Signature")
}

func appendRecord(b []byte, rec *Record) []byte {
	b = append(b, rec.Resource[:]...)
	b = append(b, byte(rec.Kind))
	b = appendBytes(b, rec.Key)
	b = appendBytes(b, rec.Value)
	b = binary.AppendUvarint(b, rec.Version)
	b = binary.AppendVarint(b, rec.Expiry)
	b = appendBool(b, rec.Deleted)
	b = appendBytes(b, rec.Owner)
	return appendBytes(b, rec.Signature)
}

// decodeRecord reads a record and copies its four byte fields into one allocation of their own,
// so that a record kept by a store pins neither the frame nor its neighbours.
func decodeRecord(r *wireReader, rec *Record) {
	rec.Resource = r.id("Record.Resource")
	rec.Kind = Kind(r.u8("Record.Kind"))
	key := r.bytesAlias(MaxKeyBytes, "Record.Key")
	value := r.bytesAlias(MaxValueBytes, "Record.Value")
	rec.Version = r.uvarint("Record.Version")
	rec.Expiry = r.varint("Record.Expiry")
	rec.Deleted = r.boolean("Record.Deleted")
	owner := r.bytesAlias(MaxCredentialBytes, "Record.Owner")
	sig := r.bytesAlias(MaxSignatureBytes, "Record.Signature")
	if r.err != nil {
		return
	}
	total := len(key) + len(value) + len(owner) + len(sig)
	if total == 0 {
		return
	}
	buf := make([]byte, 0, total)
	rec.Key, buf = carve(buf, key)
	rec.Value, buf = carve(buf, value)
	rec.Owner, buf = carve(buf, owner)
	rec.Signature, _ = carve(buf, sig)
}

// carve copies v to the end of buf (which has room) and returns the copy, capacity cut to its
// length so that appending to one field never overwrites the next; nil stays nil.
func carve(buf, v []byte) (field, rest []byte) {
	if v == nil {
		return nil, buf
	}
	start := len(buf)
	buf = append(buf, v...)
	return buf[start:len(buf):len(buf)], buf
}

func recordsSize(rs []Record) int { return listSize(rs, recordSize) }

func checkRecords(rs []Record) error {
	return checkList(rs, MaxRecordsPerMessage, "Records", checkRecord)
}

func appendRecords(b []byte, rs []Record) []byte { return appendList(b, rs, appendRecord) }

func decodeRecords(r *wireReader) []Record {
	return readList(r, MaxRecordsPerMessage, minRecordBytes, "Records", decodeRecord)
}

// Range

func rangeSize(rg *Range) int { return 2*IDBytes + 1 + uvarintSize(uint64(rg.Count)) }

func checkRange(rg *Range) error {
	if rg.Bits > maxRangeBits {
		return errInvalidBits(rg.Bits)
	}
	return nil
}

func appendRange(b []byte, rg *Range) []byte {
	b = append(b, rg.Prefix[:]...)
	b = append(b, rg.Bits)
	b = binary.AppendUvarint(b, uint64(rg.Count))
	return append(b, rg.Fingerprint[:]...)
}

func decodeRange(r *wireReader, rg *Range) {
	rg.Prefix = r.id("Range.Prefix")
	rg.Bits = r.u8("Range.Bits")
	if rg.Bits > maxRangeBits && r.err == nil {
		r.err = errInvalidBits(rg.Bits)
	}
	rg.Count = r.u32("Range.Count")
	rg.Fingerprint = r.id("Range.Fingerprint")
}

func rangesSize(rs []Range) int { return listSize(rs, rangeSize) }

func checkRanges(rs []Range) error { return checkList(rs, MaxRanges, "Ranges", checkRange) }

func appendRanges(b []byte, rs []Range) []byte { return appendList(b, rs, appendRange) }

func decodeRanges(r *wireReader) []Range {
	return readList(r, MaxRanges, minRangeBytes, "Ranges", decodeRange)
}

// ItemVersion

func itemSize(it *ItemVersion) int { return IDBytes + uvarintSize(it.Version) + 1 }

func appendItem(b []byte, it *ItemVersion) []byte {
	b = append(b, it.Hash[:]...)
	b = binary.AppendUvarint(b, it.Version)
	return appendBool(b, it.Deleted)
}

func decodeItem(r *wireReader, it *ItemVersion) {
	it.Hash = r.id("ItemVersion.Hash")
	it.Version = r.uvarint("ItemVersion.Version")
	it.Deleted = r.boolean("ItemVersion.Deleted")
}

// Hash (SyncWant)

func hashSize(*[IDBytes]byte) int { return IDBytes }

func appendHash(b []byte, h *[IDBytes]byte) []byte { return append(b, h[:]...) }

func decodeHash(r *wireReader, h *[IDBytes]byte) { *h = r.id("Hash") }

// RecordRef

func refSize(ref *RecordRef) int {
	return IDBytes + 1 + bytesSize(len(ref.Key)) + uvarintSize(ref.Version)
}

func checkRef(ref *RecordRef) error { return checkLen(len(ref.Key), MaxKeyBytes, "Key") }

func appendRef(b []byte, ref *RecordRef) []byte {
	b = append(b, ref.Resource[:]...)
	b = append(b, byte(ref.Kind))
	b = appendBytes(b, ref.Key)
	return binary.AppendUvarint(b, ref.Version)
}

func decodeRef(r *wireReader, ref *RecordRef) {
	ref.Resource = r.id("RecordRef.Resource")
	ref.Kind = Kind(r.u8("RecordRef.Kind"))
	ref.Key = r.bytesCopy(MaxKeyBytes, "RecordRef.Key")
	ref.Version = r.uvarint("RecordRef.Version")
}

// TouchAck index

func indexSize(i *uint16) int { return uvarintSize(uint64(*i)) }

func checkIndex(i *uint16) error {
	if *i >= MaxRefs {
		return errInvalidIndex(uint64(*i))
	}
	return nil
}

func appendIndex(b []byte, i *uint16) []byte { return binary.AppendUvarint(b, uint64(*i)) }

func decodeIndex(r *wireReader, i *uint16) {
	v := r.uvarint("TouchAck.Missing")
	if v >= MaxRefs && r.err == nil {
		r.err = errInvalidIndex(v)
		return
	}
	*i = uint16(v)
}
