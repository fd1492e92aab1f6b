package identity

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"meshcomm/mesh"
)

type handshakeResult struct {
	clientErr, serverErr error
	client, server       tls.ConnectionState
}

// handshake runs one TLS handshake over loopback TCP between a client and a server config,
// each side closing its connection on failure so the other side's handshake ends too.
func handshake(t *testing.T, client, server *tls.Config) handshakeResult {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // failure deadline only
	defer cancel()
	type side struct {
		err error
		cs  tls.ConnectionState
	}
	serverDone := make(chan side, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			serverDone <- side{err: err}
			return
		}
		defer c.Close()
		s := tls.Server(c, server)
		err = s.HandshakeContext(ctx)
		if err == nil {
			// Read until the client closes, so a client-side refusal arrives as an alert.
			_, err = s.Read(make([]byte, 1))
			if errors.Is(err, io.EOF) {
				err = nil
			}
		}
		serverDone <- side{err: err, cs: s.ConnectionState()}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	cl := tls.Client(c, client)
	var res handshakeResult
	res.clientErr = cl.HandshakeContext(ctx)
	res.client = cl.ConnectionState()
	if res.clientErr == nil {
		cl.Close() // server then reads EOF, or has already refused us
	} else {
		c.Close()
	}
	select {
	case s := <-serverDone:
		res.serverErr, res.server = s.err, s.cs
	case <-ctx.Done():
		t.Fatal("server handshake did not finish")
	}
	return res
}

func TestTLSHandshakeBetweenTrustedPeers(t *testing.T) {
	_, caDir := newCADir(t, "fire")
	a := enrolNode(t, caDir, "1")
	b := enrolNode(t, caDir, "2")
	r := handshake(t, a.ClientTLSConfig(b.NodeID()), b.ServerTLSConfig())
	if r.clientErr != nil || r.serverErr != nil {
		t.Fatalf("handshake: client %v, server %v", r.clientErr, r.serverErr)
	}
	if r.client.NegotiatedProtocol != ALPN || r.client.Version != tls.VersionTLS13 {
		t.Errorf("negotiated %q version %x", r.client.NegotiatedProtocol, r.client.Version)
	}
	if len(r.server.PeerCertificates) == 0 {
		t.Fatal("server saw no client certificate")
	}
	p := PeerOf(r.server.PeerCertificates[0])
	if p.Node != a.NodeID() || p.AoR != a.AoR() || p.Role != "medic" || p.Team != "fire" {
		t.Errorf("server sees peer %+v", p)
	}
	node, err := b.VerifyPeer([][]byte{a.Certificate().Raw, a.CACertificate().Raw})
	if err != nil || node != a.NodeID() {
		t.Errorf("VerifyPeer = %s, %v", node, err)
	}
}

