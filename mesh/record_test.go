package mesh

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"reflect"
	"testing"
)

func TestRecordNewer(t *testing.T) {
	rec := func(version uint64, deleted bool, sig string) *Record {
		return &Record{Version: version, Deleted: deleted, Signature: []byte(sig)}
	}
	tests := []struct {
		name string
		r, o *Record
		want bool
	}{
		{"higher version", rec(2, false, "a"), rec(1, false, "z"), true},
		{"lower version", rec(1, false, "z"), rec(2, false, "a"), false},
		{"higher version beats a deletion", rec(3, false, "a"), rec(2, true, "a"), true},
		{"lower version loses to a live record", rec(1, true, "a"), rec(2, false, "a"), false},
		{"deletion wins a tie", rec(2, true, "a"), rec(2, false, "z"), true},
		{"live loses a tie to a deletion", rec(2, false, "z"), rec(2, true, "a"), false},
		{"tie broken by greater signature", rec(2, false, "b"), rec(2, false, "a"), true},
		{"tie lost by smaller signature", rec(2, false, "a"), rec(2, false, "b"), false},
		{"identical is not newer", rec(2, false, "a"), rec(2, false, "a"), false},
		{"identical deletions", rec(2, true, "a"), rec(2, true, "a"), false},
	}
	for _, tc := range tests {
		if got := tc.r.Newer(tc.o); got != tc.want {
			t.Errorf("%s: Newer = %v, want %v", tc.name, got, tc.want)
		}
		// Never both newer than each other: replicas must converge on one winner.
		if tc.r.Newer(tc.o) && tc.o.Newer(tc.r) {
			t.Errorf("%s: each is newer than the other", tc.name)
		}
	}
}

func TestRecordExpired(t *testing.T) {
	r := Record{Expiry: 1000}
	if r.Expired(999) || !r.Expired(1000) || !r.Expired(1001) {
		t.Fatal("Expired must be true from the expiry instant on, false before")
	}
}

// mutateField returns copies of r, one per field but Signature, each with that one field changed.
func mutateField(t *testing.T, r Record) map[string]Record {
	t.Helper()
	out := map[string]Record{}
	rt := reflect.TypeOf(r)
	for i := range rt.NumField() {
		f := rt.Field(i)
		if f.Name == "Signature" {
			continue
		}
		m := r
		m.Key = append([]byte{}, r.Key...)
		m.Value = append([]byte{}, r.Value...)
		m.Owner = append([]byte{}, r.Owner...)
		v := reflect.ValueOf(&m).Elem().Field(i)
		switch v.Kind() {
		case reflect.Array:
			v.Index(3).SetUint(v.Index(3).Uint() ^ 1)
		case reflect.Slice:
			v.SetBytes(append(v.Bytes(), 'x'))
		case reflect.Uint8, reflect.Uint64:
			v.SetUint(v.Uint() + 1)
		case reflect.Int64:
			v.SetInt(v.Int() + 1)
		case reflect.Bool:
			v.SetBool(!v.Bool())
		default:
			t.Fatalf("field %s has kind %s the test cannot change; extend it", f.Name, v.Kind())
		}
		out[f.Name] = m
	}
	return out
}

func TestSignedBytesCoverEveryField(t *testing.T) {
	auth, s := issueMember(t, 1, 2, "sip:101@team")
	// A message record: the kind whose key may be longer than a node ID, and whose next kind
	// (revocation) is still a valid kind.
	node := s.Identity().Node
	r := Record{Resource: ResourceIDFor("sip:101@team"), Kind: KindMessage, Key: append(node[:], 'i', 'd'),
		Value: []byte("see you at the truck"), Version: 10, Expiry: 5000}
	r.Sign(s)
	v := &Ed25519Verifier{Trusted: []ed25519.PublicKey{auth.PublicKey()}}
	if _, err := VerifyRecord(v, &r); err != nil {
		t.Fatalf("unchanged record refused: %v", err)
	}
	for field, m := range mutateField(t, r) {
		if bytes.Equal(m.SignedBytes(), r.SignedBytes()) {
			t.Errorf("changing %s leaves SignedBytes unchanged", field)
		}
		_, err := VerifyRecord(v, &m)
		switch {
		case err == nil:
			t.Errorf("record with changed %s still verifies", field)
		case field != "Owner" && !errors.Is(err, ErrBadSignature):
			t.Errorf("record with changed %s: err = %v, want ErrBadSignature", field, err)
		}
	}
}

