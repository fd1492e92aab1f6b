package mesh

import "encoding/binary"

// The body of every message (tables in codec.go): its size, the limits Encode checks, how it is
// appended and how it is decoded. Each method lists the fields in wire order.

// Ping, Pong

func (m *Ping) bodySize() int      { return 8 + statusSize(&m.Status) }
func (m *Ping) checkLimits() error { return nil }
func (m *Ping) appendBody(b []byte) []byte {
	return appendStatus(binary.BigEndian.AppendUint64(b, m.Nonce), &m.Status)
}
func (m *Ping) decodeBody(r *wireReader) {
	m.Nonce = r.fixed64("Nonce")
	decodeStatus(r, &m.Status)
}

func (m *Pong) bodySize() int      { return 8 + statusSize(&m.Status) }
func (m *Pong) checkLimits() error { return nil }
func (m *Pong) appendBody(b []byte) []byte {
	return appendStatus(binary.BigEndian.AppendUint64(b, m.Nonce), &m.Status)
}
func (m *Pong) decodeBody(r *wireReader) {
	m.Nonce = r.fixed64("Nonce")
	decodeStatus(r, &m.Status)
}

// Hello

func (m *Hello) bodySize() int      { return statusSize(&m.Status) + contactSize(&m.Self) }
func (m *Hello) checkLimits() error { return checkContact(&m.Self) }
func (m *Hello) appendBody(b []byte) []byte {
	return appendContact(appendStatus(b, &m.Status), &m.Self)
}
func (m *Hello) decodeBody(r *wireReader) {
	decodeStatus(r, &m.Status)
	decodeContact(r, &m.Self)
}

// FindNode, Nodes

func (m *FindNode) bodySize() int      { return uvarintSize(m.ReqID) + IDBytes }
func (m *FindNode) checkLimits() error { return nil }
func (m *FindNode) appendBody(b []byte) []byte {
	return append(binary.AppendUvarint(b, m.ReqID), m.Target[:]...)
}
func (m *FindNode) decodeBody(r *wireReader) {
	m.ReqID = r.uvarint("ReqID")
	m.Target = r.id("Target")
}

func (m *Nodes) bodySize() int      { return uvarintSize(m.ReqID) + contactsSize(m.Nodes) }
func (m *Nodes) checkLimits() error { return checkContacts(m.Nodes, "Nodes") }
func (m *Nodes) appendBody(b []byte) []byte {
	return appendContacts(binary.AppendUvarint(b, m.ReqID), m.Nodes)
}
func (m *Nodes) decodeBody(r *wireReader) {
	m.ReqID = r.uvarint("ReqID")
	m.Nodes = decodeContacts(r, "Nodes")
}

// FindValue, Value

func (m *FindValue) bodySize() int      { return uvarintSize(m.ReqID) + IDBytes + 1 }
func (m *FindValue) checkLimits() error { return nil }
func (m *FindValue) appendBody(b []byte) []byte {
	b = binary.AppendUvarint(b, m.ReqID)
	b = append(b, m.Resource[:]...)
	return append(b, byte(m.Kind))
}
func (m *FindValue) decodeBody(r *wireReader) {
	m.ReqID = r.uvarint("ReqID")
	m.Resource = r.id("Resource")
	m.Kind = Kind(r.u8("Kind"))
}

func (m *Value) bodySize() int {
	return uvarintSize(m.ReqID) + recordsSize(m.Records) + contactsSize(m.Nodes)
}
func (m *Value) checkLimits() error {
	if err := checkRecords(m.Records); err != nil {
		return err
	}
	return checkContacts(m.Nodes, "Nodes")
}
func (m *Value) appendBody(b []byte) []byte {
	b = binary.AppendUvarint(b, m.ReqID)
	b = appendRecords(b, m.Records)
	return appendContacts(b, m.Nodes)
}
func (m *Value) decodeBody(r *wireReader) {
	m.ReqID = r.uvarint("ReqID")
	m.Records = decodeRecords(r)
	m.Nodes = decodeContacts(r, "Nodes")
}

