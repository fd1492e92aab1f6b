package transport

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/quic-go/quic-go"

	"meshcomm/transport/memnet"
)

// TestMeasureFrameStreams prints the delivery latency of overlay frames carried either each on
// its own QUIC stream (what Endpoint does) or all on one long-lived stream per direction, over
// a link with 25 ms one-way delay and independent packet loss. 200-byte frames leave every
// 20 ms. Everything runs in virtual time (synctest over memnet), so the figures depend only on
// QUIC's behaviour and the seed, not on this machine. Run it with
//
//	MESHCOMM_TRANSPORT_MEASURE=1 go test -run TestMeasureFrameStreams -v ./transport/
//
// (MESHCOMM_TRANSPORT_FRAMES sets the frames per row, default 1000).
func TestMeasureFrameStreams(t *testing.T) {
	if os.Getenv("MESHCOMM_TRANSPORT_MEASURE") == "" {
		t.Skip("measurement: set MESHCOMM_TRANSPORT_MEASURE=1 to run")
	}
	frames := 1000
	if s := os.Getenv("MESHCOMM_TRANSPORT_FRAMES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 10 {
			t.Fatalf("MESHCOMM_TRANSPORT_FRAMES=%q", s)
		}
		frames = n
	}
	fmt.Printf("frame delivery latency, %d frames of 200 B every 20 ms, 25 ms one-way delay\n", frames)
	fmt.Printf("%-20s %5s | %8s %8s %8s %8s\n", "carriage", "loss", "p50", "p90", "p99", "max")
	for _, loss := range []float64{0, 0.02, 0.05, 0.10, 0.20} {
		for _, perMessage := range []bool{true, false} {
			var lat []time.Duration
			synctest.Test(t, func(t *testing.T) { lat = measureCarriage(t, perMessage, loss, frames) })
			if len(lat) != frames {
				t.Fatalf("%d of %d frames arrived", len(lat), frames)
			}
			slices.Sort(lat)
			q := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))] }
			name := map[bool]string{true: "stream per frame", false: "one stream"}[perMessage]
			fmt.Printf("%-20s %4.0f%% | %8v %8v %8v %8v\n", name, loss*100,
				q(0.5).Round(time.Millisecond), q(0.9).Round(time.Millisecond), q(0.99).Round(time.Millisecond),
				lat[len(lat)-1].Round(time.Millisecond))
		}
	}
}

func measureCarriage(t *testing.T, perMessage bool, loss float64, frames int) []time.Duration {
	mn := memnet.New(7)
	mn.SetDefault(memnet.Link{Delay: 25 * time.Millisecond, Loss: loss})
	ca := newCA(t, "team")
	conf := &quic.Config{MaxIncomingUniStreams: maxIncomingUniStreams, KeepAlivePeriod: DefaultKeepAlive,
		MaxIdleTimeout: DefaultIdleTimeout, HandshakeIdleTimeout: DefaultHandshakeTimeout}
	tlsConf := func() *tls.Config {
		return &tls.Config{Certificates: []tls.Certificate{ca.issue(t, leafOpts{})}, InsecureSkipVerify: true,
			NextProtos: []string{ALPN}, MinVersion: tls.VersionTLS13}
	}
	spc, _ := mn.Listen("10.0.0.2:7070")
	cpc, _ := mn.Listen("10.0.0.1:7070")
	str := &quic.Transport{Conn: spc}
	ctr := &quic.Transport{Conn: cpc}
	defer str.Close()
	defer ctr.Close()
	ln, err := str.Listen(tlsConf(), conf)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	sent := make([]time.Time, frames)
	var mu sync.Mutex
	var lat []time.Duration
	arrived := make(chan struct{})
	record := func(payload []byte) {
		i := binary.BigEndian.Uint32(payload)
		mu.Lock()
		lat = append(lat, time.Since(sent[i]))
		if len(lat) == frames {
			close(arrived)
		}
		mu.Unlock()
	}
	go func() { // receiver
		qc, err := ln.Accept(ctx)
		if err != nil {
			return
		}
		for {
			st, err := qc.AcceptUniStream(ctx)
			if err != nil {
				return
			}
			go decodeUniStream(st, func(p []byte) bool { record(p); return true })
		}
	}()

	qc, err := ctr.Dial(ctx, spc.LocalAddr(), tlsConf(), conf)
	if err != nil {
		t.Fatal(err)
	}
	defer qc.CloseWithError(0, "")
	var one *quic.SendStream
	if !perMessage {
		if one, err = qc.OpenUniStream(); err != nil {
			t.Fatal(err)
		}
		one.Write([]byte{kindFrames})
	}
	payload := make([]byte, 200)
	for i := range frames {
		binary.BigEndian.PutUint32(payload, uint32(i))
		frame := appendFrameHeader(nil, len(payload))
		frame = append(frame, payload...)
		mu.Lock()
		sent[i] = time.Now()
		mu.Unlock()
		if perMessage {
			st, err := qc.OpenUniStreamSync(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.Write(append([]byte{kindFrames}, frame...)); err != nil {
				t.Fatal(err)
			}
			st.Close()
		} else if _, err := one.Write(frame); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case <-arrived:
	case <-time.After(time.Minute):
	}
	mu.Lock()
	defer mu.Unlock()
	return slices.Clone(lat)
}
