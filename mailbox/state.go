package mailbox

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"meshcomm/mesh"
)

// StateVersion is the version of the persisted state Marshal writes.
const StateVersion = 1

// MaxStateBytes bounds what Restore reads.
const MaxStateBytes = 256 << 20

// ErrState is wrapped by every refusal of persisted state.
var ErrState = errors.New("mailbox state is malformed")

type stateJSON struct {
	Version  int           `json:"version"`
	Outbox   []outJSON     `json:"outbox"`
	Receipts []receiptJSON `json:"receipts"`
	Inbox    []inJSON      `json:"inbox"`
}

type outJSON struct {
	ID          MessageID   `json:"id"`
	Kind        Kind        `json:"kind"`
	To          string      `json:"to"`
	SentAt      time.Time   `json:"sent_at"`
	Expiry      time.Time   `json:"expiry"`
	State       OutboxState `json:"state"`
	DeliveredAt time.Time   `json:"delivered_at,omitzero"`
	Text        string      `json:"text,omitempty"`
	MediaType   string      `json:"media_type,omitempty"`
	AudioBytes  int         `json:"audio_bytes,omitempty"`
	Stored      bool        `json:"stored,omitempty"`
	Records     [][]byte    `json:"records,omitempty"`
}

type receiptJSON struct {
	ID     MessageID   `json:"id"`
	To     string      `json:"to"`
	State  OutboxState `json:"state"`
	Expiry time.Time   `json:"expiry"`
	Record []byte      `json:"record"`
}

type inJSON struct {
	Node        hexNode   `json:"node"`
	ID          MessageID `json:"id"`
	Kind        Kind      `json:"kind"`
	From        string    `json:"from"`
	SentAt      time.Time `json:"sent_at"`
	ReceivedAt  time.Time `json:"received_at"`
	Via         Path      `json:"via"`
	Read        bool      `json:"read,omitempty"`
	Text        string    `json:"text,omitempty"`
	MediaType   string    `json:"media_type,omitempty"`
	Audio       []byte    `json:"audio,omitempty"`
	RetainUntil time.Time `json:"retain_until"`
	Removed     bool      `json:"removed,omitempty"`
}

type hexNode mesh.NodeID

func (n hexNode) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(n[:])), nil }

func (n *hexNode) UnmarshalText(b []byte) error {
	if hex.DecodedLen(len(b)) != len(n) {
		return fmt.Errorf("node id %q is not %d hex digits", b, 2*len(n))
	}
	_, err := hex.Decode(n[:], b)
	return err
}

// MarshalText writes the id as 32 hex digits.
func (id MessageID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText reads what MarshalText wrote.
func (id *MessageID) UnmarshalText(b []byte) error {
	v, err := ParseMessageID(string(b))
	*id = v
	return err
}

// MarshalText writes the kind's name.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText reads a kind's name.
func (k *Kind) UnmarshalText(b []byte) error {
	for _, c := range []Kind{KindText, KindVoicemail, KindReceipt} {
		if string(b) == c.String() {
			*k = c
			return nil
		}
	}
	return fmt.Errorf("unknown message kind %q", b)
}

// Marshal returns the mailbox's state (JSON, see the package documentation) for the node to
// persist. Restore reads it back.
func (mb *Mailbox) Marshal() ([]byte, error) {
	s := stateJSON{Version: StateVersion, Outbox: []outJSON{}, Receipts: []receiptJSON{}, Inbox: []inJSON{}}
	for _, e := range mb.sortedOutbox() {
		o := outJSON{ID: e.ID, Kind: e.Kind, To: e.To, SentAt: e.SentAt, Expiry: e.Expiry, State: e.State,
			DeliveredAt: e.DeliveredAt, Text: e.Text, MediaType: e.MediaType, AudioBytes: e.AudioBytes, Stored: e.stored}
		for _, rec := range e.records {
			b, err := mesh.EncodeRecord(rec)
			if err != nil {
				return nil, err
			}
			o.Records = append(o.Records, b)
		}
		s.Outbox = append(s.Outbox, o)
	}
	for _, re := range mb.sortedReceipts() {
		b, err := mesh.EncodeRecord(re.record)
		if err != nil {
			return nil, err
		}
		s.Receipts = append(s.Receipts, receiptJSON{ID: re.id, To: re.to, State: re.state, Expiry: re.expiry, Record: b})
	}
	for _, e := range mb.sortedInbox() {
		in := inJSON{Node: hexNode(e.Ref.Node), ID: e.Ref.ID, Kind: e.Kind, From: e.From, SentAt: e.SentAt,
			ReceivedAt: e.ReceivedAt, Via: e.Via, Read: e.Read, Text: e.Text, RetainUntil: e.retainUntil, Removed: e.removed}
		if e.Voicemail != nil {
			in.MediaType, in.Audio = e.Voicemail.MediaType, e.Voicemail.Audio
		}
		s.Inbox = append(s.Inbox, in)
	}
	return json.Marshal(s)
}

func (mb *Mailbox) sortedInbox() []*inEntry {
	out := make([]*inEntry, 0, len(mb.inbox))
	for _, e := range mb.inbox {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b *inEntry) int { return compareRefs(a.Ref, b.Ref) })
	return out
}

