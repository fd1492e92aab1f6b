package media

import (
	"fmt"
	"math/bits"
)

// G.711 (ITU-T G.711) companding, mu-law (PCMU) and A-law (PCMA), written here from the
// standard's segment rules: the codec is a pair of 256-entry decode tables and a segment search,
// smaller than any dependency would be.

const (
	g711Rate    = 8000
	g711Samples = g711Rate / framesPerSecond // 160 samples, 160 payload bytes per frame
	ulawBias    = 0x84
	ulawClip    = 32635
)

var ulawToLinear, alawToLinear [256]int16

func init() {
	for i := range 256 {
		ulawToLinear[i] = decodeULaw(byte(i))
		alawToLinear[i] = decodeALaw(byte(i))
	}
}

// encodeULaw compands one 16-bit sample to mu-law.
func encodeULaw(s int16) byte {
	pcm := int(s)
	var sign byte
	if pcm < 0 {
		pcm, sign = -pcm, 0x80
	}
	pcm = min(pcm, ulawClip) + ulawBias
	exponent := bits.Len(uint(pcm>>7)) - 1 // pcm>>7 is in 1..255
	mantissa := (pcm >> (exponent + 3)) & 0x0F
	return ^(sign | byte(exponent)<<4 | byte(mantissa))
}

func decodeULaw(u byte) int16 {
	u = ^u
	exponent := int(u>>4) & 7
	sample := ((int(u&0x0F) << 3) + ulawBias) << exponent
	sample -= ulawBias
	if u&0x80 != 0 {
		return int16(-sample)
	}
	return int16(sample)
}

// encodeALaw compands one 16-bit sample to A-law (13-bit magnitude, 8 segments).
func encodeALaw(s int16) byte {
	pcm := int(s) >> 3
	mask := byte(0xD5)
	if pcm < 0 {
		mask, pcm = 0x55, -pcm-1
	}
	seg := bits.Len(uint(pcm >> 5)) // segment ends are 0x1F, 0x3F, 0x7F, ... 0xFFF
	if seg >= 8 {
		return 0x7F ^ mask
	}
	aval := byte(seg) << 4
	if seg < 2 {
		aval |= byte(pcm>>1) & 0x0F
	} else {
		aval |= byte(pcm>>seg) & 0x0F
	}
	return aval ^ mask
}

func decodeALaw(a byte) int16 {
	a ^= 0x55
	t := int(a&0x0F) << 4
	switch seg := int(a&0x70) >> 4; seg {
	case 0:
		t += 8
	case 1:
		t += 0x108
	default:
		t = (t + 0x108) << (seg - 1)
	}
	if a&0x80 != 0 {
		return int16(t)
	}
	return int16(-t)
}

type g711 struct {
	format Format
	alaw   bool
}

func newG711(f Format, alaw bool) *g711 { return &g711{format: f, alaw: alaw} }

func (g *g711) Format() Format    { return g.format }
func (g *g711) SampleRate() int   { return g711Rate }
func (g *g711) FrameSamples() int { return g711Samples }
func (g *g711) Close() error      { return nil }

func (g *g711) Encode(pcm []int16, dst []byte) ([]byte, error) {
	if len(pcm) != g711Samples {
		return nil, fmt.Errorf("media: %s encode: %d samples, want %d", g.format.Name, len(pcm), g711Samples)
	}
	dst = dst[:0]
	for _, s := range pcm {
		if g.alaw {
			dst = append(dst, encodeALaw(s))
		} else {
			dst = append(dst, encodeULaw(s))
		}
	}
	return dst, nil
}

func (g *g711) Decode(payload []byte, pcm []int16) error {
	if len(payload) != g711Samples || len(pcm) != g711Samples {
		return fmt.Errorf("%w: %s payload of %d bytes, want %d", errFrameSize, g.format.Name, len(payload), g711Samples)
	}
	table := &ulawToLinear
	if g.alaw {
		table = &alawToLinear
	}
	for i, b := range payload {
		pcm[i] = table[b]
	}
	return nil
}

// Conceal gives silence: G.711 has no concealment of its own.
func (g *g711) Conceal(_ []byte, pcm []int16) error {
	clear(pcm)
	return nil
}
