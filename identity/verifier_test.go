package identity

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"meshcomm/mesh"
)

func TestMemberRecordPassesUserMatchForItsOwnAoROnly(t *testing.T) {
	_, caDir := newCADir(t, "fire")
	alice := enrolNode(t, caDir, "101")
	bob := enrolNode(t, caDir, "102")

	id, err := mesh.VerifyRecord(bob.Verifier(), registration(alice, alice.AoR()))
	if err != nil {
		t.Fatalf("alice's own registration refused: %v", err)
	}
	if id.Name != "sip:101@fire" || id.Node != alice.NodeID() || id.Authority {
		t.Errorf("verified identity %+v", id)
	}
	if _, err := mesh.VerifyRecord(bob.Verifier(), registration(alice, bob.AoR())); !errors.Is(err, mesh.ErrNotOwner) {
		t.Errorf("alice registering bob's AoR: %v, want ErrNotOwner", err)
	}
	if n := bob.Verifier().cache.len(); n != 1 {
		t.Errorf("verifier caches %d certificates after two records of one owner, want 1", n)
	}
	if len(alice.Signer().Credential()) > 600 {
		t.Errorf("credential is %d bytes; a bare ed25519 member certificate should be well under 600", len(alice.Signer().Credential()))
	}
}

func TestUntrustedTeamRefusedUntilTrusted(t *testing.T) {
	_, caDirA := newCADir(t, "alpha")
	caB, caDirB := newCADir(t, "bravo")
	a := enrolNode(t, caDirA, "1")
	b := enrolNode(t, caDirB, "2")
	rec := registration(b, b.AoR())

	_, err := mesh.VerifyRecord(a.Verifier(), rec)
	var ue *UntrustedError
	if !errors.As(err, &ue) || !errors.Is(err, ErrUntrusted) {
		t.Fatalf("record from an untrusted team: %v, want *UntrustedError", err)
	}
	if ue.Team != "bravo" || ue.AoR != b.AoR() || ue.Node != b.NodeID() {
		t.Errorf("untrusted error %+v", ue)
	}

	anchor, err := TrustAdd(a.DataDir(), writeCAFile(t, caB), t0)
	if err != nil {
		t.Fatal(err)
	}
	if anchor.Team != "bravo" || anchor.Fingerprint != caB.Fingerprint() || anchor.Own {
		t.Errorf("TrustAdd returned %+v", anchor)
	}
	reloaded, err := LoadWithClock(a.DataDir(), clockAt(t0))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mesh.VerifyRecord(reloaded.Verifier(), rec); err != nil {
		t.Errorf("record refused after TrustAdd: %v", err)
	}
	if got := reloaded.Verifier().Refusals()[ReasonUntrusted]; got != 0 {
		t.Errorf("fresh verifier counts %d untrusted refusals", got)
	}
	if got := a.Verifier().Refusals()[ReasonUntrusted]; got != 1 {
		t.Errorf("untrusted refusals counted %d, want 1", got)
	}

	// Removing the CA again refuses the (cached) certificate.
	if err := reloaded.RemoveTrust(caB.Fingerprint()); err != nil {
		t.Fatal(err)
	}
	if _, err := mesh.VerifyRecord(reloaded.Verifier(), rec); !errors.Is(err, ErrUntrusted) {
		t.Errorf("record after trust removal: %v, want ErrUntrusted", err)
	}
	if err := reloaded.RemoveTrust(reloaded.CAFingerprint()); err == nil {
		t.Error("own team CA removed")
	}
}

