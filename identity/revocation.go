package identity

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"meshcomm/mesh"
)

// MaxRevocations bounds the revocations a verifier holds.
const MaxRevocations = 1 << 16

// ErrRevocation is wrapped by every refusal of a revocation record.
var ErrRevocation = errors.New("revocation refused")

// RevocationResource is the resource under which a CA's revocations are stored in the overlay:
// ResourceIDFor("revocations:" + the CA fingerprint in hex). Each revocation record there has
// Kind mesh.KindRevocation, Key = the revoked certificate's 32-byte fingerprint, Value = an
// encoded Revocation (see EncodeRevocationValue), Version = the revocation time in Unix ms,
// Expiry = the revoked certificate's NotAfter plus ClockSkew (after that the certificate is
// refused as expired anyway), and is signed by the CA itself.
func RevocationResource(ca Fingerprint) mesh.ResourceID {
	return mesh.ResourceIDFor("revocations:" + ca.String())
}

// RevocationInfo describes one revoked certificate.
type RevocationInfo struct {
	Fingerprint   Fingerprint // of the revoked certificate
	AoR           string      // its sip: address
	CAFingerprint Fingerprint // the CA that revoked it
	RevokedAt     time.Time
	Reason        string
	NotAfter      time.Time // when the revoked certificate would have expired
}

type revocationEntry struct{ info RevocationInfo }

// RevokeCert makes the signed revocation record of a certificate this CA issued.
func (ca *CA) RevokeCert(cert *x509.Certificate, reason string, now time.Time) (*mesh.Record, error) {
	if cert.IsCA {
		return nil, fmt.Errorf("%w: a CA certificate cannot be revoked; remove it from trust lists instead", ErrRevocation)
	}
	if err := cert.CheckSignatureFrom(ca.Cert); err != nil {
		return nil, fmt.Errorf("%w: certificate %q was not issued by CA %q", ErrRevocation, cert.Subject.CommonName, ca.Team())
	}
	if reason == "" {
		reason = "revoked"
	}
	value, err := EncodeRevocationValue(&Revocation{Cert: cert, RevokedAt: now, Reason: reason})
	if err != nil {
		return nil, err
	}
	fp := FingerprintOf(cert.Raw)
	rec := &mesh.Record{
		Resource: RevocationResource(ca.Fingerprint()),
		Kind:     mesh.KindRevocation,
		Key:      fp[:],
		Value:    value,
		Version:  uint64(now.UnixMilli()),
		Expiry:   cert.NotAfter.Add(ClockSkew).UnixMilli(),
	}
	rec.Sign(ca.Signer())
	return rec, nil
}

// Revoke loads the CA in caDir and makes the signed revocation record of one certificate it
// issued. ref names the certificate: a PEM file holding it (node.pem, a bundle, or the copy in
// the CA's issued/ log), its fingerprint, or its serial number in hex (looked up in issued/). A
// copy of the record is written to caDir/revoked/<fingerprint>.pem (see EncodeRevocationFile).
// Hand the record to a running node (it floods through the mesh) or the file to ImportRevocation.
func Revoke(caDir, ref, reason string, now time.Time) (*mesh.Record, error) {
	ca, err := LoadCA(caDir)
	if err != nil {
		return nil, err
	}
	var cert *x509.Certificate
	if fi, statErr := os.Stat(ref); statErr == nil && fi.Mode().IsRegular() {
		data, err := readBounded(ref)
		if err != nil {
			return nil, err
		}
		pc, err := decodePEM(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ref, err)
		}
		for _, c := range pc.certs {
			if !c.IsCA {
				cert = c
				break
			}
		}
		if cert == nil {
			return nil, fmt.Errorf("%s: no member certificate in the file", ref)
		}
	} else if cert, err = ca.issuedCert(ref); err != nil {
		return nil, err
	}
	rec, err := ca.RevokeCert(cert, reason, now)
	if err != nil {
		return nil, err
	}
	file, err := EncodeRevocationFile(rec)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(caDir, "revoked")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(dir, FingerprintOf(cert.Raw).String()+".pem"), file, 0o644); err != nil {
		return nil, err
	}
	return rec, nil
}

// AddRevocation honours a revocation record from now on, after checking that it is signed by a
// trusted team CA (its credential is the CA certificate itself), that it sits at that CA's
// RevocationResource, and that the revoked certificate (carried in the value, matching the key)
// was issued by that CA. A revocation already held is accepted again without effect. When the
// verifier belongs to a data directory the record is written to revocations/.
func (v *Verifier) AddRevocation(rec *mesh.Record) error {
	_, err := v.addRevocation(rec, true)
	return err
}