// Store, StoreAck

func (m *Store) bodySize() int      { return uvarintSize(m.ReqID) + recordsSize(m.Records) }
func (m *Store) checkLimits() error { return checkRecords(m.Records) }
func (m *Store) appendBody(b []byte) []byte {
	return appendRecords(binary.AppendUvarint(b, m.ReqID), m.Records)
}
func (m *Store) decodeBody(r *wireReader) {
	m.ReqID = r.uvarint("ReqID")
	m.Records = decodeRecords(r)
}

func (m *StoreAck) bodySize() int {
	return uvarintSize(m.ReqID) + uvarintSize(uint64(m.Stored)) + uvarintSize(uint64(m.Refused))
}
func (m *StoreAck) checkLimits() error { return nil }
func (m *StoreAck) appendBody(b []byte) []byte {
	b = binary.AppendUvarint(b, m.ReqID)
	b = binary.AppendUvarint(b, uint64(m.Stored))
	return binary.AppendUvarint(b, uint64(m.Refused))
}
func (m *StoreAck) decodeBody(r *wireReader) {
	m.ReqID = r.uvarint("ReqID")
	m.Stored = r.u16("Stored")
	m.Refused = r.u16("Refused")
}

// Flood, FloodAck

func (m *Flood) bodySize() int      { return 2*IDBytes + 1 + recordsSize(m.Records) }
func (m *Flood) checkLimits() error { return checkRecords(m.Records) }
func (m *Flood) appendBody(b []byte) []byte {
	b = append(b, m.ID[:]...)
	b = append(b, m.Origin[:]...)
	b = append(b, m.Hops)
	return appendRecords(b, m.Records)
}
func (m *Flood) decodeBody(r *wireReader) {
	m.ID = r.id("ID")
	m.Origin = r.id("Origin")
	m.Hops = r.u8("Hops")
	m.Records = decodeRecords(r)
}

func (m *FloodAck) bodySize() int              { return IDBytes }
func (m *FloodAck) checkLimits() error         { return nil }
func (m *FloodAck) appendBody(b []byte) []byte { return append(b, m.ID[:]...) }
func (m *FloodAck) decodeBody(r *wireReader)   { m.ID = r.id("ID") }

// SyncRanges, SyncItems, SyncWant

func (m *SyncRanges) bodySize() int      { return uvarintSize(m.Session) + rangesSize(m.Ranges) }
func (m *SyncRanges) checkLimits() error { return checkRanges(m.Ranges) }
func (m *SyncRanges) appendBody(b []byte) []byte {
	return appendRanges(binary.AppendUvarint(b, m.Session), m.Ranges)
}
func (m *SyncRanges) decodeBody(r *wireReader) {
	m.Session = r.uvarint("Session")
	m.Ranges = decodeRanges(r)
}

func (m *SyncItems) bodySize() int {
	return uvarintSize(m.Session) + rangesSize(m.Ranges) + listSize(m.Items, itemSize)
}
func (m *SyncItems) checkLimits() error {
	if err := checkRanges(m.Ranges); err != nil {
		return err
	}
	return checkList(m.Items, MaxItems, "Items", nil)
}
func (m *SyncItems) appendBody(b []byte) []byte {
	b = binary.AppendUvarint(b, m.Session)
	b = appendRanges(b, m.Ranges)
	return appendList(b, m.Items, appendItem)
}
func (m *SyncItems) decodeBody(r *wireReader) {
	m.Session = r.uvarint("Session")
	m.Ranges = decodeRanges(r)
	m.Items = readList(r, MaxItems, minItemBytes, "Items", decodeItem)
}

