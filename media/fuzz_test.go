package media

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// FuzzDeliver feeds arbitrary datagrams to a Demux and a Session: nothing may panic, every
// datagram is either taken or refused under a reason, and the session keeps playing.
func FuzzDeliver(f *testing.F) {
	opusFrame := func() []byte {
		c, _ := NewCodec(Opus, 16000)
		p, _ := c.Encode(SpeechLike(16000, 20*time.Millisecond), nil)
		return p
	}()
	f.Add(rtpPacket(f, 7, 1, 111, 960, opusFrame))
	f.Add(rtpPacket(f, 7, 65535, 111, 0xFFFFFFFF, opusFrame))
	f.Add(rtpPacket(f, 7, 2, 111, 960, []byte{0xFF, 0xFF, 0xFF}))
	f.Add(rtpPacket(f, 8, 2, 0, 160, make([]byte, 160)))
	f.Add([]byte{0x90, 111, 0, 1, 0, 0, 0, 1, 0, 0, 0, 7, 0xBE, 0xDE, 0, 1, 0x10, 0xAA, 0, 0, 1}) // extension
	f.Add([]byte{0xA0, 111, 0, 1, 0, 0, 0, 1, 0, 0, 0, 7, 1, 2, 3, 4, 2})                         // padding
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, datagram []byte) {
		now := t0
		s, err := NewSession(SessionConfig{Format: Opus, Send: func([]byte) error { return nil },
			Sink: &Recorder{Rate: 16000}, Now: func() time.Time { return now }, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		d := NewDemux(quiet)
		if err := d.Add(s); err != nil {
			t.Fatal(err)
		}
		for range 3 { // the same datagram three times: duplicates, then late or buffered
			d.Deliver(datagram)
			s.Deliver(datagram)
			now = now.Add(100 * time.Millisecond)
			if err := s.Tick(); err != nil {
				t.Fatal(err)
			}
		}
		// Six deliveries reached the session (three routed, three direct): each was refused or
		// taken (received, duplicate or late), never more.
		st, ds := s.Stats(), d.Stats()
		var refused uint64
		for reason, n := range st.Rejected {
			if reason != ReasonUndecodable { // counted at playout, not on delivery
				refused += n
			}
		}
		if handled := refused + st.PacketsReceived + st.Duplicates; handled > 6 || st.PacketsReceived > 1 {
			t.Errorf("6 deliveries of one datagram: %+v", st)
		}
		if ds.Routed > 3 {
			t.Errorf("demux routed %d of 3", ds.Routed)
		}
	})
}

// FuzzParseSDP parses arbitrary session descriptions: no panic, and whatever is accepted can be
// answered, and the answer reads back as the same codec.
func FuzzParseSDP(f *testing.F) {
	offer, _ := Offer(SDPParams{Address: netip.MustParseAddr("10.0.0.1"), SSRC: 5, SessionID: 1})
	f.Add(offer)
	f.Add([]byte("v=0\r\no=- 1 1 IN IP6 ::1\r\ns=-\r\nc=IN IP6 ::1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 96 0\r\na=rtpmap:96 opus/48000/2\r\na=inactive\r\n"))
	f.Add([]byte("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=audio 1 RTP/AVPF 8\r\na=ssrc:4294967295 cname:x\r\n"))
	f.Add([]byte("v=0\r\n"))
	f.Fuzz(func(t *testing.T, sdpText []byte) {
		n, err := ParseSDP(sdpText, DefaultFormats())
		if err != nil {
			return
		}
		if n.Format.PayloadType > 127 || !slices.ContainsFunc(DefaultFormats(), n.Format.sameCodec) {
			t.Fatalf("negotiated %+v", n)
		}
		answer, an, err := Answer(sdpText, SDPParams{Address: netip.MustParseAddr("10.0.0.2"), SSRC: 9})
		if err != nil {
			t.Fatalf("parsed but cannot answer: %v", err)
		}
		back, err := ParseSDP(answer, DefaultFormats())
		if err != nil || back.Format != an.Format || back.RemoteSSRC != 9 {
			t.Fatalf("answer %q reads back as %+v, %v; want %+v", answer, back, err, an.Format)
		}
	})
}

