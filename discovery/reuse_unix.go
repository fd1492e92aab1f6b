//go:build unix

package discovery

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// reuseControl lets this socket share port 5353 with other mDNS stacks on the host (avahi,
// systemd-resolved, another meshcomm): every socket bound to the port gets every multicast.
func reuseControl(_, _ string, c syscall.RawConn) error {
	var opErr error
	err := c.Control(func(fd uintptr) {
		opErr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
		if opErr == nil {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1) // best effort
		}
	})
	if err != nil {
		return err
	}
	return opErr
}
