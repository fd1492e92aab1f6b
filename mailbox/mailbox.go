package mailbox

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"
	"unicode/utf8"

	"meshcomm/mesh"
)

// Defaults of Config.
const (
	DefaultRepublishEvery = time.Hour
	DefaultHistory        = 30 * 24 * time.Hour
	DefaultMaxInbox       = 4096
	DefaultMaxInboxBytes  = 64 << 20
	DefaultMaxOutboxBytes = 16 << 20
)

// Config is what a Mailbox needs from the node that drives it.
type Config struct {
	Signer   mesh.Signer        // signs this node's message, receipt and deletion records
	Verifier mesh.Verifier      // authenticates received records
	Key      ed25519.PrivateKey // this node's key: opens voicemail sealed to its certificate
	Rand     io.Reader          // draws message ids and voicemail ephemeral keys

	TTL            time.Duration // lifetime of a stored message (DefaultTTL; at most MaxTTL)
	RepublishEvery time.Duration // how often a stored, undelivered message is put again
	History        time.Duration // how long delivered and expired sent messages stay listed
	MaxInbox       int           // most inbox entries the user has not removed
	MaxInboxBytes  int           // most bytes of text and audio in the inbox
	MaxOutboxBytes int           // most bytes of records held for undelivered messages
}

func (c *Config) fill() error {
	if c.Signer == nil || c.Verifier == nil || c.Rand == nil {
		return errors.New("mailbox: config needs a Signer, a Verifier and a Rand source")
	}
	id := c.Signer.Identity()
	if err := checkAoR(id.Name); err != nil {
		return fmt.Errorf("mailbox: signer's address: %w", err)
	}
	if len(c.Key) != ed25519.PrivateKeySize {
		return fmt.Errorf("mailbox: key is %d bytes, not an ed25519 private key", len(c.Key))
	}
	if mesh.NodeIDFromPublicKey(c.Key.Public().(ed25519.PublicKey)) != id.Node {
		return errors.New("mailbox: key does not belong to the signer's node")
	}
	if c.TTL == 0 {
		c.TTL = DefaultTTL
	}
	if c.TTL < 0 || c.TTL > MaxTTL {
		return fmt.Errorf("mailbox: TTL %v outside (0, %v]", c.TTL, MaxTTL)
	}
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.RepublishEvery, DefaultRepublishEvery)
	def(&c.History, DefaultHistory)
	defInt := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defInt(&c.MaxInbox, DefaultMaxInbox)
	defInt(&c.MaxInboxBytes, DefaultMaxInboxBytes)
	defInt(&c.MaxOutboxBytes, DefaultMaxOutboxBytes)
	return nil
}

// Mailbox is one node's store-and-forward state: what it sent (outbox), what it received
// (inbox, with the dedup memory that makes delivery exactly-once) and the receipts it owes.
// Every method takes the time; every effect comes back in a Ready. It is not safe for
// concurrent use.
type Mailbox struct {
	cfg      Config
	self     mesh.Identity
	resource mesh.ResourceID
	outbox   map[MessageID]*outEntry
	receipts map[MessageID]*receiptEntry
	inbox    map[MessageRef]*inEntry
	counters map[string]uint64
}

// New returns an empty mailbox.
func New(cfg Config) (*Mailbox, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	self := cfg.Signer.Identity()
	return &Mailbox{
		cfg:      cfg,
		self:     self,
		resource: mesh.ResourceIDFor(self.Name),
		outbox:   map[MessageID]*outEntry{},
		receipts: map[MessageID]*receiptEntry{},
		inbox:    map[MessageRef]*inEntry{},
		counters: map[string]uint64{},
	}, nil
}

// AoR is the address this mailbox receives for; its records live at mesh.ResourceIDFor(AoR).
func (mb *Mailbox) AoR() string { return mb.self.Name }

// OutboxState is where a sent message stands.
type OutboxState string

const (
	Queued          OutboxState = "queued"      // handed to the node for a direct attempt
	SentDirect      OutboxState = "sent-direct" // the recipient's node accepted it
	StoredInOverlay OutboxState = "stored"      // the direct attempt failed; it waits in the overlay
	Delivered       OutboxState = "delivered"   // the recipient's receipt came back
	Expired         OutboxState = "expired"     // its lifetime passed without a receipt
)

func (s OutboxState) finished() bool { return s == Delivered || s == Expired }

