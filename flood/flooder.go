package flood

import (
	"math"
	"time"
)

// ID identifies one flooded message; its origin chooses it (randomly, or by hashing the payload).
type ID [16]byte

// Config tunes a Flooder. A zero field takes its default.
type Config struct {
	HopLimit         uint8         // hops a new flood may travel; default 16
	SeenTTL          time.Duration // how long a message id is remembered; default 2m
	SeenCap          int           // most ids remembered (oldest evicted first); default 65536
	RetransmitAfter  time.Duration // resend to a neighbour that has not acked after this; doubles per try; default 250ms
	RetransmitBudget int           // most resends per (message, neighbour); default 3; negative: never resend
	PendingCap       int           // most unacked (message, neighbour) pairs kept; oldest dropped, counted; default 4096
	RatePerOrigin    float64       // floods per second accepted from one origin (token bucket); default 50; negative: no limit
	RateBurst        int           // bucket size; default 200
	OriginCap        int           // most origins tracked for rate limiting; default 4096
}

// Defaults of Config, applied to its zero fields.
const (
	DefaultHopLimit         = 16
	DefaultSeenTTL          = 2 * time.Minute
	DefaultSeenCap          = 65536
	DefaultRetransmitAfter  = 250 * time.Millisecond
	DefaultRetransmitBudget = 3
	DefaultPendingCap       = 4096
	DefaultRatePerOrigin    = 50
	DefaultRateBurst        = 200
	DefaultOriginCap        = 4096
)

// maxBackoffShift caps the doubling of the retransmission interval, so that a large budget
// cannot overflow it.
const maxBackoffShift = 16

func (c Config) withDefaults() Config {
	if c.HopLimit == 0 {
		c.HopLimit = DefaultHopLimit
	}
	if c.SeenTTL <= 0 {
		c.SeenTTL = DefaultSeenTTL
	}
	if c.SeenCap <= 0 {
		c.SeenCap = DefaultSeenCap
	}
	if c.RetransmitAfter <= 0 {
		c.RetransmitAfter = DefaultRetransmitAfter
	}
	if c.RetransmitBudget == 0 {
		c.RetransmitBudget = DefaultRetransmitBudget
	}
	if c.PendingCap <= 0 {
		c.PendingCap = DefaultPendingCap
	}
	if c.RatePerOrigin == 0 {
		c.RatePerOrigin = DefaultRatePerOrigin
	}
	if c.RateBurst <= 0 {
		c.RateBurst = DefaultRateBurst
	}
	if c.OriginCap <= 0 {
		c.OriginCap = DefaultOriginCap
	}
	return c
}

// Reasons a new message was not delivered or not forwarded (Received.Reason).
const (
	ReasonHopLimit    = "hop-limit"    // no hops left to forward it (or, with Hops 0, to accept it)
	ReasonRateLimited = "rate-limited" // its origin is over its rate: neither delivered nor forwarded
)

// Send is one transmission the caller must perform.
type Send[P comparable, M any] struct {
	To      P
	ID      ID
	Origin  P
	Hops    uint8 // hops left for the receiver
	Payload M
}

// Received is what the caller does with a flood that arrived.
type Received[P comparable, M any] struct {
	New     bool         // first sight of the id: deliver the payload locally
	Ack     bool         // acknowledge this copy to its sender (true for every well-formed message)
	Forward []Send[P, M] // copies to send on
	Reason  string       // why a new message was not forwarded or not delivered, "" when it was
}

// Stats counts what a Flooder did since it was made.
type Stats struct {
	Originated           uint64 // floods started by Originate
	Received             uint64 // calls of Receive
	Delivered            uint64 // received messages reported New
	Duplicates           uint64 // received copies of ids already seen (and Originate of a seen id)
	Forwarded            uint64 // first transmissions of received messages to neighbours
	Retransmits          uint64 // resends to neighbours that had not acked
	RetransmitsExhausted uint64 // (message, neighbour) pairs given up: budget spent, no ack
	HopLimited           uint64 // new messages not forwarded for lack of hops, or refused with none
	RateLimited          uint64 // new messages refused because their origin was over its rate
	PendingDropped       uint64 // pairs dropped unacked because PendingCap was reached
}

