package node

import (
	"os"
	"strconv"
	"testing"
	"time"
)

// TestMeasureIdleMeshTraffic prints what three idle nodes of a meshed loopback mesh send and
// receive: UDP bytes and packets on the wire (QUIC and TLS included) and overlay frame bytes,
// per node and second, over a window of MESHCOMM_MEASURE_SECONDS (default 60). Run it with
//
//	MESHCOMM_NODE_MEASURE=1 go test -run TestMeasureIdleMeshTraffic -v ./node/
func TestMeasureIdleMeshTraffic(t *testing.T) {
	if os.Getenv("MESHCOMM_NODE_MEASURE") == "" {
		t.Skip("a measurement: set MESHCOMM_NODE_MEASURE=1")
	}
	window := 60 * time.Second
	if s, err := strconv.Atoi(os.Getenv("MESHCOMM_MEASURE_SECONDS")); err == nil && s > 0 {
		window = time.Duration(s) * time.Second
	}
	dirs := newTeam(t, "alpha", 101, 3)
	taps := []*tapConn{newTapConn(t), newTapConn(t), newTapConn(t)}
	a := startNodeWith(t, Config{DataDir: dirs[0], PacketConn: taps[0]})
	b := startNodeWith(t, Config{DataDir: dirs[1], PacketConn: taps[1], Peers: []string{a.LocalAddr()}})
	c := startNodeWith(t, Config{DataDir: dirs[2], PacketConn: taps[2], Peers: []string{a.LocalAddr(), b.LocalAddr()}})
	nodes := []*Node{a, b, c}
	all := aorsOf(nodes...)
	evs := events(t, nodes...)
	waitFor(t, evs, "the mesh to settle", func() bool {
		for _, n := range nodes {
			st, err := n.Status(ctxT(t))
			if err != nil || st.SizeEstimate != 3 || !holdsRegistrations(t, n, all...) {
				return false
			}
		}
		return true
	})

	type sample struct{ udpIn, udpOut, pktIn, pktOut, frameIn, frameOut uint64 }
	take := func() []sample {
		out := make([]sample, len(nodes))
		for i, n := range nodes {
			st, err := n.Status(ctxT(t))
			if err != nil {
				t.Fatal(err)
			}
			out[i] = sample{taps[i].bytesIn.Load(), taps[i].bytesOut.Load(), taps[i].packetsIn.Load(), taps[i].packetsOut.Load(),
				st.Counters.BytesIn, st.Counters.BytesOut}
		}
		return out
	}
	start := take()
	t0 := time.Now()
	time.Sleep(window) // the measurement window itself, not a wait for anything
	end := take()
	secs := time.Since(t0).Seconds()
	t.Logf("idle 3-node loopback mesh (links A-B, A-C, B-C), %.0f s window, per node:", secs)
	t.Logf("%-6s %12s %12s %10s %10s %14s %14s", "node", "udp in B/s", "udp out B/s", "pkt in/s", "pkt out/s", "frames in B/s", "frames out B/s")
	var total float64
	for i := range nodes {
		d := func(x, y uint64) float64 { return float64(y-x) / secs }
		s, e := start[i], end[i]
		total += d(s.udpOut, e.udpOut)
		t.Logf("%-6s %12.1f %12.1f %10.2f %10.2f %14.1f %14.1f", all[i][4:7], d(s.udpIn, e.udpIn), d(s.udpOut, e.udpOut),
			d(s.pktIn, e.pktIn), d(s.pktOut, e.pktOut), d(s.frameIn, e.frameIn), d(s.frameOut, e.frameOut))
	}
	t.Logf("whole mesh: %.1f B/s sent on the wire (%.2f kbit/s)", total, total*8/1000)
}
