package sip

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"strconv"
	"time"

	"github.com/emiago/sipgo/sip"

	"meshcomm/mesh"
)

// ContentTypeRecord is the body type of a REGISTER: one signed mesh.Record in the mesh codec's
// single-record encoding (mesh.EncodeRecord).
const ContentTypeRecord = "application/meshcomm-record"

// RegistrarConfig makes a user agent accept REGISTER requests.
type RegistrarConfig struct {
	// Verifier authenticates record signers (identity's Verifier in the node).
	Verifier mesh.Verifier
	// Store hands an accepted record to the overlay (the node Offers it to its core).
	Store func(ctx context.Context, rec *mesh.Record) error
	// MaxExpiry caps how far ahead a registration may expire. Default 2 h.
	MaxExpiry time.Duration
}

// DefaultMaxExpiry caps the lifetime of a registration accepted by a registrar.
const DefaultMaxExpiry = 2 * time.Hour

// RegistrationValue is the value of a registration record, JSON-encoded; it is the format
// the node publishes for its own address (node.Registration):
//
//	{"node_id":"<32 hex digits>","aor":"sip:101@team","addr":"192.0.2.7:7070","name":"Medic 1","role":"medic"}
type RegistrationValue struct {
	NodeID string `json:"node_id"`
	AoR    string `json:"aor"`
	Addr   string `json:"addr"`
	Name   string `json:"name,omitempty"`
	Role   string `json:"role,omitempty"`
}

// errRegister is the family of REGISTER refusals; each carries its status and reason.
type registerError struct {
	status int
	reason string
	err    error
}

func (e *registerError) Error() string { return e.reason + ": " + e.err.Error() }

func refusedRegister(status int, reason string, format string, a ...any) *registerError {
	return &registerError{status: status, reason: reason, err: fmt.Errorf(format, a...)}
}

// checkRegister validates a REGISTER's signed record against the request and the node that
// sent it (over an authenticated stream): the record must be a registration record under the
// To address, signed by the sending node for an address it owns (USER-MATCH), with a value
// naming that node and address, and an Expires that agrees with the record.
func checkRegister(req *sip.Request, sender mesh.NodeID, v mesh.Verifier, now time.Time, maxExpiry time.Duration) (*mesh.Record, time.Duration, *registerError) {
	to := req.To()
	if to == nil {
		return nil, 0, refusedRegister(400, ReasonMalformed, "no To")
	}
	aor, err := aorOfURI(to.Address)
	if err != nil {
		return nil, 0, refusedRegister(400, ReasonMalformed, "To: %v", err)
	}
	ct := req.ContentType()
	if ct == nil {
		return nil, 0, refusedRegister(415, ReasonBadContentType, "no Content-Type")
	}
	if mt, _, err := mime.ParseMediaType(ct.Value()); err != nil || mt != ContentTypeRecord {
		return nil, 0, refusedRegister(415, ReasonBadContentType, "Content-Type %q", ct.Value())
	}
	rec, err := mesh.DecodeRecord(req.Body())
	if err != nil {
		return nil, 0, refusedRegister(400, ReasonBadRecord, "record: %v", err)
	}
	if rec.Kind != mesh.KindRegistration {
		return nil, 0, refusedRegister(400, ReasonBadRecord, "record kind %s", rec.Kind)
	}
	if rec.Resource != mesh.ResourceIDFor(aor.String()) {
		return nil, 0, refusedRegister(403, ReasonNotOwner, "record is not under %s", aor)
	}
	id, err := mesh.VerifyRecord(v, &rec)
	switch {
	case errors.Is(err, mesh.ErrNotOwner):
		return nil, 0, refusedRegister(403, ReasonNotOwner, "%s may not register %s", id.Name, aor)
	case errors.Is(err, mesh.ErrMalformed):
		return nil, 0, refusedRegister(400, ReasonBadRecord, "%v", err)
	case err != nil:
		return nil, 0, refusedRegister(403, ReasonBadSignature, "%v", err)
	}
	if id.Node != sender {
		return nil, 0, refusedRegister(403, ReasonSignerMismatch, "record signed by %s, sent by %s", id.Node.Short(), sender.Short())
	}
	nowMs := now.UnixMilli()
	if rec.Expired(nowMs) {
		return nil, 0, refusedRegister(400, ReasonBadRecord, "record expired")
	}
	if time.Duration(rec.Expiry-nowMs)*time.Millisecond > maxExpiry {
		return nil, 0, refusedRegister(400, ReasonBadRecord, "record expires more than %v ahead", maxExpiry)
	}
	if !rec.Deleted {
		var val RegistrationValue
		if err := json.Unmarshal(rec.Value, &val); err != nil {
			return nil, 0, refusedRegister(400, ReasonBadRecord, "value: %v", err)
		}
		if val.NodeID != hex.EncodeToString(sender[:]) || val.AoR != aor.String() {
			return nil, 0, refusedRegister(403, ReasonNotOwner, "value names %s at %s", val.AoR, val.NodeID)
		}
	}
	expires := time.Duration(rec.Expiry-nowMs) * time.Millisecond
	if h := req.GetHeader("Expires"); h != nil {
		n, err := strconv.ParseUint(h.Value(), 10, 32)
		if err != nil {
			return nil, 0, refusedRegister(400, ReasonMalformed, "Expires %q", h.Value())
		}
		if (n == 0) != rec.Deleted {
			return nil, 0, refusedRegister(400, ReasonBadRecord, "Expires %d disagrees with the record (deleted=%v)", n, rec.Deleted)
		}
	}
	if rec.Deleted {
		expires = 0
	}
	return &rec, expires, nil
}

// handleRegister serves a REGISTER: check, store, 200 with Expires and Contact.
func (ua *UA) handleRegister(req *sip.Request, tx sip.ServerTransaction, from mesh.NodeID) {
	rc := ua.cfg.Registrar
	if rc == nil {
		ua.reply(req, tx, 405, "Method Not Allowed")
		return
	}
	maxExp := rc.MaxExpiry
	if maxExp <= 0 {
		maxExp = DefaultMaxExpiry
	}
	rec, expires, rerr := checkRegister(req, from, rc.Verifier, ua.now(), maxExp)
	if rerr != nil {
		ua.refuse(rerr.reason, rerr.err, slog.String("peer", from.Short()))
		ua.reply(req, tx, rerr.status, "")
		return
	}
	ctx, cancel := context.WithTimeout(ua.ctx, dialTimeout)
	defer cancel()
	if err := rc.Store(ctx, rec); err != nil {
		ua.refuse(ReasonStoreFailed, err, slog.String("peer", from.Short()))
		ua.reply(req, tx, 500, "")
		return
	}
	ua.stats.registersAccepted.Add(1)
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	secs := sip.ExpiresHeader(uint32(expires / time.Second))
	res.AppendHeader(&secs)
	if c := req.Contact(); c != nil && !rec.Deleted {
		res.AppendHeader(sip.HeaderClone(c))
	}
	ua.respond(tx, res)
}
