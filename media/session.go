package media

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/pion/rtp"
)

const (
	// MaxDatagramBytes bounds one incoming datagram: a larger one is refused unread. It is the
	// QUIC datagram room of a 1280-byte IPv6 minimum MTU path, rounded down.
	MaxDatagramBytes = 1200
	rtpHeaderBytes   = 12
	// quietRMS is the level below which a played frame counts as quiet (about -50 dBFS).
	quietRMS = 100
)

// SessionConfig configures one call's audio. Format and Send are required.
type SessionConfig struct {
	// Format is the negotiated payload format (Negotiated.Format), payload type included.
	Format Format
	// SSRC identifies what this session sends; 0 picks a random one. Put the same value in the
	// SDP (SDPParams.SSRC) so that the peer's Demux can route it.
	SSRC uint32
	// RemoteSSRC is the peer's SSRC from its SDP (Negotiated.RemoteSSRC). 0 accepts any source
	// and follows the latest one (the jitter buffer starts over when it changes); otherwise a
	// packet from another source is refused.
	RemoteSSRC uint32
	// Send sends one datagram to the peer, e.g. a transport endpoint's SendDatagram bound to
	// the peer's NodeID. It should not block for long.
	Send func(datagram []byte) error
	// Source is the audio to send, paced one frame per Tick; nil sends nothing.
	Source Source
	// Sink receives one frame of played-out audio per Tick; nil discards it.
	Sink Sink
	// Jitter sizes the jitter buffer (zero value: 60 ms to start, adaptive in 20..200 ms).
	Jitter JitterConfig
	// Now is the clock (default time.Now). Run's ticker uses the real timer, which
	// testing/synctest makes virtual.
	Now func() time.Time
	// Rand seeds the initial sequence number and timestamp (default: seeded from crypto/rand).
	Rand *rand.Rand
	// Logger receives refused input, rate-limited (default slog.Default()).
	Logger *slog.Logger
}

// Session owns one call's audio in both directions: it encodes its Source into RTP packets for
// Send, one per Tick, and plays what Deliver receives out of a jitter buffer into its Sink, one
// frame per Tick. Its methods are safe for concurrent use: the transport calls Deliver while the
// media loop calls Tick.
type Session struct {
	mu         sync.Mutex
	cfg        SessionConfig
	codec      Codec
	ssrc       uint32
	remoteSSRC uint32
	jb         *jitterBuffer
	rejects    *rejects

	// sending
	seq        uint16
	ts         uint32
	talking    bool
	inFrame    []int16 // at the Source's rate
	encFrame   []int16 // at the codec's rate
	payload    []byte
	toCodec    *resampler
	sourceDone bool
	done       chan struct{}

	// receiving
	decFrame  []int16 // at the codec's rate
	outFrame  []int16 // at the Sink's rate
	toSink    *resampler
	lastQuiet bool // the frame played last was near silence

	sent, sendErrors, sourceErrors uint64
	closed                         bool
}

// ErrClosed is returned by Tick (and so Run) after Close.
var ErrClosed = errors.New("media: session closed")

// RandomSSRC returns a random non-zero SSRC for an SDP offer or answer.
func RandomSSRC() uint32 {
	var b [4]byte
	for {
		_, _ = crand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
		if v := binary.BigEndian.Uint32(b[:]); v != 0 {
			return v
		}
	}
}

