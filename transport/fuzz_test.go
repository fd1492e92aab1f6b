package transport

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzDecodeUniStream feeds arbitrary bytes to the decoder of incoming unidirectional streams:
// it must never panic, never hand over a frame outside 1..MaxFrameBytes, and accept only input
// that its own encoding reproduces exactly.
//
//	go test -fuzz FuzzDecodeUniStream ./transport/
func FuzzDecodeUniStream(f *testing.F) {
	frames := func(payloads ...string) []byte {
		b := []byte{kindFrames}
		for _, p := range payloads {
			b = appendFrameHeader(b, len(p))
			b = append(b, p...)
		}
		return b
	}
	f.Add(frames("hello"))
	f.Add(frames("a", "bc", string(make([]byte, 1500))))
	f.Add(frames())
	f.Add([]byte{kindFrames, 0, 0, 0, 0})
	f.Add([]byte{kindFrames, 0, 4, 0, 1, 'x'})
	f.Add([]byte{kindFrames, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{kindRetire, retireFirst})
	f.Add([]byte{kindRetire, retireLast, 0})
	f.Add(append([]byte{kindProbe}, make([]byte, probeBytes)...))
	f.Add([]byte{0xee})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		var got [][]byte
		kind, phase, err := decodeUniStream(bytes.NewReader(in), func(p []byte) bool {
			if len(p) == 0 || len(p) > MaxFrameBytes {
				t.Fatalf("handed over a frame of %d bytes", len(p))
			}
			got = append(got, p)
			return true
		})
		if err != nil {
			var unknown *UnknownKindError
			if !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrFrameTooLarge) && !errors.Is(err, ErrEmptyFrame) &&
				!errors.Is(err, ErrBadMarker) && !errors.Is(err, ErrProbeTooLong) && !errors.As(err, &unknown) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		var again []byte
		switch kind {
		case kindFrames:
			again = []byte{kindFrames}
			for _, p := range got {
				again = appendFrameHeader(again, len(p))
				again = append(again, p...)
			}
		case kindRetire:
			again = []byte{kindRetire, phase}
		case kindProbe:
			if len(in)-1 > maxProbeBytes {
				t.Fatalf("accepted a probe of %d bytes", len(in)-1)
			}
			return
		default:
			t.Fatalf("accepted kind %#x", kind)
		}
		if !bytes.Equal(again, in) {
			t.Fatalf("accepted %x, which encodes as %x", in, again)
		}
	})
}
