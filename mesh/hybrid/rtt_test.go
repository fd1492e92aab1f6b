package hybrid

import (
	"testing"
	"time"
)

func TestRoundTripsFollowTheLinkAndStayWithinBounds(t *testing.T) {
	const floor, limit = 250 * time.Millisecond, time.Second
	var e roundTrips
	if got := e.slowAfter(floor, limit); got != floor {
		t.Fatalf("with no samples slowAfter = %v, want the floor %v", got, floor)
	}
	for range 20 {
		e.sample(20 * time.Millisecond) // a LAN
	}
	if got := e.slowAfter(floor, limit); got != floor {
		t.Fatalf("on a 20 ms link slowAfter = %v, want the floor %v", got, floor)
	}
	for range 30 {
		e.sample(400 * time.Millisecond) // a loaded multi-hop radio link
	}
	got := e.slowAfter(floor, limit)
	if got <= 400*time.Millisecond || got > limit {
		t.Fatalf("on a 400 ms link slowAfter = %v, want above the round trip and at most %v", got, limit)
	}
	for i := range 40 {
		e.sample(time.Duration(300+600*(i%2)) * time.Millisecond) // erratic: 300 and 900 ms
	}
	if got := e.slowAfter(floor, limit); got != limit {
		t.Fatalf("on an erratic link slowAfter = %v, want the limit %v", got, limit)
	}
	before := e
	e.sample(-time.Millisecond)
	if e != before {
		t.Fatal("a negative sample changed the estimate")
	}
}
