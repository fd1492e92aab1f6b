package phonelab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"testing"
	"time"

	"meshcomm/fieldtests/lab"
)

// tool is a process other than a meshcomm daemon (sipp, Kamailio) run inside a lab namespace,
// as the leader of its own process group, its output appended to a log file. It gets SIGKILL
// if the test process dies (parent-death signal) and is killed, group and all, when the test
// ends.
type tool struct {
	name string
	log  string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// startTool runs name with args in namespace n of c, in directory dir, logging to log.
func startTool(t *testing.T, c *lab.Cluster, n int, dir, log, name string, args ...string) *tool {
	t.Helper()
	f, err := os.OpenFile(log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close() // the child has its own descriptor
	cmd := c.Lab().Command(context.Background(), n, name, args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p := &tool{name: name, log: log, cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// The parent-death signal fires when the thread that started the child ends, so the
		// thread stays locked until the child exits.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	t.Cleanup(func() { p.kill() })
	return p
}

// wait waits for the process to end by itself, for at most timeout (then kills it), and
// returns how it ended.
func (p *tool) wait(timeout time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		p.kill()
		return fmt.Errorf("%s did not finish within %v (killed); log: %s", p.name, timeout, p.log)
	}
}

// kill sends SIGKILL to the process group and waits for the leader to end.
func (p *tool) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	if err := syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
}
