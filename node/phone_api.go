package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"time"

	"meshcomm/mailbox"
	"meshcomm/mesh"
)

// Control methods of the phone (see doc.go).
const (
	MethodCall          = "call"
	MethodMessage       = "msg"
	MethodMessages      = "messages"
	MethodPresenceSet   = "presence-set"
	MethodPresenceGet   = "presence-get"
	MethodVoicemailPlay = "voicemail-play"
	MethodPresenceList  = "presence-list"
	MethodPresenceWatch = "presence-watch"
)

// PresenceWatchParams are the parameters of "presence-watch".
type PresenceWatchParams struct {
	Targets []string `json:"targets"`
}

// maxCallTime bounds one "call" request (a person's call ends with a hang-up long before).
const maxCallTime = 4 * time.Hour

// MessageParams are the parameters of "msg".
type MessageParams struct {
	Target string `json:"target"`
	Text   string `json:"text"`
}

// MessageResult is the result of "msg": the message's state once its first attempt settled
// (delivered directly, or stored in the overlay for a recipient out of reach).
type MessageResult struct {
	ID    string `json:"id"`
	To    string `json:"to"`
	State string `json:"state"`
}

// MessagesResult is the result of "messages".
type MessagesResult struct {
	Inbox  []InboxMessage  `json:"inbox"`
	Outbox []OutboxMessage `json:"outbox"`
}

// InboxMessage is one received text or voicemail.
type InboxMessage struct {
	Ref        string    `json:"ref"`
	Kind       string    `json:"kind"`
	From       string    `json:"from"`
	SentAt     time.Time `json:"sent_at"`
	ReceivedAt time.Time `json:"received_at"`
	Via        string    `json:"via"`
	Text       string    `json:"text,omitempty"`
	MediaType  string    `json:"media_type,omitempty"`
	AudioBytes int       `json:"audio_bytes,omitempty"`
}

// OutboxMessage is one sent text or voicemail and its state (queued, sent-direct,
// stored-in-overlay, delivered, expired).
type OutboxMessage struct {
	ID          string    `json:"id"`
	Kind        string    `json:"kind"`
	To          string    `json:"to"`
	State       string    `json:"state"`
	SentAt      time.Time `json:"sent_at"`
	DeliveredAt time.Time `json:"delivered_at,omitzero"`
	Text        string    `json:"text,omitempty"`
}

// PresenceParams are the parameters of "presence-set".
type PresenceParams struct {
	State string `json:"state"` // available, busy, on-scene, off-duty
	Text  string `json:"text,omitempty"`
}

// PresenceInfo is a user's presence (the result of "presence-set" and "presence-get").
type PresenceInfo struct {
	AoR     string    `json:"aor"`
	Known   bool      `json:"known"`
	State   string    `json:"state,omitempty"`
	Text    string    `json:"text,omitempty"`
	Updated time.Time `json:"updated,omitzero"`
}

// PresenceGetParams are the parameters of "presence-get".
type PresenceGetParams struct {
	Target string `json:"target"`
}

// VoicemailPlayParams are the parameters of "voicemail-play": the voicemail's ref and the file
// to write its audio to.
type VoicemailPlayParams struct {
	Ref string `json:"ref"`
	Out string `json:"out"`
}

// SendMessage sends a text message; a recipient out of reach gets it from the overlay later.
func (n *Node) SendMessage(ctx context.Context, p MessageParams) (MessageResult, error) {
	aor, err := CanonicalTarget(p.Target, n.id.Team())
	if err != nil {
		return MessageResult{}, err
	}
	sctx, cancel := context.WithTimeout(ctx, directTimeout+2*time.Second)
	defer cancel()
	e, err := n.post.send(sctx, aor, p.Text)
	if err != nil {
		return MessageResult{}, err
	}
	return MessageResult{ID: e.ID.String(), To: aor, State: string(e.State)}, nil
}

// Messages lists this node's received and sent messages.
func (n *Node) Messages(context.Context) (MessagesResult, error) {
	in, out := n.post.lists()
	res := MessagesResult{Inbox: []InboxMessage{}, Outbox: []OutboxMessage{}}
	for _, e := range in {
		m := InboxMessage{Ref: e.Ref.String(), Kind: e.Kind.String(), From: e.From, SentAt: e.SentAt,
			ReceivedAt: e.ReceivedAt, Via: string(e.Via), Text: e.Text}
		if e.Voicemail != nil {
			m.MediaType, m.AudioBytes = e.Voicemail.MediaType, len(e.Voicemail.Audio)
		}
		res.Inbox = append(res.Inbox, m)
	}
	for _, e := range out {
		res.Outbox = append(res.Outbox, OutboxMessage{ID: e.ID.String(), Kind: e.Kind.String(), To: e.To,
			State: string(e.State), SentAt: e.SentAt, DeliveredAt: e.DeliveredAt, Text: e.Text})
	}
	return res, nil
}

