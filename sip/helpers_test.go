package sip

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"meshcomm/mesh"
	"meshcomm/transport"
	"meshcomm/transport/memnet"
)

// These helpers build nodes of a small mesh: real transport Endpoints (QUIC, mutual TLS)
// over the in-memory network, each with a user agent. Tests run inside testing/synctest
// bubbles, so sipgo's timers, ring timeouts and link delays all run in virtual time.

// wait is the generous failure deadline of every wait (virtual time inside a bubble).
const wait = 60 * time.Second

// testMesh is a set of nodes sharing an in-memory network, a team CA and a registry.
type testMesh struct {
	t       testing.TB
	net     *memnet.Network
	caCert  *x509.Certificate
	caKey   ed25519.PrivateKey
	roots   *x509.CertPool
	auth    *mesh.Authority
	reg     *registry
	hosts   int
	verify  *lockedVerifier
	logSink *refusalLog
}

func newMesh(t testing.TB) *testMesh {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "team"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	var seed [32]byte
	rand.Read(seed[:])
	auth := mesh.NewAuthority(seed)
	return &testMesh{
		t: t, net: memnet.New(1), caCert: ca, caKey: key, roots: roots, auth: auth,
		reg:     &registry{bindings: map[string][]Binding{}},
		verify:  &lockedVerifier{v: &mesh.Ed25519Verifier{Trusted: []ed25519.PublicKey{auth.PublicKey()}}},
		logSink: &refusalLog{},
	}
}

// certFor certifies an ed25519 key (the same key signs the node's records, so its TLS NodeID
// and its record identity agree).
func (m *testMesh) certFor(key ed25519.PrivateKey) tls.Certificate {
	m.t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "member"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, m.caCert, key.Public(), m.caKey)
	if err != nil {
		m.t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der, m.caCert.Raw}, PrivateKey: key, Leaf: leaf}
}

// testNode is one laptop: endpoint, user agent, fake media, what it received.
type testNode struct {
	ep       *transport.Endpoint
	ua       *UA
	aor      string
	signer   *mesh.Ed25519Signer
	media    *fakeMedia
	incoming chan *Call
	messages chan Message
	stored   chan *mesh.Record
}

func (n *testNode) id() mesh.NodeID { return n.ep.LocalID() }

func (n *testNode) contact() mesh.Contact {
	return mesh.Contact{ID: n.ep.LocalID(), Addr: n.ep.LocalAddr().String()}
}

// node starts a node whose user is ext ("sip:EXT@team"), registered in the mesh's registry.
// mod may change its configuration before it starts.
func (m *testMesh) node(ext string, mod func(*Config)) *testNode {
	m.t.Helper()
	m.hosts++
	var seed [32]byte
	rand.Read(seed[:])
	key := ed25519.NewKeyFromSeed(seed[:])
	aor := "sip:" + ext + "@team"
	signer, err := m.auth.Issue(seed, aor)
	if err != nil {
		m.t.Fatal(err)
	}
	pc, err := m.net.Listen(fmt.Sprintf("10.0.0.%d:7070", m.hosts))
	if err != nil {
		m.t.Fatal(err)
	}
	ep, err := transport.New(transport.Config{
		PacketConn:  pc,
		Certificate: m.certFor(key),
		VerifyPeer:  transport.RootsVerifier(func() *x509.CertPool { return m.roots }, nil),
		Logger:      slog.New(slog.DiscardHandler),
	})
	if err != nil {
		m.t.Fatal(err)
	}
	ln, err := ep.Listener(transport.KindSIP)
	if err != nil {
		m.t.Fatal(err)
	}
	n := &testNode{
		ep: ep, aor: aor, signer: signer, media: newFakeMedia(),
		incoming: make(chan *Call, 16), messages: make(chan Message, 64), stored: make(chan *mesh.Record, 64),
	}
	cfg := Config{
		AoRs:       []string{aor},
		LocalID:    ep.LocalID(),
		Dialer:     ep,
		Listener:   ln,
		StreamKind: transport.KindSIP,
		Locator:    m.reg,
		Media:      n.media,
		Policy:     Policy{Mode: AnswerAuto, AutoAnswerAfter: time.Second},
		OnIncoming: func(c *Call) { n.incoming <- c },
		OnMessage:  func(msg Message) error { n.messages <- msg; return nil },
		Signer:     signer,
		Registrar: &RegistrarConfig{Verifier: m.verify, Store: func(_ context.Context, r *mesh.Record) error {
			n.stored <- r
			return nil
		}},
		Logger: slog.New(m.logSink),
	}
	if os.Getenv("SIP_TEST_LOG") != "" {
		cfg.Logger = slog.New(teeHandler{m.logSink, slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})}.withPrefix(ext))
	}
	if mod != nil {
		mod(&cfg)
	}
	ua, err := New(cfg)
	if err != nil {
		m.t.Fatal(err)
	}
	n.ua = ua
	m.reg.add(aor, Binding{AoR: aor, NodeID: ep.LocalID(), Contact: n.contact()})
	m.t.Cleanup(func() {
		ua.Close()
		ep.Close()
		pc.Close()
	})
	return n
}

// registry is a Locator over a shared table (the overlay in miniature).
type registry struct {
	mu       sync.Mutex
	bindings map[string][]Binding
}

