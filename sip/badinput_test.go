package sip

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// rawRequest builds a request as a peer would write it on a stream; extra headers end in CRLF.
func rawRequest(method, ruri, extra, body string) string {
	return rawRequestLen(method, ruri, extra, body, len(body))
}

// rawRequestLen is rawRequest with a chosen Content-Length.
func rawRequestLen(method, ruri, extra, body string, length int) string {
	to := ruri
	if strings.Contains(ruri, "[") {
		to = "sip:102@team"
	}
	return fmt.Sprintf("%s %s SIP/2.0\r\n"+
		"Via: SIP/2.0/TLS [2001:db8::1]:5061;branch=z9hG4bK%d\r\n"+
		"From: <sip:101@team>;tag=t%d\r\n"+
		"To: <%s>\r\n"+
		"Call-ID: c%d\r\n"+
		"CSeq: 1 %s\r\n"+
		"%sContent-Length: %d\r\n\r\n%s",
		method, ruri, rand.Uint64(), rand.Uint64(), to, rand.Uint64(), method, extra, length, body)
}

func hasStatus(resp string, code int) bool {
	return strings.HasPrefix(resp, fmt.Sprintf("SIP/2.0 %d ", code))
}

func TestBadInputIsRefusedCountedAndTheNodeCarriesOn(t *testing.T) {
	type tc struct {
		name   string
		input  func(b *testNode) string
		status int    // response expected on the stream, 0 for none
		reason string // refusal counted
		closes bool   // the stream is refused as a whole
	}
	cases := []tc{
		{"garbage", func(*testNode) string { return "\x00\x01hello there\r\n\r\n" }, 0, ReasonFraming, true},
		{"unparseable start line", func(*testNode) string {
			return "OPTIONS nothing-here\r\nVia: x\r\nContent-Length: 0\r\n\r\n"
		}, 0, ReasonMalformed, false},
		{"missing Call-ID", func(b *testNode) string {
			return "OPTIONS sip:102@team SIP/2.0\r\nVia: SIP/2.0/TLS [2001:db8::1]:5061;branch=z9hG4bK1\r\n" +
				"From: <sip:101@team>;tag=1\r\nTo: <sip:102@team>\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
		}, 0, ReasonMalformed, false},
		{"CSeq method mismatch", func(*testNode) string {
			return strings.Replace(rawRequest("OPTIONS", "sip:102@team", "", ""), "CSeq: 1 OPTIONS", "CSeq: 1 INVITE", 1)
		}, 400, ReasonMalformed, false},
		{"Content-Length too small", func(*testNode) string {
			return rawRequestLen("MESSAGE", "sip:102@team", "Content-Type: text/plain\r\n", "a=hello, world", 2)
		}, 400, ReasonContentLength, true},
		{"Content-Length not a number", func(*testNode) string {
			return strings.Replace(rawRequest("OPTIONS", "sip:102@team", "", ""), "Content-Length: 0", "Content-Length: -3", 1)
		}, 0, ReasonContentLength, true},
		{"oversized body", func(*testNode) string {
			return rawRequest("MESSAGE", "sip:102@team", "Content-Type: text/plain\r\n", strings.Repeat("x", 40<<10))
		}, 413, ReasonTooLarge, false},
		{"oversized text", func(*testNode) string {
			return rawRequest("MESSAGE", "sip:102@team", "Content-Type: text/plain\r\n", strings.Repeat("x", 9<<10))
		}, 413, ReasonTextTooLarge, false},
		{"unsupported message type", func(*testNode) string {
			return rawRequest("MESSAGE", "sip:102@team", "Content-Type: image/png\r\n", "png")
		}, 415, ReasonBadContentType, false},
		{"BYE for an unknown dialog", func(*testNode) string {
			return rawRequest("BYE", "sip:102@team", "", "")
		}, 481, ReasonUnknownDialog, false},
		{"INVITE for a stranger", func(*testNode) string {
			return rawRequest("INVITE", "sip:555@team", "Contact: <sip:101@[2001:db8::1]:5061;transport=tls>\r\n", "")
		}, 404, ReasonUnknownUser, false},
		{"header section without end", func(*testNode) string {
			return "OPTIONS sip:102@team SIP/2.0\r\nX: " + strings.Repeat("y", 20<<10)
		}, 0, ReasonHeaderTooLarge, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := newMesh(t)
				a := m.node("101", nil)
				b := m.node("102", func(c *Config) { c.MessageTypes = []string{"application/meshcomm-records"} })
				s := a.rawStream(t, b)
				if _, err := s.Write([]byte(c.input(b))); err != nil && !c.closes {
					t.Fatal(err)
				}
				if c.status != 0 {
					if got := readResponse(t, s); !hasStatus(got, c.status) {
						t.Fatalf("want %d, got %q", c.status, got)
					}
				}
				synctest.Wait()
				if n := b.ua.Stats().Refused[c.reason]; n != 1 || !m.logSink.logged(c.reason) {
					t.Fatalf("refusal %q counted %d times (all: %v)", c.reason, n, b.ua.Stats().Refused)
				}
				// The stream either carries on or was refused as a whole.
				s.Write([]byte(rawRequest("OPTIONS", "sip:102@team", "", "")))
				s.SetReadDeadline(time.Now().Add(wait))
				buf := make([]byte, 4096)
				n, err := s.Read(buf)
				if c.closes != (err != nil) || !c.closes && !hasStatus(string(buf[:n]), 200) {
					t.Fatalf("after the bad input, OPTIONS got %q, %v (stream should close: %v)", buf[:n], err, c.closes)
				}
				// The node is unharmed: a call still goes through.
				call, _ := a.ua.Call(ctxFor(t), b.aor)
				waitState(t, call, StateAnswered)
				call.Hangup(ctxFor(t))
			})
		})
	}
}

func TestStalledMessageIsRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMesh(t)
		a, b := m.node("101", nil), m.node("102", nil)
		s := a.rawStream(t, b)
		// Content-Length promises more than ever comes.
		s.Write([]byte(rawRequestLen("MESSAGE", "sip:102@team", "Content-Type: text/plain\r\n", "hi", 100)))
		if got := readResponse(t, s); !hasStatus(got, 400) {
			t.Fatalf("got %q", got)
		}
		if b.ua.Stats().Refused[ReasonStalled] != 1 {
			t.Fatalf("%v", b.ua.Stats().Refused)
		}
	})
}

func TestRequestFloodIsRateLimitedPerPeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMesh(t)
		a, b := m.node("101", nil), m.node("102", nil)
		c := m.node("103", nil)
		s := a.rawStream(t, b)
		const flood = 300
		var all strings.Builder
		for range flood {
			all.WriteString(rawRequest("OPTIONS", "sip:102@team", "", ""))
		}
		go s.Write([]byte(all.String()))
		ok, limited := 0, 0
		s.SetReadDeadline(time.Now().Add(wait))
		var got []byte
		buf := make([]byte, 64<<10)
		for ok+limited < flood {
			n, err := s.Read(buf)
			if err != nil {
				t.Fatalf("after %d answers: %v", ok+limited, err)
			}
			got = append(got, buf[:n]...)
			for {
				i := strings.Index(string(got), "\r\n\r\n")
				if i < 0 {
					break
				}
				switch head := string(got[:i]); {
				case hasStatus(head, 200):
					ok++
				case hasStatus(head, 503) && strings.Contains(head, "Retry-After: 1"):
					limited++
				default:
					t.Fatalf("unexpected %q", head)
				}
				got = got[i+4:]
			}
		}
		if ok < DefaultBurst || limited == 0 {
			t.Fatalf("%d answered, %d limited", ok, limited)
		}
		if n := b.ua.Stats().Refused[ReasonRateLimited]; n != uint64(limited) {
			t.Fatalf("counted %d, saw %d", n, limited)
		}
		// Another peer is not limited by the first one's flood.
		rc, err := c.ua.SendMessage(ctxFor(t), b.aor, "still here")
		if err != nil || !rc.Delivered {
			t.Fatalf("%+v %v", rc, err)
		}
	})
}
