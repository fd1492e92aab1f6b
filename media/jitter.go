package media

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// JitterConfig sizes the jitter buffer in time. The zero value means the defaults.
type JitterConfig struct {
	// Target is the playout delay used until the link has been measured (default 60 ms).
	Target time.Duration
	// Min and Max bound the adaptive delay (default 20 ms and 200 ms). Min == Max fixes it.
	Min, Max time.Duration
}

// Jitter buffer constants.
const (
	defaultTarget  = 60 * time.Millisecond
	defaultMin     = 20 * time.Millisecond
	defaultMax     = 200 * time.Millisecond
	transitWindow  = 100 // packets (2 s of audio) whose transit spread sizes the buffer
	transitMinimum = 10  // packets measured before the spread replaces Target
	spreadMargin   = 2 * time.Millisecond
	maxBuffered    = 64   // packets held at most; the oldest goes first
	seenWindow     = 1024 // sequence numbers remembered for duplicate detection
	maxDropout     = 3000 // a sequence jump further ahead restarts the sequence (RFC 3550 A.1)
	maxUnderrun    = 5    // frames concealed on an empty buffer before the talkspurt is over
	shrinkEvery    = 50   // frames (1 s) at least between two one-frame shrinks
	shrinkAnyway   = 250  // frames (5 s) after which a shrink need not wait for a quiet frame
	resyncAhead    = 50   // frames: a packet this far ahead of playout re-anchors it
)

func (c JitterConfig) withDefaults() (JitterConfig, error) {
	if c.Target == 0 {
		c.Target = defaultTarget
	}
	if c.Min == 0 {
		c.Min = min(defaultMin, c.Target)
	}
	if c.Max == 0 {
		c.Max = max(defaultMax, c.Target)
	}
	if c.Min < FrameDuration || c.Min > c.Target || c.Target > c.Max || c.Max > 2*time.Second {
		return c, fmt.Errorf("media: jitter buffer needs %v <= Min <= Target <= Max <= 2s, got %v, %v, %v",
			FrameDuration, c.Min, c.Target, c.Max)
	}
	return c, nil
}

// ceilFrame rounds d up to whole frames.
func ceilFrame(d time.Duration) time.Duration {
	return (d + FrameDuration - 1) / FrameDuration * FrameDuration
}

type bufferedPacket struct {
	ext     int64 // extended sequence number
	ts      uint32
	marker  bool
	arrival time.Time
	payload []byte
}

type playKind int

const (
	playIdle    playKind = iota // not playing: the sink gets silence, the decoder is not run
	playFrame                   // decode payload
	playConceal                 // a frame is missing: Codec.Conceal(next)
	playSilence                 // the sender paused inside a talkspurt: silence
)

// playout is what the jitter buffer hands the decoder for one tick.
type playout struct {
	kind    playKind
	payload []byte // playFrame: the payload to decode
	next    []byte // playConceal: the packet after the missing one, when it is here (Opus FEC)
}

// counters of one jitter buffer, cumulated across SSRC changes and sequence restarts.
type jitterCounters struct {
	received, late, duplicates, concealed, inserted, discarded, resyncs uint64
	lostBefore                                                          int64 // lost in earlier sequences
}

// jitterBuffer reorders one source's packets by sequence number and plays them out by RTP
// timestamp, one 20 ms frame per pop, after a delay sized from the measured spread of transit
// times. It is a pure state machine: time comes in as arguments; it is not safe for concurrent use.
type jitterBuffer struct {
	cfg        JitterConfig
	clockRate  float64
	frameTicks uint32

	// the current source and its sequence numbering
	haveSource bool
	ssrc       uint32
	baseExt    int64 // first extended sequence number of this sequence
	maxExt     int64
	seqCount   uint64 // packets received in this sequence (no duplicates)
	seen       [seenWindow / 64]uint64

	packets []bufferedPacket // sorted by ext

	// playout
	playing       bool
	playTS        uint32 // RTP timestamp of the frame due at the next pop
	havePlayed    bool
	lastPlayedExt int64
	current       time.Duration // playout delay of this talkspurt, adjusted frame by frame
	emptyRun      int
	sinceAdjust   int

	// transit measurement: RFC 3550 jitter and the spread that sizes the buffer
	firstArrival time.Time
	extTS        int64
	haveTransit  bool
	lastTransit  float64 // RTP ticks
	jitter       float64 // RTP ticks, RFC 3550 6.4.1
	transits     [transitWindow]float64
	nTransits    int

	c jitterCounters
}

