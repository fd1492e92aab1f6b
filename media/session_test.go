package media

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"maps"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pion/rtp"
)

// TestLoopbackCarriesSpeechOverALossyLink sends a speech-like signal through encode -> RTP ->
// a link that loses, duplicates and reorders -> jitter buffer -> decode, for each codec, and
// checks that it arrives recognisably intact, after the delay the jitter buffer was set to, with
// every packet accounted for.
func TestLoopbackCarriesSpeechOverALossyLink(t *testing.T) {
	const rate = 16000
	ref := SpeechLike(rate, 3*time.Second)
	link := linkModel{delay: 30 * time.Millisecond, jitter: 30 * time.Millisecond, loss: 0.05, dup: 0.03}
	buffer := 60 * time.Millisecond
	fixed := JitterConfig{Target: buffer, Min: buffer, Max: buffer}
	for _, tc := range []struct {
		f        Format
		minScore float64
		codecLag time.Duration
	}{{Opus, 0.75, 6500 * time.Microsecond}, {PCMU, 0.85, 4 * time.Millisecond}, {PCMA, 0.85, 4 * time.Millisecond}} {
		t.Run(tc.f.Name, func(t *testing.T) {
			r := loopbackCall(t, tc.f, rate, ref, link, fixed, 42, 7*time.Millisecond)
			a, err := Align(r.ref, r.got, rate, time.Second)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: delay %v similarity %.3f sender %+v receiver %+v link %+v", tc.f.Name, a.Delay, a.Similarity,
				r.sender, r.receiver, r.link)
			if a.Similarity < tc.minScore {
				t.Errorf("similarity %.3f, want >= %.2f", a.Similarity, tc.minScore)
			}
			// The first packet reaches B after 30..60 ms, waits the 60 ms buffer, then up to a
			// tick for B's next 20 ms boundary; add the codec's and resampler's own delay.
			lo, hi := link.delay+buffer+tc.codecLag, link.delay+link.jitter+buffer+FrameDuration+tc.codecLag+2*time.Millisecond
			if a.Delay < lo || a.Delay > hi {
				t.Errorf("mouth-to-ear delay %v, want %v..%v", a.Delay, lo, hi)
			}
			frames := uint64(len(ref) / (rate / framesPerSecond))
			if r.sender.PacketsSent != frames {
				t.Errorf("sent %d packets for %d frames", r.sender.PacketsSent, frames)
			}
			rx := r.receiver
			if int64(rx.PacketsReceived)+rx.Lost != int64(r.sender.PacketsSent) || rx.Lost != int64(r.link.dropped) {
				t.Errorf("received %d + lost %d != sent %d (link dropped %d)", rx.PacketsReceived, rx.Lost,
					r.sender.PacketsSent, r.link.dropped)
			}
			if rx.Duplicates != uint64(r.link.duplicated) {
				t.Errorf("%d duplicates counted, link made %d", rx.Duplicates, r.link.duplicated)
			}
			if rx.JitterMillis <= 0 || rx.JitterMillis > float64(link.jitter.Milliseconds()) {
				t.Errorf("jitter %.1f ms on a link with %v of uniform jitter", rx.JitterMillis, link.jitter)
			}
			if rx.Concealed < uint64(rx.Lost) {
				t.Errorf("concealed %d frames for %d lost packets", rx.Concealed, rx.Lost)
			}
		})
	}
}

// frameSink records what it is given and closes full after want frames.
type frameSink struct {
	Recorder
	want   int
	frames int
	full   chan struct{}
}

func (s *frameSink) Write(frame []int16) error {
	s.frames++
	if s.frames == s.want {
		close(s.full)
	}
	return s.Recorder.Write(frame)
}

