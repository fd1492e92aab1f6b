package identity

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on the names a certificate carries.
const (
	MaxExtLen         = 32
	MaxTeamLen        = 63
	MaxDisplayNameLen = 64 // in characters
	MaxRoleLen        = 32
)

// DefaultRole is the role given when none is asked for.
const DefaultRole = "member"

// ErrInvalidName is wrapped by every refusal of an extension, team, display name or role.
var ErrInvalidName = errors.New("invalid name")

// CanonicalExt validates an extension (the user part of the AoR) and returns it in canonical,
// lower-case form: 1 to MaxExtLen ASCII letters and digits.
func CanonicalExt(ext string) (string, error) {
	if ext == "" || len(ext) > MaxExtLen {
		return "", fmt.Errorf("%w: extension must be 1 to %d letters or digits, got %d bytes", ErrInvalidName, MaxExtLen, len(ext))
	}
	for _, c := range ext {
		if !isASCIIAlnum(c) {
			return "", fmt.Errorf("%w: extension %q may hold only letters and digits", ErrInvalidName, ext)
		}
	}
	return strings.ToLower(ext), nil
}

// CanonicalTeam validates a team name (the host part of the AoR) and returns it lower-cased:
// 1 to MaxTeamLen letters, digits and hyphens, starting and ending with a letter or digit, so
// that it is a valid DNS label and a valid SIP host.
func CanonicalTeam(team string) (string, error) {
	if team == "" || len(team) > MaxTeamLen {
		return "", fmt.Errorf("%w: team must be 1 to %d letters, digits or hyphens, got %d bytes", ErrInvalidName, MaxTeamLen, len(team))
	}
	for i, c := range team {
		if isASCIIAlnum(c) || c == '-' && i != 0 && i != len(team)-1 {
			continue
		}
		return "", fmt.Errorf("%w: team %q may hold only letters, digits and inner hyphens", ErrInvalidName, team)
	}
	return strings.ToLower(team), nil
}

// ValidateDisplayName accepts 1 to MaxDisplayNameLen printable UTF-8 characters without
// leading or trailing space.
func ValidateDisplayName(name string) error {
	if !utf8.ValidString(name) {
		return fmt.Errorf("%w: display name is not valid UTF-8", ErrInvalidName)
	}
	n := utf8.RuneCountInString(name)
	if n == 0 || n > MaxDisplayNameLen {
		return fmt.Errorf("%w: display name must be 1 to %d characters, got %d", ErrInvalidName, MaxDisplayNameLen, n)
	}
	if strings.TrimSpace(name) != name {
		return fmt.Errorf("%w: display name %q has leading or trailing space", ErrInvalidName, name)
	}
	for _, c := range name {
		if !unicode.IsPrint(c) {
			return fmt.Errorf("%w: display name %q holds a non-printable character", ErrInvalidName, name)
		}
	}
	return nil
}

// CanonicalRole validates a role ("medic", "incident-commander") and returns it lower-cased:
// 1 to MaxRoleLen letters, digits, hyphens and underscores. The empty role becomes DefaultRole.
func CanonicalRole(role string) (string, error) {
	if role == "" {
		return DefaultRole, nil
	}
	if len(role) > MaxRoleLen {
		return "", fmt.Errorf("%w: role must be at most %d bytes", ErrInvalidName, MaxRoleLen)
	}
	for _, c := range role {
		if !isASCIIAlnum(c) && c != '-' && c != '_' {
			return "", fmt.Errorf("%w: role %q may hold only letters, digits, '-' and '_'", ErrInvalidName, role)
		}
	}
	return strings.ToLower(role), nil
}

func isASCIIAlnum(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// AoR builds the canonical address of record "sip:EXT@TEAM" from canonical parts.
func AoR(ext, team string) string { return "sip:" + ext + "@" + team }

// aorURI is the URI SAN form of an AoR.
func aorURI(ext, team string) *url.URL { return &url.URL{Scheme: "sip", Opaque: ext + "@" + team} }

// ParseAoR splits a canonical "sip:EXT@TEAM" into its parts, refusing anything that is not
// exactly in canonical form.
func ParseAoR(aor string) (ext, team string, err error) {
	rest, ok := strings.CutPrefix(aor, "sip:")
	if !ok {
		return "", "", fmt.Errorf("%w: address %q is not a sip: URI", ErrInvalidName, aor)
	}
	ext, team, ok = strings.Cut(rest, "@")
	if !ok {
		return "", "", fmt.Errorf("%w: address %q has no @team", ErrInvalidName, aor)
	}
	ce, err := CanonicalExt(ext)
	if err != nil {
		return "", "", err
	}
	ct, err := CanonicalTeam(team)
	if err != nil {
		return "", "", err
	}
	if ce != ext || ct != team {
		return "", "", fmt.Errorf("%w: address %q is not in canonical (lower-case) form", ErrInvalidName, aor)
	}
	return ext, team, nil
}

// certAoR returns the one sip: URI SAN of a member certificate, validated.
func certAoR(c *x509.Certificate) (aor, ext, team string, err error) {
	found := 0
	for _, u := range c.URIs {
		if u.Scheme != "sip" {
			continue
		}
		found++
		aor = u.String()
	}
	if found != 1 {
		return "", "", "", fmt.Errorf("%w: certificate must carry exactly one sip: address, has %d", ErrInvalidName, found)
	}
	ext, team, err = ParseAoR(aor)
	return aor, ext, team, err
}

// Fingerprint is the SHA-256 of a certificate's DER encoding. It names CAs in trust lists and
// certificates in revocations.
type Fingerprint [sha256.Size]byte

// FingerprintOf hashes a DER certificate.
func FingerprintOf(der []byte) Fingerprint { return sha256.Sum256(der) }

// String is the 64 lower-case hex digits.
func (f Fingerprint) String() string { return hex.EncodeToString(f[:]) }

// Grouped is the fingerprint in groups of four hex digits, for reading aloud and comparing
// by eye ("3fa9 c1d0 ...").
func (f Fingerprint) Grouped() string {
	s := f.String()
	var b strings.Builder
	for i := 0; i < len(s); i += 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s[i : i+4])
	}
	return b.String()
}

// Short is the first eight hex digits, for compact display only (never for trust decisions).
func (f Fingerprint) Short() string { return f.String()[:8] }

// IsZero reports whether the fingerprint is unset.
func (f Fingerprint) IsZero() bool { return f == Fingerprint{} }

// ParseFingerprint reads a full SHA-256 fingerprint: 64 hex digits, optionally prefixed with
// "sha256:" and separated by spaces or colons, in either case. Shortened fingerprints are
// refused on purpose: trust is never granted on a prefix.
func ParseFingerprint(s string) (Fingerprint, error) {
	s = strings.TrimSpace(s)
	if len(s) > 7 && strings.EqualFold(s[:7], "sha256:") {
		s = s[7:]
	}
	s = strings.NewReplacer(" ", "", ":", "").Replace(s)
	var f Fingerprint
	if len(s) != 2*len(f) {
		return Fingerprint{}, fmt.Errorf("fingerprint must be %d hex digits, got %d", 2*len(f), len(s))
	}
	if _, err := hex.Decode(f[:], []byte(strings.ToLower(s))); err != nil {
		return Fingerprint{}, fmt.Errorf("fingerprint: %v", err)
	}
	return f, nil
}
