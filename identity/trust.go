package identity

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"meshcomm/mesh"
)

// Anchor describes one trusted team CA.
type Anchor struct {
	Team        string
	Fingerprint Fingerprint
	NotAfter    time.Time
	Own         bool // the node's own team: it cannot be removed
}

func anchorOf(c *x509.Certificate, own Fingerprint) Anchor {
	fp := FingerprintOf(c.Raw)
	return Anchor{Team: c.Subject.CommonName, Fingerprint: fp, NotAfter: c.NotAfter, Own: fp == own}
}

// UntrustedError says a peer or a record comes from a team whose CA this node does not trust:
// the "untrusted team nearby" a user is shown. It matches ErrUntrusted with errors.Is.
type UntrustedError struct {
	Team          string      // the peer's team: its CA's name, or the organization its certificate claims
	CAFingerprint Fingerprint // the peer's CA, when the peer presented it (zero otherwise)
	AoR           string      // the peer's sip: address, when its certificate has one
	Node          mesh.NodeID // the peer's node, from its certificate's key
}

func (e *UntrustedError) Error() string {
	msg := fmt.Sprintf("untrusted team nearby: %q", e.Team)
	if e.AoR != "" {
		msg += " (" + e.AoR + ")"
	}
	if !e.CAFingerprint.IsZero() {
		msg += ", CA fingerprint " + e.CAFingerprint.Grouped()
	}
	return msg
}

// Is makes errors.Is(err, ErrUntrusted) true.
func (e *UntrustedError) Is(target error) bool { return target == ErrUntrusted }

// ErrTeamTaken is returned when trusting a CA whose team name an already trusted CA holds: two
// CAs may not both speak for one team, or either could impersonate the other's members.
var ErrTeamTaken = errors.New("another trusted CA already holds this team name")

// AddAnchor trusts a team CA from now on. It refuses a certificate that is not a self-signed
// ed25519 team CA, and a CA whose team name another trusted CA holds. Adding a CA already
// trusted does nothing.
func (v *Verifier) AddAnchor(c *x509.Certificate) error {
	if err := checkCACert(c); err != nil {
		return err
	}
	fp := FingerprintOf(c.Raw)
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, ok := v.anchors[fp]; ok {
		return nil
	}
	if other, ok := v.teams[c.Subject.CommonName]; ok {
		return fmt.Errorf("%w: team %q is CA %s; refusing CA %s", ErrTeamTaken, c.Subject.CommonName, other.Grouped(), fp.Grouped())
	}
	if v.anchors == nil {
		v.anchors = make(map[Fingerprint]*x509.Certificate)
		v.teams = make(map[string]Fingerprint)
	}
	v.anchors[fp] = c
	v.teams[c.Subject.CommonName] = fp
	v.seen.remove(fp)
	v.rebuildPoolLocked()
	return nil
}

// RemoveAnchor stops trusting a team CA. The node's own team CA cannot be removed.
func (v *Verifier) RemoveAnchor(fp Fingerprint) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	c, ok := v.anchors[fp]
	if !ok {
		return fmt.Errorf("CA %s is not trusted: %w", fp.Grouped(), fs.ErrNotExist)
	}
	if fp == v.own {
		return fmt.Errorf("CA %s is this node's own team %q and cannot be removed", fp.Grouped(), c.Subject.CommonName)
	}
	delete(v.anchors, fp)
	delete(v.teams, c.Subject.CommonName)
	v.cache.clear()
	v.rebuildPoolLocked()
	return nil
}

func (v *Verifier) rebuildPoolLocked() {
	pool := x509.NewCertPool()
	for _, c := range v.anchors {
		pool.AddCert(c)
	}
	v.pool = pool
}

// Anchors lists the trusted team CAs, by team name.
func (v *Verifier) Anchors() []Anchor {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make([]Anchor, 0, len(v.anchors))
	for _, c := range v.anchors {
		out = append(out, anchorOf(c, v.own))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Team < out[j].Team })
	return out
}

// TrustPool returns the current trusted CAs as a pool (a snapshot: later changes do not show).
func (v *Verifier) TrustPool() *x509.CertPool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.pool == nil {
		return x509.NewCertPool()
	}
	return v.pool.Clone()
}

// SeenCA is an untrusted team CA a peer presented during a refused TLS handshake.
type SeenCA struct {
	Anchor
	Cert     *x509.Certificate
	LastSeen time.Time
}

// maxSeenCAs bounds the untrusted CAs remembered for "trust this team?" prompts.
const maxSeenCAs = 32

type seenCAs struct{ list []SeenCA }

func (s *seenCAs) add(c *x509.Certificate, now time.Time) {
	fp := FingerprintOf(c.Raw)
	for i := range s.list {
		if s.list[i].Fingerprint == fp {
			s.list[i].LastSeen = now
			return
		}
	}
	if len(s.list) >= maxSeenCAs {
		oldest := 0
		for i := range s.list {
			if s.list[i].LastSeen.Before(s.list[oldest].LastSeen) {
				oldest = i
			}
		}
		s.list = append(s.list[:oldest], s.list[oldest+1:]...)
	}
	s.list = append(s.list, SeenCA{Anchor: anchorOf(c, Fingerprint{}), Cert: c, LastSeen: now})
}

