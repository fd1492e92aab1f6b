package media

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// WAV (RIFF WAVE) files of 16-bit PCM, mono. The layout written is the canonical 44-byte header:
//
//	"RIFF" <size-8:u32le> "WAVE"
//	"fmt " <16:u32le> <1:u16 PCM> <1:u16 channels> <rate:u32> <rate*2:u32 byte rate> <2:u16 block> <16:u16 bits>
//	"data" <n*2:u32le> <n samples, s16le>
//
// The reader also skips any other chunk (LIST, fact, ...), accepts WAVE_FORMAT_EXTENSIBLE with
// a PCM sub-format, and a data size of 0 or 0xFFFFFFFF (a file written by a stream) as "up to
// the end". It is written here rather than taken from a library because one layout is needed,
// the samples are wanted as []int16 (go-audio/wav hands out []int buffers), and our own reader
// is fuzzed with our own bound.

// MaxWAVBytes bounds what ReadWAV reads: about 35 minutes of 16 kHz audio.
const MaxWAVBytes = 64 << 20

// ErrNotWAV is returned for input that is not a 16-bit PCM mono WAV file.
var ErrNotWAV = errors.New("media: not a 16-bit PCM mono WAV file")

const wavHeaderBytes = 44

// ReadWAV reads a whole 16-bit PCM mono WAV file and returns its samples and sample rate.
func ReadWAV(r io.Reader) ([]int16, int, error) {
	br := bufio.NewReader(io.LimitReader(r, MaxWAVBytes+1))
	var riff [12]byte
	if _, err := io.ReadFull(br, riff[:]); err != nil {
		return nil, 0, fmt.Errorf("%w: short header: %v", ErrNotWAV, err)
	}
	if string(riff[0:4]) != "RIFF" || string(riff[8:12]) != "WAVE" {
		return nil, 0, fmt.Errorf("%w: no RIFF/WAVE signature", ErrNotWAV)
	}
	rate := 0
	read := int64(12)
	for {
		var hdr [8]byte
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return nil, 0, fmt.Errorf("%w: no data chunk: %v", ErrNotWAV, err)
		}
		read += 8
		id, size := string(hdr[0:4]), int64(binary.LittleEndian.Uint32(hdr[4:8]))
		switch id {
		case "fmt ":
			if size < 16 || size > 64 {
				return nil, 0, fmt.Errorf("%w: fmt chunk of %d bytes", ErrNotWAV, size)
			}
			f := make([]byte, size+size%2)
			if _, err := io.ReadFull(br, f); err != nil {
				return nil, 0, fmt.Errorf("%w: short fmt chunk: %v", ErrNotWAV, err)
			}
			read += int64(len(f))
			var err error
			if rate, err = parseWAVFormat(f[:size]); err != nil {
				return nil, 0, err
			}
		case "data":
			if rate == 0 {
				return nil, 0, fmt.Errorf("%w: data chunk before fmt chunk", ErrNotWAV)
			}
			room := MaxWAVBytes - read
			if size == 0 || size == 0xFFFFFFFF {
				size = room + 1 // streamed: up to the end, which must come within the bound
			} else if size > room {
				return nil, 0, fmt.Errorf("%w: %d bytes of audio, more than the %d allowed", ErrNotWAV, size, MaxWAVBytes)
			}
			return readSamples(br, size, room, rate)
		default:
			if read+size > MaxWAVBytes {
				return nil, 0, fmt.Errorf("%w: %q chunk of %d bytes", ErrNotWAV, id, size)
			}
			n, err := io.CopyN(io.Discard, br, size+size%2)
			read += n
			if err != nil {
				return nil, 0, fmt.Errorf("%w: short %q chunk: %v", ErrNotWAV, id, err)
			}
		}
	}
}

func parseWAVFormat(f []byte) (int, error) {
	format := binary.LittleEndian.Uint16(f[0:2])
	channels := binary.LittleEndian.Uint16(f[2:4])
	rate := binary.LittleEndian.Uint32(f[4:8])
	block := binary.LittleEndian.Uint16(f[12:14])
	bitsPerSample := binary.LittleEndian.Uint16(f[14:16])
	if format == 0xFFFE { // WAVE_FORMAT_EXTENSIBLE: the sub-format GUID starts with the format code
		if len(f) < 40 {
			return 0, fmt.Errorf("%w: short extensible fmt chunk", ErrNotWAV)
		}
		format = binary.LittleEndian.Uint16(f[24:26])
	}
	switch {
	case format != 1:
		return 0, fmt.Errorf("%w: format code %d (only PCM, 1)", ErrNotWAV, format)
	case channels != 1:
		return 0, fmt.Errorf("%w: %d channels", ErrNotWAV, channels)
	case bitsPerSample != 16 || block != 2:
		return 0, fmt.Errorf("%w: %d bits per sample, block %d", ErrNotWAV, bitsPerSample, block)
	case rate < 1000 || rate > 384000:
		return 0, fmt.Errorf("%w: sample rate %d Hz", ErrNotWAV, rate)
	}
	return int(rate), nil
}

