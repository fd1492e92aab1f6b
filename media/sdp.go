package media

import (
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// MaxSDPBytes bounds a remote session description: ParseSDP and Answer refuse a larger one unread.
const MaxSDPBytes = 16 << 10

// mediaPort is the m= port: nominal, since media travels as QUIC datagrams on the connection
// that carries the SIP dialog (9 is the discard port, as RFC 4145 and ICE use for "not here").
const mediaPort = 9

// SDP errors. Every error ParseSDP and Answer return wraps one of them.
var (
	ErrSDPTooLarge   = errors.New("media: SDP too large")
	ErrBadSDP        = errors.New("media: malformed SDP")
	ErrNoAudio       = errors.New("media: SDP has no active audio stream")
	ErrNoCommonCodec = errors.New("media: no codec in common")
)

// SDPParams describe this side of a call for Offer and Answer.
type SDPParams struct {
	// Address is this node's address (o= and c= lines). Media does not go there: see doc.go.
	Address netip.Addr
	// SSRC is what this side will send as (a=ssrc); give the Session the same value.
	SSRC uint32
	// SessionID is the o= session id and version; 0 picks a random one.
	SessionID uint64
	// Formats are the codecs this side supports, preferred first (nil: DefaultFormats()).
	Formats []Format
}

// Negotiated is what a session description settles.
type Negotiated struct {
	// Format is the codec chosen, with the payload type both sides use for it.
	Format Format
	// RemoteSSRC is the peer's SSRC from its a=ssrc line, or 0 if it gave none.
	RemoteSSRC uint32
	// Direction is the peer's direction attribute: "sendrecv" (the default), "sendonly",
	// "recvonly" or "inactive".
	Direction string
}

func (p SDPParams) formats() []Format {
	if len(p.Formats) == 0 {
		return DefaultFormats()
	}
	return p.Formats
}

// Offer builds an SDP offer listing p's formats in order (default Opus, PCMU, PCMA).
func Offer(p SDPParams) ([]byte, error) {
	return build(p, p.formats(), "sendrecv")
}

// Answer answers offer: it chooses the first codec in the offer's order that p supports, and
// returns the answer SDP (that codec only, under the offer's payload type) and what was settled.
func Answer(offer []byte, p SDPParams) ([]byte, Negotiated, error) {
	n, err := ParseSDP(offer, p.formats())
	if err != nil {
		return nil, Negotiated{}, err
	}
	dir := map[string]string{"sendonly": "recvonly", "recvonly": "sendonly"}[n.Direction]
	if dir == "" {
		dir = n.Direction
	}
	b, err := build(p, []Format{n.Format}, dir)
	return b, n, err
}

func build(p SDPParams, formats []Format, direction string) ([]byte, error) {
	if !p.Address.IsValid() {
		return nil, errors.New("media: SDPParams.Address is required")
	}
	id := p.SessionID
	if id == 0 {
		var b [8]byte
		_, _ = crand.Read(b[:])
		id = binary.BigEndian.Uint64(b[:]) >> 2 // SDP wants it to fit a signed 64-bit NTP value
	}
	addrType := "IP4"
	if p.Address.Is6() && !p.Address.Is4In6() {
		addrType = "IP6"
	}
	addr := p.Address.Unmap().WithZone("").String()
	m := &sdp.MediaDescription{MediaName: sdp.MediaName{Media: "audio", Port: sdp.RangedPort{Value: mediaPort},
		Protos: []string{"RTP", "AVP"}}}
	for _, f := range formats {
		m.WithCodec(f.PayloadType, f.Name, uint32(f.ClockRate), uint16(f.Channels), f.Fmtp)
	}
	m.WithValueAttribute("ptime", "20").WithPropertyAttribute(direction)
	if p.SSRC != 0 {
		m.WithValueAttribute("ssrc", fmt.Sprintf("%d cname:meshcomm", p.SSRC))
	}
	sd := &sdp.SessionDescription{
		Origin: sdp.Origin{Username: "-", SessionID: id, SessionVersion: id, NetworkType: "IN",
			AddressType: addrType, UnicastAddress: addr},
		SessionName:           "meshcomm",
		ConnectionInformation: &sdp.ConnectionInformation{NetworkType: "IN", AddressType: addrType, Address: &sdp.Address{Address: addr}},
		TimeDescriptions:      []sdp.TimeDescription{{}},
		MediaDescriptions:     []*sdp.MediaDescription{m},
	}
	return sd.Marshal()
}

// ParseSDP reads a remote offer or answer: the first active audio stream (m=audio with a
// non-zero port), the first of its formats (in the remote's order) that is in supported, the
// remote's SSRC and direction.
func ParseSDP(remote []byte, supported []Format) (Negotiated, error) {
	if len(remote) > MaxSDPBytes {
		return Negotiated{}, fmt.Errorf("%w: %d bytes, at most %d", ErrSDPTooLarge, len(remote), MaxSDPBytes)
	}
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(remote); err != nil {
		return Negotiated{}, fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	var m *sdp.MediaDescription
	for _, md := range sd.MediaDescriptions {
		if md.MediaName.Media == "audio" && md.MediaName.Port.Value != 0 {
			m = md
			break
		}
	}
	if m == nil {
		return Negotiated{}, ErrNoAudio
	}
	if proto := strings.Join(m.MediaName.Protos, "/"); proto != "RTP/AVP" && proto != "RTP/AVPF" {
		return Negotiated{}, fmt.Errorf("%w: audio over %q, not RTP/AVP", ErrNoAudio, proto)
	}
	n := Negotiated{Direction: direction(&sd, m)}
	ssrc, err := remoteSSRC(m)
	if err != nil {
		return Negotiated{}, err
	}
	n.RemoteSSRC = ssrc
	codecs := (&sdp.SessionDescription{MediaDescriptions: []*sdp.MediaDescription{m}}).GetCodecMap()
	pts := make([]uint8, len(m.MediaName.Formats))
	for i, field := range m.MediaName.Formats {
		pt, err := strconv.ParseUint(field, 10, 8)
		if err != nil || pt > 127 {
			return Negotiated{}, fmt.Errorf("%w: payload type %q", ErrBadSDP, field)
		}
		pts[i] = uint8(pt)
	}
	for _, pt := range pts {
		c, ok := codecs[pt]
		if !ok {
			continue
		}
		remoteFormat := Format{Name: c.Name, ClockRate: int(c.ClockRate)}
		for _, f := range supported {
			if f.sameCodec(remoteFormat) {
				f.PayloadType = pt
				n.Format = f
				return n, nil
			}
		}
	}
	return Negotiated{}, fmt.Errorf("%w: remote offers %s", ErrNoCommonCodec, strings.Join(m.MediaName.Formats, " "))
}

func direction(sd *sdp.SessionDescription, m *sdp.MediaDescription) string {
	for _, attrs := range [][]sdp.Attribute{m.Attributes, sd.Attributes} {
		for _, a := range attrs {
			switch a.Key {
			case "sendrecv", "sendonly", "recvonly", "inactive":
				return a.Key
			}
		}
	}
	return "sendrecv"
}

// remoteSSRC reads the first a=ssrc:<id> <attribute> line, or gives 0 when there is none (an
// SSRC of 0 reads as "not said" too).
func remoteSSRC(m *sdp.MediaDescription) (uint32, error) {
	v, ok := m.Attribute("ssrc")
	if !ok {
		return 0, nil
	}
	id, _, _ := strings.Cut(v, " ")
	ssrc, err := strconv.ParseUint(id, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%w: a=ssrc:%s", ErrBadSDP, v)
	}
	return uint32(ssrc), nil
}
