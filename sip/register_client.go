package sip

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"meshcomm/mesh"
)

// RegisterOptions say what a registration advertises.
type RegisterOptions struct {
	AoR  string // the address to register (default the first local one)
	Addr string // this node's QUIC address, advertised in the record's value
	Name string // display name
	Role string
	// TTL is the registration's lifetime; it is refreshed when a third of it is left.
	// Default 1 h.
	TTL time.Duration
}

// DefaultRegistrationTTL is the lifetime of a registration made with Register.
const DefaultRegistrationTTL = time.Hour

// Registration is this node's registration of one address at a registrar node, kept fresh
// until Unregister (or UA.Close).
type Registration struct {
	ua        *UA
	registrar mesh.Contact
	aor       AoR
	opts      RegisterOptions

	mu        sync.Mutex
	version   uint64
	expires   time.Time
	refreshes int
	lastErr   error
	stop      chan struct{}
	stopped   bool
	done      chan struct{}
}

// Register sends a REGISTER carrying a registration record signed by Config.Signer to a
// registrar node, then refreshes it before it expires. It returns once the first REGISTER has
// been accepted.
func (ua *UA) Register(ctx context.Context, registrar mesh.Contact, o RegisterOptions) (*Registration, error) {
	if ua.cfg.Signer == nil {
		return nil, errors.New("sip: Register needs Config.Signer")
	}
	aor := ua.aors[0]
	if o.AoR != "" {
		a, err := ParseAoR(o.AoR)
		if err != nil || !ua.isLocalAoR(a) {
			return nil, fmt.Errorf("sip: %q is not a local address of record", o.AoR)
		}
		aor = a
	}
	if o.TTL <= 0 {
		o.TTL = DefaultRegistrationTTL
	}
	r := &Registration{ua: ua, registrar: registrar, aor: aor, opts: o, stop: make(chan struct{}), done: make(chan struct{})}
	if err := r.send(ctx, false); err != nil {
		return nil, err
	}
	ua.mu.Lock()
	ua.regs[r] = struct{}{}
	ua.mu.Unlock()
	if !ua.goBackground(r.refreshLoop) {
		close(r.done)
		return nil, errors.New("sip: user agent closed")
	}
	return r, nil
}

// Expires is when the registration runs out unless refreshed.
func (r *Registration) Expires() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.expires
}

// Refreshes counts the refreshes that were accepted.
func (r *Registration) Refreshes() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.refreshes
}

// Err is the last refresh's error, nil if it succeeded.
func (r *Registration) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastErr
}

// refreshRetry is how soon a failed refresh is tried again.
const refreshRetry = 5 * time.Second

func (r *Registration) refreshLoop() {
	defer close(r.done)
	for {
		r.mu.Lock()
		wait := r.expires.Add(-r.opts.TTL / 3).Sub(r.ua.now())
		if r.lastErr != nil {
			wait = min(wait, refreshRetry)
		}
		r.mu.Unlock()
		t := time.NewTimer(max(wait, 0))
		select {
		case <-t.C:
		case <-r.stop:
			t.Stop()
			return
		case <-r.ua.ctx.Done():
			t.Stop()
			return
		}
		ctx, cancel := context.WithTimeout(r.ua.ctx, dialTimeout)
		err := r.send(ctx, false)
		cancel()
		r.mu.Lock()
		r.lastErr = err
		if err == nil {
			r.refreshes++
		}
		r.mu.Unlock()
		if err != nil {
			r.ua.log.Warn("sip: registration refresh failed", slog.String("aor", r.aor.String()), slog.String("err", err.Error()))
		}
	}
}

// Unregister stops refreshing and removes the registration (REGISTER with Expires: 0 and a
// deleted record, which supersedes the live one everywhere).
func (r *Registration) Unregister(ctx context.Context) error {
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		return nil
	}
	r.stopped = true
	close(r.stop)
	r.mu.Unlock()
	<-r.done
	r.ua.mu.Lock()
	delete(r.ua.regs, r)
	r.ua.mu.Unlock()
	return r.send(ctx, true)
}

// send builds, signs and sends one REGISTER.
func (r *Registration) send(ctx context.Context, deleted bool) error {
	ua := r.ua
	now := ua.now()
	val, err := json.Marshal(RegistrationValue{NodeID: ua.local.String(), AoR: r.aor.String(), Addr: r.opts.Addr,
		Name: r.opts.Name, Role: r.opts.Role})
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.version = max(r.version+1, uint64(now.UnixMilli()))
	rec := mesh.Record{
		Resource: mesh.ResourceIDFor(r.aor.String()),
		Kind:     mesh.KindRegistration,
		Key:      append([]byte(nil), ua.local[:]...),
		Value:    val,
		Version:  r.version,
		Expiry:   now.Add(r.opts.TTL).UnixMilli(),
		Deleted:  deleted,
	}
	r.mu.Unlock()
	rec.Sign(ua.cfg.Signer)
	body, err := mesh.EncodeRecord(&rec)
	if err != nil {
		return fmt.Errorf("sip: registration record: %w", err)
	}
	req := sip.NewRequest(sip.REGISTER, contactURI("", r.registrar.ID))
	from := &sip.FromHeader{Address: aorURI(r.aor), Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: aorURI(r.aor), Params: sip.NewParams()})
	contact := ua.contactHeader(r.aor)
	req.AppendHeader(&contact)
	secs := sip.ExpiresHeader(uint32(r.opts.TTL / time.Second))
	if deleted {
		secs = 0
	}
	req.AppendHeader(&secs)
	ct := sip.ContentTypeHeader(ContentTypeRecord)
	req.AppendHeader(&ct)
	req.SetBody(body)
	req.SetTransport(overlayTransport)
	var res *sip.Response
	err = ua.sendOver(ctx, r.registrar.ID, r.registrar, func() error {
		var err error
		res, err = ua.cli.Do(ctx, req.Clone())
		return err
	})
	if err != nil {
		return fmt.Errorf("sip: REGISTER: %w", err)
	}
	if res.StatusCode != sip.StatusOK {
		return fmt.Errorf("sip: REGISTER refused: %s", res.StartLine())
	}
	if !deleted {
		r.mu.Lock()
		r.expires = now.Add(r.opts.TTL)
		r.mu.Unlock()
	}
	return nil
}
