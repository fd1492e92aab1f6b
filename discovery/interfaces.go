package discovery

import (
	"net"
	"net/netip"
)

// SystemInterfaces lists the interfaces mDNS should run on: up, running (carrier present),
// multicast-capable, not loopback, with at least one usable address. IPv4 addresses and IPv6
// link-local and global unicast addresses are kept.
func SystemInterfaces() ([]Interface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	var out []Interface
	for _, ifi := range ifs {
		const want = net.FlagUp | net.FlagRunning | net.FlagMulticast
		if ifi.Flags&want != want || ifi.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifi.Addrs()
		if err != nil {
			continue
		}
		in := Interface{Index: ifi.Index, Name: ifi.Name}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipn.IP)
			if !ok {
				continue
			}
			ip = ip.Unmap()
			if ip.Is4() && !ip.IsLoopback() && !ip.IsUnspecified() ||
				ip.Is6() && (ip.IsLinkLocalUnicast() || ip.IsGlobalUnicast()) {
				in.Addrs = append(in.Addrs, ip)
			}
		}
		if len(in.Addrs) > 0 {
			out = append(out, in)
		}
	}
	return out, nil
}
