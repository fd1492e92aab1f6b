package node

import (
	"errors"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"meshcomm/mesh/hybrid"
)

// DefaultListen is the UDP address a node listens on when Config.Listen is empty: every
// address, IPv6 and IPv4, port 7070.
const DefaultListen = "[::]:7070"

// Limits of the runtime. Each bounded queue drops (and counts) what does not fit rather than
// letting one slow party stall the node.
const (
	// OutboxDepth is how many frames may wait for one peer; more are dropped and counted.
	OutboxDepth = 256
	// SubscriberBuffer is the event backlog of one subscriber; a slower one loses events.
	SubscriberBuffer = 256
	// MaxControlRequestBytes bounds one control request line.
	MaxControlRequestBytes = 64 << 10
	// MaxControlResponseBytes bounds one control response line as the client reads it.
	MaxControlResponseBytes = 16 << 20
	// MaxControlConns bounds the control connections served at once.
	MaxControlConns = 32
	// FlushTimeout bounds how long a clean shutdown waits for queued frames to leave.
	FlushTimeout = 3 * time.Second
	// RegistrationTTL is the lifetime of the registration record (the core refreshes it).
	RegistrationTTL = time.Hour
	// CertificateTTL is the lifetime of the certificate record, which stays after a clean
	// leave so that voicemail can be sealed to a user who is off.
	CertificateTTL = 24 * time.Hour
	// DefaultLookupTimeout bounds a control lookup that names no timeout.
	DefaultLookupTimeout = 15 * time.Second
)

// File names inside the data directory (next to identity's node.key, node.pem, trust/ ...).
const (
	DBFile      = "node.db"
	ControlFile = "control.sock"
)

// Config says how to run a node. Only DataDir is required; Ext is required when the data
// directory holds no identity yet.
type Config struct {
	// DataDir holds the identity, the record database and the control socket.
	DataDir string
	// Ext is the extension for the zero-setup identity created when DataDir holds none. When
	// DataDir holds an identity, Ext (if set) must match it.
	Ext string
	// Team names the zero-setup team ("" derives one from the CA key). When DataDir holds an
	// identity, Team (if set) must match it.
	Team string
	// Listen is the UDP address of the QUIC endpoint (DefaultListen when empty).
	Listen string
	// PacketConn, when set, is used instead of binding Listen (measurements wrap the socket to
	// count bytes). The node does not close it.
	PacketConn net.PacketConn
	// Peers are static peers, "HOST:PORT", dialled and redialled for as long as the node runs.
	Peers []string
	// MDNS turns on multicast DNS discovery on every interface.
	MDNS bool
	// AutoAnswer answers incoming calls by itself (unattended nodes, tests) after AutoAnswerAfter.
	AutoAnswer      bool
	AutoAnswerAfter time.Duration
	// AnswerPlay is a WAV file played into answered incoming calls ("" sends silence).
	AnswerPlay string
	// AnswerRecordDir, if set, receives a WAV recording of each answered incoming call.
	AnswerRecordDir string
	// Tuning of the overlay core (zero fields take hybrid's defaults).
	Tuning hybrid.Tuning
	// Logger receives the node's logs (slog.Default() when nil).
	Logger *slog.Logger
	// Now is the wall clock (time.Now when nil).
	Now func() time.Time
}

// Errors Start returns that a command line should explain rather than just print.
var (
	// ErrNeedExt: the data directory holds no identity and no extension was given.
	ErrNeedExt = errors.New("no identity in the data directory: give an extension (--ext EXT) to create one, or enroll a bundle first")
	// ErrDataDirBusy: another running node holds the data directory.
	ErrDataDirBusy = errors.New("the data directory is in use by another running meshcomm daemon")
	// ErrClosed: the node has been closed.
	ErrClosed = errors.New("node is closed")
	// ErrNotRunning: no daemon answers on the data directory's control socket.
	ErrNotRunning = errors.New("no meshcomm daemon is running for this data directory")
)

func (c *Config) withDefaults() Config {
	out := *c
	if out.Listen == "" {
		out.Listen = DefaultListen
	}
	if out.Logger == nil {
		out.Logger = slog.Default()
	}
	if out.Now == nil {
		out.Now = time.Now
	}
	return out
}

// ControlPath is the control socket of the node whose data directory is dataDir.
func ControlPath(dataDir string) string { return filepath.Join(dataDir, ControlFile) }
