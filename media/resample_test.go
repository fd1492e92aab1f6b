package media

import (
	"math"
	"testing"
	"time"
)

// resampleAll runs a whole signal through a resampler frame by frame.
func resampleAll(pcm []int16, from, to int) []int16 {
	r := newResampler(from, to)
	inN, outN := from/framesPerSecond, to/framesPerSecond
	var out []int16
	for i := 0; i+inN <= len(pcm); i += inN {
		frame := make([]int16, outN)
		r.process(pcm[i:i+inN], frame)
		out = append(out, frame...)
	}
	return out
}

func tone(rate int, hz float64, d time.Duration) []int16 {
	pcm := make([]int16, int(d.Seconds()*float64(rate)))
	NewToneSource(rate, hz, 10000).Read(pcm)
	return pcm
}

func TestResamplerKeepsSpeechAndRemovesWhatCannotFit(t *testing.T) {
	for _, tc := range []struct{ from, to int }{{16000, 8000}, {8000, 16000}, {48000, 16000}, {44100, 48000}, {16000, 16000}} {
		// A 1 kHz tone passes at level, without seams at frame boundaries.
		out := resampleAll(tone(tc.from, 1000, time.Second), tc.from, tc.to)
		if len(out) != tc.to {
			t.Fatalf("%d->%d: %d samples out for 1 s", tc.from, tc.to, len(out))
		}
		level, distortion := fitTone(out[tc.to/10:], tc.to, 1000)
		if math.Abs(level/10000-1) > 0.01 || distortion > 0.01 {
			t.Errorf("%d->%d: 1 kHz at %.3f of its level, %.2f%% distortion", tc.from, tc.to, level/10000, distortion*100)
		}
		// 3 kHz (the top of telephone speech) passes too.
		if tc.from >= 8000 && tc.to >= 8000 {
			out = resampleAll(tone(tc.from, 3000, time.Second), tc.from, tc.to)
			if level, distortion := fitTone(out[tc.to/10:], tc.to, 3000); math.Abs(level/10000-1) > 0.05 || distortion > 0.01 {
				t.Errorf("%d->%d: 3 kHz at %.3f of its level, %.2f%% distortion", tc.from, tc.to, level/10000, distortion*100)
			}
		}
	}
	// Downsampling 16 -> 8 kHz: a 6 kHz tone cannot exist at 8 kHz and must not fold back as 2 kHz.
	if level := rms(resampleAll(tone(16000, 6000, time.Second), 16000, 8000)[800:]) / 10000 * math.Sqrt2; level > 0.01 {
		t.Errorf("a 6 kHz tone came through 16->8 kHz at %.3f of its level", level)
	}
	// Upsampling 8 -> 48 kHz: the 3 kHz tone's images (5, 11, 13 kHz ...) are filtered out,
	// which the fit would count as distortion.
	up := resampleAll(tone(8000, 3000, time.Second), 8000, 48000)
	if _, distortion := fitTone(up[4800:], 48000, 3000); distortion > 0.01 {
		t.Errorf("8->48 kHz: %.2f%% of a 3 kHz tone is something else (images left in)", distortion*100)
	}
}

// fitTone fits a sine of hz to pcm by least squares and returns its amplitude and the RMS of
// what the sine does not explain, relative to the amplitude.
func fitTone(pcm []int16, rate int, hz float64) (amplitude, residual float64) {
	var ss, sc, cc, ys, yc float64
	for i, v := range pcm {
		ph := 2 * math.Pi * hz * float64(i) / float64(rate)
		s, c := math.Sin(ph), math.Cos(ph)
		ss, sc, cc = ss+s*s, sc+s*c, cc+c*c
		ys, yc = ys+float64(v)*s, yc+float64(v)*c
	}
	det := ss*cc - sc*sc
	a, b := (ys*cc-yc*sc)/det, (yc*ss-ys*sc)/det
	var res float64
	for i, v := range pcm {
		ph := 2 * math.Pi * hz * float64(i) / float64(rate)
		e := float64(v) - a*math.Sin(ph) - b*math.Cos(ph)
		res += e * e
	}
	amplitude = math.Hypot(a, b)
	return amplitude, math.Sqrt(res/float64(len(pcm))) / (amplitude / math.Sqrt2)
}