// Flooder floods messages over a neighbour set. It is not safe for concurrent use: one owner
// (a node's event loop, or the simulator) calls it.
type Flooder[P comparable, M any] struct {
	cfg     Config
	epoch   time.Time // the first now seen; internal instants are durations since it
	started bool
	seen    seenCache
	pending pendingSet[P, M]
	limiter rateLimiter[P]
	stats   Stats
}

// New makes a Flooder with cfg, its zero fields set to their defaults. It allocates nothing
// else until messages flow.
func New[P comparable, M any](cfg Config) *Flooder[P, M] {
	cfg = cfg.withDefaults()
	return &Flooder[P, M]{cfg: cfg, limiter: newRateLimiter[P](cfg.RatePerOrigin, cfg.RateBurst, cfg.OriginCap)}
}

// Config is the configuration in force, defaults applied.
func (f *Flooder[P, M]) Config() Config { return f.cfg }

// Originate starts flooding a new message from self to every neighbour. The payload is kept until every
// neighbour has acked or its budget is spent. An id already seen is not flooded again (nil, counted
// as a duplicate).
func (f *Flooder[P, M]) Originate(now time.Time, self P, id ID, payload M, neighbors []P) []Send[P, M] {
	t := f.advance(now)
	if f.seen.has(id) {
		f.stats.Duplicates++
		return nil
	}
	f.stats.Originated++
	f.remember(id, t)
	msg := &message[P, M]{id: id, origin: self, hops: f.cfg.HopLimit, payload: payload}
	return f.spread(t, msg, self, neighbors)
}

// Receive handles a flood arriving from `from`, with hops left for this node.
//
//   - A copy with no hops left (0) is malformed: nothing is delivered or acknowledged.
//   - A copy of an id already seen is a duplicate: it is acknowledged, and counts as from's
//     acknowledgement of any copy this node sent it (from holds the message).
//   - A new message from an origin over its rate is refused: acknowledged (resending will not
//     help while the origin stays over its rate) but neither delivered nor forwarded nor
//     remembered, so a copy arriving after the bucket refills is accepted.
//   - Otherwise the message is new: remembered, delivered, and forwarded with hops-1 to every
//     neighbour except from and the origin, unless that would leave no hops (Reason hop-limit).
//
// Hops above the configured HopLimit are lowered to it: no peer can flood further than this
// node allows.
func (f *Flooder[P, M]) Receive(now time.Time, from, origin P, id ID, hops uint8, payload M, neighbors []P) Received[P, M] {
	t := f.advance(now)
	f.stats.Received++
	if hops == 0 {
		f.stats.HopLimited++
		return Received[P, M]{Reason: ReasonHopLimit}
	}
	if f.seen.has(id) {
		f.stats.Duplicates++
		f.Acked(from, id)
		return Received[P, M]{Ack: true}
	}
	if !f.limiter.allow(origin, t) {
		f.stats.RateLimited++
		return Received[P, M]{Ack: true, Reason: ReasonRateLimited}
	}
	f.remember(id, t)
	f.stats.Delivered++
	hops = min(hops, f.cfg.HopLimit)
	if hops <= 1 {
		f.stats.HopLimited++
		return Received[P, M]{New: true, Ack: true, Reason: ReasonHopLimit}
	}
	msg := &message[P, M]{id: id, origin: origin, hops: hops - 1, payload: payload}
	fwd := f.spread(t, msg, from, neighbors)
	f.stats.Forwarded += uint64(len(fwd))
	return Received[P, M]{New: true, Ack: true, Forward: fwd}
}

// Acked records that `from` holds message id (stop retransmitting it to from).
func (f *Flooder[P, M]) Acked(from P, id ID) {
	if p := f.pending.get(pairKey[P]{id: id, to: from}); p != nil {
		f.pending.remove(p)
	}
}

// Tick returns the retransmissions due at now and expires old state: ids past their TTL, pairs
// whose budget is spent and whose last resend went unanswered, rate buckets that have refilled.
//
// A pair is sent at s, resent at s+a, s+3a, s+7a, ... (a = RetransmitAfter, the wait doubling
// after every resend, measured from when Tick actually ran), and given up when the wait after
// its last budgeted resend passes without an ack.
func (f *Flooder[P, M]) Tick(now time.Time) []Send[P, M] {
	t := f.advance(now)
	var out []Send[P, M]
	for p := f.pending.first(); p != nil && p.deadline <= t; p = f.pending.first() {
		if p.tries >= f.cfg.RetransmitBudget {
			f.pending.remove(p)
			f.stats.RetransmitsExhausted++
			continue
		}
		p.tries++
		f.pending.reschedule(p, after(t, f.backoff(p.tries)))
		out = append(out, p.send())
		f.stats.Retransmits++
	}
	f.pending.release()
	return out
}

