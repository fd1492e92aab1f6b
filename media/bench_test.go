package media

import (
	"fmt"
	"testing"
	"time"
)

// Per-frame costs of the media path. Run with
//
//	go test -run '^$' -bench . -benchtime 2000x ./media/
//
// ns/op is per 20 ms frame: a call needs one encode and one decode (plus resampling) every
// 20 ms in each direction, so 20,000,000 ns/op would be one core's whole budget.

func BenchmarkEncode(b *testing.B) {
	for _, tc := range []struct {
		f    Format
		rate int
	}{{Opus, 16000}, {Opus, 48000}, {PCMU, 8000}, {PCMA, 8000}} {
		b.Run(tc.f.Name+"@"+itoaRate(tc.rate), func(b *testing.B) {
			c, err := NewCodec(tc.f, tc.rate)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			pcm := SpeechLike(c.SampleRate(), time.Second)
			n := c.FrameSamples()
			var payload []byte
			bytes, frames := 0, 0
			b.ReportAllocs()
			for b.Loop() {
				i := frames % framesPerSecond
				if payload, err = c.Encode(pcm[i*n:(i+1)*n], payload); err != nil {
					b.Fatal(err)
				}
				bytes += len(payload)
				frames++
			}
			b.ReportMetric(float64(bytes*8*framesPerSecond)/float64(frames)/1000, "payload-kbit/s")
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, tc := range []struct {
		f    Format
		rate int
	}{{Opus, 16000}, {Opus, 48000}, {PCMU, 8000}, {PCMA, 8000}} {
		b.Run(tc.f.Name+"@"+itoaRate(tc.rate), func(b *testing.B) {
			c, err := NewCodec(tc.f, tc.rate)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			pcm := SpeechLike(c.SampleRate(), time.Second)
			n := c.FrameSamples()
			payloads := make([][]byte, framesPerSecond)
			for i := range payloads {
				if payloads[i], err = c.Encode(pcm[i*n:(i+1)*n], nil); err != nil {
					b.Fatal(err)
				}
			}
			out := make([]int16, n)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if err := c.Decode(payloads[i], out); err != nil {
					b.Fatal(err)
				}
				i = (i + 1) % framesPerSecond
			}
		})
	}
}

func BenchmarkResample(b *testing.B) {
	for _, tc := range []struct{ from, to int }{{16000, 8000}, {8000, 16000}, {48000, 8000}, {44100, 16000}} {
		b.Run(itoaRate(tc.from)+"->"+itoaRate(tc.to), func(b *testing.B) {
			r := newResampler(tc.from, tc.to)
			in := SpeechLike(tc.from, FrameDuration)
			out := make([]int16, tc.to/framesPerSecond)
			b.ReportAllocs()
			for b.Loop() {
				r.process(in, out)
			}
		})
	}
}

// BenchmarkSessionFrame is one frame through a whole session pair: encode, RTP, Deliver,
// jitter buffer, decode, resample into the sink.
func BenchmarkSessionFrame(b *testing.B) {
	for _, f := range []Format{Opus, PCMU} {
		b.Run(f.Name, func(b *testing.B) {
			now := t0
			clock := func() time.Time { return now }
			var rx *Session
			tx, err := NewSession(SessionConfig{Format: f, Send: func(p []byte) error { rx.Deliver(p); return nil },
				Source: NewToneSource(16000, 440, 8000), Now: clock})
			if err != nil {
				b.Fatal(err)
			}
			rx, err = NewSession(SessionConfig{Format: f, Send: func([]byte) error { return nil },
				Sink: &discardSink{16000}, Now: clock})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				now = now.Add(FrameDuration)
				if err := tx.Tick(); err != nil {
					b.Fatal(err)
				}
				if err := rx.Tick(); err != nil {
					b.Fatal(err)
				}
			}
			if st := rx.Stats(); st.PacketsReceived == 0 {
				b.Fatal("nothing received")
			}
		})
	}
}

type discardSink struct{ rate int }

func (d *discardSink) SampleRate() int       { return d.rate }
func (d *discardSink) Write(_ []int16) error { return nil }

func itoaRate(hz int) string { return fmt.Sprintf("%gk", float64(hz)/1000) }
