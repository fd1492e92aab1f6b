package lab

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat. It is 100 on every
// Linux architecture Go supports (the kernel fixes it for user space), so it is not read
// through sysconf, which would need cgo.
const clockTicks = 100

// maxProcFile bounds what is read from one /proc file.
const maxProcFile = 64 << 10

// ProcSample is one reading of a process's resident memory and CPU time.
type ProcSample struct {
	RSSKiB  uint64 // VmRSS: resident now
	PeakKiB uint64 // VmHWM: the most it was ever resident
	CPUTick uint64 // utime + stime, in clock ticks (1/100 s)
}

// CPUSeconds is the sample's CPU time in seconds.
func (s ProcSample) CPUSeconds() float64 { return float64(s.CPUTick) / clockTicks }

// ReadProc samples process pid from /proc.
func ReadProc(pid int) (ProcSample, error) {
	status, err := readBounded(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ProcSample{}, err
	}
	stat, err := readBounded(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ProcSample{}, err
	}
	s, err := ParseProcStatus(status)
	if err != nil {
		return ProcSample{}, err
	}
	if s.CPUTick, err = ParseProcStat(stat); err != nil {
		return ProcSample{}, err
	}
	return s, nil
}

func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, maxProcFile+1)
	n, err := f.Read(buf)
	if err != nil {
		return nil, err
	}
	if n > maxProcFile {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxProcFile)
	}
	return buf[:n], nil
}

// ParseProcStatus reads VmRSS and VmHWM (in kB) from the text of /proc/PID/status.
func ParseProcStatus(b []byte) (ProcSample, error) {
	if len(b) > maxProcFile {
		return ProcSample{}, fmt.Errorf("status text of %d bytes exceeds %d", len(b), maxProcFile)
	}
	var s ProcSample
	var haveRSS bool
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || key != "VmRSS" && key != "VmHWM" {
			continue
		}
		fields := strings.Fields(val)
		if len(fields) != 2 || fields[1] != "kB" {
			return ProcSample{}, fmt.Errorf("status line %q: want \"<n> kB\"", sc.Text())
		}
		n, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			return ProcSample{}, fmt.Errorf("status line %q: %w", sc.Text(), err)
		}
		if key == "VmRSS" {
			s.RSSKiB, haveRSS = n, true
		} else {
			s.PeakKiB = n
		}
	}
	if !haveRSS {
		return ProcSample{}, errors.New("status text has no VmRSS line")
	}
	return s, nil
}

// ParseProcStat returns utime + stime (fields 14 and 15, in clock ticks) from the text of
// /proc/PID/stat. The command name (field 2) is in parentheses and may hold spaces and
// parentheses itself, so the fields are counted from the last ')'.
func ParseProcStat(b []byte) (uint64, error) {
	if len(b) > maxProcFile {
		return 0, fmt.Errorf("stat text of %d bytes exceeds %d", len(b), maxProcFile)
	}
	end := bytes.LastIndexByte(b, ')')
	if end < 0 {
		return 0, errors.New("stat text has no command name in parentheses")
	}
	fields := strings.Fields(string(b[end+1:]))
	// fields[0] is field 3 (state); utime is field 14, stime field 15.
	const utime = 14 - 3
	if len(fields) <= utime+1 {
		return 0, fmt.Errorf("stat text has %d fields after the command name, want at least %d", len(fields), utime+2)
	}
	u, err := strconv.ParseUint(fields[utime], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("utime %q: %w", fields[utime], err)
	}
	s, err := strconv.ParseUint(fields[utime+1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stime %q: %w", fields[utime+1], err)
	}
	if u+s < u {
		return 0, errors.New("utime + stime overflows")
	}
	return u + s, nil
}
