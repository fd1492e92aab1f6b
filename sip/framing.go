package sip

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/emiago/sipgo/sip"
)

// frameError is a message or stream refused by the framer. A fatal one ends the stream: the
// framer cannot find where the next message starts.
type frameError struct {
	reason string
	err    error
	fatal  bool
	req    *sip.Request // the refused request, if its headers parsed (to answer it)
	status int          // the response to send to req, 0 for none
}

func (e *frameError) Error() string { return e.reason + ": " + e.err.Error() }

var (
	errNoHeaderEnd   = errors.New("no end of header section within the bound")
	errBadStartLine  = errors.New("bytes that cannot start a SIP message")
	errBadLength     = errors.New("Content-Length is not a number or appears twice with different values")
	errNoLength      = errors.New("Content-Length is required on a stream")
	errLengthExceeds = errors.New("Content-Length disagrees with what follows the body")
	errTooLarge      = errors.New("message or body is over its bound")
	errEndedInside   = errors.New("stream ended inside a message")
	errStalled       = errors.New("message stopped half-way")
)

// frameSpan is where the first message in a buffer lies.
type frameSpan struct {
	start   int  // leading CR/LF keep-alive bytes before the message
	header  int  // header section length, blank line included
	body    int  // Content-Length
	hasLen  bool // a Content-Length header was present
	more    bool // the message is not complete yet
	skipped bool // the body is over its bound: skip it (the error says so)
}

// scanFrame finds the first message in buf. It never reads past the bounds: a header
// section over maxHeaderBytes or garbage in front of a message is a fatal error, a body over
// the bound a non-fatal one (the body is skipped).
func scanFrame(buf []byte, lim Limits) (frameSpan, *frameError) {
	var s frameSpan
	for s.start < len(buf) && (buf[s.start] == '\r' || buf[s.start] == '\n') {
		s.start++
	}
	b := buf[s.start:]
	if !plausibleStart(b) {
		return s, &frameError{reason: ReasonFraming, err: errBadStartLine, fatal: true}
	}
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		if len(b) > maxHeaderBytes {
			return s, &frameError{reason: ReasonHeaderTooLarge, err: errNoHeaderEnd, fatal: true}
		}
		s.more = true
		return s, nil
	}
	s.header = end + 4
	if s.header > maxHeaderBytes {
		return s, &frameError{reason: ReasonHeaderTooLarge, err: errNoHeaderEnd, fatal: true, status: 400}
	}
	n, has, err := contentLength(b[:s.header])
	if err != nil {
		return s, &frameError{reason: ReasonContentLength, err: err, fatal: true, status: 400}
	}
	s.body, s.hasLen = n, has
	if n > lim.MaxBodyBytes || s.header+n > lim.MaxMessageBytes {
		if n > maxSkipBytes {
			return s, &frameError{reason: ReasonTooLarge, err: errTooLarge, fatal: true, status: 413}
		}
		s.skipped = true
		return s, &frameError{reason: ReasonTooLarge, err: fmt.Errorf("%w: %d body bytes", errTooLarge, n), status: 413}
	}
	s.more = len(b) < s.header+n
	return s, nil
}

// contentLength reads the Content-Length (or compact "l") header of a header section.
func contentLength(header []byte) (n int, found bool, err error) {
	lines := bytes.Split(header, []byte("\r\n"))
	for _, line := range lines[1:] {
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		name = bytes.TrimSpace(name)
		if !bytes.EqualFold(name, []byte("content-length")) && !bytes.EqualFold(name, []byte("l")) {
			continue
		}
		value = bytes.TrimSpace(value)
		if len(value) == 0 || len(value) > 9 {
			return 0, false, errBadLength
		}
		v, perr := strconv.Atoi(string(value))
		if perr != nil || v < 0 || value[0] == '+' {
			return 0, false, errBadLength
		}
		if found && v != n {
			return 0, false, errBadLength
		}
		n, found = v, true
	}
	return n, found, nil
}

