package media

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/pion/rtp"
)

// Demux routes the datagrams of one peer connection to the Sessions of the calls with that
// peer, by the RTP SSRC of each packet. It is safe for concurrent use.
type Demux struct {
	mu       sync.Mutex
	sessions map[uint32]*Session
	learners []*Session // sessions that do not know their remote SSRC yet, oldest first
	routed   uint64
	rejects  *rejects
}

// DemuxStats are a Demux's counters.
type DemuxStats struct {
	Routed   uint64            `json:"routed"`
	Rejected map[string]uint64 `json:"rejected,omitempty"` // by Reason
}

// ErrSSRCInUse is returned by Add for a remote SSRC another session already takes.
var ErrSSRCInUse = errors.New("media: remote SSRC already routed to another session")

// NewDemux makes an empty Demux; logger receives refused datagrams, rate-limited (nil: slog.Default()).
func NewDemux(logger *slog.Logger) *Demux {
	return &Demux{sessions: map[uint32]*Session{}, rejects: newRejects(logger, "media demux")}
}

// Add routes the session's remote SSRC (SessionConfig.RemoteSSRC) to it. A session whose
// remote SSRC is 0 takes the first SSRC no other session takes, and keeps it.
func (d *Demux) Add(s *Session) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	ssrc := s.remote()
	if ssrc == 0 {
		d.learners = append(d.learners, s)
		return nil
	}
	if other, ok := d.sessions[ssrc]; ok && other != s {
		return fmt.Errorf("%w: %d", ErrSSRCInUse, ssrc)
	}
	d.sessions[ssrc] = s
	return nil
}

// Remove stops routing to the session.
func (d *Demux) Remove(s *Session) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for ssrc, x := range d.sessions {
		if x == s {
			delete(d.sessions, ssrc)
		}
	}
	for i, x := range d.learners {
		if x == s {
			d.learners = append(d.learners[:i], d.learners[i+1:]...)
			break
		}
	}
}

// Deliver routes one datagram from the peer. A datagram above MaxDatagramBytes, one that is not
// RTP version 2, and one from an SSRC no session takes are refused: counted in Stats and logged.
func (d *Demux) Deliver(datagram []byte) {
	if len(datagram) > MaxDatagramBytes {
		d.rejects.add(ReasonOversize, nil, slog.Int("bytes", len(datagram)))
		return
	}
	var p rtp.Packet
	if err := p.Unmarshal(datagram); err != nil || p.Version != 2 || len(p.Payload) == 0 {
		if err == nil {
			err = fmt.Errorf("version %d, %d payload bytes", p.Version, len(p.Payload))
		}
		d.rejects.add(ReasonMalformed, err)
		return
	}
	d.mu.Lock()
	s, ok := d.sessions[p.SSRC]
	if !ok && len(d.learners) > 0 {
		s, d.learners = d.learners[0], d.learners[1:]
		s.bindRemote(p.SSRC)
		d.sessions[p.SSRC] = s
		ok = true
	}
	if ok {
		d.routed++
	}
	d.mu.Unlock()
	if !ok {
		d.rejects.add(ReasonUnknownSSRC, nil, slog.String("ssrc", fmt.Sprintf("%08x", p.SSRC)))
		return
	}
	s.deliverPacket(&p)
}

// Stats returns a snapshot of the counters.
func (d *Demux) Stats() DemuxStats {
	d.mu.Lock()
	st := DemuxStats{Routed: d.routed}
	d.mu.Unlock()
	if d.rejects.total() > 0 {
		st.Rejected = d.rejects.snapshot()
	}
	return st
}
