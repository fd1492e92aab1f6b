package identity

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"meshcomm/mesh"
)

func TestRevokedCertificateRefusedAfterAddRevocation(t *testing.T) {
	ca, caDir := newCADir(t, "fire")
	lost := enrolNode(t, caDir, "101")
	bob := enrolNode(t, caDir, "102")
	rec := registration(lost, lost.AoR())
	if _, err := mesh.VerifyRecord(bob.Verifier(), rec); err != nil {
		t.Fatalf("record before revocation: %v", err)
	}

	rev, err := Revoke(caDir, serialHex(lost.Certificate().SerialNumber), "laptop lost", t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	id, err := mesh.VerifyRecord(bob.Verifier(), rev)
	if err != nil || !id.Authority {
		t.Fatalf("revocation record as a mesh record: %+v, %v", id, err)
	}
	if rev.Resource != RevocationResource(ca.Fingerprint()) || rev.Expiry != lost.NotAfter().Add(ClockSkew).UnixMilli() {
		t.Errorf("revocation record placed at %s expiring %d", rev.Resource, rev.Expiry)
	}
	if err := bob.Verifier().AddRevocation(rev); err != nil {
		t.Fatal(err)
	}
	if _, err := mesh.VerifyRecord(bob.Verifier(), rec); !errors.Is(err, mesh.ErrRevoked) {
		t.Errorf("record of a revoked (previously cached) certificate: %v, want ErrRevoked", err)
	}
	if err := bob.Verifier().AddRevocation(rev); err != nil {
		t.Errorf("the same revocation again: %v", err)
	}
	infos := bob.Verifier().Revocations()
	if len(infos) != 1 || infos[0].AoR != lost.AoR() || infos[0].Reason != "laptop lost" ||
		infos[0].CAFingerprint != ca.Fingerprint() || !infos[0].RevokedAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("revocations = %+v", infos)
	}

	// It is saved: a restarted node still refuses the certificate.
	restarted, err := LoadWithClock(bob.DataDir(), clockAt(t0))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mesh.VerifyRecord(restarted.Verifier(), rec); !errors.Is(err, mesh.ErrRevoked) {
		t.Errorf("after restart: %v, want ErrRevoked", err)
	}
	// The other members are unaffected.
	if _, err := mesh.VerifyRecord(restarted.Verifier(), registration(bob, bob.AoR())); err != nil {
		t.Errorf("unrevoked member refused: %v", err)
	}
}

func TestRevokeByFingerprintFileAndImport(t *testing.T) {
	_, caDir := newCADir(t, "fire")
	a := enrolNode(t, caDir, "1")
	b := enrolNode(t, caDir, "2")
	c := enrolNode(t, caDir, "3")
	byFP, err := Revoke(caDir, FingerprintOf(a.Certificate().Raw).Grouped(), "", t0)
	if err != nil {
		t.Fatal(err)
	}
	byFile, err := Revoke(caDir, filepath.Join(b.DataDir(), nodeCertFile), "stolen", t0)
	if err != nil {
		t.Fatal(err)
	}
	for i, rec := range []*mesh.Record{byFP, byFile} {
		want := []*Identity{a, b}[i]
		fp := FingerprintOf(want.Certificate().Raw)
		if !bytes.Equal(rec.Key, fp[:]) {
			t.Errorf("revocation %d names the wrong certificate", i)
		}
		// The CA keeps a copy as a file, which a node can import offline.
		path := filepath.Join(caDir, "revoked", fp.String()+".pem")
		info, err := ImportRevocation(c.DataDir(), path, t0)
		if err != nil {
			t.Fatalf("import %s: %v", path, err)
		}
		if info.Fingerprint != fp || info.AoR != want.AoR() {
			t.Errorf("imported %+v", info)
		}
	}
	reloaded, err := LoadWithClock(c.DataDir(), clockAt(t0))
	if err != nil {
		t.Fatal(err)
	}
	for _, victim := range []*Identity{a, b} {
		if !reloaded.Verifier().Revoked(FingerprintOf(victim.Certificate().Raw)) {
			t.Errorf("%s not revoked after import", victim.AoR())
		}
	}
	if _, err := Revoke(caDir, "abcdef0123", "", t0); err == nil {
		t.Error("revoking an unknown serial succeeded")
	}
	if _, err := Revoke(caDir, "not-a-reference!", "", t0); err == nil {
		t.Error("revoking a nonsense reference succeeded")
	}
}

