package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"meshcomm/media"
	"meshcomm/mesh"
	"meshcomm/sip"
)

// audioPlan says what one call plays and records: WAV file paths, "" for none (silence is sent
// and what arrives is discarded).
type audioPlan struct {
	play   string
	record string
	relay  mesh.NodeID // outgoing calls through a proxy hop: the hop, which relays the media too
}

// audio adapts package media to the SIP user agent: one media.Session per call, fed from a WAV
// file or silence, recorded to a WAV file, its RTP carried as QUIC datagrams on the connection
// to the peer and routed back by one media.Demux per peer.
type audio struct {
	send   func(to mesh.NodeID, b []byte) error
	addr   netip.Addr
	log    *slog.Logger
	answer audioPlan // incoming calls: the daemon's --play, and --record DIR as a directory

	mu       sync.Mutex
	demux    map[mesh.NodeID]*media.Demux
	plans    map[string]audioPlan // outgoing calls, by Call-ID
	stats    map[string]media.Stats
	sessions map[string]*media.Session   // running calls, by Call-ID
	relays   map[mesh.NodeID]mesh.NodeID // call peers without a link: the node relaying to them
	closed   bool
}

// learnRelay records that datagrams from peer arrive through relay, so that ours go back the
// same way while there is no link to peer.
func (a *audio) learnRelay(peer, relay mesh.NodeID) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.demux[peer] != nil { // only for peers this node is in a call with
		a.relays[peer] = relay
	}
}

// relayFor returns the node relaying media to peer, if any.
func (a *audio) relayFor(peer mesh.NodeID) (mesh.NodeID, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	r, ok := a.relays[peer]
	return r, ok
}

func newAudio(send func(mesh.NodeID, []byte) error, answer audioPlan, log *slog.Logger) *audio {
	return &audio{send: send, log: log, answer: answer, addr: netip.IPv4Unspecified(), demux: map[mesh.NodeID]*media.Demux{},
		plans: map[string]audioPlan{}, stats: map[string]media.Stats{}, sessions: map[string]*media.Session{},
		relays: map[mesh.NodeID]mesh.NodeID{}}
}

// setAddress sets the address SDP names (informational: media goes over the QUIC connection).
func (a *audio) setAddress(advertised string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if ap, err := netip.ParseAddrPort(advertised); err == nil {
		a.addr = ap.Addr().Unmap()
	}
}

// plan registers the audio of an outgoing call before it is placed.
func (a *audio) plan(callID string, p audioPlan) {
	a.mu.Lock()
	a.plans[callID] = p
	a.mu.Unlock()
}

// finished returns the media statistics of an ended call (and forgets them).
func (a *audio) finished(callID string) (media.Stats, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s, ok := a.stats[callID]
	delete(a.stats, callID)
	delete(a.plans, callID)
	return s, ok
}

// sourceDone is closed when an outgoing call's audio file has been sent (never, before the
// call's audio starts or for a call with no file).
func (a *audio) sourceDone(callID string) <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	if s := a.sessions[callID]; s != nil {
		return s.SourceDone()
	}
	return nil
}

// deliver routes one incoming datagram (the transport's OnDatagram) to its call.
func (a *audio) deliver(from mesh.NodeID, b []byte) {
	a.mu.Lock()
	d := a.demux[from]
	a.mu.Unlock()
	if d != nil {
		d.Deliver(b)
	}
}

// NewSession implements sip.Media.
func (a *audio) NewSession(callID string) (sip.MediaSession, error) {
	a.mu.Lock()
	p, outgoing := a.plans[callID]
	closed, addr := a.closed, a.addr
	a.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	if !outgoing {
		p = a.answer
		if p.record != "" {
			p.record = filepath.Join(p.record, safeFileName(callID)+".wav")
		}
	}
	ssrc := media.RandomSSRC()
	sdp, err := media.Offer(media.SDPParams{Address: addr, SSRC: ssrc})
	if err != nil {
		return nil, err
	}
	return &callSession{a: a, callID: callID, plan: p, ssrc: ssrc, sdp: sdp}, nil
}

func (a *audio) close() {
	a.mu.Lock()
	a.closed = true
	a.mu.Unlock()
}

