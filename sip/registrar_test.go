package sip

import (
	"encoding/json"
	"testing"
	"testing/synctest"
	"time"

	"github.com/emiago/sipgo/sip"

	"meshcomm/mesh"
)

// registration builds a registration record for aor on node, signed by signer.
func registration(node mesh.NodeID, aor string, signer mesh.Signer, ttl time.Duration, deleted bool) *mesh.Record {
	val, _ := json.Marshal(RegistrationValue{NodeID: node.String(), AoR: aor, Addr: "10.0.0.1:7070"})
	rec := &mesh.Record{
		Resource: mesh.ResourceIDFor(aor), Kind: mesh.KindRegistration, Key: node[:], Value: val,
		Version: uint64(time.Now().UnixMilli()), Expiry: time.Now().Add(ttl).UnixMilli(), Deleted: deleted,
	}
	rec.Sign(signer)
	return rec
}

// register sends a hand-made REGISTER from n to registrar r and returns the status.
func (n *testNode) register(t *testing.T, r *testNode, to string, body []byte, expires int) int {
	t.Helper()
	aor, err := ParseAoR(to)
	if err != nil {
		t.Fatal(err)
	}
	req := sip.NewRequest(sip.REGISTER, contactURI("", r.id()))
	from := &sip.FromHeader{Address: aorURI(aor), Params: sip.NewParams()}
	from.Params.Add("tag", "x")
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: aorURI(aor), Params: sip.NewParams()})
	exp := sip.ExpiresHeader(uint32(expires))
	req.AppendHeader(&exp)
	ct := sip.ContentTypeHeader(ContentTypeRecord)
	req.AppendHeader(&ct)
	req.SetBody(body)
	req.SetTransport(overlayTransport)
	var res *sip.Response
	err = n.ua.sendOver(ctxFor(t), r.id(), r.contact(), func() error {
		var err error
		res, err = n.ua.cli.Do(ctxFor(t), req.Clone())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode
}

func encode(t *testing.T, r *mesh.Record) []byte {
	b, err := mesh.EncodeRecord(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRegisterRefreshesAndUnregisters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMesh(t)
		a, r := m.node("101", nil), m.node("150", nil)
		start := time.Now()
		reg, err := a.ua.Register(ctxFor(t), r.contact(), RegisterOptions{Addr: "10.0.0.1:7070", Name: "Medic 1", TTL: 30 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		first := <-r.stored
		var val RegistrationValue
		if err := json.Unmarshal(first.Value, &val); err != nil || val.AoR != a.aor || val.NodeID != a.id().String() || val.Name != "Medic 1" {
			t.Fatalf("stored value %s (%v)", first.Value, err)
		}
		if first.Deleted || first.Resource != mesh.ResourceIDFor(a.aor) || !reg.Expires().Equal(start.Add(30*time.Minute)) {
			t.Fatalf("stored %+v, expires %v", first, reg.Expires())
		}
		// A third of the lifetime before expiry, it is refreshed with a newer version.
		second := <-r.stored
		if at := time.Since(start); at != 20*time.Minute {
			t.Fatalf("refreshed after %v, want 20m", at)
		}
		synctest.Wait() // the client has had the 200
		if second.Version <= first.Version || second.Expiry <= first.Expiry || reg.Refreshes() != 1 || reg.Err() != nil {
			t.Fatalf("refresh %+v after %+v", second, first)
		}
		if err := reg.Unregister(ctxFor(t)); err != nil {
			t.Fatal(err)
		}
		gone := <-r.stored
		if !gone.Deleted || gone.Version <= second.Version {
			t.Fatalf("unregister stored %+v", gone)
		}
		if st := r.ua.Stats(); st.RegistersAccepted != 3 {
			t.Fatalf("%+v", st)
		}
	})
}

func TestCloseUnregisters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMesh(t)
		a, r := m.node("101", nil), m.node("150", nil)
		if _, err := a.ua.Register(ctxFor(t), r.contact(), RegisterOptions{}); err != nil {
			t.Fatal(err)
		}
		<-r.stored
		a.ua.Close()
		if rec := <-r.stored; !rec.Deleted {
			t.Fatalf("%+v", rec)
		}
	})
}

func TestRegisterRefusals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMesh(t)
		a, b, r := m.node("101", nil), m.node("102", nil), m.node("150", nil)
		hour := time.Hour
		cases := []struct {
			name   string
			from   *testNode
			to     string
			body   []byte
			exp    int
			status int
			reason string
		}{
			{"accepted", a, a.aor, encode(t, registration(a.id(), a.aor, a.signer, hour, false)), 3600, 200, ""},
			{"someone else's address", a, b.aor, encode(t, registration(a.id(), b.aor, a.signer, hour, false)), 3600, 403, ReasonNotOwner},
			{"To disagrees with the record", a, b.aor, encode(t, registration(a.id(), a.aor, a.signer, hour, false)), 3600, 403, ReasonNotOwner},
			{"signed by another node", a, b.aor, encode(t, registration(b.id(), b.aor, b.signer, hour, false)), 3600, 403, ReasonSignerMismatch},
			{"malformed body", a, a.aor, []byte("not a record"), 3600, 400, ReasonBadRecord},
			{"expired", a, a.aor, encode(t, registration(a.id(), a.aor, a.signer, -time.Minute, false)), 3600, 400, ReasonBadRecord},
			{"too far ahead", a, a.aor, encode(t, registration(a.id(), a.aor, a.signer, 30*hour, false)), 3600, 400, ReasonBadRecord},
			{"Expires 0 for a live record", a, a.aor, encode(t, registration(a.id(), a.aor, a.signer, hour, false)), 0, 400, ReasonBadRecord},
		}
		bad := registration(a.id(), a.aor, a.signer, hour, false)
		bad.Value = []byte(`{"node_id":"00","aor":"sip:101@team"}`)
		bad.Sign(a.signer)
		cases = append(cases, struct {
			name   string
			from   *testNode
			to     string
			body   []byte
			exp    int
			status int
			reason string
		}{"value names another node", a, a.aor, encode(t, bad), 3600, 403, ReasonNotOwner})
		forged := registration(a.id(), a.aor, a.signer, hour, false)
		forged.Signature[0] ^= 1
		cases = append(cases, struct {
			name   string
			from   *testNode
			to     string
			body   []byte
			exp    int
			status int
			reason string
		}{"bad signature", a, a.aor, encode(t, forged), 3600, 403, ReasonBadSignature})
		for _, c := range cases {
			before := r.ua.Stats().Refused[c.reason]
			if got := c.from.register(t, r, c.to, c.body, c.exp); got != c.status {
				t.Fatalf("%s: status %d, want %d", c.name, got, c.status)
			}
			if c.reason != "" && r.ua.Stats().Refused[c.reason] != before+1 {
				t.Fatalf("%s: refusal %q not counted", c.name, c.reason)
			}
		}
		if n := len(r.stored); n != 1 {
			t.Fatalf("%d records stored, want only the accepted one", n)
		}
	})
}