func TestSignedBytesAreUnambiguous(t *testing.T) {
	a := Record{Key: []byte("ab"), Value: []byte("c")}
	b := Record{Key: []byte("a"), Value: []byte("bc")}
	c := Record{Value: []byte("c"), Owner: []byte("o")}
	d := Record{Value: []byte("co")}
	if bytes.Equal(a.SignedBytes(), b.SignedBytes()) || bytes.Equal(c.SignedBytes(), d.SignedBytes()) {
		t.Fatal("moving bytes between adjacent fields leaves SignedBytes unchanged")
	}
}

func TestCheckAccess(t *testing.T) {
	const name = "sip:101@team"
	me := Identity{Node: NodeID{1, 2, 3}, Name: name}
	other := NodeID{9, 9, 9}
	mine := ResourceIDFor(name)
	theirs := ResourceIDFor("sip:102@team")
	bare := Identity{Node: me.Node} // a node without a user name
	authority := Identity{Node: me.Node, Authority: true}
	withID := func(n NodeID, suffix ...byte) []byte { return append(append([]byte{}, n[:]...), suffix...) }
	tests := []struct {
		name string
		id   Identity
		rec  Record
		want error
	}{
		// NODE-MATCH: a node writes only its own membership record.
		{"node: own", me, Record{Kind: KindNode, Resource: me.Node.Resource()}, nil},
		{"node: own, bare", bare, Record{Kind: KindNode, Resource: me.Node.Resource()}, nil},
		{"node: other's", me, Record{Kind: KindNode, Resource: other.Resource()}, ErrNotOwner},
		{"node: own with a key", me, Record{Kind: KindNode, Resource: me.Node.Resource(), Key: []byte{1}}, ErrNotOwner},
		// USER-MATCH: registration, presence and certificate live under the user's own name,
		// keyed by the writing node.
		{"registration: own", me, Record{Kind: KindRegistration, Resource: mine, Key: withID(me.Node)}, nil},
		{"registration: other user", me, Record{Kind: KindRegistration, Resource: theirs, Key: withID(me.Node)}, ErrNotOwner},
		{"registration: other node's key", me, Record{Kind: KindRegistration, Resource: mine, Key: withID(other)}, ErrNotOwner},
		{"registration: key with suffix", me, Record{Kind: KindRegistration, Resource: mine, Key: withID(me.Node, 0)}, ErrNotOwner},
		{"registration: bare node under empty name", bare, Record{Kind: KindRegistration, Resource: ResourceIDFor(""), Key: withID(me.Node)}, ErrNotOwner},
		{"presence: own", me, Record{Kind: KindPresence, Resource: mine, Key: withID(me.Node)}, nil},
		{"presence: other user", me, Record{Kind: KindPresence, Resource: theirs, Key: withID(me.Node)}, ErrNotOwner},
		{"certificate: own", me, Record{Kind: KindCertificate, Resource: mine, Key: withID(me.Node)}, nil},
		{"certificate: other user", me, Record{Kind: KindCertificate, Resource: theirs, Key: withID(me.Node)}, ErrNotOwner},
		{"certificate: other node's key", me, Record{Kind: KindCertificate, Resource: mine, Key: withID(other)}, ErrNotOwner},
		// Talkgroups: anyone may join any group, but only as itself.
		{"talkgroup: self", me, Record{Kind: KindTalkgroup, Resource: ResourceIDFor("tg:engine-1"), Key: withID(me.Node)}, nil},
		{"talkgroup: bare self", bare, Record{Kind: KindTalkgroup, Resource: ResourceIDFor("tg:engine-1"), Key: withID(me.Node)}, nil},
		{"talkgroup: someone else", me, Record{Kind: KindTalkgroup, Resource: ResourceIDFor("tg:engine-1"), Key: withID(other)}, ErrNotOwner},
		// Messages: the sender (key prefix) or the recipient (resource owner).
		{"message: sent by me to another", me, Record{Kind: KindMessage, Resource: theirs, Key: withID(me.Node, 'm', '1')}, nil},
		{"message: sent by bare me", bare, Record{Kind: KindMessage, Resource: theirs, Key: withID(me.Node, 'm')}, nil},
		{"message: to me, from another (recipient deletes)", me, Record{Kind: KindMessage, Resource: mine, Key: withID(other, 'm')}, nil},
		{"message: between others", me, Record{Kind: KindMessage, Resource: theirs, Key: withID(other, 'm')}, ErrNotOwner},
		{"message: short key", me, Record{Kind: KindMessage, Resource: theirs, Key: me.Node[:8]}, ErrNotOwner},
		// Revocations: authorities only.
		{"revocation: authority", authority, Record{Kind: KindRevocation, Resource: theirs}, nil},
		{"revocation: member", me, Record{Kind: KindRevocation, Resource: theirs}, ErrNotOwner},
		// Unknown kinds.
		{"kind 0", me, Record{Kind: 0, Resource: me.Node.Resource()}, ErrMalformed},
		{"kind past the last", me, Record{Kind: maxKind + 1, Resource: me.Node.Resource()}, ErrMalformed},
		{"kind 255", authority, Record{Kind: 255, Resource: mine, Key: withID(me.Node)}, ErrMalformed},
	}
	covered := map[Kind]bool{}
	for _, tc := range tests {
		if err := CheckAccess(&tc.rec, tc.id); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%s: CheckAccess = %v, want %v", tc.name, err, tc.want)
		}
		if tc.want == nil {
			covered[tc.rec.Kind] = true
		}
	}
	for k := Kind(1); k <= maxKind; k++ {
		if !covered[k] {
			t.Errorf("no allowed case for kind %s", k)
		}
	}
}

