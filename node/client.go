package node

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"
)

// Client speaks the control protocol to a running node over its control socket. It is not
// safe for concurrent use; open one per goroutine.
type Client struct {
	conn net.Conn
	r    *bufio.Reader
}

// Dial connects to the node running on dataDir. It returns an error wrapping ErrNotRunning
// when no node answers there.
func Dial(dataDir string) (*Client, error) {
	path := ControlPath(dataDir)
	c, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) {
			return nil, fmt.Errorf("%s: %w", dataDir, ErrNotRunning)
		}
		return nil, err
	}
	return &Client{conn: c, r: bufio.NewReaderSize(c, 64<<10)}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Call sends one request and decodes the result into result (which may be nil).
func (c *Client) Call(ctx context.Context, method string, params, result any) error {
	req := Request{Method: method}
	if params != nil {
		b, err := json.Marshal(params)
		if err != nil {
			return err
		}
		req.Params = b
	}
	line, err := json.Marshal(req)
	if err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok {
		c.conn.SetDeadline(dl)
	} else {
		c.conn.SetDeadline(time.Time{})
	}
	stop := context.AfterFunc(ctx, func() { c.conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := c.conn.Write(append(line, '\n')); err != nil {
		return c.ctxErr(ctx, err)
	}
	resp, err := c.read()
	if err != nil {
		return c.ctxErr(ctx, err)
	}
	if !resp.OK {
		return errors.New(resp.Error)
	}
	if result != nil {
		return json.Unmarshal(resp.Result, result)
	}
	return nil
}

func (c *Client) ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// read reads one response line, at most MaxControlResponseBytes.
func (c *Client) read() (Response, error) {
	var buf []byte
	for {
		chunk, err := c.r.ReadSlice('\n')
		buf = append(buf, chunk...)
		if len(buf) > MaxControlResponseBytes {
			return Response{}, fmt.Errorf("response larger than %d bytes", MaxControlResponseBytes)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			return Response{}, err
		}
		break
	}
	var resp Response
	if err := json.Unmarshal(buf, &resp); err != nil {
		return Response{}, fmt.Errorf("bad response from the daemon: %v", err)
	}
	return resp, nil
}

// Status asks for the node's status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var st Status
	err := c.Call(ctx, MethodStatus, nil, &st)
	return st, err
}

// Peers asks for the directly linked peers.
func (c *Client) Peers(ctx context.Context) ([]PeerInfo, error) {
	var ps []PeerInfo
	err := c.Call(ctx, MethodPeers, nil, &ps)
	return ps, err
}

// Lookup resolves a target; the node gives up after timeout (0: DefaultLookupTimeout).
func (c *Client) Lookup(ctx context.Context, target string, timeout time.Duration) (LookupResult, error) {
	var res LookupResult
	err := c.Call(ctx, MethodLookup, LookupParams{Target: target, TimeoutMs: int(timeout.Milliseconds())}, &res)
	return res, err
}

// Records lists the records the node holds, optionally of one kind.
func (c *Client) Records(ctx context.Context, kind string) ([]RecordInfo, error) {
	var rs []RecordInfo
	err := c.Call(ctx, MethodRecords, RecordsParams{Kind: kind}, &rs)
	return rs, err
}

// PublishRevocation hands a revocation file to the node, which honours it and floods it.
func (c *Client) PublishRevocation(ctx context.Context, file []byte) (RevocationResult, error) {
	var res RevocationResult
	err := c.Call(ctx, MethodRevoke, RevokeParams{File: string(file)}, &res)
	return res, err
}

// TrustAdd makes the running node trust a team CA (PEM text).
func (c *Client) TrustAdd(ctx context.Context, pem []byte) (AnchorInfo, error) {
	var a AnchorInfo
	err := c.Call(ctx, MethodTrustAdd, TrustAddParams{PEM: string(pem)}, &a)
	return a, err
}

// Watch subscribes to the node's events; it returns once the node has subscribed, so no event
// after that moment is missed (unless the watcher falls SubscriberBuffer events behind).
// Read them with Next. The client is then used by the watcher only; close either to stop.
func (c *Client) Watch(ctx context.Context) (*Watcher, error) {
	if err := c.Call(ctx, MethodWatch, nil, nil); err != nil {
		return nil, err
	}
	c.conn.SetDeadline(time.Time{})
	stop := context.AfterFunc(ctx, func() { c.conn.SetDeadline(time.Unix(1, 0)) })
	return &Watcher{c: c, ctx: ctx, stop: stop}, nil
}

// Watcher reads a node's events (see Client.Watch).
type Watcher struct {
	c    *Client
	ctx  context.Context
	stop func() bool
}

// Next waits for the next event.
func (w *Watcher) Next() (Event, error) {
	for {
		resp, err := w.c.read()
		if err != nil {
			return Event{}, w.c.ctxErr(w.ctx, err)
		}
		if !resp.OK {
			return Event{}, errors.New(resp.Error)
		}
		if resp.Event != nil {
			return *resp.Event, nil
		}
	}
}

// Close ends the watch and the client's connection.
func (w *Watcher) Close() error {
	w.stop()
	return w.c.Close()
}
