package media

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"
)

// TestMeasureLoopback prints mouth-to-ear delay and how intact speech arrives, per codec, at 0,
// 5 and 10% loss, over a link of 30 ms plus up to 30 ms of uniform jitter (which reorders) and
// 2% duplication, with the default adaptive jitter buffer. It runs in virtual time (the
// discrete-event loopback), so the figures depend on the seeds, not on this machine. Run it with
//
//	MESHCOMM_MEDIA_MEASURE=1 go test -run TestMeasureLoopback -v ./media/
//
// (MESHCOMM_MEDIA_SEEDS sets the number of 10 s calls per row, default 5).
func TestMeasureLoopback(t *testing.T) {
	if os.Getenv("MESHCOMM_MEDIA_MEASURE") == "" {
		t.Skip("measurement: set MESHCOMM_MEDIA_MEASURE=1 to run")
	}
	seeds := 5
	if s := os.Getenv("MESHCOMM_MEDIA_SEEDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("MESHCOMM_MEDIA_SEEDS=%q", s)
		}
		seeds = n
	}
	const rate = 16000
	ref := SpeechLike(rate, 10*time.Second)
	fmt.Printf("loopback, %d calls of 10 s per row, link 30 ms + 0..30 ms jitter, 2%% duplicates, adaptive buffer\n", seeds)
	fmt.Printf("delay and similarity per 1 s window of speech (the buffer may resize between windows)\n")
	fmt.Printf("%-6s %5s | %9s %9s | %10s %10s | %8s %6s %6s %9s\n", "codec", "loss", "delay p50", "delay max",
		"similar p50", "similar p5", "buffer", "late", "concl", "jitter")
	for _, f := range DefaultFormats() {
		for _, loss := range []float64{0, 0.05, 0.10} {
			var delays []time.Duration
			var scores []float64
			var late, concealed, buffer uint64
			var jitter float64
			for seed := range seeds {
				r := loopbackCall(t, f, rate, ref, linkModel{delay: 30 * time.Millisecond, jitter: 30 * time.Millisecond,
					loss: loss, dup: 0.02}, JitterConfig{}, uint64(seed+1), time.Duration(seed*3)*time.Millisecond)
				d, score := alignWindows(t, r.ref, r.got, rate)
				delays = append(delays, d...)
				scores = append(scores, score...)
				late += r.receiver.Late
				concealed += r.receiver.Concealed
				buffer += uint64(r.receiver.PlayoutDelayMillis)
				jitter += r.receiver.JitterMillis
			}
			slices.Sort(delays)
			slices.Sort(scores)
			n := uint64(seeds)
			fmt.Printf("%-6s %4.0f%% | %9v %9v | %10.3f %10.3f | %6dms %6d %6d %7.1fms\n", f.Name, loss*100,
				delays[len(delays)/2].Round(100*time.Microsecond), delays[len(delays)-1].Round(100*time.Microsecond),
				scores[len(scores)/2], scores[len(scores)/20], buffer/n, late/n, concealed/n, jitter/float64(seeds))
		}
	}
}

// alignWindows aligns each 1 s window of ref inside got, so that a playout delay that changes
// during the call (the adaptive buffer skipping or inserting a frame) shows as a change of delay
// rather than as a loss of similarity.
func alignWindows(t *testing.T, ref, got []int16, rate int) ([]time.Duration, []float64) {
	t.Helper()
	var delays []time.Duration
	var scores []float64
	const search = 500 * time.Millisecond
	for w := 0; (w+1)*rate <= len(ref); w++ {
		win := ref[w*rate : (w+1)*rate]
		if rms(win) < 1000 { // mostly a pause between phrases
			continue
		}
		end := min(len(got), (w+1)*rate+int(search.Seconds()*float64(rate)))
		a, err := Align(win, got[w*rate:end], rate, search)
		if err != nil {
			t.Fatal(err)
		}
		delays = append(delays, a.Delay)
		scores = append(scores, a.Similarity)
	}
	return delays, scores
}

// TestMeasureOpusFEC prints how much of a lost Opus frame in-band FEC recovers, against
// packet-loss concealment alone and against silence (what G.711 does), at 5, 10 and 20% random
// loss of 10 s of speech at 16 kHz. Run it with
//
//	MESHCOMM_MEDIA_MEASURE=1 go test -run TestMeasureOpusFEC -v ./media/
func TestMeasureOpusFEC(t *testing.T) {
	if os.Getenv("MESHCOMM_MEDIA_MEASURE") == "" {
		t.Skip("measurement: set MESHCOMM_MEDIA_MEASURE=1 to run")
	}
	const rate = 16000
	ref := SpeechLike(rate, 10*time.Second)
	fmt.Printf("opus at 16 kHz, 10 s of speech, similarity to the original over the whole signal\n")
	fmt.Printf("%5s | %8s %8s %8s\n", "loss", "FEC+PLC", "PLC", "silence")
	for _, loss := range []float64{0.05, 0.10, 0.20} {
		var row []float64
		for _, mode := range []string{"fec", "plc", "silence"} {
			rng := rand.New(rand.NewPCG(7, uint64(loss*100)))
			c, err := NewCodec(Opus, rate)
			if err != nil {
				t.Fatal(err)
			}
			n := c.FrameSamples()
			var payloads [][]byte
			for i := 0; i+n <= len(ref); i += n {
				p, err := c.Encode(ref[i:i+n], nil)
				if err != nil {
					t.Fatal(err)
				}
				if rng.Float64() < loss {
					p = nil
				}
				payloads = append(payloads, p)
			}
			got := make([]int16, 0, len(ref))
			frame := make([]int16, n)
			for i, p := range payloads {
				var next []byte
				if i+1 < len(payloads) {
					next = payloads[i+1]
				}
				switch {
				case p != nil:
					err = c.Decode(p, frame)
				case mode == "fec":
					err = c.Conceal(next, frame)
				case mode == "plc":
					err = c.Conceal(nil, frame)
				default:
					clear(frame)
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, frame...)
			}
			a, err := Align(ref, got, rate, 20*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			row = append(row, a.Similarity)
			c.Close()
		}
		fmt.Printf("%4.0f%% | %8.3f %8.3f %8.3f\n", loss*100, row[0], row[1], row[2])
	}
}