func TestTrustedCAMaySpeakOnlyForItsTeam(t *testing.T) {
	_, caDirA := newCADir(t, "alpha")
	impostor, _ := newCADir(t, "alpha") // another CA that calls itself alpha
	a := enrolNode(t, caDirA, "1")
	if _, err := TrustAdd(a.DataDir(), writeCAFile(t, impostor), t0); !errors.Is(err, ErrTeamTaken) {
		t.Errorf("trusting a second CA named alpha: %v, want ErrTeamTaken", err)
	}
	// Even a trusted CA of team bravo cannot vouch for an alpha address: forge one by hand.
	caB, _ := newCADir(t, "bravo")
	if _, err := a.TrustCA(caB.Cert); err != nil {
		t.Fatal(err)
	}
	forged := forgeMember(t, caB, "sip:1@alpha")
	v := a.Verifier()
	if _, err := v.Verify(forged.Cert.Raw, []byte("m"), signWith(forged, []byte("m"))); !errors.Is(err, ErrProfile) {
		t.Errorf("bravo CA vouching for sip:1@alpha: %v, want ErrProfile", err)
	}
}

func TestExpiredCertificateRefused(t *testing.T) {
	_, caDir := newCADir(t, "fire")
	alice := enrolNode(t, caDir, "101")
	bob := enrolNode(t, caDir, "102")
	rec := registration(alice, alice.AoR())
	now := t0
	bob.Verifier().Now = func() time.Time { return now }
	if _, err := mesh.VerifyRecord(bob.Verifier(), rec); err != nil {
		t.Fatalf("valid record refused: %v", err)
	}
	for _, at := range []time.Time{t0.Add(MemberValidity + time.Minute), t0.Add(-2 * ClockSkew)} {
		now = at // the certificate is cached by now: expiry must still be checked
		if _, err := mesh.VerifyRecord(bob.Verifier(), rec); !errors.Is(err, ErrCertExpired) {
			t.Errorf("record at %s: %v, want ErrCertExpired", at, err)
		}
	}
	fresh, err := NewVerifier(alice.CACertificate())
	if err != nil {
		t.Fatal(err)
	}
	fresh.Now = clockAt(t0.Add(MemberValidity + time.Minute))
	if _, err := mesh.VerifyRecord(fresh, rec); !errors.Is(err, ErrCertExpired) {
		t.Errorf("uncached expired certificate: %v, want ErrCertExpired", err)
	}
}

