package radiolink

import (
	"fmt"
	"math"
	"time"
)

// DefaultQueueBytes bounds the bytes waiting for airtime on a rate-limited link whose
// QueueBytes is zero.
const DefaultQueueBytes = 64 << 10

// Link is the model of one directed radio link, from one node to another: whether the receiver
// hears the sender, and how badly.
type Link struct {
	// Up says the receiver hears the sender. A down link delivers nothing.
	Up bool
	// Delay is the one-way propagation delay added to every frame.
	Delay time.Duration
	// Jitter spreads the delay uniformly over [Delay-Jitter, Delay+Jitter] (never below zero).
	// Frames may then overtake each other, as they do under netem; with zero jitter a pair
	// keeps its frames in order, even across a change of Delay.
	Jitter time.Duration
	// Loss is the probability, in [0, 1], that a frame is lost, drawn per receiver.
	Loss float64
	// Rate is the link's capacity in bytes per second; zero means unlimited. Frames wait for
	// airtime in a queue of at most QueueBytes bytes; a frame that does not fit is dropped.
	Rate int64
	// QueueBytes bounds the queue of a rate-limited link; zero means DefaultQueueBytes.
	QueueBytes int64
}

// Validate reports the first nonsensical field.
func (l Link) Validate() error {
	switch {
	case l.Delay < 0:
		return fmt.Errorf("radiolink: negative delay %v", l.Delay)
	case l.Jitter < 0:
		return fmt.Errorf("radiolink: negative jitter %v", l.Jitter)
	case math.IsNaN(l.Loss) || l.Loss < 0 || l.Loss > 1:
		return fmt.Errorf("radiolink: loss %v outside [0, 1]", l.Loss)
	case l.Rate < 0:
		return fmt.Errorf("radiolink: negative rate %d", l.Rate)
	case l.QueueBytes < 0:
		return fmt.Errorf("radiolink: negative queue bound %d", l.QueueBytes)
	}
	return nil
}

// queueBound is the effective queue bound in bytes.
func (l Link) queueBound() int64 {
	if l.QueueBytes == 0 {
		return DefaultQueueBytes
	}
	return l.QueueBytes
}

// String describes the link the way the control protocol's flags spell it.
func (l Link) String() string {
	state := "up"
	if !l.Up {
		state = "down"
	}
	s := fmt.Sprintf("%s delay=%v jitter=%v loss=%g", state, l.Delay, l.Jitter, l.Loss)
	if l.Rate > 0 {
		s += fmt.Sprintf(" rate=%dB/s queue=%dB", l.Rate, l.queueBound())
	}
	return s
}

// PairStats counts what happened to frames on one directed link.
type PairStats struct {
	From, To int
	// Forwarded frames (and their bytes) were handed to the receiver.
	Forwarded      uint64
	ForwardedBytes uint64
	// DroppedLoss frames were lost to the link's loss probability.
	DroppedLoss uint64
	// DroppedDown frames met a down link, when sent or when due (a link taken down drops the
	// frames still in flight on it).
	DroppedDown uint64
	// DroppedQueue frames did not fit the rate-limited link's queue.
	DroppedQueue uint64
}

// NodeStats counts what one node transmitted: each well-formed frame once, however many nodes
// heard it (or none), as a radio puts it on the air once. Broadcast and multicast frames (mDNS,
// ARP, neighbour discovery) are also counted apart.
type NodeStats struct {
	Node                  int
	Transmitted           uint64
	TransmittedBytes      uint64
	TransmittedGroup      uint64
	TransmittedGroupBytes uint64
}

// Stats is a snapshot of the emulator's counters.
type Stats struct {
	// Pairs holds one entry per directed pair that has seen a frame, ordered by (From, To).
	Pairs []PairStats
	// Nodes holds one entry per node, ordered by node number (Nodes[n-1] is node n).
	Nodes []NodeStats
	// Malformed frames from nodes were too short, too long or had a group source address.
	Malformed uint64
	// UnknownUnicast frames were addressed to a MAC no node owns and went to every hearer.
	UnknownUnicast uint64
	// WriteErrors counts frames a node's interface refused.
	WriteErrors uint64
	// InFlight is the number of frames scheduled and not yet due.
	InFlight int
}

// Pair returns the counters of the directed pair from -> to (zero if it never saw a frame).
func (s Stats) Pair(from, to int) PairStats {
	for _, p := range s.Pairs {
		if p.From == from && p.To == to {
			return p
		}
	}
	return PairStats{From: from, To: to}
}
