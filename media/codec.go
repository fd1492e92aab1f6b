package media

import (
	"errors"
	"fmt"
	"strings"
)

// Codec turns 20 ms frames of 16-bit mono PCM into RTP payloads and back. One Codec holds the
// state of one direction pair of one call (an Opus encoder and decoder); it is not safe for
// concurrent use.
type Codec interface {
	// Format is the RTP payload format this codec produces and accepts.
	Format() Format
	// SampleRate is the PCM rate of Encode's input and Decode's output, in Hz.
	SampleRate() int
	// FrameSamples is the number of samples of one frame at SampleRate.
	FrameSamples() int
	// Encode encodes one frame (len(pcm) == FrameSamples()) and returns the payload, appended to dst[:0].
	Encode(pcm []int16, dst []byte) ([]byte, error)
	// Decode decodes one payload into exactly one frame (len(pcm) == FrameSamples()). A payload
	// that is not one 20 ms frame of this codec is an error and pcm is then unspecified.
	Decode(payload []byte, pcm []int16) error
	// Conceal fills one frame for a packet that never arrived. next is the payload of the packet
	// right after the missing one, if the jitter buffer has it, else nil: Opus rebuilds the frame
	// from next's in-band FEC, or else runs its packet-loss concealment; G.711 has neither and
	// gives silence.
	Conceal(next []byte, pcm []int16) error
	// Close frees what the codec holds. The codec must not be used afterwards.
	Close() error
}

// ErrUnknownCodec is returned for a Format no codec here implements.
var ErrUnknownCodec = errors.New("media: unknown codec")

// errFrameSize reports a payload that does not hold exactly one 20 ms frame.
var errFrameSize = errors.New("media: payload is not one 20 ms frame")

// NewCodec makes the codec for f. pcmRate is the rate the caller would like to exchange PCM at
// (the rate of its WAV file or sound card): Opus runs its encoder and decoder at that rate when
// libopus supports it (8, 12, 16, 24 or 48 kHz), else at 48 kHz; G.711 always runs at 8 kHz.
// Codec.SampleRate says which was chosen; a Session resamples between the two.
func NewCodec(f Format, pcmRate int) (Codec, error) {
	switch {
	case f.sameCodec(Opus):
		return newOpus(f, pcmRate)
	case f.sameCodec(PCMU):
		return newG711(f, false), nil
	case f.sameCodec(PCMA):
		return newG711(f, true), nil
	}
	if strings.EqualFold(f.Name, "opus") || strings.EqualFold(f.Name, "pcmu") || strings.EqualFold(f.Name, "pcma") {
		return nil, fmt.Errorf("%w: %s at clock rate %d", ErrUnknownCodec, f.Name, f.ClockRate)
	}
	return nil, fmt.Errorf("%w: %s", ErrUnknownCodec, f.Name)
}
