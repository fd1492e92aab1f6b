package media

import (
	"fmt"
	"strings"
	"time"
)

// FrameDuration is the audio carried by one RTP packet (a=ptime:20). Every codec here encodes
// and decodes exactly one frame of this length at a time.
const FrameDuration = 20 * time.Millisecond

// framesPerSecond is 1 s / FrameDuration: a sample rate divided by it gives samples per frame.
const framesPerSecond = int(time.Second / FrameDuration)

// Format is one RTP payload format as SDP names it (a=rtpmap:<PayloadType> <Name>/<ClockRate>[/<Channels>]).
type Format struct {
	Name        string // encoding name: "opus", "PCMU" or "PCMA"
	PayloadType uint8  // RTP payload type (static 0 and 8, dynamic 96..127)
	ClockRate   int    // RTP timestamp rate in Hz
	Channels    int    // the rtpmap channel count (opus always says 2, RFC 7587); 0 leaves it out
	Fmtp        string // a=fmtp parameters, "" for none
}

// The formats meshcomm speaks, in order of preference.
var (
	// Opus is RFC 7587 Opus: clock 48 kHz whatever the audio bandwidth, mono audio sent
	// (sprop-stereo absent), in-band FEC on.
	Opus = Format{Name: "opus", PayloadType: 111, ClockRate: 48000, Channels: 2, Fmtp: "minptime=10;useinbandfec=1"}
	// PCMU is G.711 mu-law at 8 kHz, static payload type 0.
	PCMU = Format{Name: "PCMU", PayloadType: 0, ClockRate: 8000}
	// PCMA is G.711 A-law at 8 kHz, static payload type 8.
	PCMA = Format{Name: "PCMA", PayloadType: 8, ClockRate: 8000}
)

// DefaultFormats lists the formats offered by default: Opus, then PCMU, then PCMA.
func DefaultFormats() []Format { return []Format{Opus, PCMU, PCMA} }

// sameCodec reports whether f and g are the same codec, whatever payload type each uses.
func (f Format) sameCodec(g Format) bool {
	return strings.EqualFold(f.Name, g.Name) && f.ClockRate == g.ClockRate
}

// frameTicks is the RTP timestamp advance of one frame.
func (f Format) frameTicks() uint32 { return uint32(f.ClockRate / framesPerSecond) }

func (f Format) String() string {
	return fmt.Sprintf("%s/%d (pt %d)", f.Name, f.ClockRate, f.PayloadType)
}
