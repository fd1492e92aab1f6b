package mesh

import (
	"fmt"
	"testing"
)

// Figures: go test ./mesh/ -run '^$' -bench 'Encode|Decode|EncodedSize' -benchmem -benchtime 200ms

func typicalStore(b *testing.B) *Store {
	recs := make([]Record, 4)
	for i := range recs {
		recs[i] = signedRecord(b, 101+i)
	}
	return &Store{ReqID: 1234, Records: recs}
}

func typicalNodes() *Nodes {
	cs := make([]Contact, 20)
	for i := range cs {
		cs[i] = Contact{ID: idOf(byte(i * 16)), Addr: fmt.Sprintf("10.0.%d.%d:4433", i/8, 10+i)}
	}
	return &Nodes{ReqID: 77, Nodes: cs}
}

func benchEncode(b *testing.B, m Message) {
	buf := make([]byte, 0, EncodedSize(m))
	b.SetBytes(int64(EncodedSize(m)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = AppendEncode(buf[:0], m); err != nil {
			b.Fatal(err)
		}
	}
}

func benchDecode(b *testing.B, m Message) {
	frame := mustEncode(b, m)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(frame); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeStore4(b *testing.B)  { benchEncode(b, typicalStore(b)) }
func BenchmarkDecodeStore4(b *testing.B)  { benchDecode(b, typicalStore(b)) }
func BenchmarkEncodeNodes20(b *testing.B) { benchEncode(b, typicalNodes()) }
func BenchmarkDecodeNodes20(b *testing.B) { benchDecode(b, typicalNodes()) }

func BenchmarkEncodedSize(b *testing.B) {
	msgs := []Message{typicalStore(b), typicalNodes()}
	b.ReportAllocs()
	total := 0
	for b.Loop() {
		for _, m := range msgs {
			total += EncodedSize(m)
		}
	}
	if total == 0 {
		b.Fatal("EncodedSize returned 0")
	}
}
