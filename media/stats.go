package media

// Stats are one session's counters. The JSON names are the ones `meshcomm call --json` prints.
type Stats struct {
	Codec           string `json:"codec"`
	PacketsSent     uint64 `json:"packets_sent"`
	PacketsReceived uint64 `json:"packets_received"` // distinct packets, duplicates excluded
	// Lost is expected minus received, from sequence numbers (RFC 3550 A.3). A late packet
	// counts as received, not lost.
	Lost       int64  `json:"lost"`
	Late       uint64 `json:"late"` // arrived after its playout time, dropped
	Duplicates uint64 `json:"duplicates"`
	// JitterMillis is the RFC 3550 interarrival jitter estimate.
	JitterMillis float64 `json:"jitter_ms"`
	// PlayoutDelayMillis is the jitter buffer's current playout delay.
	PlayoutDelayMillis int64  `json:"playout_delay_ms"`
	Concealed          uint64 `json:"concealed"` // frames made up for missing packets and underruns
	Stretched          uint64 `json:"stretched"` // frames made up to grow the playout delay
	Discarded          uint64 `json:"discarded"` // packets dropped to shrink or bound the buffer
	Resyncs            uint64 `json:"resyncs"`   // sequence or timestamp jumps that restarted playout
	SendErrors         uint64 `json:"send_errors"`
	SourceErrors       uint64 `json:"source_errors"`
	// Rejected counts refused datagrams and payloads by reason (the Reason constants).
	Rejected map[string]uint64 `json:"rejected,omitempty"`
}

// Stats returns a snapshot of the session's counters.
func (s *Session) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.jb.c
	st := Stats{
		Codec:              s.cfg.Format.Name,
		PacketsSent:        s.sent,
		PacketsReceived:    c.received,
		Lost:               s.jb.lost(),
		Late:               c.late,
		Duplicates:         c.duplicates,
		JitterMillis:       s.jb.jitterMillis(),
		PlayoutDelayMillis: s.jb.current.Milliseconds(),
		Concealed:          c.concealed,
		Stretched:          c.inserted,
		Discarded:          c.discarded,
		Resyncs:            c.resyncs,
		SendErrors:         s.sendErrors,
		SourceErrors:       s.sourceErrors,
	}
	if s.rejects.total() > 0 {
		st.Rejected = s.rejects.snapshot()
	}
	return st
}
