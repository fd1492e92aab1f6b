package transport

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// MaxFrameBytes bounds one overlay frame's payload (the same bound as mesh.MaxMessageBytes: one
// encoded overlay message is one frame).
const MaxFrameBytes = 256 << 10

// frameHeaderBytes is the length prefix of a frame.
const frameHeaderBytes = 4

// Stream kinds: the first byte of every QUIC stream says what the stream carries. Kinds below
// FirstAppKind belong to the transport; applications choose kinds from FirstAppKind up.
const (
	kindFrames byte = 0x01 // unidirectional: length-prefixed overlay frames until FIN
	kindRetire byte = 0x02 // unidirectional, one phase byte: see doc.go
	kindProbe  byte = 0x03 // unidirectional, up to maxProbeBytes of padding, discarded

	// FirstAppKind is the lowest stream kind OpenStream and Listener accept.
	FirstAppKind byte = 0x10
	// KindSIP is the stream kind that carries SIP (one stream is one SIP "connection").
	KindSIP byte = 0x10
)

// Errors of the frame format.
var (
	ErrFrameTooLarge = fmt.Errorf("transport: frame exceeds %d bytes", MaxFrameBytes)
	ErrEmptyFrame    = errors.New("transport: empty frame")
	ErrTruncated     = errors.New("transport: stream ended inside a frame")
	ErrBadMarker     = errors.New("transport: retire marker is not one phase byte (0 or 1)")
	ErrProbeTooLong  = fmt.Errorf("transport: probe longer than %d bytes", maxProbeBytes)
)

// appendFrameHeader appends the length prefix of a payload of n bytes.
func appendFrameHeader(b []byte, n int) []byte {
	return binary.BigEndian.AppendUint32(b, uint32(n))
}

// checkFrameSize refuses payloads the receiver would refuse.
func checkFrameSize(n int) error {
	switch {
	case n == 0:
		return ErrEmptyFrame
	case n > MaxFrameBytes:
		return ErrFrameTooLarge
	}
	return nil
}

// UnknownKindError says a stream opened with a kind nobody handles.
type UnknownKindError struct{ Kind byte }

func (e *UnknownKindError) Error() string {
	return fmt.Sprintf("transport: unknown stream kind %#02x", e.Kind)
}

// errStopped says the frame callback asked decodeUniStream to stop.
var errStopped = errors.New("transport: stopped reading frames")

// decodeUniStream decodes one incoming unidirectional stream. For a frames stream it calls
// frame with each frame as soon as it is read, stopping with errStopped if frame returns false;
// for a retire marker it returns the phase; a probe's body is discarded. Every length is checked
// before anything is allocated for it.
func decodeUniStream(r io.Reader, frame func([]byte) bool) (kind, phase byte, err error) {
	kind, err = readKind(r)
	if err != nil {
		return 0, 0, err
	}
	switch kind {
	case kindFrames:
		for {
			payload, err := readFrame(r)
			if err == io.EOF {
				return kind, 0, nil
			}
			if err != nil {
				return kind, 0, err
			}
			if !frame(payload) {
				return kind, 0, errStopped
			}
		}
	case kindRetire:
		phase, err = readRetirePhase(r)
		return kind, phase, err
	case kindProbe:
		return kind, 0, discardProbe(r)
	}
	return kind, 0, &UnknownKindError{Kind: kind}
}

// readKind reads the kind byte that opens a stream. A stream that ends before it is truncated.
func readKind(r io.Reader) (byte, error) {
	var b [1]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return 0, ErrTruncated
		}
		return 0, err
	}
	return b[0], nil
}

// readFrame reads one length-prefixed frame. It returns io.EOF when the stream ends cleanly
// before a frame starts, ErrTruncated when it ends inside one, and ErrFrameTooLarge or
// ErrEmptyFrame (without reading the payload) for a length outside 1..MaxFrameBytes.
func readFrame(r io.Reader) ([]byte, error) {
	var h [frameHeaderBytes]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			return nil, ErrTruncated
		}
		return nil, err // io.EOF: a clean end between frames
	}
	n := binary.BigEndian.Uint32(h[:])
	if n > MaxFrameBytes {
		return nil, ErrFrameTooLarge
	}
	if err := checkFrameSize(int(n)); err != nil {
		return nil, err
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, ErrTruncated
		}
		return nil, err
	}
	return payload, nil
}

// Phases of a retire marker.
const (
	retireFirst byte = 0 // "I retire this connection; send me yours once you have read my frames"
	retireLast  byte = 1 // "I have read all your frames and sent my last: close it"
)

// readRetirePhase reads the body of a retire marker stream: exactly one phase byte, then the
// end of the stream.
func readRetirePhase(r io.Reader) (byte, error) {
	var b [2]byte
	n, err := io.ReadFull(r, b[:])
	switch {
	case n == 1 && err == io.ErrUnexpectedEOF && b[0] <= retireLast:
		return b[0], nil
	case n == 2, err == io.ErrUnexpectedEOF, err == io.EOF:
		return 0, ErrBadMarker
	}
	return 0, err
}

// maxProbeBytes bounds a probe stream's body.
const maxProbeBytes = 255

// discardProbe reads a probe stream's body to its end.
func discardProbe(r io.Reader) error {
	n, err := io.Copy(io.Discard, io.LimitReader(r, maxProbeBytes+1))
	if err != nil {
		return err
	}
	if n > maxProbeBytes {
		return ErrProbeTooLong
	}
	return nil
}
