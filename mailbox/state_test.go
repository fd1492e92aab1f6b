package mailbox

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

// busyMailboxes returns a's and b's mailboxes with something in every part of their state:
// sent messages queued, stored, sent directly and delivered; received text and voicemail, read
// and removed; receipts owed, queued and stored.
func busyMailboxes(t testing.TB, tm *team) (a, b *Mailbox) {
	t.Helper()
	a, b = tm.mailbox(t, 0, 1), tm.mailbox(t, 1, 2)
	send := func(text string, delivered bool) Outgoing {
		_, r, err := a.SendText(t0, b.AoR(), text)
		if err != nil {
			t.Fatal(err)
		}
		a.DirectResult(t0, r.Direct[0].ID, delivered)
		return r.Direct[0]
	}
	send("handed over", true)
	_, _, _ = a.SendText(t0, b.AoR(), "still queued")
	stored := send("stored", false)
	direct := send("direct", true)
	rb, err := b.ReceiveDirect(t0, direct.Records)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.ReceiveDirect(t0, rb.Direct[0].Records); err != nil { // now delivered
		t.Fatal(err)
	}
	b.DirectResult(t0, rb.Direct[0].ID, true)
	rb = b.ReceiveStored(t0, stored.Records) // receipt queued
	if _, err := b.MarkRead(rb.Delivered[0].Ref); err != nil {
		t.Fatal(err)
	}
	_, vr, err := a.SendVoicemail(t0, b.AoR(), tm.members[1].pub(), Voicemail{MediaType: "audio/opus", Audio: audio(300, 1)})
	if err != nil {
		t.Fatal(err)
	}
	rv, err := b.ReceiveDirect(t0, vr.Direct[0].Records)
	if err != nil {
		t.Fatal(err)
	}
	b.DirectResult(t0, rv.Direct[0].ID, false) // receipt stored
	if _, err := b.Remove(rv.Delivered[0].Ref); err != nil {
		t.Fatal(err)
	}
	return a, b
}

func TestMarshalRestoreKeepsEverything(t *testing.T) {
	tm := newTeam(t, 2)
	a, b := busyMailboxes(t, tm)
	for i, mb := range []*Mailbox{a, b} {
		data, err := mb.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		back, err := Restore(tm.config(tm.members[i], 99), data)
		if err != nil {
			t.Fatal(err)
		}
		again, err := back.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(data, again) {
			t.Fatalf("mailbox %d: state changed across Marshal/Restore:\n%s\n%s", i, data, again)
		}
		if len(back.Outbox()) != len(mb.Outbox()) || len(back.Inbox()) != len(mb.Inbox()) {
			t.Fatalf("mailbox %d: listings differ after restore", i)
		}
	}
	if len(a.Outbox()) != 5 || len(b.Inbox()) != 2 {
		t.Fatalf("fixture: %d sent, %d received", len(a.Outbox()), len(b.Inbox()))
	}
}

func TestResumeHandsOverWhatACrashCutShort(t *testing.T) {
	tm := newTeam(t, 2)
	a, b := busyMailboxes(t, tm)
	ra := a.Resume(t0.Add(time.Minute))
	// a: the text and the voicemail whose direct attempts never ended are tried again; the
	// stored text is stored again.
	if len(ra.Direct) != 2 || len(ra.Store) != 1 {
		t.Fatalf("sender's resume: %d direct, %d stored", len(ra.Direct), len(ra.Store))
	}
	for _, o := range ra.Direct {
		if e, _ := a.Sent(o.ID); e.State != Queued || e.Kind == KindText && e.Text != "still queued" {
			t.Fatalf("resumed %+v", e)
		}
	}
	rb := b.Resume(t0.Add(time.Minute))
	// b: the queued receipt is tried again; the stored one is stored again.
	if len(rb.Direct) != 1 || rb.Direct[0].Kind != KindReceipt || len(rb.Store) != 1 {
		t.Fatalf("recipient's resume: %d direct, %d stored", len(rb.Direct), len(rb.Store))
	}
}

