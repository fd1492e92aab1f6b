package sim

import (
	"bytes"
	"sync"

	"meshcomm/mesh"
)

// sharedVerifier is the one verifier every simulated node uses. It remembers the signatures it
// has accepted, with the exact credential and message they were checked against, so that a
// record copied to thousands of nodes is checked with ed25519 once per run instead of once per
// receiver. The answer is the same either way: a hit needs byte-identical credential, message and
// signature, and refusals are never remembered (they are checked every time). The simulator does
// not model CPU time, so this changes how long a run takes and nothing it measures. Cores of
// different nodes call it at once (the engine's workers), so it locks: a read lock for the
// common hit, and the inner verifier (which caches credentials in a plain map) one call at a time.
type sharedVerifier struct {
	mu       sync.RWMutex
	accepted map[[64]byte]acceptedSignature
	innerMu  sync.Mutex
	inner    mesh.Verifier
}

// acceptedSignature is one remembered success.
type acceptedSignature struct {
	cred, msg []byte
	id        mesh.Identity
}

// maxAcceptedSignatures bounds the memory the verifier keeps; past it, it starts afresh.
const maxAcceptedSignatures = 1 << 20

func newSharedVerifier(inner mesh.Verifier) *sharedVerifier {
	return &sharedVerifier{inner: inner, accepted: map[[64]byte]acceptedSignature{}}
}

// Verify answers from memory when this exact signature has been accepted before.
func (v *sharedVerifier) Verify(cred, msg, sig []byte) (mesh.Identity, error) {
	var key [64]byte
	if len(sig) == len(key) {
		copy(key[:], sig)
		v.mu.RLock()
		a, ok := v.accepted[key]
		v.mu.RUnlock()
		if ok && bytes.Equal(a.cred, cred) && bytes.Equal(a.msg, msg) {
			return a.id, nil
		}
	}
	v.innerMu.Lock()
	id, err := v.inner.Verify(cred, msg, sig)
	v.innerMu.Unlock()
	if err != nil || len(sig) != len(key) {
		return id, err
	}
	v.mu.Lock()
	if len(v.accepted) >= maxAcceptedSignatures {
		v.accepted = map[[64]byte]acceptedSignature{}
	}
	v.accepted[key] = acceptedSignature{cred: bytes.Clone(cred), msg: bytes.Clone(msg), id: id}
	v.mu.Unlock()
	return id, nil
}
