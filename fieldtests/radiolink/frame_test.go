package radiolink

import (
	"bytes"
	"testing"
)

func TestNodeMACIsLocalUnicastAndDistinct(t *testing.T) {
	seen := map[MAC]int{}
	for n := 1; n <= MaxNodes; n++ {
		m := NodeMAC(n)
		if m.Group() || m[0]&2 == 0 {
			t.Fatalf("NodeMAC(%d) = %s: want a locally administered unicast address", n, m)
		}
		if prev, dup := seen[m]; dup {
			t.Fatalf("NodeMAC(%d) = NodeMAC(%d) = %s", n, prev, m)
		}
		seen[m] = n
	}
	if got := NodeMAC(3).String(); got != "02:72:6c:00:00:03" {
		t.Errorf("NodeMAC(3) prints as %s", got)
	}
}

func FuzzParseHeader(f *testing.F) {
	f.Add([]byte{})
	f.Add(ethFrame(NodeMAC(2), NodeMAC(1), 1, 60))
	f.Add(ethFrame(broadcast, NodeMAC(1), 1, 42))
	f.Add(ethFrame(NodeMAC(1), broadcast, 1, 42))
	f.Fuzz(func(t *testing.T, frame []byte) {
		dst, src, err := parseHeader(frame)
		if err != nil {
			return
		}
		if len(frame) < headerLen || len(frame) > MaxFrameLen {
			t.Fatalf("accepted a %d-byte frame", len(frame))
		}
		if src.Group() {
			t.Fatalf("accepted group source %s", src)
		}
		if !bytes.Equal(dst[:], frame[:6]) || !bytes.Equal(src[:], frame[6:12]) {
			t.Fatalf("header %s %s does not match frame % x", dst, src, frame[:12])
		}
	})
}
