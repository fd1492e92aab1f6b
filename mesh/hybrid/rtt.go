package hybrid

import "time"

// roundTrips estimates how long this node's peers take to answer, the way TCP does (RFC 6298: a
// smoothed mean and mean deviation of the samples), to tell a slow request from a live peer's
// ordinary answer. One estimate for the node, not one per peer: a lookup mostly asks peers it has
// never asked before, and the links that matter (the node's own radio or LAN) are shared.
type roundTrips struct {
	srtt, rttvar time.Duration
}

// sample adds one request's round trip.
func (e *roundTrips) sample(rtt time.Duration) {
	if rtt < 0 {
		return
	}
	if e.srtt == 0 {
		e.srtt, e.rttvar = rtt, rtt/2
		return
	}
	dev := e.srtt - rtt
	if dev < 0 {
		dev = -dev
	}
	e.rttvar += (dev - e.rttvar) / 4
	e.srtt += (rtt - e.srtt) / 8
}

// slowAfter is how long a request may go unanswered before it counts as slow: four deviations
// past the mean, never less than floor nor more than limit.
func (e *roundTrips) slowAfter(floor, limit time.Duration) time.Duration {
	return min(max(e.srtt+4*e.rttvar, floor), limit)
}