func (s *seenCAs) remove(fp Fingerprint) {
	for i := range s.list {
		if s.list[i].Fingerprint == fp {
			s.list = append(s.list[:i], s.list[i+1:]...)
			return
		}
	}
}

// SeenUntrusted lists the untrusted team CAs peers have presented (at most 32, most recent
// kept), so a user can be asked whether to trust one by its fingerprint.
func (v *Verifier) SeenUntrusted() []SeenCA {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := append([]SeenCA(nil), v.seen.list...)
	sort.Slice(out, func(i, j int) bool { return out[i].LastSeen.After(out[j].LastSeen) })
	return out
}

// seenCA returns a remembered untrusted CA by fingerprint.
func (v *Verifier) seenCA(fp Fingerprint) (*x509.Certificate, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, s := range v.seen.list {
		if s.Fingerprint == fp {
			return s.Cert, true
		}
	}
	return nil, false
}

// ParseCAFile picks the one team CA certificate out of PEM data (a ca.pem, or a node.pem that
// holds a member certificate followed by its CA). It refuses data holding a private key, so a CA
// key or an enrolment bundle is never copied around as if it were a certificate.
func ParseCAFile(data []byte) (*x509.Certificate, error) {
	pc, err := decodePEM(data)
	if err != nil {
		return nil, err
	}
	if len(pc.keys) != 0 {
		return nil, fmt.Errorf("the file holds a private key: pass the CA certificate (ca.pem), never a key or a bundle")
	}
	var found *x509.Certificate
	for _, c := range pc.certs {
		if c.IsCA {
			if found != nil {
				return nil, fmt.Errorf("the file holds more than one CA certificate")
			}
			found = c
		}
	}
	if found == nil {
		return nil, fmt.Errorf("the file holds no CA certificate")
	}
	return found, checkCACert(found)
}

// TrustAdd makes the node in dataDir trust another team's CA, read from caPEMPath. The CA must
// be valid at now and its team name must not be taken by a CA already trusted. A running node
// picks the change up through (*Identity).TrustCA instead.
func TrustAdd(dataDir, caPEMPath string, now time.Time) (Anchor, error) {
	data, err := readBounded(caPEMPath)
	if err != nil {
		return Anchor{}, err
	}
	c, err := ParseCAFile(data)
	if err != nil {
		return Anchor{}, fmt.Errorf("%s: %w", caPEMPath, err)
	}
	v, err := loadTrust(dataDir)
	if err != nil {
		return Anchor{}, err
	}
	return v.trustAndSave(c, now)
}

// trustAndSave checks c at now, trusts it and, when the verifier has a data directory, writes
// it to trust/.
func (v *Verifier) trustAndSave(c *x509.Certificate, now time.Time) (Anchor, error) {
	if now.Before(c.NotBefore) || now.After(c.NotAfter) {
		return Anchor{}, fmt.Errorf("%w: CA %q valid from %s to %s", ErrCertExpired, c.Subject.CommonName,
			c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339))
	}
	if err := v.AddAnchor(c); err != nil {
		return Anchor{}, err
	}
	if v.dir != "" {
		dir := filepath.Join(v.dir, trustDir)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return Anchor{}, err
		}
		if err := writeFileAtomic(filepath.Join(dir, FingerprintOf(c.Raw).String()+".pem"), encodeCertPEM(c.Raw), 0o644); err != nil {
			return Anchor{}, err
		}
	}
	return anchorOf(c, v.own), nil
}

// TrustList lists the team CAs the node in dataDir trusts, its own team marked Own.
func TrustList(dataDir string) ([]Anchor, error) {
	v, err := loadTrust(dataDir)
	if err != nil {
		return nil, err
	}
	return v.Anchors(), nil
}

// TrustRemove stops the node in dataDir trusting a team CA, named by its full fingerprint.
func TrustRemove(dataDir string, fp Fingerprint) error {
	v, err := loadTrust(dataDir)
	if err != nil {
		return err
	}
	if err := v.RemoveAnchor(fp); err != nil {
		return err
	}
	return os.Remove(filepath.Join(dataDir, trustDir, fp.String()+".pem"))
}

// loadTrust builds a verifier from dataDir's trust/ directory and its own team CA (the last
// certificate of node.pem, when there is one). Unreadable or invalid files are skipped with
// a logged warning: one bad file must not cut a node off from every team.
func loadTrust(dataDir string) (*Verifier, error) {
	v := &Verifier{dir: dataDir}
	if data, err := readBounded(filepath.Join(dataDir, nodeCertFile)); err == nil {
		if pc, err := decodePEM(data); err == nil && len(pc.certs) == 2 && checkCACert(pc.certs[1]) == nil {
			v.own = FingerprintOf(pc.certs[1].Raw)
			if err := v.AddAnchor(pc.certs[1]); err != nil {
				return nil, err
			}
		}
	}
	dir := filepath.Join(dataDir, trustDir)
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".pem") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		data, err := readBounded(path)
		if err == nil {
			var c *x509.Certificate
			if c, err = ParseCAFile(data); err == nil {
				err = v.AddAnchor(c)
			}
		}
		if err != nil {
			v.logger().Warn("identity: trusted CA file skipped", "path", path, "err", err)
		}
	}
	return v, nil
}
