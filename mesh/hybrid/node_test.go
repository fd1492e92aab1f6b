package hybrid_test

import (
	"testing"
	"time"

	"meshcomm/mesh"
)

func TestFloodModeSmallMeshResolvesEverything(t *testing.T) {
	nt := newTestNet(t, 1, 1)
	for i := 0; i < 20; i++ {
		nt.add(0, 0, 3)
		nt.run(200 * time.Millisecond)
	}
	nt.run(5 * time.Second)
	for i := range nt.nodes {
		if m := nt.nodes[i].Status().Mode; m != mesh.ModeFlood {
			t.Fatalf("node %d in mode %v, want flood", i, m)
		}
		for j := range nt.nodes {
			if _, ok := nt.nodes[i].Holds(nt.regKey(j)); !ok {
				t.Fatalf("node %d does not hold node %d's registration", i, j)
			}
		}
	}
	d := nt.lookup(3, 17)
	if !d.Found || d.Hops != 0 {
		t.Fatalf("lookup = found %v hops %d, want found in 0 hops", d.Found, d.Hops)
	}
}

func TestGrowsIntoDHTAndResolves(t *testing.T) {
	nt := newTestNet(t, 2, 1)
	for i := 0; i < 150; i++ {
		nt.add(0, 0, 4)
		nt.run(300 * time.Millisecond)
	}
	nt.run(60 * time.Second)
	dht := 0
	for i := range nt.nodes {
		if nt.nodes[i].Status().Mode == mesh.ModeDHT {
			dht++
		}
	}
	if dht != len(nt.nodes) {
		t.Fatalf("%d of %d nodes in DHT mode", dht, len(nt.nodes))
	}
	fails := 0
	for k := 0; k < 200; k++ {
		i, j := nt.rnd.IntN(len(nt.nodes)), nt.rnd.IntN(len(nt.nodes))
		if d := nt.lookup(i, j); !d.Found {
			fails++
			t.Logf("lookup %d -> %d failed (hops %d)", i, j, d.Hops)
		}
	}
	if fails > 0 {
		t.Fatalf("%d of 200 lookups failed", fails)
	}
}
