package radiolink

import (
	"errors"
	"fmt"
)

// MAC is an Ethernet hardware address.
type MAC [6]byte

// String formats the address as colon-separated hex, as ip(8) prints it.
func (m MAC) String() string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
}

// Group reports whether the address is a broadcast or multicast (group) address: the lowest bit
// of its first octet is set.
func (m MAC) Group() bool { return m[0]&1 == 1 }

// NodeMAC is the deterministic, locally administered address the lab gives node n's interface:
// 02:72:6c:00:HI:LO ("rl"), so a capture shows which node sent a frame.
func NodeMAC(n int) MAC { return MAC{0x02, 0x72, 0x6c, 0x00, byte(n >> 8), byte(n)} }

const (
	// headerLen is the Ethernet header: destination, source, EtherType.
	headerLen = 14
	// MaxFrameLen bounds a frame the emulator accepts from a node: a 1500-byte MTU frame with
	// a VLAN tag fits with a wide margin; anything longer is dropped and counted (lab interfaces
	// keep the default MTU, so a longer frame means a misconfigured node).
	MaxFrameLen = 9216
)

// Frame errors, counted as malformed frames by the emulator.
var (
	ErrShortFrame = errors.New("radiolink: frame shorter than an Ethernet header")
	ErrLongFrame  = fmt.Errorf("radiolink: frame longer than %d bytes", MaxFrameLen)
)

// parseHeader returns the destination and source addresses of an Ethernet frame. It rejects
// frames shorter than a header or longer than MaxFrameLen, and a group source address (no
// station sends from one, and learning it would misroute unicast).
func parseHeader(frame []byte) (dst, src MAC, err error) {
	if len(frame) < headerLen {
		return dst, src, ErrShortFrame
	}
	if len(frame) > MaxFrameLen {
		return dst, src, ErrLongFrame
	}
	copy(dst[:], frame[0:6])
	copy(src[:], frame[6:12])
	if src.Group() {
		return dst, src, fmt.Errorf("radiolink: group source address %s", src)
	}
	return dst, src, nil
}