func TestVerifyRecordRefusesMalformed(t *testing.T) {
	auth, s := issueMember(t, 1, 2, "sip:101@team")
	v := &Ed25519Verifier{Trusted: []ed25519.PublicKey{auth.PublicKey()}}
	node := s.Identity().Node
	mine := ResourceIDFor("sip:101@team")
	msgKey := func(n int) []byte { return append(append([]byte{}, node[:]...), make([]byte, n-IDBytes)...) }
	tests := []struct {
		name string
		rec  Record
		want error // nil: accepted
	}{
		{"key at limit", Record{Kind: KindMessage, Resource: mine, Key: msgKey(MaxKeyBytes)}, nil},
		{"key over limit", Record{Kind: KindMessage, Resource: mine, Key: msgKey(MaxKeyBytes + 1)}, ErrMalformed},
		{"value at limit", Record{Kind: KindMessage, Resource: mine, Key: msgKey(IDBytes), Value: make([]byte, MaxValueBytes)}, nil},
		{"value over limit", Record{Kind: KindMessage, Resource: mine, Key: msgKey(IDBytes), Value: make([]byte, MaxValueBytes+1)}, ErrMalformed},
		{"kind 0", Record{Kind: 0, Resource: mine, Key: node[:]}, ErrMalformed},
		{"unknown kind", Record{Kind: maxKind + 1, Resource: mine, Key: node[:]}, ErrMalformed},
		{"not the owner", Record{Kind: KindRegistration, Resource: ResourceIDFor("sip:102@team"), Key: node[:]}, ErrNotOwner},
		{"revocation by a member", Record{Kind: KindRevocation, Resource: mine}, ErrNotOwner},
	}
	for _, tc := range tests {
		tc.rec.Version, tc.rec.Expiry = 1, 1000
		tc.rec.Sign(s)
		_, err := VerifyRecord(v, &tc.rec)
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%s: VerifyRecord = %v, want %v", tc.name, err, tc.want)
		}
	}
}

// The signer is authenticated before the access policy is applied, so a forged record is
// refused as forged even when its claimed owner could have written it.
func TestVerifyRecordChecksSignatureBeforeAccess(t *testing.T) {
	auth, s := issueMember(t, 1, 2, "sip:101@team")
	v := &Ed25519Verifier{Trusted: []ed25519.PublicKey{auth.PublicKey()}}
	r := registrationBy(s)
	r.Signature[0] ^= 1
	if _, err := VerifyRecord(v, &r); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("VerifyRecord(forged) = %v, want ErrBadSignature", err)
	}
	r = registrationBy(s)
	r.Resource = ResourceIDFor("sip:102@team") // changed after signing
	if _, err := VerifyRecord(v, &r); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("VerifyRecord(re-addressed) = %v, want ErrBadSignature", err)
	}
}

func TestRecordKeyHash(t *testing.T) {
	base := Record{Resource: ResourceIDFor("sip:101@team"), Kind: KindRegistration, Key: []byte("k"), Version: 1}
	h := base.RecordKey().Hash()
	later := base
	later.Version, later.Value, later.Deleted = 9, []byte("v"), true
	if later.RecordKey().Hash() != h {
		t.Fatal("identity hash depends on version, value or deletion")
	}
	for name, o := range map[string]Record{
		"resource": {Resource: ResourceIDFor("sip:102@team"), Kind: base.Kind, Key: base.Key},
		"kind":     {Resource: base.Resource, Kind: KindPresence, Key: base.Key},
		"key":      {Resource: base.Resource, Kind: base.Kind, Key: []byte("l")},
	} {
		if o.RecordKey().Hash() == h {
			t.Errorf("identity hash ignores the %s", name)
		}
	}
}
