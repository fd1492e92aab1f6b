package mailbox

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"meshcomm/mesh"
)

// Path says how a message reached this node.
type Path string

const (
	ViaDirect  Path = "direct"  // handed over by the sender's node
	ViaOverlay Path = "overlay" // found in the overlay at this node's resource
)

// MessageRef identifies a message across the mesh: its sender's node and its id. It is the key
// under which the inbox remembers what it delivered.
type MessageRef struct {
	Node mesh.NodeID
	ID   MessageID
}

// String is "NODE/ID", both in hex: what ParseMessageRef reads.
func (r MessageRef) String() string { return r.Node.String() + "/" + r.ID.String() }

// MarshalText writes String's form, so entries marshal to readable JSON.
func (r MessageRef) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText reads String's form.
func (r *MessageRef) UnmarshalText(b []byte) error {
	v, err := ParseMessageRef(string(b))
	*r = v
	return err
}

// ParseMessageRef reads "NODE/ID" (32 hex digits each), as a user may type it.
func ParseMessageRef(s string) (MessageRef, error) {
	node, id, ok := strings.Cut(s, "/")
	var ref MessageRef
	var n hexNode
	if !ok || n.UnmarshalText([]byte(node)) != nil {
		return ref, fmt.Errorf("message reference %q is not NODE/ID in hex", s)
	}
	mid, err := ParseMessageID(id)
	if err != nil {
		return ref, err
	}
	return MessageRef{Node: mesh.NodeID(n), ID: mid}, nil
}

func compareRefs(a, b MessageRef) int {
	if c := slices.Compare(a.Node[:], b.Node[:]); c != 0 {
		return c
	}
	return compareIDs(a.ID, b.ID)
}

// InboxEntry is a received text or voicemail as the user sees it.
type InboxEntry struct {
	Ref        MessageRef
	Kind       Kind
	From       string
	SentAt     time.Time // the sender's clock
	ReceivedAt time.Time // this node's clock
	Via        Path
	Read       bool
	Text       string     // KindText only
	Voicemail  *Voicemail // KindVoicemail only, decrypted; shared with the mailbox: read only
}

func (e *InboxEntry) bytes() int {
	if e.Voicemail != nil {
		return len(e.Voicemail.Audio) + len(e.Voicemail.MediaType)
	}
	return len(e.Text)
}

// inEntry is an inbox entry plus its dedup memory. A removed entry is a stub: its content is
// gone, but it keeps refusing copies of its message until retainUntil.
type inEntry struct {
	InboxEntry
	retainUntil time.Time
	removed     bool
}

// Errors of the receiving side, besides those of decoding and verification.
var (
	ErrNotForMe   = errors.New("message is not addressed to this mailbox")
	ErrInboxFull  = errors.New("inbox is full")
	ErrBadReceipt = errors.New("receipt does not match a sent message")
)

// Refusal reasons, the keys of Counters.
const (
	ReasonMalformed     = "malformed"
	ReasonUnverified    = "unverified"
	ReasonNotForMe      = "not-for-me"
	ReasonExpired       = "expired"
	ReasonExpiryTooFar  = "expiry-too-far"
	ReasonInboxFull     = "inbox-full"
	ReasonUndecryptable = "voicemail-undecryptable"
	ReasonIncomplete    = "voicemail-incomplete"
	ReasonUnknown       = "receipt-unknown"
	ReasonForged        = "receipt-forged"
)

// Counter keys of Counters besides the refusal reasons.
const (
	CountDelivered = "delivered"
	CountDuplicate = "duplicate"
	CountReceipts  = "receipts"
)

type group struct {
	ref  MessageRef
	msgs []*Message
	recs []*mesh.Record
}

// ReceiveStored takes the records found at this node's own resource (a lookup after
// registering, or a periodic check). New messages are delivered once, their records deleted and
// a receipt issued; copies of delivered messages are deleted; receipts mark sent messages
// delivered and are deleted; deletions are skipped; a voicemail whose chunks are not all there
// yet is left for a later check.
func (mb *Mailbox) ReceiveStored(now time.Time, recs []*mesh.Record) Ready {
	var r Ready
	for _, g := range mb.collect(now, recs, &r) {
		_ = mb.accept(now, ViaOverlay, g, &r)
	}
	return r
}

// ReceiveDirect takes the records of one message handed over directly by its sender's node.
// The driver persists the state (Ready.Changed) before answering: nil means accepted (a
// duplicate is accepted too), and only then may the sender count it as sent; an error means
// refused, and the sender falls back to the overlay.
func (mb *Mailbox) ReceiveDirect(now time.Time, recs []*mesh.Record) (Ready, error) {
	var r Ready
	groups := mb.collect(now, recs, &r)
	if len(r.Refused) > 0 {
		return r, r.Refused[0].Err
	}
	switch len(groups) {
	case 0:
		return r, messageErr("no message records")
	case 1:
		return r, mb.accept(now, ViaDirect, groups[0], &r)
	}
	return r, messageErr("records of %d messages in one direct delivery", len(groups))
}

