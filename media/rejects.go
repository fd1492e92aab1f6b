package media

import (
	"log/slog"
	"math/bits"
	"sync"
)

// Reasons a datagram or payload is refused; they key Stats.Rejected and DemuxStats.Rejected.
const (
	ReasonOversize    = "oversize"     // a datagram above MaxDatagramBytes
	ReasonMalformed   = "malformed"    // not an RTP version 2 packet, or no payload
	ReasonPayloadType = "payload-type" // a payload type other than the negotiated one
	ReasonSSRC        = "ssrc"         // a source other than the one this session was told to expect
	ReasonUnknownSSRC = "unknown-ssrc" // (Demux) no session takes this SSRC
	ReasonUndecodable = "undecodable"  // the codec refused the payload; the frame was concealed
)

// rejects counts refused input by reason and logs it. A peer sending garbage at 50 packets a
// second must not flood the log, so each reason is logged on its 1st, 2nd, 4th, 8th, ...
// occurrence, with the running count.
type rejects struct {
	mu     sync.Mutex
	counts map[string]uint64
	log    *slog.Logger
	what   string
}

func newRejects(log *slog.Logger, what string) *rejects {
	if log == nil {
		log = slog.Default()
	}
	return &rejects{counts: map[string]uint64{}, log: log, what: what}
}

func (r *rejects) add(reason string, err error, attrs ...any) {
	r.mu.Lock()
	r.counts[reason]++
	n := r.counts[reason]
	r.mu.Unlock()
	if bits.OnesCount64(n) != 1 {
		return
	}
	args := append([]any{slog.String("reason", reason), slog.Uint64("count", n)}, attrs...)
	if err != nil {
		args = append(args, slog.String("err", err.Error()))
	}
	r.log.Warn(r.what+": refused", args...)
}

func (r *rejects) snapshot() map[string]uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]uint64, len(r.counts))
	for k, v := range r.counts {
		out[k] = v
	}
	return out
}

func (r *rejects) total() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var t uint64
	for _, v := range r.counts {
		t += v
	}
	return t
}
