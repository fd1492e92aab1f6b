package node

import (
	"math/rand/v2"
	"time"

	"meshcomm/mesh"
)

// leave is the loop's last act at a clean shutdown: the core deletes this node's records
// everywhere and says Leave to its peers; then the loop waits, up to FlushTimeout, until every
// linked peer has answered a Ping queued behind those frames. The transport hands a frame to
// QUIC and returns, and closing the endpoint drops what the peer has not acknowledged yet, so
// without this barrier the goodbye could be lost and the registration would linger at the
// peers until it expires. (Frames travel on streams of their own, so a Pong does not prove
// every earlier frame arrived; it does prove the link carried traffic sent after them, which
// on a live link means they went out first.)
func (n *Node) leave() {
	now := n.now()
	n.core.Leave(now)
	n.drain(now)
	nonce := rand.Uint64()
	status := mesh.Status{Mode: n.core.Mode(), SizeEstimate: uint32(n.lastSize)}
	ping, err := mesh.Encode(&mesh.Ping{Nonce: nonce, Status: status})
	if err != nil {
		return
	}
	waiting := map[mesh.NodeID]bool{}
	for _, p := range n.ep.Peers() {
		if n.out.enqueue(p.Peer, ping) {
			waiting[p.Peer.ID] = true
		}
	}
	timer := time.NewTimer(FlushTimeout)
	defer timer.Stop()
	for len(waiting) > 0 {
		select {
		case in := <-n.inbox:
			if in.event != nil {
				if !in.event.Up {
					delete(waiting, in.event.Peer.ID)
				}
				continue
			}
			m, err := mesh.Decode(in.payload)
			if err != nil {
				continue
			}
			switch m := m.(type) {
			case *mesh.Pong:
				if m.Nonce == nonce {
					delete(waiting, in.from.ID)
				}
			case *mesh.Ping: // a peer leaving at the same time waits for this answer
				if pong, err := mesh.Encode(&mesh.Pong{Nonce: m.Nonce, Status: status}); err == nil {
					n.out.enqueue(in.from, pong)
				}
			}
		case <-timer.C:
			n.log.Warn("node: peers did not confirm the goodbye in time", "peers", len(waiting))
			return
		}
	}
}