// plausibleStart reports whether b can begin a SIP message: "SIP/" (a response) or a method
// token followed by a space (a request). A prefix too short to tell is plausible.
func plausibleStart(b []byte) bool {
	const resp = "SIP/"
	k := min(len(b), len(resp))
	if string(b[:k]) == resp[:k] {
		return true
	}
	for i, c := range b {
		switch {
		case c == ' ':
			return i > 0
		case c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z':
			if i >= 32 {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// frameReader splits a stream into SIP messages, bounded and checked, one message per next.
type frameReader struct {
	src      io.Reader
	deadline func(time.Time) error // the source's SetReadDeadline, or nil
	lim      Limits
	parser   *sip.Parser
	buf      []byte
	chunk    []byte
	skip     int // bytes of an oversized body still to discard
	deadSet  bool
}

func newFrameReader(src io.Reader, deadline func(time.Time) error, lim Limits) *frameReader {
	p := sip.NewParser()
	p.MaxMessageLength = lim.MaxMessageBytes
	return &frameReader{src: src, deadline: deadline, lim: lim, parser: p, chunk: make([]byte, 16<<10)}
}

// next returns the next well-formed message (its bytes and parsed form), a *frameError for a
// refused one (fatal: the stream must end), or the source's error (io.EOF between messages).
func (f *frameReader) next() ([]byte, sip.Message, error) {
	for {
		if f.skip > 0 {
			n := min(f.skip, len(f.buf))
			f.consume(n)
			f.skip -= n
			if f.skip > 0 {
				if err := f.fill(); err != nil {
					return nil, nil, err
				}
				continue
			}
		}
		span, ferr := scanFrame(f.buf, f.lim)
		if ferr != nil {
			if span.header > 0 {
				ferr.req = f.requestHeaders(f.buf[span.start : span.start+span.header])
			}
			if !ferr.fatal {
				f.consume(span.start + span.header)
				f.skip = span.body
			}
			return nil, nil, ferr
		}
		if span.more || len(f.buf) == 0 {
			if err := f.fill(); err != nil {
				return nil, nil, err
			}
			continue
		}
		if span.header == 0 { // only keep-alive CR/LF bytes
			f.consume(span.start)
			continue
		}
		total := span.start + span.header + span.body
		raw := bytes.Clone(f.buf[span.start:total])
		f.consume(total)
		return f.check(raw, span)
	}
}

// check parses a complete message and applies the checks sipgo leaves to its user.
func (f *frameReader) check(raw []byte, span frameSpan) ([]byte, sip.Message, error) {
	if len(f.buf) > 0 && !plausibleStart(bytes.TrimLeft(f.buf, "\r\n")) {
		// What follows the body cannot start a message: the Content-Length was too small.
		return nil, nil, &frameError{reason: ReasonContentLength, err: errLengthExceeds, fatal: true,
			req: f.requestHeaders(raw[:span.header]), status: 400}
	}
	msg, err := f.parser.ParseSIP(raw)
	if err != nil {
		return nil, nil, &frameError{reason: ReasonMalformed, err: err, req: f.requestHeaders(raw[:span.header]), status: 400}
	}
	if !span.hasLen {
		return nil, nil, &frameError{reason: ReasonMalformed, err: errNoLength, req: answerable(msg), status: 400}
	}
	if err := checkHeaders(msg); err != nil {
		return nil, nil, &frameError{reason: ReasonMalformed, err: err, req: answerable(msg), status: 400}
	}
	return raw, msg, nil
}

// checkHeaders requires the headers every SIP message must carry (RFC 3261 8.1.1) and a CSeq
// that matches the request's method.
func checkHeaders(msg sip.Message) error {
	var h interface {
		Via() *sip.ViaHeader
		From() *sip.FromHeader
		To() *sip.ToHeader
		CallID() *sip.CallIDHeader
		CSeq() *sip.CSeqHeader
	}
	switch m := msg.(type) {
	case *sip.Request:
		h = m
		if cseq := m.CSeq(); cseq != nil && cseq.MethodName != m.Method {
			return fmt.Errorf("CSeq method %s does not match %s", cseq.MethodName, m.Method)
		}
	case *sip.Response:
		h = m
	default:
		return errors.New("neither request nor response")
	}
	switch {
	case h.Via() == nil:
		return errors.New("no Via")
	case h.From() == nil:
		return errors.New("no From")
	case h.To() == nil:
		return errors.New("no To")
	case h.CallID() == nil || *h.CallID() == "":
		return errors.New("no Call-ID")
	case h.CSeq() == nil:
		return errors.New("no CSeq")
	}
	return nil
}

// requestHeaders parses a header section well enough to answer it, or returns nil.
func (f *frameReader) requestHeaders(header []byte) *sip.Request {
	msg, _, err := f.parser.Parse(header, true)
	if err != nil && !errors.Is(err, sip.ErrParseReadBodyIncomplete) {
		return nil
	}
	return answerable(msg)
}

// answerable returns msg if it is a request with the headers a response copies, else nil.
func answerable(msg sip.Message) *sip.Request {
	req, ok := msg.(*sip.Request)
	if !ok || req.Via() == nil || req.CSeq() == nil || req.CallID() == nil || req.From() == nil || req.To() == nil {
		return nil
	}
	return req
}

func (f *frameReader) consume(n int) {
	f.buf = f.buf[:copy(f.buf, f.buf[n:])]
}

// fill reads more of the stream. While a message is half-received the read is bounded by the
// stall timeout.
func (f *frameReader) fill() error {
	pending := len(f.buf) > 0 || f.skip > 0
	if f.deadline != nil && (pending || f.deadSet) {
		var t time.Time
		if pending {
			t = time.Now().Add(f.lim.StallTimeout)
		}
		f.deadline(t)
		f.deadSet = pending
	}
	n, err := f.src.Read(f.chunk)
	f.buf = append(f.buf, f.chunk[:n]...)
	if err == nil || n > 0 {
		return nil
	}
	if !pending {
		return err
	}
	var req *sip.Request
	if span, _ := scanFrame(f.buf, f.lim); span.header > 0 {
		req = f.requestHeaders(f.buf[span.start : span.start+span.header])
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return &frameError{reason: ReasonStalled, err: errStalled, fatal: true, req: req, status: 400}
	}
	return &frameError{reason: ReasonFraming, err: fmt.Errorf("%w: %v", errEndedInside, err), fatal: true, req: req, status: 400}
}
