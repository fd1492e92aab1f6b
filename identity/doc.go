// Package identity binds meshcomm nodes to X.509 certificates from an incident certificate
// authority: it creates team CAs, issues and installs enrolment bundles, signs the node's
// overlay records, verifies other nodes' records and TLS handshakes against a live trust
// bundle, and honours revocations that flood through the mesh.
//
// # Trust model
//
// Each team (an agency, a crew, an incident) has one CA: a self-signed ed25519 certificate
// whose common name is the team name. The CA issues member certificates directly (path length
// zero: no intermediates) and is then never needed in the field. A node trusts a set of team
// CAs: its own, plus any added with TrustAdd or (*Identity).TrustCA. A CA speaks only for its
// own team: a member certificate is accepted only if its sip: address is in the team named by
// the CA it chains to, and two trusted CAs may not hold one team name (ErrTeamTaken), so
// trusting another agency never lets it impersonate your own members. A peer or record from a
// CA that is not trusted is refused with an *UntrustedError naming its team and, for TLS peers
// that present their CA, the CA's fingerprint: the "untrusted team nearby" a user sees and may
// answer by trusting that fingerprint ((*Identity).TrustSeen). Nothing is admitted silently.
//
// Zero set-up (Bootstrap) creates a team CA of one, kept in the data directory's ca/, whose
// name is derived from its key ("team-3fa9c1"). Other laptops join that team by being enrolled
// from it (Issue with LocalCADir as the CA directory), or teams of one trust each other's CAs.
//
// # Certificate profile
//
// Every key is ed25519 (TLS 1.3 in Go supports ed25519 certificates). The NodeID is
// mesh.NodeIDFromPublicKey of the raw 32-byte public key.
//
//	team CA:  Subject CN = O = team; IsCA, path length 0; KeyUsage CertSign|DigitalSignature;
//	          valid 5 years (CAValidity) from 1 hour before creation (ClockSkew).
//	member:   Subject CN = display name, O = team, OU = role; URI SAN "sip:EXT@TEAM" (exactly one);
//	          KeyUsage DigitalSignature; ExtKeyUsage ServerAuth and ClientAuth (every node both
//	          dials and accepts); valid 1 year (MemberValidity), never past the CA.
//
// EXT is 1 to 32 ASCII letters and digits, TEAM a DNS label (letters, digits, inner hyphens);
// both are lower-cased, so the AoR string is canonical and hashes to one ResourceID. The role
// is 1 to 32 of [a-z0-9_-] ("member" by default); the display name is printable UTF-8.
//
// # Records
//
// A member's record credential (mesh.Signer.Credential) is its DER member certificate alone,
// about 400 bytes: the verifier holds the CAs, so shipping the chain would only cost bytes. It
// verifies as mesh.Identity{Node, Name: the AoR}. A CA signs records with (*CA).Signer, whose
// credential is the CA certificate itself; only that verifies with Authority set, which is
// what mesh.CheckAccess requires of a revocation. The Verifier caches checked certificates
// (MaxCachedCertificates, least recently used evicted), so a record from a known owner costs a
// validity and revocation look-up and one ed25519 verification. The cache is a small
// container/list LRU rather than a third-party one because its entries must be invalidated
// under the same lock as the trust and revocation state they depend on.
//
// # Revocation
//
// (*CA).RevokeCert makes a record at RevocationResource(CA fingerprint), Kind
// mesh.KindRevocation, Key = the revoked certificate's SHA-256 fingerprint, Value = the
// Revocation (time, reason and the whole revoked certificate; see EncodeRevocationValue),
// Version = revocation time in Unix ms, Expiry = the certificate's NotAfter plus ClockSkew,
// signed by the CA. It floods like any record; each node hands it to
// (*Verifier).AddRevocation, which checks the CA signature, the resource, and that the revoked
// certificate was issued by that CA, then refuses the certificate for records and TLS from then
// on and saves the record in revocations/. CA certificates are never revoked this way; they are
// removed from trust lists.
//
// # TLS
//
// ServerTLSConfig and ClientTLSConfig give TLS 1.3 mutual authentication with ALPN
// "meshcomm/1". Each node presents its member certificate followed by its CA. Verification is
// done by VerifyConnection against the live trust bundle rather than Go's built-in check,
// which would demand DNS names and freeze the roots (see ClientTLSConfig). The transport and
// this package do not import each other; the node passes these configs to the transport.
//
// # Files
//
// A data directory (created 0700):
//
//	node.key          the node's PKCS#8 ed25519 private key, 0600
//	node.pem          the member certificate, then the team CA certificate
//	trust/<fp>.pem    one trusted team CA per file, named by its SHA-256 fingerprint (own team included)
//	revocations/<fp>.pem  honoured revocation records ("MESHCOMM REVOCATION" PEM, see EncodeRevocationFile)
//	ca/               only after Bootstrap: the local team CA (same layout as a CA directory)
//
// A CA directory:
//
//	ca.key            the CA's PKCS#8 ed25519 private key, 0600
//	ca.pem            the CA certificate, 0644
//	issued/<serial>.pem  every member certificate issued (no keys), for revocation by serial or fingerprint
//	revoked/<fp>.pem  the revocation records made
//
// An enrolment bundle is one PEM file: the member's private key, its certificate, the CA
// certificate. It carries a private key, so it is written 0600 and handed over on trusted media.
// Every file read is bounded (MaxPEMFileBytes); every write goes through a temporary file and a
// rename, so a crash leaves the old file or the new one.
package identity
