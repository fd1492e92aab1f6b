package discovery

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// helperEnv, when set to a node byte ("a1"), makes the test binary run one Discovery on real
// sockets instead of the tests: it prints one line per event on stdout, and stops cleanly
// (goodbye) when stdin closes.
const helperEnv = "MESHCOMM_DISCOVERY_NETNS_NODE"

func TestMain(m *testing.M) {
	if spec := os.Getenv(helperEnv); spec != "" {
		os.Exit(runHelperNode(spec))
	}
	os.Exit(m.Run())
}

func runHelperNode(spec string) int {
	b, err := strconv.ParseUint(spec, 16, 8)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bad", helperEnv, spec)
		return 2
	}
	d, err := New(Config{NodeID: testID(byte(b)), Port: 4000 + uint16(b), Team: "netns-" + spec,
		InterfaceRecheck: 500 * time.Millisecond})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	runErr := make(chan error, 1)
	go func() { runErr <- d.Run(ctx) }()
	for ev := range d.Events() {
		var addrs []string
		for _, a := range ev.Peer.Addrs {
			addrs = append(addrs, a.String())
		}
		fmt.Printf("%s %s %s %s\n", ev.Kind, ev.Peer.NodeID, ev.Peer.Via, strings.Join(addrs, ","))
	}
	if err := <-runErr; err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	st := d.Stats()
	fmt.Printf("stopped malformed=%v own=%d sent=%d/%d\n", st.Malformed, st.Own, st.QueriesSent, st.ResponsesSent)
	return 0
}

var netnsSeq atomic.Int32

// ip runs the ip command and fails the test on error.
func ip(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// vethPair makes two namespaces joined by a veth pair (veth0 in each) and returns their names.
func vethPair(t *testing.T, withIPv4 bool) (string, string) {
	t.Helper()
	base := fmt.Sprintf("mcdisc-%d-%d", os.Getpid(), netnsSeq.Add(1))
	names := [2]string{base + "-a", base + "-b"}
	for _, ns := range names {
		ip(t, "netns", "add", ns)
		t.Cleanup(func() {
			if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
				t.Errorf("cleanup: ip netns del %s: %v\n%s", ns, err, out)
			}
		})
	}
	ip(t, "link", "add", "veth0", "netns", names[0], "type", "veth", "peer", "name", "veth0", "netns", names[1])
	for i, ns := range names {
		// No duplicate address detection: the link-local address is usable at once.
		ip(t, "netns", "exec", ns, "sh", "-c", "echo 0 > /proc/sys/net/ipv6/conf/veth0/accept_dad")
		if withIPv4 {
			ip(t, "-n", ns, "addr", "add", fmt.Sprintf("10.77.0.%d/24", i+1), "dev", "veth0")
		}
		ip(t, "-n", ns, "link", "set", "lo", "up")
		ip(t, "-n", ns, "link", "set", "veth0", "up")
		if withIPv4 {
			ip(t, "-n", ns, "route", "add", "224.0.0.0/4", "dev", "veth0")
		}
	}
	return names[0], names[1]
}

// helperNode is a Discovery running as a subprocess inside a namespace.
type helperNode struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	done  chan error
}

func startHelperNode(t *testing.T, ns string, node byte) *helperNode {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", ns, exe)
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%02x", helperEnv, node))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helperNode{cmd: cmd, stdin: stdin, lines: make(chan string, 100), done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			h.lines <- sc.Text()
		}
		close(h.lines)
		h.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // already exited in the normal course; harmless then
		for range h.lines {
		}
	})
	return h
}

// await reads the node's output until a line satisfies match, failing after deadline.
func (h *helperNode) await(t *testing.T, what string, deadline time.Duration, match func(fields []string) bool) []string {
	t.Helper()
	timeout := time.After(deadline)
	var seen []string
	for {
		select {
		case line, ok := <-h.lines:
			if !ok {
				t.Fatalf("node exited before %s; output: %q", what, seen)
			}
			seen = append(seen, line)
			if f := strings.Fields(line); match(f) {
				t.Logf("%s: %q", what, line)
				return f
			}
		case <-timeout:
			t.Fatalf("no %s within %v; output: %q", what, deadline, seen)
		}
	}
}

func foundLine(id string) func([]string) bool {
	return func(f []string) bool { return len(f) == 4 && f[0] == Found.String() && f[1] == id }
}

func TestDiscoveryOverVeth(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces (runs as root in CI)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs the ip command (iproute2)")
	}
	for _, tc := range []struct {
		name string
		ipv4 bool
	}{{"dual-stack", true}, {"ipv6-link-local-only", false}} {
		t.Run(tc.name, func(t *testing.T) {
			nsA, nsB := vethPair(t, tc.ipv4)
			a := startHelperNode(t, nsA, 0xA1)
			b := startHelperNode(t, nsB, 0xB2)
			idA, idB := testID(0xA1).String(), testID(0xB2).String()

			// Each finds the other, eventually with an address of every family on the link.
			wantAddrs := func(f []string, port uint16, v4 string) bool {
				hasV4, hasLL := false, false
				for _, s := range strings.Split(f[3], ",") {
					ap, err := netip.ParseAddrPort(s)
					if err != nil || ap.Port() != port {
						continue
					}
					hasV4 = hasV4 || ap.Addr().String() == v4
					hasLL = hasLL || ap.Addr().IsLinkLocalUnicast() && ap.Addr().Zone() == "veth0"
				}
				return f[2] == "veth0" && hasLL && (hasV4 || !tc.ipv4)
			}
			a.await(t, "a finding b", 20*time.Second, func(f []string) bool {
				return foundLine(idB)(f) && wantAddrs(f, 4000+0xB2, "10.77.0.2")
			})
			b.await(t, "b finding a", 20*time.Second, func(f []string) bool {
				return foundLine(idA)(f) && wantAddrs(f, 4000+0xA1, "10.77.0.1")
			})

			// b stops cleanly: its goodbye makes a report it lost, within seconds (the record
			// TTL is two minutes, so expiry cannot be what produces Lost here).
			b.stdin.Close()
			b.await(t, "b stopping", 10*time.Second, func(f []string) bool { return len(f) > 0 && f[0] == "stopped" })
			if err := <-b.done; err != nil {
				t.Errorf("b exited with %v", err)
			}
			a.await(t, "a losing b", 10*time.Second, func(f []string) bool {
				return len(f) >= 2 && f[0] == Lost.String() && f[1] == idB
			})
			a.stdin.Close()
			if err := <-a.done; err != nil {
				t.Errorf("a exited with %v", err)
			}
		})
	}
}