// callSession is one call's audio, from SDP to the end of the call.
type callSession struct {
	a      *audio
	callID string
	plan   audioPlan
	ssrc   uint32
	sdp    []byte

	peer    mesh.NodeID
	session *media.Session
	sink    *os.File
	wav     *media.WAVSink
	cancel  context.CancelFunc
	done    chan struct{}
}

func (c *callSession) LocalSDP() []byte { return c.sdp }

// Start negotiates the codec from the peer's description (both sides list the same formats in
// the same order, so both pick the same one) and starts sending and playing.
func (c *callSession) Start(peer mesh.NodeID, remoteSDP []byte) error {
	neg, err := media.ParseSDP(remoteSDP, media.DefaultFormats())
	if err != nil {
		return fmt.Errorf("call %s: %w", c.callID, err)
	}
	var src media.Source = media.NewSilenceSource(8000)
	if c.plan.play != "" {
		pcm, rate, err := readWAVFile(c.plan.play)
		if err != nil {
			return err
		}
		src = media.NewPCMSource(rate, pcm)
	}
	var sink media.Sink
	if c.plan.record != "" {
		f, err := os.Create(c.plan.record)
		if err != nil {
			return fmt.Errorf("record: %w", err)
		}
		w, err := media.NewWAVSink(f, 16000)
		if err != nil {
			f.Close()
			return fmt.Errorf("record: %w", err)
		}
		c.sink, c.wav, sink = f, w, w
	}
	a := c.a
	s, err := media.NewSession(media.SessionConfig{
		Format: neg.Format, SSRC: c.ssrc, RemoteSSRC: neg.RemoteSSRC,
		Send:   func(b []byte) error { return a.send(peer, b) },
		Source: src, Sink: sink, Logger: a.log,
	})
	if err != nil {
		c.closeSink()
		return err
	}
	a.mu.Lock()
	d := a.demux[peer]
	if d == nil {
		d = media.NewDemux(a.log)
		a.demux[peer] = d
	}
	if !c.plan.relay.IsZero() && c.plan.relay != peer {
		a.relays[peer] = c.plan.relay
	}
	a.sessions[c.callID] = s
	a.mu.Unlock()
	if err := d.Add(s); err != nil {
		c.closeSink()
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.peer, c.session, c.cancel, c.done = peer, s, cancel, make(chan struct{})
	go func() {
		defer close(c.done)
		if err := s.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			a.log.Warn("call audio stopped", "call", c.callID, "err", err)
		}
	}()
	return nil
}

func (c *callSession) closeSink() {
	if c.sink != nil {
		if c.wav != nil {
			if err := c.wav.Close(); err != nil {
				c.a.log.Warn("recording not finished", "call", c.callID, "err", err)
			}
		}
		c.sink.Close()
		c.sink = nil
	}
}

// Close stops the audio and keeps its statistics for the call's result.
func (c *callSession) Close() sip.MediaStats {
	var st media.Stats
	if c.session != nil {
		c.cancel()
		<-c.done
		st = c.session.Stats()
		a := c.a
		a.mu.Lock()
		if d := a.demux[c.peer]; d != nil {
			d.Remove(c.session)
		}
		delete(a.relays, c.peer)
		delete(a.sessions, c.callID)
		a.mu.Unlock()
		_ = c.session.Close()
	}
	c.closeSink()
	c.a.mu.Lock()
	c.a.stats[c.callID] = st
	c.a.mu.Unlock()
	lost := st.Lost
	if lost < 0 {
		lost = 0
	}
	return sip.MediaStats{PacketsSent: st.PacketsSent, PacketsReceived: st.PacketsReceived, PacketsLost: uint64(lost)}
}

// readWAVFile reads a 16-bit mono WAV file to play into a call.
func readWAVFile(path string) ([]int16, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("play: %w", err)
	}
	defer f.Close()
	pcm, rate, err := media.ReadWAV(f)
	if err != nil {
		return nil, 0, fmt.Errorf("play %s: %w", path, err)
	}
	return pcm, rate, nil
}

// safeFileName keeps letters, digits, '-' and '.' of a Call-ID for a recording's file name.
func safeFileName(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return fmt.Sprintf("call-%d", time.Now().UnixNano())
	}
	return b.String()
}
