// Package node is the meshcomm runtime: it owns the goroutines, the clock, the sockets and
// the disk, and drives the pure overlay core (mesh/hybrid) with them. A Node is one running
// peer: its identity (package identity), one QUIC endpoint (package transport), mDNS
// discovery and static peers (package discovery), a record database that survives kill -9,
// an event bus, and a control socket that the command line (meshcomm status, lookup, ...)
// and field tests speak to.
//
// # Driver loop
//
// One goroutine owns the hybrid.Node. Everything else hands it work through channels:
//
//	for {
//	    start the dials that are due (static peers, peers discovery found, redials)
//	    sleep until core.NextTick() or the next dial, or until one of:
//	        a frame from the transport   -> mesh.Decode; bad frames are counted by
//	                                        mesh.WireErrorReason, logged, reported; the peer
//	                                        keeps its link. Good ones -> core.Step(now, from, msg)
//	        a transport peer event       -> Up: core.AddPeer(now, contact); Down: core.RemovePeer
//	        a discovery event            -> Found: a dial target; Lost: no longer one
//	        a dial's outcome             -> back-off bookkeeping (the Up event does the rest)
//	        a control call               -> status, lookup (core.Lookup; the answer is the
//	                                        mesh.LookupDone event), records, revocations
//	        stop                         -> leave (below), return
//	    core.Tick(now) if due
//	    drain core.Ready():
//	        Messages -> mesh.Encode -> the peer's outbound queue (bounded, OutboxDepth; full:
//	                    dropped and counted); a sender goroutine per peer calls transport Send,
//	                    which may block while it dials, so the loop never does
//	        Persist, Forget -> one bbolt transaction, writing what the core holds now for
//	                    every record touched
//	        Persist of a revocation -> identity's Verifier.AddRevocation; links to peers
//	                    presenting the revoked certificate are dropped
//	        Events   -> the bus (bounded per subscriber; a slow subscriber loses events, counted)
//	                    and the lookups waiting for them
//	}
//
// A peer that restarts while this node still holds a connection to its previous run gets no
// new Up event from the transport (it replaces the duplicate connection), so its second Hello
// on one link is taken as the sign: the loop drops the link and the side with a dial target
// redials a fresh one (see links.go for why a fresh one rather than a second greeting).
//
// A peer's Contact.Addr is its UDP "host:port" as the transport sees it. The node's own
// advertised address (in its membership and registration records) is the socket's address,
// or, when it listens on every address, an interface address others can dial (see
// advertisedAddr; never an IPv6 link-local one, whose zone only the dialler knows). A lookup
// whose answer is a linked peer reports the address of the link, which is known to work.
//
// # Start-up and shutdown
//
// Start loads the identity from the data directory, or, when there is none and an extension
// is given, creates the zero-setup one (identity.BootstrapTeam: a team CA of one in ca/ and a
// member certificate for sip:EXT@TEAM). It then takes the record database (node.db; a second
// daemon on the same directory fails with ErrDataDirBusy), drops expired records, feeds stored
// revocations to the verifier, opens the QUIC endpoint, starts the core and publishes two
// records under ResourceIDFor(AoR) with Key = the node id: the registration (Kind
// registration, value: see Registration) and the member certificate (Kind certificate, DER),
// both with a one-hour lifetime that the core refreshes; they are on disk before Start
// returns. Close leaves cleanly: core.Leave (own records deleted everywhere, peers told), then a
// Ping to every linked peer queued behind those frames, and the loop waits (FlushTimeout) for
// every Pong, since closing the endpoint drops what the peers have not acknowledged; no new
// dials are started while leaving. Discovery then says goodbye (mDNS TTL 0), and the endpoint
// and database close.
//
// Restoring held records. At start-up the records read back from the database go to the
// core's Restore, which verifies them, skips expired ones and the node's own (published afresh
// at start-up with new versions), and stores the rest without distributing them. Status reports
// how many were read back (records_loaded).
//
// # Persistence
//
// DATA/node.db is a bbolt database (go.etcd.io/bbolt, the embedded store etcd uses): every
// committed transaction is fsynced, so what a batch wrote survives kill -9 and power loss, and
// bbolt's file lock keeps a second process out. Bucket "records" maps resource(16) | kind(1)
// | key to mesh.EncodeRecord of the record, tombstones included. A record that does not decode
// or sits under the wrong key is dropped, counted and logged at load.
//
// # Control protocol
//
// DATA/control.sock is a unix socket (mode 0600). A client writes one JSON request per line,
// at most MaxControlRequestBytes, and reads one JSON response line per request:
//
//	-> {"method":"lookup","params":{"target":"102","timeout_ms":5000}}
//	<- {"ok":true,"result":{"found":true,"aor":"sip:102@team-3fa9c1","node_id":"...","contact":"192.0.2.7:7070",...}}
//	<- {"ok":false,"error":"unknown method \"x\""}
//
// Events (Event.Type): peer-up, peer-down, mesh-size, mode-changed, merge, refused, record,
// lookup-done, bad-frame, untrusted-team, revocation, revoked-peer.
//
// Methods (params -> result):
//
//	status     {}                               -> Status
//	peers      {}                               -> [PeerInfo]
//	lookup     {"target","timeout_ms"}          -> LookupResult (target: "102" in the own team, or "sip:102@team")
//	records    {"kind"}                         -> [RecordInfo]
//	revoke     {"file": revocation file text}   -> RevocationResult (honoured here, sent to every linked peer)
//	trust-add  {"pem": CA certificate PEM}      -> AnchorInfo (trusted from the next handshake)
//	watch      {}                               -> {"watching":true}, then {"ok":true,"event":Event} per event
//
// A connection may carry many requests in turn (watch is its last). A request that is too
// large, not JSON, or names an unknown method gets an error response and is counted
// (control_refused); a too-large one also ends the connection. At most MaxControlConns
// connections are served at once. Client implements the protocol. It is newline-delimited
// JSON on encoding/json rather than a JSON-RPC library: the framing is one line each way, and
// watch streams, which JSON-RPC libraries do not do simply.
//
// # Static peers
//
// Static peers (--peer HOST:PORT) are dialled by the node itself rather than through
// discovery, so they work the same with mDNS off (as in tests, or where multicast is
// filtered): each is dialled at start, redialled with back-off (1 s doubling to 30 s) while
// unreachable, and 1 s after its link goes down; the node id is learnt from the first
// handshake. Peers found by mDNS are dialled the same way until discovery loses them.
//
// # Measured
//
// Three idle nodes meshed over loopback (links A-B, A-C, B-C), 60 s after settling:
//
//	MESHCOMM_NODE_MEASURE=1 go test -run TestMeasureIdleMeshTraffic -v ./node/
//	    on the wire (UDP, QUIC and TLS included): 13-16 B/s in and out per node, about 0.5
//	    packets/s each way (mostly QUIC keepalives, 5 s per connection); overlay frames
//	    0.6-1.9 B/s; the whole mesh sends 42 B/s (0.33 kbit/s)
//	MESHCOMM_DAEMON_MEASURE=1 go test -run TestMeasureIdleDaemon -v ./cmd/meshcomm/
//	    each idle daemon (the real binary): 12.4 MiB resident (peak 12.5), 0.03-0.05 % of one
//	    core
//
// MESHCOMM_MEASURE_SECONDS changes the window.
package node
