package sip

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"meshcomm/mesh"
)

// FuzzFrameReader feeds arbitrary bytes to the stream framer, the first code that sees what
// a peer writes. It must never panic, never hand on a message over its bounds, and always
// make progress.
func FuzzFrameReader(f *testing.F) {
	f.Add([]byte(rawRequest("OPTIONS", "sip:102@team", "", "")))
	f.Add([]byte(rawRequest("MESSAGE", "sip:102@team", "Content-Type: text/plain\r\n", "hello")))
	f.Add([]byte(rawRequestLen("MESSAGE", "sip:102@team", "", "a=1", 1)))
	f.Add([]byte("\r\n\r\n" + rawRequest("BYE", "sip:102@team", "", "") + rawRequest("ACK", "sip:102@team", "", "")))
	f.Add([]byte("SIP/2.0 200 OK\r\nVia: SIP/2.0/TLS [::1]:5061;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: 1\r\nCSeq: 1 OPTIONS\r\nl: 0\r\n\r\n"))
	f.Add([]byte("INVITE sip:x@y SIP/2.0\r\nContent-Length: 99999999\r\n\r\n"))
	f.Add([]byte("\x00garbage"))
	lim := Limits{MaxMessageBytes: 4096, MaxBodyBytes: 1024}.withDefaults()
	f.Fuzz(func(t *testing.T, in []byte) {
		fr := newFrameReader(bytes.NewReader(in), nil, lim)
		for i := 0; ; i++ {
			if i > len(in)+1 {
				t.Fatal("the framer made no progress")
			}
			raw, msg, err := fr.next()
			var fe *frameError
			switch {
			case errors.Is(err, io.EOF):
				return
			case errors.As(err, &fe):
				if fe.fatal {
					return
				}
				continue
			case err != nil:
				return
			}
			if len(raw) > lim.MaxMessageBytes || len(msg.Body()) > lim.MaxBodyBytes {
				t.Fatalf("message of %d bytes (body %d) passed the bounds", len(raw), len(msg.Body()))
			}
			if checkHeaders(msg) != nil {
				t.Fatal("a message without its mandatory headers passed")
			}
		}
	})
}

// FuzzCheckRegister runs the registrar's checks on arbitrary REGISTER bodies, To addresses
// and Expires values: nothing but a valid record for the To address signed by the sender may
// pass.
func FuzzCheckRegister(f *testing.F) {
	var seed [32]byte
	auth := mesh.NewAuthority(seed)
	seed[0] = 1
	signer, _ := auth.Issue(seed, "sip:101@team")
	node := signer.Identity().Node
	good := registration(node, "sip:101@team", signer, time.Hour, false)
	body, _ := mesh.EncodeRecord(good)
	f.Add(body, "sip:101@team", "3600")
	f.Add(body, "sip:102@team", "3600")
	f.Add(body, "sip:101@team", "0")
	f.Add([]byte{1, 2, 3}, "sip:101@team", "x")
	verifier := &lockedVerifier{v: &mesh.Ed25519Verifier{Trusted: []ed25519.PublicKey{auth.PublicKey()}}}
	f.Fuzz(func(t *testing.T, body []byte, to, expires string) {
		aor, err := ParseAoR(to)
		if err != nil {
			return
		}
		req := sip.NewRequest(sip.REGISTER, contactURI("", node))
		req.AppendHeader(&sip.ToHeader{Address: aorURI(aor), Params: sip.NewParams()})
		req.AppendHeader(sip.NewHeader("Expires", expires))
		ct := sip.ContentTypeHeader(ContentTypeRecord)
		req.AppendHeader(&ct)
		req.SetBody(body)
		rec, _, rerr := checkRegister(req, node, verifier, time.Now(), DefaultMaxExpiry)
		if rerr != nil {
			if rerr.status < 400 || rerr.reason == "" {
				t.Fatalf("refusal without a status or reason: %+v", rerr)
			}
			return
		}
		id, err := mesh.VerifyRecord(verifier, rec)
		if err != nil || id.Node != node || rec.Resource != mesh.ResourceIDFor(aor.String()) || rec.Kind != mesh.KindRegistration {
			t.Fatalf("accepted a record it should not have: %+v (%v)", rec, err)
		}
	})
}

// FuzzAddresses checks the address parsers on arbitrary text.
func FuzzAddresses(f *testing.F) {
	f.Add("sip:101@team")
	f.Add("SIP:Medic-1@Team-B")
	f.Add("[2001:db8::1]")
	f.Add("[::ffff:1.2.3.4]")
	f.Add("sip:@")
	f.Fuzz(func(t *testing.T, s string) {
		if a, err := ParseAoR(s); err == nil {
			again, err := ParseAoR(a.String())
			if err != nil || again != a || strings.ContainsAny(a.String(), "<>;? \r\n") {
				t.Fatalf("%q parsed as %q, which does not round-trip", s, a)
			}
		}
		if id, err := nodeFromHost(s); err == nil {
			back, err := nodeFromHost(overlayHost(id))
			if err != nil || back != id {
				t.Fatalf("%q: node %v does not round-trip", s, id)
			}
			if back, err := nodeFromAddr(overlayAddr(id)); err != nil || back != id {
				t.Fatalf("%q: overlay address does not round-trip", s)
			}
		}
	})
}
