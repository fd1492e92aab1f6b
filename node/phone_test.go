package node

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"meshcomm/media"
)

// writeSpeech writes d of the speech-like test signal as a WAV file and returns its path and
// samples.
func writeSpeech(t *testing.T, d time.Duration) (string, []int16) {
	t.Helper()
	const rate = 16000
	pcm := media.SpeechLike(rate, d)
	path := filepath.Join(t.TempDir(), "speech.wav")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := media.WriteWAV(f, rate, pcm); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path, pcm
}

func readSpeech(t *testing.T, path string) ([]int16, int) {
	t.Helper()
	pcm, rate, err := readWAVFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return pcm, rate
}

// resolveAll waits until every node holds every registration.
func resolveAll(t *testing.T, nodes ...*Node) {
	t.Helper()
	all := aorsOf(nodes...)
	evs := events(t, nodes...)
	waitFor(t, evs, "every node to hold every registration", func() bool {
		for _, n := range nodes {
			if !holdsRegistrations(t, n, all...) {
				return false
			}
		}
		return true
	})
}

func extOf(n *Node) string {
	return strings.TrimPrefix(strings.Split(n.Identity().AoR(), "@")[0], "sip:")
}

// A call between two nodes carries audio both ways over QUIC datagrams: what each side plays
// arrives at the other, found there by cross-correlation, with a plausible delay.
func TestCallCarriesAudioBothWays(t *testing.T) {
	dirs := newTeam(t, "alpha", 101, 2)
	play, ref := writeSpeech(t, 3*time.Second)
	recDir := t.TempDir()
	a := startNode(t, dirs[0])
	b := startNodeWith(t, Config{DataDir: dirs[1], Listen: "127.0.0.1:0", Peers: []string{a.LocalAddr()},
		AutoAnswer: true, AnswerPlay: play, AnswerRecordDir: recDir})
	resolveAll(t, a, b)

	rec := filepath.Join(t.TempDir(), "caller.wav")
	res, err := a.Call(ctxT(t), CallParams{Target: extOf(b), Play: play, Record: rec, DurationMs: 4000})
	if err != nil {
		t.Fatal(err)
	}
	if res.Result != "answered" || res.SIPStatus != 200 || res.Codec != "opus" {
		t.Fatalf("call = %+v, want answered 200 with opus", res)
	}
	if res.PacketsSent < 150 || res.PacketsReceived < 150 {
		t.Fatalf("call carried %d packets out, %d in; want 3 s of audio (150 frames) each way", res.PacketsSent, res.PacketsReceived)
	}
	if res.SetupMs <= 0 || res.SetupMs > 5000 {
		t.Errorf("setup took %.1f ms", res.SetupMs)
	}
	for name, path := range map[string]string{"caller": rec, "callee": firstFile(t, recDir)} {
		got, rate := readSpeech(t, path)
		refAt := ref
		if rate != 16000 {
			t.Fatalf("%s recording at %d Hz", name, rate)
		}
		// The jitter buffer may drop or add a frame as it adapts, which shifts what follows:
		// align each second on its own and judge the median.
		var sims []float64
		var delays []time.Duration
		for start := 0; start+rate <= len(refAt); start += rate {
			al, err := media.Align(refAt[start:start+rate], got, rate, 5*time.Second)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			sims = append(sims, al.Similarity)
			delays = append(delays, al.Delay-time.Duration(start)*time.Second/time.Duration(rate))
		}
		slices.Sort(sims)
		slices.Sort(delays)
		sim, delay := sims[len(sims)/2], delays[len(delays)/2]
		t.Logf("%s heard the other side %v late (median of %d one-second windows), similarity %.3f", name, delay, len(sims), sim)
		if sim < 0.7 {
			t.Errorf("%s recording matches what was played with similarity %.3f only", name, sim)
		}
		if delay < 20*time.Millisecond || delay > time.Second {
			t.Errorf("%s recording lags by %v", name, delay)
		}
	}
}

