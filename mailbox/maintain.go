package mailbox

import (
	"fmt"
	"slices"
	"time"

	"meshcomm/mesh"
)

// Resume is called once after Restore (or New): it hands over again every effect a crash may
// have cut short. Queued messages and receipts get their direct attempt again; stored ones are
// put into the overlay again (the same signed records, so the overlay keeps one copy, and a
// deletion already there still wins).
func (mb *Mailbox) Resume(now time.Time) Ready {
	var r Ready
	for _, e := range mb.sortedOutbox() {
		switch e.State {
		case Queued:
			r.Direct = append(r.Direct, e.outgoing())
		case StoredInOverlay:
			e.lastStored = now
			r.Store = append(r.Store, e.records...)
		}
	}
	for _, re := range mb.sortedReceipts() {
		switch re.state {
		case Queued:
			r.Direct = append(r.Direct, re.outgoing())
		case StoredInOverlay:
			re.lastStored = now
			r.Store = append(r.Store, re.record)
		}
	}
	return r
}

// Tick does the housekeeping due at now: sent messages past their expiry become Expired;
// stored ones not yet confirmed are put again every RepublishEvery (in case every replica was
// lost); finished sent messages older than History are forgotten, and so are receipts past
// their expiry and removed inbox entries past their dedup retention.
func (mb *Mailbox) Tick(now time.Time) Ready {
	var r Ready
	for _, e := range mb.sortedOutbox() {
		switch {
		case !e.State.finished() && !now.Before(e.Expiry):
			e.State, e.records = Expired, nil
			r.Changed = true
			r.Updated = append(r.Updated, e.OutboxEntry)
		case e.State == StoredInOverlay && !now.Before(e.lastStored.Add(mb.cfg.RepublishEvery)):
			e.lastStored = now
			r.Store = append(r.Store, e.records...)
		case e.State.finished() && !now.Before(e.SentAt.Add(mb.cfg.History)):
			delete(mb.outbox, e.ID)
			r.Changed = true
		}
	}
	for _, re := range mb.sortedReceipts() {
		switch {
		case !now.Before(re.expiry):
			delete(mb.receipts, re.id)
			r.Changed = true
		case re.state == StoredInOverlay && !now.Before(re.lastStored.Add(mb.cfg.RepublishEvery)):
			re.lastStored = now
			r.Store = append(r.Store, re.record)
		}
	}
	for ref, e := range mb.inbox {
		if e.removed && !now.Before(e.retainUntil) {
			delete(mb.inbox, ref)
			r.Changed = true
		}
	}
	return r
}

func (mb *Mailbox) sortedOutbox() []*outEntry {
	out := make([]*outEntry, 0, len(mb.outbox))
	for _, e := range mb.outbox {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b *outEntry) int { return compareIDs(a.ID, b.ID) })
	return out
}

func (mb *Mailbox) sortedReceipts() []*receiptEntry {
	out := make([]*receiptEntry, 0, len(mb.receipts))
	for _, e := range mb.receipts {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b *receiptEntry) int { return compareIDs(a.id, b.id) })
	return out
}

func (re *receiptEntry) outgoing() Outgoing {
	return Outgoing{ID: re.id, Kind: KindReceipt, To: re.to, Records: []*mesh.Record{re.record}}
}

// Inbox lists the received texts and voicemail the user has not removed, oldest first.
func (mb *Mailbox) Inbox() []InboxEntry {
	out := make([]InboxEntry, 0, len(mb.inbox))
	for _, e := range mb.inbox {
		if !e.removed {
			out = append(out, e.InboxEntry)
		}
	}
	slices.SortFunc(out, func(a, b InboxEntry) int {
		if c := a.ReceivedAt.Compare(b.ReceivedAt); c != 0 {
			return c
		}
		return compareRefs(a.Ref, b.Ref)
	})
	return out
}

// Received returns one inbox entry the user has not removed.
func (mb *Mailbox) Received(ref MessageRef) (InboxEntry, bool) {
	e, ok := mb.inbox[ref]
	if !ok || e.removed {
		return InboxEntry{}, false
	}
	return e.InboxEntry, true
}

// MarkRead marks an inbox entry read.
func (mb *Mailbox) MarkRead(ref MessageRef) (Ready, error) {
	e, ok := mb.inbox[ref]
	if !ok || e.removed {
		return Ready{}, fmt.Errorf("%w: %s in the inbox", ErrUnknownID, ref)
	}
	if e.Read {
		return Ready{}, nil
	}
	e.Read = true
	return Ready{Changed: true}, nil
}

// Remove deletes an inbox entry's content. A stub stays until its message's records can no
// longer exist, so the message is never delivered again.
func (mb *Mailbox) Remove(ref MessageRef) (Ready, error) {
	e, ok := mb.inbox[ref]
	if !ok || e.removed {
		return Ready{}, fmt.Errorf("%w: %s in the inbox", ErrUnknownID, ref)
	}
	e.InboxEntry = InboxEntry{Ref: e.Ref, Kind: e.Kind, From: e.From, SentAt: e.SentAt, ReceivedAt: e.ReceivedAt, Via: e.Via}
	e.removed = true
	return Ready{Changed: true}, nil
}

// RemoveSent forgets a delivered or expired outbox entry. An undelivered one cannot be removed
// (its records may still be on their way).
func (mb *Mailbox) RemoveSent(id MessageID) (Ready, error) {
	e, ok := mb.outbox[id]
	if !ok {
		return Ready{}, fmt.Errorf("%w: %s in the outbox", ErrUnknownID, id)
	}
	if !e.State.finished() {
		return Ready{}, fmt.Errorf("message %s is %s: only delivered or expired messages can be removed", id.Short(), e.State)
	}
	delete(mb.outbox, id)
	return Ready{Changed: true}, nil
}
