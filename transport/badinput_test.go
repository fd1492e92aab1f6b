package transport

import (
	"crypto/tls"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"meshcomm/mesh"
)

// rawDial connects to n with quic-go directly, presenting cert, so a test can write whatever
// bytes it likes on streams. It does not check n's certificate.
func rawDial(t *testing.T, n *testNode, cert tls.Certificate) (*quic.Conn, error) {
	t.Helper()
	return rawDialALPN(t, n, cert, ALPN)
}

func rawDialALPN(t *testing.T, n *testNode, cert tls.Certificate, alpn string) (*quic.Conn, error) {
	t.Helper()
	tr := &quic.Transport{Conn: listenUDP(t)}
	t.Cleanup(func() { tr.Close() })
	tc := &tls.Config{InsecureSkipVerify: true, NextProtos: []string{alpn}, MinVersion: tls.VersionTLS13}
	if len(cert.Certificate) > 0 {
		tc.Certificates = []tls.Certificate{cert}
	}
	qc, err := tr.Dial(ctxFor(t), udpAddr(t, n.LocalAddr()), tc, &quic.Config{EnableDatagrams: true})
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { qc.CloseWithError(0, "") })
	return qc, nil
}

func TestBadStreamsAreRefusedCountedAndTheConnectionSurvives(t *testing.T) {
	ca := newCA(t, "team")
	trust := trusting(ca)
	n := startNode(t, func() Config {
		cfg := nodeConfig(t, ca.issue(t, leafOpts{}), trust)
		cfg.Timeouts.StreamIdle = 300 * time.Millisecond
		return cfg
	}())
	cert := ca.issue(t, leafOpts{})
	qc, err := rawDial(t, n, cert)
	if err != nil {
		t.Fatal(err)
	}
	rawID, _ := Ed25519PeerID(cert.Leaf)
	oversize := appendFrameHeader([]byte{kindFrames}, MaxFrameBytes+1)
	cases := []struct {
		name   string
		bytes  []byte
		finish bool // send FIN after the bytes
		reason string
	}{
		{"frame over MaxFrameBytes", oversize, false, ReasonFrameTooLarge},
		{"length 0xffffffff", []byte{kindFrames, 0xff, 0xff, 0xff, 0xff}, false, ReasonFrameTooLarge},
		{"empty frame", []byte{kindFrames, 0, 0, 0, 0}, true, ReasonEmptyFrame},
		{"stream ends inside a frame", []byte{kindFrames, 0, 0, 0, 5, 'a', 'b'}, true, ReasonTruncated},
		{"stream ends inside a header", []byte{kindFrames, 0, 0}, true, ReasonTruncated},
		{"empty stream", nil, true, ReasonTruncated},
		{"unknown kind", []byte{0xee, 1, 2, 3}, false, ReasonUnknownKind},
		{"reserved kind 0", []byte{0x00}, false, ReasonUnknownKind},
		{"retire marker with a body", []byte{kindRetire, 0, 'x'}, true, ReasonRetireGarbage},
		{"retire marker with a bad phase", []byte{kindRetire, 7}, true, ReasonRetireGarbage},
		{"probe over 255 bytes", append([]byte{kindProbe}, make([]byte, 300)...), true, ReasonProbeTooLong},
		{"stalled in the middle of a frame", []byte{kindFrames, 0, 0, 0, 9, 'a'}, false, ReasonStalled},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := n.Stats().Refused[c.reason]
			st, err := qc.OpenUniStream()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.Write(c.bytes); err != nil {
				t.Fatal(err)
			}
			if c.finish {
				st.Close()
			}
			if r := n.nextRefusal(t); r != c.reason {
				t.Fatalf("refused for %s, want %s", r, c.reason)
			}
			if got := n.Stats().Refused[c.reason]; got != before+1 {
				t.Fatalf("%s counted %d times, want %d", c.reason, got, before+1)
			}
		})
	}
	// A bidirectional stream of a kind nobody listens for.
	before := n.Stats().Refused[ReasonUnknownKind]
	bst, err := qc.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	bst.Write([]byte{0x7f})
	if r := n.nextRefusal(t); r != ReasonUnknownKind {
		t.Fatalf("refused for %s", r)
	}
	if _, err := bst.Read(make([]byte, 1)); err == nil {
		t.Fatal("a stream of an unknown kind was answered")
	}
	if got := n.Stats().Refused[ReasonUnknownKind]; got != before+1 {
		t.Fatalf("unknown bidi kind counted %d times, want %d", got, before+1)
	}

	// After all that, the same connection still carries a good frame, and the node has one peer.
	st, err := qc.OpenUniStream()
	if err != nil {
		t.Fatal(err)
	}
	st.Write(append(appendFrameHeader([]byte{kindFrames}, 4), "good"...))
	st.Close()
	if f := n.nextFrame(t); string(f.payload) != "good" || f.from.ID != rawID {
		t.Fatalf("after the bad streams: %q from %s", f.payload, f.from.ID.Short())
	}
	if s := n.Stats(); s.Peers != 1 || s.Connections != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestBadCertificatesAreRefusedAndCounted(t *testing.T) {
	ca, stranger := newCA(t, "team"), newCA(t, "stranger")
	trust := trusting(ca)
	n := newNode(t, ca, trust)
	now := time.Now()
	cases := []struct {
		name   string
		cert   tls.Certificate
		reason string
	}{
		{"untrusted CA", stranger.issue(t, leafOpts{}), ReasonUntrusted},
		{"expired", ca.issue(t, leafOpts{notBefore: now.Add(-48 * time.Hour), notAfter: now.Add(-time.Hour)}), ReasonExpired},
		{"not yet valid", ca.issue(t, leafOpts{notBefore: now.Add(time.Hour), notAfter: now.Add(48 * time.Hour)}), ReasonNotYetValid},
		{"ECDSA key", ca.issue(t, leafOpts{ecdsa: true}), ReasonKeyNotEd25519},
		{"no certificate", tls.Certificate{}, ReasonNoCertificate},
		{"this node's own identity", n.cfg.Certificate, ReasonSelf},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := n.Stats().Refused[c.reason]
			// A TLS 1.3 client may finish before the server checks its certificate, so the
			// dial may succeed and the refusal arrive as the connection closing.
			rawDial(t, n, c.cert)
			if r := n.nextRefusal(t); r != c.reason {
				t.Fatalf("refused for %s, want %s", r, c.reason)
			}
			if got := n.Stats().Refused[c.reason]; got != before+1 {
				t.Fatalf("%s counted %d times, want %d", c.reason, got, before+1)
			}
			if n.Stats().Peers != 0 {
				t.Fatal("the refused peer is listed")
			}
		})
	}
	before := n.Stats().Refused[ReasonALPN]
	if _, err := rawDialALPN(t, n, ca.issue(t, leafOpts{}), "h3"); err == nil {
		t.Fatal("a peer speaking h3 was accepted")
	}
	if r := n.nextRefusal(t); r != ReasonALPN {
		t.Fatalf("refused for %s", r)
	}
	if got := n.Stats().Refused[ReasonALPN]; got != before+1 {
		t.Fatalf("ALPN refusals %d, want %d", got, before+1)
	}
	// The node still works.
	b := newNode(t, ca, trust)
	if err := b.Send(ctxFor(t), n.contact(), []byte("still here")); err != nil {
		t.Fatal(err)
	}
	if f := n.nextFrame(t); string(f.payload) != "still here" {
		t.Fatalf("got %q", f.payload)
	}
}

