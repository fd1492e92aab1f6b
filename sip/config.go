package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"meshcomm/mesh"
)

// Binding is one registered contact of an address of record: the node that holds the
// registration and how to reach it.
type Binding struct {
	AoR     string
	NodeID  mesh.NodeID
	Contact mesh.Contact // NodeID and QUIC address of the node
}

// ErrNotFound is what a Locator returns when nobody has registered the address (404).
var ErrNotFound = errors.New("sip: address is not registered")

// Locator finds the current bindings of an address of record: in the node, a look-up in the
// overlay (zero hops in flood mode, a DHT look-up otherwise).
type Locator interface {
	Locate(ctx context.Context, aor string) ([]Binding, error)
}

// Dialer opens a bidirectional stream of a kind to a peer; transport.Endpoint is one.
type Dialer interface {
	OpenStream(ctx context.Context, to mesh.Contact, kind byte) (net.Conn, error)
}

// Media makes the audio half of calls. The node adapts package media to it; tests use a fake.
type Media interface {
	// NewSession prepares audio for one call: its LocalSDP is this side's offer or answer.
	// It must not block for long.
	NewSession(callID string) (MediaSession, error)
}

// MediaSession is the audio of one call.
type MediaSession interface {
	// LocalSDP is this side's session description.
	LocalSDP() []byte
	// Start begins sending and receiving with the peer node, whose description is remoteSDP.
	Start(peer mesh.NodeID, remoteSDP []byte) error
	// Close stops the audio and reports what it carried. It is called exactly once.
	Close() MediaStats
}

// MediaStats is what a media session reports when it ends.
type MediaStats struct {
	PacketsSent     uint64
	PacketsReceived uint64
	PacketsLost     uint64
}

// AnswerMode says what happens to an incoming call.
type AnswerMode int

const (
	// AnswerManual rings until Call.Answer, Call.Reject or the ring timeout.
	AnswerManual AnswerMode = iota
	// AnswerAuto rings, then answers after Policy.AutoAnswerAfter.
	AnswerAuto
	// AnswerBusy refuses every call with 486 Busy Here (do not disturb).
	AnswerBusy
)

// Policy governs incoming calls.
type Policy struct {
	Mode AnswerMode
	// AutoAnswerAfter is how long an AnswerAuto call rings first. Zero answers at once.
	AutoAnswerAfter time.Duration
	// RingTimeout ends an unanswered incoming call with 480. Default 60 s.
	RingTimeout time.Duration
	// MaxCalls is how many calls (ringing, being set up or answered, in either direction) may
	// exist at once; an INVITE beyond it gets 486 Busy Here. Default 1.
	MaxCalls int
}

// Message is a text message received with SIP MESSAGE.
type Message struct {
	ID       string      // the sender's message id (the MESSAGE's Call-ID)
	From     string      // sender's address of record
	To       string      // the local address of record it was sent to
	FromNode mesh.NodeID // the node that sent it (for a proxied message: the last hop)
	Text     string      // the text of a text/plain message
	// ContentType and Body are the message's media type and body as received (for text, the
	// text's bytes).
	ContentType string
	Body        []byte
	Received    time.Time
}

// Limits on what the user agent accepts; zero fields take the defaults.
type Limits struct {
	// MaxMessageBytes bounds one SIP message, headers and body. Default 65535, sipgo's own
	// parser limit.
	MaxMessageBytes int
	// MaxBodyBytes bounds a body. Default 32 KiB (a registration record is at most ~21 KiB).
	MaxBodyBytes int
	// MaxTextBytes bounds the text of a MESSAGE. Default 8 KiB.
	MaxTextBytes int
	// RequestsPerSecond and Burst rate-limit the requests each peer node may send; excess
	// requests get 503 with Retry-After. Defaults 50 and 100.
	RequestsPerSecond float64
	Burst             int
	// StallTimeout is how long a message may stay half-received before the stream is refused.
	// Default 30 s.
	StallTimeout time.Duration
}

