package phonelab

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Limits of ParseRTT.
const (
	// MaxRTTFileBytes bounds a sipp response-time file ParseRTT reads.
	MaxRTTFileBytes = 4 << 20
	// maxRTTLine bounds one of its lines.
	maxRTTLine = 256
)

// rttHeader is the first line of the file `sipp -trace_rtt` writes (SIPp 3.6).
const rttHeader = "Date_ms;response_time_ms;rtd_no"

// RTTSample is one line of a sipp response-time file: when sipp logged it (ms since sipp
// started), the response time it measured (ms: sipp's clock has millisecond resolution) and
// which response-time counter (the scenario's rtd="N") it belongs to.
type RTTSample struct {
	At      time.Duration
	RTT     time.Duration
	Counter int
}

// ParseRTT decodes the response-time file `sipp -trace_rtt -rtt_freq 1` writes,
// "<scenario>_<pid>_rtt.csv":
//
//	Date_ms;response_time_ms;rtd_no
//	104.001;12;1
//
// It refuses a file above MaxRTTFileBytes, a missing or different header, a line above 256
// bytes, a line without exactly three fields, and a negative or unparsable number, naming the
// line.
func ParseRTT(r io.Reader) ([]RTTSample, error) {
	sc := bufio.NewScanner(io.LimitReader(r, MaxRTTFileBytes+1))
	sc.Buffer(make([]byte, 0, maxRTTLine), maxRTTLine)
	var out []RTTSample
	read, line := 0, 0
	for sc.Scan() {
		line++
		text := sc.Text()
		read += len(text) + 1
		if read > MaxRTTFileBytes {
			return nil, fmt.Errorf("sipp rtt file: larger than %d bytes", MaxRTTFileBytes)
		}
		text = strings.TrimSuffix(text, "\r")
		if line == 1 {
			if text != rttHeader {
				return nil, fmt.Errorf("sipp rtt file: header %.60q, want %q", text, rttHeader)
			}
			continue
		}
		if text == "" {
			continue
		}
		s, err := parseRTTLine(text)
		if err != nil {
			return nil, fmt.Errorf("sipp rtt file: line %d: %w", line, err)
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("sipp rtt file: line %d longer than %d bytes", line+1, maxRTTLine)
		}
		return nil, fmt.Errorf("sipp rtt file: %w", err)
	}
	if line == 0 {
		return nil, errors.New("sipp rtt file: empty (no header)")
	}
	return out, nil
}

func parseRTTLine(text string) (RTTSample, error) {
	f := strings.Split(text, ";")
	if len(f) != 3 {
		return RTTSample{}, fmt.Errorf("%d fields in %.60q, want 3", len(f), text)
	}
	at, err := parseMs(f[0])
	if err != nil {
		return RTTSample{}, fmt.Errorf("date %q: %w", f[0], err)
	}
	rtt, err := parseMs(f[1])
	if err != nil {
		return RTTSample{}, fmt.Errorf("response time %q: %w", f[1], err)
	}
	n, err := strconv.Atoi(f[2])
	if err != nil || n < 1 || n > 20 { // sipp has response-time counters 1..20 at most
		return RTTSample{}, fmt.Errorf("counter %q is not 1..20", f[2])
	}
	return RTTSample{At: at, RTT: rtt, Counter: n}, nil
}

// maxMs bounds a duration in a sipp file (a year): larger ones are nonsense, and the bound
// keeps the conversion to time.Duration from overflowing.
const maxMs = 365 * 24 * 3600 * 1000

func parseMs(s string) (time.Duration, error) {
	v, err := strconv.ParseFloat(s, 64)
	switch {
	case err != nil:
		return 0, err
	case !(v >= 0 && v <= maxMs): // also refuses NaN
		return 0, fmt.Errorf("outside 0..%d ms", maxMs)
	}
	return time.Duration(v * float64(time.Millisecond)), nil
}
