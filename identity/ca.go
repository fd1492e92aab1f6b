package identity

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"meshcomm/mesh"
)

// Validity periods. NotBefore is back-dated by ClockSkew so that a laptop whose clock runs a
// little behind the CA's still accepts a freshly issued certificate.
const (
	CAValidity     = 5 * 365 * 24 * time.Hour
	MemberValidity = 365 * 24 * time.Hour
	ClockSkew      = time.Hour
)

// CA is an incident certificate authority: the team's root of trust. Its key signs member
// certificates and revocations; it never takes part in the mesh as a peer.
type CA struct {
	Cert *x509.Certificate
	key  ed25519.PrivateKey
	dir  string // where it lives; empty for a CA held only in memory
}

// ErrCAExists is returned when a CA directory already holds a CA: a CA is never overwritten.
var ErrCAExists = errors.New("a CA already exists there")

// DeriveTeamName names a team after its CA key ("team-3fa9c1") when nobody chose a name.
// Six hex digits make two zero-setup teams that meet unlikely to collide; if they do, trusting
// the second is refused with a clear error (see TrustAdd) rather than confusing their users.
func DeriveTeamName(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return "team-" + hex.EncodeToString(sum[:3])
}

// NewCA makes a CA in memory. An empty team is derived from the key (DeriveTeamName).
func NewCA(team string, now time.Time) (*CA, error) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	if team == "" {
		team = DeriveTeamName(pub)
	}
	team, err = CanonicalTeam(team)
	if err != nil {
		return nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: team, Organization: []string{team}},
		NotBefore:             now.Add(-ClockSkew),
		NotAfter:              now.Add(CAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true, // members only: no intermediate CAs below a team CA
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, key: key}, nil
}

// CreateCA makes an incident CA for team in dir (created 0700 if missing) as ca.pem (0644) and
// ca.key (0600), with an empty issuance log dir/issued/. It refuses a dir that already holds a
// CA. An empty team is derived from the key.
func CreateCA(team, dir string, now time.Time) (*CA, error) {
	if exists(filepath.Join(dir, caKeyFile)) || exists(filepath.Join(dir, caCertFile)) {
		return nil, fmt.Errorf("%s: %w", dir, ErrCAExists)
	}
	ca, err := NewCA(team, now)
	if err != nil {
		return nil, err
	}
	if err := ca.save(dir); err != nil {
		return nil, err
	}
	return ca, nil
}

func (ca *CA) save(dir string) error {
	if err := os.MkdirAll(filepath.Join(dir, issuedDir), 0o700); err != nil {
		return err
	}
	keyPEM, err := encodeKeyPEM(ca.key)
	if err != nil {
		return err
	}
	// The key goes first: a dir with ca.pem but no ca.key would look like a CA that cannot sign.
	if err := writeNewFile(filepath.Join(dir, caKeyFile), keyPEM, 0o600); err != nil {
		return err
	}
	if err := writeNewFile(filepath.Join(dir, caCertFile), encodeCertPEM(ca.Cert.Raw), 0o644); err != nil {
		return err
	}
	ca.dir = dir
	return nil
}

// LoadCA reads the CA in dir and checks that its key matches its certificate.
func LoadCA(dir string) (*CA, error) {
	key, certs, err := readKeyAndCerts(filepath.Join(dir, caKeyFile), filepath.Join(dir, caCertFile))
	if err != nil {
		return nil, err
	}
	if len(certs) != 1 {
		return nil, fmt.Errorf("%s: want exactly one certificate", filepath.Join(dir, caCertFile))
	}
	if err := checkCACert(certs[0]); err != nil {
		return nil, err
	}
	if !keyMatches(key, certs[0]) {
		return nil, fmt.Errorf("%s: key does not match the CA certificate", dir)
	}
	return &CA{Cert: certs[0], key: key, dir: dir}, nil
}

// checkCACert accepts a self-signed ed25519 CA certificate whose common name is a valid team.
func checkCACert(c *x509.Certificate) error {
	if !c.BasicConstraintsValid || !c.IsCA {
		return fmt.Errorf("certificate %q is not a CA certificate", c.Subject.CommonName)
	}
	if _, ok := c.PublicKey.(ed25519.PublicKey); !ok {
		return fmt.Errorf("CA %q has a %T key, not ed25519", c.Subject.CommonName, c.PublicKey)
	}
	if err := c.CheckSignatureFrom(c); err != nil {
		return fmt.Errorf("CA %q is not self-signed: %w", c.Subject.CommonName, err)
	}
	if t, err := CanonicalTeam(c.Subject.CommonName); err != nil || t != c.Subject.CommonName {
		return fmt.Errorf("CA common name %q is not a valid team name", c.Subject.CommonName)
	}
	return nil
}

// Team is the CA's team name: its certificate's common name.
func (ca *CA) Team() string { return ca.Cert.Subject.CommonName }

// Fingerprint is the SHA-256 of the CA certificate.
func (ca *CA) Fingerprint() Fingerprint { return FingerprintOf(ca.Cert.Raw) }

// Dir is where the CA is stored ("" for a CA held only in memory).
func (ca *CA) Dir() string { return ca.dir }

