package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestWAVRoundTrip(t *testing.T) {
	pcm := SpeechLike(16000, 500*time.Millisecond)
	pcm[0], pcm[1] = -32768, 32767
	var buf bytes.Buffer
	if err := WriteWAV(&buf, 16000, pcm); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != wavHeaderBytes+2*len(pcm) {
		t.Errorf("%d bytes for %d samples", buf.Len(), len(pcm))
	}
	got, rate, err := ReadWAV(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if rate != 16000 || !slices.Equal(got, pcm) {
		t.Errorf("read back %d samples at %d Hz, differing", len(got), rate)
	}
}

func TestWAVSinkStreamsToAFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "call.wav")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	sink, err := NewWAVSink(f, 8000)
	if err != nil {
		t.Fatal(err)
	}
	pcm := SpeechLike(8000, 200*time.Millisecond)
	for i := 0; i < len(pcm); i += 160 {
		if err := sink.Write(pcm[i : i+160]); err != nil {
			t.Fatal(err)
		}
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := WriteWAV(&want, 8000, pcm); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, want.Bytes()) {
		t.Error("the streamed file differs from the one WriteWAV makes")
	}
}

// wavFile builds a WAV file from chunks.
func wavFile(chunks ...[]byte) []byte {
	body := []byte("WAVE")
	for _, c := range chunks {
		body = append(body, c...)
	}
	out := append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...)
	return append(out, body...)
}

func chunk(id string, size uint32, data []byte) []byte {
	c := append([]byte(id), binary.LittleEndian.AppendUint32(nil, size)...)
	c = append(c, data...)
	if len(data)%2 == 1 {
		c = append(c, 0)
	}
	return c
}

func fmtChunk(format, channels uint16, rate uint32, bitsPerSample uint16) []byte {
	block := channels * bitsPerSample / 8
	f := binary.LittleEndian.AppendUint16(nil, format)
	f = binary.LittleEndian.AppendUint16(f, channels)
	f = binary.LittleEndian.AppendUint32(f, rate)
	f = binary.LittleEndian.AppendUint32(f, rate*uint32(block))
	f = binary.LittleEndian.AppendUint16(f, block)
	f = binary.LittleEndian.AppendUint16(f, bitsPerSample)
	return chunk("fmt ", uint32(len(f)), f)
}

func TestReadWAVSkipsOtherChunksAndAcceptsStreamedSizes(t *testing.T) {
	samples := []byte{1, 0, 2, 0, 0xFF, 0xFF}
	for name, file := range map[string][]byte{
		"LIST before fmt, odd size": wavFile(chunk("LIST", 3, []byte("abc")), fmtChunk(1, 1, 8000, 16), chunk("data", 6, samples)),
		"streamed data size":        wavFile(fmtChunk(1, 1, 8000, 16), chunk("data", 0xFFFFFFFF, samples)),
		"zero data size":            wavFile(fmtChunk(1, 1, 8000, 16), chunk("data", 0, samples)),
		"extensible PCM":            wavFile(extensibleFmt(8000), chunk("data", 6, samples)),
	} {
		pcm, rate, err := ReadWAV(bytes.NewReader(file))
		if err != nil || rate != 8000 || !slices.Equal(pcm, []int16{1, 2, -1}) {
			t.Errorf("%s: %v at %d Hz, %v", name, pcm, rate, err)
		}
	}
}

func TestReadWAVRefusesWhatItCannotPlay(t *testing.T) {
	data := chunk("data", 4, []byte{0, 0, 0, 0})
	for name, file := range map[string][]byte{
		"empty":          nil,
		"not RIFF":       []byte("RIFX....WAVEfmt "),
		"no data":        wavFile(fmtChunk(1, 1, 8000, 16)),
		"data first":     wavFile(data, fmtChunk(1, 1, 8000, 16)),
		"stereo":         wavFile(fmtChunk(1, 2, 8000, 16), data),
		"8-bit":          wavFile(fmtChunk(1, 1, 8000, 8), data),
		"float":          wavFile(fmtChunk(3, 1, 8000, 32), data),
		"rate 0":         wavFile(fmtChunk(1, 1, 0, 16), data),
		"huge fmt":       wavFile(chunk("fmt ", 1<<20, nil)),
		"huge data":      wavFile(fmtChunk(1, 1, 8000, 16), chunk("data", MaxWAVBytes, nil)),
		"huge junk":      wavFile(chunk("junk", 0xFFFFFFF0, nil)),
		"truncated junk": wavFile(chunk("junk", 100, []byte{1, 2})),
	} {
		if _, _, err := ReadWAV(bytes.NewReader(file)); !errors.Is(err, ErrNotWAV) {
			t.Errorf("%s: %v, want ErrNotWAV", name, err)
		}
	}
}

// extensibleFmt is a WAVE_FORMAT_EXTENSIBLE fmt chunk for 16-bit mono PCM: the 16 plain bytes,
// cbSize 22, valid bits, channel mask, and the sub-format GUID, whose first two bytes are the
// format code (1, PCM).
func extensibleFmt(rate uint32) []byte {
	ext := fmtChunk(0xFFFE, 1, rate, 16)[8:]
	ext = append(ext, 22, 0, 16, 0, 4, 0, 0, 0, 1, 0)
	ext = append(ext, make([]byte, 14)...)
	return chunk("fmt ", uint32(len(ext)), ext)
}
