package media

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestOfferListsOpusThenG711(t *testing.T) {
	offer, err := Offer(SDPParams{Address: netip.MustParseAddr("10.1.2.3"), SSRC: 4242, SessionID: 99})
	if err != nil {
		t.Fatal(err)
	}
	want := "v=0\r\n" +
		"o=- 99 99 IN IP4 10.1.2.3\r\n" +
		"s=meshcomm\r\n" +
		"c=IN IP4 10.1.2.3\r\n" +
		"t=0 0\r\n" +
		"m=audio 9 RTP/AVP 111 0 8\r\n" +
		"a=rtpmap:111 opus/48000/2\r\n" +
		"a=fmtp:111 minptime=10;useinbandfec=1\r\n" +
		"a=rtpmap:0 PCMU/8000\r\n" +
		"a=rtpmap:8 PCMA/8000\r\n" +
		"a=ptime:20\r\n" +
		"a=sendrecv\r\n" +
		"a=ssrc:4242 cname:meshcomm\r\n"
	if string(offer) != want {
		t.Errorf("offer:\n%s\nwant:\n%s", offer, want)
	}
	v6, err := Offer(SDPParams{Address: netip.MustParseAddr("fe80::1%eth0"), Formats: []Format{PCMA}})
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"c=IN IP6 fe80::1\r\n", "m=audio 9 RTP/AVP 8\r\n"} {
		if !strings.Contains(string(v6), line) {
			t.Errorf("IPv6 offer lacks %q:\n%s", line, v6)
		}
	}
	if strings.Contains(string(v6), "a=ssrc") {
		t.Errorf("an offer without an SSRC says one:\n%s", v6)
	}
	if _, err := Offer(SDPParams{}); err == nil {
		t.Error("an offer without an address was built")
	}
}

func TestOfferAnswerSettlesOnTheFirstCommonCodec(t *testing.T) {
	alice := SDPParams{Address: netip.MustParseAddr("10.0.0.1"), SSRC: 1}
	for _, tc := range []struct {
		name       string
		offerer    []Format
		answerer   []Format
		wantFormat string
	}{
		{"both everything", nil, nil, "opus"},
		{"answerer without opus", nil, []Format{PCMA, PCMU}, "PCMU"}, // the offer's order wins
		{"only A-law in common", []Format{Opus, PCMA}, []Format{PCMU, PCMA}, "PCMA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := alice
			a.Formats = tc.offerer
			offer, err := Offer(a)
			if err != nil {
				t.Fatal(err)
			}
			bob := SDPParams{Address: netip.MustParseAddr("10.0.0.2"), SSRC: 2, Formats: tc.answerer}
			answer, atBob, err := Answer(offer, bob)
			if err != nil {
				t.Fatal(err)
			}
			atAlice, err := ParseSDP(answer, a.formats())
			if err != nil {
				t.Fatal(err)
			}
			if atBob.Format.Name != tc.wantFormat || atAlice.Format != atBob.Format {
				t.Errorf("bob chose %v, alice read %v; want %s on both", atBob.Format, atAlice.Format, tc.wantFormat)
			}
			if atBob.RemoteSSRC != 1 || atAlice.RemoteSSRC != 2 {
				t.Errorf("remote SSRCs: bob sees %d, alice sees %d", atBob.RemoteSSRC, atAlice.RemoteSSRC)
			}
			if strings.Count(string(answer), "a=rtpmap:") != 1 {
				t.Errorf("the answer lists more than the chosen codec:\n%s", answer)
			}
		})
	}
}

func TestParseSDPReadsForeignOffers(t *testing.T) {
	// A conventional phone: dynamic payload type 96 for Opus, static PCMU without rtpmap,
	// telephone-event it does not matter we lack, no a=ssrc, recvonly (a hold).
	foreign := "v=0\r\no=phone 1 1 IN IP4 192.0.2.7\r\ns=-\r\nc=IN IP4 192.0.2.7\r\nt=0 0\r\n" +
		"m=video 0 RTP/AVP 97\r\n" +
		"m=audio 40000 RTP/AVP 101 96 0\r\na=rtpmap:101 telephone-event/8000\r\n" +
		"a=rtpmap:96 OPUS/48000/2\r\na=recvonly\r\n"
	n, err := ParseSDP([]byte(foreign), DefaultFormats())
	if err != nil {
		t.Fatal(err)
	}
	if n.Format.Name != "opus" || n.Format.PayloadType != 96 || n.RemoteSSRC != 0 || n.Direction != "recvonly" {
		t.Errorf("negotiated %+v", n)
	}
	answer, _, err := Answer([]byte(foreign), SDPParams{Address: netip.MustParseAddr("192.0.2.8")})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(answer), "a=sendonly") || !strings.Contains(string(answer), "m=audio 9 RTP/AVP 96") {
		t.Errorf("answer to a hold:\n%s", answer)
	}
	n, err = ParseSDP([]byte(strings.Replace(foreign, "101 96 0", "101 0", 1)), DefaultFormats())
	if err != nil || n.Format.Name != "PCMU" || n.Format.PayloadType != 0 {
		t.Errorf("static PCMU without rtpmap: %+v, %v", n, err)
	}
}

func TestParseSDPRefusesClearly(t *testing.T) {
	base := "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
	for _, tc := range []struct {
		name string
		sdp  string
		want error
	}{
		{"too large", base + "m=audio 9 RTP/AVP 0\r\n" + strings.Repeat("a=x:y\r\n", MaxSDPBytes/7), ErrSDPTooLarge},
		{"not SDP", "hello", ErrBadSDP},
		{"no audio", base + "m=video 9 RTP/AVP 96\r\n", ErrNoAudio},
		{"audio rejected", base + "m=audio 0 RTP/AVP 0\r\n", ErrNoAudio},
		{"SRTP", base + "m=audio 9 RTP/SAVP 0\r\n", ErrNoAudio},
		{"nothing in common", base + "m=audio 9 RTP/AVP 18 9\r\na=rtpmap:18 G729/8000\r\n", ErrNoCommonCodec},
		{"bad payload type", base + "m=audio 9 RTP/AVP 0 x\r\n", ErrBadSDP},
		{"opus at the wrong clock", base + "m=audio 9 RTP/AVP 96\r\na=rtpmap:96 opus/16000\r\n", ErrNoCommonCodec},
		{"bad ssrc", base + "m=audio 9 RTP/AVP 0\r\na=ssrc:banana cname:x\r\n", ErrBadSDP},
	} {
		if _, err := ParseSDP([]byte(tc.sdp), DefaultFormats()); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}
