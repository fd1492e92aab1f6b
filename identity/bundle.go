package identity

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// An enrolment bundle is one PEM file holding, in this order, the member's PKCS#8 ed25519
// "PRIVATE KEY", its "CERTIFICATE", and the issuing CA's "CERTIFICATE". It is at most
// MaxPEMFileBytes long.

// ErrAlreadyEnrolled is returned by Enroll and Bootstrap-like calls that would replace an
// existing identity; Reenroll replaces one on purpose.
var ErrAlreadyEnrolled = errors.New("data directory already holds an identity")

// EncodeBundle writes a member as an enrolment bundle.
func EncodeBundle(m *Member) ([]byte, error) {
	keyPEM, err := encodeKeyPEM(m.Key)
	if err != nil {
		return nil, err
	}
	return append(keyPEM, encodeCertPEM(m.Cert.Raw, m.CA.Raw)...), nil
}

// WriteBundle writes an enrolment bundle to path with mode 0600, refusing to overwrite a file.
func WriteBundle(path string, bundle []byte) error { return writeNewFile(path, bundle, 0o600) }

// ParseBundle decodes an enrolment bundle and checks everything that does not depend on the
// time: one ed25519 key, one member certificate it matches, one self-signed team CA that signed
// the member certificate, and a member profile (one canonical sip: address in the CA's team).
func ParseBundle(data []byte) (*Member, error) {
	pc, err := decodePEM(data)
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	if len(pc.keys) != 1 || len(pc.certs) != 2 {
		return nil, fmt.Errorf("bundle: want one private key and two certificates, got %d and %d", len(pc.keys), len(pc.certs))
	}
	leaf, ca := pc.certs[0], pc.certs[1]
	if leaf.IsCA && !ca.IsCA {
		leaf, ca = ca, leaf
	}
	m := &Member{Key: pc.keys[0], Cert: leaf, CA: ca}
	if err := checkMember(m); err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	return m, nil
}

// checkMember checks a member's key, certificate and CA without looking at the time.
func checkMember(m *Member) error {
	if err := checkCACert(m.CA); err != nil {
		return err
	}
	if m.Cert.IsCA {
		return fmt.Errorf("member certificate is a CA certificate")
	}
	if err := m.Cert.CheckSignatureFrom(m.CA); err != nil {
		return fmt.Errorf("member certificate was not issued by CA %q: %w", m.CA.Subject.CommonName, err)
	}
	if !keyMatches(m.Key, m.Cert) {
		return fmt.Errorf("private key does not match the member certificate")
	}
	_, _, team, err := certAoR(m.Cert)
	if err != nil {
		return err
	}
	if team != m.CA.Subject.CommonName {
		return fmt.Errorf("member address is in team %q but the CA is team %q", team, m.CA.Subject.CommonName)
	}
	if len(m.Cert.Raw) > maxCredentialBytes {
		return fmt.Errorf("member certificate is %d bytes, more than a record credential may hold (%d)", len(m.Cert.Raw), maxCredentialBytes)
	}
	return nil
}

// checkValidAt refuses a member whose certificate or CA is not valid at now.
func checkValidAt(m *Member, now time.Time) error {
	for _, c := range []*x509.Certificate{m.Cert, m.CA} {
		if now.Before(c.NotBefore) || now.After(c.NotAfter) {
			return fmt.Errorf("%w: %q valid from %s to %s, now %s", ErrCertExpired, c.Subject.CommonName,
				c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
		}
	}
	return nil
}

// Enroll verifies the bundle at bundlePath (chain, key, profile, validity at now) and installs
// it into dataDir: node.key (0600), node.pem (member certificate then CA certificate) and the
// team CA in trust/. It refuses a dataDir that already holds an identity (see Reenroll). After
// enrolment the CA is never needed again.
func Enroll(bundlePath, dataDir string, now time.Time) (*Identity, error) {
	if exists(filepath.Join(dataDir, nodeKeyFile)) {
		return nil, fmt.Errorf("%s: %w", dataDir, ErrAlreadyEnrolled)
	}
	return enrollFile(bundlePath, dataDir, now)
}

// Reenroll is Enroll for a dataDir that already holds an identity: the node key and certificate
// are replaced; trusted CAs and revocations are kept (the new team CA is added).
func Reenroll(bundlePath, dataDir string, now time.Time) (*Identity, error) {
	return enrollFile(bundlePath, dataDir, now)
}

func enrollFile(bundlePath, dataDir string, now time.Time) (*Identity, error) {
	data, err := readBounded(bundlePath)
	if err != nil {
		return nil, err
	}
	m, err := ParseBundle(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", bundlePath, err)
	}
	if err := checkValidAt(m, now); err != nil {
		return nil, fmt.Errorf("%s: %w", bundlePath, err)
	}
	if err := install(dataDir, m); err != nil {
		return nil, err
	}
	return Load(dataDir)
}

// install writes a checked member into dataDir. The key is written last: its presence is what
// marks a data directory as holding an identity.
func install(dataDir string, m *Member) error {
	if err := os.MkdirAll(filepath.Join(dataDir, trustDir), 0o700); err != nil {
		return err
	}
	anchorPath := filepath.Join(dataDir, trustDir, FingerprintOf(m.CA.Raw).String()+".pem")
	if err := writeFileAtomic(anchorPath, encodeCertPEM(m.CA.Raw), 0o644); err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(dataDir, nodeCertFile), encodeCertPEM(m.Cert.Raw, m.CA.Raw), 0o644); err != nil {
		return err
	}
	keyPEM, err := encodeKeyPEM(m.Key)
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dataDir, nodeKeyFile), keyPEM, 0o600)
}