// NewSession makes the media session of one call. Call Close when the call ends.
func NewSession(cfg SessionConfig) (*Session, error) {
	if cfg.Send == nil {
		return nil, errors.New("media: SessionConfig.Send is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		var seed [32]byte
		_, _ = crand.Read(seed[:])
		cfg.Rand = rand.New(rand.NewChaCha8(seed))
	}
	if cfg.SSRC == 0 {
		cfg.SSRC = RandomSSRC()
	}
	for _, r := range []struct {
		what string
		rate int
		ok   bool
	}{{"Source", rateOf(cfg.Source), cfg.Source != nil}, {"Sink", rateOf(cfg.Sink), cfg.Sink != nil}} {
		if r.ok && (r.rate < 1000 || r.rate%framesPerSecond != 0) {
			return nil, fmt.Errorf("media: %s sample rate %d Hz is not a multiple of 50 Hz of at least 1000", r.what, r.rate)
		}
	}
	pcmRate := 16000
	if cfg.Source != nil {
		pcmRate = cfg.Source.SampleRate()
	} else if cfg.Sink != nil {
		pcmRate = cfg.Sink.SampleRate()
	}
	codec, err := NewCodec(cfg.Format, pcmRate)
	if err != nil {
		return nil, err
	}
	jb, err := newJitterBuffer(cfg.Jitter, cfg.Format)
	if err != nil {
		codec.Close()
		return nil, err
	}
	s := &Session{
		cfg: cfg, codec: codec, ssrc: cfg.SSRC, remoteSSRC: cfg.RemoteSSRC, jb: jb,
		rejects:  newRejects(cfg.Logger, "media session"),
		seq:      uint16(cfg.Rand.Uint32()),
		ts:       cfg.Rand.Uint32(),
		encFrame: make([]int16, codec.FrameSamples()),
		decFrame: make([]int16, codec.FrameSamples()),
		done:     make(chan struct{}),
	}
	if cfg.Source != nil {
		s.inFrame = make([]int16, cfg.Source.SampleRate()/framesPerSecond)
		s.toCodec = newResampler(cfg.Source.SampleRate(), codec.SampleRate())
	} else {
		s.markSourceDone()
	}
	if cfg.Sink != nil {
		s.outFrame = make([]int16, cfg.Sink.SampleRate()/framesPerSecond)
		s.toSink = newResampler(codec.SampleRate(), cfg.Sink.SampleRate())
	}
	return s, nil
}

func rateOf(x interface{ SampleRate() int }) int {
	if x == nil {
		return 0
	}
	return x.SampleRate()
}

// SSRC is the synchronisation source this session sends as.
func (s *Session) SSRC() uint32 { return s.ssrc }

// SourceDone is closed when the Source has ended (io.EOF or a read error), or at once when
// there is no Source. Playout goes on until the caller stops ticking.
func (s *Session) SourceDone() <-chan struct{} { return s.done }

func (s *Session) markSourceDone() {
	if !s.sourceDone {
		s.sourceDone = true
		close(s.done)
	}
}

// Run calls Tick every FrameDuration until ctx ends (it then returns ctx.Err()) or the Sink fails.
func (s *Session) Run(ctx context.Context) error {
	t := time.NewTicker(FrameDuration)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			if err := s.Tick(); err != nil {
				return err
			}
		}
	}
}

// Tick is one 20 ms step: read one frame from the Source and send it, and play one frame out
// of the jitter buffer into the Sink. The only error is the Sink's; Source, codec and Send
// failures are counted and logged.
func (s *Session) Tick() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	now := s.cfg.Now()
	datagram := s.nextPacket()
	err := s.playOut(now)
	s.mu.Unlock()
	if datagram != nil {
		if serr := s.cfg.Send(datagram); serr != nil {
			s.mu.Lock()
			s.sendErrors++
			s.mu.Unlock()
			s.rejects.log.Debug("media session: send failed", slog.String("err", serr.Error()))
		}
	}
	return err
}

