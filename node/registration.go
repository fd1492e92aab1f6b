package node

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"meshcomm/identity"
	"meshcomm/mesh"
)

// Registration is the value of a registration record (Kind mesh.KindRegistration at
// mesh.ResourceIDFor(AoR), Key = the node id's 16 bytes), encoded as a JSON object:
//
//	{"node_id":"<32 hex digits>","aor":"sip:101@team","addr":"192.0.2.7:7070","name":"Medic 1","role":"medic"}
//
// Addr is the node's advertised QUIC address, Name its display name. Unknown keys are ignored
// (later versions may add some).
type Registration struct {
	NodeID string `json:"node_id"`
	AoR    string `json:"aor"`
	Addr   string `json:"addr"`
	Name   string `json:"name,omitempty"`
	Role   string `json:"role,omitempty"`
}

var errRegistration = errors.New("registration value is malformed")

// EncodeRegistration encodes a registration record's value.
func EncodeRegistration(r Registration) ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	if len(b) > mesh.MaxValueBytes {
		return nil, fmt.Errorf("%w: %d bytes", errRegistration, len(b))
	}
	return b, nil
}

// DecodeRegistration decodes and checks a registration record's value: at most
// mesh.MaxValueBytes, a JSON object with a 32-hex-digit node id and a sip: AoR.
func DecodeRegistration(b []byte) (Registration, error) {
	var r Registration
	if len(b) > mesh.MaxValueBytes {
		return r, fmt.Errorf("%w: %d bytes", errRegistration, len(b))
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return Registration{}, fmt.Errorf("%w: %v", errRegistration, err)
	}
	if _, err := parseNodeID(r.NodeID); err != nil {
		return Registration{}, fmt.Errorf("%w: %v", errRegistration, err)
	}
	if !strings.HasPrefix(r.AoR, "sip:") {
		return Registration{}, fmt.Errorf("%w: aor %q is not a sip: URI", errRegistration, r.AoR)
	}
	return r, nil
}

func parseNodeID(s string) (mesh.NodeID, error) {
	var id mesh.NodeID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != mesh.IDBytes {
		return id, fmt.Errorf("node id %q is not %d hex digits", s, 2*mesh.IDBytes)
	}
	copy(id[:], b)
	return id, nil
}

// CanonicalTarget turns what a user typed into a canonical AoR: a bare extension ("101") is
// in the node's own team; a sip: URI ("sip:101@Team-B") is lower-cased and checked.
func CanonicalTarget(target, ownTeam string) (string, error) {
	if rest, ok := strings.CutPrefix(strings.ToLower(target), "sip:"); ok {
		ext, team, found := strings.Cut(rest, "@")
		if !found {
			return "", fmt.Errorf("address %q has no @team", target)
		}
		ce, err := identity.CanonicalExt(ext)
		if err != nil {
			return "", err
		}
		ct, err := identity.CanonicalTeam(team)
		if err != nil {
			return "", err
		}
		return identity.AoR(ce, ct), nil
	}
	ext, err := identity.CanonicalExt(target)
	if err != nil {
		return "", err
	}
	return identity.AoR(ext, ownTeam), nil
}
