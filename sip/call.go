package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/emiago/sipgo"

	"meshcomm/mesh"
)

// Direction says who placed a call.
type Direction int

const (
	Outgoing Direction = iota
	Incoming
)

func (d Direction) String() string {
	if d == Incoming {
		return "incoming"
	}
	return "outgoing"
}

// State is a call's progress. It only ever moves forward: a provisional response that
// arrives after the final one (sipgo delivers each message on its own goroutine, so a 180
// can overtake a 200, sipgo issue #306) cannot take a call back from answered to ringing.
type State int

const (
	StateTrying   State = iota // INVITE sent or being sent
	StateRinging               // the callee is alerting (180)
	StateAnswered              // 200 and ACK exchanged: media flows
	StateEnded                 // over; Info says how
)

func (s State) String() string {
	switch s {
	case StateTrying:
		return "trying"
	case StateRinging:
		return "ringing"
	case StateAnswered:
		return "answered"
	case StateEnded:
		return "ended"
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// CallInfo is a snapshot of a call.
type CallInfo struct {
	ID        string // Call-ID
	Direction Direction
	Local     string      // this side's address of record
	Remote    string      // the other side's address of record
	Peer      mesh.NodeID // the other side's node, once known
	State     State
	// Status is the SIP status that settled the call's setup: 200 answered, 404 unknown,
	// 480 unreachable or unanswered, 486 busy, 487 cancelled, 491 glare, 603 declined, …; 0
	// while it is being set up.
	Status    int
	Reason    string // how the call ended, in words
	EndedBy   string // "local" or "remote" for a hang-up or cancel, "" otherwise
	Glare     bool   // the call was merged with the peer's simultaneous call to us
	Started   time.Time
	Located   time.Time // outgoing: when the callee's bindings were found (or the hop chosen)
	Answered  time.Time
	Ended     time.Time
	SetupTime time.Duration // from INVITE to answer
	Media     MediaStats    // what the media session reported when it closed
}

// Call is one call, placed with UA.Call or received (Config.OnIncoming).
type Call struct {
	ua *UA

	mu      sync.Mutex
	info    CallInfo
	changed chan struct{} // closed and replaced at every state change
	done    chan struct{}
	ending  bool
	media   MediaSession

	// Outgoing calls.
	cancelSetup context.CancelFunc
	uac         *sipgo.DialogClientSession
	adopted     chan struct{} // closed when the peer's simultaneous INVITE replaced ours

	// Incoming calls (and adopted outgoing ones).
	uas       *sipgo.DialogServerSession
	decide    chan int // 200 to answer, or a rejection status
	answering bool

	next mesh.NodeID // the first hop of in-dialog requests (the peer, or a proxy)
}

func newCall(ua *UA, dir Direction, id string, local, remote AoR) *Call {
	return &Call{
		ua:      ua,
		info:    CallInfo{ID: id, Direction: dir, Local: local.String(), Remote: remote.String(), Started: ua.now()},
		changed: make(chan struct{}),
		done:    make(chan struct{}),
		adopted: make(chan struct{}),
		decide:  make(chan int, 1),
	}
}

// Info returns a snapshot of the call.
func (c *Call) Info() CallInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.info
}

// ID is the call's Call-ID (it changes once if the call is merged after glare).
func (c *Call) ID() string { return c.Info().ID }

// State is the call's current state.
func (c *Call) State() State { return c.Info().State }

// Done is closed when the call has ended.
func (c *Call) Done() <-chan struct{} { return c.done }

// Wait waits until the call reaches state s or a later one, and returns the state reached.
func (c *Call) Wait(ctx context.Context, s State) (State, error) {
	for {
		c.mu.Lock()
		st, ch := c.info.State, c.changed
		c.mu.Unlock()
		if st >= s {
			return st, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return st, ctx.Err()
		}
	}
}

// advance moves the call forward to state s; it refuses to move back or stay put.
func (c *Call) advance(s State, status int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s <= c.info.State || c.ending || s == StateEnded {
		return false
	}
	c.info.State = s
	if s == StateAnswered {
		c.info.Status = status
		c.info.Answered = c.ua.now()
		c.info.SetupTime = c.info.Answered.Sub(c.info.Started)
	}
	close(c.changed)
	c.changed = make(chan struct{})
	return true
}

// end finishes the call once: it closes the media and records how the call ended.
func (c *Call) end(status int, reason, by string) {
	c.mu.Lock()
	if c.ending {
		c.mu.Unlock()
		return
	}
	c.ending = true
	m := c.media
	c.media = nil
	c.mu.Unlock()
	var ms MediaStats
	if m != nil {
		ms = m.Close()
	}
	c.mu.Lock()
	if c.info.Status == 0 || c.info.State < StateAnswered {
		c.info.Status = status
	}
	c.info.State = StateEnded
	c.info.Reason = reason
	c.info.EndedBy = by
	c.info.Ended = c.ua.now()
	c.info.Media = ms
	id := c.info.ID
	close(c.changed)
	c.changed = make(chan struct{})
	close(c.done)
	c.mu.Unlock()
	c.ua.forget(id, c)
	c.ua.log.Info("sip: call ended", slog.String("call", id), slog.Int("status", status), slog.String("reason", reason), slog.String("by", by))
}

// Answer answers a ringing incoming call.
func (c *Call) Answer() error { return c.decideWith(200) }

// Reject refuses a ringing incoming call with a status (486 busy, 603 decline, …).
func (c *Call) Reject(status int) error {
	if status < 400 || status > 699 {
		return fmt.Errorf("sip: %d is not a rejection status", status)
	}
	return c.decideWith(status)
}

var errNotRinging = errors.New("sip: the call is not an incoming call waiting for an answer")

func (c *Call) decideWith(status int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.info.Direction != Incoming || c.info.State != StateRinging || c.answering || c.ending {
		return errNotRinging
	}
	select {
	case c.decide <- status:
		c.answering = true
		return nil
	default:
		return errNotRinging
	}
}

// Hangup ends the call from this side: CANCEL while an outgoing call is being set up, 603
// Decline while an incoming call rings, BYE once answered. It returns when the call has ended
// (or ctx is done).
func (c *Call) Hangup(ctx context.Context) error {
	for {
		c.mu.Lock()
		st, dir, answering := c.info.State, c.info.Direction, c.answering
		cancelSetup := c.cancelSetup
		c.mu.Unlock()
		switch {
		case st == StateEnded:
			return nil
		case st == StateAnswered:
			return c.bye(ctx)
		case dir == Outgoing && cancelSetup != nil && !c.isAdopted():
			cancelSetup()
			return c.waitDone(ctx)
		case dir == Incoming && !answering:
			if c.Reject(603) != nil {
				continue // the state moved meanwhile
			}
			return c.waitDone(ctx)
		}
		// Being answered: wait for the answer to settle, then hang up.
		if _, err := c.Wait(ctx, StateAnswered); err != nil {
			return err
		}
	}
}

func (c *Call) isAdopted() bool {
	select {
	case <-c.adopted:
		return true
	default:
		return false
	}
}

func (c *Call) waitDone(ctx context.Context) error {
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// bye hangs up an answered call.
func (c *Call) bye(ctx context.Context) error {
	c.mu.Lock()
	uac, uas, next := c.uac, c.uas, c.next
	c.mu.Unlock()
	err := c.ua.sendOver(ctx, next, mesh.Contact{}, func() error {
		if uac != nil {
			return uac.Bye(ctx)
		}
		return uas.Bye(ctx)
	})
	c.end(200, "hung up", "local")
	if err != nil {
		return fmt.Errorf("sip: BYE: %w", err)
	}
	return nil
}

// forget removes an ended call from the table.
func (ua *UA) forget(id string, c *Call) {
	ua.mu.Lock()
	defer ua.mu.Unlock()
	if ua.calls[id] == c {
		delete(ua.calls, id)
	}
}

// Calls returns the calls in progress.
func (ua *UA) Calls() []*Call {
	ua.mu.Lock()
	defer ua.mu.Unlock()
	out := make([]*Call, 0, len(ua.calls))
	for _, c := range ua.calls {
		out = append(out, c)
	}
	return out
}

// activeCallsLocked counts calls in progress (ua.mu held).
func (ua *UA) activeCallsLocked() int { return len(ua.calls) }
