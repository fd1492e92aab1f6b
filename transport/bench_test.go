package transport

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkSend measures sending frames between two endpoints on 127.0.0.1 (each frame on its
// own QUIC stream), from Send to the receiving handler.
//
//	go test -run '^$' -bench Send ./transport/
func BenchmarkSend(b *testing.B) {
	ca := newCA(b, "team")
	trust := trusting(ca)
	a, r := newNode(b, ca, trust), newNode(b, ca, trust)
	ctx := ctxFor(b)
	if err := a.Send(ctx, r.contact(), []byte("warm up")); err != nil {
		b.Fatal(err)
	}
	r.nextFrame(b)
	for _, size := range []int{200, 4 << 10, 64 << 10} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			payload := make([]byte, size)
			b.SetBytes(int64(size))
			done := make(chan bool)
			go func() {
				for range b.N {
					select {
					case <-r.frames:
					case <-time.After(wait):
						done <- false
						return
					}
				}
				done <- true
			}()
			b.ResetTimer()
			for range b.N {
				if err := a.Send(ctx, r.contact(), payload); err != nil {
					b.Fatal(err)
				}
			}
			if !<-done {
				b.Fatal("frames were lost")
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
		})
	}
}