func TestTamperedCredentialOrSignatureRefused(t *testing.T) {
	_, caDir := newCADir(t, "fire")
	alice := enrolNode(t, caDir, "101")
	bob := enrolNode(t, caDir, "102")
	v := bob.Verifier()
	msg := []byte("hello")
	cred := alice.Signer().Credential()
	sig := alice.Signer().Sign(msg)
	if _, err := v.Verify(cred, msg, sig); err != nil {
		t.Fatalf("genuine signature refused: %v", err)
	}
	flip := func(b []byte, i int) []byte { c := bytes.Clone(b); c[i] ^= 1; return c }
	cases := map[string]struct{ cred, msg, sig []byte }{
		"signature bit":       {cred, msg, flip(sig, 10)},
		"message bit":         {cred, flip(msg, 0), sig},
		"short signature":     {cred, msg, sig[:63]},
		"other member's cred": {bob.Signer().Credential(), msg, sig},
		"truncated cred":      {cred[:len(cred)-1], msg, sig},
		"empty cred":          {nil, msg, sig},
		"oversized cred":      {make([]byte, mesh.MaxCredentialBytes+1), msg, sig},
	}
	// Every byte of the certificate's signature and public key is covered.
	pub := []byte(alice.Certificate().PublicKey.(ed25519.PublicKey))
	for _, i := range []int{len(cred) - 1, len(cred) - 40, bytes.Index(cred, pub)} {
		cases[fmt.Sprintf("certificate byte %d", i)] = struct{ cred, msg, sig []byte }{flip(cred, i), msg, sig}
	}
	for name, c := range cases {
		if _, err := v.Verify(c.cred, c.msg, c.sig); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestCASignerIsAuthority(t *testing.T) {
	ca, caDir := newCADir(t, "fire")
	bob := enrolNode(t, caDir, "102")
	s := ca.Signer()
	id, err := bob.Verifier().Verify(s.Credential(), []byte("m"), s.Sign([]byte("m")))
	if err != nil {
		t.Fatal(err)
	}
	if !id.Authority || id.Name != "" || id != s.Identity() {
		t.Errorf("CA identity %+v, signer says %+v", id, s.Identity())
	}
	other, _ := newCADir(t, "other")
	foreign := other.Signer()
	if _, err := bob.Verifier().Verify(foreign.Credential(), []byte("m"), foreign.Sign([]byte("m"))); !errors.Is(err, ErrUntrusted) {
		t.Errorf("untrusted CA's signature: %v, want ErrUntrusted", err)
	}
}

func TestCertCacheIsBoundedLRU(t *testing.T) {
	var c certCache
	for i := 0; i < MaxCachedCertificates+10; i++ {
		var fp Fingerprint
		fp[0], fp[1], fp[2] = byte(i), byte(i>>8), byte(i>>16)
		c.put(fp, &verified{})
		if i == 0 {
			continue
		}
		var first Fingerprint // keep entry 0 recently used
		if _, ok := c.get(first); !ok {
			t.Fatalf("recently used entry evicted after %d puts", i)
		}
	}
	if c.len() != MaxCachedCertificates {
		t.Errorf("cache holds %d, want %d", c.len(), MaxCachedCertificates)
	}
	var second Fingerprint
	second[0] = 1
	if _, ok := c.get(second); ok {
		t.Error("least recently used entry not evicted")
	}
}

// forgeMember has ca certify an arbitrary address, bypassing IssueMember's checks, as a
// misbehaving (but trusted) CA could.
func forgeMember(t *testing.T, ca *CA, aor string) *Member {
	t.Helper()
	u, err := url.Parse(aor)
	if err != nil {
		t.Fatal(err)
	}
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := newSerial()
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "Forged", Organization: []string{ca.Team()}},
		URIs:         []*url.URL{u},
		NotBefore:    t0.Add(-time.Hour),
		NotAfter:     t0.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &Member{Key: key, Cert: c, CA: ca.Cert}
}

func signWith(m *Member, msg []byte) []byte { return ed25519.Sign(m.Key, msg) }

func TestTrustAddRefusesKeysExpiredAndNonCAFiles(t *testing.T) {
	_, caDir := newCADir(t, "fire")
	node := enrolNode(t, caDir, "1")
	other, otherDir := newCADir(t, "water")
	member, err := other.IssueMember("2", "Two", "", t0)
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := EncodeBundle(member)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) string {
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for name, path := range map[string]string{
		"bundle":      write("bundle.pem", bundle),
		"CA key":      filepath.Join(otherDir, caKeyFile),
		"member only": write("member.pem", encodeCertPEM(member.Cert.Raw)),
		"garbage":     write("junk.pem", []byte("junk")),
	} {
		if _, err := TrustAdd(node.DataDir(), path, t0); err == nil {
			t.Errorf("TrustAdd(%s) succeeded", name)
		}
	}
	if _, err := TrustAdd(node.DataDir(), writeCAFile(t, other), t0.Add(CAValidity+time.Hour)); !errors.Is(err, ErrCertExpired) {
		t.Errorf("TrustAdd of an expired CA: %v, want ErrCertExpired", err)
	}
	// A member's node.pem (certificate then CA) names its CA well enough to trust it.
	a, err := TrustAdd(node.DataDir(), write("node.pem", encodeCertPEM(member.Cert.Raw, other.Cert.Raw)), t0)
	if err != nil || a.Fingerprint != other.Fingerprint() {
		t.Errorf("TrustAdd(node.pem) = %+v, %v", a, err)
	}
	if err := TrustRemove(node.DataDir(), other.Fingerprint()); err != nil {
		t.Fatal(err)
	}
	if anchors, err := TrustList(node.DataDir()); err != nil || len(anchors) != 1 || !anchors[0].Own {
		t.Errorf("after TrustRemove: %+v, %v", anchors, err)
	}
	if err := TrustRemove(node.DataDir(), node.CAFingerprint()); err == nil {
		t.Error("TrustRemove of the own team succeeded")
	}
}
