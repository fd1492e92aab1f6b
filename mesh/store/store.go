// Package store is the overlay's record store: the newest version of every record a peer holds,
// expiry, and the range fingerprints that set reconciliation compares between two peers.
//
// A Store is a plain data structure: callers verify records before putting them and pass the
// current time in; it never looks at a clock.
package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"sort"

	"meshcomm/mesh"
)

type entry struct {
	rec    mesh.Record
	hash   [mesh.IDBytes]byte // identity hash: position in reconciliation space
	digest [mesh.IDBytes]byte // version digest: what fingerprints XOR together
}

type resKind struct {
	res  mesh.ResourceID
	kind mesh.Kind
}

// Store holds records by identity.
type Store struct {
	byKey   map[mesh.RecordKey]*entry
	byHash  map[[mesh.IDBytes]byte]*entry
	byRes   map[resKind][]*entry
	sorted  []*entry // by hash; rebuilt lazily
	dirty   bool
	nextExp int64 // earliest expiry held (0 when unknown)
	peak    int   // most records held since the maps were last built
}

// New returns an empty store.
func New() *Store {
	return &Store{
		byKey:  make(map[mesh.RecordKey]*entry),
		byHash: make(map[[mesh.IDBytes]byte]*entry),
		byRes:  make(map[resKind][]*entry),
	}
}

// Len is the number of records held, deletions included.
func (s *Store) Len() int { return len(s.byKey) }

func versionDigest(hash [mesh.IDBytes]byte, r *mesh.Record) [mesh.IDBytes]byte {
	var b [mesh.IDBytes + 9]byte
	copy(b[:], hash[:])
	binary.BigEndian.PutUint64(b[mesh.IDBytes:], r.Version)
	if r.Deleted {
		b[mesh.IDBytes+8] = 1
	}
	sum := sha256.Sum256(b[:])
	var d [mesh.IDBytes]byte
	copy(d[:], sum[:])
	return d
}

// Put stores r if it is newer than what is held (or nothing is held) and not expired at nowMs.
// It reports whether the store changed. The caller has verified r.
func (s *Store) Put(r mesh.Record, nowMs int64) bool {
	if r.Expired(nowMs) {
		return false
	}
	k := r.RecordKey()
	if old, ok := s.byKey[k]; ok {
		if !r.Newer(&old.rec) {
			return false
		}
		old.rec = r
		old.digest = versionDigest(old.hash, &r)
		s.noteExpiry(r.Expiry)
		return true
	}
	e := &entry{rec: r, hash: k.Hash()}
	e.digest = versionDigest(e.hash, &r)
	s.byKey[k] = e
	s.byHash[e.hash] = e
	rk := resKind{r.Resource, r.Kind}
	s.byRes[rk] = append(s.byRes[rk], e)
	s.dirty = true
	s.noteExpiry(r.Expiry)
	s.peak = max(s.peak, len(s.byKey))
	return true
}

// compactBelow: a store that has shrunk to under a quarter of its peak (and that peak was over
// compactMin records) rebuilds its maps, since Go maps keep their size when emptied. A peer that
// held every record in flood mode keeps only its share in DHT mode.
const compactMin = 256

func (s *Store) compactIfShrunk() {
	if s.peak < compactMin || 4*len(s.byKey) >= s.peak {
		return
	}
	byKey := make(map[mesh.RecordKey]*entry, len(s.byKey))
	byHash := make(map[[mesh.IDBytes]byte]*entry, len(s.byKey))
	byRes := make(map[resKind][]*entry, len(s.byRes))
	for k, e := range s.byKey {
		byKey[k] = e
		byHash[e.hash] = e
	}
	for rk, list := range s.byRes {
		byRes[rk] = list
	}
	s.byKey, s.byHash, s.byRes = byKey, byHash, byRes
	s.sorted = nil
	s.dirty = true
	s.peak = len(s.byKey)
}

func (s *Store) noteExpiry(exp int64) {
	if s.nextExp == 0 || exp < s.nextExp {
		s.nextExp = exp
	}
}

// Get returns the record held under k, deletions included.
func (s *Store) Get(k mesh.RecordKey) (mesh.Record, bool) {
	e, ok := s.byKey[k]
	if !ok {
		return mesh.Record{}, false
	}
	return e.rec, true
}

// GetByHash returns the record whose identity hash is h.
func (s *Store) GetByHash(h [mesh.IDBytes]byte) (mesh.Record, bool) {
	e, ok := s.byHash[h]
	if !ok {
		return mesh.Record{}, false
	}
	return e.rec, true
}

// Find returns the live (not deleted, not expired at nowMs) records of kind at res.
func (s *Store) Find(res mesh.ResourceID, kind mesh.Kind, nowMs int64) []mesh.Record {
	var out []mesh.Record
	for _, e := range s.byRes[resKind{res, kind}] {
		if !e.rec.Deleted && !e.rec.Expired(nowMs) {
			out = append(out, e.rec)
		}
	}
	return out
}

// Remove drops the record held under k, reporting whether there was one.
func (s *Store) Remove(k mesh.RecordKey) bool {
	e, ok := s.byKey[k]
	if !ok {
		return false
	}
	delete(s.byKey, k)
	delete(s.byHash, e.hash)
	rk := resKind{e.rec.Resource, e.rec.Kind}
	list := s.byRes[rk]
	for i, x := range list {
		if x == e {
			list[i] = list[len(list)-1]
			list = list[:len(list)-1]
			break
		}
	}
	if len(list) == 0 {
		delete(s.byRes, rk)
	} else {
		s.byRes[rk] = list
	}
	s.dirty = true
	s.compactIfShrunk()
	return true
}

