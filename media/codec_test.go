package media

import (
	"errors"
	"math"
	"strconv"
	"testing"
	"time"

	"gopkg.in/hraban/opus.v2"
)

// roundTrip encodes and decodes pcm (at rate) frame by frame through a fresh codec for f,
// resampling to and from the codec's rate as a Session does.
func roundTrip(t *testing.T, f Format, rate int, pcm []int16) []int16 {
	t.Helper()
	c, err := NewCodec(f, rate)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	in, out := newResampler(rate, c.SampleRate()), newResampler(c.SampleRate(), rate)
	frame := rate / framesPerSecond
	enc, dec := make([]int16, c.FrameSamples()), make([]int16, c.FrameSamples())
	got := make([]int16, 0, len(pcm))
	var payload []byte
	for i := 0; i+frame <= len(pcm); i += frame {
		in.process(pcm[i:i+frame], enc)
		if payload, err = c.Encode(enc, payload); err != nil {
			t.Fatal(err)
		}
		if err := c.Decode(payload, dec); err != nil {
			t.Fatal(err)
		}
		back := make([]int16, frame)
		out.process(dec, back)
		got = append(got, back...)
	}
	return got
}

func TestCodecsCarrySpeechIntact(t *testing.T) {
	for _, tc := range []struct {
		f        Format
		rate     int
		minScore float64
	}{
		{PCMU, 8000, 0.99}, {PCMA, 8000, 0.99}, {PCMU, 16000, 0.97},
		{Opus, 16000, 0.85}, {Opus, 48000, 0.85}, {Opus, 44100, 0.85},
	} {
		t.Run(tc.f.Name+"@"+strconv.Itoa(tc.rate), func(t *testing.T) {
			ref := SpeechLike(tc.rate, 2*time.Second)
			got := roundTrip(t, tc.f, tc.rate, ref)
			a, err := Align(ref, got, tc.rate, 100*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s at %d Hz: lag %v, similarity %.4f", tc.f.Name, tc.rate, a.Delay, a.Similarity)
			if a.Similarity < tc.minScore {
				t.Errorf("similarity %.4f, want >= %.2f", a.Similarity, tc.minScore)
			}
			if a.Delay < 0 || a.Delay > 10*time.Millisecond {
				t.Errorf("codec and resampling delay %v, want 0..10 ms", a.Delay)
			}
		})
	}
}

// fortyMillis is a valid 40 ms payload of f (two frames' worth).
func fortyMillis(t *testing.T, f Format) []byte {
	t.Helper()
	if f.sameCodec(Opus) {
		enc, err := opus.NewEncoder(16000, 1, opus.AppVoIP)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 1000)
		n, err := enc.Encode(SpeechLike(16000, 40*time.Millisecond), buf)
		if err != nil {
			t.Fatal(err)
		}
		return buf[:n]
	}
	return make([]byte, 2*g711Samples)
}

func TestG711KnownValues(t *testing.T) {
	for _, tc := range []struct {
		alaw bool
		code byte
		want int16
	}{
		{false, 0xFF, 0}, {false, 0x7F, 0}, {false, 0x80, 32124}, {false, 0x00, -32124},
		{true, 0xD5, 8}, {true, 0x55, -8}, {true, 0xAA, 32256}, {true, 0x2A, -32256},
	} {
		got := decodeULaw(tc.code)
		if tc.alaw {
			got = decodeALaw(tc.code)
		}
		if got != tc.want {
			t.Errorf("alaw=%v decode(%#02x) = %d, want %d", tc.alaw, tc.code, got, tc.want)
		}
	}
	if encodeULaw(0) != 0xFF || encodeALaw(0) != 0xD5 {
		t.Errorf("silence encodes to %#02x (mu-law) and %#02x (A-law), want 0xff and 0xd5", encodeULaw(0), encodeALaw(0))
	}
}

// Every code word decodes to a level that encodes back to a code word of the same level, and
// encoding is monotonic: the quantiser has no holes or inversions.
func TestG711IsAConsistentQuantiser(t *testing.T) {
	for _, law := range []struct {
		name   string
		encode func(int16) byte
		decode func(byte) int16
	}{{"mu-law", encodeULaw, decodeULaw}, {"A-law", encodeALaw, decodeALaw}} {
		for c := range 256 {
			level := law.decode(byte(c))
			if again := law.decode(law.encode(level)); again != level {
				t.Fatalf("%s: code %#02x -> %d -> %d", law.name, c, level, again)
			}
		}
		prev := law.decode(law.encode(math.MinInt16))
		for s := math.MinInt16 + 1; s <= math.MaxInt16; s++ {
			level := law.decode(law.encode(int16(s)))
			if level < prev {
				t.Fatalf("%s: not monotonic at %d: %d after %d", law.name, s, level, prev)
			}
			if d := math.Abs(float64(level) - float64(s)); d > math.Max(16, math.Abs(float64(s))/15) {
				t.Fatalf("%s: %d quantised to %d", law.name, s, level)
			}
			prev = level
		}
	}
}

func TestCodecRefusesWrongFrames(t *testing.T) {
	for _, f := range DefaultFormats() {
		c, err := NewCodec(f, 16000)
		if err != nil {
			t.Fatal(err)
		}
		pcm := make([]int16, c.FrameSamples())
		if _, err := c.Encode(pcm[:len(pcm)-1], nil); err == nil {
			t.Errorf("%s: encoding a short frame succeeded", f.Name)
		}
		if err := c.Decode(nil, pcm); err == nil {
			t.Errorf("%s: decoding an empty payload succeeded", f.Name)
		}
		// A 40 ms payload is not one frame.
		if err := c.Decode(fortyMillis(t, f), pcm); err == nil {
			t.Errorf("%s: a 40 ms payload decoded as one frame", f.Name)
		}
		c.Close()
	}
	if _, err := NewCodec(Format{Name: "G729", ClockRate: 8000}, 8000); !errors.Is(err, ErrUnknownCodec) {
		t.Errorf("G729: %v, want ErrUnknownCodec", err)
	}
}
