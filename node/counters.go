package node

import (
	"maps"
	"sync"
	"sync/atomic"
)

// counters are the runtime's own counts (the core, transport and outbox keep theirs).
type counters struct {
	framesIn, bytesIn atomic.Uint64
	encodeErrors      atomic.Uint64
	persistErrors     atomic.Uint64
	revocations       atomic.Uint64
	controlRefused    atomic.Uint64

	mu        sync.Mutex
	badFrames map[string]uint64
}

// badFrame counts one undecodable frame and returns the count for its reason.
func (c *counters) badFrame(reason string) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.badFrames == nil {
		c.badFrames = map[string]uint64{}
	}
	c.badFrames[reason]++
	return c.badFrames[reason]
}

func (c *counters) badFrameCounts() map[string]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := maps.Clone(c.badFrames)
	if out == nil {
		out = map[string]uint64{}
	}
	return out
}

// Counters are a node's counts since it started, as status reports them.
type Counters struct {
	FramesIn         uint64            `json:"frames_in"`
	FramesOut        uint64            `json:"frames_out"`
	BytesIn          uint64            `json:"bytes_in"` // overlay frame payloads, QUIC overhead excluded
	BytesOut         uint64            `json:"bytes_out"`
	BadFrames        map[string]uint64 `json:"bad_frames"` // by mesh.WireErrorReason
	SendDropped      uint64            `json:"send_dropped"`
	SendFailed       uint64            `json:"send_failed"`
	EncodeErrors     uint64            `json:"encode_errors"`
	PersistErrors    uint64            `json:"persist_errors"`
	EventsDropped    uint64            `json:"events_dropped"`
	ControlRefused   uint64            `json:"control_refused"`
	Revocations      uint64            `json:"revocations_honoured"`
	RecordsStored    uint64            `json:"records_stored"`
	RecordsRefused   map[string]uint64 `json:"records_refused"`
	LookupsFound     uint64            `json:"lookups_found"`
	LookupsMissed    uint64            `json:"lookups_missed"`
	ModeSwitches     uint64            `json:"mode_switches"`
	Merges           uint64            `json:"merges"`
	RequestTimeouts  uint64            `json:"request_timeouts"`
	DialFailures     uint64            `json:"dial_failures"`
	TransportRefused map[string]uint64 `json:"transport_refused"`
	RefusedByPeers   uint64            `json:"refused_by_peers"`
	IdentityRefused  map[string]uint64 `json:"identity_refused"`
}