func (r *registry) add(aor string, b Binding) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bindings[aor] = append(r.bindings[aor], b)
}

func (r *registry) set(aor string, bs ...Binding) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bindings[aor] = bs
}

func (r *registry) Locate(_ context.Context, aor string) ([]Binding, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	bs := r.bindings[aor]
	if len(bs) == 0 {
		return nil, ErrNotFound
	}
	return append([]Binding(nil), bs...), nil
}

// lockedVerifier makes mesh's ed25519 verifier safe for the registrar's goroutines.
type lockedVerifier struct {
	mu sync.Mutex
	v  *mesh.Ed25519Verifier
}

func (l *lockedVerifier) Verify(cred, msg, sig []byte) (mesh.Identity, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.v.Verify(cred, msg, sig)
}

// fakeMedia records the sessions the user agent makes.
type fakeMedia struct {
	mu       sync.Mutex
	sessions map[string]*fakeSession
}

type fakeSession struct {
	mu      sync.Mutex
	callID  string
	peer    mesh.NodeID
	remote  []byte
	started bool
	closes  int
}

func newFakeMedia() *fakeMedia { return &fakeMedia{sessions: map[string]*fakeSession{}} }

func (f *fakeMedia) NewSession(callID string) (MediaSession, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := &fakeSession{callID: callID}
	f.sessions[callID] = s
	return s, nil
}

func (f *fakeMedia) session(callID string) *fakeSession {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sessions[callID]
}

func (s *fakeSession) LocalSDP() []byte {
	return []byte("v=0\r\no=- 1 1 IN IP6 ::1\r\ns=" + s.callID + "\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n")
}

func (s *fakeSession) Start(peer mesh.NodeID, remote []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.peer, s.remote, s.started = peer, remote, true
	return nil
}

func (s *fakeSession) Close() MediaStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closes++
	return MediaStats{PacketsSent: 10}
}

func (s *fakeSession) state() (started bool, closes int, peer mesh.NodeID, remote string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.started, s.closes, s.peer, string(s.remote)
}

// refusalLog is a slog.Handler that keeps the reasons of "sip: refused" records.
type refusalLog struct {
	mu      sync.Mutex
	reasons []string
}

func (r *refusalLog) Enabled(context.Context, slog.Level) bool { return true }
func (r *refusalLog) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *refusalLog) WithGroup(string) slog.Handler            { return r }
func (r *refusalLog) Handle(_ context.Context, rec slog.Record) error {
	if rec.Message != "sip: refused" {
		return nil
	}
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == "reason" {
			r.mu.Lock()
			r.reasons = append(r.reasons, a.Value.String())
			r.mu.Unlock()
		}
		return true
	})
	return nil
}

func (r *refusalLog) logged(reason string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, x := range r.reasons {
		if x == reason {
			return true
		}
	}
	return false
}

func ctxFor(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

// nextCall waits for an incoming call.
func (n *testNode) nextCall(t *testing.T) *Call {
	t.Helper()
	select {
	case c := <-n.incoming:
		return c
	case <-time.After(wait):
		t.Fatal("no incoming call")
	}
	return nil
}

// waitState waits for a call to reach a state and fails the test if it does not, or if it
// reaches a later one.
func waitState(t *testing.T, c *Call, s State) CallInfo {
	t.Helper()
	got, err := c.Wait(ctxFor(t), s)
	if err != nil || got != s {
		t.Fatalf("call %s: waited for %v, got %v (%v); info %+v", c.ID(), s, got, err, c.Info())
	}
	return c.Info()
}

// waitEnded waits for a call to end.
func waitEnded(t *testing.T, c *Call) CallInfo {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(wait):
		t.Fatalf("call %s did not end: %+v", c.ID(), c.Info())
	}
	return c.Info()
}

// rawStream opens a SIP stream from n to peer that a test writes raw bytes on.
func (n *testNode) rawStream(t *testing.T, peer *testNode) net.Conn {
	t.Helper()
	c, err := n.ep.OpenStream(ctxFor(t), peer.contact(), transport.KindSIP)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readResponse reads one SIP response's start line and headers from a raw stream.
func readResponse(t *testing.T, c net.Conn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(wait))
	var b []byte
	buf := make([]byte, 4096)
	for !strings.Contains(string(b), "\r\n\r\n") {
		n, err := c.Read(buf)
		b = append(b, buf[:n]...)
		if err != nil && !strings.Contains(string(b), "\r\n\r\n") {
			t.Fatalf("reading a response: %v (got %q)", err, b)
		}
	}
	return string(b)
}

// teeHandler sends records to the refusal log and to a second handler (SIP_TEST_LOG=1).
type teeHandler struct {
	a *refusalLog
	b slog.Handler
}

func (h teeHandler) withPrefix(node string) slog.Handler {
	return teeHandler{h.a, h.b.WithAttrs([]slog.Attr{slog.String("node", node)})}
}
func (h teeHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h teeHandler) WithAttrs(as []slog.Attr) slog.Handler    { return teeHandler{h.a, h.b.WithAttrs(as)} }
func (h teeHandler) WithGroup(g string) slog.Handler          { return teeHandler{h.a, h.b.WithGroup(g)} }
func (h teeHandler) Handle(ctx context.Context, r slog.Record) error {
	h.a.Handle(ctx, r)
	return h.b.Handle(ctx, r)
}
