package node

import (
	"errors"
	"log/slog"
	"sync/atomic"

	"meshcomm/mesh"
)

// Media relay: a call whose INVITE went through a proxy hop (A hears B, B hears C, A does not
// hear C) would have no audio, since each end sends its RTP as QUIC datagrams on a link that
// does not exist. The hop therefore also relays the datagrams, one to one:
//
//	relayForward | destination NodeID (16) | datagram   A -> B: "pass this on to C"
//	relayFrom    | origin NodeID (16)      | datagram   B -> C: "this came from A"
//
// A plain RTP datagram starts with version 2 (first byte 0x80..0xBF), so the two kinds never
// collide with it. A node sends straight to its peer when it has a link to it; otherwise
// through the relay it was told of (the call's proxy hop, for the caller) or learnt (the node
// that passed on the peer's datagrams, for the callee). A relay forwards only to a peer it has
// a link to and adds nothing but the header: no amplification, nothing stored.
const (
	relayForward byte = 0x01
	relayFrom    byte = 0x02
	relayHeader       = 1 + mesh.IDBytes
)

var errRelayFrame = errors.New("relay datagram shorter than its header")

// encodeRelay prefixes b with a relay header of kind naming id.
func encodeRelay(kind byte, id mesh.NodeID, b []byte) []byte {
	out := make([]byte, 0, relayHeader+len(b))
	out = append(out, kind)
	out = append(out, id[:]...)
	return append(out, b...)
}

// decodeRelay splits a relay datagram into its kind, the node it names and the datagram it
// carries. ok is false for a datagram that is not a relay one (RTP).
func decodeRelay(b []byte) (kind byte, id mesh.NodeID, payload []byte, ok bool, err error) {
	if len(b) == 0 || (b[0] != relayForward && b[0] != relayFrom) {
		return 0, id, nil, false, nil
	}
	if len(b) < relayHeader {
		return 0, id, nil, true, errRelayFrame
	}
	copy(id[:], b[1:relayHeader])
	return b[0], id, b[relayHeader:], true, nil
}

// relayCounters count what the node relayed for others and refused.
type relayCounters struct {
	forwarded, failed, refused atomic.Uint64
}

// onDatagram takes one datagram from a peer: media for one of this node's calls, a datagram
// to pass on for a call through this node, or one passed on to this node.
func (n *Node) onDatagram(from mesh.NodeID, b []byte) {
	kind, id, payload, isRelay, err := decodeRelay(b)
	switch {
	case !isRelay:
		n.audio.deliver(from, b)
	case err != nil || id == from:
		if c := n.relayStat.refused.Add(1); c&(c-1) == 0 { // log the 1st, 2nd, 4th, ...
			n.log.Warn("node: relay datagram refused", "from", from.Short(), "count", c, "err", err)
		}
	case kind == relayFrom:
		n.audio.learnRelay(id, from)
		n.audio.deliver(id, payload)
	case id == n.self.ID:
		n.audio.deliver(from, payload)
	default:
		if err := n.ep.SendDatagram(id, encodeRelay(relayFrom, from, payload)); err != nil {
			if c := n.relayStat.failed.Add(1); c&(c-1) == 0 {
				n.log.Debug("node: relay datagram not passed on", "from", from.Short(), "to", id.Short(), "count", c,
					slog.String("err", err.Error()))
			}
			return
		}
		n.relayStat.forwarded.Add(1)
	}
}

// sendMedia sends one of this node's media datagrams to a call's peer: on the link to it if
// there is one, else through the call's relay.
func (n *Node) sendMedia(to mesh.NodeID, b []byte) error {
	if _, linked := n.ep.Peer(to); !linked {
		if relay, ok := n.audio.relayFor(to); ok {
			return n.ep.SendDatagram(relay, encodeRelay(relayForward, to, b))
		}
	}
	return n.ep.SendDatagram(to, b)
}