func TestRevocationsThatMustBeRefused(t *testing.T) {
	ca, caDir := newCADir(t, "fire")
	other, otherDir := newCADir(t, "water")
	victim := enrolNode(t, caDir, "1")
	mallory := enrolNode(t, caDir, "666")
	watcher := enrolNode(t, caDir, "2")
	if _, err := watcher.TrustCA(other.Cert); err != nil {
		t.Fatal(err)
	}
	waterMember := enrolNode(t, otherDir, "9")

	genuine, err := ca.RevokeCert(victim.Certificate(), "lost", t0)
	if err != nil {
		t.Fatal(err)
	}
	resign := func(r *mesh.Record, s mesh.Signer) *mesh.Record {
		c := *r
		c.Sign(s)
		return &c
	}
	// A member (not a CA) signing the same revocation.
	byMember := resign(genuine, mallory.Signer())
	// A trusted CA revoking a certificate it did not issue, placed at its own resource.
	foreign := *genuine
	foreign.Resource = RevocationResource(other.Fingerprint())
	byOtherCA := resign(&foreign, other.Signer())
	// Tampering after signing.
	tamperedValue := *genuine
	tamperedValue.Value = bytes.Clone(genuine.Value)
	tamperedValue.Value[len(tamperedValue.Value)-1] ^= 1
	wrongKey := *genuine
	wrongKey.Key = bytes.Repeat([]byte{7}, 32)
	wrongKeyResigned := resign(&wrongKey, ca.Signer())
	wrongResource := *genuine
	wrongResource.Resource = mesh.ResourceIDFor("revocations:elsewhere")
	wrongResourceResigned := resign(&wrongResource, ca.Signer())
	withdrawn := *genuine
	withdrawn.Deleted = true
	withdrawnResigned := resign(&withdrawn, ca.Signer())
	// An untrusted CA revoking a member of a team it has nothing to do with.
	rogue, _ := newCADir(t, "rogue")
	byRogue := resign(genuine, rogue.Signer())

	cases := map[string]*mesh.Record{
		"signed by a member":           byMember,
		"CA revoking another's cert":   byOtherCA,
		"value tampered":               &tamperedValue,
		"key not the cert":             wrongKeyResigned,
		"wrong resource":               wrongResourceResigned,
		"deletion":                     withdrawnResigned,
		"signed by an untrusted CA":    byRogue,
		"registration, not revocation": registration(waterMember, waterMember.AoR()),
	}
	for name, rec := range cases {
		if err := watcher.Verifier().AddRevocation(rec); !errors.Is(err, ErrRevocation) {
			t.Errorf("%s: %v, want ErrRevocation", name, err)
		}
	}
	if n := len(watcher.Verifier().Revocations()); n != 0 {
		t.Errorf("%d revocations in force after refusals only", n)
	}
	if got := watcher.Verifier().Refusals()[ReasonRevocation]; got != uint64(len(cases)) {
		t.Errorf("refused revocations counted %d, want %d", got, len(cases))
	}
	if _, err := ca.RevokeCert(waterMember.Certificate(), "", t0); !errors.Is(err, ErrRevocation) {
		t.Errorf("CA revoking a certificate it did not issue: %v", err)
	}
	if _, err := ca.RevokeCert(ca.Cert, "", t0); !errors.Is(err, ErrRevocation) {
		t.Errorf("CA revoking itself: %v", err)
	}
}

func TestSavedRevocationOfRemovedCAIsSkipped(t *testing.T) {
	_, caDir := newCADir(t, "fire")
	node := enrolNode(t, caDir, "1")
	other, otherDir := newCADir(t, "water")
	victim := enrolNode(t, otherDir, "2")
	if _, err := node.TrustCA(other.Cert); err != nil {
		t.Fatal(err)
	}
	rec, err := other.RevokeCert(victim.Certificate(), "", t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := node.Verifier().AddRevocation(rec); err != nil {
		t.Fatal(err)
	}
	if err := node.RemoveTrust(other.Fingerprint()); err != nil {
		t.Fatal(err)
	}
	// A damaged file next to it must not stop the node either.
	if err := os.WriteFile(filepath.Join(node.DataDir(), revocationsDir, "junk.pem"), []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	reloaded, err := LoadWithClock(node.DataDir(), clockAt(t0))
	if err != nil {
		t.Fatalf("load with an inert and a damaged revocation: %v", err)
	}
	if n := len(reloaded.Verifier().Revocations()); n != 0 {
		t.Errorf("%d revocations loaded, want 0 (their CA is no longer trusted)", n)
	}
}

func TestRevocationFileRoundTrip(t *testing.T) {
	ca, _ := newCADir(t, "fire")
	m, err := ca.IssueMember("1", "One", "", t0)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := ca.RevokeCert(m.Cert, "lost in the river", t0)
	if err != nil {
		t.Fatal(err)
	}
	file, err := EncodeRevocationFile(rec)
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeRevocationFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.SignedBytes(), rec.SignedBytes()) || !bytes.Equal(back.Signature, rec.Signature) {
		t.Error("revocation file does not round-trip")
	}
	r, err := DecodeRevocationValue(back.Value)
	if err != nil {
		t.Fatal(err)
	}
	if r.Reason != "lost in the river" || !r.RevokedAt.Equal(t0) || !bytes.Equal(r.Cert.Raw, m.Cert.Raw) {
		t.Errorf("revocation value %+v", r)
	}
}