func firstFile(t *testing.T, dir string) string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil || len(es) == 0 {
		t.Fatalf("no recording in %s (%v)", dir, err)
	}
	return filepath.Join(dir, es[0].Name())
}

// Calls that cannot be answered say why: an unknown extension is 404, a node that is gone is
// 480, a node in a call is busy (486).
func TestCallFailuresSayWhy(t *testing.T) {
	dirs := newTeam(t, "alpha", 101, 4)
	a := startNode(t, dirs[0])
	b := startNodeWith(t, Config{DataDir: dirs[1], Listen: "127.0.0.1:0", Peers: []string{a.LocalAddr()}, AutoAnswer: true})
	c := startNode(t, dirs[2], a.LocalAddr()) // rings, nobody answers
	d := startNode(t, dirs[3], a.LocalAddr())
	resolveAll(t, a, b, c, d)

	res, err := a.Call(ctxT(t), CallParams{Target: "199", DurationMs: 100})
	if err != nil || res.Result != "not-found" || res.SIPStatus != 404 {
		t.Errorf("call to an unknown extension = %+v, %v; want not-found 404", res, err)
	}

	// d holds b in a long call; a's call to b is then busy.
	held := make(chan CallResult, 1)
	go func() {
		r, _ := d.Call(ctxT(t), CallParams{Target: extOf(b), DurationMs: 3000})
		held <- r
	}()
	evs := events(t, b)
	waitEvent(t, evs, "b to take d's call", func(ev Event) bool { return ev.Type == EventCall })
	res, err = a.Call(ctxT(t), CallParams{Target: extOf(b), DurationMs: 100})
	if err != nil || res.Result != "busy" || res.SIPStatus != 486 {
		t.Errorf("call to a node in a call = %+v, %v; want busy 486", res, err)
	}
	if r := <-held; r.Result != "answered" {
		t.Errorf("the first call = %+v", r)
	}

	cAoR := extOf(c)
	c.shutdown(false) // gone without a word: its registration is still in the mesh
	res, err = a.Call(ctxT(t), CallParams{Target: cAoR, DurationMs: 100})
	if err != nil || res.Result == "answered" || res.SIPStatus != 480 {
		t.Errorf("call to a node that is gone = %+v, %v; want 480", res, err)
	}
}

// A message for a user whose node is off is stored in the mesh, survives its sender going
// away, and is delivered exactly once when the recipient comes back.
func TestMessageToAbsentUserIsDeliveredOnceOnReturn(t *testing.T) {
	dirs := newTeam(t, "alpha", 101, 3)
	a := startNode(t, dirs[0])
	b := startNode(t, dirs[1], a.LocalAddr())
	c := startNode(t, dirs[2], a.LocalAddr())
	resolveAll(t, a, b, c)
	cExt := extOf(c)
	c.Close()

	res, err := b.SendMessage(ctxT(t), MessageParams{Target: cExt, Text: "Sector 4 clear, moving to 5"})
	if err != nil {
		t.Fatal(err)
	}
	if res.State != "stored" {
		t.Fatalf("message to an absent user: state %q, want stored", res.State)
	}
	b.Close() // the sender goes away; a holds the message

	c2 := startNode(t, dirs[2], a.LocalAddr())
	evs := events(t, c2)
	waitFor(t, evs, "the stored message to reach its recipient", func() bool {
		m, _ := c2.Messages(ctxT(t))
		return len(m.Inbox) > 0
	})
	m, _ := c2.Messages(ctxT(t))
	if len(m.Inbox) != 1 || m.Inbox[0].Text != "Sector 4 clear, moving to 5" || m.Inbox[0].Via != "overlay" {
		t.Fatalf("inbox = %+v", m.Inbox)
	}
	// Later checks of the mesh find nothing new: the message was delivered once.
	c2.post.checkStored(ctxT(t))
	if m, _ := c2.Messages(ctxT(t)); len(m.Inbox) != 1 {
		t.Fatalf("inbox after another check = %+v", m.Inbox)
	}
}

