package transport

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"time"

	"meshcomm/mesh"
)

// Config says how to build an Endpoint.
type Config struct {
	// Listen is the UDP address of the endpoint's one socket ("[::]:7070", "127.0.0.1:0"). It is
	// ignored when PacketConn is set.
	Listen string
	// PacketConn, if set, is the socket to use instead of binding Listen (an in-memory network
	// in tests). The Endpoint does not close it.
	PacketConn net.PacketConn

	// Certificate is this node's certificate chain (member certificate first) and ed25519
	// private key, presented on every handshake in both directions.
	Certificate tls.Certificate
	// VerifyPeer checks a peer's certificate chain (leaf first, as presented) against the trust
	// bundle as it stands at the time of the handshake, so a CA trusted or a certificate revoked
	// at run time counts from the next handshake on. Required. RootsVerifier builds one from a
	// function returning the current roots; identity's Verifier can be wrapped directly.
	VerifyPeer func(chain []*x509.Certificate) error
	// PeerID derives a peer's NodeID from its verified leaf certificate. Default: Ed25519PeerID.
	PeerID func(leaf *x509.Certificate) (mesh.NodeID, error)
	// Now is the clock certificate validity is checked against. Default time.Now.
	Now func() time.Time
	// StatelessResetSeed is a secret the QUIC stateless reset key is derived from (HKDF). It
	// must be stable across restarts: a peer that kept a connection to this node's previous run
	// then learns at its next packet that the connection is gone instead of waiting out its
	// idle timeout. Default: the Certificate's ed25519 private key; a random key for this run if
	// the key is not ed25519.
	StatelessResetSeed []byte

	Timeouts Timeouts
	Handlers Handlers
	// Logger receives refusals and connection changes. Default slog.Default().
	Logger *slog.Logger
}

// Timeouts are tuned for lossy, slow radio links; zero fields take the defaults below.
type Timeouts struct {
	// Handshake is QUIC's handshake idle timeout: how long a handshake may go without hearing
	// from the peer (the whole handshake may take twice this). Default 10 s, twice quic-go's
	// default, so that a handshake survives several lost flights at 30% loss.
	Handshake time.Duration
	// Idle is the connection's idle timeout: a peer not heard from for this long is down.
	// QUIC starts counting at the first packet sent after the last one received, so a peer
	// that vanishes is declared down between Idle and Idle+KeepAlive after its last packet.
	// Default 20 s.
	Idle time.Duration
	// KeepAlive is how often an otherwise silent connection sends a QUIC PING. Default 5 s: a
	// peer is declared down only after four keepalive periods without hearing anything, and
	// a lost PING is itself retransmitted, so isolated losses never take a link down.
	KeepAlive time.Duration
	// StreamIdle bounds how long an incoming stream may stay silent in the middle of a frame
	// or before its kind byte; a stalled stream is refused. Default 30 s (a 256 KiB frame at
	// 100 kbit/s arrives in about 21 s, but never with 30 s between two packets).
	StreamIdle time.Duration
	// Drain bounds how long a duplicate connection is kept open while in-flight frames on it
	// are delivered (see doc.go). Default 10 s.
	Drain time.Duration
}

// Default timeouts.
const (
	DefaultHandshakeTimeout  = 10 * time.Second
	DefaultIdleTimeout       = 20 * time.Second
	DefaultKeepAlive         = 5 * time.Second
	DefaultStreamIdleTimeout = 30 * time.Second
	DefaultDrainTimeout      = 10 * time.Second
)

func (t Timeouts) withDefaults() Timeouts {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&t.Handshake, DefaultHandshakeTimeout)
	def(&t.Idle, DefaultIdleTimeout)
	def(&t.KeepAlive, DefaultKeepAlive)
	def(&t.StreamIdle, DefaultStreamIdleTimeout)
	def(&t.Drain, DefaultDrainTimeout)
	return t
}

// Handlers receive what arrives. They are called from one goroutine, one at a time, in the
// order things happened: a peer's Up event comes before any frame or datagram from it, and its
// Down event after the last one. Keep them short (hand the value to the driver's loop); they
// may call the Endpoint's methods but not Close. Nil handlers drop what they would receive.
type Handlers struct {
	// OnFrame receives one overlay frame; the payload belongs to the handler.
	OnFrame func(from mesh.Contact, payload []byte)
	// OnDatagram receives one QUIC datagram; the payload belongs to the handler.
	OnDatagram func(from mesh.Contact, payload []byte)
	// OnPeer receives peer up and down events.
	OnPeer func(PeerEvent)
}

// PeerEvent says that a peer became reachable (its first connection is up) or unreachable
// (its last connection is gone). A duplicate connection being replaced raises no event.
type PeerEvent struct {
	Peer        mesh.Contact      // NodeID and remote UDP address ("host:port")
	Up          bool              // true: connected; false: disconnected
	Certificate *x509.Certificate // the peer's verified leaf certificate
	Err         error             // for Up == false: why the last connection ended
}

func (c *Config) check() error {
	switch {
	case len(c.Certificate.Certificate) == 0 || c.Certificate.PrivateKey == nil:
		return errors.New("transport: Config.Certificate is empty")
	case c.VerifyPeer == nil:
		return errors.New("transport: Config.VerifyPeer is required")
	case c.PacketConn == nil && c.Listen == "":
		return errors.New("transport: Config.Listen or Config.PacketConn is required")
	}
	return nil
}
