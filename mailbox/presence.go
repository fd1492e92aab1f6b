package mailbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"meshcomm/mesh"
)

// PresenceState is a responder's availability.
type PresenceState string

const (
	Available PresenceState = "available"
	Busy      PresenceState = "busy"
	OnScene   PresenceState = "on-scene"
	OffDuty   PresenceState = "off-duty"
)

// PresenceStates lists the states in the order a UI offers them.
var PresenceStates = []PresenceState{Available, Busy, OnScene, OffDuty}

// Presence limits.
const (
	// MaxPresenceText bounds the free text, in characters.
	MaxPresenceText = 140
	// MaxPresenceValueBytes bounds a presence record value (140 characters of up to 4 bytes,
	// JSON-escaped, fit with room to spare).
	MaxPresenceValueBytes = 2048
	// PresenceVersion is the "v" of the value encoding.
	PresenceVersion = 1
)

// ErrPresence is wrapped by every refusal of a presence value or record.
var ErrPresence = errors.New("presence is malformed")

// ParsePresenceState reads a state as a user types it: case and the separator between words
// ("on scene", "on_scene", "On-Scene") do not matter.
func ParsePresenceState(s string) (PresenceState, error) {
	norm := strings.ToLower(strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '_' || r == '-' }), "-"))
	for _, st := range PresenceStates {
		if norm == string(st) {
			return st, nil
		}
	}
	return "", fmt.Errorf("%w: unknown state %q (want one of available, busy, on-scene, off-duty)", ErrPresence, s)
}

// Presence is the value of a presence record.
type Presence struct {
	State   PresenceState
	Text    string    // free text, at most MaxPresenceText printable characters
	Updated time.Time // when the user set it, millisecond precision
}

// Validate checks what DecodePresence checks.
func (p Presence) Validate() error {
	if !validState(p.State) {
		return fmt.Errorf("%w: unknown state %q", ErrPresence, p.State)
	}
	if !utf8.ValidString(p.Text) {
		return fmt.Errorf("%w: text is not valid UTF-8", ErrPresence)
	}
	if n := utf8.RuneCountInString(p.Text); n > MaxPresenceText {
		return fmt.Errorf("%w: text is %d characters (limit %d)", ErrPresence, n, MaxPresenceText)
	}
	for _, r := range p.Text {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("%w: text holds the unprintable character %U", ErrPresence, r)
		}
	}
	if p.Updated.UnixMilli() <= 0 {
		return fmt.Errorf("%w: update time %v is not after 1970", ErrPresence, p.Updated)
	}
	return nil
}

func validState(s PresenceState) bool {
	for _, st := range PresenceStates {
		if s == st {
			return true
		}
	}
	return false
}

type presenceJSON struct {
	V       int           `json:"v"`
	State   PresenceState `json:"state"`
	Text    string        `json:"text,omitempty"`
	Updated int64         `json:"updated"`
}

// EncodePresence encodes a presence record's value as a JSON object:
//
//	{"v":1,"state":"on-scene","text":"Sector 4, north stairwell","updated":1772366400000}
func EncodePresence(p Presence) ([]byte, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(presenceJSON{V: PresenceVersion, State: p.State, Text: p.Text, Updated: p.Updated.UnixMilli()})
	if err != nil {
		return nil, err
	}
	if len(b) > MaxPresenceValueBytes {
		return nil, fmt.Errorf("%w: value is %d bytes (limit %d)", ErrPresence, len(b), MaxPresenceValueBytes)
	}
	return b, nil
}

// DecodePresence decodes and checks a presence value: at most MaxPresenceValueBytes, one JSON
// object of version 1 with a known state, valid text and a positive update time. Unknown keys
// are ignored (later versions may add some).
func DecodePresence(b []byte) (Presence, error) {
	if len(b) > MaxPresenceValueBytes {
		return Presence{}, fmt.Errorf("%w: value is %d bytes (limit %d)", ErrPresence, len(b), MaxPresenceValueBytes)
	}
	var pj presenceJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&pj); err != nil {
		return Presence{}, fmt.Errorf("%w: %v", ErrPresence, err)
	}
	if dec.More() {
		return Presence{}, fmt.Errorf("%w: data after the JSON object", ErrPresence)
	}
	if pj.V != PresenceVersion {
		return Presence{}, fmt.Errorf("%w: version %d (want %d)", ErrPresence, pj.V, PresenceVersion)
	}
	p := Presence{State: pj.State, Text: pj.Text, Updated: time.UnixMilli(pj.Updated).UTC()}
	if err := p.Validate(); err != nil {
		return Presence{}, err
	}
	return p, nil
}

// NewPresenceRecord builds the record publishing p for s's user: Resource =
// mesh.ResourceIDFor(AoR), Kind = mesh.KindPresence, Key = the node id, Value = EncodePresence(p),
// the given expiry. Its version is p's update time in Unix milliseconds, or after+1 if that is
// not higher than after (the version of the node's previous presence record), so a new record
// always replaces the old one even if the clock stepped back.
func NewPresenceRecord(s mesh.Signer, p Presence, expiry time.Time, after uint64) (*mesh.Record, error) {
	id := s.Identity()
	if err := checkAoR(id.Name); err != nil {
		return nil, fmt.Errorf("%w: signer's address: %v", ErrPresence, err)
	}
	p.Updated = millis(p.Updated)
	value, err := EncodePresence(p)
	if err != nil {
		return nil, err
	}
	if !expiry.After(p.Updated) {
		return nil, fmt.Errorf("%w: expiry %v is not after the update time %v", ErrPresence, expiry, p.Updated)
	}
	version := max(uint64(p.Updated.UnixMilli()), after+1)
	rec := &mesh.Record{
		Resource: mesh.ResourceIDFor(id.Name),
		Kind:     mesh.KindPresence,
		Key:      append([]byte(nil), id.Node[:]...),
		Value:    value,
		Version:  version,
		Expiry:   expiry.UnixMilli(),
	}
	rec.Sign(s)
	return rec, nil
}

// ParsePresenceRecord decodes a live presence record whose signer was verified as signer: the
// record must be of kind presence at the resource of the signer's address, keyed by its node.
func ParsePresenceRecord(rec *mesh.Record, signer mesh.Identity) (Presence, error) {
	if rec.Kind != mesh.KindPresence {
		return Presence{}, fmt.Errorf("%w: record kind is %s, not presence", ErrPresence, rec.Kind)
	}
	if rec.Deleted {
		return Presence{}, fmt.Errorf("%w: record is a deletion", ErrPresence)
	}
	if signer.Name == "" || rec.Resource != mesh.ResourceIDFor(signer.Name) || !bytes.Equal(rec.Key, signer.Node[:]) {
		return Presence{}, fmt.Errorf("%w: record is not the signer's own (resource of its address, key of its node)", ErrPresence)
	}
	return DecodePresence(rec.Value)
}
