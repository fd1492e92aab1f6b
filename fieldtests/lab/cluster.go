package lab

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"meshcomm/fieldtests/radiolink"
	"meshcomm/node"
)

// Limits of the harness.
const (
	// ReadyTimeout bounds how long a daemon may take to print its ready line.
	ReadyTimeout = 30 * time.Second
	// StopTimeout bounds a clean stop (SIGTERM) before the process group is killed.
	StopTimeout = 15 * time.Second
	// CLITimeout bounds one command-line call.
	CLITimeout = 30 * time.Second
	// maxCLIOutput bounds what one command-line call may print.
	maxCLIOutput = 16 << 20
)

// Config describes a cluster: a radio lab of Nodes namespaces and the meshcomm binary to run in
// them.
type Config struct {
	// Prefix names the lab's namespaces (see radiolink.Config.Prefix).
	Prefix string
	// Nodes is the number of namespaces.
	Nodes int
	// Seed fixes the emulator's loss and jitter draws.
	Seed uint64
	// Initial is every radio link's starting state (the zero Link: all up, perfect).
	Initial radiolink.Link
	// Binary is the meshcomm binary.
	Binary string
	// Root holds the data directories (Root/nN), the daemons' logs (Root/nN.log), CAs and
	// bundles. Unix socket paths are limited to 107 bytes, so keep it short.
	Root string
	// Log receives the emulator's warnings (slog.Default() when nil).
	Log *slog.Logger
}

// Cluster is a radio lab with meshcomm daemons in its namespaces, driven through the meshcomm
// command line from the host (the control socket is a file in the data directory, so the host
// reaches it without entering a namespace).
type Cluster struct {
	cfg Config
	lab *radiolink.Lab

	mu    sync.Mutex
	procs []*Process
}

// Start creates the lab. Close stops every process started through the cluster and removes
// the namespaces.
func Start(cfg Config) (*Cluster, error) {
	if cfg.Binary == "" || cfg.Root == "" {
		return nil, errors.New("lab: Config.Binary and Config.Root are required")
	}
	l, err := radiolink.Start(radiolink.Config{Prefix: cfg.Prefix, Nodes: cfg.Nodes, Seed: cfg.Seed,
		Initial: cfg.Initial, Log: cfg.Log})
	if err != nil {
		return nil, err
	}
	return &Cluster{cfg: cfg, lab: l}, nil
}

// Lab is the radio lab.
func (c *Cluster) Lab() *radiolink.Lab { return c.lab }

// Emulator is the lab's radio emulator, for changing links while the daemons run.
func (c *Cluster) Emulator() *radiolink.Emulator { return c.lab.Emulator() }

// Nodes is the number of namespaces.
func (c *Cluster) Nodes() int { return c.cfg.Nodes }

// Root is the cluster's working directory.
func (c *Cluster) Root() string { return c.cfg.Root }

// DataDir is the data directory of the daemon in namespace n.
func (c *Cluster) DataDir(n int) string { return filepath.Join(c.cfg.Root, fmt.Sprintf("n%d", n)) }

// LogPath is where the daemon in namespace n logs (stderr, appended across restarts).
func (c *Cluster) LogPath(n int) string { return filepath.Join(c.cfg.Root, fmt.Sprintf("n%d.log", n)) }

