package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/emiago/sipgo/sip"
	"github.com/google/uuid"

	"meshcomm/mesh"
)

// Receipt says what became of a sent message.
type Receipt struct {
	ID        string
	Delivered bool        // a recipient's user agent took it (200 OK)
	Node      mesh.NodeID // the node that took it (or the proxy hop that answered, with Via)
	Status    int         // the best final status received
	RTT       time.Duration
}

// ErrNotDelivered says no recipient took a message; the Receipt says why (its Status).
var ErrNotDelivered = errors.New("sip: message not delivered")

// SendMessage sends a text message with SIP MESSAGE to every binding of an address of record
// at once and returns when one of them has taken it (its 200 OK is the delivery receipt) or
// all have refused or failed. The error wraps ErrNotDelivered (or ErrNotFound) when nobody
// took it, so that the caller can store it for later.
func (ua *UA) SendMessage(ctx context.Context, to, text string, opts ...Option) (Receipt, error) {
	aor, err := ParseAoR(to)
	if err != nil {
		return Receipt{}, err
	}
	o, from, err := ua.options(opts)
	if err != nil {
		return Receipt{}, err
	}
	ctype, body := textPlain, []byte(text)
	if o.contentType != "" {
		ctype, body = o.contentType, o.body
		if _, _, err := mime.ParseMediaType(ctype); err != nil || len(body) > ua.lim.MaxBodyBytes {
			return Receipt{}, fmt.Errorf("sip: a message body must have a content type and at most %d bytes", ua.lim.MaxBodyBytes)
		}
	} else if len(text) > ua.lim.MaxTextBytes || !utf8.ValidString(text) {
		return Receipt{}, fmt.Errorf("sip: message text must be UTF-8 of at most %d bytes", ua.lim.MaxTextBytes)
	}
	rc := Receipt{ID: o.messageID}
	if rc.ID == "" {
		rc.ID = uuid.NewString()
	}
	start := ua.now()
	forks, status, err := ua.forksFor(ctx, aor, o)
	if len(forks) == 0 {
		rc.Status = status
		if errors.Is(err, ErrNotFound) {
			return rc, err
		}
		return rc, fmt.Errorf("%w: %v", ErrNotDelivered, err)
	}
	type result struct {
		node   mesh.NodeID
		status int
		err    error
	}
	results := make(chan result, len(forks))
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, f := range forks {
		wg.Go(func() {
			st, err := ua.sendMessageTo(sctx, f, aor, from, rc.ID, ctype, body)
			results <- result{f.node, st, err}
		})
	}
	for range forks {
		r := <-results
		if r.status == sip.StatusOK {
			cancel()
			rc.Delivered, rc.Node, rc.Status, rc.RTT = true, r.node, r.status, ua.now().Sub(start)
			ua.stats.messagesSent.Add(1)
			return rc, nil
		}
		rc.Status = betterStatus(rc.Status, r.status)
		ua.log.Info("sip: message not taken", slog.String("id", rc.ID), slog.String("node", r.node.Short()),
			slog.Int("status", r.status), slog.String("err", errorText(r.err)))
	}
	return rc, fmt.Errorf("%w: status %d", ErrNotDelivered, rc.Status)
}

// sendMessageTo sends one MESSAGE over one branch and returns its final status.
func (ua *UA) sendMessageTo(ctx context.Context, f *fork, aor, from AoR, id, ctype string, body []byte) (int, error) {
	ruri := contactURI(aor.User, f.node)
	if f.proxied {
		ruri = aorURI(aor)
	}
	req := sip.NewRequest(sip.MESSAGE, ruri)
	fromHdr := &sip.FromHeader{Address: aorURI(from), Params: sip.NewParams()}
	fromHdr.Params.Add("tag", sip.GenerateTagN(16))
	req.AppendHeader(fromHdr)
	req.AppendHeader(&sip.ToHeader{Address: aorURI(aor), Params: sip.NewParams()})
	cid := sip.CallIDHeader(id)
	req.AppendHeader(&cid)
	if f.proxied {
		req.AppendHeader(&sip.RouteHeader{Address: routeURI(f.node)})
	}
	ct := sip.ContentTypeHeader(ctype)
	req.AppendHeader(&ct)
	req.SetBody(body)
	req.SetTransport(overlayTransport)
	var res *sip.Response
	err := ua.sendOver(ctx, f.node, f.contact, func() error {
		var err error
		res, err = ua.cli.Do(ctx, req.Clone())
		return err
	})
	if err != nil {
		return sip.StatusTemporarilyUnavailable, err
	}
	return res.StatusCode, nil
}