func (v *Verifier) addRevocation(rec *mesh.Record, persist bool) (RevocationInfo, error) {
	info, err := v.checkRevocation(rec)
	if err != nil {
		return info, v.refuse(ReasonRevocation, fmt.Errorf("%w: %v", ErrRevocation, err))
	}
	v.mu.Lock()
	if _, ok := v.revoked[info.Fingerprint]; ok {
		v.mu.Unlock()
		return info, nil
	}
	if len(v.revoked) >= MaxRevocations {
		v.mu.Unlock()
		return info, v.refuse(ReasonRevocation, fmt.Errorf("%w: already holding %d revocations", ErrRevocation, MaxRevocations))
	}
	if v.revoked == nil {
		v.revoked = make(map[Fingerprint]revocationEntry)
	}
	v.revoked[info.Fingerprint] = revocationEntry{info: info}
	v.cache.remove(info.Fingerprint)
	dir := v.dir
	v.mu.Unlock()
	level := slog.LevelInfo
	if !persist {
		level = slog.LevelDebug // re-loading a saved revocation is not news
	}
	v.logger().Log(context.Background(), level, "identity: certificate revoked", "aor", info.AoR,
		"cert", info.Fingerprint.Short(), "ca", info.CAFingerprint.Short(), "reason", info.Reason)
	if !persist || dir == "" {
		return info, nil
	}
	file, err := EncodeRevocationFile(rec)
	if err == nil {
		rdir := filepath.Join(dir, revocationsDir)
		if err = os.MkdirAll(rdir, 0o700); err == nil {
			err = writeFileAtomic(filepath.Join(rdir, info.Fingerprint.String()+".pem"), file, 0o644)
		}
	}
	if err != nil {
		return info, fmt.Errorf("revocation of %s is in force but not saved: %w", info.AoR, err)
	}
	return info, nil
}

func (v *Verifier) checkRevocation(rec *mesh.Record) (RevocationInfo, error) {
	if rec.Kind != mesh.KindRevocation {
		return RevocationInfo{}, fmt.Errorf("record kind is %s", rec.Kind)
	}
	if rec.Deleted {
		return RevocationInfo{}, fmt.Errorf("a revocation cannot be withdrawn")
	}
	id, err := mesh.VerifyRecord(v, rec)
	if err != nil {
		return RevocationInfo{}, err
	}
	if !id.Authority {
		return RevocationInfo{}, fmt.Errorf("signer is not a team CA")
	}
	caFP := FingerprintOf(rec.Owner)
	v.mu.Lock()
	ca := v.anchors[caFP]
	v.mu.Unlock()
	if ca == nil {
		return RevocationInfo{}, fmt.Errorf("signing CA %s is not trusted", caFP.Short())
	}
	if rec.Resource != RevocationResource(caFP) {
		return RevocationInfo{}, fmt.Errorf("record is not at CA %s's revocation resource", caFP.Short())
	}
	r, err := DecodeRevocationValue(rec.Value)
	if err != nil {
		return RevocationInfo{}, err
	}
	fp := FingerprintOf(r.Cert.Raw)
	if !bytes.Equal(rec.Key, fp[:]) {
		return RevocationInfo{}, fmt.Errorf("record key is not the revoked certificate's fingerprint")
	}
	if r.Cert.IsCA {
		return RevocationInfo{}, fmt.Errorf("a CA certificate cannot be revoked")
	}
	if err := r.Cert.CheckSignatureFrom(ca); err != nil {
		return RevocationInfo{}, fmt.Errorf("revoked certificate was not issued by CA %q", ca.Subject.CommonName)
	}
	aor, _, _, _ := certAoR(r.Cert)
	return RevocationInfo{Fingerprint: fp, AoR: aor, CAFingerprint: caFP, RevokedAt: r.RevokedAt,
		Reason: r.Reason, NotAfter: r.Cert.NotAfter}, nil
}

// Revoked reports whether the certificate with fingerprint fp is revoked.
func (v *Verifier) Revoked(fp Fingerprint) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	_, ok := v.revoked[fp]
	return ok
}

// Revocations lists the revocations in force, most recent first.
func (v *Verifier) Revocations() []RevocationInfo {
	v.mu.Lock()
	out := make([]RevocationInfo, 0, len(v.revoked))
	for _, e := range v.revoked {
		out = append(out, e.info)
	}
	v.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].RevokedAt.After(out[j].RevokedAt) })
	return out
}

// loadRevocations re-checks and honours the revocations saved in the data directory. A file
// that no longer checks (its CA was removed from trust, it is damaged) is skipped with a
// warning.
func (v *Verifier) loadRevocations() error {
	dir := filepath.Join(v.dir, revocationsDir)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".pem") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		data, err := readBounded(path)
		var rec *mesh.Record
		if err == nil {
			rec, err = DecodeRevocationFile(data)
		}
		if err == nil {
			_, err = v.addRevocation(rec, false)
		}
		if err != nil {
			v.logger().Warn("identity: saved revocation skipped", "path", path, "err", err)
		}
	}
	return nil
}

// ImportRevocation honours a revocation file (from Revoke) in the node's data directory, as a
// running node does when the record arrives through the mesh. The signing CA must be trusted
// there and valid at now.
func ImportRevocation(dataDir, path string, now time.Time) (RevocationInfo, error) {
	data, err := readBounded(path)
	if err != nil {
		return RevocationInfo{}, err
	}
	rec, err := DecodeRevocationFile(data)
	if err != nil {
		return RevocationInfo{}, fmt.Errorf("%s: %w", path, err)
	}
	v, err := loadTrust(dataDir)
	if err != nil {
		return RevocationInfo{}, err
	}
	v.Now = func() time.Time { return now }
	return v.addRevocation(rec, true)
}
