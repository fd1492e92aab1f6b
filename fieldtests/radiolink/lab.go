package radiolink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// IfName is the name of every node's interface inside its namespace.
const IfName = "eth0"

// MaxNodes bounds a lab: node n gets address subnet+n, which must stay below the broadcast
// address of a /24.
const MaxNodes = 250

// DefaultSubnet is the lab's IPv4 subnet when Config.Subnet is not set. It exists only on the
// lab's own interfaces, inside the lab's namespaces.
var DefaultSubnet = netip.MustParsePrefix("10.77.0.0/24")

// Config describes a lab.
type Config struct {
	// Prefix names the namespaces: Prefix1 .. PrefixN. Required.
	Prefix string
	// Nodes is the number of nodes, 1..MaxNodes.
	Nodes int
	// Subnet is an IPv4 prefix of /24 or shorter; node n gets its base address plus n.
	// Zero means DefaultSubnet.
	Subnet netip.Prefix
	// Seed fixes every loss and jitter draw.
	Seed uint64
	// Initial is every directed link's starting state. The zero Link means Link{Up: true}: a
	// full mesh of perfect links. Call Partition or Move before starting node processes for
	// any other topology.
	Initial Link
	// Log receives the emulator's warnings; nil means slog.Default().
	Log *slog.Logger
}

// Lab is a running set of node namespaces joined by the emulator.
type Lab struct {
	cfg      Config
	emulator *Emulator
	cancel   context.CancelFunc
	stopped  chan error
	once     sync.Once
	closeErr error
}

