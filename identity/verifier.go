package identity

import (
	"container/list"
	"crypto/ed25519"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/bits"
	"sync"
	"time"

	"meshcomm/mesh"
)

const maxCredentialBytes = mesh.MaxCredentialBytes

// MaxCachedCertificates bounds the verifier's cache of certificates whose chain it has checked.
const MaxCachedCertificates = 4096

// Errors a credential is refused with, besides mesh.ErrRevoked, mesh.ErrBadSignature and
// *UntrustedError (which matches ErrUntrusted).
var (
	ErrCertExpired = errors.New("certificate is not valid at this time")
	ErrCredential  = errors.New("credential is malformed")
	ErrProfile     = errors.New("certificate does not fit the meshcomm profile")
	ErrUntrusted   = errors.New("untrusted team")
)

// Refusal reasons, as counted by Refusals.
const (
	ReasonMalformed    = "malformed"
	ReasonUntrusted    = "untrusted"
	ReasonExpired      = "expired"
	ReasonRevoked      = "revoked"
	ReasonBadSignature = "bad-signature"
	ReasonProfile      = "profile"
	ReasonRevocation   = "bad-revocation"
)

// Verifier authenticates record signatures and TLS peers against a live trust bundle. It is a
// mesh.Verifier. It is safe for concurrent use; trusted CAs and revocations can be added while
// it is in use.
//
// A record credential is exactly one DER member or CA certificate (team CAs cannot have
// intermediates, so nothing else is needed and records stay small). A member certificate
// verifies as mesh.Identity{Node, Name: its sip: address}; a trusted CA certificate itself
// verifies as mesh.Identity{Node, Authority: true}.
type Verifier struct {
	// Now is the clock certificates are checked against; nil means time.Now.
	Now func() time.Time
	// Logger receives refusals (the 1st, 2nd, 4th, 8th... of each reason, so a flood of bad
	// records cannot flood the log); nil means slog.Default().
	Logger *slog.Logger
	// OnUntrusted, when set, is told of every TLS peer refused because its team CA is not
	// trusted, so the runtime can show "untrusted team nearby" even when the transport hides
	// the handshake error. It is called synchronously from the handshake; set it before use.
	OnUntrusted func(*UntrustedError)

	mu       sync.Mutex
	anchors  map[Fingerprint]*x509.Certificate
	teams    map[string]Fingerprint // team name -> its trusted CA
	own      Fingerprint            // the node's own team CA, which cannot be removed
	pool     *x509.CertPool         // rebuilt whenever anchors change; read-only once built
	revoked  map[Fingerprint]revocationEntry
	cache    certCache
	seen     seenCAs
	refusals map[string]uint64
	dir      string // data directory revocations and trusted CAs persist to; "" for none
}

var _ mesh.Verifier = (*Verifier)(nil)

