package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"meshcomm/mesh"
)

// Network is what the node runtime needs from a transport. *Endpoint implements it; tests of
// the runtime can run real Endpoints over an in-memory network (package memnet) or supply
// their own implementation.
type Network interface {
	// LocalID is this node's NodeID.
	LocalID() mesh.NodeID
	// Connect makes sure a connection to the peer exists and returns its proven contact.
	Connect(ctx context.Context, to mesh.Contact) (mesh.Contact, error)
	// Send sends one frame (1..MaxFrameBytes bytes) to the peer, dialling it if needed.
	Send(ctx context.Context, to mesh.Contact, payload []byte) error
	// SendDatagram sends one unreliable datagram to a connected peer.
	SendDatagram(to mesh.NodeID, b []byte) error
	// OpenStream opens a bidirectional stream of an application kind to the peer.
	OpenStream(ctx context.Context, to mesh.Contact, kind byte) (net.Conn, error)
	// Listener returns the listener for incoming streams of an application kind.
	Listener(kind byte) (net.Listener, error)
	// Peers lists the connected peers.
	Peers() []PeerInfo
	// RTT is the smoothed round-trip time to a connected peer.
	RTT(id mesh.NodeID) (time.Duration, bool)
	// Disconnect closes every connection to the peer.
	Disconnect(id mesh.NodeID)
	// Close shuts the transport down.
	Close() error
}

var _ Network = (*Endpoint)(nil)

// Send sends one frame to a peer on its own QUIC stream, dialling to.Addr if there is no
// connection to to.ID yet. It returns once QUIC has taken the frame; QUIC then delivers it
// reliably while the connection lives. It blocks while dialling and while the connection's
// flow-control window is full, until ctx ends.
func (e *Endpoint) Send(ctx context.Context, to mesh.Contact, payload []byte) error {
	if err := checkFrameSize(len(payload)); err != nil {
		return err
	}
	for range 3 { // a connection may be retired between choosing and using it
		c, err := e.connect(ctx, to)
		if err != nil {
			return err
		}
		err = c.sendFrame(ctx, payload)
		if errors.Is(err, errConnRetired) {
			continue
		}
		if err != nil {
			return fmt.Errorf("transport: send to %s: %w", c.peer.Short(), err)
		}
		return nil
	}
	return fmt.Errorf("transport: send to %s: %w", to.ID.Short(), errConnRetired)
}

// SendDatagram sends one QUIC datagram to a connected peer (it never dials). Datagrams are not
// retransmitted; one must fit in a packet (about 1,100 bytes on a 1,280-byte path), else
// the error says so.
func (e *Endpoint) SendDatagram(to mesh.NodeID, b []byte) error {
	e.mu.Lock()
	var c *conn
	if p := e.peers[to]; p != nil {
		c = p.active
	}
	closed := e.closed
	e.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if c == nil {
		return fmt.Errorf("%w: %s", ErrNotConnected, to.Short())
	}
	if err := c.qc.SendDatagram(b); err != nil {
		return fmt.Errorf("transport: datagram to %s: %w", to.Short(), err)
	}
	e.stats.datagramsSent.Add(1)
	return nil
}
