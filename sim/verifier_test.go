package sim

import (
	"crypto/ed25519"
	"errors"
	"testing"

	"meshcomm/mesh"
)

// countingVerifier counts the checks that reach it.
type countingVerifier struct {
	inner mesh.Verifier
	calls int
}

func (c *countingVerifier) Verify(cred, msg, sig []byte) (mesh.Identity, error) {
	c.calls++
	return c.inner.Verify(cred, msg, sig)
}

func TestSharedVerifierChecksEachSignatureOnceAndNeverRemembersARefusal(t *testing.T) {
	auth := mesh.NewAuthority(derive(1, "authority", 0))
	signer, err := auth.Issue(derive(1, "node", 0), "sip:100@team-a")
	if err != nil {
		t.Fatal(err)
	}
	inner := &countingVerifier{inner: &mesh.Ed25519Verifier{Trusted: []ed25519.PublicKey{auth.PublicKey()}}}
	v := newSharedVerifier(inner)
	msg := []byte("a record's signed bytes")
	sig := signer.Sign(msg)
	for range 3 {
		id, err := v.Verify(signer.Credential(), msg, sig)
		if err != nil || id.Node != signer.Identity().Node {
			t.Fatalf("Verify = %v, %v", id, err)
		}
	}
	if inner.calls != 1 {
		t.Fatalf("a valid signature was checked %d times, want once", inner.calls)
	}
	// The same signature over other bytes is refused, every time it is presented.
	for range 2 {
		if _, err := v.Verify(signer.Credential(), []byte("other bytes"), sig); !errors.Is(err, mesh.ErrBadSignature) {
			t.Fatalf("a signature over other bytes: err = %v, want ErrBadSignature", err)
		}
	}
	if inner.calls != 3 {
		t.Fatalf("refusals reached the real verifier %d times, want 2", inner.calls-1)
	}
	// A credential from an untrusted authority is refused even with a remembered signature.
	other, _ := mesh.NewAuthority(derive(2, "authority", 0)).Issue(derive(1, "node", 0), "sip:100@team-a")
	if _, err := v.Verify(other.Credential(), msg, sig); err == nil {
		t.Fatal("an untrusted credential was accepted on a remembered signature")
	}
}