// TestRunPacesOneFramePerTwentyMilliseconds runs two Sessions with Run in a synctest bubble, so
// the real ticker runs in virtual time: the source must take exactly its length in time to send,
// and the far end must hear it after the link delay plus the jitter buffer.
func TestRunPacesOneFramePerTwentyMilliseconds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const rate = 8000
		ref := SpeechLike(rate, time.Second)
		const linkDelay = 30 * time.Millisecond
		buffer := 40 * time.Millisecond
		var a, b *Session
		via := func(to func() *Session) func([]byte) error {
			return func(p []byte) error {
				time.AfterFunc(linkDelay, func() { to().Deliver(p) })
				return nil
			}
		}
		totalFrames := len(ref)/(rate/framesPerSecond) + 20 // and 400 ms of tail
		sink := &frameSink{Recorder: Recorder{Rate: rate}, want: totalFrames, full: make(chan struct{})}
		var err error
		a, err = NewSession(SessionConfig{Format: PCMU, Send: via(func() *Session { return b }), Source: NewPCMSource(rate, ref)})
		if err != nil {
			t.Fatal(err)
		}
		b, err = NewSession(SessionConfig{Format: PCMU, Send: via(func() *Session { return a }), Sink: sink,
			Jitter: JitterConfig{Target: buffer, Min: buffer, Max: buffer}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		start := time.Now()
		errs := make(chan error, 2)
		go func() { errs <- a.Run(ctx) }()
		go func() { errs <- b.Run(ctx) }()
		<-a.SourceDone()
		// The last frame is read at the 50th tick, 1 s after the start.
		if took := time.Since(start); took != time.Second {
			t.Errorf("sending 1 s of audio took %v", took)
		}
		<-sink.full
		cancel()
		for range 2 {
			if err := <-errs; !errors.Is(err, context.Canceled) {
				t.Errorf("Run returned %v, want context.Canceled", err)
			}
		}
		al, err := Align(ref, sink.PCM, rate, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		// Both tick on the same instants: a frame sent at one tick arrives 30 ms later and waits
		// for 40 ms, so it plays at the fourth tick after it left.
		if want := 4 * FrameDuration; al.Delay != want || al.Similarity < 0.99 {
			t.Errorf("delay %v similarity %.3f, want %v and >= 0.99", al.Delay, al.Similarity, want)
		}
		st := b.Stats()
		if st.PacketsReceived != 50 || st.Lost != 0 || st.Late != 0 || st.PlayoutDelayMillis != buffer.Milliseconds() {
			t.Errorf("receiver stats %+v", st)
		}
	})
}

// gatedSource talks for talk frames, then is silent for pause frames, then talks again, and so on.
type gatedSource struct {
	rate, talk, pause, n int
}

func (g *gatedSource) SampleRate() int { return g.rate }
func (g *gatedSource) Read(frame []int16) (int, error) {
	k := g.n
	g.n++
	if k%(g.talk+g.pause) >= g.talk {
		return 0, ErrNoSpeech
	}
	for i := range frame {
		frame[i] = int16(1000 * (i % 7))
	}
	return len(frame), nil
}

