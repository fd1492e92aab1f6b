package sim

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"

	"meshcomm/mesh"
)

func TestClosestMatchesBruteForce(t *testing.T) {
	rnd := rand.New(rand.NewPCG(5, 5))
	randomID := func() (id [mesh.IDBytes]byte) {
		for i := range id {
			id[i] = byte(rnd.UintN(256))
		}
		return id
	}
	for _, size := range []int{1, 3, 4, 5, 17, 300} {
		ids := make([]idEntry, size)
		for i := range ids {
			ids[i] = idEntry{id: randomID(), idx: int32(i)}
		}
		if size == 300 { // clustered ids share long prefixes
			for i := range 40 {
				ids[i].id = ids[0].id
				ids[i].id[15] = byte(i)
			}
		}
		slices.SortFunc(ids, func(a, b idEntry) int { return bytes.Compare(a.id[:], b.id[:]) })
		for trial := range 200 {
			target := randomID()
			if trial%4 == 0 {
				target = ids[rnd.IntN(size)].id // exactly on a node
				target[15] ^= byte(trial)
			}
			for _, r := range []int{1, 4, 8} {
				got := closest(nil, ids, target, r)
				want := slices.Clone(ids)
				slices.SortFunc(want, func(a, b idEntry) int {
					da, db := mesh.XOR(a.id, target), mesh.XOR(b.id, target)
					return bytes.Compare(da[:], db[:])
				})
				want = want[:min(r, size)]
				if !slices.Equal(got, want) {
					t.Fatalf("size %d, r %d: closest = %v, want %v", size, r, got, want)
				}
			}
		}
	}
}

func TestPercentileIsNearestRank(t *testing.T) {
	xs := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, c := range []struct {
		p    float64
		want int
	}{{50, 5}, {99, 10}, {10, 1}, {11, 2}, {100, 10}, {0, 1}} {
		if got := percentile(xs, c.p); got != c.want {
			t.Errorf("p%v = %d, want %d", c.p, got, c.want)
		}
	}
	if got := percentile([]int{7}, 99); got != 7 {
		t.Errorf("p99 of one value = %d", got)
	}
}