// Expire removes every record expired at nowMs and returns their keys.
func (s *Store) Expire(nowMs int64) []mesh.RecordKey {
	if s.nextExp == 0 || nowMs < s.nextExp {
		return nil
	}
	var gone []mesh.RecordKey
	s.nextExp = 0
	for k, e := range s.byKey {
		if e.rec.Expired(nowMs) {
			gone = append(gone, k)
		} else {
			s.noteExpiry(e.rec.Expiry)
		}
	}
	sort.Slice(gone, func(i, j int) bool { return keyLess(gone[i], gone[j]) })
	for _, k := range gone {
		s.Remove(k)
	}
	return gone
}

// NextExpiry is the earliest expiry of a held record in Unix ms (0 when the store is empty).
func (s *Store) NextExpiry() int64 { return s.nextExp }

func keyLess(a, b mesh.RecordKey) bool {
	if c := bytes.Compare(a.Resource[:], b.Resource[:]); c != 0 {
		return c < 0
	}
	if a.Kind != b.Kind {
		return a.Kind < b.Kind
	}
	return a.Key < b.Key
}

// All returns every record held, in a deterministic order (by identity hash).
func (s *Store) All() []mesh.Record {
	s.sort()
	out := make([]mesh.Record, len(s.sorted))
	for i, e := range s.sorted {
		out[i] = e.rec
	}
	return out
}

// Range calls fn for every record held, in the same order as All, without copying the store;
// fn must not modify the store. It stops when fn returns false.
func (s *Store) Range(fn func(r *mesh.Record) bool) {
	s.sort()
	for _, e := range s.sorted {
		if !fn(&e.rec) {
			return
		}
	}
}

func (s *Store) sort() {
	if !s.dirty && len(s.sorted) == len(s.byKey) {
		return
	}
	s.sorted = s.sorted[:0]
	for _, e := range s.byKey {
		s.sorted = append(s.sorted, e)
	}
	sort.Slice(s.sorted, func(i, j int) bool { return bytes.Compare(s.sorted[i].hash[:], s.sorted[j].hash[:]) < 0 })
	s.dirty = false
}

// span returns the sorted entries whose hash has the given prefix of bits.
func (s *Store) span(prefix [mesh.IDBytes]byte, bits uint8) []*entry {
	s.sort()
	lo, hi := rangeBounds(prefix, bits)
	i := sort.Search(len(s.sorted), func(i int) bool { return bytes.Compare(s.sorted[i].hash[:], lo[:]) >= 0 })
	j := sort.Search(len(s.sorted), func(i int) bool { return bytes.Compare(s.sorted[i].hash[:], hi[:]) > 0 })
	return s.sorted[i:j]
}

// rangeBounds gives the smallest and largest hash with the prefix.
func rangeBounds(prefix [mesh.IDBytes]byte, bits uint8) (lo, hi [mesh.IDBytes]byte) {
	for i := 0; i < mesh.IDBytes*8; i++ {
		byteI, mask := i/8, byte(0x80>>(i%8))
		if i < int(bits) {
			if prefix[byteI]&mask != 0 {
				lo[byteI] |= mask
				hi[byteI] |= mask
			}
		} else {
			hi[byteI] |= mask
		}
	}
	return lo, hi
}

// Fingerprint summarises the records in a range: how many, and the XOR of their version digests.
func (s *Store) Fingerprint(prefix [mesh.IDBytes]byte, bits uint8) mesh.Range {
	r := mesh.Range{Prefix: Canonical(prefix, bits), Bits: bits}
	for _, e := range s.span(prefix, bits) {
		r.Count++
		for i := range r.Fingerprint {
			r.Fingerprint[i] ^= e.digest[i]
		}
	}
	return r
}

// Items lists the records in a range by identity hash and version.
func (s *Store) Items(prefix [mesh.IDBytes]byte, bits uint8) []mesh.ItemVersion {
	span := s.span(prefix, bits)
	out := make([]mesh.ItemVersion, len(span))
	for i, e := range span {
		out[i] = mesh.ItemVersion{Hash: e.hash, Version: e.rec.Version, Deleted: e.rec.Deleted}
	}
	return out
}

// Canonical clears the bits of prefix past the first bits.
func Canonical(prefix [mesh.IDBytes]byte, bits uint8) [mesh.IDBytes]byte {
	var out [mesh.IDBytes]byte
	for i := 0; i < int(bits) && i < mesh.IDBytes*8; i++ {
		if prefix[i/8]&(0x80>>(i%8)) != 0 {
			out[i/8] |= 0x80 >> (i % 8)
		}
	}
	return out
}

// Children splits a range into the 16 ranges four bits longer.
func Children(prefix [mesh.IDBytes]byte, bits uint8) [][mesh.IDBytes]byte {
	base := Canonical(prefix, bits)
	out := make([][mesh.IDBytes]byte, 16)
	for c := 0; c < 16; c++ {
		p := base
		for b := 0; b < 4; b++ {
			if c&(8>>b) != 0 {
				i := int(bits) + b
				p[i/8] |= 0x80 >> (i % 8)
			}
		}
		out[c] = p
	}
	return out
}
