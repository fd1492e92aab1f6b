// Package mailbox is the deterministic core of store-and-forward messaging, voicemail and
// presence: the record formats, the encryption of voicemail to a recipient's certificate, one
// node's mailbox state machine (outbox, inbox, receipts) with its exactly-once delivery, and the
// roster that follows other users' presence.
//
// Like the overlay cores it owns no goroutines, sockets, clocks, disks or global randomness, and
// it logs nothing: every method takes the time, randomness comes from Config.Rand, and every
// effect comes back in a Ready (records to store, direct hand-overs to attempt, deliveries and
// state changes to announce, refusals to log, each also counted in Counters). The node runtime
// drives it from overlay lookups and SIP, persists its state and logs its refusals.
//
// # Messages in the overlay
//
// A text, a voicemail chunk or a delivery receipt for an absent user is a mesh.Record:
//
//	Resource = mesh.ResourceIDFor(recipient AoR)   Kind = mesh.KindMessage
//	Key      = sender node id (16) | message id (16) [| chunk index (2, big-endian), voicemail only]
//	Value    = the message value below (at most mesh.MaxValueBytes)
//	Version  = 1;  Expiry = sent time + TTL (DefaultTTL, 7 days);  signed by the sender
//
// mesh.CheckAccess lets the sender write it (the key starts with its node id) and the recipient
// delete it (it owns the resource's name). A deletion (Tombstone) has the same identity and
// expiry, version 2, no value: it outlives every copy of what it deletes. Received records must
// be at the receiver's resource, not expired, expire within MaxTTL+ClockSkew, verify through the
// Verifier, and be signed by the node and address the value names as sender (ParseRecord).
//
// The message value is compact binary, version 1, big-endian, with no trailing bytes:
//
//	version (1) = 1 | kind (1): 1 text, 2 voicemail, 3 receipt | message id (16) | sender node (16)
//	| sent time, Unix ms (8) | sender AoR length (1) | AoR | recipient AoR length (1) | AoR
//	| body length (2) | body
//
// Addresses are canonical "sip:EXT@TEAM" (identity.ParseAoR), at most MaxAoRBytes. A text body
// is 1 to MaxTextBytes of UTF-8. A receipt body is the 16-byte id of the message it confirms;
// its own id is derived from (sender node, message id), so a receipt issued twice is one record,
// and its sent time is when the message was delivered. A voicemail body is one Chunk:
//
//	index (2) | count (2) | ephemeral X25519 public key (32) | sealed piece (16-byte tag + ciphertext)
//
// # Voicemail encryption
//
// Voicemail is sealed to the ed25519 key of the recipient's member certificate (RecipientKey).
// The public key becomes an X25519 key by mapping the Edwards point to its Montgomery u
// coordinate (filippo.io/edwards25519, Point.BytesMontgomery; invalid encodings and points of
// small order are refused); the recipient's X25519 scalar is the first half of SHA-512 over its
// ed25519 seed, clamped (the scalar ed25519 itself signs with). The sender draws a one-off X25519
// key pair per voicemail from Config.Rand; the shared key is nacl/box's
// (golang.org/x/crypto/nacl/box: X25519 then HSalsa20, refused if the X25519 output is all
// zeros). The plaintext stream
//
//	media type length (1) | media type (printable ASCII, 1 to MaxMediaTypeBytes) | audio
//
// (audio 1 to MaxVoicemailAudioBytes: 120 s of Opus at 32 kbit/s is 480,000 bytes) is cut into
// pieces of ChunkPlaintextBytes (the last may be shorter), each sealed with
// box.SealAfterPrecomputation under the nonce
//
//	first 24 bytes of SHA-256("meshcomm-voicemail-v1" | sender node | len(recipient AoR) (1)
//	| recipient AoR | message id | ephemeral key | index (2) | count (2))
//
// which is unique per piece (the key is unique per voicemail) and binds each piece to its place,
// its voicemail, its sender and its recipient: a piece moved, relabelled or spliced into another
// voicemail does not open. OpenVoicemail refuses disagreeing parts, duplicated and missing
// indices, over- or under-sized pieces (every piece but the last is exactly full) and pieces that
// do not open (wrong key or tampering), each with a clear error naming the chunk. The records
// themselves are signed by the sender, so integrity in transit does not rest on the box alone.
// nacl/box rather than filippo.io/age: age seals a stream with its own header and recipient
// encoding, while each chunk here must travel, be verified and be refused on its own, inside a
// record of at most 16 KiB, for 16 bytes of overhead; a box with a derived nonce does exactly that.
//
// # Presence
//
// A presence record: Resource = mesh.ResourceIDFor(AoR), Kind = mesh.KindPresence, Key = the
// node id, Version = the update time in Unix ms (or one more than the node's previous version if
// the clock stepped back), Expiry chosen by the publisher (which refreshes it), Value a JSON
// object of at most MaxPresenceValueBytes:
//
//	{"v":1,"state":"on-scene","text":"Sector 4","updated":1772366400000}
//
// state is one of available, busy, on-scene, off-duty; text at most MaxPresenceText printable
// characters; unknown keys are ignored. A Roster follows a set of addresses: it applies records
// from lookups and notifications in any order and any number of times (per node the higher
// version wins, a withdrawal beats a live record of the same version and is kept until its
// expiry so an older copy cannot come back), drops expired presence (Tick), and shows for each
// address the presence its nodes updated last, reporting each change of what it shows (not mere
// refreshes) for the node to notify subscribers.
//
// # Driving a Mailbox
//
// After every call whose Ready says Changed, the node persists Marshal() (for instance in bbolt)
// before it acts on anything else in the Ready. Then:
//
//   - Direct: hand each Outgoing's records to the recipient's node (SIP MESSAGE, or the records
//     encoded with mesh.EncodeRecord) and report the outcome with DirectResult; an unreachable
//     recipient is reported as a failure at once. On failure the message's records come back in
//     Store.
//   - Store: put each record into the overlay (messages, receipts, deletions).
//   - Delivered / Updated: announce them (events, UI); Refused: log each (already counted).
//
// On a direct hand-over from a peer the node calls ReceiveDirect, persists, and only then answers:
// success when it returned nil, an error response otherwise (the sender then stores the message
// in the overlay). After registering, and periodically, it looks up the message records at its
// own resource and passes them to ReceiveStored. It calls Tick periodically (expiry, hourly
// republishing of undelivered stored messages, forgetting), and after Restore at start-up it calls
// Resume, which hands over again whatever a crash may have cut short. State is JSON (version 1):
// outbox entries with their signed records (until delivered or expired), receipts owed, and inbox
// entries with decrypted content and their dedup retention.
//
// # Exactly once
//
// A message is identified by (sender node, message id); its records are signed once, kept by the
// sender, and every copy anywhere (direct hand-over, overlay replica, republication) is
// byte-identical. The recipient's inbox holds an entry for every message it delivered, and the
// entry (kept as a stub if the user removes the message) lives until the latest expiry of any
// record of that message plus ClockSkew.
//
//   - At most once: delivering adds the entry and announces it in the same Ready, and the entry is
//     persisted before the announcement, the direct answer, the receipt or any deletion goes out.
//     A crash before persisting loses the delivery together with every sign of it (no
//     announcement, no answer, no deletion), so the message is still wherever it was. A copy that
//     arrives while the entry exists (directly, from a replica that missed the deletion, after a
//     restart) is a duplicate: deleted again, not delivered. A copy that arrives after the entry
//     is gone is expired on the receiver's own clock (the entry outlived every record's expiry by
//     ClockSkew, so even a clock stepped back that far still refuses it), and records claiming
//     expiries beyond MaxTTL+ClockSkew are refused, which bounds how long entries must live.
//   - At least once: only the recipient deletes a message record (after persisting its delivery)
//     and the sender (after a receipt, which the recipient only issues after persisting). A record
//     refused for a passing reason (full inbox, voicemail still incomplete) is left in place. The
//     sender keeps its records until a receipt or expiry: a direct attempt without a confirmed
//     answer is stored in the overlay (an answer is only given after the recipient persisted),
//     Resume repeats any hand-over or store a crash cut short, and Tick stores again every
//     RepublishEvery in case every replica was lost. Receipts owed are persisted the same way.
//
// A seeded simulation (exactlyonce_test.go) replays duplicates, reorders and loses hand-overs and
// answers, takes nodes out of reach and crashes them at random points, and checks that every
// message is delivered exactly once, confirmed to its sender, and cleared from the overlay.
//
// Limits: voicemail is sealed to one certificate, so a user with several enrolled laptops hears it
// on the one whose certificate the sender found; and messages for an address registered from
// several nodes are delivered to whichever node of that user checks first.
package mailbox
