package transport

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"log/slog"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"meshcomm/mesh"
)

// wait is the generous failure deadline of every wait in these tests.
const wait = 10 * time.Second

// testCA is a throwaway certificate authority with an ed25519 key.
type testCA struct {
	cert *x509.Certificate
	key  ed25519.PrivateKey
}

func newCA(t testing.TB, name string) *testCA {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name, Organization: []string{name}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key}
}

// leafOpts vary an issued leaf certificate.
type leafOpts struct {
	notBefore, notAfter time.Time // zero: an hour ago, a day ahead
	ecdsa               bool      // a P-256 key instead of ed25519
}

var serial = struct {
	sync.Mutex
	n int64
}{n: 100}

// issue makes a member certificate (leaf, then the CA) with a fresh key.
func (ca *testCA) issue(t testing.TB, o leafOpts) tls.Certificate {
	t.Helper()
	var pub crypto.PublicKey
	var key crypto.Signer
	if o.ecdsa {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		pub, key = k.Public(), k
	} else {
		p, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		pub, key = p, k
	}
	now := time.Now()
	if o.notBefore.IsZero() {
		o.notBefore = now.Add(-time.Hour)
	}
	if o.notAfter.IsZero() {
		o.notAfter = now.Add(24 * time.Hour)
	}
	serial.Lock()
	serial.n++
	sn := serial.n
	serial.Unlock()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(sn),
		Subject:      pkix.Name{CommonName: "member", Organization: []string{ca.cert.Subject.CommonName}},
		NotBefore:    o.notBefore,
		NotAfter:     o.notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der, ca.cert.Raw}, PrivateKey: key, Leaf: leaf}
}

// trustStore is a trust bundle that can change while endpoints run.
type trustStore struct {
	mu   sync.Mutex
	pool *x509.CertPool
}

func trusting(cas ...*testCA) *trustStore {
	s := &trustStore{pool: x509.NewCertPool()}
	for _, ca := range cas {
		s.add(ca)
	}
	return s
}

func (s *trustStore) add(ca *testCA) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pool.Clone()
	p.AddCert(ca.cert)
	s.pool = p
}

func (s *trustStore) roots() *x509.CertPool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pool
}

type received struct {
	from    mesh.Contact
	payload []byte
}

// testNode is an Endpoint whose handlers feed channels.
type testNode struct {
	*Endpoint
	frames    chan received
	datagrams chan received
	events    chan PeerEvent
	refusals  chan string // the reason of every refusal the endpoint logs
}

// nodeConfig is a configuration for a test node certified by ca and trusting trust.
func nodeConfig(t testing.TB, cert tls.Certificate, trust *trustStore) Config {
	return Config{
		Listen:      "127.0.0.1:0",
		Certificate: cert,
		VerifyPeer:  RootsVerifier(trust.roots, nil),
	}
}

func startNode(t testing.TB, cfg Config) *testNode {
	t.Helper()
	n := &testNode{
		frames:    make(chan received, 4096),
		datagrams: make(chan received, 1024),
		events:    make(chan PeerEvent, 1024),
		refusals:  make(chan string, 1024),
	}
	cfg.Logger = slog.New(&refusalRecorder{out: n.refusals})
	cfg.Handlers = Handlers{
		OnFrame:    func(from mesh.Contact, p []byte) { n.frames <- received{from, p} },
		OnDatagram: func(from mesh.Contact, p []byte) { n.datagrams <- received{from, p} },
		OnPeer:     func(ev PeerEvent) { n.events <- ev },
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.Endpoint = e
	t.Cleanup(func() { e.Close() })
	return n
}

// newNode starts a node on 127.0.0.1 with a fresh certificate from ca, trusting trust.
func newNode(t testing.TB, ca *testCA, trust *trustStore) *testNode {
	t.Helper()
	return startNode(t, nodeConfig(t, ca.issue(t, leafOpts{}), trust))
}

func (n *testNode) contact() mesh.Contact {
	return mesh.Contact{ID: n.LocalID(), Addr: n.LocalAddr().String()}
}

func (n *testNode) nextFrame(t testing.TB) received {
	t.Helper()
	select {
	case f := <-n.frames:
		return f
	case <-time.After(wait):
		t.Fatal("no frame arrived")
	}
	return received{}
}

// refusedByPeer is what refusalRecorder passes on when a peer refuses this node.
const refusedByPeer = "(refused by the peer)"

// refusalRecorder is a slog.Handler that passes on the reason of each "refused" record.
type refusalRecorder struct{ out chan string }

func (r *refusalRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *refusalRecorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *refusalRecorder) WithGroup(string) slog.Handler            { return r }
func (r *refusalRecorder) Handle(_ context.Context, rec slog.Record) error {
	if rec.Message == "transport: refused by peer" {
		select {
		case r.out <- refusedByPeer:
		default:
		}
		return nil
	}
	if rec.Message != "transport: refused" {
		return nil
	}
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == "reason" {
			select {
			case r.out <- a.Value.String():
			default:
			}
			return false
		}
		return true
	})
	return nil
}

// nextRefusal waits for the endpoint to log a refusal and returns its reason.
func (n *testNode) nextRefusal(t testing.TB) string {
	t.Helper()
	select {
	case r := <-n.refusals:
		return r
	case <-time.After(wait):
		t.Fatal("nothing was refused")
	}
	return ""
}

func (n *testNode) nextEvent(t testing.TB) PeerEvent {
	t.Helper()
	select {
	case ev := <-n.events:
		return ev
	case <-time.After(wait):
		t.Fatal("no peer event arrived")
	}
	return PeerEvent{}
}

func ctxFor(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

// udpAddr resolves a node's listening address for a raw QUIC dial.
func udpAddr(t testing.TB, a net.Addr) *net.UDPAddr {
	t.Helper()
	u, err := net.ResolveUDPAddr("udp", a.String())
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func listenUDP(t testing.TB) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