// A message to a reachable user is handed over directly, and its receipt comes back at once.
func TestMessageToReachableUserIsDeliveredDirectly(t *testing.T) {
	dirs := newTeam(t, "alpha", 101, 2)
	a := startNode(t, dirs[0])
	b := startNode(t, dirs[1], a.LocalAddr())
	resolveAll(t, a, b)
	res, err := a.SendMessage(ctxT(t), MessageParams{Target: extOf(b), Text: "on my way"})
	if err != nil || res.State != "sent-direct" && res.State != "delivered" {
		t.Fatalf("message = %+v, %v", res, err)
	}
	m, _ := b.Messages(ctxT(t))
	if len(m.Inbox) != 1 || m.Inbox[0].Text != "on my way" || m.Inbox[0].Via != "direct" {
		t.Fatalf("inbox = %+v", m.Inbox)
	}
}

// A voicemail left for a user who is off is sealed to their certificate, kept in the mesh and
// played after they return.
func TestVoicemailForAbsentUser(t *testing.T) {
	dirs := newTeam(t, "alpha", 101, 3)
	play, _ := writeSpeech(t, time.Second)
	a := startNode(t, dirs[0])
	b := startNode(t, dirs[1], a.LocalAddr())
	c := startNode(t, dirs[2], a.LocalAddr())
	resolveAll(t, a, b, c)
	cExt := extOf(c)
	c.Close()

	res, err := b.Call(ctxT(t), CallParams{Target: cExt, Play: play, Voicemail: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Result == "answered" || res.Voicemail != "stored" {
		t.Fatalf("call to an absent user = %+v; want a stored voicemail", res)
	}
	c2 := startNode(t, dirs[2], a.LocalAddr())
	evs := events(t, c2)
	waitFor(t, evs, "the voicemail to reach its recipient", func() bool {
		m, _ := c2.Messages(ctxT(t))
		return len(m.Inbox) > 0
	})
	m, _ := c2.Messages(ctxT(t))
	if len(m.Inbox) != 1 || m.Inbox[0].Kind != "voicemail" {
		t.Fatalf("inbox = %+v", m.Inbox)
	}
	out := filepath.Join(t.TempDir(), "vm.wav")
	if _, err := c2.PlayVoicemail(ctxT(t), VoicemailPlayParams{Ref: m.Inbox[0].Ref, Out: out}); err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(play)
	got, _ := os.ReadFile(out)
	if string(got) != string(want) {
		t.Fatalf("played voicemail differs from what was left (%d vs %d bytes)", len(got), len(want))
	}
}

// Presence set on one node is found from another.
func TestPresenceIsFoundFromAnotherNode(t *testing.T) {
	dirs := newTeam(t, "alpha", 101, 2)
	a := startNode(t, dirs[0])
	b := startNode(t, dirs[1], a.LocalAddr())
	resolveAll(t, a, b)
	if _, err := a.SetPresence(ctxT(t), PresenceParams{State: "on scene", Text: "Engine 7, north side"}); err != nil {
		t.Fatal(err)
	}
	evs := events(t, b)
	waitFor(t, evs, "b to see a's presence", func() bool {
		p, err := b.GetPresence(ctxT(t), extOf(a))
		return err == nil && p.Known && p.State == "on-scene" && p.Text == "Engine 7, north side"
	})
	// b follows a (it saw a's registration): its roster was notified of the change.
	waitFor(t, evs, "b's roster to show a on scene", func() bool {
		list, _ := b.Roster(ctxT(t))
		for _, p := range list {
			if p.AoR == a.Identity().AoR() && p.Known && p.State == "on-scene" {
				return true
			}
		}
		return false
	})
	if st, _ := a.Status(ctxT(t)); st.Presence == nil || st.Presence.State != "on-scene" {
		t.Errorf("a's status shows presence %+v", st.Presence)
	}
	if _, err := a.SetPresence(ctxT(t), PresenceParams{State: "asleep"}); err == nil {
		t.Error("an unknown presence state was accepted")
	}
}