// Signer signs records with the CA key. Its credential is the CA certificate, which verifies
// with Authority set: that is what lets it sign revocations.
func (ca *CA) Signer() mesh.Signer {
	pub := ca.key.Public().(ed25519.PublicKey)
	return &certSigner{
		key:  ca.key,
		cred: ca.Cert.Raw,
		id:   mesh.Identity{Node: mesh.NodeIDFromPublicKey(pub), Authority: true},
	}
}

// Member is a freshly issued member identity: its key and certificate, and the issuing CA.
type Member struct {
	Key  ed25519.PrivateKey
	Cert *x509.Certificate
	CA   *x509.Certificate
}

// IssueMember generates a key for a member and certifies it: the AoR sip:EXT@TEAM as URI SAN,
// displayName as subject common name, role as organizational unit, team as organization.
// When the CA lives in a directory the certificate is added to its issuance log (issued/), so
// it can later be revoked by serial number or fingerprint.
func (ca *CA) IssueMember(ext, displayName, role string, now time.Time) (*Member, error) {
	ext, err := CanonicalExt(ext)
	if err != nil {
		return nil, err
	}
	if err := ValidateDisplayName(displayName); err != nil {
		return nil, err
	}
	role, err = CanonicalRole(role)
	if err != nil {
		return nil, err
	}
	if now.Before(ca.Cert.NotBefore) || !now.Before(ca.Cert.NotAfter) {
		return nil, fmt.Errorf("CA %s is not valid at %s (valid %s to %s)", ca.Team(),
			now.UTC().Format(time.RFC3339), ca.Cert.NotBefore.UTC().Format(time.RFC3339), ca.Cert.NotAfter.UTC().Format(time.RFC3339))
	}
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	notAfter := now.Add(MemberValidity)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			CommonName:         displayName,
			Organization:       []string{ca.Team()},
			OrganizationalUnit: []string{role},
		},
		URIs:                  []*url.URL{aorURI(ext, ca.Team())},
		NotBefore:             now.Add(-ClockSkew),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	if ca.dir != "" {
		logPath := filepath.Join(ca.dir, issuedDir, serialHex(cert.SerialNumber)+".pem")
		if err := os.MkdirAll(filepath.Dir(logPath), 0o700); err != nil {
			return nil, err
		}
		if err := writeNewFile(logPath, encodeCertPEM(der), 0o644); err != nil {
			return nil, fmt.Errorf("recording the issued certificate: %w", err)
		}
	}
	return &Member{Key: key, Cert: cert, CA: ca.Cert}, nil
}

// Issue loads the CA in caDir and issues an enrolment bundle for one member: a PEM file with
// the member's private key, certificate and the CA certificate (see ParseBundle). The bundle
// holds a private key: write it with WriteBundle (0600) and hand it over on trusted media.
func Issue(caDir, ext, displayName, role string, now time.Time) ([]byte, error) {
	ca, err := LoadCA(caDir)
	if err != nil {
		return nil, err
	}
	m, err := ca.IssueMember(ext, displayName, role, now)
	if err != nil {
		return nil, err
	}
	return EncodeBundle(m)
}

// issuedCert finds a certificate in the CA's issuance log by serial number (hex) or by
// fingerprint.
func (ca *CA) issuedCert(ref string) (*x509.Certificate, error) {
	if ca.dir == "" {
		return nil, fmt.Errorf("CA has no issuance log")
	}
	dir := filepath.Join(ca.dir, issuedDir)
	if fp, err := ParseFingerprint(ref); err == nil {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			c, err := readOneCert(filepath.Join(dir, e.Name()))
			if err == nil && FingerprintOf(c.Raw) == fp {
				return c, nil
			}
		}
		return nil, fmt.Errorf("no certificate with fingerprint %s in %s: %w", fp, dir, fs.ErrNotExist)
	}
	serial := strings.ToLower(strings.TrimPrefix(strings.ReplaceAll(ref, ":", ""), "0x"))
	if serial == "" || strings.Trim(serial, "0123456789abcdef") != "" {
		return nil, fmt.Errorf("%q is neither a certificate file, a fingerprint nor a hex serial number", ref)
	}
	return readOneCert(filepath.Join(dir, strings.TrimLeft(serial, "0")+".pem"))
}

func readOneCert(path string) (*x509.Certificate, error) {
	data, err := readBounded(path)
	if err != nil {
		return nil, err
	}
	pc, err := decodePEM(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(pc.certs) == 0 {
		return nil, fmt.Errorf("%s: no certificate", path)
	}
	return pc.certs[0], nil
}

// newSerial draws a random positive 127-bit serial number.
func newSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 127)
	n, err := rand.Int(rand.Reader, limit)
	if err != nil {
		return nil, err
	}
	return n.Add(n, big.NewInt(1)), nil
}

// serialHex is the lower-case hex of a serial number without leading zeros.
func serialHex(n *big.Int) string { return n.Text(16) }

// certSigner signs with an ed25519 key under an X.509 credential (a member's or a CA's).
type certSigner struct {
	key  ed25519.PrivateKey
	cred []byte
	id   mesh.Identity
}

func (s *certSigner) Identity() mesh.Identity { return s.id }
func (s *certSigner) Credential() []byte      { return s.cred }
func (s *certSigner) Sign(msg []byte) []byte  { return ed25519.Sign(s.key, msg) }
