package sip

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"meshcomm/transport/memnet"
)

var memnetDown = memnet.Link{Down: true}

func TestCallRingsAnswersAndHangsUp(t *testing.T) {
	for _, side := range []string{"caller", "callee"} {
		t.Run("hangup by "+side, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := newMesh(t)
				a := m.node("101", nil)
				b := m.node("102", nil) // answers after 1 s
				call, err := a.ua.Call(ctxFor(t), b.aor)
				if err != nil {
					t.Fatal(err)
				}
				waitState(t, call, StateRinging)
				in := b.nextCall(t)
				if got := in.Info(); got.Remote != a.aor || got.Local != b.aor || got.Direction != Incoming || got.Peer != a.id() {
					t.Fatalf("incoming call info %+v", got)
				}
				info := waitState(t, call, StateAnswered)
				if info.Status != 200 || info.Peer != b.id() || info.SetupTime < time.Second || info.SetupTime > 2*time.Second {
					t.Fatalf("answered call info %+v (setup should be the 1 s ring plus a little)", info)
				}
				waitState(t, in, StateAnswered)
				if in.ID() != call.ID() {
					t.Fatalf("call ids differ: %s and %s", call.ID(), in.ID())
				}
				// Media started on both sides with the other side's SDP and node.
				sa, sb := a.media.session(call.ID()), b.media.session(call.ID())
				if ok, _, peer, remote := sa.state(); !ok || peer != b.id() || !strings.Contains(remote, "s="+call.ID()) {
					t.Fatalf("caller media: started=%v peer=%v remote=%q", ok, peer, remote)
				}
				if ok, _, peer, _ := sb.state(); !ok || peer != a.id() {
					t.Fatalf("callee media: started=%v peer=%v", ok, peer)
				}

				hanger, other := call, in
				if side == "callee" {
					hanger, other = in, call
				}
				if err := hanger.Hangup(ctxFor(t)); err != nil {
					t.Fatal(err)
				}
				hi, oi := waitEnded(t, hanger), waitEnded(t, other)
				if hi.EndedBy != "local" || oi.EndedBy != "remote" || hi.Status != 200 || oi.Status != 200 {
					t.Fatalf("ended: hanger %+v, other %+v", hi, oi)
				}
				if hi.Media.PacketsSent != 10 || oi.Media.PacketsSent != 10 {
					t.Fatal("media stats were not collected at the end")
				}
				for _, s := range []*fakeSession{sa, sb} {
					if _, closes, _, _ := s.state(); closes != 1 {
						t.Fatalf("media closed %d times", closes)
					}
				}
				if n := len(a.ua.Calls()) + len(b.ua.Calls()); n != 0 {
					t.Fatalf("%d calls left in the tables", n)
				}
				if st := a.ua.Stats(); st.CallsPlaced != 1 || st.CallsAnswered != 1 {
					t.Fatalf("caller stats %+v", st)
				}
			})
		})
	}
}

func manual(c *Config) { c.Policy = Policy{Mode: AnswerManual} }

func TestCallOutcomes(t *testing.T) {
	t.Run("busy", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			m := newMesh(t)
			a, c := m.node("101", nil), m.node("103", nil)
			b := m.node("102", manual)
			first, _ := a.ua.Call(ctxFor(t), b.aor)
			waitState(t, first, StateRinging)
			second, _ := c.ua.Call(ctxFor(t), b.aor)
			if info := waitEnded(t, second); info.Status != 486 {
				t.Fatalf("second call to a busy callee: %+v", info)
			}
			if st := b.ua.Stats(); st.Refused[ReasonBusy] != 1 || !m.logSink.logged(ReasonBusy) {
				t.Fatalf("busy refusal not counted and logged: %+v", st.Refused)
			}
			if first.State() != StateRinging {
				t.Fatalf("the first call was disturbed: %v", first.Info())
			}
		})
	})
	t.Run("do not disturb", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			m := newMesh(t)
			a := m.node("101", nil)
			b := m.node("102", func(c *Config) { c.Policy.Mode = AnswerBusy })
			call, _ := a.ua.Call(ctxFor(t), b.aor)
			if info := waitEnded(t, call); info.Status != 486 {
				t.Fatalf("%+v", info)
			}
		})
	})
	t.Run("unknown", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			m := newMesh(t)
			a := m.node("101", nil)
			call, _ := a.ua.Call(ctxFor(t), "sip:999@team")
			if info := waitEnded(t, call); info.Status != 404 {
				t.Fatalf("%+v", info)
			}
		})
	})
	t.Run("unreachable", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			m := newMesh(t)
			a, b := m.node("101", nil), m.node("102", nil)
			m.net.SetLink("10.0.0.1", "10.0.0.2", memnetDown)
			call, _ := a.ua.Call(ctxFor(t), b.aor)
			if info := waitEnded(t, call); info.Status != 480 {
				t.Fatalf("%+v", info)
			}
		})
	})
	t.Run("declined", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			m := newMesh(t)
			a, b := m.node("101", nil), m.node("102", manual)
			call, _ := a.ua.Call(ctxFor(t), b.aor)
			in := b.nextCall(t)
			if err := in.Reject(603); err != nil {
				t.Fatal(err)
			}
			if info := waitEnded(t, call); info.Status != 603 || info.EndedBy != "remote" {
				t.Fatalf("%+v", info)
			}
			if info := waitEnded(t, in); info.Status != 603 || info.EndedBy != "local" {
				t.Fatalf("%+v", info)
			}
		})
	})
	t.Run("not answered", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			m := newMesh(t)
			a := m.node("101", nil)
			b := m.node("102", func(c *Config) { c.Policy = Policy{Mode: AnswerManual, RingTimeout: 20 * time.Second} })
			call, _ := a.ua.Call(ctxFor(t), b.aor)
			start := time.Now()
			info := waitEnded(t, call)
			if info.Status != 480 || time.Since(start) < 20*time.Second {
				t.Fatalf("after %v: %+v", time.Since(start), info)
			}
		})
	})
}

