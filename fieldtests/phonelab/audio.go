package phonelab

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"meshcomm/media"
)

// AudioWindow is the length of the pieces of the reference signal MatchAudio finds one by one
// in a recording. The jitter buffer may slip a frame while it adapts, so the delay is allowed
// to differ from one window to the next.
const AudioWindow = time.Second

// quietRMS is the level (RMS of 16-bit samples) below which a window of the reference is
// mostly a pause between phrases and is not compared: silence has no correlation peak.
const quietRMS = 1000

// AudioMatch says how well a recording holds a reference signal.
type AudioMatch struct {
	// Speech is the number of windows of the reference that hold speech (not a pause).
	Speech int
	// Compared is how many of them the recording was long enough to be searched for.
	Compared int
	// Similarity is the median over the compared windows of the normalised correlation at the
	// best lag (1: the same waveform at any gain; about 0: unrelated).
	Similarity float64
	// Worst is the lowest similarity of any compared window.
	Worst float64
	// Delay is the median over the compared windows of how far the recording lags the
	// reference (negative: the recording is ahead).
	Delay time.Duration
	// DelaySpread is the highest minus the lowest delay of the compared windows.
	DelaySpread time.Duration
}

func (m AudioMatch) String() string {
	return fmt.Sprintf("%d/%d speech windows compared: median similarity %.3f (worst %.3f), median delay %v (spread %v)",
		m.Compared, m.Speech, m.Similarity, m.Worst, m.Delay.Round(100*time.Microsecond), m.DelaySpread.Round(100*time.Microsecond))
}

// MatchAudio finds each AudioWindow of speech in ref inside got, searching lags within
// ±search of the window's own place, with media.Align (cross-correlation), and summarises the
// matches. Both signals are at rate Hz. A window whose search range runs past the end of the
// recording is counted in Speech, not Compared.
func MatchAudio(ref, got []int16, rate int, search time.Duration) (AudioMatch, error) {
	if rate <= 0 || search < 0 {
		return AudioMatch{}, fmt.Errorf("phonelab: match audio: rate %d, search %v", rate, search)
	}
	if len(ref) > media.MaxAlignSamples || len(got) > media.MaxAlignSamples {
		return AudioMatch{}, fmt.Errorf("phonelab: match audio: signals above %d samples", media.MaxAlignSamples)
	}
	win := int(AudioWindow.Seconds() * float64(rate))
	reach := int(search.Seconds() * float64(rate))
	var m AudioMatch
	var scores []float64
	var delays []time.Duration
	for start := 0; start+win <= len(ref); start += win {
		w := ref[start : start+win]
		if rms(w) < quietRMS {
			continue
		}
		m.Speech++
		from, to := max(0, start-reach), start+win+reach
		if to > len(got) {
			continue // the recording ended before this window's search range
		}
		a, err := media.Align(w, got[from:to], rate, 2*search+AudioWindow)
		if err != nil {
			return AudioMatch{}, err
		}
		lag := a.Lag + from - start
		scores = append(scores, a.Similarity)
		delays = append(delays, time.Duration(float64(lag)/float64(rate)*float64(time.Second)))
	}
	if m.Speech == 0 {
		return AudioMatch{}, errors.New("phonelab: match audio: the reference holds no speech")
	}
	m.Compared = len(scores)
	if m.Compared == 0 {
		return m, nil
	}
	slices.Sort(scores)
	slices.Sort(delays)
	m.Similarity, m.Worst = scores[len(scores)/2], scores[0]
	m.Delay, m.DelaySpread = delays[len(delays)/2], delays[len(delays)-1]-delays[0]
	return m, nil
}

func rms(x []int16) float64 {
	if len(x) == 0 {
		return 0
	}
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return math.Sqrt(s / float64(len(x)))
}
