package discovery

import (
	"math/rand/v2"
	"time"
)

// browseSchedule is the per-interface timetable of announcements and queries.
type browseSchedule struct {
	fastUntil     time.Time
	nextQuery     time.Time
	announcesSent int
	nextAnnounce  time.Time
	nextBeacon    time.Time // zero: no beacon
	beacons       int
}

// The first query after a reset waits 20–120 ms (RFC 6762 §5.2) so that nodes brought up
// together by the same link event do not query in lock-step.
const (
	firstQueryMinDelay = 20 * time.Millisecond
	firstQueryJitter   = 100 * time.Millisecond
)

// reset starts the fast phase: announcements from now, queries after a short random delay, and
// (if beacon > 0) the beacon, which waits for the announcements to be over.
func (s *browseSchedule) reset(now time.Time, beacon time.Duration, rng *rand.Rand) {
	s.announcesSent = 0
	s.nextAnnounce = now
	s.nextQuery = now.Add(firstQueryMinDelay + time.Duration(rng.Int64N(int64(firstQueryJitter))))
	s.fastUntil = time.Time{} // set by the caller through fast()
	s.nextBeacon = time.Time{}
	if beacon > 0 {
		s.nextBeacon = now.Add(beacon)
	}
}

func (s *browseSchedule) announceDue(now time.Time, limit int) bool {
	return s.announcesSent < limit && !now.Before(s.nextAnnounce)
}

// announced records an announcement; the next one follows after 1 s, 2 s, 4 s, ...
func (s *browseSchedule) announced(now time.Time) {
	s.announcesSent++
	s.nextAnnounce = now.Add(time.Second << (s.announcesSent - 1))
}

func (s *browseSchedule) queryDue(now time.Time) bool {
	return !s.nextQuery.IsZero() && !now.Before(s.nextQuery)
}

// queried records a query and schedules the next: FastInterval while the fast phase lasts,
// SlowInterval ±10% afterwards.
func (s *browseSchedule) queried(now time.Time, sch Schedule, rng *rand.Rand) {
	if s.fastUntil.IsZero() {
		s.fastUntil = now.Add(sch.FastPeriod)
	}
	if now.Before(s.fastUntil) {
		s.nextQuery = now.Add(sch.FastInterval)
		return
	}
	spread := int64(sch.SlowInterval / 5)
	jitter := time.Duration(0)
	if spread > 0 {
		jitter = time.Duration(rng.Int64N(spread)) - sch.SlowInterval/10
	}
	s.nextQuery = now.Add(sch.SlowInterval + jitter)
}

// beaconDue reports whether the beacon should go out: it starts once the start-up
// announcements are over.
func (s *browseSchedule) beaconDue(now time.Time, announcements int) bool {
	return !s.nextBeacon.IsZero() && s.announcesSent >= announcements && !now.Before(s.nextBeacon)
}

// beaconed records a beacon and schedules the next after period ±20%, so that nodes started
// together drift apart instead of beaconing in lock-step.
func (s *browseSchedule) beaconed(now time.Time, period time.Duration, rng *rand.Rand) {
	s.beacons++
	spread := int64(period * 2 / 5)
	jitter := time.Duration(0)
	if spread > 0 {
		jitter = time.Duration(rng.Int64N(spread)) - period/5
	}
	s.nextBeacon = now.Add(period + jitter)
}
