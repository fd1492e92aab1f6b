package mailbox

import (
	"bytes"
	"encoding/binary"
	"time"

	"meshcomm/mesh"
)

// Record lifetimes.
const (
	// DefaultTTL is how long a stored message waits in the overlay for its recipient.
	DefaultTTL = 7 * 24 * time.Hour
	// MaxTTL is the longest lifetime a received record may claim (counted from the receiver's
	// clock, plus ClockSkew); longer ones are refused, which bounds how long dedup entries live.
	MaxTTL = 30 * 24 * time.Hour
	// ClockSkew is how far apart the clocks of two nodes are assumed to be at most.
	ClockSkew = 24 * time.Hour
	// recordVersion is the version of a stored message; its deletion has recordVersion+1.
	recordVersion = 1
)

// RecordKey is the key of m's record: the sender node's 16 bytes, the message id's 16 bytes and,
// for a voicemail chunk, the chunk index as two big-endian bytes. The first part is what
// mesh.CheckAccess lets the sender write.
func RecordKey(m *Message) ([]byte, error) {
	k := make([]byte, 0, mesh.IDBytes+len(m.ID)+2)
	k = append(k, m.FromNode[:]...)
	k = append(k, m.ID[:]...)
	if m.Kind == KindVoicemail {
		c, err := DecodeChunk(m.Body)
		if err != nil {
			return nil, err
		}
		k = binary.BigEndian.AppendUint16(k, uint16(c.Index))
	}
	return k, nil
}

// NewRecord builds the record that stores m in the overlay for its recipient: Resource =
// mesh.ResourceIDFor(m.ToAoR), Kind = mesh.KindMessage, Key = RecordKey(m), Value =
// EncodeMessage(m), Version 1, the given expiry, signed by s, which must be m's sender.
func NewRecord(s mesh.Signer, m *Message, expiry time.Time) (*mesh.Record, error) {
	if id := s.Identity(); id.Node != m.FromNode || id.Name != m.FromAoR {
		return nil, messageErr("signer %s (%s) is not the sender %s (%s)", id.Node.Short(), id.Name, m.FromNode.Short(), m.FromAoR)
	}
	value, err := EncodeMessage(m)
	if err != nil {
		return nil, err
	}
	key, err := RecordKey(m)
	if err != nil {
		return nil, err
	}
	if !expiry.After(m.SentAt) {
		return nil, messageErr("expiry %v is not after the sent time %v", expiry, m.SentAt)
	}
	rec := &mesh.Record{
		Resource: mesh.ResourceIDFor(m.ToAoR),
		Kind:     mesh.KindMessage,
		Key:      key,
		Value:    value,
		Version:  recordVersion,
		Expiry:   expiry.UnixMilli(),
	}
	rec.Sign(s)
	return rec, nil
}

// ParseRecord decodes a live message record whose signer has been verified as signer, and
// checks that it is self-consistent: the value decodes, the record sits at the recipient's
// resource under RecordKey, and the signer is the sender (node and address).
func ParseRecord(rec *mesh.Record, signer mesh.Identity) (*Message, error) {
	if rec.Kind != mesh.KindMessage {
		return nil, messageErr("record kind is %s, not message", rec.Kind)
	}
	if rec.Deleted {
		return nil, messageErr("record is a deletion")
	}
	m, err := DecodeMessage(rec.Value)
	if err != nil {
		return nil, err
	}
	if rec.Resource != mesh.ResourceIDFor(m.ToAoR) {
		return nil, messageErr("record is not at the resource of its recipient %s", m.ToAoR)
	}
	key, err := RecordKey(m)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(rec.Key, key) {
		return nil, messageErr("record key does not match sender node, id and chunk")
	}
	if signer.Node != m.FromNode || signer.Name != m.FromAoR {
		return nil, messageErr("signed by %s (%s), not by the sender %s (%s)", signer.Node.Short(), signer.Name, m.FromNode.Short(), m.FromAoR)
	}
	return m, nil
}

// VerifyRecord authenticates rec through v (signature and mesh.CheckAccess), then parses it
// with ParseRecord.
func VerifyRecord(v mesh.Verifier, rec *mesh.Record) (*Message, error) {
	id, err := mesh.VerifyRecord(v, rec)
	if err != nil {
		return nil, err
	}
	return ParseRecord(rec, id)
}

// Tombstone returns the deletion of rec, signed by s: same identity, version one higher, the
// same expiry (so the deletion outlives every copy of what it deletes), no value. The
// recipient (owner of the resource) and the sender (owner of the key prefix) may both write it.
func Tombstone(s mesh.Signer, rec *mesh.Record) *mesh.Record {
	t := &mesh.Record{
		Resource: rec.Resource,
		Kind:     rec.Kind,
		Key:      append([]byte(nil), rec.Key...),
		Version:  rec.Version + 1,
		Expiry:   rec.Expiry,
		Deleted:  true,
	}
	t.Sign(s)
	return t
}