func TestRestoreRefusesBadState(t *testing.T) {
	tm := newTeam(t, 3)
	a, _ := busyMailboxes(t, tm)
	data, err := a.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	// Another node's state: its records are not signed by this one.
	if _, err := Restore(tm.config(tm.members[2], 1), data); !errors.Is(err, ErrState) {
		t.Fatalf("another node's state: %v", err)
	}
	for name, bad := range map[string]string{
		"not JSON":       "{",
		"future version": `{"version":2}`,
		"unknown state":  strings.Replace(string(data), `"state":"stored"`, `"state":"lost"`, 1),
		"unknown kind":   strings.Replace(string(data), `"kind":"text"`, `"kind":"fax"`, 1),
		"broken record":  strings.Replace(string(data), `"records":["`, `"records":["AAAA`, 1),
		"bad address":    strings.Replace(string(data), `"to":"sip:102@team"`, `"to":"102"`, 1),
		"repeated id":    strings.Replace(string(data), `"outbox":[`, `"outbox":[`+firstOutbox(t, data)+`,`, 1),
	} {
		if bad == string(data) {
			t.Fatalf("%s: the mutation did not apply", name)
		}
		if _, err := Restore(tm.config(tm.members[0], 1), []byte(bad)); !errors.Is(err, ErrState) {
			t.Errorf("%s: %v, want ErrState", name, err)
		}
	}
}

// firstOutbox returns the JSON of the first outbox entry of a marshalled state.
func firstOutbox(t *testing.T, data []byte) string {
	s := string(data)
	start := strings.Index(s, `"outbox":[`) + len(`"outbox":[`)
	depth := 0
	for i := start; i < len(s); i++ {
		switch s[i] {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return s[start : i+1]
			}
		}
	}
	t.Fatal("no outbox entry")
	return ""
}

func TestTickExpiresRepublishesAndForgets(t *testing.T) {
	tm := newTeam(t, 2)
	a, b := tm.mailbox(t, 0, 1), tm.mailbox(t, 1, 2)
	id, _, err := a.SendText(t0, b.AoR(), "call in")
	if err != nil {
		t.Fatal(err)
	}
	stored := a.DirectResult(t0, id, false).Store
	if r := a.Tick(t0.Add(DefaultRepublishEvery - time.Second)); len(r.Store) != 0 {
		t.Fatal("republished early")
	}
	if r := a.Tick(t0.Add(DefaultRepublishEvery)); len(r.Store) != 1 || !bytes.Equal(r.Store[0].Signature, stored[0].Signature) {
		t.Fatalf("republish: %+v", r.Store)
	}
	expiry := t0.Add(DefaultTTL)
	r := a.Tick(expiry)
	if len(r.Updated) != 1 || r.Updated[0].State != Expired || !r.Changed {
		t.Fatalf("expiry: %+v", r)
	}
	if r := a.Tick(expiry.Add(2 * DefaultRepublishEvery)); len(r.Store) != 0 {
		t.Fatal("an expired message was republished")
	}
	if _, ok := a.Sent(id); !ok {
		t.Fatal("expired message no longer listed")
	}
	a.Tick(t0.Add(DefaultHistory))
	if _, ok := a.Sent(id); ok {
		t.Fatal("finished message still listed after the history period")
	}

	// b received it just before expiry, and removed it: the stub refuses copies until the
	// record cannot exist any more; then it goes.
	late := expiry.Add(-time.Minute)
	rb := b.ReceiveStored(late, stored)
	if len(rb.Delivered) != 1 {
		t.Fatalf("late delivery: %+v", rb)
	}
	if _, err := b.Remove(rb.Delivered[0].Ref); err != nil {
		t.Fatal(err)
	}
	if r := b.ReceiveStored(late, stored); len(r.Delivered) != 0 {
		t.Fatal("delivered again after removal")
	}
	b.Tick(expiry.Add(ClockSkew - time.Second))
	if r := b.ReceiveStored(expiry.Add(-time.Second), stored); len(r.Delivered) != 0 { // a clock stepped back
		t.Fatal("delivered again after the clock stepped back")
	}
	b.Tick(expiry.Add(ClockSkew))
	if n := len(b.inbox); n != 0 {
		t.Fatalf("stub kept past its retention (%d entries)", n)
	}
	if r := b.ReceiveStored(expiry.Add(ClockSkew), stored); len(r.Delivered) != 0 || r.Refused[0].Reason != ReasonExpired {
		t.Fatalf("a copy after the retention: %+v", r)
	}
}
