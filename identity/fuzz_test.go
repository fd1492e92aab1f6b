package identity

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"io"
	"log/slog"
	"testing"

	"meshcomm/mesh"
)

// fuzzTeam is a CA and one member for seeding fuzz targets.
func fuzzTeam(f *testing.F) (*CA, *Member) {
	f.Helper()
	ca, err := NewCA("fuzz", t0)
	if err != nil {
		f.Fatal(err)
	}
	m, err := ca.IssueMember("1", "One", "", t0)
	if err != nil {
		f.Fatal(err)
	}
	return ca, m
}

var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

func FuzzVerifierCredential(f *testing.F) {
	ca, m := fuzzTeam(f)
	msg := []byte("record bytes")
	f.Add(m.Cert.Raw, msg, ed25519.Sign(m.Key, msg))
	f.Add(ca.Cert.Raw, msg, ca.Signer().Sign(msg))
	f.Add([]byte{0x30, 0x82, 0xff, 0xff}, msg, make([]byte, 64))
	f.Add([]byte{}, []byte{}, []byte{})
	v, err := NewVerifier(ca.Cert)
	if err != nil {
		f.Fatal(err)
	}
	v.Now = clockAt(t0)
	v.Logger = quietLogger
	f.Fuzz(func(t *testing.T, cred, msg, sig []byte) {
		id, err := v.Verify(cred, msg, sig)
		if err != nil {
			return
		}
		// Whatever is accepted is a parseable certificate whose key made the signature and
		// whose NodeID is derived from that key.
		c, perr := x509.ParseCertificate(cred)
		if perr != nil {
			t.Fatalf("accepted an unparseable credential: %v", perr)
		}
		pub, ok := c.PublicKey.(ed25519.PublicKey)
		if !ok || !ed25519.Verify(pub, msg, sig) || id.Node != mesh.NodeIDFromPublicKey(pub) {
			t.Fatalf("accepted credential does not back the identity %+v", id)
		}
		if id.Authority != bytes.Equal(cred, ca.Cert.Raw) {
			t.Fatalf("authority %v, but only the CA certificate itself is an authority", id.Authority)
		}
	})
}

func FuzzParseBundle(f *testing.F) {
	_, m := fuzzTeam(f)
	good, err := EncodeBundle(m)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(encodeCertPEM(m.Cert.Raw, m.CA.Raw))
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ParseBundle(data)
		if err != nil {
			return
		}
		again, err := EncodeBundle(got)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseBundle(again)
		if err != nil {
			t.Fatalf("re-encoded bundle refused: %v", err)
		}
		if !sameMember(got, back) {
			t.Fatal("bundle does not round-trip")
		}
	})
}

func FuzzDecodeRevocationValue(f *testing.F) {
	_, m := fuzzTeam(f)
	good, err := EncodeRevocationValue(&Revocation{Cert: m.Cert, RevokedAt: t0, Reason: "lost"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:20])
	f.Add([]byte(revocationValueMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeRevocationValue(data)
		if err != nil {
			return
		}
		again, err := EncodeRevocationValue(r)
		if err != nil {
			t.Fatalf("decoded revocation does not encode: %v", err)
		}
		if !bytes.Equal(again, data) {
			t.Fatal("revocation value does not round-trip")
		}
	})
}

func FuzzDecodeRevocationFile(f *testing.F) {
	ca, m := fuzzTeam(f)
	rec, err := ca.RevokeCert(m.Cert, "lost", t0)
	if err != nil {
		f.Fatal(err)
	}
	good, err := EncodeRevocationFile(rec)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)-40])
	f.Add([]byte("-----BEGIN MESHCOMM REVOCATION-----\nbWNyZWMx\n-----END MESHCOMM REVOCATION-----\n"))
	v, err := NewVerifier(ca.Cert)
	if err != nil {
		f.Fatal(err)
	}
	v.Now = clockAt(t0)
	v.Logger = quietLogger
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeRevocationFile(data)
		if err != nil {
			return
		}
		again, err := EncodeRevocationFile(r)
		if err != nil {
			t.Fatalf("decoded record does not encode: %v", err)
		}
		back, err := DecodeRevocationFile(again)
		if err != nil || !bytes.Equal(back.SignedBytes(), r.SignedBytes()) || !bytes.Equal(back.Signature, r.Signature) {
			t.Fatalf("revocation file does not round-trip: %v", err)
		}
		_ = v.AddRevocation(r) // must not panic; anything but the genuine record is refused
		if len(v.Revocations()) > 1 {
			t.Fatal("more than the one genuine revocation accepted")
		}
	})
}

func FuzzParseFingerprint(f *testing.F) {
	fp := FingerprintOf([]byte("x"))
	f.Add(fp.String())
	f.Add("SHA256:" + fp.Grouped())
	f.Add(fp.Short())
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseFingerprint(s)
		if err != nil {
			return
		}
		for _, form := range []string{got.String(), got.Grouped()} {
			if back, err := ParseFingerprint(form); err != nil || back != got {
				t.Fatalf("fingerprint %q does not round-trip: %v", form, err)
			}
		}
	})
}

// sameMember reports whether two members are the same key and certificates.
func sameMember(a, b *Member) bool {
	return a.Key.Equal(b.Key) && bytes.Equal(a.Cert.Raw, b.Cert.Raw) && bytes.Equal(a.CA.Raw, b.CA.Raw)
}