// readSamples reads up to size bytes of samples (a truncated file gives what it has), refusing
// more than room.
func readSamples(r io.Reader, size, room int64, rate int) ([]int16, int, error) {
	b, err := io.ReadAll(io.LimitReader(r, size))
	if err != nil {
		return nil, 0, fmt.Errorf("media: reading WAV samples: %w", err)
	}
	if int64(len(b)) > room {
		return nil, 0, fmt.Errorf("%w: more than %d bytes", ErrNotWAV, MaxWAVBytes)
	}
	pcm := make([]int16, len(b)/2) // a dangling odd byte of a truncated file is dropped
	for i := range pcm {
		pcm[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
	}
	return pcm, rate, nil
}

func wavHeader(rate, samples int) []byte {
	h := make([]byte, 0, wavHeaderBytes)
	dataBytes := uint32(2 * samples)
	h = append(h, "RIFF"...)
	h = binary.LittleEndian.AppendUint32(h, 36+dataBytes)
	h = append(h, "WAVEfmt "...)
	h = binary.LittleEndian.AppendUint32(h, 16)
	h = binary.LittleEndian.AppendUint16(h, 1) // PCM
	h = binary.LittleEndian.AppendUint16(h, 1) // mono
	h = binary.LittleEndian.AppendUint32(h, uint32(rate))
	h = binary.LittleEndian.AppendUint32(h, uint32(2*rate))
	h = binary.LittleEndian.AppendUint16(h, 2)
	h = binary.LittleEndian.AppendUint16(h, 16)
	h = append(h, "data"...)
	return binary.LittleEndian.AppendUint32(h, dataBytes)
}

func appendSamples(b []byte, pcm []int16) []byte {
	for _, s := range pcm {
		b = binary.LittleEndian.AppendUint16(b, uint16(s))
	}
	return b
}

// WriteWAV writes pcm as a 16-bit PCM mono WAV file at rate Hz.
func WriteWAV(w io.Writer, rate int, pcm []int16) error {
	if 2*len(pcm) > MaxWAVBytes-wavHeaderBytes {
		return fmt.Errorf("media: %d samples are more than a WAV file here may hold", len(pcm))
	}
	_, err := w.Write(appendSamples(wavHeader(rate, len(pcm)), pcm))
	return err
}

// WAVSink is a Sink that streams into a WAV file; Close writes the final sizes into the header.
type WAVSink struct {
	w       io.WriteSeeker
	rate    int
	samples int
	buf     []byte
}

// NewWAVSink writes a WAV header to w and returns a Sink appending to it.
func NewWAVSink(w io.WriteSeeker, rate int) (*WAVSink, error) {
	if _, err := w.Write(wavHeader(rate, 0)); err != nil {
		return nil, fmt.Errorf("media: WAV header: %w", err)
	}
	return &WAVSink{w: w, rate: rate}, nil
}

func (s *WAVSink) SampleRate() int { return s.rate }

func (s *WAVSink) Write(frame []int16) error {
	if 2*(s.samples+len(frame)) > MaxWAVBytes-wavHeaderBytes {
		return fmt.Errorf("media: WAV recording is full (%d bytes)", MaxWAVBytes)
	}
	s.buf = appendSamples(s.buf[:0], frame)
	if _, err := s.w.Write(s.buf); err != nil {
		return err
	}
	s.samples += len(frame)
	return nil
}

// Close writes the sizes into the header and leaves the file positioned at its end. It does not
// close the underlying writer.
func (s *WAVSink) Close() error {
	h := wavHeader(s.rate, s.samples)
	for _, patch := range []int64{4, 40} {
		if _, err := s.w.Seek(patch, io.SeekStart); err != nil {
			return fmt.Errorf("media: WAV header: %w", err)
		}
		if _, err := s.w.Write(h[patch : patch+4]); err != nil {
			return fmt.Errorf("media: WAV header: %w", err)
		}
	}
	_, err := s.w.Seek(0, io.SeekEnd)
	return err
}
