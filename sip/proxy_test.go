package sip

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
)

// overlayLocator is one node's view of the registry (in tests of routing loops each node is
// given a different, stale view).
type overlayLocator map[string][]Binding

func (l overlayLocator) Locate(_ context.Context, aor string) ([]Binding, error) {
	if bs := l[aor]; len(bs) > 0 {
		return bs, nil
	}
	return nil, ErrNotFound
}

func TestCallThroughTheOverlayWhenCallerAndCalleeShareNoNetwork(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMesh(t)
		a := m.node("101", nil)
		p := m.node("150", func(c *Config) { c.Proxy = true })
		c := m.node("102", nil)
		m.net.SetLink("10.0.0.1", "10.0.0.3", memnetDown) // A and C reach each other only through P

		call, err := a.ua.Call(ctxFor(t), c.aor, Via(p.contact()))
		if err != nil {
			t.Fatal(err)
		}
		in := c.nextCall(t)
		info := waitState(t, call, StateAnswered)
		if info.Peer != c.id() || in.Info().Peer != a.id() {
			t.Fatalf("peers: caller sees %v, callee sees %v", info.Peer, in.Info().Peer)
		}
		waitState(t, in, StateAnswered)
		// The callee hangs up: its BYE follows the Record-Route through P.
		if err := in.Hangup(ctxFor(t)); err != nil {
			t.Fatal(err)
		}
		if info := waitEnded(t, call); info.EndedBy != "remote" {
			t.Fatalf("%+v", info)
		}
		if n := p.ua.Stats().Forwarded; n < 3 { // INVITE, ACK, BYE at least
			t.Fatalf("the proxy forwarded %d requests", n)
		}
	})
}

func TestMessageThroughTheOverlay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMesh(t)
		a := m.node("101", nil)
		p := m.node("150", func(c *Config) { c.Proxy = true })
		c := m.node("102", nil)
		rc, err := a.ua.SendMessage(ctxFor(t), c.aor, "via the overlay", Via(p.contact()))
		if err != nil || !rc.Delivered {
			t.Fatalf("%+v %v", rc, err)
		}
		if msg := <-c.messages; msg.Text != "via the overlay" || msg.From != a.aor {
			t.Fatalf("%+v", msg)
		}
	})
}

func TestProxyWithoutProxyingRefusesForeignAddresses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMesh(t)
		a, p, c := m.node("101", nil), m.node("150", nil), m.node("102", nil)
		call, _ := a.ua.Call(ctxFor(t), c.aor, Via(p.contact()))
		if info := waitEnded(t, call); info.Status != 404 {
			t.Fatalf("%+v", info)
		}
		if p.ua.Stats().Refused[ReasonUnknownUser] != 1 {
			t.Fatal("not counted")
		}
	})
}

func TestRoutingLoopIsDetected(t *testing.T) {
	for _, n := range []int{2, 3} {
		t.Run(fmt.Sprintf("%d proxies", n), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := newMesh(t)
				a := m.node("101", nil)
				// Stale views: each proxy believes the next one holds sip:300@team.
				views := make([]overlayLocator, n)
				proxies := make([]*testNode, n)
				for i := range proxies {
					views[i] = overlayLocator{}
					proxies[i] = m.node(fmt.Sprint(151+i), func(c *Config) { c.Proxy, c.Locator = true, views[i] })
				}
				for i, v := range views {
					next := proxies[(i+1)%n]
					v["sip:300@team"] = []Binding{{AoR: "sip:300@team", NodeID: next.id(), Contact: next.contact()}}
				}
				call, _ := a.ua.Call(ctxFor(t), "sip:300@team", Via(proxies[0].contact()))
				if info := waitEnded(t, call); info.Status != 482 {
					t.Fatalf("%+v", info)
				}
				loops := uint64(0)
				for _, p := range proxies {
					loops += p.ua.Stats().Refused[ReasonLoop]
				}
				if loops != 1 || !m.logSink.logged(ReasonLoop) {
					t.Fatalf("loop refusals: %d", loops)
				}
			})
		})
	}
}

func TestMaxForwardsExhausted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMesh(t)
		a := m.node("101", nil)
		p := m.node("150", func(c *Config) { c.Proxy = true })
		m.node("102", nil)
		s := a.rawStream(t, p)
		s.Write([]byte(rawRequest("MESSAGE", "sip:102@team", "Max-Forwards: 0\r\nContent-Type: text/plain\r\n", "hi")))
		if got := readResponse(t, s); !hasStatus(got, 483) {
			t.Fatalf("got %q", got)
		}
		if p.ua.Stats().Refused[ReasonTooManyHops] != 1 {
			t.Fatal("not counted")
		}
	})
}