func newJitterBuffer(cfg JitterConfig, f Format) (*jitterBuffer, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if f.ClockRate <= 0 || f.ClockRate%framesPerSecond != 0 {
		return nil, errors.New("media: clock rate must be a positive multiple of 50 Hz")
	}
	return &jitterBuffer{cfg: cfg, clockRate: float64(f.ClockRate), frameTicks: f.frameTicks(), current: cfg.Target}, nil
}

// restart forgets the sequence and playout state (a new SSRC or a sequence jump), keeping the counters.
func (j *jitterBuffer) restart() {
	if j.haveSource {
		j.c.lostBefore += j.lostInSequence()
	}
	j.haveSource = false
	j.seqCount = 0
	j.seen = [seenWindow / 64]uint64{}
	j.packets = j.packets[:0]
	j.playing, j.havePlayed = false, false
	j.haveTransit, j.nTransits, j.jitter = false, 0, 0
}

func (j *jitterBuffer) lostInSequence() int64 {
	if !j.haveSource {
		return 0
	}
	return (j.maxExt - j.baseExt + 1) - int64(j.seqCount)
}

func (j *jitterBuffer) seenBit(ext int64) (word int, mask uint64) {
	i := uint64(ext) % seenWindow
	return int(i / 64), 1 << (i % 64)
}

// push takes one received packet. payload is copied.
func (j *jitterBuffer) push(ssrc uint32, seq uint16, ts uint32, marker bool, payload []byte, now time.Time) {
	if j.haveSource && ssrc != j.ssrc {
		j.restart()
	}
	var ext int64
	if !j.haveSource {
		j.haveSource, j.ssrc = true, ssrc
		ext = int64(seq) + 1<<16 // room below for packets reordered ahead of the first
		j.baseExt, j.maxExt = ext, ext-1
	} else {
		ext = j.maxExt + int64(int16(seq-uint16(j.maxExt)))
		if ext-j.maxExt > maxDropout {
			j.c.resyncs++
			j.restart()
			j.push(ssrc, seq, ts, marker, payload, now)
			return
		}
	}
	if ext <= j.maxExt {
		if j.maxExt-ext >= seenWindow {
			j.c.late++
			return
		}
		if w, m := j.seenBit(ext); j.seen[w]&m != 0 {
			j.c.duplicates++
			return
		}
		if ext < j.baseExt {
			j.baseExt = ext
		}
	} else {
		for e := j.maxExt + 1; e <= ext && e-j.maxExt <= seenWindow; e++ {
			w, m := j.seenBit(e)
			j.seen[w] &^= m
		}
		j.maxExt = ext
	}
	w, m := j.seenBit(ext)
	j.seen[w] |= m
	j.seqCount++
	j.c.received++
	j.measure(ts, now)

	if j.havePlayed && ext <= j.lastPlayedExt || j.playing && j.stale(ts) {
		j.c.late++
		return
	}
	i, _ := slices.BinarySearchFunc(j.packets, ext, func(p bufferedPacket, e int64) int { return int(p.ext - e) })
	j.packets = slices.Insert(j.packets, i, bufferedPacket{ext: ext, ts: ts, marker: marker, arrival: now,
		payload: append([]byte(nil), payload...)})
	if len(j.packets) > maxBuffered {
		j.packets = slices.Delete(j.packets, 0, 1)
		j.c.discarded++
	}
}

// measure updates the RFC 3550 interarrival jitter and the transit window.
func (j *jitterBuffer) measure(ts uint32, now time.Time) {
	if !j.haveTransit {
		j.firstArrival, j.extTS = now, int64(ts)
	} else {
		j.extTS += int64(int32(ts - uint32(j.extTS)))
	}
	transit := now.Sub(j.firstArrival).Seconds()*j.clockRate - float64(j.extTS)
	if j.haveTransit {
		j.jitter += (math.Abs(transit-j.lastTransit) - j.jitter) / 16
	}
	j.haveTransit, j.lastTransit = true, transit
	j.transits[j.nTransits%transitWindow] = transit
	j.nTransits++
}