// collect verifies records and groups them by message, in a deterministic order.
func (mb *Mailbox) collect(now time.Time, recs []*mesh.Record, r *Ready) []*group {
	seen := map[mesh.RecordKey]bool{}
	byRef := map[MessageRef]*group{}
	for _, rec := range recs {
		if rec == nil || rec.Deleted || seen[rec.RecordKey()] {
			continue
		}
		m, reason, err := mb.check(now, rec)
		if err != nil {
			mb.refuse(r, refOfKey(rec.Key), reason, err)
			continue
		}
		seen[rec.RecordKey()] = true
		ref := MessageRef{Node: m.FromNode, ID: m.ID}
		g := byRef[ref]
		if g == nil {
			g = &group{ref: ref}
			byRef[ref] = g
		}
		g.msgs = append(g.msgs, m)
		g.recs = append(g.recs, rec)
	}
	out := make([]*group, 0, len(byRef))
	for _, g := range byRef {
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b *group) int { return compareRefs(a.ref, b.ref) })
	return out
}

func refOfKey(key []byte) MessageRef {
	var ref MessageRef
	if len(key) >= mesh.IDBytes+len(ref.ID) {
		copy(ref.Node[:], key)
		copy(ref.ID[:], key[mesh.IDBytes:])
	}
	return ref
}

func (mb *Mailbox) check(now time.Time, rec *mesh.Record) (*Message, string, error) {
	switch {
	case rec.Kind != mesh.KindMessage:
		return nil, ReasonMalformed, messageErr("record kind is %s, not message", rec.Kind)
	case rec.Resource != mb.resource:
		return nil, ReasonNotForMe, fmt.Errorf("%w: record is at resource %s", ErrNotForMe, rec.Resource.Short())
	case rec.Expired(now.UnixMilli()):
		return nil, ReasonExpired, fmt.Errorf("%w: expired at %s", mesh.ErrExpired, time.UnixMilli(rec.Expiry).UTC().Format(time.RFC3339))
	case rec.Expiry > now.Add(MaxTTL+ClockSkew).UnixMilli():
		return nil, ReasonExpiryTooFar, messageErr("expiry %s is more than %v away", time.UnixMilli(rec.Expiry).UTC().Format(time.RFC3339), MaxTTL+ClockSkew)
	}
	m, err := VerifyRecord(mb.cfg.Verifier, rec)
	if err != nil {
		if errors.Is(err, ErrMessage) || errors.Is(err, ErrVoicemail) || errors.Is(err, mesh.ErrMalformed) {
			return nil, ReasonMalformed, err
		}
		return nil, ReasonUnverified, err
	}
	if m.ToAoR != mb.self.Name {
		return nil, ReasonNotForMe, fmt.Errorf("%w: addressed to %s", ErrNotForMe, m.ToAoR)
	}
	return m, "", nil
}

func (mb *Mailbox) refuse(r *Ready, ref MessageRef, reason string, err error) error {
	mb.counters[reason]++
	r.Refused = append(r.Refused, Refusal{From: ref.Node, ID: ref.ID, Reason: reason, Err: err})
	return err
}

func (mb *Mailbox) accept(now time.Time, via Path, g *group, r *Ready) error {
	head := g.msgs[0]
	for _, m := range g.msgs[1:] {
		if m.Kind != head.Kind || m.Kind != KindVoicemail {
			return mb.refuse(r, g.ref, ReasonMalformed, messageErr("%d records share message id %s", len(g.msgs), g.ref.ID.Short()))
		}
	}
	if head.Kind == KindReceipt {
		return mb.onReceipt(via, g, r)
	}
	return mb.onMessage(now, via, g, r)
}

