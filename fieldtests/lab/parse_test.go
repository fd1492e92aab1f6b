package lab

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

const sampleReady = "meshcomm daemon: ready sip:101@alpha node=81af9adea6c48108a03efa5ed98d3ab9 listen=[::]:7070 addr=10.77.0.1:7070 control=/tmp/x/n1/control.sock"

func TestParseReady(t *testing.T) {
	r, err := ParseReady(sampleReady + "\n")
	want := Ready{AoR: "sip:101@alpha", NodeID: "81af9adea6c48108a03efa5ed98d3ab9", Listen: "[::]:7070", Addr: "10.77.0.1:7070",
		Control: "/tmp/x/n1/control.sock"}
	if err != nil || r != want {
		t.Fatalf("ParseReady = %+v, %v; want %+v", r, err, want)
	}
	for _, bad := range []string{
		"",
		"time=... level=INFO msg=started",
		"meshcomm daemon: ready",
		"meshcomm daemon: ready 101@alpha node=81af9adea6c48108a03efa5ed98d3ab9",
		"meshcomm daemon: ready sip:101@alpha node=81AF9ADEA6C48108A03EFA5ED98D3AB9",
		"meshcomm daemon: ready sip:101@alpha node=81af9ade",
		"meshcomm daemon: ready sip:101@alpha addr=10.77.0.1:7070",
		sampleReady + strings.Repeat(" x", maxReadyLine),
	} {
		if r, err := ParseReady(bad); err == nil {
			t.Errorf("ParseReady(%.60q) = %+v, want an error", bad, r)
		}
	}
	if _, err := ParseReady("not a ready line"); !errors.Is(err, errNotReady) {
		t.Errorf("an ordinary line: %v, want errNotReady", err)
	}
}

func FuzzParseReady(f *testing.F) {
	f.Add(sampleReady)
	f.Add("meshcomm daemon: ready sip:x node=00000000000000000000000000000000")
	f.Add("meshcomm daemon: ready sip: node= listen= =addr control")
	f.Fuzz(func(t *testing.T, line string) {
		r, err := ParseReady(line)
		if err != nil {
			return
		}
		if !strings.HasPrefix(r.AoR, "sip:") || !isHexID(r.NodeID) {
			t.Fatalf("accepted %q as %+v", line, r)
		}
		again, err := ParseReady(fmt.Sprintf("%s%s node=%s listen=%s addr=%s control=%s", readyPrefix, r.AoR, r.NodeID, r.Listen, r.Addr, r.Control))
		if err != nil || again.AoR != r.AoR || again.NodeID != r.NodeID {
			t.Fatalf("reformatted %+v parses as %+v, %v", r, again, err)
		}
	})
}

const sampleStat = "4242 (meshcomm) S 1 4242 4242 0 -1 4194560 3038 0 0 0 123 45 0 0 20 0 9 0 1234567 1290000000 4800 18446744073709551615 1 1 0 0 0 0 0 0 2143420159 0 0 0 17 1 0 0 0 0 0\n"

const sampleStatus = "Name:\tmeshcomm\nVmPeak:\t 1290000 kB\nVmHWM:\t   20480 kB\nVmRSS:\t   19200 kB\nThreads:\t9\n"

func TestParseProc(t *testing.T) {
	if ticks, err := ParseProcStat([]byte(sampleStat)); err != nil || ticks != 168 {
		t.Errorf("ParseProcStat = %d, %v; want 123+45", ticks, err)
	}
	// A command name may hold spaces and parentheses.
	odd := strings.Replace(sampleStat, "(meshcomm)", "(a) b (c)", 1)
	if ticks, err := ParseProcStat([]byte(odd)); err != nil || ticks != 168 {
		t.Errorf("ParseProcStat with an odd name = %d, %v", ticks, err)
	}
	for _, bad := range []string{"", "4242 meshcomm S 1", "4242 (meshcomm) S 1 2 3", strings.Replace(sampleStat, " 123 ", " x ", 1)} {
		if _, err := ParseProcStat([]byte(bad)); err == nil {
			t.Errorf("ParseProcStat(%q) succeeded", bad)
		}
	}
	s, err := ParseProcStatus([]byte(sampleStatus))
	if err != nil || s.RSSKiB != 19200 || s.PeakKiB != 20480 {
		t.Errorf("ParseProcStatus = %+v, %v", s, err)
	}
	for _, bad := range []string{"", "Name:\tmeshcomm\n", "VmRSS:\t 12 MB\n", "VmRSS:\t -1 kB\n"} {
		if _, err := ParseProcStatus([]byte(bad)); err == nil {
			t.Errorf("ParseProcStatus(%q) succeeded", bad)
		}
	}
	if got := (ProcSample{CPUTick: 250}).CPUSeconds(); got != 2.5 {
		t.Errorf("250 ticks = %v s", got)
	}
}

func FuzzParseProcStat(f *testing.F) {
	f.Add([]byte(sampleStat))
	f.Add([]byte("1 () R " + strings.Repeat("0 ", 20)))
	f.Add([]byte(")))"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ParseProcStat(b)
	})
}

func FuzzParseProcStatus(f *testing.F) {
	f.Add([]byte(sampleStatus))
	f.Add([]byte("VmRSS: 1 kB\nVmRSS: 2 kB\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseProcStatus(b)
		if err == nil && !strings.Contains(string(b), "VmRSS") {
			t.Fatalf("accepted status text without VmRSS as %+v", s)
		}
	})
}

// The measured process is this test itself: its resident memory and CPU time are positive.
func TestReadProcOfThisProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc is Linux")
	}
	s, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.RSSKiB == 0 || s.PeakKiB < s.RSSKiB {
		t.Errorf("sample %+v: want a resident size and a peak at least as large", s)
	}
}

func TestPoll(t *testing.T) {
	calls := 0
	d, err := Poll(time.Minute, "the third call", func() (bool, string) { calls++; return calls == 3, "not yet" })
	if err != nil || calls != 3 || d < 2*PollInterval {
		t.Errorf("Poll: %v, %v after %d calls", d, err, calls)
	}
	_, err = Poll(0, "never", func() (bool, string) { return false, "the reason" })
	if err == nil || !strings.Contains(err.Error(), "the reason") {
		t.Errorf("Poll timing out: %v", err)
	}
}

func TestDurationsPercentiles(t *testing.T) {
	var d durations
	for i := 20; i >= 1; i-- {
		d = append(d, time.Duration(i)*time.Second)
	}
	if d.percentile(0.5) != 10*time.Second || d.percentile(0.95) != 19*time.Second || d.percentile(1) != 20*time.Second {
		t.Errorf("percentiles of 1..20 s: p50 %v, p95 %v, p100 %v", d.percentile(0.5), d.percentile(0.95), d.percentile(1))
	}
	if got := (durations{}).String(); got != "no trials" {
		t.Errorf("empty: %q", got)
	}
}
