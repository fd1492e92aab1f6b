package mesh

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
)

// Identity is what a verified credential says about its holder.
type Identity struct {
	Node      NodeID // hash of the holder's public key
	Name      string // the user's address of record, e.g. "sip:101@team"; empty for a bare node
	Authority bool   // the credential belongs to a trust authority (it may sign revocations)
}

// Signer signs records on behalf of one identity.
type Signer interface {
	Identity() Identity
	Credential() []byte // opaque to the overlay; the Verifier understands it
	Sign(msg []byte) []byte
}

// Verifier authenticates a signature made under a credential and says whose it is. It must
// refuse credentials that do not chain to a trusted authority and credentials that are revoked.
type Verifier interface {
	Verify(credential, msg, sig []byte) (Identity, error)
}

// Ed25519 credentials: the scheme the overlay uses until identities are bound to X.509
// certificates. A team authority holds an ed25519 key; a member's credential is
//
//	"mc1" | pubkey(32) | nameLen(1) | name | authorityPub(32) | authoritySig(64)
//
// where authoritySig signs "meshcomm-cred-v1" | pubkey | nameLen(2, big-endian) | name. The
// verifier trusts a set of authority public keys. Keys are derived from seeds the caller
// supplies, so the scheme does no I/O and draws no randomness of its own.

var errCredential = errors.New("credential is malformed")

// Authority is a team's signing authority in the ed25519 scheme.
type Authority struct{ key ed25519.PrivateKey }

// NewAuthority derives an authority from a 32-byte seed.
func NewAuthority(seed [32]byte) *Authority {
	return &Authority{key: ed25519.NewKeyFromSeed(seed[:])}
}

// PublicKey returns the key verifiers must trust.
func (a *Authority) PublicKey() ed25519.PublicKey { return a.key.Public().(ed25519.PublicKey) }

// Issue creates a signer for the member whose key is derived from seed, named name.
func (a *Authority) Issue(seed [32]byte, name string) (*Ed25519Signer, error) {
	if len(name) > 255 {
		return nil, fmt.Errorf("name longer than 255 bytes")
	}
	key := ed25519.NewKeyFromSeed(seed[:])
	pub := key.Public().(ed25519.PublicKey)
	cred := []byte("mc1")
	cred = append(cred, pub...)
	cred = append(cred, byte(len(name)))
	cred = append(cred, name...)
	cred = append(cred, a.PublicKey()...)
	cred = append(cred, ed25519.Sign(a.key, credBody(pub, name))...)
	return &Ed25519Signer{key: key, cred: cred, id: Identity{Node: NodeIDFromPublicKey(pub), Name: name}}, nil
}

func credBody(pub []byte, name string) []byte {
	b := append([]byte("meshcomm-cred-v1"), pub...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(name)))
	return append(b, name...)
}

// Ed25519Signer is a member's signer in the ed25519 scheme.
type Ed25519Signer struct {
	key  ed25519.PrivateKey
	cred []byte
	id   Identity
}

func (s *Ed25519Signer) Identity() Identity     { return s.id }
func (s *Ed25519Signer) Credential() []byte     { return s.cred }
func (s *Ed25519Signer) Sign(msg []byte) []byte { return ed25519.Sign(s.key, msg) }

// Ed25519Verifier trusts credentials issued by any of its authorities. It remembers the
// credentials whose authority signature it has checked (a bounded set), so each is checked once;
// message signatures are checked every time. It is not safe for concurrent use.
type Ed25519Verifier struct {
	Trusted []ed25519.PublicKey
	checked map[string]struct{}
}

const maxCheckedCredentials = 1 << 16

// Verify checks the credential's authority signature and the message signature.
func (v *Ed25519Verifier) Verify(cred, msg, sig []byte) (Identity, error) {
	pub, name, authPub, authSig, err := parseCred(cred)
	if err != nil {
		return Identity{}, err
	}
	trusted := false
	for _, t := range v.Trusted {
		if bytes.Equal(t, authPub) {
			trusted = true
			break
		}
	}
	if !trusted {
		return Identity{}, fmt.Errorf("credential issued by an untrusted authority")
	}
	if _, ok := v.checked[string(cred)]; !ok {
		if !ed25519.Verify(authPub, credBody(pub, name), authSig) {
			return Identity{}, fmt.Errorf("credential's authority signature does not verify")
		}
		if v.checked == nil || len(v.checked) >= maxCheckedCredentials {
			v.checked = make(map[string]struct{})
		}
		v.checked[string(cred)] = struct{}{}
	}
	if len(sig) != ed25519.SignatureSize || !ed25519.Verify(pub, msg, sig) {
		return Identity{}, ErrBadSignature
	}
	return Identity{Node: NodeIDFromPublicKey(pub), Name: name}, nil
}

func parseCred(c []byte) (pub []byte, name string, authPub, authSig []byte, err error) {
	if len(c) < 3+32+1 || string(c[:3]) != "mc1" {
		return nil, "", nil, nil, errCredential
	}
	pub = c[3:35]
	n := int(c[35])
	rest := c[36:]
	if len(rest) != n+32+64 {
		return nil, "", nil, nil, errCredential
	}
	return pub, string(rest[:n]), rest[n : n+32], rest[n+32:], nil
}