// handleMessage delivers an incoming MESSAGE once (by message id) and answers 200 when the
// user has it: that 200 is the sender's receipt.
func (ua *UA) handleMessage(req *sip.Request, tx sip.ServerTransaction, from mesh.NodeID) {
	local, ok := ua.localAoRFor(req)
	if !ok {
		ua.refuse(ReasonUnknownUser, errors.New("MESSAGE's To is not a local address"))
		ua.reply(req, tx, sip.StatusNotFound, "")
		return
	}
	sender, err := aorOfURI(req.From().Address)
	if err != nil {
		ua.refuse(ReasonMalformed, fmt.Errorf("From: %w", err))
		ua.reply(req, tx, sip.StatusBadRequest, "")
		return
	}
	ctype, status, reason, err := ua.checkMessageBody(req)
	if err != nil {
		ua.refuse(reason, err, slog.String("from", sender.String()))
		ua.reply(req, tx, status, "")
		return
	}
	id := callIDOf(req)
	key := sender.String() + "|" + id
	if !ua.seen.claim(key) {
		ua.stats.messageDuplicates.Add(1)
		ua.reply(req, tx, sip.StatusOK, "")
		return
	}
	msg := Message{ID: id, From: sender.String(), To: local.String(), FromNode: from, ContentType: ctype,
		Body: req.Body(), Received: ua.now()}
	if ctype == "text/plain" {
		msg.Text = string(req.Body())
	}
	if ua.cfg.OnMessage != nil {
		if err := ua.cfg.OnMessage(msg); err != nil {
			ua.seen.release(key) // not delivered: a retry may deliver it
			ua.log.Info("sip: message refused by its handler", slog.String("id", id), slog.String("err", err.Error()))
			ua.reply(req, tx, sip.StatusTemporarilyUnavailable, "")
			return
		}
	}
	ua.stats.messagesReceived.Add(1)
	ua.reply(req, tx, sip.StatusOK, "")
}

// textPlain is the content type of text messages.
const textPlain = "text/plain;charset=utf-8"

// checkMessageBody checks a MESSAGE body: plain UTF-8 text within its bound, or a type the
// node accepts (Config.MessageTypes). It returns the media type.
func (ua *UA) checkMessageBody(req *sip.Request) (string, int, string, error) {
	mt := "text/plain"
	if ct := req.ContentType(); ct != nil {
		var err error
		if mt, _, err = mime.ParseMediaType(ct.Value()); err != nil {
			return "", sip.StatusUnsupportedMediaType, ReasonBadContentType, fmt.Errorf("content type %q", ct.Value())
		}
	}
	body := req.Body()
	if mt != "text/plain" {
		if ua.cfg.MessageTypes != nil && !slices.Contains(ua.cfg.MessageTypes, mt) {
			return "", sip.StatusUnsupportedMediaType, ReasonBadContentType, fmt.Errorf("content type %q", mt)
		}
		return mt, 0, "", nil
	}
	if len(body) > ua.lim.MaxTextBytes {
		return "", sip.StatusRequestEntityTooLarge, ReasonTextTooLarge, fmt.Errorf("%d bytes", len(body))
	}
	if !utf8.Valid(body) || strings.ContainsRune(string(body), 0) {
		return "", sip.StatusBadRequest, ReasonMalformed, errors.New("text is not UTF-8")
	}
	return mt, 0, "", nil
}

// seenSet remembers the last ids it was given (first in, first out).
type seenSet struct {
	mu    sync.Mutex
	set   map[string]struct{}
	order []string
	next  int
}

// seenCapacity is how many message ids are remembered for de-duplication.
const seenCapacity = 4096

func newSeenSet(n int) *seenSet {
	return &seenSet{set: make(map[string]struct{}, n), order: make([]string, n)}
}

// claim adds id and reports whether it was new.
func (s *seenSet) claim(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.set[id]; ok {
		return false
	}
	if old := s.order[s.next]; old != "" {
		delete(s.set, old)
	}
	s.order[s.next] = id
	s.next = (s.next + 1) % len(s.order)
	s.set[id] = struct{}{}
	return true
}

// release forgets id (its slot in the order is left to age out).
func (s *seenSet) release(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.set, id)
}
