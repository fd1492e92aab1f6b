package media

import (
	"errors"
	"io"
	"math"
	"time"
)

// Source gives the audio a Session sends, one frame per Tick.
type Source interface {
	// SampleRate is the rate of the samples Read gives, in Hz (a multiple of 50).
	SampleRate() int
	// Read fills frame (20 ms at SampleRate) and returns how many samples it wrote. At the end it
	// returns io.EOF (a short last frame may come with it: the rest is sent as silence). It
	// returns ErrNoSpeech for a frame with nothing to send: nothing goes out, and the next frame
	// sent starts a talkspurt (RTP marker bit).
	Read(frame []int16) (int, error)
}

// Sink takes the audio a Session plays out, one frame per Tick, silence included, so that its
// timeline is the call's.
type Sink interface {
	// SampleRate is the rate Write expects, in Hz (a multiple of 50).
	SampleRate() int
	// Write takes one 20 ms frame. It must not keep frame.
	Write(frame []int16) error
}

// ErrNoSpeech is what a Source returns for a frame with nothing to send (push-to-talk released,
// voice activity detection).
var ErrNoSpeech = errors.New("media: no speech in this frame")

// PCMSource plays a PCM signal once, then returns io.EOF.
type PCMSource struct {
	rate int
	pcm  []int16
}

// NewPCMSource plays pcm (mono, at rate Hz) once, e.g. samples from ReadWAV.
func NewPCMSource(rate int, pcm []int16) *PCMSource { return &PCMSource{rate: rate, pcm: pcm} }

func (p *PCMSource) SampleRate() int { return p.rate }

func (p *PCMSource) Read(frame []int16) (int, error) {
	n := copy(frame, p.pcm)
	p.pcm = p.pcm[n:]
	if len(p.pcm) == 0 {
		return n, io.EOF
	}
	return n, nil
}

// ToneSource is an endless sine tone (a test tone for a line check).
type ToneSource struct {
	rate      int
	step      float64
	phase     float64
	amplitude float64
}

// NewToneSource makes an endless sine of hz Hz at the given amplitude (0..32767).
func NewToneSource(rate int, hz float64, amplitude int16) *ToneSource {
	return &ToneSource{rate: rate, step: 2 * math.Pi * hz / float64(rate), amplitude: float64(amplitude)}
}

func (t *ToneSource) SampleRate() int { return t.rate }

func (t *ToneSource) Read(frame []int16) (int, error) {
	for i := range frame {
		frame[i] = int16(t.amplitude * math.Sin(t.phase))
		t.phase = math.Mod(t.phase+t.step, 2*math.Pi)
	}
	return len(frame), nil
}

// SilenceSource is endless digital silence (an open microphone in a quiet room).
type SilenceSource struct{ rate int }

// NewSilenceSource makes an endless silence at rate Hz.
func NewSilenceSource(rate int) *SilenceSource { return &SilenceSource{rate: rate} }

func (s *SilenceSource) SampleRate() int { return s.rate }

func (s *SilenceSource) Read(frame []int16) (int, error) {
	clear(frame)
	return len(frame), nil
}

// Recorder is a Sink that keeps everything in memory.
type Recorder struct {
	Rate int
	PCM  []int16
}

func (r *Recorder) SampleRate() int { return r.Rate }

func (r *Recorder) Write(frame []int16) error {
	r.PCM = append(r.PCM, frame...)
	return nil
}

// SpeechLike returns d of a deterministic speech-like test signal at rate Hz: three partials
// gliding like a voice's formants (a fundamental wandering over 110..340 Hz with harmonics up to
// about 2.7 kHz, inside telephone bandwidth) under a syllable envelope of about 4 Hz with short gaps. Unlike a steady tone it has a
// single sharp cross-correlation peak, so the delay of a path can be measured on it.
func SpeechLike(rate int, d time.Duration) []int16 {
	n := int(d.Seconds() * float64(rate))
	out := make([]int16, n)
	var phase float64
	for i := range out {
		t := float64(i) / float64(rate)
		f0 := 225 + 75*math.Sin(2*math.Pi*0.7*t) + 40*math.Sin(2*math.Pi*2.3*t)
		phase += 2 * math.Pi * f0 / float64(rate)
		syllable := math.Sin(math.Pi * math.Mod(t*4.3, 1)) // 0..1..0 every ~230 ms
		env := math.Pow(syllable, 0.7)
		if math.Mod(t, 1.7) > 1.45 { // a pause between phrases
			env = 0
		}
		v := 0.5*math.Sin(phase) + 0.3*math.Sin(2*phase+1) + 0.2*math.Sin(4*phase+2) + 0.12*math.Sin(8*phase)
		out[i] = int16(9000 * env * v)
	}
	return out
}
