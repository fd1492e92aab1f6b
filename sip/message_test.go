package sip

import (
	"errors"
	"testing"
	"testing/synctest"
)

func TestMessageIsDeliveredOnceWithAReceipt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMesh(t)
		a, b := m.node("101", nil), m.node("102", nil)
		rc, err := a.ua.SendMessage(ctxFor(t), b.aor, "water at sector 4", MessageID("m-1"))
		if err != nil || !rc.Delivered || rc.Node != b.id() || rc.Status != 200 || rc.ID != "m-1" {
			t.Fatalf("receipt %+v, %v", rc, err)
		}
		msg := <-b.messages
		if msg.Text != "water at sector 4" || msg.From != a.aor || msg.To != b.aor || msg.ID != "m-1" || msg.FromNode != a.id() {
			t.Fatalf("%+v", msg)
		}
		// Sent again (a store-and-forward retry): acknowledged, not delivered twice.
		rc, err = a.ua.SendMessage(ctxFor(t), b.aor, "water at sector 4", MessageID("m-1"))
		if err != nil || !rc.Delivered {
			t.Fatalf("%+v %v", rc, err)
		}
		synctest.Wait()
		if len(b.messages) != 0 {
			t.Fatal("the duplicate was delivered")
		}
		if st := b.ua.Stats(); st.MessagesReceived != 1 || st.MessageDuplicates != 1 {
			t.Fatalf("%+v", st)
		}
	})
}

func TestMessageNotDelivered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMesh(t)
		a := m.node("101", nil)
		b := m.node("102", func(c *Config) { c.OnMessage = func(Message) error { return errors.New("screen locked") } })
		if _, err := a.ua.SendMessage(ctxFor(t), "sip:999@team", "hello"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown address: %v", err)
		}
		rc, err := a.ua.SendMessage(ctxFor(t), b.aor, "hello")
		if !errors.Is(err, ErrNotDelivered) || rc.Delivered || rc.Status != 480 {
			t.Fatalf("refused by the handler: %+v %v", rc, err)
		}
		m.net.SetLink("10.0.0.1", "10.0.0.2", memnetDown)
		c := m.node("103", nil)
		m.net.SetLink("10.0.0.1", "10.0.0.3", memnetDown)
		rc, err = a.ua.SendMessage(ctxFor(t), c.aor, "hello")
		if !errors.Is(err, ErrNotDelivered) || rc.Status != 480 {
			t.Fatalf("unreachable: %+v %v", rc, err)
		}
	})
}

func TestMessageToEveryBinding(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMesh(t)
		a := m.node("101", nil)
		// The first binding refuses, the second takes it: the receipt names the second.
		shared := func(refuse bool) func(*Config) {
			return func(c *Config) {
				c.AoRs = []string{"sip:200@team"}
				if refuse {
					c.OnMessage = func(Message) error { return errors.New("busy") }
				}
			}
		}
		m.node("200", shared(true))
		b2 := m.node("200", shared(false))
		rc, err := a.ua.SendMessage(ctxFor(t), "sip:200@team", "to the team")
		if err != nil || rc.Node != b2.id() {
			t.Fatalf("%+v %v", rc, err)
		}
	})
}

func TestMessageWithAnotherBodyType(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMesh(t)
		a := m.node("101", nil)
		b := m.node("102", func(c *Config) { c.MessageTypes = []string{"application/x-records"} })
		body := []byte{0, 1, 2, 0xff}
		rc, err := a.ua.SendMessage(ctxFor(t), b.aor, "", WithBody("application/x-records", body), MessageID("r-1"))
		if err != nil || !rc.Delivered {
			t.Fatalf("%+v %v", rc, err)
		}
		msg := <-b.messages
		if msg.ContentType != "application/x-records" || string(msg.Body) != string(body) || msg.Text != "" || msg.ID != "r-1" {
			t.Fatalf("%+v", msg)
		}
		rc, err = a.ua.SendMessage(ctxFor(t), b.aor, "", WithBody("image/png", body))
		if !errors.Is(err, ErrNotDelivered) || rc.Status != 415 {
			t.Fatalf("a type the recipient does not take: %+v %v", rc, err)
		}
		if _, err := a.ua.SendMessage(ctxFor(t), b.aor, "x", MessageID("bad id\r\n")); err == nil {
			t.Fatal("an id that cannot be a Call-ID was sent")
		}
	})
}

func TestCallWithAChosenCallID(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMesh(t)
		a, b := m.node("101", nil), m.node("102", nil)
		call, err := a.ua.Call(ctxFor(t), b.aor, CallID("call-42"))
		if err != nil {
			t.Fatal(err)
		}
		if b.nextCall(t).ID() != "call-42" || call.ID() != "call-42" || a.media.session("call-42") == nil {
			t.Fatal("the chosen Call-ID was not used")
		}
		waitState(t, call, StateAnswered)
		call.Hangup(ctxFor(t))
	})
}
