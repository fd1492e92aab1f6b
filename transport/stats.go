package transport

import (
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
)

// Refusal reasons, the keys of Stats.Refused. Every refusal is also logged.
const (
	ReasonALPN           = "alpn"                  // the peer does not offer ALPN "meshcomm/1"
	ReasonNoCertificate  = "no-certificate"        // the peer presented no certificate
	ReasonKeyNotEd25519  = "key-not-ed25519"       // the peer's leaf key is not ed25519
	ReasonExpired        = "certificate-expired"   // the peer's leaf is past NotAfter
	ReasonNotYetValid    = "certificate-not-yet"   // the peer's leaf is before NotBefore
	ReasonUntrusted      = "untrusted"             // VerifyPeer refused the chain
	ReasonBadPeerID      = "bad-peer-id"           // PeerID failed on the leaf
	ReasonSelf           = "self"                  // the peer has this node's own NodeID
	ReasonPeerMismatch   = "peer-mismatch"         // a dialled peer proved another NodeID
	ReasonUnknownKind    = "unknown-stream-kind"   // a stream kind nobody handles
	ReasonFrameTooLarge  = "frame-too-large"       // a frame's length is over MaxFrameBytes
	ReasonEmptyFrame     = "empty-frame"           // a frame of length zero
	ReasonTruncated      = "truncated"             // a stream ended inside a frame or before its kind
	ReasonStalled        = "stream-stalled"        // a stream silent for Timeouts.StreamIdle
	ReasonProbeTooLong   = "probe-too-long"        // a probe stream longer than 255 bytes
	ReasonRetireGarbage  = "retire-marker-bad"     // a retire marker that is not one phase byte
	ReasonBacklogFull    = "listener-backlog-full" // a listener did not accept streams fast enough
	ReasonDatagramQueued = "datagram-queue-full"   // a datagram arrived while delivery was backed up
)

// Stats are the endpoint's counters since it started.
type Stats struct {
	Peers               int // peers up now (their Up event raised, Down not yet)
	Connections         int // connections open now (duplicates being drained included)
	ConnectionsDialed   uint64
	ConnectionsAccepted uint64
	DuplicatesRetired   uint64 // connections closed by the one-connection-per-pair rule
	DialFailures        uint64
	RefusedByPeers      uint64 // handshakes the peer aborted: it does not accept our certificate
	FramesSent          uint64
	FramesReceived      uint64
	DatagramsSent       uint64
	DatagramsReceived   uint64
	StreamsOpened       uint64
	StreamsAccepted     uint64
	// Refused counts refused peers, streams, frames and datagrams by reason (Reason*).
	Refused map[string]uint64
}

type counters struct {
	dialed, accepted, retired, dialFailures atomic.Uint64
	refusedByPeers                          atomic.Uint64
	framesSent, framesReceived              atomic.Uint64
	datagramsSent, datagramsReceived        atomic.Uint64
	streamsOpened, streamsAccepted          atomic.Uint64

	mu      sync.Mutex
	refused map[string]uint64
}

// refuse counts and logs one refusal.
func (e *Endpoint) refuse(reason string, err error, attrs ...any) {
	e.stats.mu.Lock()
	if e.stats.refused == nil {
		e.stats.refused = map[string]uint64{}
	}
	e.stats.refused[reason]++
	e.stats.mu.Unlock()
	args := append([]any{slog.String("reason", reason)}, attrs...)
	if err != nil {
		args = append(args, slog.String("err", err.Error()))
	}
	e.log.Warn("transport: refused", args...)
}

// Stats returns a snapshot of the counters.
func (e *Endpoint) Stats() Stats {
	e.mu.Lock()
	peers, conns := 0, 0
	for _, p := range e.peers {
		conns += len(p.conns)
		if p.announced {
			peers++
		}
	}
	e.mu.Unlock()
	c := &e.stats
	c.mu.Lock()
	refused := maps.Clone(c.refused)
	c.mu.Unlock()
	if refused == nil {
		refused = map[string]uint64{}
	}
	return Stats{
		Peers:               peers,
		Connections:         conns,
		ConnectionsDialed:   c.dialed.Load(),
		ConnectionsAccepted: c.accepted.Load(),
		DuplicatesRetired:   c.retired.Load(),
		DialFailures:        c.dialFailures.Load(),
		RefusedByPeers:      c.refusedByPeers.Load(),
		FramesSent:          c.framesSent.Load(),
		FramesReceived:      c.framesReceived.Load(),
		DatagramsSent:       c.datagramsSent.Load(),
		DatagramsReceived:   c.datagramsReceived.Load(),
		StreamsOpened:       c.streamsOpened.Load(),
		StreamsAccepted:     c.streamsAccepted.Load(),
		Refused:             refused,
	}
}
