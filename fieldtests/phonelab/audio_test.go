package phonelab

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"meshcomm/media"
)

const testRate = 8000 // keeps the unit tests' correlations small

func delayed(ref []int16, by int, tail int) []int16 {
	return append(append(make([]int16, by), ref...), make([]int16, tail)...)
}

func TestMatchAudioFindsADelayedCopy(t *testing.T) {
	ref := media.SpeechLike(testRate, 4*time.Second)
	lag := testRate * 80 / 1000 // 80 ms
	m, err := MatchAudio(ref, delayed(ref, lag, testRate), testRate, 500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if m.Speech < 3 || m.Compared != m.Speech || m.Similarity < 0.999 || m.Worst < 0.999 ||
		m.Delay != 80*time.Millisecond || m.DelaySpread != 0 {
		t.Errorf("a copy 80 ms late: %s, want every window found at 80 ms with similarity 1", m)
	}
}

func TestMatchAudioFollowsASlip(t *testing.T) {
	// The jitter buffer grows by one 20 ms frame after 2 s: each window still matches, at its
	// own delay.
	ref := media.SpeechLike(testRate, 4*time.Second)
	split := 2 * testRate
	got := delayed(ref[:split], testRate*40/1000, 0)
	got = append(append(got, make([]int16, testRate*20/1000)...), ref[split:]...)
	got = append(got, make([]int16, testRate)...)
	m, err := MatchAudio(ref, got, testRate, 500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if m.Compared != m.Speech || m.Similarity < 0.999 || m.DelaySpread != 20*time.Millisecond ||
		m.Delay != 40*time.Millisecond && m.Delay != 60*time.Millisecond {
		t.Errorf("a 20 ms slip at 2 s: %s, want every window matched at 40 or 60 ms", m)
	}
}

func TestMatchAudioScoresNoiseLow(t *testing.T) {
	ref := media.SpeechLike(testRate, 4*time.Second)
	rnd := rand.New(rand.NewPCG(1, 2))
	noise := make([]int16, len(ref)+testRate)
	for i := range noise {
		noise[i] = int16(rnd.IntN(8000) - 4000)
	}
	m, err := MatchAudio(ref, noise, testRate, 500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if m.Compared != m.Speech || m.Similarity > 0.3 {
		t.Errorf("noise scored %s, want a median similarity far below a copy's", m)
	}
	silence := make([]int16, len(ref)+testRate)
	if m, err := MatchAudio(ref, silence, testRate, 500*time.Millisecond); err != nil || m.Similarity != 0 {
		t.Errorf("silence scored %s (%v), want 0", m, err)
	}
}

func TestMatchAudioCountsWhatTheRecordingCannotHold(t *testing.T) {
	ref := media.SpeechLike(testRate, 4*time.Second)
	short := slices.Clone(ref[:2*testRate+testRate/2]) // 2.5 s: two windows and their search range
	m, err := MatchAudio(ref, short, testRate, 500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if m.Compared != 2 || m.Speech <= m.Compared {
		t.Errorf("a recording of 2.5 s: %s, want 2 windows compared of more", m)
	}
	if m, err := MatchAudio(ref, nil, testRate, 500*time.Millisecond); err != nil || m.Compared != 0 || m.Speech == 0 {
		t.Errorf("an empty recording: %s (%v), want nothing compared", m, err)
	}
}

func TestMatchAudioRefuses(t *testing.T) {
	ref := media.SpeechLike(testRate, 2*time.Second)
	if _, err := MatchAudio(make([]int16, 2*testRate), ref, testRate, 0); err == nil {
		t.Error("a silent reference was accepted")
	}
	if _, err := MatchAudio(ref, ref, 0, 0); err == nil {
		t.Error("rate 0 was accepted")
	}
	if _, err := MatchAudio(ref, ref, testRate, -time.Second); err == nil {
		t.Error("a negative search range was accepted")
	}
	if _, err := MatchAudio(ref, make([]int16, media.MaxAlignSamples+1), testRate, 0); err == nil {
		t.Error("a recording above media's bound was accepted")
	}
}