// Default limits.
const (
	DefaultMaxMessageBytes   = 65535
	DefaultMaxBodyBytes      = 32 << 10
	DefaultMaxTextBytes      = 8 << 10
	DefaultRequestsPerSecond = 50
	DefaultBurst             = 100
	DefaultStallTimeout      = 30 * time.Second
	DefaultRingTimeout       = 60 * time.Second
	// maxHeaderBytes bounds the header section of a message.
	maxHeaderBytes = 16 << 10
	// maxSkipBytes is the largest oversized body skipped to keep a stream in step; a larger
	// one refuses the stream.
	maxSkipBytes = 1 << 20
)

// Config says how to build a user agent.
type Config struct {
	// AoRs are the local addresses of record ("sip:101@team"); the first is the default caller.
	AoRs []string
	// LocalID is this node's NodeID (the transport's LocalID).
	LocalID mesh.NodeID
	// Dialer opens SIP streams to peers (transport.Endpoint).
	Dialer Dialer
	// Listener accepts the SIP streams peers open (transport.Endpoint.Listener(KindSIP)). Each
	// accepted conn's RemoteAddr must be a transport.Addr (the authenticated NodeID).
	Listener net.Listener
	// StreamKind is the stream kind to open (transport.KindSIP).
	StreamKind byte
	// Locator finds where an address of record is registered.
	Locator Locator
	// Media makes calls' audio; nil makes calls without media (signalling only).
	Media Media
	// Policy governs incoming calls.
	Policy Policy
	// OnIncoming is told of every incoming call that rings (from its own goroutine).
	OnIncoming func(*Call)
	// OnMessage receives each new incoming text message once. A nil error sends 200 OK (the
	// delivery receipt); an error refuses the message with 480 so that the sender knows it
	// was not delivered.
	OnMessage func(Message) error
	// MessageTypes, if not nil, lists the media types MESSAGE may carry besides text/plain;
	// others get 415. Nil accepts every type (within Limits.MaxBodyBytes).
	MessageTypes []string
	// Proxy lets this node forward requests for addresses that are not its own (overlay
	// routing, see doc.go).
	Proxy bool
	// Registrar, if set, accepts REGISTER requests carrying signed registration records.
	Registrar *RegistrarConfig
	// Signer signs this node's own registration records (Register).
	Signer mesh.Signer
	// Limits bound what the user agent accepts.
	Limits Limits
	// Now is the clock of records and setup times. Default time.Now. Timers use package time,
	// so tests run the user agent inside a testing/synctest bubble.
	Now func() time.Time
	// Logger receives refusals and call events. Default slog.Default().
	Logger *slog.Logger
}

func (c *Config) check() error {
	switch {
	case len(c.AoRs) == 0:
		return errors.New("sip: Config.AoRs is empty")
	case c.LocalID.IsZero():
		return errors.New("sip: Config.LocalID is required")
	case c.Dialer == nil || c.Listener == nil:
		return errors.New("sip: Config.Dialer and Config.Listener are required")
	case c.Locator == nil:
		return errors.New("sip: Config.Locator is required")
	}
	for _, a := range c.AoRs {
		if _, err := ParseAoR(a); err != nil {
			return fmt.Errorf("sip: Config.AoRs: %w", err)
		}
	}
	return nil
}

func (l Limits) withDefaults() Limits {
	set := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	set(&l.MaxMessageBytes, DefaultMaxMessageBytes)
	set(&l.MaxBodyBytes, DefaultMaxBodyBytes)
	set(&l.MaxTextBytes, DefaultMaxTextBytes)
	set(&l.Burst, DefaultBurst)
	if l.RequestsPerSecond <= 0 {
		l.RequestsPerSecond = DefaultRequestsPerSecond
	}
	if l.StallTimeout <= 0 {
		l.StallTimeout = DefaultStallTimeout
	}
	if l.MaxMessageBytes > DefaultMaxMessageBytes {
		l.MaxMessageBytes = DefaultMaxMessageBytes // sipgo's parser refuses more
	}
	return l
}

func (p Policy) withDefaults() Policy {
	if p.RingTimeout <= 0 {
		p.RingTimeout = DefaultRingTimeout
	}
	if p.MaxCalls <= 0 {
		p.MaxCalls = 1
	}
	return p
}
