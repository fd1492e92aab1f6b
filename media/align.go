package media

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"time"

	"gonum.org/v1/gonum/dsp/fourier"
)

// Alignment is where one signal is found inside another.
type Alignment struct {
	// Lag is how many samples got lags ref by (negative: got is ahead).
	Lag int
	// Delay is Lag as time.
	Delay time.Duration
	// Similarity is the normalised correlation of the two signals where they overlap at Lag:
	// 1 for an identical waveform (any gain), about 0 for unrelated ones.
	Similarity float64
}

// MaxAlignSamples bounds each signal Align takes (10 minutes at 16 kHz).
const MaxAlignSamples = 10 * 60 * 16000

// Align finds ref inside got by cross-correlation (through an FFT: O(n log n)), searching lags
// within ±maxDelay, and scores the match. Both signals are at rate Hz. It is how the tests
// measure a call's mouth-to-ear delay and prove the audio arrived intact: play ref in at one
// end, record got at the other, Align them.
func Align(ref, got []int16, rate int, maxDelay time.Duration) (Alignment, error) {
	if len(ref) == 0 || len(got) == 0 {
		return Alignment{}, errors.New("media: align: empty signal")
	}
	if len(ref) > MaxAlignSamples || len(got) > MaxAlignSamples {
		return Alignment{}, fmt.Errorf("media: align: signals above %d samples", MaxAlignSamples)
	}
	if rate <= 0 || maxDelay < 0 {
		return Alignment{}, fmt.Errorf("media: align: rate %d, max delay %v", rate, maxDelay)
	}
	maxLag := int(maxDelay.Seconds() * float64(rate))
	n := 1 << bits.Len(uint(len(ref)+len(got)-1)) // zero padding makes the circular correlation linear
	x, y := make([]float64, n), make([]float64, n)
	for i, s := range ref {
		x[i] = float64(s)
	}
	for i, s := range got {
		y[i] = float64(s)
	}
	fft := fourier.NewFFT(n)
	fx, fy := fft.Coefficients(nil, x), fft.Coefficients(nil, y)
	for i := range fx {
		fy[i] *= complex(real(fx[i]), -imag(fx[i])) // conj(X)·Y: c[k] = Σ ref[i]·got[i+k]
	}
	c := fft.Sequence(nil, fy)
	best, bestLag := math.Inf(-1), 0
	for lag := -min(maxLag, len(ref)-1); lag <= min(maxLag, len(got)-1); lag++ {
		v := c[(lag+n)%n]
		if v > best {
			best, bestLag = v, lag
		}
	}
	return Alignment{Lag: bestLag, Delay: time.Duration(float64(bestLag) / float64(rate) * float64(time.Second)),
		Similarity: similarity(ref, got, bestLag)}, nil
}

// similarity is the normalised correlation of ref[i] and got[i+lag] over their overlap.
func similarity(ref, got []int16, lag int) float64 {
	var xy, xx, yy float64
	for i := max(0, -lag); i < len(ref) && i+lag < len(got); i++ {
		x, y := float64(ref[i]), float64(got[i+lag])
		xy += x * y
		xx += x * x
		yy += y * y
	}
	if xx == 0 || yy == 0 {
		return 0
	}
	return xy / math.Sqrt(xx*yy)
}
