package transport

import (
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"time"

	"meshcomm/mesh"
)

// ALPN is the application protocol meshcomm peers negotiate; a peer offering anything else
// fails the handshake.
const ALPN = "meshcomm/1"

// Errors of peer verification (each wrapped with detail).
var (
	ErrNoCertificate = errors.New("transport: peer presented no certificate")
	ErrNotEd25519    = errors.New("transport: peer key is not ed25519")
	ErrExpired       = errors.New("transport: peer certificate is outside its validity period")
	ErrUntrusted     = errors.New("transport: peer certificate is not trusted")
	ErrSelf          = errors.New("transport: peer is this node")
	ErrALPN          = errors.New("transport: peer does not speak " + ALPN)
)

// PeerMismatchError says a dialled peer proved a different node than the contact named.
type PeerMismatchError struct{ Want, Got mesh.NodeID }

func (e *PeerMismatchError) Error() string {
	return fmt.Sprintf("transport: peer is node %s, expected %s", e.Got.Short(), e.Want.Short())
}

// Ed25519PeerID is the default Config.PeerID: mesh.NodeIDFromPublicKey over the leaf's raw
// 32-byte ed25519 public key.
func Ed25519PeerID(leaf *x509.Certificate) (mesh.NodeID, error) {
	pub, ok := leaf.PublicKey.(ed25519.PublicKey)
	if !ok {
		return mesh.NodeID{}, fmt.Errorf("%w: %T", ErrNotEd25519, leaf.PublicKey)
	}
	return mesh.NodeIDFromPublicKey(pub), nil
}

// RootsVerifier returns a Config.VerifyPeer that accepts a chain whose leaf verifies, at now(),
// against the pool roots() returns at the time of each handshake (certificates after the leaf
// are offered as intermediates). Any extended key usage is accepted: every node both dials and
// accepts. A nil now means time.Now.
func RootsVerifier(roots func() *x509.CertPool, now func() time.Time) func([]*x509.Certificate) error {
	if now == nil {
		now = time.Now
	}
	return func(chain []*x509.Certificate) error {
		if len(chain) == 0 {
			return ErrNoCertificate
		}
		inter := x509.NewCertPool()
		for _, c := range chain[1:] {
			inter.AddCert(c)
		}
		_, err := chain[0].Verify(x509.VerifyOptions{
			Roots:         roots(),
			Intermediates: inter,
			CurrentTime:   now(),
			KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
		})
		return err
	}
}

// serverTLS is the configuration for accepting: TLS 1.3, our ALPN, a client certificate
// required and verified by checkPeer (built-in verification would freeze the roots in a pool,
// and its failures could not be counted). GetConfigForClient refuses other ALPNs and learns
// the remote address for the log.
func (e *Endpoint) serverTLS() *tls.Config {
	base := e.baseTLS()
	base.ClientAuth = tls.RequestClientCert
	base.SessionTicketsDisabled = true
	base.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		remote := ""
		if hello.Conn != nil {
			remote = hello.Conn.RemoteAddr().String()
		}
		if !slices.Contains(hello.SupportedProtos, ALPN) {
			err := fmt.Errorf("%w: offered %q", ErrALPN, hello.SupportedProtos)
			e.refuse(ReasonALPN, err, slog.String("remote", remote))
			return nil, err
		}
		c := e.baseTLS()
		c.ClientAuth = tls.RequestClientCert // the absence of one is refused, and counted, below
		c.SessionTicketsDisabled = true
		c.VerifyConnection = func(cs tls.ConnectionState) error {
			_, err := e.checkPeer(cs.PeerCertificates, mesh.NodeID{}, remote)
			return err
		}
		return c, nil
	}
	return base
}

// clientTLS is the configuration for dialling addr, expecting the node expect (zero: any
// trusted node). InsecureSkipVerify turns off only Go's built-in verification, which would
// demand a DNS name mesh peers do not have and take its roots from a pool frozen at creation;
// VerifyConnection does the whole check instead, on every handshake.
func (e *Endpoint) clientTLS(expect mesh.NodeID, addr net.Addr) *tls.Config {
	c := e.baseTLS()
	c.InsecureSkipVerify = true
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		_, err := e.checkPeer(cs.PeerCertificates, expect, addr.String())
		return err
	}
	return c
}

func (e *Endpoint) baseTLS() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{e.cfg.Certificate},
		NextProtos:   []string{ALPN},
	}
}

// checkPeer verifies a peer's chain and derives its NodeID, counting and logging a refusal.
func (e *Endpoint) checkPeer(chain []*x509.Certificate, expect mesh.NodeID, remote string) (mesh.NodeID, error) {
	id, reason, err := e.verifyChain(chain, expect)
	if err != nil {
		e.refuse(reason, err, slog.String("remote", remote), slog.String("peer", id.Short()))
	}
	return id, err
}

func (e *Endpoint) verifyChain(chain []*x509.Certificate, expect mesh.NodeID) (mesh.NodeID, string, error) {
	if len(chain) == 0 {
		return mesh.NodeID{}, ReasonNoCertificate, ErrNoCertificate
	}
	leaf := chain[0]
	if _, ok := leaf.PublicKey.(ed25519.PublicKey); !ok {
		return mesh.NodeID{}, ReasonKeyNotEd25519, fmt.Errorf("%w: %T", ErrNotEd25519, leaf.PublicKey)
	}
	now := e.now()
	if now.After(leaf.NotAfter) {
		return mesh.NodeID{}, ReasonExpired, fmt.Errorf("%w: expired at %s", ErrExpired, leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if now.Before(leaf.NotBefore) {
		return mesh.NodeID{}, ReasonNotYetValid, fmt.Errorf("%w: valid from %s", ErrExpired, leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	if err := e.cfg.VerifyPeer(chain); err != nil {
		return mesh.NodeID{}, ReasonUntrusted, fmt.Errorf("%w: %v", ErrUntrusted, err)
	}
	id, err := e.peerID(leaf)
	if err != nil {
		return mesh.NodeID{}, ReasonBadPeerID, err
	}
	if id == e.local {
		return id, ReasonSelf, ErrSelf
	}
	if !expect.IsZero() && id != expect {
		return id, ReasonPeerMismatch, &PeerMismatchError{Want: expect, Got: id}
	}
	return id, "", nil
}

// peerID is the NodeID this endpoint derives from a leaf certificate.
func (e *Endpoint) peerID(leaf *x509.Certificate) (mesh.NodeID, error) {
	if e.cfg.PeerID != nil {
		return e.cfg.PeerID(leaf)
	}
	return Ed25519PeerID(leaf)
}

func (e *Endpoint) now() time.Time {
	if e.cfg.Now != nil {
		return e.cfg.Now()
	}
	return time.Now()
}