// NewVerifier makes a verifier that trusts the given team CAs.
func NewVerifier(anchors ...*x509.Certificate) (*Verifier, error) {
	v := &Verifier{}
	for _, a := range anchors {
		if err := v.AddAnchor(a); err != nil {
			return nil, err
		}
	}
	return v, nil
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// verified is what a successful chain check established about a certificate.
type verified struct {
	pub       ed25519.PublicKey
	id        mesh.Identity
	leaf      *x509.Certificate
	anchor    Fingerprint
	notBefore time.Time
	notAfter  time.Time
}

// Verify implements mesh.Verifier: the credential must be one certificate chaining to a trusted
// team CA, valid now, not revoked, fitting the profile, and sig must be its key's signature of msg.
func (v *Verifier) Verify(credential, msg, sig []byte) (mesh.Identity, error) {
	if len(credential) == 0 || len(credential) > maxCredentialBytes {
		return mesh.Identity{}, v.refuse(ReasonMalformed, fmt.Errorf("%w: %d bytes (limit %d)", ErrCredential, len(credential), maxCredentialBytes))
	}
	if len(sig) != ed25519.SignatureSize {
		return mesh.Identity{}, v.refuse(ReasonBadSignature, fmt.Errorf("%w: signature is %d bytes", mesh.ErrBadSignature, len(sig)))
	}
	vc, err := v.credential(credential)
	if err != nil {
		return mesh.Identity{}, err
	}
	if !ed25519.Verify(vc.pub, msg, sig) {
		return mesh.Identity{}, v.refuse(ReasonBadSignature, mesh.ErrBadSignature)
	}
	return vc.id, nil
}

// credential returns the checked certificate of a credential, from the cache when it was
// checked before (then only its validity period and revocation are looked at again).
func (v *Verifier) credential(der []byte) (*verified, error) {
	fp := FingerprintOf(der)
	now := v.now()
	v.mu.Lock()
	vc, hit := v.cache.get(fp)
	if hit {
		_, revoked := v.revoked[fp]
		_, trusted := v.anchors[vc.anchor]
		v.mu.Unlock()
		switch {
		case revoked:
			return nil, v.refuse(ReasonRevoked, fmt.Errorf("%w: certificate %s", mesh.ErrRevoked, fp.Short()))
		case now.Before(vc.notBefore) || now.After(vc.notAfter):
			return nil, v.refuse(ReasonExpired, fmt.Errorf("%w: %s", ErrCertExpired, vc.id.Name))
		case trusted:
			return vc, nil
		}
		// Its CA is no longer trusted: check it again from scratch, which refuses it.
	} else {
		v.mu.Unlock()
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, v.refuse(ReasonMalformed, fmt.Errorf("%w: %v", ErrCredential, err))
	}
	vc, err = v.check(leaf, nil, now, x509.ExtKeyUsageAny)
	if err != nil {
		return nil, err
	}
	v.mu.Lock()
	v.cache.put(fp, vc)
	v.mu.Unlock()
	return vc, nil
}

// check verifies a certificate's chain to a trusted CA at now for the given use, its profile
// and its revocation status. Untrusted peers' CAs offered in others are remembered (see
// SeenUntrusted).
func (v *Verifier) check(leaf *x509.Certificate, others []*x509.Certificate, now time.Time, usage ...x509.ExtKeyUsage) (*verified, error) {
	pub, ok := leaf.PublicKey.(ed25519.PublicKey)
	if !ok {
		return nil, v.refuse(ReasonProfile, fmt.Errorf("%w: %T key, want ed25519", ErrProfile, leaf.PublicKey))
	}
	v.mu.Lock()
	pool := v.pool
	v.mu.Unlock()
	if pool == nil {
		pool = x509.NewCertPool()
	}
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, KeyUsages: usage})
	if err != nil {
		return nil, v.classifyChainError(leaf, others, err)
	}
	chain := chains[0]
	anchor := chain[len(chain)-1]
	vc := &verified{pub: pub, leaf: leaf, anchor: FingerprintOf(anchor.Raw), notBefore: anchor.NotBefore, notAfter: anchor.NotAfter}
	for _, c := range chain {
		if c.NotBefore.After(vc.notBefore) {
			vc.notBefore = c.NotBefore
		}
		if c.NotAfter.Before(vc.notAfter) {
			vc.notAfter = c.NotAfter
		}
	}
	vc.id.Node = mesh.NodeIDFromPublicKey(pub)
	if leaf.IsCA {
		if len(chain) != 1 {
			return nil, v.refuse(ReasonProfile, fmt.Errorf("%w: CA certificate %q is not a trusted team CA", ErrProfile, leaf.Subject.CommonName))
		}
		vc.id.Authority = true
		return vc, nil
	}
	aor, _, team, err := certAoR(leaf)
	if err != nil {
		return nil, v.refuse(ReasonProfile, fmt.Errorf("%w: %v", ErrProfile, err))
	}
	if team != anchor.Subject.CommonName {
		return nil, v.refuse(ReasonProfile, fmt.Errorf("%w: %s issued by CA of team %q, which may only name its own team",
			ErrProfile, aor, anchor.Subject.CommonName))
	}
	vc.id.Name = aor
	fp := FingerprintOf(leaf.Raw)
	v.mu.Lock()
	_, revoked := v.revoked[fp]
	v.mu.Unlock()
	if revoked {
		return nil, v.refuse(ReasonRevoked, fmt.Errorf("%w: %s (certificate %s)", mesh.ErrRevoked, aor, fp.Short()))
	}
	return vc, nil
}

