package mesh

import (
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"testing"
)

// randomID draws an identifier from r.
func randomID(r *rand.Rand) (id [IDBytes]byte) {
	for i := range id {
		id[i] = byte(r.Uint32())
	}
	return id
}

// withBit returns id with bit i (0 = most significant) flipped.
func withBit(id [IDBytes]byte, i int) [IDBytes]byte {
	id[i/8] ^= 0x80 >> (i % 8)
	return id
}

func TestXOR(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		a, b := randomID(r), randomID(r)
		d := XOR(a, b)
		for i := range d {
			if d[i] != a[i]^b[i] {
				t.Fatalf("XOR(%x, %x)[%d] = %02x, want %02x", a, b, i, d[i], a[i]^b[i])
			}
		}
		if XOR(b, a) != d {
			t.Fatalf("XOR is not symmetric for %x, %x", a, b)
		}
		if XOR(a, a) != (Distance{}) {
			t.Fatalf("XOR(a, a) = %x, want zero", XOR(a, a))
		}
	}
}

func TestDistanceLess(t *testing.T) {
	var zero Distance
	one := Distance{15: 1}
	top := Distance{0: 0x80}
	tests := []struct {
		name string
		a, b Distance
		want bool
	}{
		{"equal zero", zero, zero, false},
		{"zero below one", zero, one, true},
		{"one above zero", one, zero, false},
		{"first byte decides", top, Distance{0: 0x7f, 1: 0xff, 15: 0xff}, false},
		{"first byte decides, reversed", Distance{0: 0x7f, 1: 0xff, 15: 0xff}, top, true},
		{"last byte decides", Distance{15: 1}, Distance{15: 2}, true},
		{"equal nonzero", top, top, false},
	}
	for _, tc := range tests {
		if got := tc.a.Less(tc.b); got != tc.want {
			t.Errorf("%s: Less = %v, want %v", tc.name, got, tc.want)
		}
	}
	// Strict total order on random values: exactly one of a<b, b<a, a==b.
	r := rand.New(rand.NewPCG(3, 4))
	for range 500 {
		a, b := Distance(randomID(r)), Distance(randomID(r))
		if r.IntN(4) == 0 {
			b = a
		}
		lt, gt := a.Less(b), b.Less(a)
		if a == b && (lt || gt) || a != b && lt == gt {
			t.Fatalf("order broken for %x, %x: a<b %v, b<a %v", a, b, lt, gt)
		}
	}
}

func TestCommonPrefixLen(t *testing.T) {
	var zero [IDBytes]byte
	for i := 0; i < IDBytes*8; i++ {
		if got := CommonPrefixLen(zero, withBit(zero, i)); got != i {
			t.Errorf("CommonPrefixLen with bit %d flipped = %d, want %d", i, got, i)
		}
	}
	if got := CommonPrefixLen(zero, zero); got != IDBytes*8 {
		t.Errorf("CommonPrefixLen(equal) = %d, want %d", got, IDBytes*8)
	}
	// Agrees with Bit: the first differing bit is at CommonPrefixLen.
	r := rand.New(rand.NewPCG(5, 6))
	for range 200 {
		a := randomID(r)
		b := withBit(a, r.IntN(IDBytes*8))
		for i := r.IntN(IDBytes * 8); i < IDBytes*8; i++ { // scramble bits past a random point
			if r.IntN(2) == 0 {
				b = withBit(b, i)
			}
		}
		want := IDBytes * 8
		for i := 0; i < IDBytes*8; i++ {
			if Bit(a, i) != Bit(b, i) {
				want = i
				break
			}
		}
		if got := CommonPrefixLen(a, b); got != want {
			t.Fatalf("CommonPrefixLen(%x, %x) = %d, want %d", a, b, got, want)
		}
		if CommonPrefixLen(b, a) != want {
			t.Fatalf("CommonPrefixLen is not symmetric for %x, %x", a, b)
		}
	}
}

