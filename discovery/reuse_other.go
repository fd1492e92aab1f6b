//go:build !unix

package discovery

import "syscall"

// reuseControl is a no-op where SO_REUSEPORT is not available.
func reuseControl(_, _ string, _ syscall.RawConn) error { return nil }
