package node

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"meshcomm/identity"
)

// Control methods (see doc.go for their parameters and results).
const (
	MethodStatus   = "status"
	MethodPeers    = "peers"
	MethodLookup   = "lookup"
	MethodRecords  = "records"
	MethodRevoke   = "revoke"
	MethodTrustAdd = "trust-add"
	MethodWatch    = "watch"
)

// Request is one control request: a JSON object on one line.
type Request struct {
	Method string          `json:"method"`
	Params json.RawMessage `json:"params,omitempty"`
}

// Response is one control response line. A watch answers with one Response holding
// {"watching":true}, then one Response per event (Event set) until the client hangs up.
type Response struct {
	OK     bool            `json:"ok"`
	Error  string          `json:"error,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
	Event  *Event          `json:"event,omitempty"`
}

// LookupParams are the parameters of "lookup".
type LookupParams struct {
	Target    string `json:"target"`               // "101" or "sip:101@team"
	TimeoutMs int    `json:"timeout_ms,omitempty"` // default DefaultLookupTimeout, at most maxLookupTimeout
}

// RecordsParams are the parameters of "records".
type RecordsParams struct {
	Kind string `json:"kind,omitempty"` // "registration", "node", ...; empty for all
}

// RevokeParams are the parameters of "revoke": the revocation file's text.
type RevokeParams struct {
	File string `json:"file"`
}

// TrustAddParams are the parameters of "trust-add": the CA certificate's PEM text.
type TrustAddParams struct {
	PEM string `json:"pem"`
}

// AnchorInfo is the result of "trust-add".
type AnchorInfo struct {
	Team        string    `json:"team"`
	Fingerprint string    `json:"fingerprint"`
	NotAfter    time.Time `json:"not_after"`
	Own         bool      `json:"own"`
}

const (
	maxLookupTimeout = time.Minute
	callTimeout      = 10 * time.Second // every method but lookup and watch
	connIdleTimeout  = 5 * time.Minute  // a control connection silent this long is closed
	writeTimeout     = 10 * time.Second
	maxSocketPath    = 104 // sun_path is 108 bytes on Linux, 104 on the BSDs
)

var methods = map[string]bool{MethodStatus: true, MethodPeers: true, MethodLookup: true, MethodRecords: true,
	MethodRevoke: true, MethodTrustAdd: true, MethodWatch: true, MethodCall: true, MethodMessage: true,
	MethodMessages: true, MethodPresenceSet: true, MethodPresenceGet: true, MethodVoicemailPlay: true,
	MethodPresenceList: true, MethodPresenceWatch: true}

// DecodeRequest parses one request line (at most MaxControlRequestBytes) and checks its method.
func DecodeRequest(line []byte) (Request, error) {
	var r Request
	if len(line) > MaxControlRequestBytes {
		return r, fmt.Errorf("request larger than %d bytes", MaxControlRequestBytes)
	}
	if err := json.Unmarshal(line, &r); err != nil {
		return Request{}, fmt.Errorf("request is not a JSON object: %v", err)
	}
	if !methods[r.Method] {
		return Request{}, fmt.Errorf("unknown method %q", r.Method)
	}
	return r, nil
}

// controlServer serves the control socket: one goroutine per connection, requests answered
// in order, one response line each.
type controlServer struct {
	n      *Node
	ln     net.Listener
	path   string
	ctx    context.Context // cancelled by close: ends lookups and watches in progress
	cancel context.CancelFunc
	sem    chan struct{}

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

func listenControl(n *Node) (*controlServer, error) {
	path := ControlPath(n.cfg.DataDir)
	if len(path) >= maxSocketPath {
		return nil, fmt.Errorf("control socket path %s is longer than %d bytes: use a shorter data directory", path, maxSocketPath-1)
	}
	// The database lock is ours, so a socket file left here is a crashed daemon's.
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	s := &controlServer{n: n, ln: ln, path: path, sem: make(chan struct{}, MaxControlConns), conns: map[net.Conn]struct{}{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

func (s *controlServer) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		select {
		case s.sem <- struct{}{}:
		default:
			s.n.stat.controlRefused.Add(1)
			writeResponse(c, Response{Error: fmt.Sprintf("too many control connections (%d)", MaxControlConns)})
			c.Close()
			continue
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serve(c)
	}
}

func (s *controlServer) serve(c net.Conn) {
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
		<-s.sem
		s.wg.Done()
	}()
	r := bufio.NewReaderSize(c, MaxControlRequestBytes)
	for {
		c.SetReadDeadline(time.Now().Add(connIdleTimeout))
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			s.refuse(c, fmt.Errorf("request larger than %d bytes", MaxControlRequestBytes))
			return
		}
		if err != nil {
			if len(line) > 0 && !errors.Is(err, io.EOF) {
				s.n.log.Debug("node: control connection", "err", err)
			}
			return
		}
		req, err := DecodeRequest(line)
		if err != nil {
			s.refuse(c, err)
			continue
		}
		if req.Method == MethodWatch {
			s.watch(c, r)
			return
		}
		if !writeResponse(c, s.call(req)) {
			return
		}
	}
}

func (s *controlServer) refuse(c net.Conn, err error) {
	s.n.stat.controlRefused.Add(1)
	s.n.log.Warn("node: control request refused", "err", err)
	writeResponse(c, Response{Error: err.Error()})
}

// call runs one request.
func (s *controlServer) call(req Request) Response {
	ctx, cancel := context.WithTimeout(s.ctx, callTimeout)
	defer cancel()
	result, err, handled := s.phoneCall(req)
	if handled {
		req.Method = "" // done above
	}
	switch req.Method {
	case "":
	case MethodStatus:
		result, err = s.n.Status(ctx)
	case MethodPeers:
		result, err = s.n.Peers(ctx)
	case MethodLookup:
		var p LookupParams
		if err = s.params(req.Params, &p); err == nil {
			timeout := DefaultLookupTimeout
			if p.TimeoutMs > 0 {
				timeout = min(time.Duration(p.TimeoutMs)*time.Millisecond, maxLookupTimeout)
			}
			lctx, lcancel := context.WithTimeout(s.ctx, timeout)
			result, err = s.n.Lookup(lctx, p.Target)
			lcancel()
		}
	case MethodRecords:
		var p RecordsParams
		if err = s.params(req.Params, &p); err == nil {
			result, err = s.n.Records(ctx, p.Kind)
		}
	case MethodRevoke:
		var p RevokeParams
		if err = s.params(req.Params, &p); err == nil {
			result, err = s.n.PublishRevocation(ctx, []byte(p.File))
		}
	case MethodTrustAdd:
		var p TrustAddParams
		if err = s.params(req.Params, &p); err == nil {
			var a identity.Anchor
			if a, err = s.n.TrustCA(ctx, []byte(p.PEM)); err == nil {
				result = AnchorInfo{Team: a.Team, Fingerprint: a.Fingerprint.String(), NotAfter: a.NotAfter, Own: a.Own}
			}
		}
	}
	if err != nil {
		return Response{Error: err.Error()}
	}
	b, err := json.Marshal(result)
	if err != nil {
		return Response{Error: err.Error()}
	}
	return Response{OK: true, Result: b}
}

// params decodes a request's parameters; malformed ones are counted as a refused request.
func (s *controlServer) params(raw json.RawMessage, v any) error {
	err := decodeParams(raw, v)
	if err != nil {
		s.n.stat.controlRefused.Add(1)
	}
	return err
}

func decodeParams(raw json.RawMessage, v any) error {
	if len(raw) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("bad params: %v", err)
	}
	return nil
}

// watch streams events to the client until it hangs up or the server closes.
func (s *controlServer) watch(c net.Conn, r *bufio.Reader) {
	sub := s.n.Subscribe(SubscriberBuffer)
	defer sub.Close()
	if !writeResponse(c, Response{OK: true, Result: json.RawMessage(`{"watching":true}`)}) {
		return
	}
	gone := make(chan struct{})
	go func() { // the client sends nothing more; a read returns when it hangs up
		c.SetReadDeadline(time.Time{})
		io.Copy(io.Discard, r)
		close(gone)
	}()
	for {
		select {
		case ev, ok := <-sub.C:
			if !ok || !writeResponse(c, Response{OK: true, Event: &ev}) {
				return
			}
		case <-gone:
			return
		case <-s.ctx.Done():
			return
		}
	}
}

func writeResponse(c net.Conn, resp Response) bool {
	b, err := json.Marshal(resp)
	if err != nil {
		return false
	}
	c.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err = c.Write(append(b, '\n'))
	return err == nil
}

// close stops accepting, ends every connection and removes the socket file.
func (s *controlServer) close() {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.cancel()
	s.ln.Close()
	s.wg.Wait()
}
