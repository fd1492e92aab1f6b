package mesh

import (
	"crypto/sha256"
	"encoding/hex"
	"math/bits"
)

// IDBytes is the size of node and resource identifiers: 128 bits, as in RELOAD.
const IDBytes = 16

// NodeID names a peer: the first 128 bits of SHA-256 over its public key.
type NodeID [IDBytes]byte

// ResourceID names something stored in the overlay: the first 128 bits of SHA-256 over a
// canonical name such as "sip:101@team" or "tg:engine-1".
type ResourceID [IDBytes]byte

// NodeIDFromPublicKey derives a node's identifier from the bytes of its public key.
func NodeIDFromPublicKey(pub []byte) NodeID {
	sum := sha256.Sum256(pub)
	var id NodeID
	copy(id[:], sum[:IDBytes])
	return id
}

// ResourceIDFor hashes a canonical resource name.
func ResourceIDFor(name string) ResourceID {
	sum := sha256.Sum256([]byte(name))
	var id ResourceID
	copy(id[:], sum[:IDBytes])
	return id
}

// Resource returns the resource a node's own membership record is stored under.
func (n NodeID) Resource() ResourceID { return ResourceID(n) }

func (n NodeID) String() string     { return hex.EncodeToString(n[:]) }
func (n NodeID) Short() string      { return hex.EncodeToString(n[:4]) }
func (r ResourceID) String() string { return hex.EncodeToString(r[:]) }
func (r ResourceID) Short() string  { return hex.EncodeToString(r[:4]) }

// IsZero reports whether the identifier is all zeros (never a valid node).
func (n NodeID) IsZero() bool { return n == NodeID{} }

// Distance is the XOR metric of Kademlia between two identifiers.
type Distance [IDBytes]byte

// XOR returns the Kademlia distance between a and b.
func XOR(a, b [IDBytes]byte) Distance {
	var d Distance
	for i := range d {
		d[i] = a[i] ^ b[i]
	}
	return d
}

// Less reports whether d is strictly smaller than o.
func (d Distance) Less(o Distance) bool {
	for i := range d {
		if d[i] != o[i] {
			return d[i] < o[i]
		}
	}
	return false
}

// CommonPrefixLen is the number of leading bits a and b share (128 when equal).
func CommonPrefixLen(a, b [IDBytes]byte) int {
	for i := range a {
		if x := a[i] ^ b[i]; x != 0 {
			return i*8 + bits.LeadingZeros8(x)
		}
	}
	return IDBytes * 8
}

// Prefix returns the first n bits of id as an integer (n <= 32).
func Prefix(id [IDBytes]byte, n int) uint32 {
	if n == 0 {
		return 0
	}
	v := uint32(id[0])<<24 | uint32(id[1])<<16 | uint32(id[2])<<8 | uint32(id[3])
	return v >> (32 - n)
}

// Bit returns bit i (0 = most significant) of id.
func Bit(id [IDBytes]byte, i int) int {
	return int(id[i/8]>>(7-i%8)) & 1
}
