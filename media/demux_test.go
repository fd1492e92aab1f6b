package media

import (
	"errors"
	"log/slog"
	"maps"
	"testing"
	"time"
)

var quiet = slog.New(slog.DiscardHandler)

// Two calls share one peer connection: node A sends both over the same Send, node B's Demux
// gives each its own session by SSRC.
func TestDemuxRoutesCallsSharingAConnectionBySSRC(t *testing.T) {
	now := t0
	clock := func() time.Time { return now }
	demux := NewDemux(quiet)
	var wire [][]byte
	send := func(b []byte) error { wire = append(wire, b); return nil }
	discard := func([]byte) error { return nil }
	mk := func(cfg SessionConfig) *Session {
		cfg.Now, cfg.Logger = clock, quiet
		s, err := NewSession(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a1 := mk(SessionConfig{Format: PCMU, SSRC: 11, Send: send, Source: NewToneSource(8000, 300, 6000)})
	a2 := mk(SessionConfig{Format: Opus, SSRC: 12, Send: send, Source: NewToneSource(16000, 700, 6000)})
	rec1, rec2 := &Recorder{Rate: 8000}, &Recorder{Rate: 16000}
	b1 := mk(SessionConfig{Format: PCMU, RemoteSSRC: 11, Send: discard, Sink: rec1})
	b2 := mk(SessionConfig{Format: Opus, RemoteSSRC: 12, Send: discard, Sink: rec2})
	for _, s := range []*Session{b1, b2} {
		if err := demux.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	if err := demux.Add(mk(SessionConfig{Format: PCMU, RemoteSSRC: 11, Send: discard})); !errors.Is(err, ErrSSRCInUse) {
		t.Errorf("a second session for SSRC 11: %v, want ErrSSRCInUse", err)
	}
	for range 30 {
		for _, s := range []*Session{a1, a2, b1, b2} {
			if err := s.Tick(); err != nil {
				t.Fatal(err)
			}
		}
		for _, d := range wire {
			demux.Deliver(d)
		}
		wire = wire[:0]
		now = now.Add(FrameDuration)
	}
	if st1, st2 := b1.Stats(), b2.Stats(); st1.PacketsReceived != 30 || st2.PacketsReceived != 30 ||
		len(st1.Rejected)+len(st2.Rejected) != 0 {
		t.Errorf("b1 %+v\nb2 %+v", st1, st2)
	}
	if st := demux.Stats(); st.Routed != 60 || len(st.Rejected) != 0 {
		t.Errorf("demux %+v", st)
	}
	// Each recording is its own tone: 300 Hz crosses zero 600 times a second, 700 Hz 1400 times.
	if z := zeroCrossingsPerSecond(rec1.PCM[len(rec1.PCM)-8000/5:], 8000); z < 550 || z > 650 {
		t.Errorf("call 1 heard %v zero crossings a second, want ~600 (300 Hz)", z)
	}
	if z := zeroCrossingsPerSecond(rec2.PCM[len(rec2.PCM)-16000/5:], 16000); z < 1300 || z > 1500 {
		t.Errorf("call 2 heard %v zero crossings a second, want ~1400 (700 Hz)", z)
	}

	demux.Remove(b1)
	demux.Deliver(rtpPacket(t, 11, 1, 0, 0, make([]byte, 160)))
	demux.Deliver(make([]byte, MaxDatagramBytes+1))
	demux.Deliver([]byte("not rtp at all"))
	want := map[string]uint64{ReasonUnknownSSRC: 1, ReasonOversize: 1, ReasonMalformed: 1}
	if got := demux.Stats().Rejected; !maps.Equal(got, want) {
		t.Errorf("rejected %v, want %v", got, want)
	}
}

func zeroCrossingsPerSecond(pcm []int16, rate int) float64 {
	n := 0
	for i := 1; i < len(pcm); i++ {
		if (pcm[i-1] < 0) != (pcm[i] < 0) {
			n++
		}
	}
	return float64(n) * float64(rate) / float64(len(pcm))
}

func TestDemuxBindsASessionThatDoesNotKnowItsSource(t *testing.T) {
	demux := NewDemux(quiet)
	s, err := NewSession(SessionConfig{Format: PCMU, Send: func([]byte) error { return nil }, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := demux.Add(s); err != nil {
		t.Fatal(err)
	}
	demux.Deliver(rtpPacket(t, 500, 1, 0, 0, make([]byte, 160)))
	demux.Deliver(rtpPacket(t, 500, 2, 0, 160, make([]byte, 160)))
	demux.Deliver(rtpPacket(t, 501, 1, 0, 0, make([]byte, 160))) // a stranger, once the session is bound
	if st := s.Stats(); st.PacketsReceived != 2 {
		t.Errorf("session received %d, want 2", st.PacketsReceived)
	}
	if st := demux.Stats(); st.Routed != 2 || st.Rejected[ReasonUnknownSSRC] != 1 {
		t.Errorf("demux %+v", st)
	}
}
