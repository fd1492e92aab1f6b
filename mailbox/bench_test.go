package mailbox

import (
	"testing"
	"time"

	"meshcomm/mesh"
)

// Measurement: go test -run '^$' -bench . -benchtime 20x ./mailbox/
// The voicemail benchmarks report the cost of 120 s of Opus at 32 kbit/s (480,000 bytes,
// 32 records); the receive benchmark the cost of taking one stored text at registration
// (verify, deliver, delete, receipt).

const twoMinutesOfOpus = 480_000

func BenchmarkSealVoicemail120s(b *testing.B) {
	tm := newTeam(b, 2)
	a, r := tm.members[0], tm.members[1]
	v := Voicemail{MediaType: "audio/opus", Audio: audio(twoMinutesOfOpus, 1)}
	head := *textMessage(a, r, 1, "")
	rnd := seededReader(1)
	b.SetBytes(twoMinutesOfOpus)
	for b.Loop() {
		if _, err := SealVoicemail(rnd, r.pub(), head, v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpenVoicemail120s(b *testing.B) {
	tm := newTeam(b, 2)
	a, r := tm.members[0], tm.members[1]
	parts, err := SealVoicemail(seededReader(1), r.pub(), *textMessage(a, r, 1, ""), Voicemail{MediaType: "audio/opus", Audio: audio(twoMinutesOfOpus, 1)})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(len(parts)), "records")
	b.SetBytes(twoMinutesOfOpus)
	for b.Loop() {
		if _, err := OpenVoicemail(r.key, parts); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReceiveStoredText(b *testing.B) {
	tm := newTeam(b, 2)
	a := tm.mailbox(b, 0, 1)
	var recs []*mesh.Record
	for range b.N + 1 {
		id, _, err := a.SendText(t0, tm.members[1].aor, "Need water supply at hydrant 12")
		if err != nil {
			b.Fatal(err)
		}
		recs = append(recs, a.DirectResult(t0, id, false).Store...)
	}
	rcv := tm.mailbox(b, 1, 2)
	now := t0.Add(time.Minute)
	b.ResetTimer()
	for i := range b.N {
		r := rcv.ReceiveStored(now, recs[i:i+1])
		if len(r.Delivered) != 1 {
			b.Fatal("not delivered")
		}
		if _, err := rcv.Remove(r.Delivered[0].Ref); err != nil { // keep the inbox under its limit
			b.Fatal(err)
		}
	}
}
