package media

import (
	"fmt"
	"slices"

	"gopkg.in/hraban/opus.v2"
)

// Opus settings. 24 kbit/s VOIP mode is wideband speech with room for in-band FEC; the encoder
// is told to expect 10% loss so that it spends bits on FEC (it only does so when it expects loss).
const (
	opusBitrate      = 24000
	opusExpectedLoss = 10 // percent
	// opusMaxPayload bounds one encoded frame so that a packet stays under MaxDatagramBytes.
	opusMaxPayload = MaxDatagramBytes - rtpHeaderBytes
)

// opusRates are the PCM rates libopus encodes and decodes natively.
var opusRates = []int{8000, 12000, 16000, 24000, 48000}

type opusCodec struct {
	format  Format
	rate    int
	samples int
	enc     *opus.Encoder
	dec     *opus.Decoder
	buf     []byte
}

func newOpus(f Format, pcmRate int) (*opusCodec, error) {
	rate := 48000
	if slices.Contains(opusRates, pcmRate) {
		rate = pcmRate
	}
	enc, err := opus.NewEncoder(rate, 1, opus.AppVoIP)
	if err != nil {
		return nil, fmt.Errorf("media: opus encoder: %w", err)
	}
	for _, set := range []func() error{
		func() error { return enc.SetBitrate(opusBitrate) },
		func() error { return enc.SetInBandFEC(true) },
		func() error { return enc.SetPacketLossPerc(opusExpectedLoss) },
	} {
		if err := set(); err != nil {
			return nil, fmt.Errorf("media: opus encoder settings: %w", err)
		}
	}
	dec, err := opus.NewDecoder(rate, 1)
	if err != nil {
		return nil, fmt.Errorf("media: opus decoder: %w", err)
	}
	return &opusCodec{format: f, rate: rate, samples: rate / framesPerSecond, enc: enc, dec: dec,
		buf: make([]byte, opusMaxPayload)}, nil
}

func (o *opusCodec) Format() Format    { return o.format }
func (o *opusCodec) SampleRate() int   { return o.rate }
func (o *opusCodec) FrameSamples() int { return o.samples }

// Close drops the encoder and decoder: the binding keeps their state in Go memory, which the
// garbage collector frees.
func (o *opusCodec) Close() error {
	o.enc, o.dec = nil, nil
	return nil
}

func (o *opusCodec) Encode(pcm []int16, dst []byte) ([]byte, error) {
	if len(pcm) != o.samples {
		return nil, fmt.Errorf("media: opus encode: %d samples, want %d", len(pcm), o.samples)
	}
	n, err := o.enc.Encode(pcm, o.buf)
	if err != nil {
		return nil, fmt.Errorf("media: opus encode: %w", err)
	}
	return append(dst[:0], o.buf[:n]...), nil
}

func (o *opusCodec) Decode(payload []byte, pcm []int16) error {
	if len(pcm) != o.samples {
		return fmt.Errorf("media: opus decode into %d samples, want %d", len(pcm), o.samples)
	}
	if len(payload) == 0 {
		return fmt.Errorf("%w: empty opus payload", errFrameSize)
	}
	// A packet longer than one frame does not fit pcm: libopus refuses it (buffer too small).
	n, err := o.dec.Decode(payload, pcm)
	if err != nil {
		return fmt.Errorf("media: opus decode: %w", err)
	}
	if n != o.samples {
		return fmt.Errorf("%w: opus packet of %d samples, want %d", errFrameSize, n, o.samples)
	}
	return nil
}

func (o *opusCodec) Conceal(next []byte, pcm []int16) error {
	if len(pcm) != o.samples {
		return fmt.Errorf("media: opus conceal into %d samples, want %d", len(pcm), o.samples)
	}
	if len(next) > 0 {
		if err := o.dec.DecodeFEC(next, pcm); err == nil {
			return nil
		}
		// next is corrupt: fall back to concealment below.
	}
	if err := o.dec.DecodePLC(pcm); err != nil {
		return fmt.Errorf("media: opus concealment: %w", err)
	}
	return nil
}