// OutboxEntry is a sent text or voicemail as the user sees it.
type OutboxEntry struct {
	ID          MessageID
	Kind        Kind
	To          string
	SentAt      time.Time
	Expiry      time.Time
	State       OutboxState
	DeliveredAt time.Time // the recipient's delivery time, from its receipt
	Text        string    // KindText only
	MediaType   string    // KindVoicemail only
	AudioBytes  int       // KindVoicemail only
}

type outEntry struct {
	OutboxEntry
	records    []*mesh.Record // the signed records, kept until finished
	stored     bool           // records were handed to the overlay at least once
	lastStored time.Time      // not persisted: republishing restarts its clock on Resume
}

func (e *outEntry) bytes() int {
	n := 0
	for _, r := range e.records {
		n += r.Size()
	}
	return n
}

// receiptEntry is a receipt this node owes a sender, kept until handed over directly, or
// until its expiry once stored (so Resume can store it again after a crash).
type receiptEntry struct {
	id         MessageID
	to         string
	record     *mesh.Record
	state      OutboxState // Queued or StoredInOverlay
	expiry     time.Time
	lastStored time.Time
}

// Outgoing is a message for the node to hand directly to the recipient's node (for instance
// each record encoded with mesh.EncodeRecord in the body of a SIP MESSAGE), answered with
// DirectResult. The records are the same ones that are stored in the overlay if it fails.
type Outgoing struct {
	ID      MessageID
	Kind    Kind
	To      string
	Records []*mesh.Record
}

// Ready is the batch of effects of one call. The driver persists Marshal() first when Changed,
// then performs the rest: Direct attempts, Store puts into the overlay (messages, receipts,
// deletions), Delivered and Updated notifications, and logs Refused (also counted).
type Ready struct {
	Changed   bool
	Direct    []Outgoing
	Store     []*mesh.Record
	Delivered []InboxEntry
	Updated   []OutboxEntry
	Refused   []Refusal
}

// Refusal is a received record or message this mailbox did not accept, with the reason it is
// counted under.
type Refusal struct {
	From   mesh.NodeID
	ID     MessageID
	Reason string
	Err    error
}

func (r *Ready) merge(o Ready) {
	r.Changed = r.Changed || o.Changed
	r.Direct = append(r.Direct, o.Direct...)
	r.Store = append(r.Store, o.Store...)
	r.Delivered = append(r.Delivered, o.Delivered...)
	r.Updated = append(r.Updated, o.Updated...)
	r.Refused = append(r.Refused, o.Refused...)
}

// Errors of the sending side.
var (
	ErrOutboxFull = errors.New("outbox is full")
	ErrUnknownID  = errors.New("no such message")
)

func millis(t time.Time) time.Time { return time.UnixMilli(t.UnixMilli()).UTC() }

// SendText queues a text message for to (a canonical AoR). The Ready holds the direct attempt.
func (mb *Mailbox) SendText(now time.Time, to, text string) (MessageID, Ready, error) {
	if len(text) == 0 || len(text) > MaxTextBytes || !utf8.ValidString(text) {
		return MessageID{}, Ready{}, messageErr("text must be 1 to %d bytes of UTF-8", MaxTextBytes)
	}
	head, err := mb.newHead(now, to)
	if err != nil {
		return MessageID{}, Ready{}, err
	}
	head.Kind = KindText
	head.Body = []byte(text)
	e := &outEntry{OutboxEntry: OutboxEntry{Kind: KindText, Text: text}}
	return mb.queue(e, []*Message{head})
}

// SendVoicemail seals v to recipient (the ed25519 key of to's certificate, see RecipientKey)
// and queues it for to. The Ready holds the direct attempt with every chunk.
func (mb *Mailbox) SendVoicemail(now time.Time, to string, recipient ed25519.PublicKey, v Voicemail) (MessageID, Ready, error) {
	head, err := mb.newHead(now, to)
	if err != nil {
		return MessageID{}, Ready{}, err
	}
	parts, err := SealVoicemail(mb.cfg.Rand, recipient, *head, v)
	if err != nil {
		return MessageID{}, Ready{}, err
	}
	e := &outEntry{OutboxEntry: OutboxEntry{Kind: KindVoicemail, MediaType: v.MediaType, AudioBytes: len(v.Audio)}}
	return mb.queue(e, parts)
}

