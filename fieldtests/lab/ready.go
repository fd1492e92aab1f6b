package lab

import (
	"errors"
	"fmt"
	"strings"
)

// readyPrefix starts the one line `meshcomm daemon` prints on stdout once its node runs.
const readyPrefix = "meshcomm daemon: ready "

// maxReadyLine bounds the ready line a daemon may print; a longer one is refused.
const maxReadyLine = 4096

// Ready is what a daemon's ready line says:
//
//	meshcomm daemon: ready sip:101@alpha node=<32 hex> listen=[::]:7070 addr=10.77.0.1:7070 control=DIR/control.sock
type Ready struct {
	AoR     string
	NodeID  string
	Listen  string
	Addr    string
	Control string
}

var errNotReady = errors.New("not a ready line")

// ParseReady decodes a daemon's ready line. Lines that are not ready lines return errNotReady
// (wrapped); a ready line without a sip: AoR or a node id of 32 hex digits is an error.
func ParseReady(line string) (Ready, error) {
	if len(line) > maxReadyLine {
		return Ready{}, fmt.Errorf("ready line of %d bytes exceeds %d", len(line), maxReadyLine)
	}
	rest, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), readyPrefix)
	if !ok {
		return Ready{}, fmt.Errorf("%w: %q", errNotReady, line)
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 || !strings.HasPrefix(fields[0], "sip:") {
		return Ready{}, fmt.Errorf("ready line names no sip: address: %q", line)
	}
	r := Ready{AoR: fields[0]}
	for _, f := range fields[1:] {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "node":
			r.NodeID = v
		case "listen":
			r.Listen = v
		case "addr":
			r.Addr = v
		case "control":
			r.Control = v
		}
	}
	if !isHexID(r.NodeID) {
		return Ready{}, fmt.Errorf("ready line has no node id of 32 hex digits: %q", line)
	}
	return r, nil
}

func isHexID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