// Restore returns a mailbox with the state Marshal wrote, refusing (with an error wrapping
// ErrState) anything malformed or not belonging to cfg's signer. Call Resume next.
func Restore(cfg Config, data []byte) (*Mailbox, error) {
	mb, err := New(cfg)
	if err != nil {
		return nil, err
	}
	if len(data) > MaxStateBytes {
		return nil, fmt.Errorf("%w: %d bytes (limit %d)", ErrState, len(data), MaxStateBytes)
	}
	var s stateJSON
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrState, err)
	}
	if s.Version != StateVersion {
		return nil, fmt.Errorf("%w: version %d (want %d)", ErrState, s.Version, StateVersion)
	}
	for i, o := range s.Outbox {
		if err := mb.restoreSent(o); err != nil {
			return nil, fmt.Errorf("%w: outbox entry %d: %v", ErrState, i, err)
		}
	}
	for i, rj := range s.Receipts {
		if err := mb.restoreReceipt(rj); err != nil {
			return nil, fmt.Errorf("%w: receipt %d: %v", ErrState, i, err)
		}
	}
	for i, in := range s.Inbox {
		if err := mb.restoreReceived(in); err != nil {
			return nil, fmt.Errorf("%w: inbox entry %d: %v", ErrState, i, err)
		}
	}
	return mb, nil
}

// ownRecord decodes a record this node signed and checks it is message id of kind.
func (mb *Mailbox) ownRecord(b []byte, id MessageID, kind Kind) (*mesh.Record, error) {
	rec, err := mesh.DecodeRecord(b)
	if err != nil {
		return nil, err
	}
	m, err := ParseRecord(&rec, mb.self)
	if err != nil {
		return nil, err
	}
	if m.ID != id || m.Kind != kind {
		return nil, fmt.Errorf("record holds %s %s, not %s %s", m.Kind, m.ID.Short(), kind, id.Short())
	}
	return &rec, nil
}

func (mb *Mailbox) restoreSent(o outJSON) error {
	if o.ID.IsZero() || mb.outbox[o.ID] != nil {
		return fmt.Errorf("id %s is zero or repeated", o.ID)
	}
	if o.Kind != KindText && o.Kind != KindVoicemail {
		return fmt.Errorf("kind %s cannot be sent", o.Kind)
	}
	if err := checkAoR(o.To); err != nil {
		return err
	}
	switch o.State {
	case Queued, SentDirect, StoredInOverlay, Delivered, Expired:
	default:
		return fmt.Errorf("unknown state %q", o.State)
	}
	if !o.State.finished() && len(o.Records) == 0 {
		return fmt.Errorf("%s message without records", o.State)
	}
	if len(o.Records) > MaxVoicemailChunks {
		return fmt.Errorf("%d records", len(o.Records))
	}
	e := &outEntry{OutboxEntry: OutboxEntry{ID: o.ID, Kind: o.Kind, To: o.To, SentAt: o.SentAt, Expiry: o.Expiry, State: o.State,
		DeliveredAt: o.DeliveredAt, Text: o.Text, MediaType: o.MediaType, AudioBytes: o.AudioBytes}, stored: o.Stored}
	for _, b := range o.Records {
		rec, err := mb.ownRecord(b, o.ID, o.Kind)
		if err != nil {
			return err
		}
		e.records = append(e.records, rec)
	}
	mb.outbox[o.ID] = e
	return nil
}

func (mb *Mailbox) restoreReceipt(rj receiptJSON) error {
	if rj.State != Queued && rj.State != StoredInOverlay {
		return fmt.Errorf("unknown state %q", rj.State)
	}
	if mb.receipts[rj.ID] != nil {
		return fmt.Errorf("id %s repeated", rj.ID)
	}
	rec, err := mb.ownRecord(rj.Record, rj.ID, KindReceipt)
	if err != nil {
		return err
	}
	mb.receipts[rj.ID] = &receiptEntry{id: rj.ID, to: rj.To, record: rec, state: rj.State, expiry: rj.Expiry}
	return nil
}

func (mb *Mailbox) restoreReceived(in inJSON) error {
	ref := MessageRef{Node: mesh.NodeID(in.Node), ID: in.ID}
	if ref.Node.IsZero() || ref.ID.IsZero() || mb.inbox[ref] != nil {
		return fmt.Errorf("reference %s is zero or repeated", ref)
	}
	if err := checkAoR(in.From); err != nil {
		return err
	}
	if in.Via != ViaDirect && in.Via != ViaOverlay {
		return fmt.Errorf("unknown path %q", in.Via)
	}
	e := &inEntry{InboxEntry: InboxEntry{Ref: ref, Kind: in.Kind, From: in.From, SentAt: in.SentAt, ReceivedAt: in.ReceivedAt,
		Via: in.Via, Read: in.Read}, retainUntil: in.RetainUntil, removed: in.Removed}
	switch {
	case in.Kind == KindText && !in.Removed:
		if len(in.Text) == 0 || len(in.Text) > MaxTextBytes || !utf8.ValidString(in.Text) {
			return fmt.Errorf("text is not 1 to %d bytes of UTF-8", MaxTextBytes)
		}
		e.Text = in.Text
	case in.Kind == KindVoicemail && !in.Removed:
		v := Voicemail{MediaType: in.MediaType, Audio: in.Audio}
		if err := checkVoicemail(v); err != nil {
			return err
		}
		e.Voicemail = &v
	case in.Kind != KindText && in.Kind != KindVoicemail:
		return fmt.Errorf("kind %s cannot be received into the inbox", in.Kind)
	}
	mb.inbox[ref] = e
	return nil
}
