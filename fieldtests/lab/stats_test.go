package lab

import (
	"fmt"
	"slices"
	"time"
)

// durations summarises measured durations: median, 95th percentile (nearest rank), min, max.
type durations []time.Duration

func (d durations) percentile(p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(d))
	rank := int(p*float64(len(s))+0.999999) - 1 // nearest rank, 1-based, minus one
	return s[min(max(rank, 0), len(s)-1)]
}

func (d durations) String() string {
	if len(d) == 0 {
		return "no trials"
	}
	r := func(x time.Duration) time.Duration { return x.Round(time.Millisecond) }
	return fmt.Sprintf("median %v, p95 %v, min %v, max %v over %d trials", r(d.percentile(0.5)), r(d.percentile(0.95)),
		r(slices.Min(d)), r(slices.Max(d)), len(d))
}