// PlayVoicemail writes a received voicemail's audio to a file.
func (n *Node) PlayVoicemail(_ context.Context, p VoicemailPlayParams) (InboxMessage, error) {
	ref, err := mailbox.ParseMessageRef(p.Ref)
	if err != nil {
		return InboxMessage{}, err
	}
	in, _ := n.post.lists()
	for _, e := range in {
		if e.Ref != ref {
			continue
		}
		if e.Voicemail == nil {
			return InboxMessage{}, fmt.Errorf("message %s is not a voicemail", p.Ref)
		}
		if err := os.WriteFile(p.Out, e.Voicemail.Audio, 0o600); err != nil {
			return InboxMessage{}, err
		}
		n.post.markRead(ref)
		return InboxMessage{Ref: p.Ref, Kind: e.Kind.String(), From: e.From, SentAt: e.SentAt, ReceivedAt: e.ReceivedAt,
			Via: string(e.Via), MediaType: e.Voicemail.MediaType, AudioBytes: len(e.Voicemail.Audio)}, nil
	}
	return InboxMessage{}, fmt.Errorf("no voicemail %s", p.Ref)
}

// SetPresence publishes this user's presence at the responsible peers (refreshed by the core
// like the registration).
func (n *Node) SetPresence(ctx context.Context, p PresenceParams) (PresenceInfo, error) {
	state, err := mailbox.ParsePresenceState(p.State)
	if err != nil {
		return PresenceInfo{}, err
	}
	pr := mailbox.Presence{State: state, Text: p.Text, Updated: n.now()}
	if err := pr.Validate(); err != nil {
		return PresenceInfo{}, err
	}
	value, err := mailbox.EncodePresence(pr)
	if err != nil {
		return PresenceInfo{}, err
	}
	err = n.onLoop(ctx, func(now time.Time) {
		_, err = n.core.Publish(now, mesh.KindPresence, mesh.ResourceIDFor(n.id.AoR()), n.self.ID[:], value, RegistrationTTL)
	})
	if err != nil {
		return PresenceInfo{}, err
	}
	n.presence.Store(&pr)
	n.bus.Publish(Event{Time: n.now(), Type: EventPresence, Detail: fmt.Sprintf("%s is %s %s", n.id.AoR(), state, p.Text)})
	return PresenceInfo{AoR: n.id.AoR(), Known: true, State: string(state), Text: pr.Text, Updated: pr.Updated}, nil
}

// GetPresence looks up a user's presence in the overlay (the newest of its nodes' records).
func (n *Node) GetPresence(ctx context.Context, target string) (PresenceInfo, error) {
	aor, err := CanonicalTarget(target, n.id.Team())
	if err != nil {
		return PresenceInfo{}, err
	}
	done, err := n.lookupKind(ctx, mesh.ResourceIDFor(aor), mesh.KindPresence)
	if err != nil {
		return PresenceInfo{}, err
	}
	out := PresenceInfo{AoR: aor}
	for _, r := range done.Records {
		if r.Deleted || r.Expired(n.now().UnixMilli()) {
			continue
		}
		pr, err := mailbox.DecodePresence(r.Value)
		if err != nil {
			continue
		}
		if !out.Known || pr.Updated.After(out.Updated) {
			out = PresenceInfo{AoR: aor, Known: true, State: string(pr.State), Text: pr.Text, Updated: pr.Updated}
		}
	}
	return out, nil
}

// phoneCall runs the phone's control methods; handled is false for other methods.
func (s *controlServer) phoneCall(req Request) (result any, err error, handled bool) {
	ctx, cancel := context.WithTimeout(s.ctx, callTimeout)
	defer cancel()
	switch req.Method {
	case MethodCall:
		var p CallParams
		if err = s.params(req.Params, &p); err == nil {
			cctx, ccancel := context.WithTimeout(s.ctx, maxCallTime)
			result, err = s.n.Call(cctx, p)
			ccancel()
		}
	case MethodMessage:
		var p MessageParams
		if err = s.params(req.Params, &p); err == nil {
			result, err = s.n.SendMessage(ctx, p)
		}
	case MethodMessages:
		result, err = s.n.Messages(ctx)
	case MethodPresenceSet:
		var p PresenceParams
		if err = s.params(req.Params, &p); err == nil {
			result, err = s.n.SetPresence(ctx, p)
		}
	case MethodPresenceGet:
		var p PresenceGetParams
		if err = s.params(req.Params, &p); err == nil {
			result, err = s.n.GetPresence(ctx, p.Target)
		}
	case MethodPresenceList:
		result, err = s.n.Roster(ctx)
	case MethodPresenceWatch:
		var p PresenceWatchParams
		if err = s.params(req.Params, &p); err == nil {
			result, err = s.n.WatchPresence(ctx, p.Targets)
		}
	case MethodVoicemailPlay:
		var p VoicemailPlayParams
		if err = s.params(req.Params, &p); err == nil {
			result, err = s.n.PlayVoicemail(ctx, p)
		}
	default:
		return nil, nil, false
	}
	return result, err, true
}

// newCallID draws a Call-ID for an outgoing call.
func newCallID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// readFileBounded reads a whole file of at most limit bytes.
func readFileBounded(path string, limit int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(b) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return b, nil
}
