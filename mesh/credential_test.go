package mesh

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
)

// issueMember issues a credential for name from the authority derived from authSeed.
func issueMember(t *testing.T, authSeed, memberSeed byte, name string) (*Authority, *Ed25519Signer) {
	t.Helper()
	auth := NewAuthority([32]byte{authSeed})
	s, err := auth.Issue([32]byte{memberSeed}, name)
	if err != nil {
		t.Fatalf("Issue(%q): %v", name, err)
	}
	return auth, s
}

// registrationBy returns a registration record that the signer may write, signed by it.
func registrationBy(s *Ed25519Signer) Record {
	id := s.Identity()
	r := Record{Resource: ResourceIDFor(id.Name), Kind: KindRegistration, Key: id.Node[:],
		Value: []byte("sip:101@10.0.0.1:5060"), Version: 7, Expiry: 1_000_000}
	r.Sign(s)
	return r
}

func TestIssueAndVerify(t *testing.T) {
	auth, s := issueMember(t, 1, 2, "sip:101@team")
	id := s.Identity()
	pub := ed25519.NewKeyFromSeed(append([]byte{2}, make([]byte, 31)...)).Public().(ed25519.PublicKey)
	if id.Node != NodeIDFromPublicKey(pub) || id.Name != "sip:101@team" || id.Authority {
		t.Fatalf("Identity() = %+v, want node of the member key, the name, not an authority", id)
	}
	v := &Ed25519Verifier{Trusted: []ed25519.PublicKey{auth.PublicKey()}}
	msg := []byte("hello")
	for i := range 2 { // the second time the credential is remembered; the result must not change
		got, err := v.Verify(s.Credential(), msg, s.Sign(msg))
		if err != nil {
			t.Fatalf("Verify #%d: %v", i, err)
		}
		if got != id {
			t.Fatalf("Verify #%d = %+v, want %+v", i, got, id)
		}
	}
	rec := registrationBy(s)
	got, err := VerifyRecord(v, &rec)
	if err != nil || got != id {
		t.Fatalf("VerifyRecord = %+v, %v; want %+v, nil", got, err, id)
	}
}

func TestIssueRefusesLongName(t *testing.T) {
	auth := NewAuthority([32]byte{1})
	if _, err := auth.Issue([32]byte{2}, strings.Repeat("x", 256)); err == nil {
		t.Fatal("Issue accepted a 256-byte name")
	}
	if _, err := auth.Issue([32]byte{2}, strings.Repeat("x", 255)); err != nil {
		t.Fatalf("Issue refused a 255-byte name: %v", err)
	}
}

func TestVerifyRefusesUntrustedAuthority(t *testing.T) {
	_, s := issueMember(t, 1, 2, "sip:101@team")
	other := NewAuthority([32]byte{9})
	for _, trusted := range [][]ed25519.PublicKey{nil, {other.PublicKey()}} {
		v := &Ed25519Verifier{Trusted: trusted}
		msg := []byte("m")
		if _, err := v.Verify(s.Credential(), msg, s.Sign(msg)); err == nil {
			t.Fatalf("credential accepted by a verifier trusting %d other authorities", len(trusted))
		}
	}
}

// A credential whose authority signature was forged by someone else: a member of a trusted team
// re-issues itself under another name, signing with its own key but naming the trusted authority.
func TestVerifyRefusesForgedAuthoritySignature(t *testing.T) {
	auth, _ := issueMember(t, 1, 2, "sip:101@team")
	forger := NewAuthority([32]byte{2}) // the member's own key, used as if it were an authority
	forged, err := forger.Issue([32]byte{2}, "sip:999@team")
	if err != nil {
		t.Fatal(err)
	}
	cred := forged.Credential()
	copy(cred[len(cred)-64-32:len(cred)-64], auth.PublicKey()) // claim the trusted authority
	v := &Ed25519Verifier{Trusted: []ed25519.PublicKey{auth.PublicKey()}}
	msg := []byte("m")
	if _, err := v.Verify(cred, msg, forged.Sign(msg)); err == nil {
		t.Fatal("credential with a forged authority signature accepted")
	}
}

