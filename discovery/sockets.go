package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"syscall"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// multicastSockets are the two sockets of a node: one per family, bound to port 5353 on the
// wildcard address, joined to the mDNS group on every interface in use. The interface of each
// received packet comes from IP_PKTINFO / IPV6_RECVPKTINFO; sends pick their interface the same
// way, so one socket per family serves every interface.
type multicastSockets struct {
	v4      *ipv4.PacketConn
	v6      *ipv6.PacketConn
	joined4 map[int]bool
	joined6 map[int]bool
	log     *slog.Logger
}

func openMulticastSockets(ctx context.Context, log *slog.Logger) (*multicastSockets, error) {
	s := &multicastSockets{joined4: map[int]bool{}, joined6: map[int]bool{}, log: log}
	lc := net.ListenConfig{Control: reuseControl}
	port := strconv.Itoa(Port)
	var errs []error
	if c, err := lc.ListenPacket(ctx, "udp4", "0.0.0.0:"+port); err != nil {
		errs = append(errs, fmt.Errorf("ipv4: %w", err))
	} else {
		p := ipv4.NewPacketConn(c)
		err := errors.Join(p.SetControlMessage(ipv4.FlagInterface, true), p.SetMulticastTTL(255),
			p.SetTTL(255), p.SetMulticastLoopback(true))
		if err != nil {
			c.Close()
			errs = append(errs, fmt.Errorf("ipv4 options: %w", err))
		} else {
			s.v4 = p
		}
	}
	if c, err := lc.ListenPacket(ctx, "udp6", "[::]:"+port); err != nil {
		errs = append(errs, fmt.Errorf("ipv6: %w", err))
	} else {
		p := ipv6.NewPacketConn(c)
		err := errors.Join(p.SetControlMessage(ipv6.FlagInterface, true), p.SetMulticastHopLimit(255),
			p.SetHopLimit(255), p.SetMulticastLoopback(true))
		if err != nil {
			c.Close()
			errs = append(errs, fmt.Errorf("ipv6 options: %w", err))
		} else {
			s.v6 = p
		}
	}
	if s.v4 == nil && s.v6 == nil {
		return nil, fmt.Errorf("discovery: no mDNS socket: %w", errors.Join(errs...))
	}
	for _, err := range errs {
		log.Warn("mDNS runs on one address family only", "err", err)
	}
	return s, nil
}

func (s *multicastSockets) families() []Family {
	var out []Family
	if s.v4 != nil {
		out = append(out, IPv4)
	}
	if s.v6 != nil {
		out = append(out, IPv6)
	}
	return out
}

// update joins the mDNS groups on new interfaces and leaves them on vanished ones. It returns
// the interfaces with the addresses of the families actually joined.
func (s *multicastSockets) update(ifs []Interface) []Interface {
	want4, want6 := map[int]bool{}, map[int]bool{}
	var out []Interface
	for _, in := range ifs {
		ifi := &net.Interface{Index: in.Index, Name: in.Name}
		usable := Interface{Index: in.Index, Name: in.Name}
		for _, f := range []Family{IPv4, IPv6} {
			if !in.has(f) || !s.join(ifi, f) {
				continue
			}
			if f == IPv4 {
				want4[in.Index] = true
			} else {
				want6[in.Index] = true
			}
			for _, a := range in.Addrs {
				if familyOf(a) == f {
					usable.Addrs = append(usable.Addrs, a)
				}
			}
		}
		if len(usable.Addrs) > 0 {
			out = append(out, usable)
		}
	}
	for idx := range s.joined4 {
		if !want4[idx] {
			_ = s.v4.LeaveGroup(&net.Interface{Index: idx}, &net.UDPAddr{IP: GroupV4.AsSlice()}) // the interface may be gone
			delete(s.joined4, idx)
		}
	}
	for idx := range s.joined6 {
		if !want6[idx] {
			_ = s.v6.LeaveGroup(&net.Interface{Index: idx}, &net.UDPAddr{IP: GroupV6.AsSlice()})
			delete(s.joined6, idx)
		}
	}
	return out
}

func (s *multicastSockets) join(ifi *net.Interface, f Family) bool {
	var err error
	switch {
	case f == IPv4 && s.v4 != nil:
		if s.joined4[ifi.Index] {
			return true
		}
		err = s.v4.JoinGroup(ifi, &net.UDPAddr{IP: GroupV4.AsSlice()})
		if err == nil || errors.Is(err, syscall.EADDRINUSE) {
			s.joined4[ifi.Index] = true
			return true
		}
	case f == IPv6 && s.v6 != nil:
		if s.joined6[ifi.Index] {
			return true
		}
		err = s.v6.JoinGroup(ifi, &net.UDPAddr{IP: GroupV6.AsSlice()})
		if err == nil || errors.Is(err, syscall.EADDRINUSE) {
			s.joined6[ifi.Index] = true
			return true
		}
	default:
		return false
	}
	s.log.Warn("cannot join mDNS group", "interface", ifi.Name, "family", f, "err", err)
	return false
}

// send writes one datagram out of the interface the core chose.
func (s *multicastSockets) send(o Outgoing, ifName string) error {
	dst := &net.UDPAddr{IP: o.Dst.Addr().AsSlice(), Port: int(o.Dst.Port())}
	if o.Dst.Addr().Is6() && o.Dst.Addr().IsLinkLocalUnicast() {
		dst.Zone = ifName
	}
	var err error
	switch {
	case o.Family == IPv4 && s.v4 != nil:
		_, err = s.v4.WriteTo(o.Data, &ipv4.ControlMessage{IfIndex: o.IfIndex}, dst)
	case o.Family == IPv6 && s.v6 != nil:
		_, err = s.v6.WriteTo(o.Data, &ipv6.ControlMessage{IfIndex: o.IfIndex}, dst)
	default:
		err = fmt.Errorf("no %v socket", o.Family)
	}
	return err
}

// maxReadFailures consecutive read errors end a read loop (a broken socket must not spin).
const maxReadFailures = 1000

// readLoop delivers packets from one socket until it is closed. Reads use a buffer one byte
// larger than MaxPacketSize so that oversized datagrams are seen as such, not silently cut.
func (s *multicastSockets) readLoop(f Family, out chan<- Packet, done <-chan struct{}) {
	buf := make([]byte, MaxPacketSize+1)
	failures := 0
	for {
		var (
			n       int
			ifIndex int
			src     net.Addr
			err     error
		)
		if f == IPv4 {
			var cm *ipv4.ControlMessage
			n, cm, src, err = s.v4.ReadFrom(buf)
			if cm != nil {
				ifIndex = cm.IfIndex
			}
		} else {
			var cm *ipv6.ControlMessage
			n, cm, src, err = s.v6.ReadFrom(buf)
			if cm != nil {
				ifIndex = cm.IfIndex
			}
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if failures++; failures == maxReadFailures {
				s.log.Error("mDNS socket keeps failing; giving up on it", "family", f, "err", err)
				return
			}
			s.log.Debug("mDNS read", "family", f, "err", err)
			continue
		}
		failures = 0
		ua, ok := src.(*net.UDPAddr)
		if !ok {
			continue
		}
		ap := ua.AddrPort()
		p := Packet{IfIndex: ifIndex, Src: netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()),
			Data: append([]byte(nil), buf[:n]...)}
		select {
		case out <- p:
		case <-done:
			return
		}
	}
}

func (s *multicastSockets) close() {
	if s.v4 != nil {
		s.v4.Close()
	}
	if s.v6 != nil {
		s.v6.Close()
	}
}