// desired is the playout delay the measured link calls for.
func (j *jitterBuffer) desired() time.Duration {
	if j.nTransits < transitMinimum {
		return j.cfg.Target
	}
	n := min(j.nTransits, transitWindow)
	lo, hi := slices.Min(j.transits[:n]), slices.Max(j.transits[:n])
	spread := time.Duration((hi - lo) / j.clockRate * float64(time.Second))
	return min(max(ceilFrame(spread+spreadMargin), j.cfg.Min), j.cfg.Max)
}

// stale reports whether the frame at ts is already past its playout time.
func (j *jitterBuffer) stale(ts uint32) bool {
	return int32(ts-j.playTS) <= -int32(j.frameTicks/2)
}

// pop returns what to play for the tick at now. quiet says the frame played last was near
// silence: the buffer shrinks by skipping a frame, and prefers to do it just after a quiet one,
// where the skip is least audible.
func (j *jitterBuffer) pop(now time.Time, quiet bool) playout {
	if j.playing {
		for len(j.packets) > 0 && j.stale(j.packets[0].ts) {
			j.packets = j.packets[1:]
			j.c.late++
		}
	}
	if !j.playing {
		if len(j.packets) == 0 {
			return playout{kind: playIdle}
		}
		head := j.packets[0]
		d := j.desired()
		if now.Sub(head.arrival) < d {
			return playout{kind: playIdle}
		}
		j.playing, j.current, j.playTS, j.emptyRun, j.sinceAdjust = true, d, head.ts, 0, 0
	}
	j.sinceAdjust++
	d := j.desired()
	if d >= j.current+FrameDuration { // grow by one frame: play a made-up frame, consume nothing
		j.current += FrameDuration
		j.sinceAdjust = 0
		j.c.inserted++
		return playout{kind: playConceal}
	}
	if j.current >= d+FrameDuration && (quiet && j.sinceAdjust >= shrinkEvery || j.sinceAdjust >= shrinkAnyway) && len(j.packets) >= 2 &&
		j.packets[0].ts == j.playTS && j.packets[1].ts == j.playTS+j.frameTicks {
		j.packets = j.packets[1:] // shrink by one frame: skip the frame due now
		j.playTS += j.frameTicks
		j.current -= FrameDuration
		j.sinceAdjust = 0
		j.c.discarded++
	}
	if len(j.packets) == 0 {
		j.emptyRun++
		if j.emptyRun > maxUnderrun {
			j.playing = false
			return playout{kind: playIdle}
		}
		j.playTS += j.frameTicks
		j.c.concealed++
		return playout{kind: playConceal}
	}
	j.emptyRun = 0
	head := j.packets[0]
	ahead := int32(head.ts - j.playTS)
	switch {
	case ahead < int32(j.frameTicks/2): // due now
		j.packets = j.packets[1:]
		j.playTS += j.frameTicks
		j.havePlayed, j.lastPlayedExt = true, head.ext
		return playout{kind: playFrame, payload: head.payload}
	case ahead > resyncAhead*int32(j.frameTicks) || head.marker && j.havePlayed && head.ext == j.lastPlayedExt+1:
		// far ahead (the sender jumped) or a new talkspurt: re-anchor playout on it
		if !head.marker {
			j.c.resyncs++
		}
		j.playing = false
		return j.pop(now, quiet)
	case j.havePlayed && head.ext == j.lastPlayedExt+1: // nothing lost: the sender paused
		j.playTS += j.frameTicks
		return playout{kind: playSilence}
	}
	// one or more packets before head are missing
	var next []byte
	if head.ts == j.playTS+j.frameTicks {
		next = head.payload
	}
	j.playTS += j.frameTicks
	j.c.concealed++
	return playout{kind: playConceal, next: next}
}

// jitterMillis is the RFC 3550 interarrival jitter in milliseconds.
func (j *jitterBuffer) jitterMillis() float64 { return j.jitter / j.clockRate * 1000 }

// lost is expected minus received over every sequence so far (RFC 3550 A.3).
func (j *jitterBuffer) lost() int64 { return j.c.lostBefore + j.lostInSequence() }
