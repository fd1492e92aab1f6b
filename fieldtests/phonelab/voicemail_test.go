package phonelab

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"meshcomm/fieldtests/lab"
	"meshcomm/node"
)

// A user's laptop is switched off (the daemon leaves the mesh cleanly: its registration is
// withdrawn, its certificate stays). A calls them with --voicemail: nobody answers, so A's
// recording is sealed to the user's certificate and stored in the overlay. The user comes
// back: `voicemail list` shows exactly that voicemail, `voicemail play` writes exactly the
// bytes A recorded, and A's copy turns to delivered.
func TestVoicemailForOfflineUser(t *testing.T) {
	const a, b, cc = 1, 2, 3
	c, phone := newLab(t, "vm", 3, perfect)
	t.Parallel()
	procs := startThree(t, c)
	if err := procs[cc].Stop(); err != nil { // C switches the laptop off
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "C's registration to be withdrawn", func() (bool, string) {
		lr, err := c.Lookup(a, procs[cc].Ready.AoR, 5*time.Second)
		if err != nil {
			return false, err.Error()
		}
		return !lr.Found, "A still resolves C"
	})

	dir := t.TempDir()
	wav := filepath.Join(dir, "voicemail.wav")
	writeSpeech(t, wav, audioRate, 0, 3*time.Second)
	want, err := os.ReadFile(wav)
	if err != nil {
		t.Fatal(err)
	}
	res, err := phone.Call(a, procs[cc].Ready.AoR, CallOptions{Play: wav, Voicemail: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("A called C (offline): %s, SIP %d; voicemail %s", res.Result, res.SIPStatus, res.Voicemail)
	if res.Result == "answered" || res.Voicemail != "stored" {
		t.Fatalf("call to an offline user with --voicemail: %+v, want not answered and the voicemail stored", res)
	}
	waitFor(t, 30*time.Second, "B to hold the voicemail", func() (bool, string) {
		return holdsMessage(c, b, procs[a].Ready.NodeID, false)
	})

	back := time.Now()
	procs[cc] = start(t, c, cc) // C is back
	vm := waitVoicemail(t, phone, cc, procs[a].Ready.AoR)
	t.Logf("C found the voicemail %v after starting again", time.Since(back).Round(time.Millisecond))
	assertVoicemail(t, phone, cc, vm, want, filepath.Join(dir, "played.wav"))
	assertVoicemailSettled(t, c, phone, a, cc, procs)
}

// assertVoicemailSettled checks the end of a voicemail's delivery from node from to node to:
// the sender's copy turns to delivered, every node's stored copies turn into deletions, and
// the recipient still lists the voicemail exactly once.
func assertVoicemailSettled(t *testing.T, c *lab.Cluster, phone Phone, from, to int, procs map[int]*lab.Process) {
	t.Helper()
	waitFor(t, deliveryTimeout, "the sender's voicemail to turn to delivered", func() (bool, string) {
		return outboxKind(phone, from, "voicemail", procs[to].Ready.AoR, "delivered")
	})
	for n := range procs {
		waitFor(t, deliveryTimeout, fmt.Sprintf("node %d's stored copies to be deleted", n), func() (bool, string) {
			return holdsMessage(c, n, procs[from].Ready.NodeID, true)
		})
	}
	waitVoicemail(t, phone, to, procs[from].Ready.AoR) // still exactly one
}

// waitVoicemail waits until node n lists a voicemail from AoR from, checks it lists exactly
// one, and returns it.
func waitVoicemail(t *testing.T, phone Phone, n int, from string) node.InboxMessage {
	t.Helper()
	var got []node.InboxMessage
	waitFor(t, deliveryTimeout, fmt.Sprintf("node %d to list a voicemail from %s", n, from), func() (bool, string) {
		vms, err := phone.Voicemails(n)
		if err != nil {
			return false, err.Error()
		}
		got = got[:0]
		for _, m := range vms {
			if m.From == from {
				got = append(got, m)
			}
		}
		return len(got) > 0, fmt.Sprintf("%d voicemails listed, none from %s", len(vms), from)
	})
	if len(got) != 1 || got[0].Kind != "voicemail" {
		t.Fatalf("node %d's voicemail from %s: %+v, want exactly one", n, from, got)
	}
	return got[0]
}

// assertVoicemail plays voicemail vm at node n into out and checks that it holds exactly want.
func assertVoicemail(t *testing.T, phone Phone, n int, vm node.InboxMessage, want []byte, out string) {
	t.Helper()
	if vm.AudioBytes != len(want) || vm.MediaType != "audio/wav" {
		t.Errorf("voicemail listed as %d bytes of %q, want %d bytes of audio/wav", vm.AudioBytes, vm.MediaType, len(want))
	}
	played, err := phone.PlayVoicemail(n, vm.Ref, out)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) || played.AudioBytes != len(want) {
		t.Fatalf("voicemail play wrote %d bytes (reported %d), want exactly the %d bytes recorded", len(got), played.AudioBytes, len(want))
	}
	t.Logf("voicemail from %s (via %s) played: the %d bytes recorded, exactly", vm.From, vm.Via, len(got))
}

// outboxKind reports whether node n's outbox holds exactly one entry of kind to AoR to, in
// state want.
func outboxKind(phone Phone, n int, kind, to, want string) (bool, string) {
	res, err := phone.Messages(n)
	if err != nil {
		return false, err.Error()
	}
	var states []string
	for _, m := range res.Outbox {
		if m.Kind == kind && m.To == to {
			states = append(states, m.State)
		}
	}
	return len(states) == 1 && states[0] == want, fmt.Sprintf("node %d's %s to %s: %v", n, kind, to, states)
}
