// Package media is meshcomm's audio engine: it turns 20 ms frames of 16-bit mono PCM into RTP
// packets carried as QUIC datagrams on the connection that already links two nodes, and plays
// what arrives out of a jitter buffer sized in time. Codecs are Opus (libopus through cgo) and
// G.711 mu-law and A-law as the fallback. It also reads and writes WAV files and measures the
// delay between two signals by cross-correlation, which is how the tests show that audio arrives
// intact and how long it takes.
//
// # API
//
// Negotiation (the sip package calls these with the SDP bodies of INVITE and 200):
//
//	func Offer(p SDPParams) ([]byte, error)
//	func Answer(offer []byte, p SDPParams) ([]byte, Negotiated, error)
//	func ParseSDP(remote []byte, supported []Format) (Negotiated, error) // the offerer reads the answer
//	func RandomSSRC() uint32                                             // for SDPParams.SSRC and SessionConfig.SSRC
//	type SDPParams struct{ Address netip.Addr; SSRC uint32; SessionID uint64; Formats []Format }
//	type Negotiated struct{ Format Format; RemoteSSRC uint32; Direction string }
//
// One call's audio (the node wires it to the transport):
//
//	func NewSession(cfg SessionConfig) (*Session, error)
//	type SessionConfig struct {
//		Format Format; SSRC, RemoteSSRC uint32; Send func([]byte) error
//		Source Source; Sink Sink; Jitter JitterConfig
//		Now func() time.Time; Rand *rand.Rand; Logger *slog.Logger
//	}
//	func (s *Session) Run(ctx context.Context) error // Tick every 20 ms
//	func (s *Session) Tick() error                   // or drive it yourself
//	func (s *Session) Deliver(datagram []byte)       // an incoming datagram
//	func (s *Session) Stats() Stats
//	func (s *Session) SSRC() uint32
//	func (s *Session) SourceDone() <-chan struct{}
//	func (s *Session) Close() error
//
//	func NewDemux(logger *slog.Logger) *Demux // one per peer connection
//	func (d *Demux) Add(s *Session) error
//	func (d *Demux) Remove(s *Session)
//	func (d *Demux) Deliver(datagram []byte)
//	func (d *Demux) Stats() DemuxStats
//
// Audio in and out: Source (NewPCMSource, NewToneSource, NewSilenceSource, or any type with
// SampleRate and Read) and Sink (Recorder, NewWAVSink, or any type with SampleRate and Write);
// ReadWAV and WriteWAV; SpeechLike, a test signal; Align, the cross-correlation. Codecs are
// reachable directly through NewCodec and the Codec interface.
//
// # Driver loop
//
// A call, once SIP has settled it:
//
//	ssrc := media.RandomSSRC()
//	offer, _ := media.Offer(media.SDPParams{Address: myAddr, SSRC: ssrc}) // in the INVITE
//	n, err := media.ParseSDP(answerBody, media.DefaultFormats())         // from the 200
//	s, err := media.NewSession(media.SessionConfig{
//		Format: n.Format, SSRC: ssrc, RemoteSSRC: n.RemoteSSRC,
//		Send:   func(b []byte) error { return ep.SendDatagram(peer, b) },
//		Source: media.NewPCMSource(rate, pcm), Sink: wavSink,
//	})
//	demuxFor(peer).Add(s) // transport's OnDatagram: demuxFor(from.ID).Deliver(payload)
//	go s.Run(ctx)         // until BYE; then cancel, demux.Remove(s), s.Close()
//
// Tick reads one frame from the Source, encodes and sends it, and plays one frame from the
// jitter buffer into the Sink (silence while nothing plays, so a WAV recording keeps the call's
// timeline). Deliver may be called at any time from another goroutine. Tests drive Tick from a
// virtual clock or run Run inside testing/synctest; nothing in the package sleeps.
//
// # Wire format
//
// Media goes as QUIC datagrams on the connection that carries the SIP dialog, one RTP packet
// (RFC 3550) per datagram and nothing else: no extra header, since RTP carries its own SSRC to
// demultiplex calls sharing a connection. Each packet is the 12-byte header (version 2, no
// padding, extension or CSRCs when sent; all accepted when received), then one 20 ms frame:
//
//	Opus  PT 111 (dynamic)  clock 48000, timestamp +960 per frame (RFC 7587), mono,
//	                        24 kbit/s VOIP mode with in-band FEC, about 60 bytes
//	PCMU  PT 0              clock 8000, timestamp +160, 160 bytes of mu-law
//	PCMA  PT 8              clock 8000, timestamp +160, 160 bytes of A-law
//
// The sequence number and timestamp start at random values; the timestamp advances by one frame
// per 20 ms whether or not a packet is sent (a Source returning ErrNoSpeech sends nothing), and
// the first packet of each talkspurt carries the marker bit. An incoming datagram above
// MaxDatagramBytes (1200), one that is not RTP version 2 or has no payload, one of another
// payload type, and one from an unexpected SSRC is refused: counted under its reason in
// Stats().Rejected (or DemuxStats.Rejected), logged on its 1st, 2nd, 4th, 8th, ... occurrence,
// dropped; the session carries on. No RTCP is sent: Stats gives the same figures locally.
//
// The SDP (RFC 4566, offer/answer RFC 3264) lists the formats in preference order; the answer
// keeps the first format of the offer that the answerer supports, under the offer's payload
// type, and only that one:
//
//	v=0
//	o=- <id> <id> IN IP4 <node address>
//	s=meshcomm
//	c=IN IP4 <node address>
//	t=0 0
//	m=audio 9 RTP/AVP 111 0 8
//	a=rtpmap:111 opus/48000/2
//	a=fmtp:111 minptime=10;useinbandfec=1
//	a=rtpmap:0 PCMU/8000
//	a=rtpmap:8 PCMA/8000
//	a=ptime:20
//	a=sendrecv
//	a=ssrc:<ssrc> cname:meshcomm
//
// The c= address and the m= port (9, the discard port) are nominal: the media path is the QUIC
// connection the SDP arrived on, not an IP:port. A peer's SSRC comes from its a=ssrc line; the
// Demux routes by it, so several calls can share one connection. A remote SDP above MaxSDPBytes
// (16 KiB) is refused unread; others fail with ErrBadSDP, ErrNoAudio or ErrNoCommonCodec.
//
// # Jitter buffer
//
// Packets are reordered by extended sequence number (RFC 3550 A.1, so the 16-bit wrap is
// invisible) and played out by RTP timestamp, one frame per tick. A talkspurt starts playing
// when its first packet has waited the playout delay. The delay starts at JitterConfig.Target
// (60 ms) and then follows the link: the spread (max - min) of the transit times of the last 100
// packets, plus 2 ms, rounded up to whole frames, kept within Min..Max (20..200 ms). It grows at
// once, by playing one made-up frame (Stats.Stretched), and shrinks by at most one frame a
// second by skipping a frame, just after a quiet one (below about -50 dBFS) or, if speech goes
// on for 5 s without one, anyway (Stats.Discarded). A new
// talkspurt (marker bit after a pause) starts over with the delay of the moment. A frame whose
// packet is missing is concealed: Opus rebuilds it from the next packet's in-band FEC when that
// packet is already here, else runs its packet-loss concealment; G.711 plays silence. A packet
// arriving after its frame was played is late and dropped. A new SSRC, or a sequence jump of
// more than 3000, starts the buffer over. Duplicates are recognised over the last 1024 sequence
// numbers. The buffer holds at most 64 packets. Stats.JitterMillis is the RFC 3550
// interarrival jitter.
//
// # Libraries, and what is written here instead
//
// Opus is libopus through gopkg.in/hraban/opus.v2. That binding also wraps libopusfile unless
// built with the tag nolibopusfile; scripts/setup installs both libopus-dev and libopusfile-dev.
// RTP packets are github.com/pion/rtp, SDP github.com/pion/sdp/v3, the FFT of Align
// gonum.org/v1/gonum/dsp/fourier. Written here, each for a reason:
//
//   - G.711: the standard's segment rules, a 256-entry decode table per law; smaller than a
//     dependency.
//   - WAV: one layout is needed (16-bit PCM mono); go-audio/wav hands samples out as []int and
//     needs a seekable reader; ours is about 200 lines with its own size bound (MaxWAVBytes) and
//     fuzz target.
//   - Resampling between the WAV or sound card rate and the codec rate: band-limited (windowed
//     sinc) interpolation with precomputed weights, about 80 lines; there is none in the
//     standard library and libsamplerate or soxr would add a C dependency for no audible gain.
//     It delays audio by 16 samples of the lower rate (2 ms at 8 kHz).
//   - The jitter buffer: pion/interceptor's jitterbuffer is sized in packets (50 by default) and
//     its interceptor hands back one packet per packet read; a voice call needs a depth in time that adapts, playout
//     on a clock, and a hook for loss concealment with FEC.
//
// # Measured
//
// Per-frame costs (go test -run '^$' -bench . -benchtime 2000x ./media/, shared 2-core
// machine, so noisy): Opus encode 0.3 to 0.5 ms and decode 17 us at 16 kHz, G.711 under 1 us either way;
// a whole frame through a session pair (encode, RTP, jitter buffer, decode) 0.3 ms for Opus,
// 16 us for PCMU. Over a virtual link of 30 ms plus 0..30 ms jitter with the adaptive buffer
// (MESHCOMM_MEDIA_MEASURE=1 go test -run TestMeasure -v ./media/), mouth-to-ear delay is a
// median of 104 ms for G.711 and 106 ms for Opus at 0, 5 and 10% loss, the buffer settling at
// 40 ms with no late packets; the median similarity of a 1 s window of speech to the original
// is 1.000/0.976/0.951 for G.711 and 0.898/0.889/0.880 for Opus at 0/5/10% loss (Opus is a
// perceptual codec: it keeps the sound, not the exact waveform). On Opus alone at 10% loss,
// FEC plus concealment scores 0.879 against 0.859 for concealment alone and 0.826 for silence.
package media
