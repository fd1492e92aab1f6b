package node

import (
	"bufio"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"
)

// rawControl opens a bare connection to a node's control socket.
func rawControl(t *testing.T, dir string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("unix", ControlPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(wait))
	return c, bufio.NewReader(c)
}

func readResponse(t *testing.T, r *bufio.Reader) Response {
	t.Helper()
	line, err := r.ReadBytes('\n')
	if err != nil {
		t.Fatalf("reading a response: %v", err)
	}
	var resp Response
	if err := json.Unmarshal(line, &resp); err != nil {
		t.Fatalf("response %q: %v", line, err)
	}
	return resp
}

func TestControlRefusesBadRequestsAndKeepsServing(t *testing.T) {
	dirs := newTeam(t, "alpha", 101, 1)
	n := startNode(t, dirs[0])
	c, r := rawControl(t, dirs[0])

	for _, bad := range []string{"not json", `{"method":"reboot"}`, `{"method":"lookup","params":{"target":7}}`} {
		c.Write([]byte(bad + "\n"))
		if resp := readResponse(t, r); resp.OK || resp.Error == "" {
			t.Errorf("request %s: %+v, want an error", bad, resp)
		}
	}
	// The same connection still serves good requests.
	c.Write([]byte(`{"method":"status"}` + "\n"))
	resp := readResponse(t, r)
	var st Status
	if !resp.OK || json.Unmarshal(resp.Result, &st) != nil || st.NodeID != n.ID().String() {
		t.Fatalf("status after bad requests: %+v", resp)
	}
	if st.Counters.ControlRefused != 3 {
		t.Errorf("control_refused = %d, want 3", st.Counters.ControlRefused)
	}

	// A request over the size limit is refused and ends the connection.
	c2, r2 := rawControl(t, dirs[0])
	go c2.Write([]byte(`{"method":"status","params":"` + strings.Repeat("x", MaxControlRequestBytes) + "\"}\n"))
	if resp := readResponse(t, r2); resp.OK || !strings.Contains(resp.Error, "larger than") {
		t.Errorf("oversized request: %+v", resp)
	}
	if _, err := r2.ReadBytes('\n'); err == nil {
		t.Error("the connection stayed open after an oversized request")
	}
}

func TestControlWatchStreamsEvents(t *testing.T) {
	dirs := newTeam(t, "alpha", 101, 2)
	a := startNode(t, dirs[0])
	c, r := rawControl(t, dirs[0])
	c.Write([]byte(`{"method":"watch"}` + "\n"))
	if resp := readResponse(t, r); !resp.OK || string(resp.Result) != `{"watching":true}` {
		t.Fatalf("watch answer: %+v", resp)
	}
	b := startNode(t, dirs[1], a.LocalAddr())
	for {
		resp := readResponse(t, r)
		if !resp.OK || resp.Event == nil {
			t.Fatalf("watch line without an event: %+v", resp)
		}
		if ev := resp.Event; ev.Type == EventPeerUp {
			if ev.Peer != b.ID().String() || ev.AoR != b.Identity().AoR() {
				t.Errorf("peer-up event %+v, want B", ev)
			}
			break
		}
	}
	// A watcher that hangs up is unsubscribed; the node carries on.
	c.Close()
	if _, err := a.Status(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{`{"method":"status"}`, `{"method":"lookup","params":{"target":"101","timeout_ms":5}}`,
		`{"method":"watch"}`, `{"method":"x"}`, `{}`, `[]`, `null`, ``, `{"method":"revoke","params":{"file":"-----BEGIN"}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRequest(b)
		if err == nil && !methods[r.Method] {
			t.Fatalf("accepted unknown method %q", r.Method)
		}
		if err == nil && len(r.Params) > 0 {
			var p LookupParams
			_ = decodeParams(r.Params, &p) // must not panic
		}
	})
}

func FuzzDecodeRegistration(f *testing.F) {
	f.Add([]byte(`{"node_id":"0102030405060708090a0b0c0d0e0f10","aor":"sip:1@a","addr":"192.0.2.1:7070","name":"x"}`))
	f.Add([]byte(`{"node_id":"","aor":""}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRegistration(b)
		if err != nil {
			return
		}
		again, err := EncodeRegistration(r)
		if err != nil {
			t.Fatal(err)
		}
		if r2, err := DecodeRegistration(again); err != nil || r2 != r {
			t.Fatalf("re-encoded registration %s decodes to %+v, %v", again, r2, err)
		}
	})
}
