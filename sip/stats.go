package sip

import (
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
)

// Refusal reasons: every refused stream, message or request is counted under one of these in
// Stats().Refused and logged with it.
const (
	ReasonMalformed      = "malformed"        // does not parse as SIP, or lacks a mandatory header
	ReasonFraming        = "framing"          // the stream cannot be split into messages
	ReasonHeaderTooLarge = "header_too_large" // header section over its bound
	ReasonTooLarge       = "too_large"        // message or body over its bound (413)
	ReasonContentLength  = "content_length"   // Content-Length disagrees with what follows
	ReasonStalled        = "stalled"          // a message stopped half-way
	ReasonRateLimited    = "rate_limited"     // a peer sent requests too fast (503)
	ReasonNoPeerIdentity = "no_peer_identity" // a stream without an authenticated NodeID
	ReasonUnknownUser    = "unknown_user"     // request for an address not here (404)
	ReasonUnknownDialog  = "unknown_dialog"   // in-dialog request for no dialog (481)
	ReasonLoop           = "loop"             // a request came back to a node it passed (482)
	ReasonTooManyHops    = "too_many_hops"    // Max-Forwards exhausted (483)
	ReasonBusy           = "busy"             // call over the policy's limit (486)
	ReasonTextTooLarge   = "text_too_large"   // MESSAGE text over its bound (413)
	ReasonBadContentType = "bad_content_type" // unsupported body type (415)
	ReasonBadRecord      = "bad_record"       // REGISTER body is not a valid registration record
	ReasonBadSignature   = "bad_signature"    // REGISTER record's signature does not verify
	ReasonNotOwner       = "not_owner"        // REGISTER for an address the signer does not own
	ReasonSignerMismatch = "signer_mismatch"  // REGISTER record signed by another node than the sender
	ReasonStoreFailed    = "store_failed"     // the overlay did not take the record
)

// Stats are the user agent's counters since it started.
type Stats struct {
	CallsPlaced       uint64
	CallsReceived     uint64
	CallsAnswered     uint64 // in either direction
	MessagesSent      uint64 // MESSAGE requests delivered (a 200 came back)
	MessagesReceived  uint64 // new messages handed to OnMessage
	MessageDuplicates uint64 // messages received again and acknowledged without redelivery
	RegistersAccepted uint64
	Forwarded         uint64 // requests forwarded as a proxy hop
	StreamsOpened     uint64
	StreamsAccepted   uint64
	// Refused counts every refusal by reason (the Reason constants).
	Refused map[string]uint64
}

type counters struct {
	callsPlaced, callsReceived, callsAnswered         atomic.Uint64
	messagesSent, messagesReceived, messageDuplicates atomic.Uint64
	registersAccepted, forwarded                      atomic.Uint64
	streamsOpened, streamsAccepted                    atomic.Uint64
	mu                                                sync.Mutex
	refused                                           map[string]uint64
}

func (c *counters) snapshot() Stats {
	c.mu.Lock()
	refused := maps.Clone(c.refused)
	c.mu.Unlock()
	if refused == nil {
		refused = map[string]uint64{}
	}
	return Stats{
		CallsPlaced:       c.callsPlaced.Load(),
		CallsReceived:     c.callsReceived.Load(),
		CallsAnswered:     c.callsAnswered.Load(),
		MessagesSent:      c.messagesSent.Load(),
		MessagesReceived:  c.messagesReceived.Load(),
		MessageDuplicates: c.messageDuplicates.Load(),
		RegistersAccepted: c.registersAccepted.Load(),
		Forwarded:         c.forwarded.Load(),
		StreamsOpened:     c.streamsOpened.Load(),
		StreamsAccepted:   c.streamsAccepted.Load(),
		Refused:           refused,
	}
}

// refuse counts and logs one refusal.
func (ua *UA) refuse(reason string, err error, attrs ...any) {
	ua.stats.mu.Lock()
	if ua.stats.refused == nil {
		ua.stats.refused = map[string]uint64{}
	}
	ua.stats.refused[reason]++
	ua.stats.mu.Unlock()
	attrs = append(attrs, slog.String("reason", reason))
	if err != nil {
		attrs = append(attrs, slog.String("err", err.Error()))
	}
	ua.log.Warn("sip: refused", attrs...)
}

// Stats returns the user agent's counters.
func (ua *UA) Stats() Stats { return ua.stats.snapshot() }