// Close kills every process still running and removes the namespaces.
func (c *Cluster) Close() error {
	c.mu.Lock()
	procs := c.procs
	c.procs = nil
	c.mu.Unlock()
	var errs []error
	if os.Getenv(profileDirEnv) != "" {
		// Profiling daemons must end cleanly to write their profiles.
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, p := range procs {
			wg.Go(func() {
				if err := p.Stop(); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
	}
	for _, p := range procs {
		if err := p.Kill(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(append(errs, c.lab.Close())...)
}

// profileDirEnv names a directory: when set, every daemon writes a CPU profile of its run
// there (n<N>-<pid of the test>-<start>.prof), for finding what an idle or busy lab spends its
// CPU on, and Close stops the daemons with SIGTERM (so that they write it) before killing the
// rest.
const profileDirEnv = "MESHCOMM_LAB_PROFILE_DIR"

// StartDaemon runs `meshcomm daemon --data DataDir(n) --log-level info args...` in namespace
// n and waits for its ready line.
func (c *Cluster) StartDaemon(n int, args ...string) (*Process, error) {
	base := []string{"daemon", "--data", c.DataDir(n), "--log-level", "info"}
	if dir := os.Getenv(profileDirEnv); dir != "" {
		base = append(base, "--cpuprofile", filepath.Join(dir, fmt.Sprintf("n%d-%d-%d.prof", n, os.Getpid(), time.Now().UnixNano())))
	}
	return c.Run(n, nil, c.cfg.Binary, append(base, args...)...)
}

// Run starts name with args in namespace n, with env added to the environment, its stderr
// appended to LogPath(n), and waits until it prints a ready line (see ParseReady) on stdout.
// The process leads its own process group and gets SIGKILL if the test process dies.
func (c *Cluster) Run(n int, env []string, name string, args ...string) (*Process, error) {
	logFile, err := os.OpenFile(c.LogPath(n), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := c.lab.Command(context.Background(), n, name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = logFile
	p, stdout, err := spawn(cmd)
	if err != nil {
		logFile.Close()
		return nil, err
	}
	p.N, p.LogPath = n, c.LogPath(n)
	c.mu.Lock()
	c.procs = append(c.procs, p)
	c.mu.Unlock()
	ready := make(chan Ready, 1)
	go func() { // the child has its own descriptor of the log; this one copies stdout into it
		defer logFile.Close()
		defer stdout.Close()
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 0, 4096), maxReadyLine)
		for sc.Scan() {
			fmt.Fprintf(logFile, "stdout: %s\n", sc.Text())
			if r, err := ParseReady(sc.Text()); err == nil {
				select {
				case ready <- r:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stdout) // an overlong line: keep draining
	}()
	timer := time.NewTimer(ReadyTimeout)
	defer timer.Stop()
	select {
	case r := <-ready:
		p.Ready, p.ReadyAt = r, time.Now()
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("lab: node %d: %s exited before it was ready (%v); log:\n%s", n, filepath.Base(name), p.err, p.LogTail(40))
	case <-timer.C:
		_ = p.Kill()
		return nil, fmt.Errorf("lab: node %d: %s not ready after %v; log:\n%s", n, filepath.Base(name), ReadyTimeout, p.LogTail(40))
	}
}

// Process is a process the cluster started.
type Process struct {
	N       int       // the namespace it runs in (0: the host)
	Ready   Ready     // its ready line, for daemons
	Started time.Time // when it was started
	ReadyAt time.Time // when its ready line arrived
	LogPath string

	cmd  *exec.Cmd
	done chan struct{}
	err  error // cmd.Wait's result, once done is closed
}

// spawn starts cmd as the leader of a new process group, with its stdout on a pipe the caller
// reads. The parent-death signal (SIGKILL) fires when the OS thread that started the child
// ends, not when the test process does, so the thread stays locked until the child exits.
func spawn(cmd *exec.Cmd) (*Process, *os.File, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	cmd.Stdout = w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p := &Process{cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		p.Started = time.Now()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.err = cmd.Wait()
		close(p.done)
	}()
	err = <-started
	w.Close()
	if err != nil {
		r.Close()
		return nil, nil, err
	}
	return p, r, nil
}

// Pid is the process id (meshcomm's own: `ip netns exec` executes it in place).
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is how the process ended (valid once Done is closed).
func (p *Process) Err() error { return p.err }

// Signal sends sig to the process group.
func (p *Process) Signal(sig syscall.Signal) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	return syscall.Kill(-p.Pid(), sig)
}

// Kill sends SIGKILL to the process group (kill -9) and waits for the process to end.
func (p *Process) Kill() error {
	if err := p.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(StopTimeout):
		return fmt.Errorf("lab: process %d did not end after SIGKILL", p.Pid())
	}
}

// Stop asks the process to end (SIGTERM: a daemon leaves the mesh cleanly), and kills it if
// it has not ended after StopTimeout.
func (p *Process) Stop() error {
	if err := p.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(StopTimeout):
		return errors.Join(fmt.Errorf("lab: process %d ignored SIGTERM for %v", p.Pid(), StopTimeout), p.Kill())
	}
}

// LogTail is the end of the process's log, at most lines lines.
func (p *Process) LogTail(lines int) string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return LastLines(string(b), lines)
}

// LastLines is the end of s, at most n lines.
func LastLines(s string, n int) string {
	all := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(all) > n {
		all = all[len(all)-n:]
	}
	return strings.Join(all, "\n")
}

// CLI runs the meshcomm command line on the host and returns its stdout and exit code. Exit
// codes other than 0 and 1 (1: "not found" for lookup) are errors, with stderr in the message.
func (c *Cluster) CLI(args ...string) ([]byte, int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), CLITimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.cfg.Binary, args...)
	var stdout, stderr limitedBuffer
	stdout.max, stderr.max = maxCLIOutput, 64<<10
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		return nil, -1, fmt.Errorf("meshcomm %s: %w", strings.Join(args, " "), err)
	}
	if stdout.overflow {
		return nil, code, fmt.Errorf("meshcomm %s: more than %d bytes of output", strings.Join(args, " "), maxCLIOutput)
	}
	if code != 0 && code != 1 {
		return stdout.Bytes(), code, fmt.Errorf("meshcomm %s: exit %d: %s", strings.Join(args, " "), code, strings.TrimSpace(stderr.String()))
	}
	if code == 1 && stdout.Len() == 0 {
		return nil, code, fmt.Errorf("meshcomm %s: exit 1: %s", strings.Join(args, " "), strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), code, nil
}

// MustCLI is CLI for commands that must succeed (exit 0).
func (c *Cluster) MustCLI(args ...string) ([]byte, error) {
	out, code, err := c.CLI(args...)
	if err == nil && code != 0 {
		err = fmt.Errorf("meshcomm %s: exit %d: %s", strings.Join(args, " "), code, strings.TrimSpace(string(out)))
	}
	return out, err
}

// cliJSON runs a client command with --json against node n's data directory and decodes its
// output into v. It returns the exit code (0, or 1 for a lookup that found nothing).
func (c *Cluster) cliJSON(n int, v any, args ...string) (int, error) {
	out, code, err := c.CLI(append(args, "--json", "--data", c.DataDir(n))...)
	if err != nil {
		return code, err
	}
	if err := json.Unmarshal(out, v); err != nil {
		return code, fmt.Errorf("meshcomm %s: output is not the expected JSON: %w: %.200q", args[0], err, out)
	}
	return code, nil
}

// Status is `meshcomm status --json` of node n.
func (c *Cluster) Status(n int) (node.Status, error) {
	var st node.Status
	code, err := c.cliJSON(n, &st, "status")
	if err == nil && code != 0 {
		err = fmt.Errorf("meshcomm status: exit %d", code)
	}
	return st, err
}

// Peers is `meshcomm peers --json` of node n.
func (c *Cluster) Peers(n int) ([]node.PeerInfo, error) {
	var ps []node.PeerInfo
	code, err := c.cliJSON(n, &ps, "peers")
	if err == nil && code != 0 {
		err = fmt.Errorf("meshcomm peers: exit %d", code)
	}
	return ps, err
}

// Lookup is `meshcomm lookup TARGET --json --timeout T` at node n. Not found is a result
// (Found false), not an error.
func (c *Cluster) Lookup(n int, target string, timeout time.Duration) (node.LookupResult, error) {
	var lr node.LookupResult
	_, err := c.cliJSON(n, &lr, "lookup", target, "--timeout", timeout.String())
	return lr, err
}

// Records is `meshcomm records --kind KIND --json` of node n ("" for every kind).
func (c *Cluster) Records(n int, kind string) ([]node.RecordInfo, error) {
	var rs []node.RecordInfo
	args := []string{"records"}
	if kind != "" {
		args = append(args, "--kind", kind)
	}
	code, err := c.cliJSON(n, &rs, args...)
	if err == nil && code != 0 {
		err = fmt.Errorf("meshcomm records: exit %d", code)
	}
	return rs, err
}

// limitedBuffer is a bytes.Buffer that keeps at most max bytes and notes an overflow.
type limitedBuffer struct {
	bytes.Buffer
	max      int
	overflow bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); len(p) > room {
		b.overflow = true
		b.Buffer.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return b.Buffer.Write(p)
}
