package phonelab

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseRTTReadsSippOutput(t *testing.T) {
	f, err := os.Open("testdata/uac_rtt.csv") // written by sipp 3.6.1 -trace_rtt -rtt_freq 1 (uac.xml against uas.xml on loopback)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := ParseRTT(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 {
		t.Fatal("no samples read from sipp's file")
	}
	for i, s := range got {
		if s.Counter != 1 || s.RTT < 0 || s.RTT > time.Second || i > 0 && s.At < got[i-1].At {
			t.Errorf("sample %d: %+v: want counter 1, a response time in [0, 1 s] (sipp counts whole ms: 0 on loopback), dates in order", i, s)
		}
	}
}

func TestParseRTTValues(t *testing.T) {
	in := rttHeader + "\r\n104.001;44;1\r\n\r\n2204.5;0;2\r\n"
	got, err := ParseRTT(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []RTTSample{
		{At: 104001 * time.Microsecond, RTT: 44 * time.Millisecond, Counter: 1},
		{At: 2204500 * time.Microsecond, RTT: 0, Counter: 2},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("sample %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	if got, err := ParseRTT(strings.NewReader(rttHeader + "\n")); err != nil || len(got) != 0 {
		t.Errorf("header only: %v, %v; want no samples, no error", got, err)
	}
}

func TestParseRTTRefusesBadInput(t *testing.T) {
	long := rttHeader + "\n1;" + strings.Repeat("9", maxRTTLine) + ";1\n"
	huge := rttHeader + "\n" + strings.Repeat("1;2;1\n", MaxRTTFileBytes/6+1)
	for name, in := range map[string]string{
		"empty":          "",
		"other header":   "Date;rtt\n1;2;1\n",
		"two fields":     rttHeader + "\n1;2\n",
		"four fields":    rttHeader + "\n1;2;1;4\n",
		"negative rtt":   rttHeader + "\n1;-2;1\n",
		"nan rtt":        rttHeader + "\n1;NaN;1\n",
		"infinite date":  rttHeader + "\nInf;2;1\n",
		"huge rtt":       rttHeader + "\n1;1e300;1\n",
		"counter 0":      rttHeader + "\n1;2;0\n",
		"counter 21":     rttHeader + "\n1;2;21\n",
		"counter text":   rttHeader + "\n1;2;one\n",
		"overlong line":  long,
		"oversized file": huge,
	} {
		t.Run(name, func(t *testing.T) {
			if got, err := ParseRTT(strings.NewReader(in)); err == nil {
				t.Fatalf("accepted %.80q as %+v", in, got)
			} else if !strings.HasPrefix(err.Error(), "sipp rtt file:") {
				t.Errorf("error %q does not say what it was reading", err)
			}
		})
	}
}

// FuzzParseRTT: whatever the bytes, ParseRTT returns samples that hold to the format's
// bounds or an error, and never panics; what it accepts it reads back the same when written
// out again.
func FuzzParseRTT(f *testing.F) {
	f.Add([]byte(rttHeader + "\n104.001;44;1\n204.001;43;1\n"))
	f.Add([]byte(rttHeader + "\r\n1;0;20\r\n"))
	f.Add([]byte(rttHeader + "\n1;2\n"))
	f.Add([]byte("Date_ms;response_time_ms\n"))
	f.Add([]byte(rttHeader + "\n1e3;0x10;1\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := ParseRTT(bytes.NewReader(in))
		if err != nil {
			return
		}
		var again strings.Builder
		again.WriteString(rttHeader + "\n")
		for _, s := range got {
			if s.RTT < 0 || s.At < 0 || s.Counter < 1 || s.Counter > 20 {
				t.Fatalf("sample out of bounds: %+v", s)
			}
			again.WriteString(formatMs(s.At) + ";" + formatMs(s.RTT) + ";" + strconv.Itoa(s.Counter) + "\n")
		}
		back, err := ParseRTT(strings.NewReader(again.String()))
		if err != nil || len(back) != len(got) {
			t.Fatalf("written out again, %d samples read back as %d (%v)", len(got), len(back), err)
		}
		for i := range got {
			if d := back[i].RTT - got[i].RTT; back[i].Counter != got[i].Counter || d > time.Microsecond || d < -time.Microsecond {
				t.Fatalf("sample %d: %+v read back as %+v", i, got[i], back[i])
			}
		}
	})
}

func formatMs(d time.Duration) string { return strconv.FormatFloat(ms(d), 'f', -1, 64) }
