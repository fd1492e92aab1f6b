package phonelab

import (
	"testing"
	"time"
)

func TestSummarise(t *testing.T) {
	ms := func(xs ...int) []time.Duration {
		out := make([]time.Duration, len(xs))
		for i, x := range xs {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	upTo := func(n int) []int {
		out := make([]int, n)
		for i := range out {
			out[i] = n - i // descending: Summarise must sort
		}
		return out
	}
	for _, tc := range []struct {
		name                   string
		in                     []time.Duration
		min, median, p95, maxV time.Duration
	}{
		{"one", ms(7), 7 * time.Millisecond, 7 * time.Millisecond, 7 * time.Millisecond, 7 * time.Millisecond},
		{"odd", ms(30, 10, 20), 10 * time.Millisecond, 20 * time.Millisecond, 30 * time.Millisecond, 30 * time.Millisecond},
		{"even: mean of the middle two", ms(40, 10, 20, 30), 10 * time.Millisecond, 25 * time.Millisecond, 40 * time.Millisecond, 40 * time.Millisecond},
		{"1..20: p95 is the 19th", ms(upTo(20)...), time.Millisecond, 10500 * time.Microsecond, 19 * time.Millisecond, 20 * time.Millisecond},
		{"1..100: p95 is the 95th", ms(upTo(100)...), time.Millisecond, 50500 * time.Microsecond, 95 * time.Millisecond, 100 * time.Millisecond},
		{"1..50: p95 is the 48th", ms(upTo(50)...), time.Millisecond, 25500 * time.Microsecond, 48 * time.Millisecond, 50 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := append([]time.Duration(nil), tc.in...)
			s := Summarise(tc.in)
			if s.N != len(tc.in) || s.Min != tc.min || s.Median != tc.median || s.P95 != tc.p95 || s.Max != tc.maxV {
				t.Errorf("got %+v, want min %v median %v p95 %v max %v", s, tc.min, tc.median, tc.p95, tc.maxV)
			}
			if s.MedianMs != float64(tc.median)/float64(time.Millisecond) {
				t.Errorf("MedianMs %v for %v", s.MedianMs, tc.median)
			}
			for i := range in {
				if in[i] != tc.in[i] {
					t.Fatal("Summarise reordered its input")
				}
			}
		})
	}
	if s := Summarise(nil); s.N != 0 || s.String() != "no samples" {
		t.Errorf("no samples: %+v %q", s, s.String())
	}
}
