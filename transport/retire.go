package transport

import (
	"context"
	"log/slog"
	"time"
)

// Retiring a duplicate connection without losing a frame (the protocol is described in
// doc.go): a side that retires a connection stops opening frame streams on it and sends a
// phase-0 marker; a side that has read every stream before a phase-0 marker retires the
// connection too (if it has another one to that peer) and sends a phase-1 marker; a side that
// has read every stream before a phase-1 marker has all the peer's frames and knows the peer
// has all of its own, and closes the connection.

// retire stops using c for frames and starts draining it.
func (e *Endpoint) retire(c *conn) {
	e.mu.Lock()
	if c.retired || c.closing {
		e.mu.Unlock()
		return
	}
	e.retireLocked(c)
	send := !c.sentFirst
	c.sentFirst = true
	e.mu.Unlock()
	e.log.Debug("transport: retiring duplicate connection", slog.String("peer", c.peer.Short()),
		slog.Bool("outbound", c.outbound))
	if send {
		c.sendMarker(retireFirst)
	}
}

func (e *Endpoint) retireLocked(c *conn) {
	c.retired = true
	if c.drain == nil {
		c.drain = time.AfterFunc(e.tm.Drain, func() { e.closeRetired(c, "duplicate connection: drain timed out") })
	}
}

// onMarker handles the peer's retire marker on c, once every stream the peer opened on c
// before it has been read.
func (e *Endpoint) onMarker(c *conn, phase byte) {
	if phase == retireLast {
		e.closeRetired(c, "duplicate connection")
		return
	}
	e.mu.Lock()
	if !c.retired {
		p := e.peers[c.peer]
		if p == nil {
			e.mu.Unlock()
			return
		}
		var other *conn
		for o := range p.conns {
			if o != c && !o.retired && !o.closing && (other == nil || o.seq > other.seq) {
				other = o
			}
		}
		if other == nil {
			// Our only usable connection to this peer: keep it. The peer's drain timeout closes
			// it if the peer really has another one; otherwise the peer puts it back in use.
			e.mu.Unlock()
			e.log.Debug("transport: kept a connection the peer retired: it is our only one", slog.String("peer", c.peer.Short()))
			return
		}
		e.retireLocked(c)
		if p.active == c {
			p.active = other
		}
	}
	send := !c.sentLast
	c.sentLast = true
	e.mu.Unlock()
	if send {
		c.sendMarker(retireLast)
	}
}

// closeRetired closes a retired connection (drained, or out of time).
func (e *Endpoint) closeRetired(c *conn, why string) {
	e.mu.Lock()
	if c.closing {
		e.mu.Unlock()
		return
	}
	c.closing = true
	e.mu.Unlock()
	e.stats.retired.Add(1)
	c.qc.CloseWithError(codeDuplicate, why)
}

// sendMarker opens a marker stream; no frame stream is opened on c after it.
func (c *conn) sendMarker(phase byte) {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	c.noMoreFrames = true
	ctx, cancel := context.WithTimeout(c.qc.Context(), c.e.tm.Drain)
	defer cancel()
	st, err := c.qc.OpenUniStreamSync(ctx)
	if err != nil {
		return
	}
	if _, err := st.Write([]byte{kindRetire, phase}); err != nil {
		return
	}
	st.Close()
}

// probeBytes is the size of a probe stream's body: enough for the packet carrying it to draw a
// stateless reset (which QUIC sends only in answer to packets over 42 bytes) from a restarted
// peer that no longer knows the connection.
const probeBytes = 64

// sendProbe opens a probe stream on c; the peer reads and discards it.
func (c *conn) sendProbe() {
	ctx, cancel := context.WithTimeout(c.qc.Context(), c.e.tm.Drain)
	defer cancel()
	st, err := c.qc.OpenUniStreamSync(ctx)
	if err != nil {
		return
	}
	body := make([]byte, 1+probeBytes)
	body[0] = kindProbe
	if _, err := st.Write(body); err != nil {
		return
	}
	st.Close()
}
