package identity

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"

	"meshcomm/mesh"
)

// ALPN is the application protocol meshcomm peers negotiate.
const ALPN = "meshcomm/1"

// maxPeerCerts bounds the certificate chain a peer may present (its member certificate and CA).
const maxPeerCerts = 4

// Peer is what a verified TLS peer's certificate says about it.
type Peer struct {
	Node          mesh.NodeID
	AoR           string
	Team          string
	DisplayName   string
	Role          string
	CAFingerprint Fingerprint // the trusted team CA it chains to
}

// PeerMismatchError says a dialled peer proved a different node than the one expected.
type PeerMismatchError struct{ Want, Got mesh.NodeID }

func (e *PeerMismatchError) Error() string {
	return fmt.Sprintf("peer is node %s, expected %s", e.Got.Short(), e.Want.Short())
}

// ServerTLSConfig is the TLS configuration for accepting peers: TLS 1.3, ALPN "meshcomm/1",
// the node's certificate, and a client certificate required and checked by VerifyConnection
// against the live trust bundle (see ClientTLSConfig for why not the standard verification).
func (id *Identity) ServerTLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{id.tlsCert},
		ClientAuth:   tls.RequireAnyClientCert,
		NextProtos:   []string{ALPN},
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := id.verifier.checkPeer(cs.PeerCertificates, x509.ExtKeyUsageClientAuth)
			return err
		},
	}
}

// ClientTLSConfig is the TLS configuration for dialling a peer. When expect is not zero the
// peer must prove that node.
//
// InsecureSkipVerify turns off only Go's built-in verification, for two reasons: it checks the
// server's DNS name, which mesh peers reached by IP address and NodeID do not have; and it
// takes its roots from a pool fixed when the config is made, while trust here changes at run
// time (a team CA added, a laptop revoked). VerifyConnection does the full check instead, on
// every handshake including resumed ones: the chain to a CA trusted now, validity at the
// verifier's clock, the meshcomm profile, revocation, and the expected NodeID.
func (id *Identity) ClientTLSConfig(expect mesh.NodeID) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		Certificates:       []tls.Certificate{id.tlsCert},
		NextProtos:         []string{ALPN},
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			p, err := id.verifier.checkPeer(cs.PeerCertificates, x509.ExtKeyUsageServerAuth)
			if err != nil {
				return err
			}
			if !expect.IsZero() && p.Node != expect {
				return &PeerMismatchError{Want: expect, Got: p.Node}
			}
			return nil
		},
	}
}

// VerifyPeer checks a TLS peer's raw certificate chain (member certificate first, then
// optionally its CA) against the live trust bundle, and returns the peer's NodeID. It fits
// tls.Config.VerifyPeerCertificate. A peer whose CA is not trusted gets an *UntrustedError.
func (id *Identity) VerifyPeer(rawCerts [][]byte) (mesh.NodeID, error) {
	p, err := id.verifier.VerifyPeer(rawCerts)
	return p.Node, err
}

// VerifyPeer checks a TLS peer's raw certificate chain and says who the peer is.
func (v *Verifier) VerifyPeer(rawCerts [][]byte) (Peer, error) {
	if len(rawCerts) == 0 || len(rawCerts) > maxPeerCerts {
		return Peer{}, v.refuse(ReasonMalformed, fmt.Errorf("%w: peer presented %d certificates", ErrCredential, len(rawCerts)))
	}
	certs := make([]*x509.Certificate, 0, len(rawCerts))
	for _, raw := range rawCerts {
		if len(raw) > maxCredentialBytes {
			return Peer{}, v.refuse(ReasonMalformed, fmt.Errorf("%w: peer certificate of %d bytes", ErrCredential, len(raw)))
		}
		c, err := x509.ParseCertificate(raw)
		if err != nil {
			return Peer{}, v.refuse(ReasonMalformed, fmt.Errorf("%w: %v", ErrCredential, err))
		}
		certs = append(certs, c)
	}
	return v.checkPeer(certs, x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth)
}

// checkPeer verifies a peer's parsed chain. Certificates after the first are used only to
// name an untrusted peer's CA, never as intermediates: team CAs issue members directly.
func (v *Verifier) checkPeer(certs []*x509.Certificate, usage ...x509.ExtKeyUsage) (Peer, error) {
	if len(certs) == 0 || len(certs) > maxPeerCerts {
		return Peer{}, v.refuse(ReasonMalformed, fmt.Errorf("%w: peer presented %d certificates", ErrCredential, len(certs)))
	}
	leaf := certs[0]
	if leaf.IsCA {
		return Peer{}, v.refuse(ReasonProfile, fmt.Errorf("%w: a CA certificate cannot be a peer", ErrProfile))
	}
	vc, err := v.check(leaf, certs[1:], v.now(), usage...)
	if err != nil {
		var ue *UntrustedError
		if errors.As(err, &ue) && v.OnUntrusted != nil {
			v.OnUntrusted(ue)
		}
		return Peer{}, err
	}
	p := PeerOf(leaf)
	p.CAFingerprint = vc.anchor
	return p, nil
}

// PeerOf reads what a member certificate says (without verifying it: use it on the
// certificate of a connection whose handshake succeeded with these configs).
func PeerOf(c *x509.Certificate) Peer {
	p := Peer{Node: nodeOf(c), Team: leafTeam(c), DisplayName: c.Subject.CommonName, Role: roleOf(c)}
	if aor, _, team, err := certAoR(c); err == nil {
		p.AoR, p.Team = aor, team
	}
	return p
}