// classifyChainError turns a failed chain check into a counted refusal: an unknown CA becomes an
// *UntrustedError naming the peer's team (and its CA's fingerprint when the peer sent its CA).
func (v *Verifier) classifyChainError(leaf *x509.Certificate, others []*x509.Certificate, err error) error {
	var unknown x509.UnknownAuthorityError
	if errors.As(err, &unknown) {
		ue := &UntrustedError{Team: leafTeam(leaf), Node: nodeOf(leaf)}
		if aor, _, _, aerr := certAoR(leaf); aerr == nil {
			ue.AoR = aor
		}
		if ca := issuerAmong(leaf, others); ca != nil {
			ue.Team = ca.Subject.CommonName
			ue.CAFingerprint = FingerprintOf(ca.Raw)
			v.mu.Lock()
			v.seen.add(ca, v.now())
			v.mu.Unlock()
		}
		return v.refuse(ReasonUntrusted, ue)
	}
	var invalid x509.CertificateInvalidError
	if errors.As(err, &invalid) && invalid.Reason == x509.Expired {
		return v.refuse(ReasonExpired, fmt.Errorf("%w: %v", ErrCertExpired, err))
	}
	return v.refuse(ReasonProfile, fmt.Errorf("%w: %v", ErrProfile, err))
}

// issuerAmong returns the self-signed team CA among others that signed leaf, if any.
func issuerAmong(leaf *x509.Certificate, others []*x509.Certificate) *x509.Certificate {
	for _, c := range others {
		if checkCACert(c) == nil && leaf.CheckSignatureFrom(c) == nil {
			return c
		}
	}
	return nil
}

func leafTeam(c *x509.Certificate) string {
	if len(c.Subject.Organization) == 1 {
		return c.Subject.Organization[0]
	}
	return c.Issuer.CommonName
}

func nodeOf(c *x509.Certificate) mesh.NodeID {
	if pub, ok := c.PublicKey.(ed25519.PublicKey); ok {
		return mesh.NodeIDFromPublicKey(pub)
	}
	return mesh.NodeID{}
}

// refuse counts a refusal by reason and logs it when its count is a power of two.
func (v *Verifier) refuse(reason string, err error) error {
	v.mu.Lock()
	if v.refusals == nil {
		v.refusals = make(map[string]uint64)
	}
	v.refusals[reason]++
	n := v.refusals[reason]
	v.mu.Unlock()
	if bits.OnesCount64(n) == 1 {
		v.logger().Warn("identity: credential refused", "reason", reason, "count", n, "err", err)
	}
	return err
}

func (v *Verifier) logger() *slog.Logger {
	if v.Logger != nil {
		return v.Logger
	}
	return slog.Default()
}

// Refusals returns how many credentials were refused, by reason.
func (v *Verifier) Refusals() map[string]uint64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make(map[string]uint64, len(v.refusals))
	for k, n := range v.refusals {
		out[k] = n
	}
	return out
}

// certCache is a least-recently-used set of checked certificates, keyed by fingerprint.
type certCache struct {
	order *list.List // of *cacheEntry, most recent first
	index map[Fingerprint]*list.Element
}

type cacheEntry struct {
	fp Fingerprint
	vc *verified
}

func (c *certCache) get(fp Fingerprint) (*verified, bool) {
	e, ok := c.index[fp]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*cacheEntry).vc, true
}

func (c *certCache) put(fp Fingerprint, vc *verified) {
	if c.index == nil {
		c.order = list.New()
		c.index = make(map[Fingerprint]*list.Element)
	}
	if e, ok := c.index[fp]; ok {
		e.Value.(*cacheEntry).vc = vc
		c.order.MoveToFront(e)
		return
	}
	c.index[fp] = c.order.PushFront(&cacheEntry{fp: fp, vc: vc})
	if c.order.Len() > MaxCachedCertificates {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.index, last.Value.(*cacheEntry).fp)
	}
}

func (c *certCache) remove(fp Fingerprint) {
	if e, ok := c.index[fp]; ok {
		c.order.Remove(e)
		delete(c.index, fp)
	}
}

func (c *certCache) clear() { c.order, c.index = nil, nil }

func (c *certCache) len() int { return len(c.index) }
