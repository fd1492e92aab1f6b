// Package transport is a node's one QUIC endpoint: one UDP socket that both accepts and dials,
// mutual TLS 1.3 with certificates from the incident CA, at most one connection in use per peer,
// and on each connection three kinds of traffic: overlay frames, application streams (SIP) and
// unreliable datagrams (media). Package memnet is an in-memory UDP network the same Endpoint
// runs on in tests.
//
// # Identity and trust
//
// Config.Certificate is presented on every handshake in both directions (ALPN "meshcomm/1",
// TLS 1.3 only, a client certificate required). Go's built-in chain verification is off in
// both directions, because it wants DNS names mesh peers do not have and freezes its roots when
// the tls.Config is made; instead every handshake runs, in order: a certificate is present; the
// leaf key is ed25519; the leaf is within its validity period at Config.Now; Config.VerifyPeer
// accepts the chain against the trust bundle as it stands now (so a team CA trusted at run time
// counts from the next handshake, without a restart); Config.PeerID derives the NodeID
// (default: mesh.NodeIDFromPublicKey over the raw ed25519 key); the peer is not this node; and,
// when dialling a known contact, the NodeID is the one expected. A failure is a refusal: counted
// in Stats().Refused under its Reason, logged, the handshake aborted. With package identity:
//
//	VerifyPeer: func(chain []*x509.Certificate) error {
//		raw := make([][]byte, len(chain))
//		for i, c := range chain {
//			raw[i] = c.Raw
//		}
//		_, err := id.VerifyPeer(raw)
//		return err
//	},
//
// # Streams and framing
//
// Every QUIC stream starts with one kind byte. Kinds below FirstAppKind (0x10) are the
// transport's own:
//
//	0x01 frames   unidirectional: frames until FIN, each a 4-byte big-endian length n
//	              (1 <= n <= MaxFrameBytes = 256 KiB) followed by n bytes of payload
//	0x02 retire   unidirectional: one phase byte (0 or 1), then FIN (see below)
//	0x03 probe    unidirectional: up to 255 bytes of padding, discarded (see below and
//	              "Peer events")
//
// Kinds from 0x10 up are application streams, bidirectional: the opener writes the kind byte,
// then both sides speak the application's protocol (KindSIP = 0x10). OpenStream opens one;
// the peer's Listener(kind) accepts it as a *Stream, a net.Conn whose addresses are the two
// NodeIDs (Addr, String() = 32 hex digits) rather than UDP addresses, so a SIP stack keyed by
// RemoteAddr sees one stable address per peer. Datagrams carry the application's bytes with no
// header (RTP demultiplexes itself).
//
// Send puts each frame on a stream of its own. Measured in virtual time over a 25 ms link
// (TestMeasureFrameStreams, 1000 frames of 200 B every 20 ms), one long-lived stream per
// direction suffers head-of-line blocking: a lost packet holds back every later frame until it
// is repaired. At 5% loss the 90th percentile latency is 25 ms with a stream per frame against
// 75 ms with one stream; at 20% loss the median is 25 ms against 65 ms and the 99th percentile
// 215 ms against 265 ms. A stream per frame also makes cancellation clean (a frame abandoned
// half-sent resets its own stream, not a shared one) and keeps a malformed frame from poisoning
// the frames after it. The cost is a few bytes of stream overhead per frame; on loopback Send
// still moves about 95,000 frames of 200 B per second (BenchmarkSend). Frames from one peer may
// therefore arrive out of order, which the overlay tolerates: it is built for lossy links.
//
// Incoming streams are bounded: at most 256 concurrent streams of each direction per
// connection, a frame length over MaxFrameBytes refused before anything is allocated, and a
// stream silent for Timeouts.StreamIdle before its kind byte or inside a frame refused. A bad
// stream (unknown kind, frame too large or empty, a stream ending inside a frame, a malformed
// marker, a stall) is refused on its own: counted, logged, read side cancelled; the connection
// and its other streams carry on.
//
// # One connection per peer pair
//
// Connections are keyed by the peer's NodeID. When two nodes dial each other at once, each ends
// up with two connections; both keep the one initiated by the lower NodeID, which both compute
// alike. Frames already in flight on the loser must not be lost, so it is drained before it is
// closed, with retire markers: a side that retires a connection stops opening frame streams on
// it and sends a phase-0 marker; a side that has read every stream opened before a phase-0
// marker retires the connection too (if it has another to that peer) and answers with a
// phase-1 marker; a side that has read every stream before a phase-1 marker has all of the
// peer's frames, knows the peer has all of its own, and closes the connection. QUIC hands
// incoming streams over in the order they were opened, which is what makes "every stream before
// the marker" well defined. A drain that does not finish within Timeouts.Drain is cut short.
// Two connections dialled by the same side (a peer reconnecting while an old connection
// lingers) are settled by the dialler, which keeps the newest; the acceptor follows its marker.
// The peer's Up event is raised by its first connection and its Down event by its last: the
// replacement of a duplicate raises none. Application streams are not drained: one opened on a
// connection that is then retired lives until that connection closes at the end of the drain,
// and the application opens a new one (over the connection in use) if it needs to.
//
// A node that restarts dials its peers afresh while they may still hold a connection to its
// previous run. A new connection from a peer therefore makes the endpoint send a probe on the
// peer's older connections; the restarted node no longer knows them and answers with a QUIC
// stateless reset (its reset key is derived from its private key, so it survives restarts),
// which ends the stale connection at once instead of after the idle timeout. If the connection
// in use ends while a retired one is still open, the retired one is put back in use.
//
// # Peer events
//
// A TLS 1.3 client finishes its handshake before the server has checked the client's
// certificate, so a dialled connection is not yet known to be accepted. The acceptor therefore
// speaks first: as soon as it accepts a connection it opens a probe stream on it. The dialler
// counts its connection confirmed at the first stream or datagram from the acceptor, and only
// then raises the peer's Up event; a peer that refuses our certificate raises no event at all
// (it is counted in Stats.RefusedByPeers and logged). The acceptor raises Up at once: its
// handshake completes only after verifying the dialler. Connect waits for the confirmation and
// so reports a refusal as an error; Send does not wait (a frame sent to a peer that then refuses
// us is lost, as it would be to any untrusted peer). Peers and Stats.Peers count the peers whose
// Up event was raised and whose Down event was not.
//
// # Timeouts
//
// Tuned for radio links that lose packets and fade (Timeouts holds the defaults):
//
//	handshake idle  10 s   twice quic-go's default: a handshake survives several lost flights
//	idle            20 s   no packet from the peer for this long: the connection, and if it was
//	                       the last the peer, is down (after Idle..Idle+KeepAlive of silence)
//	keepalive        5 s   a PING on a silent connection; lost PINGs are retransmitted, so only
//	                       sustained silence takes a link down, never isolated losses
//	stream idle     30 s   a stream silent this long mid-frame is refused (a 256 KiB frame at
//	                       100 kbit/s takes 21 s, but never 30 s between two packets)
//	drain           10 s   the longest a duplicate connection is kept while it drains
//
// Liveness is QUIC's: keepalives and the idle timeout; RTT comes from QUIC's own estimate
// (PeerInfo.RTT, smoothed; MinRTT).
//
// # Delivery and the driver loop
//
// Handlers (Config.Handlers) are called from one goroutine, one call at a time, in order: a
// peer's Up event before anything from it, its Down event after the last frame of its last
// connection. Frames wait for room in a bounded queue (1024 items or 16 MiB), which through QUIC
// flow control slows the sending peer down; datagrams that find the queue full are dropped and
// counted. The node runtime drives the overlay core with it like this:
//
//	ep, _ := transport.New(transport.Config{Listen: ":7070", Certificate: ..., VerifyPeer: ...,
//		Handlers: transport.Handlers{
//			OnFrame:    func(from mesh.Contact, p []byte) { inbox <- frame{from, p} },
//			OnPeer:     func(ev transport.PeerEvent) { inbox <- ev },
//			OnDatagram: media.Receive,
//		}})
//	for { // the runtime's single loop owns the core
//		select {
//		case in := <-inbox:  // decode with the mesh codec, then core.Step(now, from, msg)
//		case <-tick.C:       // core.Tick(now)
//		}
//		// For each message in the Ready batch: ep.Send(ctx, to, mesh.Encode(msg)), from a
//		// per-peer sender goroutine or queue: Send blocks while it dials (up to 20 s) and while
//		// the peer's flow-control window is full, and the loop must not.
//	}
//
// Send dials when there is no connection (a zero Contact.ID accepts whichever trusted node
// answers at the address, as for a static peer; Connect dials without sending and waits for
// the peer to accept), and returns once QUIC has taken the frame: delivery is then reliable
// while the connection lives. A frame is lost only if the connection dies first (the peer's
// Down event reports it), if the peer refuses our certificate, or if Close cuts the connection
// while the frame is still unacknowledged (Close does not linger).
//
// # Why these pieces
//
// QUIC, TLS and flow control are quic-go's and crypto/tls's. The framing is a 4-byte length
// prefix: no library is needed for that. The in-memory network (memnet) is ours rather than
// quic-go's test simulator, which is test support of another module and not a stable API.
package transport