func TestCallerCancelsWhileRinging(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMesh(t)
		a, b := m.node("101", nil), m.node("102", manual)
		call, _ := a.ua.Call(ctxFor(t), b.aor)
		waitState(t, call, StateRinging)
		in := b.nextCall(t)
		if err := call.Hangup(ctxFor(t)); err != nil {
			t.Fatal(err)
		}
		if info := waitEnded(t, call); info.Status != 487 || info.EndedBy != "local" {
			t.Fatalf("caller: %+v", info)
		}
		if info := waitEnded(t, in); info.Status != 487 || info.EndedBy != "remote" {
			t.Fatalf("callee: %+v", info)
		}
		if in.Answer() == nil {
			t.Fatal("a cancelled call could still be answered")
		}
		sa := a.media.session(call.ID())
		if started, closes, _, _ := sa.state(); started || closes != 1 {
			t.Fatalf("caller media started=%v closes=%d", started, closes)
		}
	})
}

func TestForkingRingsEveryBindingAndTheFirstAnswerWins(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMesh(t)
		a := m.node("101", nil)
		shared := func(c *Config) { manual(c); c.AoRs = []string{"sip:200@team"} }
		b1, b2 := m.node("200", shared), m.node("200", shared)
		call, _ := a.ua.Call(ctxFor(t), "sip:200@team")
		in1, in2 := b1.nextCall(t), b2.nextCall(t)
		waitState(t, call, StateRinging)
		if err := in2.Answer(); err != nil {
			t.Fatal(err)
		}
		info := waitState(t, call, StateAnswered)
		if info.Peer != b2.id() {
			t.Fatalf("answered by %v, want the second binding %v", info.Peer, b2.id())
		}
		if i1 := waitEnded(t, in1); i1.Status != 487 {
			t.Fatalf("the other binding: %+v", i1)
		}
		waitState(t, in2, StateAnswered)
		if err := call.Hangup(ctxFor(t)); err != nil {
			t.Fatal(err)
		}
		waitEnded(t, in2)
	})
}

func TestGlareBothCallEachOtherAndEndUpInOneCall(t *testing.T) {
	for run := range 3 { // the INVITEs cross at slightly different moments each run
		t.Run(fmt.Sprint(run), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := newMesh(t)
				a, b := m.node("101", manual), m.node("102", manual)
				// Streams exist both ways, so the INVITEs cross in flight.
				a.ua.ensureStream(ctxFor(t), b.id(), b.contact())
				b.ua.ensureStream(ctxFor(t), a.id(), a.contact())
				ca, _ := a.ua.Call(ctxFor(t), b.aor)
				cb, _ := b.ua.Call(ctxFor(t), a.aor)
				ia, ib := waitState(t, ca, StateAnswered), waitState(t, cb, StateAnswered)
				if ia.ID != ib.ID {
					t.Fatalf("two calls: %s and %s", ia.ID, ib.ID)
				}
				lo, hi := ia, ib
				ida, idb := a.id(), b.id()
				if bytes.Compare(idb[:], ida[:]) < 0 {
					lo, hi = ib, ia
				}
				if lo.Glare || !hi.Glare {
					t.Fatalf("the higher NodeID's call should be the merged one: lower %+v, higher %+v", lo, hi)
				}
				if len(a.ua.Calls()) != 1 || len(b.ua.Calls()) != 1 {
					t.Fatal("stray calls left")
				}
				if err := cb.Hangup(ctxFor(t)); err != nil {
					t.Fatal(err)
				}
				waitEnded(t, ca)
			})
		})
	}
}

func TestProvisionalAfterFinalCannotUndoAnswer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMesh(t)
		a := m.node("101", nil)
		c := newCall(a.ua, Outgoing, "x", a.ua.aors[0], a.ua.aors[0])
		if !c.advance(StateAnswered, 200) {
			t.Fatal("could not answer")
		}
		if c.advance(StateRinging, 180) || c.State() != StateAnswered {
			t.Fatalf("a late 180 moved the call to %v", c.State())
		}
	})
}

func TestInviteIsResentWhenItsStreamDies(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMesh(t)
		a, b := m.node("101", nil), m.node("102", manual)
		call, _ := a.ua.Call(ctxFor(t), b.aor)
		first := b.nextCall(t)
		waitState(t, call, StateRinging)
		// The stream under the ringing INVITE dies (as when the transport retires a duplicate
		// connection): both ends notice, the caller sends the INVITE again on a new stream.
		a.ua.mu.Lock()
		var conns []*sipConn
		for c := range a.ua.conns {
			conns = append(conns, c)
		}
		a.ua.mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
		second := b.nextCall(t)
		if info := waitEnded(t, first); info.Status != 487 {
			t.Fatalf("the first INVITE's call: %+v", info)
		}
		if second.ID() != call.ID() {
			t.Fatalf("the resent INVITE is another call: %s, %s", second.ID(), call.ID())
		}
		if err := second.Answer(); err != nil {
			t.Fatal(err)
		}
		waitState(t, call, StateAnswered)
		waitState(t, second, StateAnswered)
		call.Hangup(ctxFor(t))
		waitEnded(t, second)
	})
}
