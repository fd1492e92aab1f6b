package media

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestAlignFindsAKnownDelayAndScoresTheMatch(t *testing.T) {
	const rate = 8000
	ref := SpeechLike(rate, 2*time.Second)
	for _, delay := range []int{0, 1, 37, 800, 2399} {
		got := make([]int16, delay, delay+len(ref))
		got = append(got, ref...)
		for i := range got { // halve the level: similarity ignores gain
			got[i] /= 2
		}
		a, err := Align(ref, got, rate, 300*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if a.Lag != delay || a.Delay != time.Duration(delay)*time.Second/rate || a.Similarity < 0.999 {
			t.Errorf("delayed by %d: found %+v", delay, a)
		}
	}
	// got ahead of ref: a negative lag.
	a, err := Align(ref, ref[100:], rate, 300*time.Millisecond)
	if err != nil || a.Lag != -100 {
		t.Errorf("advanced by 100: %+v, %v", a, err)
	}
}

func TestAlignScoresUnrelatedSignalsLow(t *testing.T) {
	const rate = 8000
	ref := SpeechLike(rate, 2*time.Second)
	rng := rand.New(rand.NewPCG(3, 4))
	noise := make([]int16, len(ref))
	for i := range noise {
		noise[i] = int16(rng.IntN(8000) - 4000)
	}
	tone := make([]int16, len(ref))
	NewToneSource(rate, 1000, 8000).Read(tone)
	for name, other := range map[string][]int16{"noise": noise, "tone": tone, "silence": make([]int16, len(ref))} {
		a, err := Align(ref, other, rate, 300*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if a.Similarity > 0.2 {
			t.Errorf("%s scored %.3f against speech", name, a.Similarity)
		}
	}
	if _, err := Align(nil, ref, rate, time.Second); err == nil {
		t.Error("aligned an empty signal")
	}
}