func (mb *Mailbox) onMessage(now time.Time, via Path, g *group, r *Ready) error {
	var maxExpiry int64
	for _, rec := range g.recs {
		maxExpiry = max(maxExpiry, rec.Expiry)
	}
	retain := time.UnixMilli(maxExpiry).Add(ClockSkew).UTC()
	if e, ok := mb.inbox[g.ref]; ok {
		mb.counters[CountDuplicate]++
		if retain.After(e.retainUntil) {
			e.retainUntil, r.Changed = retain, true
		}
		if via == ViaOverlay {
			r.Store = append(r.Store, mb.tombstones(g.recs)...)
		} else {
			mb.issueReceipt(&e.InboxEntry, r) // the sender asked again: its receipt may be lost
		}
		return nil
	}
	head := g.msgs[0]
	e := &inEntry{
		InboxEntry:  InboxEntry{Ref: g.ref, Kind: head.Kind, From: head.FromAoR, SentAt: head.SentAt, ReceivedAt: millis(now), Via: via},
		retainUntil: retain,
	}
	switch head.Kind {
	case KindText:
		e.Text = string(head.Body)
	case KindVoicemail:
		c, _ := DecodeChunk(head.Body) // checked by DecodeMessage
		if len(g.msgs) < c.Count {
			err := fmt.Errorf("%w: have %d of %d", ErrMissingChunk, len(g.msgs), c.Count)
			if via == ViaDirect {
				return mb.refuse(r, g.ref, ReasonIncomplete, err)
			}
			return err // the rest may still be on its way: look again later
		}
		v, err := OpenVoicemail(mb.cfg.Key, g.msgs)
		if err != nil {
			reason := ReasonMalformed
			if errors.Is(err, ErrDecrypt) {
				reason = ReasonUndecryptable
			}
			return mb.refuse(r, g.ref, reason, err)
		}
		e.Voicemail = &v
	}
	if n, size := mb.inboxUsage(); n >= mb.cfg.MaxInbox || size+e.bytes() > mb.cfg.MaxInboxBytes {
		return mb.refuse(r, g.ref, ReasonInboxFull, fmt.Errorf("%w: %d messages, %d bytes", ErrInboxFull, n, size))
	}
	mb.inbox[g.ref] = e
	mb.counters[CountDelivered]++
	r.Changed = true
	r.Delivered = append(r.Delivered, e.InboxEntry)
	if via == ViaOverlay {
		r.Store = append(r.Store, mb.tombstones(g.recs)...)
	}
	mb.issueReceipt(&e.InboxEntry, r)
	return nil
}

func (mb *Mailbox) onReceipt(via Path, g *group, r *Ready) error {
	m, rec := g.msgs[0], g.recs[0]
	if via == ViaOverlay {
		// At this node's own resource, for it alone: cleared whatever it says.
		r.Store = append(r.Store, Tombstone(mb.cfg.Signer, rec))
	}
	ref, _ := m.ReceiptFor()
	e, ok := mb.outbox[ref]
	if !ok {
		return mb.refuse(r, g.ref, ReasonUnknown, fmt.Errorf("%w: no sent message %s", ErrBadReceipt, ref.Short()))
	}
	if e.To != m.FromAoR {
		return mb.refuse(r, g.ref, ReasonForged, fmt.Errorf("%w: %s confirms a message sent to %s", ErrBadReceipt, m.FromAoR, e.To))
	}
	if e.State == Delivered {
		return nil
	}
	mb.counters[CountReceipts]++
	if e.stored {
		r.Store = append(r.Store, mb.tombstones(e.records)...)
	}
	e.State, e.DeliveredAt, e.records = Delivered, m.SentAt, nil
	r.Changed = true
	r.Updated = append(r.Updated, e.OutboxEntry)
	return nil
}

func (mb *Mailbox) tombstones(recs []*mesh.Record) []*mesh.Record {
	out := make([]*mesh.Record, len(recs))
	for i, rec := range recs {
		out[i] = Tombstone(mb.cfg.Signer, rec)
	}
	return out
}

// receiptID is derived from the message it confirms, so a receipt issued again is the same
// record and collapses with the first in the overlay.
func receiptID(ref MessageRef) MessageID {
	h := sha256.New()
	h.Write([]byte("meshcomm-receipt-v1"))
	h.Write(ref.Node[:])
	h.Write(ref.ID[:])
	var id MessageID
	copy(id[:], h.Sum(nil))
	return id
}

// issueReceipt queues the receipt for a delivered message: byte-identical every time (same id,
// time and ed25519's deterministic signature).
func (mb *Mailbox) issueReceipt(e *InboxEntry, r *Ready) {
	m := &Message{
		ID: receiptID(e.Ref), Kind: KindReceipt, FromAoR: mb.self.Name, FromNode: mb.self.Node,
		ToAoR: e.From, SentAt: e.ReceivedAt, Body: append([]byte(nil), e.Ref.ID[:]...),
	}
	expiry := e.ReceivedAt.Add(mb.cfg.TTL)
	rec, err := NewRecord(mb.cfg.Signer, m, expiry)
	if err != nil { // cannot happen: every field was checked on the way in
		mb.refuse(r, e.Ref, ReasonMalformed, err)
		return
	}
	mb.receipts[m.ID] = &receiptEntry{id: m.ID, to: e.From, record: rec, state: Queued, expiry: expiry}
	r.Changed = true
	r.Direct = append(r.Direct, Outgoing{ID: m.ID, Kind: KindReceipt, To: e.From, Records: []*mesh.Record{rec}})
}

// inboxUsage counts the entries the user has not removed and their bytes of content.
func (mb *Mailbox) inboxUsage() (entries, bytes int) {
	for _, e := range mb.inbox {
		if !e.removed {
			entries++
			bytes += e.bytes()
		}
	}
	return entries, bytes
}
