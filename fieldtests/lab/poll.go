package lab

import (
	"fmt"
	"time"
)

// PollInterval is how often Poll checks its condition.
const PollInterval = 100 * time.Millisecond

// Poll checks cond every PollInterval until it holds, and returns how long that took. After
// timeout it gives up with an error carrying cond's last description of what is missing.
// Polling a condition is how the field tests wait: a real mesh has no event that says "every
// node now resolves every other", so they ask until it does, with a generous deadline.
func Poll(timeout time.Duration, what string, cond func() (ok bool, missing string)) (time.Duration, error) {
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		ok, missing := cond()
		if ok {
			return time.Since(start), nil
		}
		if time.Now().After(deadline) {
			return time.Since(start), fmt.Errorf("after %v still waiting for %s: %s", timeout, what, missing)
		}
		time.Sleep(PollInterval)
	}
}
