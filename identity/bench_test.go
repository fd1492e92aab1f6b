package identity

import (
	"testing"

	"meshcomm/mesh"
)

// BenchmarkVerifyRecord measures verifying a member's record through the certificate cache
// (the common case: a known owner) and with the cache cleared before each record (first
// contact: parse the certificate and check its chain).
//
//	go test -run '^$' -bench VerifyRecord ./identity/
func BenchmarkVerifyRecord(b *testing.B) {
	ca, err := NewCA("bench", t0)
	if err != nil {
		b.Fatal(err)
	}
	m, err := ca.IssueMember("1", "One", "", t0)
	if err != nil {
		b.Fatal(err)
	}
	id := newIdentity("", m, &Verifier{})
	rec := &mesh.Record{Resource: mesh.ResourceIDFor(id.AoR()), Kind: mesh.KindPresence, Key: id.node[:], Value: []byte("available"), Version: 1}
	rec.Sign(id.Signer())
	for _, cached := range []bool{true, false} {
		name := map[bool]string{true: "cached", false: "uncached"}[cached]
		b.Run(name, func(b *testing.B) {
			v, err := NewVerifier(ca.Cert)
			if err != nil {
				b.Fatal(err)
			}
			v.Now = clockAt(t0)
			for b.Loop() {
				if !cached {
					v.mu.Lock()
					v.cache.clear()
					v.mu.Unlock()
				}
				if _, err := mesh.VerifyRecord(v, rec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
