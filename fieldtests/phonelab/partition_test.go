package phonelab

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"meshcomm/fieldtests/lab"
	"meshcomm/node"
)

// Six laptops split 3+3 by radio, long enough for the links across to time out. Across the
// split, A sends D a text and B leaves E a voicemail (E does not answer: it cannot be
// reached); both are stored in A's and B's side of the overlay, and neither reaches the other
// side. When the split heals, D receives the text exactly once and E the voicemail, its exact
// bytes, and both senders see them delivered.
func TestPartitionHealDeliversMessageAndVoicemail(t *testing.T) {
	const a, b, d, e = 1, 2, 4, 5
	c, phone := newLab(t, "part", 6, perfect)
	t.Parallel()
	enrolAll(t, c, "alpha", 1, 2, 3, 4, 5, 6)
	procs := map[int]*lab.Process{}
	for n := 1; n <= 6; n++ {
		procs[n] = start(t, c, n)
	}
	all := []int{1, 2, 3, 4, 5, 6}
	waitFor(t, time.Minute, "the six to resolve each other", func() (bool, string) { return resolve(c, all, procs) })

	sideA, sideB := []int{1, 2, 3}, []int{4, 5, 6}
	if err := c.Emulator().Partition(sideA, sideB); err != nil {
		t.Fatal(err)
	}
	waited := waitFor(t, time.Minute, "the links across the split to time out", func() (bool, string) {
		return noLinksAcross(c, procs, sideA, sideB)
	})
	t.Logf("the links across went down %v after the split", waited.Round(time.Second))

	dir := t.TempDir()
	wav := filepath.Join(dir, "voicemail.wav")
	writeSpeech(t, wav, audioRate, 2*time.Second, 3*time.Second)
	want, err := os.ReadFile(wav)
	if err != nil {
		t.Fatal(err)
	}
	const text = "D, sector 4 is yours once the radio is back"
	var msg node.MessageResult
	var call node.CallResult
	var msgErr, callErr error
	var wg sync.WaitGroup
	began := time.Now()
	wg.Go(func() { msg, msgErr = phone.Send(a, procs[d].Ready.AoR, text) })
	wg.Go(func() { call, callErr = phone.Call(b, procs[e].Ready.AoR, CallOptions{Play: wav, Voicemail: true}) })
	wg.Wait()
	if msgErr != nil || callErr != nil {
		t.Fatalf("sending across the split: msg: %v; call: %v", msgErr, callErr)
	}
	t.Logf("across the split: A's text to D %s; B's call to E %s (SIP %d), voicemail %s; both settled %v after they began",
		msg.State, call.Result, call.SIPStatus, call.Voicemail, time.Since(began).Round(time.Millisecond))
	if msg.State != "stored" {
		t.Errorf("A's text to D across the split: %+v, want stored", msg)
	}
	if call.Result == "answered" || call.Voicemail != "stored" {
		t.Errorf("B's call to E across the split: %+v, want not answered and the voicemail stored", call)
	}
	if t.Failed() {
		t.FailNow()
	}
	for _, n := range sideA {
		waitFor(t, 30*time.Second, "side A to hold both stored messages", func() (bool, string) {
			okA, whyA := holdsMessage(c, n, procs[a].Ready.NodeID, false)
			okB, whyB := holdsMessage(c, n, procs[b].Ready.NodeID, false)
			return okA && okB, whyA + "; " + whyB
		})
	}
	for _, n := range sideB {
		for _, from := range []int{a, b} {
			if ok, why := holdsMessage(c, n, procs[from].Ready.NodeID, false); ok {
				t.Errorf("side B holds a message sent during the split: %s", why)
			}
		}
	}
	if got, err := inboxFrom(phone, d, procs[a].Ready.AoR, text); err != nil || len(got) != 0 {
		t.Fatalf("D's inbox during the split: %v (%v), want no message", got, err)
	}

	healed := time.Now()
	c.Emulator().Heal()
	var textAfter, voicemailAfter time.Duration
	var textErr error
	wg.Go(func() {
		_, textErr = lab.Poll(deliveryTimeout, "D to receive the text", func() (bool, string) {
			got, err := inboxFrom(phone, d, procs[a].Ready.AoR, text)
			if err != nil {
				return false, err.Error()
			}
			return len(got) > 0, "not in D's inbox yet"
		})
		textAfter = time.Since(healed)
	})
	vm := waitVoicemail(t, phone, e, procs[b].Ready.AoR)
	voicemailAfter = time.Since(healed)
	wg.Wait()
	if textErr != nil {
		t.Fatal(textErr)
	}
	t.Logf("after the heal: D received the text %v, E the voicemail %v after the radio healed",
		textAfter.Round(time.Millisecond), voicemailAfter.Round(time.Millisecond))
	assertVoicemail(t, phone, e, vm, want, filepath.Join(dir, "played.wav"))
	assertDeliveredOnce(t, c, phone, a, d, procs, msg.ID, text, "overlay")
	assertVoicemailSettled(t, c, phone, b, e, procs)
}
