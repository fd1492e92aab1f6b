package mesh

// Contact is how to reach a peer: its identifier and a transport address. The overlay treats
// Addr as opaque (a "host:port" over QUIC, empty in the simulator).
type Contact struct {
	ID   NodeID
	Addr string
}

// Mode is the overlay's current organisation.
type Mode uint8

const (
	ModeFlood Mode = 1 // every peer holds every record; lookups are local
	ModeDHT   Mode = 2 // records live on the R closest peers; lookups are iterative
)

func (m Mode) String() string {
	switch m {
	case ModeFlood:
		return "flood"
	case ModeDHT:
		return "dht"
	}
	return "unknown"
}

// MsgType tags a message on the wire.
type MsgType uint8

const (
	TypePing MsgType = iota + 1
	TypePong
	TypeHello
	TypeFindNode
	TypeNodes
	TypeFindValue
	TypeValue
	TypeStore
	TypeStoreAck
	TypeFlood
	TypeFloodAck
	TypeSyncRanges
	TypeSyncItems
	TypeSyncWant
	TypeNeighborhoodReq
	TypeNeighborhood
	TypeMerge
	TypeLeave
	TypeTouch
	TypeTouchAck
	maxMsgType = TypeTouchAck
)

// Message is one overlay protocol message.
type Message interface{ Type() MsgType }

// Status is what every peer tells about itself in Hello, Ping and Pong.
type Status struct {
	Mode         Mode
	SizeEstimate uint32 // the sender's estimate of the number of live peers in its mesh
}

// Ping probes liveness; Pong answers it with the same nonce.
type Ping struct {
	Nonce uint64
	Status
}
type Pong struct {
	Nonce uint64
	Status
}

// Hello opens every new contact between two peers.
type Hello struct {
	Status
	Self Contact // the sender's own advertised contact
}

// FindNode asks for the peers closest to Target that the receiver knows.
type FindNode struct {
	ReqID  uint64
	Target [IDBytes]byte
}

// Nodes answers FindNode.
type Nodes struct {
	ReqID uint64
	Nodes []Contact
}

// FindValue asks for the records of one kind at a resource; the answer also carries closer peers.
type FindValue struct {
	ReqID    uint64
	Resource ResourceID
	Kind     Kind
}

// Value answers FindValue.
type Value struct {
	ReqID   uint64
	Records []Record
	Nodes   []Contact
}

// Store asks the receiver to hold records. ReqID 0 wants no acknowledgement.
type Store struct {
	ReqID   uint64
	Records []Record
}

// StoreAck tells how many records of a Store were kept and how many refused.
type StoreAck struct {
	ReqID   uint64
	Stored  uint16
	Refused uint16
}

// Flood carries a flooded payload (records, in flood mode) with the flood header.
type Flood struct {
	ID      [IDBytes]byte // unique per flooded message, chosen by its origin
	Origin  NodeID        // the peer that started the flood (rate limits are per origin)
	Hops    uint8         // hops left
	Records []Record
}

// FloodAck tells the previous hop that a flood arrived (so it stops retransmitting).
type FloodAck struct {
	ID [IDBytes]byte
}

// Range is a slice of record-identity space: every record whose identity hash starts with the
// first Bits bits of Prefix. Fingerprint is the XOR of the version digests of those records.
type Range struct {
	Prefix      [IDBytes]byte
	Bits        uint8
	Count       uint32
	Fingerprint [IDBytes]byte
}

// ItemVersion names one record by identity hash and version, as listed during reconciliation.
type ItemVersion struct {
	Hash    [IDBytes]byte
	Version uint64
	Deleted bool
}

// SyncRanges carries fingerprints of ranges the sender wants compared.
type SyncRanges struct {
	Session uint64
	Ranges  []Range
}

// SyncItems lists every record the sender holds within Ranges (small ranges only).
type SyncItems struct {
	Session uint64
	Ranges  []Range
	Items   []ItemVersion
}

// SyncWant asks for the records with these identity hashes.
type SyncWant struct {
	Session uint64
	Hashes  [][IDBytes]byte
}

// NeighborhoodReq asks a peer for its view of the mesh near itself and a sample of the rest.
type NeighborhoodReq struct {
	ReqID uint64
}

// Neighborhood answers NeighborhoodReq: Near is every peer the sender knows in its own region
// of the identifier space, Far a few peers in each other region.
type Neighborhood struct {
	ReqID uint64
	Near  []Contact
	Far   []Contact
}

// Merge is broadcast through a mesh when it meets another: Entries are peers of the other mesh.
type Merge struct {
	ID      [IDBytes]byte
	Hops    uint8
	Entries []Contact
}

// Leave says the sender is shutting down cleanly.
type Leave struct{}

// RecordRef names a version of a record (for Touch).
type RecordRef struct {
	Resource ResourceID
	Kind     Kind
	Key      []byte
	Version  uint64
}

// Touch asks a replica whether it still holds these record versions.
type Touch struct {
	ReqID uint64
	Refs  []RecordRef
}

// TouchAck answers Touch: Missing lists the indexes of refs the replica lacks.
type TouchAck struct {
	ReqID   uint64
	Missing []uint16
}

func (*Ping) Type() MsgType            { return TypePing }
func (*Pong) Type() MsgType            { return TypePong }
func (*Hello) Type() MsgType           { return TypeHello }
func (*FindNode) Type() MsgType        { return TypeFindNode }
func (*Nodes) Type() MsgType           { return TypeNodes }
func (*FindValue) Type() MsgType       { return TypeFindValue }
func (*Value) Type() MsgType           { return TypeValue }
func (*Store) Type() MsgType           { return TypeStore }
func (*StoreAck) Type() MsgType        { return TypeStoreAck }
func (*Flood) Type() MsgType           { return TypeFlood }
func (*FloodAck) Type() MsgType        { return TypeFloodAck }
func (*SyncRanges) Type() MsgType      { return TypeSyncRanges }
func (*SyncItems) Type() MsgType       { return TypeSyncItems }
func (*SyncWant) Type() MsgType        { return TypeSyncWant }
func (*NeighborhoodReq) Type() MsgType { return TypeNeighborhoodReq }
func (*Neighborhood) Type() MsgType    { return TypeNeighborhood }
func (*Merge) Type() MsgType           { return TypeMerge }
func (*Leave) Type() MsgType           { return TypeLeave }
func (*Touch) Type() MsgType           { return TypeTouch }
func (*TouchAck) Type() MsgType        { return TypeTouchAck }
