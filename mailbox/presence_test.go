package mailbox

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"meshcomm/mesh"
)

func TestParsePresenceState(t *testing.T) {
	for in, want := range map[string]PresenceState{
		"available": Available, "Busy": Busy, "on scene": OnScene, "on_scene": OnScene, "ON-SCENE": OnScene,
		"off duty": OffDuty, " off-duty ": OffDuty,
	} {
		if got, err := ParsePresenceState(in); err != nil || got != want {
			t.Errorf("ParsePresenceState(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "away", "onscene", "on scene now"} {
		if _, err := ParsePresenceState(bad); !errors.Is(err, ErrPresence) {
			t.Errorf("ParsePresenceState(%q) = %v, want ErrPresence", bad, err)
		}
	}
}

func TestPresenceValueRoundTrip(t *testing.T) {
	p := Presence{State: OnScene, Text: "Sector 4, north stairwell — 2 crews", Updated: t0}
	b, err := EncodePresence(p)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"v":1,"state":"on-scene","text":"Sector 4, north stairwell — 2 crews","updated":1772366400000}`; string(b) != want {
		t.Fatalf("encoding:\n got %s\nwant %s", b, want)
	}
	got, err := DecodePresence(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != p.State || got.Text != p.Text || !got.Updated.Equal(p.Updated) {
		t.Fatalf("round trip: %+v", got)
	}
	// Unknown keys are ignored; a text of exactly 140 characters (multi-byte) is accepted.
	long := strings.Repeat("é", MaxPresenceText)
	if _, err := DecodePresence([]byte(`{"v":1,"state":"busy","text":"` + long + `","updated":5,"battery":80}`)); err != nil {
		t.Fatalf("forward-compatible value refused: %v", err)
	}
}

func TestDecodePresenceRefuses(t *testing.T) {
	for name, value := range map[string]string{
		"not JSON":          `{`,
		"two objects":       `{"v":1,"state":"busy","updated":5}{}`,
		"other version":     `{"v":2,"state":"busy","updated":5}`,
		"unknown state":     `{"v":1,"state":"away","updated":5}`,
		"no time":           `{"v":1,"state":"busy"}`,
		"text too long":     `{"v":1,"state":"busy","updated":5,"text":"` + strings.Repeat("a", MaxPresenceText+1) + `"}`,
		"control character": `{"v":1,"state":"busy","updated":5,"text":"a\u0007b"}`,
		"oversized":         `{"v":1,"state":"busy","updated":5,"x":"` + strings.Repeat(" ", MaxPresenceValueBytes) + `"}`,
		"state not string":  `{"v":1,"state":3,"updated":5}`,
	} {
		if _, err := DecodePresence([]byte(value)); !errors.Is(err, ErrPresence) {
			t.Errorf("%s: %v, want ErrPresence", name, err)
		}
	}
}

func TestPresenceRecord(t *testing.T) {
	tm := newTeam(t, 2)
	a := tm.members[0]
	p := Presence{State: Busy, Text: "on a call", Updated: t0}
	rec, err := NewPresenceRecord(a.signer, p, t0.Add(15*time.Minute), 0)
	if err != nil {
		t.Fatal(err)
	}
	node := a.node()
	if rec.Resource != mesh.ResourceIDFor(a.aor) || rec.Kind != mesh.KindPresence || !bytes.Equal(rec.Key, node[:]) ||
		rec.Version != uint64(t0.UnixMilli()) || rec.Expiry != t0.Add(15*time.Minute).UnixMilli() {
		t.Fatalf("record fields: %+v", rec)
	}
	id, err := mesh.VerifyRecord(tm.verifier, rec)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParsePresenceRecord(rec, id)
	if err != nil || got.State != Busy || got.Text != "on a call" {
		t.Fatalf("ParsePresenceRecord = %+v, %v", got, err)
	}
	// A clock that stepped back still yields a newer version.
	back, err := NewPresenceRecord(a.signer, Presence{State: Available, Updated: t0.Add(-time.Hour)}, t0.Add(time.Hour), rec.Version)
	if err != nil {
		t.Fatal(err)
	}
	if back.Version != rec.Version+1 || !back.Newer(rec) {
		t.Fatalf("version after a clock step back: %d (previous %d)", back.Version, rec.Version)
	}
	if _, err := ParsePresenceRecord(rec, tm.members[1].signer.Identity()); !errors.Is(err, ErrPresence) {
		t.Fatalf("record parsed as another's: %v", err)
	}
	if _, err := NewPresenceRecord(a.signer, Presence{State: "away", Updated: t0}, t0.Add(time.Hour), 0); !errors.Is(err, ErrPresence) {
		t.Fatalf("unknown state published: %v", err)
	}
	if _, err := NewPresenceRecord(a.signer, p, t0, 0); !errors.Is(err, ErrPresence) {
		t.Fatalf("record expiring at its update time: %v", err)
	}
}