func TestTLSHandshakeRefusesUntrustedTeam(t *testing.T) {
	_, caDirA := newCADir(t, "alpha")
	caB, caDirB := newCADir(t, "bravo")
	a := enrolNode(t, caDirA, "1")
	b := enrolNode(t, caDirB, "2")
	var told []*UntrustedError
	a.Verifier().OnUntrusted = func(e *UntrustedError) { told = append(told, e) }

	// a dials b: a refuses b's certificate.
	r := handshake(t, a.ClientTLSConfig(mesh.NodeID{}), b.ServerTLSConfig())
	var ue *UntrustedError
	if !errors.As(r.clientErr, &ue) {
		t.Fatalf("client error %v, want *UntrustedError", r.clientErr)
	}
	if ue.Team != "bravo" || ue.CAFingerprint != caB.Fingerprint() || ue.Node != b.NodeID() {
		t.Errorf("untrusted error %+v, want team bravo with its CA fingerprint", ue)
	}
	if r.serverErr == nil {
		t.Error("server completed a handshake the client refused")
	}
	if len(told) != 1 || told[0].CAFingerprint != caB.Fingerprint() {
		t.Errorf("OnUntrusted told %v", told)
	}
	seen := a.Verifier().SeenUntrusted()
	if len(seen) != 1 || seen[0].Fingerprint != caB.Fingerprint() || seen[0].Team != "bravo" {
		t.Fatalf("seen untrusted CAs %+v", seen)
	}

	// b dials a, with b trusting a but a not trusting b: a, the server, refuses.
	if _, err := b.TrustCA(a.CACertificate()); err != nil {
		t.Fatal(err)
	}
	r = handshake(t, b.ClientTLSConfig(a.NodeID()), a.ServerTLSConfig())
	if !errors.As(r.serverErr, &ue) || ue.Team != "bravo" {
		t.Fatalf("server error %v, want *UntrustedError for bravo", r.serverErr)
	}

	// a's user accepts the team it saw; now both directions work.
	if _, err := a.TrustSeen(seen[0].Fingerprint); err != nil {
		t.Fatal(err)
	}
	if len(a.Verifier().SeenUntrusted()) != 0 {
		t.Error("trusted CA still listed as seen-untrusted")
	}
	for _, pair := range [][2]*Identity{{a, b}, {b, a}} {
		r = handshake(t, pair[0].ClientTLSConfig(pair[1].NodeID()), pair[1].ServerTLSConfig())
		if r.clientErr != nil || r.serverErr != nil {
			t.Errorf("%s -> %s after trust: client %v, server %v", pair[0].AoR(), pair[1].AoR(), r.clientErr, r.serverErr)
		}
	}
	// The trust survives a restart.
	if anchors, err := TrustList(a.DataDir()); err != nil || len(anchors) != 2 {
		t.Errorf("trust list after TrustSeen: %+v, %v", anchors, err)
	}
}

func TestTLSHandshakeRefusesRevokedExpiredAndWrongPeer(t *testing.T) {
	ca, caDir := newCADir(t, "fire")
	a := enrolNode(t, caDir, "1")
	b := enrolNode(t, caDir, "2")
	c := enrolNode(t, caDir, "3")

	r := handshake(t, a.ClientTLSConfig(c.NodeID()), b.ServerTLSConfig())
	var mismatch *PeerMismatchError
	if !errors.As(r.clientErr, &mismatch) || mismatch.Got != b.NodeID() {
		t.Errorf("dialling c but reaching b: %v, want *PeerMismatchError", r.clientErr)
	}

	rev, err := ca.RevokeCert(b.Certificate(), "stolen", t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Verifier().AddRevocation(rev); err != nil {
		t.Fatal(err)
	}
	r = handshake(t, a.ClientTLSConfig(mesh.NodeID{}), b.ServerTLSConfig())
	if !errors.Is(r.clientErr, mesh.ErrRevoked) {
		t.Errorf("revoked server: %v, want ErrRevoked", r.clientErr)
	}

	c.Verifier().Now = clockAt(t0.Add(MemberValidity + time.Hour))
	r = handshake(t, a.ClientTLSConfig(mesh.NodeID{}), c.ServerTLSConfig())
	if !errors.Is(r.serverErr, ErrCertExpired) {
		t.Errorf("server whose clock is past the client's expiry: %v, want ErrCertExpired", r.serverErr)
	}
}

func TestVerifyPeerRefusesMalformedChains(t *testing.T) {
	ca, caDir := newCADir(t, "fire")
	a := enrolNode(t, caDir, "1")
	cases := map[string][][]byte{
		"none":       nil,
		"garbage":    {[]byte("junk")},
		"CA as peer": {ca.Cert.Raw},
		"too many":   {a.Certificate().Raw, ca.Cert.Raw, ca.Cert.Raw, ca.Cert.Raw, ca.Cert.Raw},
		"oversized":  {make([]byte, mesh.MaxCredentialBytes+1)},
	}
	for name, chain := range cases {
		if _, err := a.VerifyPeer(chain); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