func TestSessionMarksTalkspurtsAndKeepsTimestampsOnTime(t *testing.T) {
	var sent []rtp.Packet
	s, err := NewSession(SessionConfig{Format: PCMA, SSRC: 77, Source: &gatedSource{rate: 8000, talk: 3, pause: 2},
		Send: func(b []byte) error {
			var p rtp.Packet
			if err := p.Unmarshal(b); err != nil {
				t.Fatal(err)
			}
			sent = append(sent, p)
			return nil
		}, Now: func() time.Time { return t0 }, Rand: rand.New(rand.NewPCG(1, 1))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for range 10 { // talk 3, pause 2, talk 3, pause 2
		if err := s.Tick(); err != nil {
			t.Fatal(err)
		}
	}
	if len(sent) != 6 {
		t.Fatalf("%d packets sent for 6 frames of speech", len(sent))
	}
	for i, p := range sent {
		if p.SSRC != 77 || p.PayloadType != PCMA.PayloadType || len(p.Payload) != 160 || p.Version != 2 {
			t.Errorf("packet %d: %v", i, p.Header)
		}
		if want := i == 0 || i == 3; p.Marker != want {
			t.Errorf("packet %d: marker %v, want %v", i, p.Marker, want)
		}
		if i > 0 {
			if d := p.SequenceNumber - sent[i-1].SequenceNumber; d != 1 {
				t.Errorf("packet %d: sequence advanced by %d", i, d)
			}
			wantTS := uint32(160)
			if i == 3 {
				wantTS = 3 * 160 // two silent frames were skipped, their time was not
			}
			if d := p.Timestamp - sent[i-1].Timestamp; d != wantTS {
				t.Errorf("packet %d: timestamp advanced by %d, want %d", i, d, wantTS)
			}
		}
	}
}

func TestSessionRefusesBadDatagramsAndKeepsWorking(t *testing.T) {
	var out [][]byte
	a, err := NewSession(SessionConfig{Format: PCMU, SSRC: 1, Source: NewToneSource(8000, 300, 5000),
		Send: func(b []byte) error { out = append(out, b); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	rec := &Recorder{Rate: 8000}
	now := t0
	var logged bytes.Buffer
	b, err := NewSession(SessionConfig{Format: PCMU, SSRC: 2, RemoteSSRC: 1, Sink: rec,
		Send: func([]byte) error { return nil }, Now: func() time.Time { return now },
		Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	if err != nil {
		t.Fatal(err)
	}
	good := func() []byte {
		if err := a.Tick(); err != nil {
			t.Fatal(err)
		}
		return out[len(out)-1]
	}
	wrongPT := rtpPacket(t, 1, 5, 18, 800, make([]byte, 160))
	otherSource := rtpPacket(t, 99, 5, 0, 800, make([]byte, 160))
	version1 := append([]byte(nil), good()...)
	version1[0] = version1[0]&0x3F | 1<<6
	b.Deliver(make([]byte, MaxDatagramBytes+1))
	b.Deliver([]byte{0x80, 0})
	b.Deliver(version1)
	b.Deliver(wrongPT)
	b.Deliver(otherSource)
	b.Deliver(rtpPacket(t, 1, 3, 0, 9, nil)) // header only, no payload
	want := map[string]uint64{ReasonOversize: 1, ReasonMalformed: 3, ReasonPayloadType: 1, ReasonSSRC: 1}
	if got := b.Stats().Rejected; !maps.Equal(got, want) {
		t.Errorf("rejected %v, want %v", got, want)
	}
	for reason := range want {
		if !strings.Contains(logged.String(), "reason="+reason) {
			t.Errorf("no log line for %s in:\n%s", reason, logged.String())
		}
	}
	// The good packets still play.
	for range 20 {
		b.Deliver(good())
		now = now.Add(FrameDuration)
		if err := b.Tick(); err != nil {
			t.Fatal(err)
		}
	}
	if st := b.Stats(); st.PacketsReceived != 20 || st.Lost != 0 {
		t.Errorf("after refusals: %+v", st)
	}
	if rms(rec.PCM[len(rec.PCM)-160:]) < 1000 {
		t.Errorf("the tone did not play out after the refused datagrams")
	}
}

// rtpPacket marshals an RTP packet.
func rtpPacket(t testing.TB, ssrc uint32, seq uint16, pt uint8, ts uint32, payload []byte) []byte {
	t.Helper()
	b, err := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq, Timestamp: ts, SSRC: ssrc},
		Payload: payload}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNewSessionValidates(t *testing.T) {
	send := func([]byte) error { return nil }
	for name, cfg := range map[string]SessionConfig{
		"no send":        {Format: PCMU},
		"unknown codec":  {Format: Format{Name: "G722", PayloadType: 9, ClockRate: 8000}, Send: send},
		"odd rate":       {Format: PCMU, Send: send, Source: NewSilenceSource(11025)},
		"bad jitter cfg": {Format: PCMU, Send: send, Jitter: JitterConfig{Min: time.Millisecond}},
	} {
		if _, err := NewSession(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestClosedSessionStopsWithoutPanicking(t *testing.T) {
	s, err := NewSession(SessionConfig{Format: Opus, Send: func([]byte) error { return nil },
		Source: NewToneSource(16000, 440, 1000), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Tick(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Tick(); !errors.Is(err, ErrClosed) {
		t.Errorf("Tick after Close: %v, want ErrClosed", err)
	}
	s.Deliver(rtpPacket(t, 1, 1, Opus.PayloadType, 0, []byte{0xF8, 0xFF, 0xFE}))
	if st := s.Stats(); st.PacketsSent != 1 || st.PacketsReceived != 0 {
		t.Errorf("after Close: %+v", st)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	select {
	case <-s.SourceDone():
	default:
		t.Error("SourceDone still open after Close")
	}
}
