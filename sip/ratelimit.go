package sip

import (
	"sync"
	"time"

	"golang.org/x/time/rate"

	"meshcomm/mesh"
)

// peerLimiter rate-limits the requests of each peer node with a token bucket.
type peerLimiter struct {
	mu     sync.Mutex
	limit  rate.Limit
	burst  int
	now    func() time.Time
	byPeer map[mesh.NodeID]*rate.Limiter
}

// maxLimitedPeers bounds the table; when full it starts afresh (peers need a certificate of
// a trusted team, so the table cannot be flooded cheaply).
const maxLimitedPeers = 1024

func newPeerLimiter(perSecond float64, burst int, now func() time.Time) *peerLimiter {
	return &peerLimiter{limit: rate.Limit(perSecond), burst: burst, now: now, byPeer: map[mesh.NodeID]*rate.Limiter{}}
}

func (l *peerLimiter) allow(id mesh.NodeID) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.byPeer[id]
	if lim == nil {
		if len(l.byPeer) >= maxLimitedPeers {
			clear(l.byPeer)
		}
		lim = rate.NewLimiter(l.limit, l.burst)
		l.byPeer[id] = lim
	}
	return lim.AllowN(l.now(), 1)
}
