package mesh

// Envelope is a message a core wants sent to a peer.
type Envelope struct {
	To  Contact
	Msg Message
}

// Ready is the batch of effects a pure core has accumulated since it was last drained, in the
// manner of etcd-io/raft's Ready: messages to send, store changes to persist, and events to
// publish. The runtime performs them; the core never does.
type Ready struct {
	Messages []Envelope
	Persist  []Record    // records now held (own or for others) that should survive a restart
	Forget   []RecordKey // records no longer held
	Events   []Event
}

// Empty reports whether the batch holds nothing.
func (r *Ready) Empty() bool {
	return len(r.Messages) == 0 && len(r.Persist) == 0 && len(r.Forget) == 0 && len(r.Events) == 0
}

// Event is something that happened inside a core that the runtime or a user may care about.
type Event interface{ event() }

// LookupID identifies a lookup started by the local user.
type LookupID uint64

// LookupDone reports the end of a lookup. Hops counts sequential rounds of requests (0 when
// answered from the local store).
type LookupDone struct {
	ID       LookupID
	Resource ResourceID
	Kind     Kind
	Records  []Record
	Found    bool
	Hops     int
}

// ModeChanged reports a switch between flood and DHT organisation.
type ModeChanged struct {
	From, To     Mode
	SizeEstimate int
}

// PeerUp and PeerDown report a peer entering or leaving the set this node talks to.
type PeerUp struct{ Peer Contact }
type PeerDown struct{ Peer NodeID }

// MergeDetected reports contact with a separate mesh (or the other half of a healed partition).
type MergeDetected struct{ Via Contact }

// Refused reports a record or message this node refused, with the reason (also counted).
type Refused struct {
	From   NodeID
	Reason string
}

// RecordChanged reports a record stored or replaced in the local store.
type RecordChanged struct{ Record Record }

func (LookupDone) event()    {}
func (ModeChanged) event()   {}
func (PeerUp) event()        {}
func (PeerDown) event()      {}
func (MergeDetected) event() {}
func (Refused) event()       {}
func (RecordChanged) event() {}
