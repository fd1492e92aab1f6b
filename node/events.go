package node

import (
	"encoding/hex"
	"sync"
	"sync/atomic"
	"time"

	"meshcomm/mesh"
)

// Event types, as they appear in Event.Type.
const (
	EventPeerUp       = "peer-up"        // a direct QUIC link to a peer came up
	EventCall         = "call"           // an incoming call rang or ended
	EventMessage      = "message"        // a text or voicemail was delivered to this user
	EventPresence     = "presence"       // this user's presence changed
	EventPeerDown     = "peer-down"      // the last link to a peer went down
	EventModeChanged  = "mode-changed"   // the overlay switched between flood and DHT mode
	EventMeshSize     = "mesh-size"      // the estimate of the mesh's size changed
	EventMerge        = "merge"          // contact with another mesh (or a healed partition)
	EventRefused      = "refused"        // the core refused a record or message
	EventRecord       = "record"         // a record was stored or replaced locally
	EventLookupDone   = "lookup-done"    // a lookup finished
	EventBadFrame     = "bad-frame"      // a peer sent a frame that does not decode
	EventUntrusted    = "untrusted-team" // a peer of an untrusted team tried to connect
	EventRevoked      = "revocation"     // a revocation was honoured
	EventDisconnected = "revoked-peer"   // a link to a peer whose certificate is revoked was dropped
)

// Event is something that happened in the node, as subscribers and `meshcomm events` see it.
// Fields that do not apply to a type are empty.
type Event struct {
	Time         time.Time `json:"time"`
	Type         string    `json:"type"`
	Peer         string    `json:"peer,omitempty"` // a node id, 32 hex digits
	AoR          string    `json:"aor,omitempty"`
	Addr         string    `json:"addr,omitempty"`
	Mode         string    `json:"mode,omitempty"`
	SizeEstimate int       `json:"size_estimate,omitempty"`
	Kind         string    `json:"kind,omitempty"`     // record kind
	Resource     string    `json:"resource,omitempty"` // record resource, hex
	Key          string    `json:"key,omitempty"`      // record key, hex
	Version      uint64    `json:"version,omitempty"`
	Deleted      bool      `json:"deleted,omitempty"`
	Found        bool      `json:"found,omitempty"`
	Hops         int       `json:"hops,omitempty"`
	Detail       string    `json:"detail,omitempty"` // a reason, an error, a team name
}

// Bus fans events out to subscribers. Publishing never blocks: each subscriber has a bounded
// channel, and an event that finds it full is dropped for that subscriber and counted (in the
// subscription and in the bus). It is safe for concurrent use.
type Bus struct {
	mu      sync.Mutex
	subs    map[*Subscription]struct{}
	dropped atomic.Uint64
}

// Subscription receives events on C until Close.
type Subscription struct {
	C       <-chan Event
	c       chan Event
	bus     *Bus
	dropped atomic.Uint64
}

// NewBus makes an empty bus.
func NewBus() *Bus { return &Bus{subs: map[*Subscription]struct{}{}} }

// Subscribe adds a subscriber whose channel holds up to buffer events (SubscriberBuffer when
// buffer <= 0).
func (b *Bus) Subscribe(buffer int) *Subscription {
	if buffer <= 0 {
		buffer = SubscriberBuffer
	}
	c := make(chan Event, buffer)
	s := &Subscription{C: c, c: c, bus: b}
	b.mu.Lock()
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	return s
}

// Close removes the subscription and closes its channel. It is idempotent.
func (s *Subscription) Close() {
	s.bus.mu.Lock()
	defer s.bus.mu.Unlock()
	if _, ok := s.bus.subs[s]; ok {
		delete(s.bus.subs, s)
		close(s.c)
	}
}

// Dropped is how many events this subscriber lost because its channel was full.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Publish hands ev to every subscriber that has room.
func (b *Bus) Publish(ev Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		select {
		case s.c <- ev:
		default:
			s.dropped.Add(1)
			b.dropped.Add(1)
		}
	}
}

// Dropped is how many events were lost, summed over all subscribers.
func (b *Bus) Dropped() uint64 { return b.dropped.Load() }

// coreEvent converts an event of the overlay core. It reports false for the events the loop
// publishes itself with more to say: peer up and down (the transport's, with the peer's name)
// and lookups (with the AoR asked for).
func coreEvent(now time.Time, ev mesh.Event) (Event, bool) {
	out := Event{Time: now}
	switch e := ev.(type) {
	case mesh.ModeChanged:
		out.Type, out.Mode, out.SizeEstimate = EventModeChanged, e.To.String(), e.SizeEstimate
		out.Detail = "from " + e.From.String()
	case mesh.MergeDetected:
		out.Type, out.Peer, out.Addr = EventMerge, e.Via.ID.String(), e.Via.Addr
	case mesh.Refused:
		out.Type, out.Peer, out.Detail = EventRefused, e.From.String(), e.Reason
	case mesh.RecordChanged:
		r := &e.Record
		out.Type, out.Kind, out.Resource = EventRecord, r.Kind.String(), r.Resource.String()
		out.Key, out.Version, out.Deleted = hex.EncodeToString(r.Key), r.Version, r.Deleted
		if r.Kind == mesh.KindRegistration && !r.Deleted {
			if reg, err := DecodeRegistration(r.Value); err == nil {
				out.AoR, out.Addr, out.Peer = reg.AoR, reg.Addr, reg.NodeID
			}
		}
	default:
		return out, false
	}
	return out, true
}