// nextPacket reads and encodes one frame; it returns nil when there is nothing to send.
func (s *Session) nextPacket() []byte {
	ts := s.ts
	s.ts += s.cfg.Format.frameTicks() // the timestamp follows the clock, sent or not
	if s.sourceDone {
		return nil
	}
	n, err := s.cfg.Source.Read(s.inFrame)
	switch {
	case errors.Is(err, ErrNoSpeech):
		s.talking = false
		return nil
	case err != nil:
		if !errors.Is(err, io.EOF) {
			s.sourceErrors++
			s.rejects.log.Warn("media session: source failed; sending stops", slog.String("err", err.Error()))
		}
		s.markSourceDone()
		if n == 0 {
			return nil
		}
	}
	clear(s.inFrame[n:])
	s.toCodec.process(s.inFrame, s.encFrame)
	payload, err := s.codec.Encode(s.encFrame, s.payload)
	if err != nil {
		s.rejects.log.Warn("media session: encode failed", slog.String("err", err.Error()))
		return nil
	}
	s.payload = payload
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, Marker: !s.talking, PayloadType: s.cfg.Format.PayloadType,
		SequenceNumber: s.seq, Timestamp: ts, SSRC: s.ssrc}, Payload: payload}
	b, err := pkt.Marshal()
	if err != nil {
		s.rejects.log.Warn("media session: rtp marshal failed", slog.String("err", err.Error()))
		return nil
	}
	s.seq++
	s.talking = true
	s.sent++
	return b
}

// playOut decodes one frame from the jitter buffer into the Sink.
func (s *Session) playOut(now time.Time) error {
	p := s.jb.pop(now, s.lastQuiet)
	switch p.kind {
	case playIdle, playSilence:
		clear(s.decFrame)
	case playFrame:
		if err := s.codec.Decode(p.payload, s.decFrame); err != nil {
			s.rejects.add(ReasonUndecodable, err)
			if cerr := s.codec.Conceal(nil, s.decFrame); cerr != nil {
				clear(s.decFrame)
			}
		}
	case playConceal:
		if err := s.codec.Conceal(p.next, s.decFrame); err != nil {
			clear(s.decFrame)
		}
	}
	s.lastQuiet = rms(s.decFrame) < quietRMS
	if s.cfg.Sink == nil {
		return nil
	}
	s.toSink.process(s.decFrame, s.outFrame)
	if err := s.cfg.Sink.Write(s.outFrame); err != nil {
		return fmt.Errorf("media: sink: %w", err)
	}
	return nil
}

// Deliver takes one incoming datagram (an RTP packet). Anything but a well-formed RTP packet of
// the negotiated payload type from the expected source is refused: counted under its reason in
// Stats().Rejected and logged. The datagram is not retained.
func (s *Session) Deliver(datagram []byte) {
	if len(datagram) > MaxDatagramBytes {
		s.rejects.add(ReasonOversize, nil, slog.Int("bytes", len(datagram)))
		return
	}
	var p rtp.Packet
	if err := p.Unmarshal(datagram); err != nil || p.Version != 2 || len(p.Payload) == 0 {
		if err == nil {
			err = fmt.Errorf("version %d, %d payload bytes", p.Version, len(p.Payload))
		}
		s.rejects.add(ReasonMalformed, err)
		return
	}
	s.deliverPacket(&p)
}

func (s *Session) deliverPacket(p *rtp.Packet) {
	if p.PayloadType != s.cfg.Format.PayloadType {
		s.rejects.add(ReasonPayloadType, nil, slog.Int("pt", int(p.PayloadType)))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if s.remoteSSRC != 0 && p.SSRC != s.remoteSSRC {
		s.rejects.add(ReasonSSRC, nil, slog.Uint64("ssrc", uint64(p.SSRC)))
		return
	}
	s.jb.push(p.SSRC, p.SequenceNumber, p.Timestamp, p.Marker, p.Payload, s.cfg.Now())
}

// bindRemote pins the remote SSRC (the Demux does it for a session that did not know it).
func (s *Session) bindRemote(ssrc uint32) {
	s.mu.Lock()
	s.remoteSSRC = ssrc
	s.mu.Unlock()
}

func (s *Session) remote() uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.remoteSSRC
}

// Close frees the codec. Afterwards Tick returns ErrClosed, Deliver drops what it is given and
// Stats still works. Closing twice is harmless.
func (s *Session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.markSourceDone()
	return s.codec.Close()
}

// rms is the root-mean-square level of pcm.
func rms(pcm []int16) float64 {
	var sum float64
	for _, v := range pcm {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum / float64(max(1, len(pcm))))
}