func TestDiallerRefusesAPeerItDoesNotTrustOrDidNotExpect(t *testing.T) {
	ca, stranger := newCA(t, "team"), newCA(t, "stranger")
	a := newNode(t, ca, trusting(ca))
	s := newNode(t, stranger, trusting(ca, stranger))
	b := newNode(t, ca, trusting(ca))
	ctx := ctxFor(t)
	if err := a.Send(ctx, s.contact(), []byte("x")); err == nil {
		t.Fatalf("dial to an untrusted peer: %v", err)
	}
	// b's address, but another node's ID: b proves who it is and a refuses the swap.
	wrong := mesh.Contact{ID: s.LocalID(), Addr: b.LocalAddr().String()}
	if r := a.nextRefusal(t); r != ReasonUntrusted {
		t.Fatalf("refused for %s", r)
	}
	if err := a.Send(ctx, wrong, []byte("x")); err == nil {
		t.Fatal("a sent to the wrong node")
	}
	if r := a.nextRefusal(t); r != ReasonPeerMismatch {
		t.Fatalf("refused for %s", r)
	}
	st := a.Stats()
	if st.Refused[ReasonUntrusted] != 1 || st.Refused[ReasonPeerMismatch] != 1 || st.DialFailures != 2 || st.Peers != 0 {
		t.Fatalf("stats %+v", st)
	}
}
