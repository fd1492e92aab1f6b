package hybrid

import (
	"math/rand/v2"
	"testing"
	"time"

	"meshcomm/mesh"
)

// otherViews, the extra peers a retried lookup asks, are live far peers of distinct slices
// other than the target's.
func TestOtherViewsAreLivePeersOfOtherSlices(t *testing.T) {
	rnd := rand.New(rand.NewPCG(5, 5))
	randomID := func() (id mesh.NodeID) {
		for i := range id {
			id[i] = byte(rnd.IntN(256))
		}
		return id
	}
	n := New(Config{Self: mesh.Contact{ID: randomID()}, Rand: rand.New(rand.NewPCG(6, 6))})
	now := time.Unix(0, 0)
	n.table.Retune(64 * 16) // 16 slices (with FarPerSlice 4)
	for range 400 {
		n.table.Add(now, mesh.Contact{ID: randomID()})
	}
	far := n.table.Far()
	for _, c := range far[:len(far)/2] {
		n.table.Failed(c.ID, 10)
	}
	target := randomID()
	for range 50 {
		seen := map[uint32]bool{}
		got := n.otherViews(target)
		if len(got) != n.t.Alpha {
			t.Fatalf("otherViews gave %d peers, want %d", len(got), n.t.Alpha)
		}
		for _, c := range got {
			p, ok := n.table.Get(c.ID)
			switch s := n.table.SliceOf(c.ID); {
			case !ok || p.Fails > 0:
				t.Fatalf("otherViews gave %v, failed or unknown", c.ID)
			case s == n.table.SliceOf(target) || n.table.InMySlice(c.ID):
				t.Fatalf("otherViews gave a peer of the target's or this node's slice")
			case seen[s]:
				t.Fatalf("otherViews gave two peers of slice %d", s)
			default:
				seen[s] = true
			}
		}
	}
}
