package mesh

import "math/rand/v2"

// messageGen produces random messages within the codec's limits, reproducibly from a seed. Empty
// lists and byte fields are nil, as Decode returns them.
type messageGen struct{ r *rand.Rand }

func newMessageGen(seed uint64) *messageGen {
	return &messageGen{r: rand.New(rand.NewPCG(seed, 0x6d657368636f6d6d))}
}

// bits returns a value of at most width bits, the width itself random, so that varints of every
// length turn up.
func (g *messageGen) bits(width uint) uint64 {
	return g.r.Uint64() >> (64 - g.r.UintN(width+1))
}

func (g *messageGen) i64() int64 {
	v := int64(g.bits(64))
	if g.r.IntN(2) == 0 {
		v = -v
	}
	return v
}

func (g *messageGen) id() (id [IDBytes]byte) {
	for i := range id {
		id[i] = byte(g.r.UintN(256))
	}
	return id
}

// length picks a length up to max: often zero, usually small, sometimes the limit itself.
func (g *messageGen) length(max int) int {
	switch g.r.IntN(8) {
	case 0:
		return 0
	case 1:
		return max
	default:
		return g.r.IntN(min(max, 200) + 1)
	}
}

func (g *messageGen) bytes(max int) []byte {
	n := g.length(max)
	if n == 0 {
		return nil
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(g.r.UintN(256))
	}
	return b
}

// count picks a list length: usually a handful, so that frames stay under MaxMessageBytes.
func (g *messageGen) count() int { return g.r.IntN(9) }

func genList[T any](g *messageGen, elem func() T) []T {
	n := g.count()
	if n == 0 {
		return nil
	}
	xs := make([]T, n)
	for i := range xs {
		xs[i] = elem()
	}
	return xs
}

func (g *messageGen) status() Status {
	return Status{Mode: Mode(g.r.UintN(256)), SizeEstimate: uint32(g.bits(32))}
}

func (g *messageGen) contact() Contact {
	return Contact{ID: g.id(), Addr: string(g.bytes(MaxAddrBytes))}
}

// record keeps the value modest unless it is alone, so that eight records still fit a frame.
func (g *messageGen) record() Record {
	return Record{
		Resource:  g.id(),
		Kind:      Kind(g.r.UintN(256)),
		Key:       g.bytes(MaxKeyBytes),
		Value:     g.bytes(MaxValueBytes),
		Version:   g.bits(64),
		Expiry:    g.i64(),
		Deleted:   g.r.IntN(2) == 0,
		Owner:     g.bytes(MaxCredentialBytes),
		Signature: g.bytes(MaxSignatureBytes),
	}
}

func (g *messageGen) rng() Range {
	return Range{Prefix: g.id(), Bits: uint8(g.r.UintN(maxRangeBits + 1)), Count: uint32(g.bits(32)),
		Fingerprint: g.id()}
}

func (g *messageGen) item() ItemVersion {
	return ItemVersion{Hash: g.id(), Version: g.bits(64), Deleted: g.r.IntN(2) == 0}
}

func (g *messageGen) ref() RecordRef {
	return RecordRef{Resource: g.id(), Kind: Kind(g.r.UintN(256)), Key: g.bytes(MaxKeyBytes),
		Version: g.bits(64)}
}

// message returns a random message of type t.
func (g *messageGen) message(t MsgType) Message {
	switch t {
	case TypePing:
		return &Ping{Nonce: g.r.Uint64(), Status: g.status()}
	case TypePong:
		return &Pong{Nonce: g.r.Uint64(), Status: g.status()}
	case TypeHello:
		return &Hello{Status: g.status(), Self: g.contact()}
	case TypeFindNode:
		return &FindNode{ReqID: g.bits(64), Target: g.id()}
	case TypeNodes:
		return &Nodes{ReqID: g.bits(64), Nodes: genList(g, g.contact)}
	case TypeFindValue:
		return &FindValue{ReqID: g.bits(64), Resource: g.id(), Kind: Kind(g.r.UintN(256))}
	case TypeValue:
		return &Value{ReqID: g.bits(64), Records: genList(g, g.record), Nodes: genList(g, g.contact)}
	case TypeStore:
		return &Store{ReqID: g.bits(64), Records: genList(g, g.record)}
	case TypeStoreAck:
		return &StoreAck{ReqID: g.bits(64), Stored: uint16(g.bits(16)), Refused: uint16(g.bits(16))}
	case TypeFlood:
		return &Flood{ID: g.id(), Origin: g.id(), Hops: uint8(g.r.UintN(256)), Records: genList(g, g.record)}
	case TypeFloodAck:
		return &FloodAck{ID: g.id()}
	case TypeSyncRanges:
		return &SyncRanges{Session: g.bits(64), Ranges: genList(g, g.rng)}
	case TypeSyncItems:
		return &SyncItems{Session: g.bits(64), Ranges: genList(g, g.rng), Items: genList(g, g.item)}
	case TypeSyncWant:
		return &SyncWant{Session: g.bits(64), Hashes: genList(g, g.id)}
	case TypeNeighborhoodReq:
		return &NeighborhoodReq{ReqID: g.bits(64)}
	case TypeNeighborhood:
		return &Neighborhood{ReqID: g.bits(64), Near: genList(g, g.contact), Far: genList(g, g.contact)}
	case TypeMerge:
		return &Merge{ID: g.id(), Hops: uint8(g.r.UintN(256)), Entries: genList(g, g.contact)}
	case TypeLeave:
		return &Leave{}
	case TypeTouch:
		return &Touch{ReqID: g.bits(64), Refs: genList(g, g.ref)}
	case TypeTouchAck:
		return &TouchAck{ReqID: g.bits(64), Missing: genList(g, func() uint16 { return uint16(g.r.UintN(MaxRefs)) })}
	}
	panic("messageGen: no generator for this type")
}

// allTypes lists every message type the codec knows.
func allTypes() []MsgType {
	var ts []MsgType
	for t := TypePing; t <= maxMsgType; t++ {
		ts = append(ts, t)
	}
	return ts
}