func TestVerifyRefusesTamperedCredential(t *testing.T) {
	auth, s := issueMember(t, 1, 2, "sip:101@team")
	v := &Ed25519Verifier{Trusted: []ed25519.PublicKey{auth.PublicKey()}}
	msg := []byte("m")
	sig := s.Sign(msg)
	if _, err := v.Verify(s.Credential(), msg, sig); err != nil { // remembered as checked
		t.Fatal(err)
	}
	good := s.Credential()
	nameAt := 3 + 32 + 1
	tamper := map[string]func([]byte) []byte{
		"magic":         func(c []byte) []byte { c[0] = 'x'; return c },
		"public key":    func(c []byte) []byte { c[3] ^= 1; return c },
		"name":          func(c []byte) []byte { c[nameAt] ^= 1; return c },
		"authority sig": func(c []byte) []byte { c[len(c)-1] ^= 1; return c },
		"name length":   func(c []byte) []byte { c[nameAt-1]++; return c },
		"truncated":     func(c []byte) []byte { return c[:len(c)-1] },
		"trailing byte": func(c []byte) []byte { return append(c, 0) },
		"header only":   func(c []byte) []byte { return c[:3] },
		"empty":         func(c []byte) []byte { return nil },
		"renamed, resized": func(c []byte) []byte {
			out := append([]byte{}, c[:nameAt-1]...)
			out = append(out, byte(len("sip:1@team")))
			out = append(out, "sip:1@team"...)
			return append(out, c[nameAt+len("sip:101@team"):]...)
		},
	}
	for what, f := range tamper {
		cred := f(append([]byte{}, good...))
		if _, err := v.Verify(cred, msg, sig); err == nil {
			t.Errorf("credential with tampered %s accepted", what)
		}
	}
}

func TestVerifyBadSignature(t *testing.T) {
	auth, s := issueMember(t, 1, 2, "sip:101@team")
	_, other := issueMember(t, 1, 3, "sip:102@team")
	v := &Ed25519Verifier{Trusted: []ed25519.PublicKey{auth.PublicKey()}}
	msg := []byte("message")
	good := s.Sign(msg)
	flipped := append([]byte{}, good...)
	flipped[10] ^= 1
	tests := map[string]struct{ msg, sig []byte }{
		"flipped bit":        {msg, flipped},
		"other message":      {[]byte("messagE"), good},
		"other member's sig": {msg, other.Sign(msg)},
		"short":              {msg, good[:63]},
		"long":               {msg, append(append([]byte{}, good...), 0)},
		"empty":              {msg, nil},
	}
	for name, tc := range tests {
		if _, err := v.Verify(s.Credential(), tc.msg, tc.sig); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: err = %v, want ErrBadSignature", name, err)
		}
	}
}

func TestCredentialLayoutIsAsDocumented(t *testing.T) {
	auth, s := issueMember(t, 1, 2, "sip:101@team")
	if got, want := s.Credential(), credentialFor(auth, [32]byte{2}, "sip:101@team"); string(got) != string(want) {
		t.Fatalf("credential\n got %x\nwant %x", got, want)
	}
}

// credentialFor lays out a credential as the scheme's documentation describes it.
func credentialFor(a *Authority, seed [32]byte, name string) []byte {
	pub := ed25519.NewKeyFromSeed(seed[:]).Public().(ed25519.PublicKey)
	cred := append([]byte("mc1"), pub...)
	cred = append(cred, byte(len(name)))
	cred = append(cred, name...)
	cred = append(cred, a.PublicKey()...)
	body := append([]byte("meshcomm-cred-v1"), pub...)
	body = append(body, 0, byte(len(name)))
	body = append(body, name...)
	return append(cred, ed25519.Sign(a.key, body)...)
}