// NextDeadline is the earliest time Tick has work to do (zero time when none). Expiry of
// remembered ids is batched: it is reported up to SeenTTL/16 late, so that a stream of floods
// costs one wake-up per batch rather than one per id. (Receive and Originate expire ids on
// time whatever the caller's wake-ups.)
func (f *Flooder[P, M]) NextDeadline() time.Time {
	var next time.Duration
	have := false
	if p := f.pending.first(); p != nil {
		next, have = p.deadline, true
	}
	if e, ok := f.seen.oldestExpiry(); ok {
		e = after(e, f.cfg.SeenTTL/16)
		if !have || e < next {
			next, have = e, true
		}
	}
	if !have {
		return time.Time{}
	}
	return f.epoch.Add(next)
}

// Forget drops every pending retransmission to a neighbour that has gone away. It costs a scan
// of the pending pairs (at most PendingCap).
func (f *Flooder[P, M]) Forget(neighbor P) { f.pending.removeTo(neighbor) }

// Seen reports whether id is remembered. Ids are forgotten by the calls that take a time, so an
// id past its TTL may be reported until the next of them.
func (f *Flooder[P, M]) Seen(id ID) bool { return f.seen.has(id) }

// Stats returns the counters.
func (f *Flooder[P, M]) Stats() Stats { return f.stats }

// Pending is the number of unacknowledged (message, neighbour) pairs held.
func (f *Flooder[P, M]) Pending() int { return f.pending.len() }

// advance turns now into the internal clock (a duration since the first now seen, which keeps
// the monotonic reading of real clocks) and expires what is due.
func (f *Flooder[P, M]) advance(now time.Time) time.Duration {
	if !f.started {
		f.epoch, f.started = now, true
	}
	t := now.Sub(f.epoch)
	f.seen.expire(t)
	f.limiter.expireIdle(t)
	return t
}

func (f *Flooder[P, M]) remember(id ID, t time.Duration) {
	f.seen.add(id, after(t, f.cfg.SeenTTL), f.cfg.SeenCap)
}

// spread sends msg to every neighbour except skip and the origin, each once, and tracks each
// copy for retransmission. The message's pairs are allocated together, in one block: they share
// the message's lifetime anyway (the payload is held until the last of them goes).
func (f *Flooder[P, M]) spread(t time.Duration, msg *message[P, M], skip P, neighbors []P) []Send[P, M] {
	if len(neighbors) == 0 {
		return nil
	}
	out := make([]Send[P, M], 0, len(neighbors))
	var block []pair[P, M]
	if f.cfg.RetransmitBudget >= 0 {
		block = make([]pair[P, M], 0, len(neighbors))
	}
	for _, n := range neighbors {
		if n == skip || n == msg.origin || block == nil && sentTo(out, n) {
			continue
		}
		if block != nil {
			block = append(block, pair[P, M]{to: n, msg: msg, deadline: after(t, f.cfg.RetransmitAfter)})
			if !f.pending.add(&block[len(block)-1]) {
				block = block[:len(block)-1] // n is listed twice
				continue
			}
			if f.pending.len() > f.cfg.PendingCap {
				f.pending.remove(f.pending.oldest)
				f.stats.PendingDropped++
			}
		}
		out = append(out, Send[P, M]{To: n, ID: msg.id, Origin: msg.origin, Hops: msg.hops, Payload: msg.payload})
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func sentTo[P comparable, M any](out []Send[P, M], n P) bool {
	for _, s := range out {
		if s.To == n {
			return true
		}
	}
	return false
}

// backoff is the wait after the tries-th resend: RetransmitAfter doubled tries times (at most
// maxBackoffShift times, and never past the longest duration).
func (f *Flooder[P, M]) backoff(tries int) time.Duration {
	shift := min(tries, maxBackoffShift)
	if f.cfg.RetransmitAfter > math.MaxInt64>>shift {
		return math.MaxInt64
	}
	return f.cfg.RetransmitAfter << shift
}

// after is t+d, saturating instead of overflowing.
func after(t, d time.Duration) time.Duration {
	if d > 0 && t > math.MaxInt64-d {
		return math.MaxInt64
	}
	return t + d
}
