package memnet

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"
)

const (
	// MTU is the largest datagram the network carries.
	MTU = 1500
	// QueuePackets is the receive queue of each PacketConn, in datagrams.
	QueuePackets = 4096
	// firstEphemeralPort is where port 0 allocations start.
	firstEphemeralPort = 49152
)

// Link is the state of the path between two hosts.
type Link struct {
	Down  bool          // every packet is dropped
	Loss  float64       // probability that a packet is dropped, 0..1
	Delay time.Duration // one-way delay
}

// Counters say what the network did with the packets it was given.
type Counters struct {
	Delivered    uint64
	DroppedDown  uint64 // link down
	DroppedLoss  uint64 // random loss
	DroppedFull  uint64 // receiver queue full
	DroppedSize  uint64 // larger than MTU
	DroppedNoDst uint64 // nobody listens at the destination
}

// Network is a set of hosts joined by links. The zero value is not usable: call New.
type Network struct {
	mu       sync.Mutex
	rng      *rand.Rand
	conns    map[netip.AddrPort]*PacketConn
	links    map[[2]netip.Addr]Link
	def      Link
	nextPort map[netip.Addr]uint16
	counters Counters
}

// New returns an empty network whose random loss is drawn from a source seeded with seed.
func New(seed uint64) *Network {
	return &Network{
		rng:      rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		conns:    map[netip.AddrPort]*PacketConn{},
		links:    map[[2]netip.Addr]Link{},
		nextPort: map[netip.Addr]uint16{},
	}
}

// Listen opens a PacketConn at addr ("10.0.0.1:7070"; port 0 picks a free port).
func (n *Network) Listen(addr string) (*PacketConn, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, fmt.Errorf("memnet: %w", err)
	}
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	n.mu.Lock()
	defer n.mu.Unlock()
	if ap.Port() == 0 {
		ap, err = n.freePortLocked(ap.Addr())
		if err != nil {
			return nil, err
		}
	}
	if _, taken := n.conns[ap]; taken {
		return nil, fmt.Errorf("memnet: %s: address in use", ap)
	}
	c := &PacketConn{
		net:        n,
		local:      ap,
		queue:      make(chan packet, QueuePackets),
		closed:     make(chan struct{}),
		rdDeadline: make(chan struct{}),
	}
	n.conns[ap] = c
	return c, nil
}

func (n *Network) freePortLocked(host netip.Addr) (netip.AddrPort, error) {
	for range 1 << 14 {
		p := n.nextPort[host]
		if p < firstEphemeralPort {
			p = firstEphemeralPort
		}
		n.nextPort[host] = p + 1
		ap := netip.AddrPortFrom(host, p)
		if _, taken := n.conns[ap]; !taken {
			return ap, nil
		}
	}
	return netip.AddrPort{}, fmt.Errorf("memnet: no free port on %s", host)
}

// SetDefault sets the link used between hosts that have no link of their own.
func (n *Network) SetDefault(l Link) {
	n.mu.Lock()
	n.def = l
	n.mu.Unlock()
}

// SetLink sets the link between hosts a and b (IP addresses, in either order).
func (n *Network) SetLink(a, b string, l Link) error {
	key, err := pairKey(a, b)
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.links[key] = l
	n.mu.Unlock()
	return nil
}

