package phonelab

import (
	"fmt"
	"slices"
	"time"
)

// Summary describes a set of measured durations.
type Summary struct {
	N                int
	Min, Median, Max time.Duration
	P95              time.Duration // nearest rank: the smallest value at least 95% of them do not exceed
	MedianMs, P95Ms  float64
	MinMs, MaxMs     float64
}

// Summarise sorts a copy of ds and describes it. The median of an even count is the mean of
// the two middle values.
func Summarise(ds []time.Duration) Summary {
	if len(ds) == 0 {
		return Summary{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	out := Summary{N: n, Min: s[0], Median: med, Max: s[n-1], P95: s[nearestRank(n, 0.95)-1]}
	out.MinMs, out.MedianMs, out.P95Ms, out.MaxMs = ms(out.Min), ms(out.Median), ms(out.P95), ms(out.Max)
	return out
}

// nearestRank is the 1-based rank of the p-quantile of n sorted values: ceil(p*n).
func nearestRank(n int, p float64) int {
	r := int(float64(n)*p + 0.999999999)
	return min(max(r, 1), n)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func (s Summary) String() string {
	if s.N == 0 {
		return "no samples"
	}
	return fmt.Sprintf("median %.1f ms, p95 %.1f ms (min %.1f, max %.1f; n=%d)", s.MedianMs, s.P95Ms, s.MinMs, s.MaxMs, s.N)
}
