package node

import (
	"bytes"
	"path/filepath"
	"testing"
	"time"

	"meshcomm/mesh"
)

// A call through a proxy hop carries its audio through the hop too: A and C have no link, B
// passes their datagrams on both ways.
func TestCallThroughAHopCarriesAudio(t *testing.T) {
	dirs := newTeam(t, "alpha", 101, 3)
	play, _ := writeSpeech(t, 3*time.Second)
	a := startNode(t, dirs[0])
	b := startNode(t, dirs[1], a.LocalAddr())
	c := startNodeWith(t, Config{DataDir: dirs[2], Listen: "127.0.0.1:0", Peers: []string{b.LocalAddr()},
		AutoAnswer: true, AnswerPlay: play, AnswerRecordDir: t.TempDir()})
	resolveAll(t, a, b, c)
	if _, linked := a.ep.Peer(c.ID()); linked {
		t.Fatal("A has a link to C: the call would not need the hop")
	}

	res, err := a.Call(ctxT(t), CallParams{Target: extOf(c), Via: b.ID().String(), Play: play,
		Record: filepath.Join(t.TempDir(), "caller.wav"), DurationMs: 4000})
	if err != nil {
		t.Fatal(err)
	}
	if res.Result != "answered" || res.Peer != c.ID().String() {
		t.Fatalf("call = %+v, want answered by C", res)
	}
	// C learns the way back from A's first relayed datagram: a frame or two it sent before
	// that has no way to A.
	if res.PacketsSent < 150 || res.PacketsReceived < 140 {
		t.Errorf("call carried %d packets out, %d in; want 3 s of audio (150 frames) out and nearly all of it in", res.PacketsSent, res.PacketsReceived)
	}
	if got := b.relayStat.forwarded.Load(); got < 290 {
		t.Errorf("B passed on %d datagrams, want both directions' audio (about 300)", got)
	}
	if _, linked := a.ep.Peer(c.ID()); linked {
		t.Error("A linked to C during the call: the audio may not have gone through B")
	}
}

func TestRelayHeaderRoundTripAndRefusals(t *testing.T) {
	var id mesh.NodeID
	id[0], id[15] = 7, 9
	b := encodeRelay(relayForward, id, []byte("rtp"))
	kind, got, payload, ok, err := decodeRelay(b)
	if !ok || err != nil || kind != relayForward || got != id || !bytes.Equal(payload, []byte("rtp")) {
		t.Fatalf("decode(encode) = %d %v %q %v %v", kind, got, payload, ok, err)
	}
	if _, _, _, ok, _ := decodeRelay([]byte{0x80, 0, 1}); ok {
		t.Error("an RTP datagram was taken for a relay one")
	}
	if _, _, _, ok, err := decodeRelay([]byte{relayFrom, 1, 2}); !ok || err == nil {
		t.Error("a truncated relay header was accepted")
	}
}

func FuzzDecodeRelay(f *testing.F) {
	var id mesh.NodeID
	f.Add(encodeRelay(relayFrom, id, []byte{0x80, 1}))
	f.Add([]byte{0x80, 0x60, 0, 1})
	f.Add([]byte{relayForward})
	f.Fuzz(func(t *testing.T, b []byte) {
		kind, id, payload, ok, err := decodeRelay(b)
		if !ok || err != nil {
			return
		}
		if again := encodeRelay(kind, id, payload); !bytes.Equal(again, b) {
			t.Fatalf("re-encoding %x gave %x", b, again)
		}
	})
}