func (mb *Mailbox) newHead(now time.Time, to string) (*Message, error) {
	if err := checkAoR(to); err != nil {
		return nil, messageErr("recipient: %v", err)
	}
	id, err := NewMessageID(mb.cfg.Rand)
	if err != nil {
		return nil, err
	}
	if _, dup := mb.outbox[id]; dup {
		return nil, fmt.Errorf("drawing a message id: %s is already in use", id)
	}
	return &Message{ID: id, FromAoR: mb.self.Name, FromNode: mb.self.Node, ToAoR: to, SentAt: millis(now)}, nil
}

func (mb *Mailbox) queue(e *outEntry, parts []*Message) (MessageID, Ready, error) {
	head := parts[0]
	expiry := head.SentAt.Add(mb.cfg.TTL)
	for _, p := range parts {
		rec, err := NewRecord(mb.cfg.Signer, p, expiry)
		if err != nil {
			return MessageID{}, Ready{}, err
		}
		e.records = append(e.records, rec)
	}
	if mb.outboxBytes()+e.bytes() > mb.cfg.MaxOutboxBytes {
		return MessageID{}, Ready{}, fmt.Errorf("%w: %d bytes of undelivered messages held (limit %d)", ErrOutboxFull, mb.outboxBytes(), mb.cfg.MaxOutboxBytes)
	}
	e.ID, e.To, e.SentAt, e.Expiry, e.State = head.ID, head.ToAoR, head.SentAt, expiry, Queued
	mb.outbox[e.ID] = e
	return e.ID, Ready{
		Changed: true,
		Direct:  []Outgoing{e.outgoing()},
		Updated: []OutboxEntry{e.OutboxEntry},
	}, nil
}

func (e *outEntry) outgoing() Outgoing {
	return Outgoing{ID: e.ID, Kind: e.Kind, To: e.To, Records: slices.Clone(e.records)}
}

func (mb *Mailbox) outboxBytes() int {
	n := 0
	for _, e := range mb.outbox {
		n += e.bytes()
	}
	return n
}

// DirectResult reports how the direct attempt of an Outgoing ended: delivered when the
// recipient's node accepted it (its ReceiveDirect returned no error), otherwise (unreachable,
// refused, timed out) its records go into the overlay. A result for a message that is no
// longer queued (a second attempt after Resume) changes nothing.
func (mb *Mailbox) DirectResult(now time.Time, id MessageID, delivered bool) Ready {
	if e, ok := mb.outbox[id]; ok {
		if e.State != Queued {
			return Ready{}
		}
		r := Ready{Changed: true}
		if delivered {
			e.State = SentDirect
		} else {
			e.State, e.stored, e.lastStored = StoredInOverlay, true, now
			r.Store = slices.Clone(e.records)
		}
		r.Updated = []OutboxEntry{e.OutboxEntry}
		return r
	}
	if re, ok := mb.receipts[id]; ok && re.state == Queued {
		if delivered {
			delete(mb.receipts, id)
			return Ready{Changed: true}
		}
		re.state, re.lastStored = StoredInOverlay, now
		return Ready{Changed: true, Store: []*mesh.Record{re.record}}
	}
	return Ready{}
}

// Outbox lists the sent texts and voicemail, oldest first.
func (mb *Mailbox) Outbox() []OutboxEntry {
	out := make([]OutboxEntry, 0, len(mb.outbox))
	for _, e := range mb.outbox {
		out = append(out, e.OutboxEntry)
	}
	slices.SortFunc(out, func(a, b OutboxEntry) int {
		if c := a.SentAt.Compare(b.SentAt); c != 0 {
			return c
		}
		return compareIDs(a.ID, b.ID)
	})
	return out
}

// Sent returns one outbox entry.
func (mb *Mailbox) Sent(id MessageID) (OutboxEntry, bool) {
	e, ok := mb.outbox[id]
	if !ok {
		return OutboxEntry{}, false
	}
	return e.OutboxEntry, true
}

// Counters returns how many records were refused by reason, and how many messages were
// delivered, found duplicated, and confirmed by receipts.
func (mb *Mailbox) Counters() map[string]uint64 {
	out := make(map[string]uint64, len(mb.counters))
	for k, v := range mb.counters {
		out[k] = v
	}
	return out
}

func compareIDs(a, b MessageID) int { return slices.Compare(a[:], b[:]) }
