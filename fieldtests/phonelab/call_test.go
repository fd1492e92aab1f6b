package phonelab

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"meshcomm/fieldtests/lab"
	"meshcomm/node"
)

// Audio of the call tests: 16 kHz (what the daemon records at), four seconds each way.
const (
	audioRate   = 16000
	speechTime  = 4 * time.Second
	alignSearch = 500 * time.Millisecond
	// minSimilarity is the median similarity over 1 s windows a call must keep: Opus keeps the
	// sound, not the exact waveform, and scores about 0.9 on a clean path (media's own
	// measurement); a path that loses or garbles the audio scores far below.
	minSimilarity = 0.7
	// maxDelay bounds a plausible delay of the audio in a recording over the lab's perfect
	// links: the jitter buffer's playout delay plus the gap between the two ends starting
	// their media (each recording starts when its own end's media starts).
	maxDelay = 400 * time.Millisecond
)

// A hears B, B hears C, A does not hear C. B and C answer by themselves and play their own
// piece of speech into the call while the caller plays another; each end records what
// arrives. Every call must be answered, and each recording must hold the other end's speech:
// the median similarity over 1 s windows at least minSimilarity, at a plausible delay.
//
//   - one hop, A calls B: the control, on a link both ends share;
//   - two hops, A calls C with the INVITE routed through B (the overlay-routed mode, --via),
//     B relaying the audio too.
func TestCallTwoRadioHopsWithAudio(t *testing.T) {
	const a, b, cc = 1, 2, 3
	c, phone := newLab(t, "call", 3, perfect)
	if err := c.Emulator().LinkDown(a, cc); err != nil {
		t.Fatal(err)
	}
	enrolAll(t, c, "alpha", a, b, cc)
	// What crossed A-C before the link went down (neighbour discovery as the interfaces came
	// up) does not count against the two-hop premise.
	pre := c.Emulator().Stats()
	preAC := pre.Pair(a, cc).Forwarded + pre.Pair(cc, a).Forwarded
	dir := t.TempDir()
	fromA := writeSpeech(t, filepath.Join(dir, "a.wav"), audioRate, 0, speechTime)
	fromCallee := writeSpeech(t, filepath.Join(dir, "callee.wav"), audioRate, 5*time.Second, speechTime)
	recordDir := func(n int) string {
		d := filepath.Join(dir, "recorded-at-"+ext(n))
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	atB, atC := recordDir(b), recordDir(cc)
	callee := func(rec string) []string {
		return []string{"--auto-answer", "--play", filepath.Join(dir, "callee.wav"), "--record", rec}
	}
	procs := map[int]*lab.Process{a: start(t, c, a), b: start(t, c, b, callee(atB)...), cc: start(t, c, cc, callee(atC)...)}
	waitFor(t, time.Minute, "A and C to resolve each other through B", func() (bool, string) {
		return resolve(c, []int{a, cc}, map[int]*lab.Process{a: procs[a], cc: procs[cc]})
	})

	// call places A's call to node to (through via, if set), checks it was answered by that
	// node, and returns the result and the two recordings: at the callee, and at A.
	call := func(t *testing.T, to int, via string, calleeDir string) (node.CallResult, string, string) {
		t.Helper()
		atA := filepath.Join(dir, "recorded-at-a-from-"+ext(to)+".wav")
		res, err := phone.Call(a, procs[to].Ready.AoR, CallOptions{Play: filepath.Join(dir, "a.wav"), Record: atA,
			Duration: speechTime + time.Second, Via: via})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("A called %s: %s, SIP %d, set up in %.1f ms, %s, %d packets sent, %d received, %d lost",
			procs[to].Ready.AoR, res.Result, res.SIPStatus, res.SetupMs, res.Codec, res.PacketsSent, res.PacketsReceived, res.PacketsLost)
		if res.Result != "answered" || res.SIPStatus != 200 || res.Peer != procs[to].Ready.NodeID {
			t.Fatalf("call: %+v, want answered (200) by node %s", res, procs[to].Ready.NodeID)
		}
		recs, err := filepath.Glob(filepath.Join(calleeDir, "*.wav"))
		if err != nil || len(recs) != 1 {
			t.Fatalf("the callee's recordings: %v (%v), want exactly one", recs, err)
		}
		return res, recs[0], atA
	}

	t.Run("one hop A to B", func(t *testing.T) {
		_, atCallee, atA := call(t, b, "", atB)
		assertAudio(t, "A -> B", fromA, atCallee)
		assertAudio(t, "B -> A", fromCallee, atA)
	})

	t.Run("two hops A to C through B", func(t *testing.T) {
		res, atCallee, atA := call(t, cc, procs[b].Ready.NodeID, atC)
		if st := c.Emulator().Stats(); st.Pair(a, cc).Forwarded+st.Pair(cc, a).Forwarded != preAC {
			t.Fatalf("the A-C radio carried frames: the two-hop premise does not hold")
		}
		// B relays the media as well as the INVITE (node/relay.go).
		if res.PacketsReceived == 0 {
			t.Fatalf("A sent %d packets to C and received none: the media was not relayed through B", res.PacketsSent)
		}
		assertAudio(t, "A -> C", fromA, atCallee)
		assertAudio(t, "C -> A", fromCallee, atA)
	})
}

// assertAudio checks that the recording at path holds ref intact (see MatchAudio): nearly
// every window of speech found, median similarity at least minSimilarity, delay plausible.
func assertAudio(t *testing.T, name string, ref []int16, path string) {
	t.Helper()
	got, rate := readWAV(t, path)
	if rate != audioRate {
		t.Fatalf("%s: recorded at %d Hz, want %d", name, rate, audioRate)
	}
	m, err := MatchAudio(ref, got, rate, alignSearch)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %s", name, m)
	if m.Compared < m.Speech-1 || m.Similarity < minSimilarity || m.Delay < 0 || m.Delay > maxDelay {
		t.Errorf("%s: audio not intact: %s (recording of %v); want nearly every window compared, similarity >= %.2f, delay within 0..%v",
			name, m, time.Duration(len(got))*time.Second/time.Duration(rate), minSimilarity, maxDelay)
	}
}