func TestBit(t *testing.T) {
	id := [IDBytes]byte{0: 0x80, 1: 0x01, 15: 0x01}
	want := map[int]int{0: 1, 1: 0, 7: 0, 8: 0, 15: 1, 16: 0, 126: 0, 127: 1}
	for i, w := range want {
		if got := Bit(id, i); got != w {
			t.Errorf("Bit(%x, %d) = %d, want %d", id, i, got, w)
		}
	}
	ones := 0
	for i := 0; i < IDBytes*8; i++ {
		ones += Bit(id, i)
	}
	if ones != 3 {
		t.Errorf("id %x has %d set bits by Bit, want 3", id, ones)
	}
}

func TestPrefix(t *testing.T) {
	id := [IDBytes]byte{0xa5, 0x5a, 0xff, 0x01, 0x77}
	tests := []struct {
		n    int
		want uint32
	}{
		{0, 0}, {1, 1}, {2, 2}, {4, 0xa}, {8, 0xa5}, {12, 0xa55}, {16, 0xa55a}, {24, 0xa55aff}, {32, 0xa55aff01},
	}
	for _, tc := range tests {
		if got := Prefix(id, tc.n); got != tc.want {
			t.Errorf("Prefix(%x, %d) = %#x, want %#x", id, tc.n, got, tc.want)
		}
	}
	// Prefix is the first n bits read through Bit.
	r := rand.New(rand.NewPCG(7, 8))
	for range 200 {
		id := randomID(r)
		n := r.IntN(33)
		var want uint32
		for i := 0; i < n; i++ {
			want = want<<1 | uint32(Bit(id, i))
		}
		if got := Prefix(id, n); got != want {
			t.Fatalf("Prefix(%x, %d) = %#x, want %#x", id, n, got, want)
		}
	}
}

func TestResourceIDForIsStableSHA256Prefix(t *testing.T) {
	// Every peer of every version must derive the same identifier from a name: pin one.
	const golden = "b291d832329879bfcd1d15326844926c"
	if got := ResourceIDFor("sip:101@team").String(); got != golden {
		t.Fatalf("ResourceIDFor(sip:101@team) = %s, want %s", got, golden)
	}
	for _, name := range []string{"", "sip:101@team", "tg:engine-1", "sip:102@team"} {
		sum := sha256.Sum256([]byte(name))
		got := ResourceIDFor(name)
		if hex.EncodeToString(got[:]) != hex.EncodeToString(sum[:IDBytes]) {
			t.Errorf("ResourceIDFor(%q) = %x, want first 16 bytes of SHA-256 %x", name, got, sum[:IDBytes])
		}
		if ResourceIDFor(name) != got {
			t.Errorf("ResourceIDFor(%q) changed between calls", name)
		}
	}
	if ResourceIDFor("sip:101@team") == ResourceIDFor("sip:102@team") {
		t.Error("different names gave the same resource")
	}
}

func TestNodeIDFromPublicKey(t *testing.T) {
	pub := []byte("0123456789abcdef0123456789abcdef")
	sum := sha256.Sum256(pub)
	id := NodeIDFromPublicKey(pub)
	if string(id[:]) != string(sum[:IDBytes]) {
		t.Fatalf("NodeIDFromPublicKey = %x, want %x", id, sum[:IDBytes])
	}
	if id.Resource() != ResourceID(id) {
		t.Fatalf("Resource() = %x, want the node's own bytes %x", id.Resource(), id)
	}
	if id.IsZero() || !(NodeID{}).IsZero() {
		t.Fatal("IsZero is wrong")
	}
	if s := id.String(); len(s) != 2*IDBytes || s != hex.EncodeToString(id[:]) {
		t.Fatalf("String() = %q", s)
	}
	if s := id.Short(); len(s) != 8 || s != id.String()[:8] {
		t.Fatalf("Short() = %q, want the first 8 hex digits of %s", s, id)
	}
}
