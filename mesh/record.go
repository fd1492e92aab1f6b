package mesh

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

// Kind says what a record means and which access policy guards it.
type Kind uint8

const (
	KindNode         Kind = 1 // a node's membership in the mesh (flood mode), key empty
	KindRegistration Kind = 2 // AoR -> node and SIP contact, key = registering node
	KindCertificate  Kind = 3 // a user's certificate, key = node
	KindPresence     Kind = 4 // availability of a user, key = node
	KindTalkgroup    Kind = 5 // membership of a push-to-talk group, key = member node
	KindMessage      Kind = 6 // a stored message or voicemail for an absent user, key = sender node + id
	KindRevocation   Kind = 7 // an authority's revocation of a credential
	maxKind               = KindRevocation
)

func (k Kind) String() string {
	switch k {
	case KindNode:
		return "node"
	case KindRegistration:
		return "registration"
	case KindCertificate:
		return "certificate"
	case KindPresence:
		return "presence"
	case KindTalkgroup:
		return "talkgroup"
	case KindMessage:
		return "message"
	case KindRevocation:
		return "revocation"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Limits on a record's variable parts; the codec refuses anything larger.
const (
	MaxKeyBytes        = 64
	MaxValueBytes      = 16 << 10
	MaxCredentialBytes = 4 << 10
	MaxSignatureBytes  = 512
)

// Record is one signed entry of the distributed store.
//
// A record is identified by (Resource, Kind, Key); among records with the same identity the
// higher Version wins, and at equal versions a deletion wins. Expiry is absolute, in Unix
// milliseconds; an expired record is dropped by every holder. Owner is the signer's credential
// (whose meaning belongs to the Verifier) and Signature covers every other field.
type Record struct {
	Resource  ResourceID
	Kind      Kind
	Key       []byte
	Value     []byte
	Version   uint64
	Expiry    int64
	Deleted   bool
	Owner     []byte
	Signature []byte
}

// RecordKey identifies a record independently of its version.
type RecordKey struct {
	Resource ResourceID
	Kind     Kind
	Key      string
}

// Key returns the record's identity.
func (r *Record) RecordKey() RecordKey {
	return RecordKey{Resource: r.Resource, Kind: r.Kind, Key: string(r.Key)}
}

// Hash is a 128-bit digest of the record's identity, used to place it in reconciliation ranges.
func (k RecordKey) Hash() [IDBytes]byte {
	h := sha256.New()
	h.Write(k.Resource[:])
	h.Write([]byte{byte(k.Kind)})
	h.Write([]byte(k.Key))
	var out [IDBytes]byte
	copy(out[:], h.Sum(nil))
	return out
}

// Newer reports whether r supersedes o (same identity assumed).
func (r *Record) Newer(o *Record) bool {
	if r.Version != o.Version {
		return r.Version > o.Version
	}
	if r.Deleted != o.Deleted {
		return r.Deleted
	}
	return bytes.Compare(r.Signature, o.Signature) > 0
}

// Expired reports whether the record is past its expiry at nowMs (Unix milliseconds).
func (r *Record) Expired(nowMs int64) bool { return nowMs >= r.Expiry }

// SignedBytes is the canonical byte string the owner signs: every field but the signature.
func (r *Record) SignedBytes() []byte {
	b := make([]byte, 0, 64+len(r.Key)+len(r.Value)+len(r.Owner))
	b = append(b, "meshcomm-record-v1"...)
	b = append(b, r.Resource[:]...)
	b = append(b, byte(r.Kind))
	b = binary.BigEndian.AppendUint16(b, uint16(len(r.Key)))
	b = append(b, r.Key...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.Value)))
	b = append(b, r.Value...)
	b = binary.BigEndian.AppendUint64(b, r.Version)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Expiry))
	if r.Deleted {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(r.Owner)))
	b = append(b, r.Owner...)
	return b
}

// Sign fills in the record's owner credential and signature with s.
func (r *Record) Sign(s Signer) {
	r.Owner = s.Credential()
	r.Signature = s.Sign(r.SignedBytes())
}

// Size is the record's approximate size in bytes, used for accounting and storage limits.
func (r *Record) Size() int {
	return IDBytes + 1 + len(r.Key) + len(r.Value) + 8 + 8 + 1 + len(r.Owner) + len(r.Signature) + 8
}

// Errors a record can be refused with. Every refusal is counted by reason.
var (
	ErrBadSignature = errors.New("record signature does not verify")
	ErrNotOwner     = errors.New("signer does not own the resource")
	ErrExpired      = errors.New("record has expired")
	ErrMalformed    = errors.New("record is malformed")
	ErrRevoked      = errors.New("signer's credential is revoked")
)

// CheckAccess applies the access policy of RELOAD's USER-MATCH and NODE-MATCH to a record
// whose signer has already been authenticated as id.
func CheckAccess(r *Record, id Identity) error {
	ownsName := id.Name != "" && r.Resource == ResourceIDFor(id.Name)
	keyIsNode := bytes.Equal(r.Key, id.Node[:])
	switch r.Kind {
	case KindNode:
		if r.Resource == id.Node.Resource() && len(r.Key) == 0 {
			return nil
		}
	case KindRegistration, KindPresence, KindCertificate:
		if ownsName && keyIsNode {
			return nil
		}
	case KindTalkgroup:
		if keyIsNode {
			return nil
		}
	case KindMessage:
		if ownsName || bytes.HasPrefix(r.Key, id.Node[:]) {
			return nil
		}
	case KindRevocation:
		if id.Authority {
			return nil
		}
	default:
		return ErrMalformed
	}
	return ErrNotOwner
}

// VerifyRecord authenticates a record's signer through v, then applies the access policy.
func VerifyRecord(v Verifier, r *Record) (Identity, error) {
	if r.Kind == 0 || r.Kind > maxKind || len(r.Key) > MaxKeyBytes || len(r.Value) > MaxValueBytes {
		return Identity{}, ErrMalformed
	}
	id, err := v.Verify(r.Owner, r.SignedBytes(), r.Signature)
	if err != nil {
		return Identity{}, err
	}
	if err := CheckAccess(r, id); err != nil {
		return id, err
	}
	return id, nil
}