// Start creates the namespaces Prefix1..PrefixN, gives each a TAP interface eth0 with
// NodeMAC(n), IPv4 address subnet+n, an IPv6 link-local address fe80::726c:n (no duplicate
// address detection, so it is usable at once) and a multicast route, then runs the emulator
// between them until Close. If a namespace of that name exists already Start fails: remove
// leftovers with Cleanup. On failure nothing is left behind.
func Start(cfg Config) (*Lab, error) {
	if err := cfg.normalise(); err != nil {
		return nil, err
	}
	l := &Lab{cfg: cfg}
	var created []string
	fail := func(err error) (*Lab, error) {
		return nil, errors.Join(err, deleteNamespaces(created))
	}
	for n := 1; n <= cfg.Nodes; n++ {
		ns := l.Namespace(n)
		if _, err := os.Stat(netnsDir + "/" + ns); err == nil {
			return fail(fmt.Errorf("radiolink: namespace %s exists already (leftover of an earlier lab? remove it with Cleanup)", ns))
		}
		if err := runIP("", "netns", "add", ns); err != nil {
			return fail(err)
		}
		created = append(created, ns)
	}
	medium, err := NewMedium(cfg.Nodes, cfg.Seed, cfg.Initial)
	if err != nil {
		return fail(err)
	}
	ports := make([]Port, 0, cfg.Nodes)
	closePorts := func() {
		for _, p := range ports {
			p.Close()
		}
	}
	for n := 1; n <= cfg.Nodes; n++ {
		p, err := openTap(l.Namespace(n), IfName)
		if err != nil {
			closePorts()
			return fail(err)
		}
		ports = append(ports, p)
		if err := medium.SetMAC(n, NodeMAC(n)); err != nil {
			closePorts()
			return fail(err)
		}
		if err := runIP(l.nodeScript(n), "-n", l.Namespace(n), "-batch", "-"); err != nil {
			closePorts()
			return fail(err)
		}
	}
	em, err := NewEmulator(medium, ports, cfg.Log)
	if err != nil {
		closePorts()
		return fail(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.emulator, l.cancel, l.stopped = em, cancel, make(chan error, 1)
	go func() { l.stopped <- em.Run(ctx) }()
	return l, nil
}

func (c *Config) normalise() error {
	if !regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{0,30}$`).MatchString(c.Prefix) {
		return fmt.Errorf("radiolink: prefix %q must be a letter followed by up to 30 letters, digits, '_', '.' or '-'", c.Prefix)
	}
	if c.Nodes < 1 || c.Nodes > MaxNodes {
		return fmt.Errorf("radiolink: %d nodes, want 1..%d", c.Nodes, MaxNodes)
	}
	if !c.Subnet.IsValid() {
		c.Subnet = DefaultSubnet
	}
	if !c.Subnet.Addr().Is4() || c.Subnet.Bits() > 24 {
		return fmt.Errorf("radiolink: subnet %s must be IPv4 and /24 or shorter", c.Subnet)
	}
	c.Subnet = c.Subnet.Masked()
	if c.Initial == (Link{}) {
		c.Initial = Link{Up: true}
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	return c.Initial.Validate()
}

// nodeScript is the ip(8) batch that configures node n's namespace.
func (l *Lab) nodeScript(n int) string {
	return strings.Join([]string{
		"link set lo up",
		fmt.Sprintf("link set %s address %s", IfName, NodeMAC(n)),
		fmt.Sprintf("link set %s addrgenmode none", IfName),
		fmt.Sprintf("link set %s up", IfName),
		fmt.Sprintf("addr add %s/%d dev %s", l.Addr(n), l.cfg.Subnet.Bits(), IfName),
		fmt.Sprintf("addr add %s/64 dev %s nodad", l.LinkLocal(n).WithZone(""), IfName),
		fmt.Sprintf("route add 224.0.0.0/4 dev %s", IfName),
	}, "\n") + "\n"
}

// Emulator is the running emulator, for changing links and reading counters.
func (l *Lab) Emulator() *Emulator { return l.emulator }

// Nodes is the number of nodes.
func (l *Lab) Nodes() int { return l.cfg.Nodes }

// Namespace is the name of node n's network namespace.
func (l *Lab) Namespace(n int) string { return fmt.Sprintf("%s%d", l.cfg.Prefix, n) }

// Addr is node n's IPv4 address.
func (l *Lab) Addr(n int) netip.Addr {
	a := l.cfg.Subnet.Addr().As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v += uint32(n)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// LinkLocal is node n's IPv6 link-local address.
func (l *Lab) LinkLocal(n int) netip.Addr {
	return netip.MustParseAddr(fmt.Sprintf("fe80::726c:%x", n)).WithZone(IfName)
}

// Command returns a command that runs name with args inside node n's namespace, through
// `ip netns exec` (which also gives it the namespace's own /sys).
func (l *Lab) Command(ctx context.Context, n int, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", l.Namespace(n), name}, args...)...)
}

// ListenUDP opens a UDP socket inside node n's namespace, bound to port on every address
// (0 picks a free port).
func (l *Lab) ListenUDP(n, port int) (conn *net.UDPConn, err error) {
	err = InNamespace(l.Namespace(n), func() error {
		conn, err = net.ListenUDP("udp4", &net.UDPAddr{Port: port})
		return err
	})
	return conn, err
}

// ListenMulticastUDP opens a UDP socket inside node n's namespace that has joined group on the
// node's interface.
func (l *Lab) ListenMulticastUDP(n int, group netip.AddrPort) (conn *net.UDPConn, err error) {
	err = InNamespace(l.Namespace(n), func() error {
		ifi, err := net.InterfaceByName(IfName)
		if err != nil {
			return err
		}
		conn, err = net.ListenMulticastUDP("udp", ifi, net.UDPAddrFromAddrPort(group))
		return err
	})
	return conn, err
}

// Close stops the emulator (which closes the TAP devices) and deletes the namespaces, with
// whatever still runs inside them losing its network. It is safe to call more than once.
func (l *Lab) Close() error {
	l.once.Do(func() {
		l.cancel()
		runErr := <-l.stopped
		names := make([]string, l.cfg.Nodes)
		for n := range names {
			names[n] = l.Namespace(n + 1)
		}
		l.closeErr = errors.Join(runErr, deleteNamespaces(names))
	})
	return l.closeErr
}

func deleteNamespaces(names []string) error {
	var errs []error
	for _, ns := range names {
		errs = append(errs, runIP("", "netns", "delete", ns))
	}
	return errors.Join(errs...)
}

// Cleanup deletes the namespaces a lab with this prefix leaves behind when its process dies
// without Close: every namespace named prefix followed only by digits. It returns their names.
// A lab with prefix "mc" and one with prefix "mc1" overlap: give concurrent labs distinct,
// non-numeric-suffixed prefixes.
func Cleanup(prefix string) ([]string, error) {
	entries, err := os.ReadDir(netnsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	pattern := regexp.MustCompile(`^` + regexp.QuoteMeta(prefix) + `[0-9]+$`)
	var names []string
	for _, e := range entries {
		if pattern.MatchString(e.Name()) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, deleteNamespaces(names)
}
