package node

import (
	"context"
	"crypto/ed25519"
	crand "crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"meshcomm/mailbox"
	"meshcomm/mesh"
	"meshcomm/sip"
)

// ContentTypeRecords is the SIP MESSAGE body type of a direct hand-over of stored-message
// records: mesh.Encode of a mesh.Store holding them (the same bounded, fuzzed decoder the
// overlay uses).
const ContentTypeRecords = "application/meshcomm-records"

var (
	mailboxBucket = []byte("mailbox")
	mailboxKey    = []byte("state")
)

const (
	mailCheckInterval = 20 * time.Second // how often the overlay is asked for messages waiting here
	directTimeout     = 8 * time.Second  // a direct hand-over to the recipient's node
)

// postOffice drives the mailbox core: persists its state in the node's database before acting
// on it, hands messages directly to recipients over SIP MESSAGE, stores them in the overlay when
// that fails, and fetches what waits in the overlay for this node's user.
type postOffice struct {
	n   *Node
	log *slog.Logger

	mu      sync.Mutex
	mb      *mailbox.Mailbox
	waiters map[mailbox.MessageID][]chan mailbox.OutboxEntry
	arrived chan struct{} // one slot: a message for this user has reached this node's store
}

func newPostOffice(n *Node) (*postOffice, error) {
	key, ok := n.id.TLSCertificate().PrivateKey.(ed25519.PrivateKey)
	if !ok {
		return nil, errors.New("mailbox: the node key is not ed25519")
	}
	cfg := mailbox.Config{Signer: n.id.Signer(), Verifier: n.id.Verifier(), Key: key, Rand: crand.Reader}
	var state []byte
	if err := n.db.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(mailboxBucket)
		if err != nil {
			return err
		}
		if v := b.Get(mailboxKey); v != nil {
			state = append([]byte(nil), v...)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	p := &postOffice{n: n, log: n.log.With("part", "mailbox"), waiters: map[mailbox.MessageID][]chan mailbox.OutboxEntry{},
		arrived: make(chan struct{}, 1)}
	var err error
	if state != nil {
		p.mb, err = mailbox.Restore(cfg, state)
		if err != nil {
			// A state that does not decode is kept aside, not silently replaced.
			p.log.Error("mailbox state unreadable; starting empty (old state kept as state.bad)", "err", err)
			_ = n.db.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(mailboxBucket).Put([]byte("state.bad"), state) })
		}
	}
	if p.mb == nil {
		if p.mb, err = mailbox.New(cfg); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// start resumes cut-short work and checks the overlay periodically until ctx ends.
func (p *postOffice) start(ctx context.Context) {
	p.mu.Lock()
	rd := p.mb.Resume(p.n.now())
	p.mu.Unlock()
	p.apply(rd)
	go func() {
		t := time.NewTicker(mailCheckInterval)
		defer t.Stop()
		first := time.NewTimer(3 * time.Second) // once the node has had a moment to meet peers
		defer first.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-first.C:
			case <-t.C:
			case <-p.arrived:
			}
			p.checkStored(ctx)
			p.mu.Lock()
			rd := p.mb.Tick(p.n.now())
			p.mu.Unlock()
			p.apply(rd)
		}
	}()
}

// storedHere is called (on the node's loop) for every record the core stores: a message for
// this node's user wakes the post office, which then checks at once instead of at its next
// period (in flood mode that is how messages for a user arrive).
func (p *postOffice) storedHere(r *mesh.Record) {
	if r.Kind != mesh.KindMessage || r.Deleted || r.Resource != mesh.ResourceIDFor(p.n.id.AoR()) {
		return
	}
	select {
	case p.arrived <- struct{}{}:
	default: // a check is already due
	}
}

// checkStored looks up the messages stored in the overlay for this node's user.
func (p *postOffice) checkStored(ctx context.Context) {
	lctx, cancel := context.WithTimeout(ctx, DefaultLookupTimeout)
	defer cancel()
	done, err := p.n.pollLookup(lctx, mesh.ResourceIDFor(p.n.id.AoR()), mesh.KindMessage)
	if err != nil || len(done.Records) == 0 {
		return
	}
	recs := make([]*mesh.Record, len(done.Records))
	for i := range done.Records {
		recs[i] = &done.Records[i]
	}
	p.mu.Lock()
	rd := p.mb.ReceiveStored(p.n.now(), recs)
	p.mu.Unlock()
	p.apply(rd)
}

// apply carries out a Ready: the state first, then the rest.
func (p *postOffice) apply(rd mailbox.Ready) {
	if rd.Changed {
		if err := p.persist(); err != nil {
			p.log.Error("mailbox state not saved", "err", err)
		}
	}
	for _, r := range rd.Refused {
		p.log.Warn("message refused", "from", r.From, "id", r.ID, "reason", r.Reason, "err", r.Err)
	}
	if len(rd.Store) > 0 {
		recs := make([]mesh.Record, len(rd.Store))
		for i, r := range rd.Store {
			recs[i] = *r
		}
		if err := p.n.offer(context.Background(), recs); err != nil {
			p.log.Warn("message records not stored", "err", err)
		}
	}
	for _, e := range rd.Delivered {
		p.n.bus.Publish(Event{Time: p.n.now(), Type: EventMessage, Detail: fmt.Sprintf("%s from %s: %s", e.Kind, e.From, e.Text)})
	}
	for _, e := range rd.Updated {
		p.notify(e)
	}
	for _, o := range rd.Direct {
		go p.direct(o)
	}
}

