package node

import (
	"time"

	"meshcomm/mesh"
)

// readdGuard is the least time between two re-announcements to one peer (see links).
const readdGuard = 5 * time.Second

// links tracks, per linked peer, whether its core has greeted this one (Hello) on the current
// link. It exists for a gap between the transport and the core: a peer that restarts dials
// afresh while this node still holds a connection to its previous run, and the transport
// replaces the duplicate connection without raising Down and Up. The restarted peer's core says
// Hello; this node's core, which saw no Up, would never answer with its own Hello, and
// reconciliation (started by the lower node id once both have greeted) would wait for the next
// anti-entropy round. Worse, when this node has the lower id and dialled the old connection, the
// transport keeps the old one, retires the new one, then (the old one reset by the restarted
// process) puts the new one back in use, and in that state frames were seen to stop flowing
// both ways while both ends report the link up. So a second Hello on one link means the peer
// started over, and the loop resets the link: it drops every connection to the peer (Down on
// both sides), and the side with a dial target redials a fresh one, whose Up makes both cores
// greet. It is owned by the loop.
type links struct {
	peers map[mesh.NodeID]*linkState
}

type linkState struct {
	greeted bool      // a Hello arrived since the link came up
	readded time.Time // when the peer was last added again
}

func newLinks() *links { return &links{peers: map[mesh.NodeID]*linkState{}} }

func (l *links) up(id mesh.NodeID)   { l.peers[id] = &linkState{} }
func (l *links) down(id mesh.NodeID) { delete(l.peers, id) }

// hello records a Hello from id and reports whether the link should be reset.
func (l *links) hello(id mesh.NodeID, now time.Time) bool {
	s := l.peers[id]
	if s == nil {
		return false // not a direct link: the core handles it as it is
	}
	if !s.greeted {
		s.greeted = true
		return false
	}
	if now.Sub(s.readded) < readdGuard {
		return false
	}
	s.readded = now
	return true
}
