package radiolink

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// netnsDir is where ip-netns(8) keeps its named namespaces.
const netnsDir = "/run/netns"

// InNamespace runs fn on an OS thread that has joined the named network namespace, and waits
// for it. Sockets and devices fn creates belong to that namespace for their whole life, wherever
// they are used afterwards. fn must not start goroutines that expect to be in the namespace:
// only its own thread is.
func InNamespace(name string, fn func() error) error {
	done := make(chan error, 1)
	go func() {
		// A thread left in the wrong namespace must never run other goroutines: it stays locked
		// unless the switch back succeeds, and the runtime ends it when this goroutine returns.
		runtime.LockOSThread()
		restored := false
		defer func() {
			if restored {
				runtime.UnlockOSThread()
			}
		}()
		home, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			restored = true
			done <- fmt.Errorf("radiolink: open own network namespace: %w", err)
			return
		}
		defer home.Close()
		target, err := os.Open(filepath.Join(netnsDir, name))
		if err != nil {
			restored = true
			done <- fmt.Errorf("radiolink: open namespace %q: %w", name, err)
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			restored = true
			done <- fmt.Errorf("radiolink: enter namespace %q: %w", name, err)
			return
		}
		ferr := fn()
		restored = unix.Setns(int(home.Fd()), unix.CLONE_NEWNET) == nil
		done <- ferr
	}()
	return <-done
}

// runIP runs ip(8) with args, feeding it stdin when not empty (for -batch -), and returns its
// output in the error when it fails.
func runIP(stdin string, args ...string) error {
	cmd := exec.Command("ip", args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("radiolink: ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

// tapPort is a node's interface: a TAP device inside the node's namespace whose file
// descriptor the emulator holds. The device lives as long as the descriptor.
type tapPort struct{ f *os.File }

// openTap creates TAP device name inside namespace ns and returns it as a port. The descriptor
// is non-blocking so that reads wait in the runtime's poller and Close interrupts them.
func openTap(ns, name string) (*tapPort, error) {
	var fd int
	err := InNamespace(ns, func() error {
		var err error
		// The device is created in the namespace of the thread that opens the clone device.
		fd, err = unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		if err != nil {
			return fmt.Errorf("radiolink: open /dev/net/tun: %w", err)
		}
		ifr, err := unix.NewIfreq(name)
		if err != nil {
			unix.Close(fd)
			return err
		}
		ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI)
		if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
			unix.Close(fd)
			return fmt.Errorf("radiolink: create TAP %s in %s: %w", name, ns, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &tapPort{f: os.NewFile(uintptr(fd), "tap:"+ns+"/"+name)}, nil
}

func (p *tapPort) ReadFrame(buf []byte) (int, error) { return p.f.Read(buf) }

func (p *tapPort) WriteFrame(frame []byte) error {
	_, err := p.f.Write(frame)
	return err
}

func (p *tapPort) Close() error { return p.f.Close() }