func (m *SyncWant) bodySize() int      { return uvarintSize(m.Session) + listSize(m.Hashes, hashSize) }
func (m *SyncWant) checkLimits() error { return checkList(m.Hashes, MaxHashes, "Hashes", nil) }
func (m *SyncWant) appendBody(b []byte) []byte {
	return appendList(binary.AppendUvarint(b, m.Session), m.Hashes, appendHash)
}
func (m *SyncWant) decodeBody(r *wireReader) {
	m.Session = r.uvarint("Session")
	m.Hashes = readList(r, MaxHashes, minHashBytes, "Hashes", decodeHash)
}

// NeighborhoodReq, Neighborhood

func (m *NeighborhoodReq) bodySize() int              { return uvarintSize(m.ReqID) }
func (m *NeighborhoodReq) checkLimits() error         { return nil }
func (m *NeighborhoodReq) appendBody(b []byte) []byte { return binary.AppendUvarint(b, m.ReqID) }
func (m *NeighborhoodReq) decodeBody(r *wireReader)   { m.ReqID = r.uvarint("ReqID") }

func (m *Neighborhood) bodySize() int {
	return uvarintSize(m.ReqID) + contactsSize(m.Near) + contactsSize(m.Far)
}
func (m *Neighborhood) checkLimits() error {
	if err := checkContacts(m.Near, "Near"); err != nil {
		return err
	}
	return checkContacts(m.Far, "Far")
}
func (m *Neighborhood) appendBody(b []byte) []byte {
	b = binary.AppendUvarint(b, m.ReqID)
	b = appendContacts(b, m.Near)
	return appendContacts(b, m.Far)
}
func (m *Neighborhood) decodeBody(r *wireReader) {
	m.ReqID = r.uvarint("ReqID")
	m.Near = decodeContacts(r, "Near")
	m.Far = decodeContacts(r, "Far")
}

// Merge

func (m *Merge) bodySize() int      { return IDBytes + 1 + contactsSize(m.Entries) }
func (m *Merge) checkLimits() error { return checkContacts(m.Entries, "Entries") }
func (m *Merge) appendBody(b []byte) []byte {
	b = append(b, m.ID[:]...)
	b = append(b, m.Hops)
	return appendContacts(b, m.Entries)
}
func (m *Merge) decodeBody(r *wireReader) {
	m.ID = r.id("ID")
	m.Hops = r.u8("Hops")
	m.Entries = decodeContacts(r, "Entries")
}

// Leave

func (m *Leave) bodySize() int              { return 0 }
func (m *Leave) checkLimits() error         { return nil }
func (m *Leave) appendBody(b []byte) []byte { return b }
func (m *Leave) decodeBody(*wireReader)     {}

// Touch, TouchAck

func (m *Touch) bodySize() int      { return uvarintSize(m.ReqID) + listSize(m.Refs, refSize) }
func (m *Touch) checkLimits() error { return checkList(m.Refs, MaxRefs, "Refs", checkRef) }
func (m *Touch) appendBody(b []byte) []byte {
	return appendList(binary.AppendUvarint(b, m.ReqID), m.Refs, appendRef)
}
func (m *Touch) decodeBody(r *wireReader) {
	m.ReqID = r.uvarint("ReqID")
	m.Refs = readList(r, MaxRefs, minRefBytes, "Refs", decodeRef)
}

func (m *TouchAck) bodySize() int { return uvarintSize(m.ReqID) + listSize(m.Missing, indexSize) }
func (m *TouchAck) checkLimits() error {
	return checkList(m.Missing, MaxRefs, "Missing", checkIndex)
}
func (m *TouchAck) appendBody(b []byte) []byte {
	return appendList(binary.AppendUvarint(b, m.ReqID), m.Missing, appendIndex)
}
func (m *TouchAck) decodeBody(r *wireReader) {
	m.ReqID = r.uvarint("ReqID")
	m.Missing = readList(r, MaxRefs, minIndexBytes, "Missing", decodeIndex)
}