func (p *postOffice) persist() error {
	p.mu.Lock()
	state, err := p.mb.Marshal()
	p.mu.Unlock()
	if err != nil {
		return err
	}
	return p.n.db.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(mailboxBucket).Put(mailboxKey, state) })
}

// direct hands one message to the recipient's node over SIP MESSAGE; its 200 is the receipt.
func (p *postOffice) direct(o mailbox.Outgoing) {
	delivered := false
	recs := make([]mesh.Record, len(o.Records))
	for i, r := range o.Records {
		recs[i] = *r
	}
	body, err := mesh.Encode(&mesh.Store{Records: recs})
	if err == nil && p.n.ua != nil {
		ctx, cancel := context.WithTimeout(context.Background(), directTimeout)
		rc, err := p.n.ua.SendMessage(ctx, o.To, "", sip.MessageID(o.ID.String()), sip.WithBody(ContentTypeRecords, body))
		cancel()
		delivered = err == nil && rc.Delivered
		if err != nil {
			p.log.Info("direct delivery failed; the message goes to the overlay", "to", o.To, "id", o.ID, "err", err)
		}
	}
	p.mu.Lock()
	rd := p.mb.DirectResult(p.n.now(), o.ID, delivered)
	p.mu.Unlock()
	p.apply(rd)
}

// receive takes a direct hand-over (the SIP MESSAGE handler): nil answers 200, the receipt.
func (p *postOffice) receive(m sip.Message) error {
	if m.ContentType != ContentTypeRecords {
		// A plain text MESSAGE from an ordinary SIP phone: shown, not stored.
		p.n.bus.Publish(Event{Time: p.n.now(), Type: EventMessage, Detail: fmt.Sprintf("text from %s: %s", m.From, m.Text)})
		return nil
	}
	msg, err := mesh.Decode(m.Body)
	if err != nil {
		return fmt.Errorf("message records: %w", err)
	}
	st, ok := msg.(*mesh.Store)
	if !ok {
		return fmt.Errorf("message records: a %T, not records", msg)
	}
	recs := make([]*mesh.Record, len(st.Records))
	for i := range st.Records {
		recs[i] = &st.Records[i]
	}
	p.mu.Lock()
	rd, err := p.mb.ReceiveDirect(p.n.now(), recs)
	p.mu.Unlock()
	p.apply(rd) // persisted before the 200 goes out
	return err
}

func (p *postOffice) notify(e mailbox.OutboxEntry) {
	p.mu.Lock()
	ws := p.waiters[e.ID]
	if e.State != mailbox.Queued {
		delete(p.waiters, e.ID)
	}
	p.mu.Unlock()
	if e.State == mailbox.Queued {
		return
	}
	for _, w := range ws {
		w <- e
	}
}

// send queues a text and waits for the first outcome (handed over directly, or stored in the
// overlay for later delivery).
func (p *postOffice) send(ctx context.Context, to, text string) (mailbox.OutboxEntry, error) {
	w := make(chan mailbox.OutboxEntry, 1)
	p.mu.Lock()
	id, rd, err := p.mb.SendText(p.n.now(), to, text)
	if err == nil {
		p.waiters[id] = append(p.waiters[id], w)
	}
	p.mu.Unlock()
	if err != nil {
		return mailbox.OutboxEntry{}, err
	}
	p.apply(rd)
	select {
	case e := <-w:
		return e, nil
	case <-ctx.Done():
		p.mu.Lock()
		e, _ := p.mb.Sent(id)
		p.mu.Unlock()
		return e, nil
	}
}

// sendVoicemail seals audio to the recipient's certificate (found in the overlay) and sends it.
func (p *postOffice) sendVoicemail(ctx context.Context, to string, v mailbox.Voicemail) (mailbox.OutboxEntry, error) {
	key, err := p.n.recipientKey(ctx, to)
	if err != nil {
		return mailbox.OutboxEntry{}, err
	}
	w := make(chan mailbox.OutboxEntry, 1)
	p.mu.Lock()
	id, rd, err := p.mb.SendVoicemail(p.n.now(), to, key, v)
	if err == nil {
		p.waiters[id] = append(p.waiters[id], w)
	}
	p.mu.Unlock()
	if err != nil {
		return mailbox.OutboxEntry{}, err
	}
	p.apply(rd)
	select {
	case e := <-w:
		return e, nil
	case <-ctx.Done():
		p.mu.Lock()
		e, _ := p.mb.Sent(id)
		p.mu.Unlock()
		return e, nil
	}
}

func (p *postOffice) lists() ([]mailbox.InboxEntry, []mailbox.OutboxEntry) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mb.Inbox(), p.mb.Outbox()
}

func (p *postOffice) markRead(ref mailbox.MessageRef) {
	p.mu.Lock()
	rd, err := p.mb.MarkRead(ref)
	p.mu.Unlock()
	if err == nil {
		p.apply(rd)
	}
}