// FuzzReadWAV reads arbitrary files: no panic; what is accepted writes back and reads the same.
func FuzzReadWAV(f *testing.F) {
	var buf bytes.Buffer
	_ = WriteWAV(&buf, 8000, SpeechLike(8000, 10*time.Millisecond))
	f.Add(buf.Bytes())
	f.Add(wavFile(chunk("LIST", 3, []byte("abc")), fmtChunk(1, 1, 16000, 16), chunk("data", 0xFFFFFFFF, []byte{1, 2, 3})))
	f.Add(wavFile(extensibleFmt(8000), chunk("data", 2, []byte{9, 9})))
	f.Fuzz(func(t *testing.T, file []byte) {
		pcm, rate, err := ReadWAV(bytes.NewReader(file))
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := WriteWAV(&out, rate, pcm); err != nil {
			t.Fatal(err)
		}
		again, rate2, err := ReadWAV(&out)
		if err != nil || rate2 != rate || !slices.Equal(again, pcm) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// FuzzCodecDecode decodes arbitrary payloads with every codec: an error or exactly one frame,
// and the codec still works afterwards.
func FuzzCodecDecode(f *testing.F) {
	c, _ := NewCodec(Opus, 16000)
	p, _ := c.Encode(SpeechLike(16000, 20*time.Millisecond), nil)
	f.Add(p)
	f.Add(make([]byte, 160))
	f.Add([]byte{0xFC, 0xFF, 0xFE})
	codecs := map[string]Codec{}
	for _, fm := range DefaultFormats() {
		c, err := NewCodec(fm, 16000)
		if err != nil {
			f.Fatal(err)
		}
		codecs[fm.Name] = c
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		for name, c := range codecs {
			pcm := make([]int16, c.FrameSamples())
			_ = c.Decode(payload, pcm)
			if err := c.Conceal(payload, pcm); err != nil {
				t.Fatalf("%s: conceal after a bad payload: %v", name, err)
			}
		}
	})
}

// FuzzJitterBuffer drives the jitter buffer with arbitrary packets and clock steps: no panic,
// the buffer stays bounded, and its counters stay consistent.
func FuzzJitterBuffer(f *testing.F) {
	f.Add([]byte{0, 1, 0, 0, 0, 1, 20, 0, 2, 0, 0, 0, 2, 20, 0, 4, 0, 0, 0, 4, 20})
	f.Add([]byte{1, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 5, 2, 0, 0, 0, 0, 0, 0, 200})
	f.Fuzz(func(t *testing.T, ops []byte) {
		jb, err := newJitterBuffer(JitterConfig{}, Opus)
		if err != nil {
			t.Fatal(err)
		}
		now := t0
		for len(ops) >= 7 {
			op := ops[:7]
			ops = ops[7:]
			ssrc := uint32(op[0] & 1)
			seq := binary.BigEndian.Uint16(op[1:3])
			ts := binary.BigEndian.Uint32(op[3:7]) * 960
			jb.push(ssrc, seq, ts, op[0]&2 != 0, op[1:2], now)
			for range int(op[6] % 4) {
				now = now.Add(FrameDuration)
				jb.pop(now, op[6]&4 != 0)
			}
			if len(jb.packets) > maxBuffered {
				t.Fatalf("%d packets buffered", len(jb.packets))
			}
			if !slices.IsSortedFunc(jb.packets, func(a, b bufferedPacket) int { return int(a.ext - b.ext) }) {
				t.Fatal("buffer out of order")
			}
			if jb.current < jb.cfg.Min || jb.current > jb.cfg.Max {
				t.Fatalf("playout delay %v outside %v..%v", jb.current, jb.cfg.Min, jb.cfg.Max)
			}
		}
	})
}