// Partition takes down every link between a host in one group and a host in the other, and
// brings up (with the default link's loss and delay) every link inside each group.
func (n *Network) Partition(groups ...[]string) error {
	for gi, g := range groups {
		for _, a := range g {
			for gj, h := range groups {
				for _, b := range h {
					if a == b {
						continue
					}
					l := n.defaultLink()
					l.Down = gi != gj
					if err := n.SetLink(a, b, l); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

// Heal restores the default link between every pair of hosts.
func (n *Network) Heal() {
	n.mu.Lock()
	clear(n.links)
	n.mu.Unlock()
}

func (n *Network) defaultLink() Link {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.def
}

// Counters returns what the network did with the packets it carried so far.
func (n *Network) Counters() Counters {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.counters
}

func pairKey(a, b string) ([2]netip.Addr, error) {
	x, err := netip.ParseAddr(a)
	if err != nil {
		return [2]netip.Addr{}, fmt.Errorf("memnet: %w", err)
	}
	y, err := netip.ParseAddr(b)
	if err != nil {
		return [2]netip.Addr{}, fmt.Errorf("memnet: %w", err)
	}
	return orderedPair(x.Unmap(), y.Unmap()), nil
}

func orderedPair(x, y netip.Addr) [2]netip.Addr {
	if y.Less(x) {
		x, y = y, x
	}
	return [2]netip.Addr{x, y}
}

// route decides the fate of one packet and, if it survives, schedules its delivery.
func (n *Network) route(from, to netip.AddrPort, data []byte) {
	n.mu.Lock()
	dst, ok := n.conns[to]
	l, has := n.links[orderedPair(from.Addr(), to.Addr())]
	if !has {
		l = n.def
	}
	switch {
	case !ok:
		n.counters.DroppedNoDst++
		n.mu.Unlock()
		return
	case len(data) > MTU:
		n.counters.DroppedSize++
		n.mu.Unlock()
		return
	case l.Down:
		n.counters.DroppedDown++
		n.mu.Unlock()
		return
	case l.Loss > 0 && n.rng.Float64() < l.Loss:
		n.counters.DroppedLoss++
		n.mu.Unlock()
		return
	}
	n.mu.Unlock()
	p := packet{from: from, data: append([]byte(nil), data...)}
	if l.Delay <= 0 {
		n.deliver(dst, p)
		return
	}
	time.AfterFunc(l.Delay, func() { n.deliver(dst, p) })
}

func (n *Network) deliver(dst *PacketConn, p packet) {
	select {
	case <-dst.closed:
		n.count(func(c *Counters) { c.DroppedNoDst++ })
	case dst.queue <- p:
		n.count(func(c *Counters) { c.Delivered++ })
	default:
		n.count(func(c *Counters) { c.DroppedFull++ })
	}
}

func (n *Network) count(f func(*Counters)) {
	n.mu.Lock()
	f(&n.counters)
	n.mu.Unlock()
}

type packet struct {
	from netip.AddrPort
	data []byte
}

// PacketConn is one socket on the network. It implements net.PacketConn.
type PacketConn struct {
	net   *Network
	local netip.AddrPort
	queue chan packet

	mu         sync.Mutex
	closed     chan struct{}
	isClosed   bool
	deadline   time.Time
	rdDeadline chan struct{} // closed and replaced whenever the read deadline changes
}

// ErrClosed is returned by operations on a closed PacketConn.
var ErrClosed = net.ErrClosed

// ReadFrom waits for the next datagram.
func (c *PacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		c.mu.Lock()
		deadline, changed := c.deadline, c.rdDeadline
		c.mu.Unlock()
		var expired <-chan time.Time
		var timer *time.Timer
		if !deadline.IsZero() {
			d := time.Until(deadline)
			if d <= 0 {
				return 0, nil, os.ErrDeadlineExceeded
			}
			timer = time.NewTimer(d)
			expired = timer.C
		}
		stop := func() {
			if timer != nil {
				timer.Stop()
			}
		}
		select {
		case p := <-c.queue:
			stop()
			return copy(b, p.data), net.UDPAddrFromAddrPort(p.from), nil
		case <-c.closed:
			stop()
			return 0, nil, ErrClosed
		case <-expired:
			return 0, nil, os.ErrDeadlineExceeded
		case <-changed:
			stop()
		}
	}
}

// WriteTo sends one datagram to addr (a *net.UDPAddr or anything whose String is "ip:port").
func (c *PacketConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	select {
	case <-c.closed:
		return 0, ErrClosed
	default:
	}
	to, err := addrPortOf(addr)
	if err != nil {
		return 0, err
	}
	c.net.route(c.local, to, b)
	return len(b), nil
}

func addrPortOf(addr net.Addr) (netip.AddrPort, error) {
	if u, ok := addr.(*net.UDPAddr); ok {
		ap := u.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
	}
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("memnet: %w", err)
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

// Close releases the address; blocked reads return ErrClosed.
func (c *PacketConn) Close() error {
	c.mu.Lock()
	if c.isClosed {
		c.mu.Unlock()
		return ErrClosed
	}
	c.isClosed = true
	close(c.closed)
	c.mu.Unlock()
	c.net.mu.Lock()
	if c.net.conns[c.local] == c {
		delete(c.net.conns, c.local)
	}
	c.net.mu.Unlock()
	return nil
}

// LocalAddr is the conn's address as a *net.UDPAddr.
func (c *PacketConn) LocalAddr() net.Addr { return net.UDPAddrFromAddrPort(c.local) }

// SetDeadline sets the read deadline (writes never block).
func (c *PacketConn) SetDeadline(t time.Time) error { return c.SetReadDeadline(t) }

// SetReadDeadline sets when blocked and future reads fail with os.ErrDeadlineExceeded.
func (c *PacketConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.isClosed {
		return ErrClosed
	}
	c.deadline = t
	close(c.rdDeadline)
	c.rdDeadline = make(chan struct{})
	return nil
}

// SetWriteDeadline is accepted and ignored: writes never block.
func (c *PacketConn) SetWriteDeadline(time.Time) error { return nil }

var _ net.PacketConn = (*PacketConn)(nil)

// SetReadBuffer is accepted and ignored: the receive queue holds QueuePackets datagrams.
func (c *PacketConn) SetReadBuffer(int) error { return nil }

// SetWriteBuffer is accepted and ignored: writes never queue.
func (c *PacketConn) SetWriteBuffer(int) error { return nil }
