// Package sip is meshcomm's SIP: one user agent per node (UA) that places and receives calls,
// sends and receives text messages, registers addresses in the overlay, and serves as a
// registrar and as a proxy hop for other nodes, all over the QUIC streams of package
// transport. Parsing, transactions and dialogs are sipgo's (github.com/emiago/sipgo v1.7).
// It knows the rest of the node only through small interfaces (Config): a Dialer and a
// Listener for streams (transport.Endpoint), a Locator for look-ups in the overlay, Media for
// audio, a Verifier and a Store for the registrar, a Signer for its own registrations.
//
// # Wire format
//
// Plain SIP 2.0 (RFC 3261) text messages, back to back on a bidirectional QUIC stream of kind
// transport.KindSIP, each framed by its Content-Length as on TCP (RFC 3261 18.3). A node opens
// one stream to a peer and both directions use it for requests and responses (sipgo keeps one
// connection per remote address); a stream that dies is replaced by a new one when next
// needed. Bodies: application/sdp (calls), text/plain;charset=utf-8 (MESSAGE) and
// application/meshcomm-record (REGISTER: one signed mesh.Record, mesh.EncodeRecord).
//
// Addresses. sipgo dials and pools connections by "host:port", so every node gets a stable
// overlay address: its 16-byte NodeID read as an IPv6 address, port 5061, e.g.
// "[2459:5ac7:f14c:ba03:c83e:83c7:fd55:e8cb]:5061" (in brackets: a bare IPv6 host would be read
// as host:port). It needs no table and no DNS, and it is what the streams report as their
// addresses, so sipgo's pool holds one entry per peer node whatever UDP address the QUIC
// connection uses. Contact headers carry it (sip:101@[NodeID]:5061;transport=tls), Vias too.
// An address of record is "sip:EXT@TEAM" in lower case (ParseAoR); it is never a host to
// resolve.
//
// # How sipgo is made to run over QUIC streams
//
// sipgo has no pluggable transport. Three narrow workarounds make it use the overlay's streams
// (checked against v1.7.2; they rely on its exported API only):
//
//   - Incoming streams: its TLS transport serves any net.Listener (Server.ServeTLS) without a
//     handshake of its own; the QUIC handshake already authenticated the peer. The UA serves
//     the transport's listener, wrapped so that each stream shows its peer's overlay address.
//   - Outgoing streams: sipgo can only dial TCP. The UA opens the stream itself
//     (Dialer.OpenStream) and hands it to sipgo through a second listener it also serves; sipgo
//     adds a served connection to its pool, under the peer's overlay address, before it calls
//     Accept again, so the hand-over returns once the stream is in the pool (dialedListener).
//     Every request is preceded by such an ensureStream. sipgo's own TCP dialer is given a
//     socket Control hook that refuses every dial, and its resolver fails every look-up, so it
//     never touches the real network.
//   - Its transaction layer is told to end transactions whose connection closes
//     (WithTransactionLayerTerminateOnConnClose), so a lost stream fails a request at once.
//
// Known traps, and how they are handled: sipgo issue #306 (each message is handled on its own
// goroutine, so a 180 can be processed after the 200): call State only ever moves forward, so a
// late provisional response cannot take an answered call back to ringing. The ACK to a 2xx is
// written through sipgo's transport layer (DialogClientSession.Ack), not as a transaction.
// IPv6 hosts are always bracketed. The pool is keyed by the overlay address, never the UDP one.
//
// Streams die when the transport retires a duplicate QUIC connection (two nodes dialled each
// other at once): in-dialog requests and REGISTER/MESSAGE are then sent once more on a new
// stream (sendOver), and an INVITE whose stream died before a final response is sent again;
// the callee replaces the unanswered call the first INVITE made (same Call-ID and From tag).
//
// # Routing
//
// Each incoming request: a Route naming this node is removed; a remaining Route is followed;
// a Request-URI whose host is another node's overlay address is forwarded to it (an
// in-dialog request through a proxy hop); one whose host is this node, or whose address of
// record is local, is served here; any other address of record is looked up with the Locator
// and forwarded if Config.Proxy is set (INVITE, MESSAGE, OPTIONS), else refused with 404.
//
// Direct mode (the default): the caller looks the address up, opens a stream to each
// binding's node and sends the INVITE with the binding's contact as Request-URI. Overlay mode
// (Option Via(peer), the seed's "send the INVITE through the overlay to the responsible
// peer"): the INVITE keeps the address of record as Request-URI and carries a Route to the
// peer, which looks it up and forwards it (to the first binding it can reach; proxies do not
// fork). A forwarding node is transaction-stateful: it adds its Via, takes one off
// Max-Forwards, relays every response but 100 Trying, relays CANCEL, and Record-Routes an
// INVITE, so that the rest of the dialog (ACK, BYE) also passes through it: in a mesh the two
// ends may share no network. Loops: Max-Forwards at 0 gets 483; a request that carries this
// node's own Via, or would go straight back to where it came from, gets 482.
//
// # Calls
//
// UA.Call looks the target up and forks (Option CallID picks the Call-ID, so that the node can
// tie the call to its media plan before the INVITE goes out): every binding (except this node) gets an INVITE at
// once with the same Call-ID and From tag; the first 200 wins, the other branches are
// cancelled, and a second 200 is ACKed and hung up (RFC 3261 13.2.2.4). Outcomes, as
// CallInfo.Status: 404 when nothing is registered, 480 when no binding can be reached (or
// none answers in time), 486 busy, 487 cancelled, 603 declined. An incoming call follows the
// Policy: ring and wait for Call.Answer or Reject, ring then answer after AutoAnswerAfter, or
// refuse every call with 486; unanswered after RingTimeout it gets 480; beyond MaxCalls calls
// in progress (default 1) it gets 486. Hang-up from either side: CANCEL while being set up,
// 603 while ringing here, BYE once answered; a BYE for no dialog gets 481.
//
// Glare (both users call each other at the same moment): the INVITE from the lower NodeID
// wins. The lower node answers the higher node's INVITE with 491 Request Pending; the higher
// node, receiving the lower node's INVITE while its own call to that user is being set up,
// cancels its own INVITE and answers the incoming one at once, and its Call object carries on
// as that call (CallInfo.Glare, new ID). Both users end up in one call, neither has to retry.
// A 491 that arrives before the peer's INVITE makes the call wait up to 5 s for it.
//
// Media is a small interface (Media, MediaSession): a session per call gives the SDP offer
// or answer, starts once the peer's SDP and node are known, and reports MediaStats on close.
//
// # Messages
//
// UA.SendMessage sends SIP MESSAGE (text/plain, at most Limits.MaxTextBytes of UTF-8) to
// every binding at once. The recipient answers 200 only after Config.OnMessage accepted the
// message: that 200 is the delivery receipt (Receipt.Delivered, with the node that took it).
// A MESSAGE may also carry another body type (Option WithBody; the recipient lists the types
// it takes in Config.MessageTypes, nil for any), handed over in Message.Body. No IMDN is used: within the mesh a 200 from the recipient's own user agent already means
// delivered, and a separate notification would need a path back that may not exist. A
// handler error answers 480, and the sender gets ErrNotDelivered (or ErrNotFound), which the
// node's store-and-forward takes from there. The MESSAGE's Call-ID is the message id
// (Option MessageID); the recipient remembers the last 4096 (sender, id) pairs and
// acknowledges a repeat without delivering it again.
//
// # Registrar
//
// A REGISTER's body is one signed registration record (Kind mesh.KindRegistration, Resource
// mesh.ResourceIDFor(AoR), Key the node's NodeID, Value a RegistrationValue in JSON: the same
// format the node publishes for itself). A registrar (Config.Registrar) accepts it only if:
// the record decodes; its resource is the To address; its signature verifies with the injected
// mesh.Verifier and the signer owns the address (mesh.VerifyRecord: RELOAD's USER-MATCH); the
// signer is the node the stream comes from (authenticated by QUIC's mutual TLS); the value
// names that node and address; it has not expired and expires at most MaxExpiry (2 h) ahead;
// and Expires: 0 comes with a deleted record and only then. It then hands the record to
// Store (the node offers it to the overlay) and answers 200 with Expires and Contact. Refusals:
// 403 for an address the signer does not own, a record signed by another node or a bad
// signature; 400 for a malformed, expired or inconsistent record; 415 for another body type;
// 500 if Store fails. UA.Register is the client: it signs the record with Config.Signer, sends
// it, refreshes it when a third of its lifetime is left (retrying every 5 s after a failure),
// and Unregister (called by Close) sends a deleted record with a higher version and Expires: 0.
//
// # Bad input
//
// Every byte a peer writes goes through a framer (framing.go) before sipgo sees it. It bounds
// the header section (16 KiB), the body (Limits.MaxBodyBytes, 32 KiB) and the message
// (Limits.MaxMessageBytes, 65535, sipgo's own bound); requires Content-Length; parses each
// message and requires Via, From, To, Call-ID and a CSeq that matches the method. A bad message
// is counted in Stats().Refused under its reason, logged (slog, "sip: refused"), and answered
// when its headers allow a response: 400 for a malformed one, 413 for an oversized body (which
// is skipped, up to 1 MiB, so the stream carries on). When the stream can no longer be split
// into messages (garbage, a Content-Length that is not a number, one that disagrees with what
// follows, a header section without end, a message stalled half-way for Limits.StallTimeout)
// the stream is refused and closed; the peer's next request opens another. A Content-Length
// that is too small is caught when the bytes after the body cannot start a message; one that is
// too large, by the stall timeout (or by the misframing that follows). Each peer node may send
// Limits.RequestsPerSecond requests (burst Limits.Burst; ACK and CANCEL exempt); the rest get
// 503 with Retry-After and are counted. Nothing of another peer, call or dialog is touched.
//
// # Driver loop
//
// The UA owns its goroutines, unlike the overlay's pure cores: sipgo runs a reader per stream
// and a goroutine per message and per transaction timer. New starts serving; calls and
// registrations run in goroutines that Close waits for. Close hangs up every call, unregisters,
// stops serving and closes every stream. Timers use package time (sipgo's too), so the tests
// run whole meshes of real endpoints over transport/memnet inside testing/synctest bubbles, in
// virtual time; Config.Now stamps records and call times.
//
// Measured: BenchmarkRegistrar (go test -run '^$' -bench Registrar -benchtime 2000x ./sip/).
package sip
