package mailbox

import (
	"crypto/ed25519"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"meshcomm/mesh"
	"meshcomm/mesh/store"
)

// t0 is the tests' fixed "now".
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// member is one user's node in the ed25519 test credential scheme.
type member struct {
	signer *mesh.Ed25519Signer
	key    ed25519.PrivateKey
	aor    string
}

func (m member) node() mesh.NodeID { return m.signer.Identity().Node }
func (m member) pub() ed25519.PublicKey {
	return m.key.Public().(ed25519.PublicKey)
}

// team is an authority, the verifier trusting it, and members 101, 102, 103...
type team struct {
	auth     *mesh.Authority
	verifier *mesh.Ed25519Verifier
	members  []member
}

func newTeam(t testing.TB, n int) *team {
	t.Helper()
	tm := &team{auth: mesh.NewAuthority([32]byte{0xA0})}
	tm.verifier = &mesh.Ed25519Verifier{Trusted: []ed25519.PublicKey{tm.auth.PublicKey()}}
	for i := range n {
		tm.members = append(tm.members, tm.issue(t, byte(i+1), fmt.Sprintf("sip:%d@team", 101+i)))
	}
	return tm
}

func (tm *team) issue(t testing.TB, seedByte byte, aor string) member {
	t.Helper()
	seed := [32]byte{seedByte, 0x5E}
	s, err := tm.auth.Issue(seed, aor)
	if err != nil {
		t.Fatal(err)
	}
	return member{signer: s, key: ed25519.NewKeyFromSeed(seed[:]), aor: aor}
}

// seededReader is a deterministic random source (ChaCha8) for message ids and ephemeral keys.
func seededReader(seed uint64) *rand.ChaCha8 {
	var s [32]byte
	for i := range 8 {
		s[i] = byte(seed >> (8 * i))
	}
	return rand.NewChaCha8(s)
}

func (tm *team) config(m member, seed uint64) Config {
	return Config{Signer: m.signer, Verifier: tm.verifier, Key: m.key, Rand: seededReader(seed)}
}

func (tm *team) mailbox(t testing.TB, i int, seed uint64) *Mailbox {
	t.Helper()
	mb, err := New(tm.config(tm.members[i], seed))
	if err != nil {
		t.Fatal(err)
	}
	return mb
}

// textMessage is a valid text message from a to b.
func textMessage(a, b member, id byte, text string) *Message {
	return &Message{ID: MessageID{id, 1}, Kind: KindText, FromAoR: a.aor, FromNode: a.node(), ToAoR: b.aor, SentAt: t0, Body: []byte(text)}
}

// refsOf returns the references of inbox entries.
func refsOf(es []InboxEntry) []MessageRef {
	out := make([]MessageRef, len(es))
	for i, e := range es {
		out[i] = e.Ref
	}
	return out
}

func nodeOfKey(key ed25519.PrivateKey) mesh.NodeID {
	return mesh.NodeIDFromPublicKey(key.Public().(ed25519.PublicKey))
}

// overlay is the distributed store as the tests see it: one mesh/store.Store that verifies
// records as every holder does before keeping them.
type overlay struct {
	t testing.TB
	s *store.Store
	v mesh.Verifier
}

func newOverlay(t testing.TB, v mesh.Verifier) *overlay { return &overlay{t: t, s: store.New(), v: v} }

// put stores records (verified first; a refusal fails the test) and reports how many changed
// the store.
func (o *overlay) put(now time.Time, recs ...*mesh.Record) int {
	o.t.Helper()
	n := 0
	for _, rec := range recs {
		if _, err := mesh.VerifyRecord(o.v, rec); err != nil {
			o.t.Fatalf("overlay refused a %s record: %v", rec.Kind, err)
		}
		if o.s.Put(*rec, now.UnixMilli()) {
			n++
		}
	}
	return n
}

// find returns the live message records at aor's resource.
func (o *overlay) find(now time.Time, aor string) []*mesh.Record {
	recs := o.s.Find(mesh.ResourceIDFor(aor), mesh.KindMessage, now.UnixMilli())
	out := make([]*mesh.Record, len(recs))
	for i := range recs {
		out[i] = &recs[i]
	}
	return out
}
