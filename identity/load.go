package identity

import (
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"meshcomm/mesh"
)

// Identity is an enrolled node as the runtime uses it: its member certificate and key, the
// signer for its records, the verifier holding its live trust bundle and revocations, and
// the TLS material for mutual authentication with peers.
type Identity struct {
	dir      string
	member   *Member
	ext      string
	team     string
	aor      string
	node     mesh.NodeID
	signer   *certSigner
	verifier *Verifier
	tlsCert  tls.Certificate
}

// ErrNoIdentity is returned by Load for a data directory that holds no identity yet.
var ErrNoIdentity = errors.New("no identity in data directory (enrol or bootstrap first)")

// Load reads the identity in dataDir (node.key, node.pem, trust/, revocations/), with the
// verifier's clock set to time.Now.
func Load(dataDir string) (*Identity, error) { return LoadWithClock(dataDir, time.Now) }

// LoadWithClock is Load with the clock the verifier checks certificates against.
func LoadWithClock(dataDir string, clock func() time.Time) (*Identity, error) {
	keyPath := filepath.Join(dataDir, nodeKeyFile)
	if _, err := os.Stat(keyPath); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", dataDir, ErrNoIdentity)
	}
	key, certs, err := readKeyAndCerts(keyPath, filepath.Join(dataDir, nodeCertFile))
	if err != nil {
		return nil, err
	}
	if len(certs) != 2 {
		return nil, fmt.Errorf("%s: want the member certificate followed by its CA", filepath.Join(dataDir, nodeCertFile))
	}
	m := &Member{Key: key, Cert: certs[0], CA: certs[1]}
	if err := checkMember(m); err != nil {
		return nil, fmt.Errorf("%s: %w", dataDir, err)
	}
	v, err := loadTrust(dataDir)
	if err != nil {
		return nil, err
	}
	v.Now = clock
	if err := v.loadRevocations(); err != nil {
		return nil, err
	}
	return newIdentity(dataDir, m, v), nil
}

func newIdentity(dir string, m *Member, v *Verifier) *Identity {
	aor, ext, team, _ := certAoR(m.Cert) // checked by checkMember
	pub := m.Key.Public().(ed25519.PublicKey)
	node := mesh.NodeIDFromPublicKey(pub)
	return &Identity{
		dir:    dir,
		member: m,
		ext:    ext,
		team:   team,
		aor:    aor,
		node:   node,
		signer: &certSigner{key: m.Key, cred: m.Cert.Raw, id: mesh.Identity{Node: node, Name: aor}},
		tlsCert: tls.Certificate{
			Certificate: [][]byte{m.Cert.Raw, m.CA.Raw},
			PrivateKey:  m.Key,
			Leaf:        m.Cert,
		},
		verifier: v,
	}
}

// DataDir is the directory the identity was loaded from.
func (id *Identity) DataDir() string { return id.dir }

// NodeID is the node's overlay identifier: mesh.NodeIDFromPublicKey of its 32-byte ed25519
// public key.
func (id *Identity) NodeID() mesh.NodeID { return id.node }

// AoR is the user's address of record, "sip:EXT@TEAM".
func (id *Identity) AoR() string { return id.aor }

// Ext is the extension, the user part of the AoR.
func (id *Identity) Ext() string { return id.ext }

// Team is the team name: the CA's common name and the host part of the AoR.
func (id *Identity) Team() string { return id.team }

// DisplayName is the user's name as shown to others (the certificate's common name).
func (id *Identity) DisplayName() string { return id.member.Cert.Subject.CommonName }

// Role is the user's role (the certificate's organizational unit).
func (id *Identity) Role() string { return roleOf(id.member.Cert) }

func roleOf(c *x509.Certificate) string {
	if len(c.Subject.OrganizationalUnit) == 1 {
		return c.Subject.OrganizationalUnit[0]
	}
	return ""
}

// Certificate is the member certificate.
func (id *Identity) Certificate() *x509.Certificate { return id.member.Cert }

// CACertificate is the own team CA's certificate.
func (id *Identity) CACertificate() *x509.Certificate { return id.member.CA }

// CAFingerprint is the fingerprint of the own team CA.
func (id *Identity) CAFingerprint() Fingerprint { return FingerprintOf(id.member.CA.Raw) }

// NotAfter is when the member certificate expires.
func (id *Identity) NotAfter() time.Time { return id.member.Cert.NotAfter }

// MeshIdentity is what peers learn about this node from its credential.
func (id *Identity) MeshIdentity() mesh.Identity { return id.signer.id }

// Signer signs the node's records. Its credential is the DER member certificate alone (about
// 400 bytes), which every peer verifies against its own trust bundle.
func (id *Identity) Signer() mesh.Signer { return id.signer }

// Verifier checks records and peers against the node's live trust bundle and revocations.
func (id *Identity) Verifier() *Verifier { return id.verifier }

// TLSCertificate is the node's TLS certificate chain (member certificate then team CA, so an
// untrusted peer can show which team it met) and key.
func (id *Identity) TLSCertificate() tls.Certificate { return id.tlsCert }

// TrustPool is a snapshot of the trusted team CAs.
func (id *Identity) TrustPool() *x509.CertPool { return id.verifier.TrustPool() }

// TrustCA trusts another team's CA from now on, in the running node and in its data directory.
func (id *Identity) TrustCA(c *x509.Certificate) (Anchor, error) {
	return id.verifier.trustAndSave(c, id.verifier.now())
}

// TrustSeen trusts an untrusted team CA a peer presented (see Verifier.SeenUntrusted), named by
// its full fingerprint, as when a user answers "yes" to "untrusted team nearby".
func (id *Identity) TrustSeen(fp Fingerprint) (Anchor, error) {
	c, ok := id.verifier.seenCA(fp)
	if !ok {
		return Anchor{}, fmt.Errorf("no peer has presented CA %s: %w", fp.Grouped(), fs.ErrNotExist)
	}
	return id.TrustCA(c)
}

// RemoveTrust stops trusting a team CA in the running node and its data directory.
func (id *Identity) RemoveTrust(fp Fingerprint) error {
	if err := id.verifier.RemoveAnchor(fp); err != nil {
		return err
	}
	err := os.Remove(filepath.Join(id.dir, trustDir, fp.String()+".pem"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// LocalCA returns the team CA kept in the data directory by Bootstrap, with which this laptop
// can enrol others into its team and revoke them. It is fs.ErrNotExist for an enrolled node.
func (id *Identity) LocalCA() (*CA, error) { return LoadCA(LocalCADir(id.dir)) }

// LocalCADir is where Bootstrap keeps the zero-setup team CA inside a data directory.
func LocalCADir(dataDir string) string { return filepath.Join(dataDir, localCADir) }
