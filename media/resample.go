package media

import "math"

// resampler converts a stream of 20 ms frames from one sample rate to another by band-limited
// interpolation: each output sample is a weighted sum of the input samples around its position,
// the weights a Blackman-windowed sinc whose cut-off is 90% of the lower rate's Nyquist
// frequency (so downsampling does not alias and upsampling leaves no images), 16 zero crossings
// of the lower rate wide on each side. Because both rates are multiples of 50 Hz, every frame
// puts its output samples at the same fractional input positions, so the weights are computed
// once. Every frame in gives exactly one frame out, state is carried across frames (no seams),
// and the signal is delayed by 16 samples of the lower rate (2 ms at 8 kHz, 1 ms at 16 kHz).
// It is written here because speech needs nothing more and the standard library has no
// resampler; a general-purpose one (libsamplerate, soxr) would add a C dependency for no audible
// gain.
type resampler struct {
	inN, outN int
	same      bool
	half      int         // kernel half-width in input samples
	weights   [][]float64 // per output sample of a frame: weights over work[first[j]:]
	first     []int
	work      []float64 // the last 2*half input samples, then the current frame
}

const resamplerZeroCrossings = 16

func newResampler(inRate, outRate int) *resampler {
	r := &resampler{inN: inRate / framesPerSecond, outN: outRate / framesPerSecond, same: inRate == outRate}
	if r.same {
		return r
	}
	scale := min(1, float64(outRate)/float64(inRate)) // the lower rate, in input samples
	fc := 0.45 * scale                                // cut-off, cycles per input sample
	r.half = int(math.Ceil(resamplerZeroCrossings / scale))
	r.work = make([]float64, 2*r.half+r.inN)
	step := float64(r.inN) / float64(r.outN)
	r.weights = make([][]float64, r.outN)
	r.first = make([]int, r.outN)
	for j := range r.outN {
		// Output j sits at input position t, computed half samples late so that every input it
		// needs has arrived: position p = t - half, inputs from p-half to p+half.
		p := float64(j)*step - float64(r.half)
		lo, hi := int(math.Ceil(p-float64(r.half))), int(math.Floor(p+float64(r.half)))
		w := make([]float64, hi-lo+1)
		var sum float64
		for i := lo; i <= hi; i++ {
			d := p - float64(i)
			v := 2 * fc
			if d != 0 {
				v = math.Sin(2*math.Pi*fc*d) / (math.Pi * d)
			}
			x := (d/float64(r.half) + 1) / 2 // 0..1 across the window
			v *= 0.42 - 0.5*math.Cos(2*math.Pi*x) + 0.08*math.Cos(4*math.Pi*x)
			w[i-lo] = v
			sum += v
		}
		for k := range w {
			w[k] /= sum // unit gain at DC for every phase
		}
		r.weights[j], r.first[j] = w, lo+2*r.half
	}
	return r
}

// process converts one frame: len(in) == inRate/50 and len(out) == outRate/50.
func (r *resampler) process(in, out []int16) {
	if r.same {
		copy(out, in)
		return
	}
	hist := 2 * r.half
	for i, s := range in {
		r.work[hist+i] = float64(s)
	}
	for j, w := range r.weights {
		var acc float64
		for k, x := range r.work[r.first[j] : r.first[j]+len(w)] {
			acc += w[k] * x
		}
		out[j] = int16(math.Round(max(-32768, min(32767, acc))))
	}
	copy(r.work, r.work[r.inN:]) // keep the last 2*half samples for the next frame
}
