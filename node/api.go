package node

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"time"

	"meshcomm/identity"
	"meshcomm/mesh"
)

// Status is a snapshot of a running node (the control method "status").
type Status struct {
	NodeID        string          `json:"node_id"`
	AoR           string          `json:"aor"`
	Ext           string          `json:"ext"`
	Team          string          `json:"team"`
	Name          string          `json:"name"`
	Role          string          `json:"role"`
	Addr          string          `json:"addr"`   // advertised in the registration
	Listen        string          `json:"listen"` // the bound UDP socket
	DataDir       string          `json:"data_dir"`
	Mode          string          `json:"mode"` // "flood" or "dht"
	SizeEstimate  int             `json:"size_estimate"`
	Neighbors     int             `json:"neighbors"` // flood-mode neighbours in use
	Known         int             `json:"known"`     // peers in the routing table
	Records       int             `json:"records"`   // records held, own and others'
	OwnRecords    int             `json:"own_records"`
	RecordsLoaded int             `json:"records_loaded"` // read back from disk at start-up
	UptimeS       float64         `json:"uptime_s"`
	Peers         []PeerInfo      `json:"peers"` // direct QUIC links
	Untrusted     []UntrustedTeam `json:"untrusted"`
	Counters      Counters        `json:"counters"`
	Presence      *PresenceInfo   `json:"presence,omitempty"` // this user's, as last set
	Roster        []PresenceInfo  `json:"roster"`             // the users this node follows
}

// PeerInfo describes one directly linked peer.
type PeerInfo struct {
	NodeID   string  `json:"node_id"`
	AoR      string  `json:"aor"`
	Name     string  `json:"name"`
	Team     string  `json:"team"`
	Role     string  `json:"role"`
	Addr     string  `json:"addr"` // its UDP address as this node sees it
	RTTMs    float64 `json:"rtt_ms"`
	Outbound bool    `json:"outbound"` // this node dialled it
}

// UntrustedTeam is a team whose CA this node does not trust and whose peer tried to connect:
// "untrusted team nearby". Trust it with `meshcomm trust add` after checking the fingerprint.
type UntrustedTeam struct {
	Team        string    `json:"team"`
	Fingerprint string    `json:"fingerprint"`
	LastSeen    time.Time `json:"last_seen"`
}

// LookupResult is the answer to a lookup of an AoR's registration.
type LookupResult struct {
	Found         bool           `json:"found"`
	AoR           string         `json:"aor"`
	NodeID        string         `json:"node_id"`
	Contact       string         `json:"contact"` // the QUIC address: the link's if linked, else the registered one
	Name          string         `json:"name"`
	Hops          int            `json:"hops"`
	ElapsedMs     float64        `json:"elapsed_ms"`
	Registrations []Registration `json:"registrations"` // every live registration, newest first
}

// RecordInfo summarises one record held (the control method "records").
type RecordInfo struct {
	Kind     string    `json:"kind"`
	Resource string    `json:"resource"`
	Key      string    `json:"key"`
	Version  uint64    `json:"version"`
	Expiry   time.Time `json:"expiry"`
	Deleted  bool      `json:"deleted"`
	AoR      string    `json:"aor,omitempty"` // registrations: the AoR registered
	Size     int       `json:"size"`
}

// RevocationResult says what publishing a revocation did.
type RevocationResult struct {
	Fingerprint string `json:"fingerprint"`
	AoR         string `json:"aor"`
	SentTo      int    `json:"sent_to"` // peers the record was sent to
}

// Status returns a snapshot of the node.
func (n *Node) Status(ctx context.Context) (Status, error) {
	var st Status
	err := n.onLoop(ctx, func(now time.Time) {
		cs := n.core.Status()
		cc := n.core.Counters()
		st = Status{NodeID: n.self.ID.String(), AoR: n.id.AoR(), Ext: n.id.Ext(), Team: n.id.Team(),
			Name: n.id.DisplayName(), Role: n.id.Role(), Addr: n.self.Addr, Listen: n.LocalAddr(),
			DataDir: n.cfg.DataDir, Mode: cs.Mode.String(), SizeEstimate: cs.SizeEstimate, Neighbors: cs.Neighbors,
			Known: cs.Known, Records: cs.Records, OwnRecords: cs.OwnRecords, RecordsLoaded: len(n.loaded.Records),
			UptimeS: now.Sub(n.started).Seconds()}
		st.Counters = Counters{RecordsStored: cc.RecordsStored, RecordsRefused: cc.RecordsRefused,
			LookupsFound: cc.LookupsFound, LookupsMissed: cc.LookupsMissed, ModeSwitches: cc.ModeSwitches,
			Merges: cc.Merges, RequestTimeouts: cc.Timeouts}
	})
	if err != nil {
		return Status{}, err
	}
	st.Peers = n.peers()
	for _, s := range n.id.Verifier().SeenUntrusted() {
		st.Untrusted = append(st.Untrusted, UntrustedTeam{Team: s.Team, Fingerprint: s.Fingerprint.String(), LastSeen: s.LastSeen})
	}
	if st.Untrusted == nil {
		st.Untrusted = []UntrustedTeam{}
	}
	st.Presence = n.ownPresence()
	st.Roster = []PresenceInfo{}
	if n.roster != nil {
		st.Roster = n.roster.list()
	}
	n.fillCounters(&st.Counters)
	return st, nil
}

func (n *Node) fillCounters(c *Counters) {
	ts := n.ep.Stats()
	c.FramesIn, c.BytesIn = n.stat.framesIn.Load(), n.stat.bytesIn.Load()
	c.FramesOut, c.BytesOut = n.out.sent.Load(), n.out.sentBytes.Load()
	c.BadFrames = n.stat.badFrameCounts()
	c.SendDropped, c.SendFailed = n.out.dropped.Load(), n.out.failed.Load()
	c.EncodeErrors, c.PersistErrors = n.stat.encodeErrors.Load(), n.stat.persistErrors.Load()
	c.EventsDropped, c.ControlRefused = n.bus.Dropped(), n.stat.controlRefused.Load()
	c.Revocations = n.stat.revocations.Load()
	c.DialFailures, c.TransportRefused, c.RefusedByPeers = ts.DialFailures, ts.Refused, ts.RefusedByPeers
	c.IdentityRefused = n.id.Verifier().Refusals()
}

// Peers lists the directly linked peers, in node id order.
func (n *Node) Peers(ctx context.Context) ([]PeerInfo, error) {
	select {
	case <-n.loopDone:
		return nil, ErrClosed
	default:
	}
	return n.peers(), nil
}

func (n *Node) peers() []PeerInfo {
	out := []PeerInfo{}
	for _, p := range n.ep.Peers() {
		info := PeerInfo{NodeID: p.Peer.ID.String(), Addr: p.Peer.Addr, RTTMs: float64(p.RTT.Microseconds()) / 1000,
			Outbound: p.Outbound}
		if p.Certificate != nil {
			pi := identity.PeerOf(p.Certificate)
			info.AoR, info.Name, info.Team, info.Role = pi.AoR, pi.DisplayName, pi.Team, pi.Role
		}
		out = append(out, info)
	}
	return out
}

// Lookup resolves a target (a bare extension in this node's team, or a sip: URI) to its
// registrations. It waits until the overlay answers or ctx ends.
func (n *Node) Lookup(ctx context.Context, target string) (LookupResult, error) {
	aor, err := CanonicalTarget(target, n.id.Team())
	if err != nil {
		return LookupResult{}, err
	}
	res := mesh.ResourceIDFor(aor)
	reply := make(chan mesh.LookupDone, 1)
	start := time.Now()
	err = n.onLoop(ctx, func(now time.Time) {
		n.lookups[n.core.Lookup(now, res, mesh.KindRegistration)] = reply
	})
	if err != nil {
		return LookupResult{}, err
	}
	select {
	case done := <-reply:
		res := lookupResult(aor, done, time.Since(start), n.now())
		if id, err := parseNodeID(res.NodeID); err == nil && res.Found {
			if p, ok := n.ep.Peer(id); ok {
				res.Contact = p.Peer.Addr // linked: the address that works, as the link sees it
			}
		}
		return res, nil
	case <-ctx.Done():
		return LookupResult{}, fmt.Errorf("lookup of %s: %w", aor, ctx.Err())
	case <-n.loopDone:
		return LookupResult{}, ErrClosed
	}
}

// lookupResult picks the live registrations out of a lookup's records, newest first. A value
// that does not decode, or names another node than the one that signed it, is skipped.
func lookupResult(aor string, done mesh.LookupDone, elapsed time.Duration, now time.Time) LookupResult {
	out := LookupResult{AoR: aor, Hops: done.Hops, ElapsedMs: float64(elapsed.Microseconds()) / 1000, Registrations: []Registration{}}
	recs := append([]mesh.Record(nil), done.Records...)
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].Version > recs[j].Version })
	for _, r := range recs {
		if r.Kind != mesh.KindRegistration || r.Deleted || r.Expired(now.UnixMilli()) {
			continue
		}
		reg, err := DecodeRegistration(r.Value)
		if err != nil || reg.AoR != aor || reg.NodeID != hex.EncodeToString(r.Key) {
			continue
		}
		out.Registrations = append(out.Registrations, reg)
	}
	if len(out.Registrations) > 0 {
		best := out.Registrations[0]
		out.Found, out.NodeID, out.Contact, out.Name = true, best.NodeID, best.Addr, best.Name
	}
	return out
}

// Records lists the records held, optionally only those of one kind ("registration", ...).
func (n *Node) Records(ctx context.Context, kind string) ([]RecordInfo, error) {
	var recs []mesh.Record
	if err := n.onLoop(ctx, func(time.Time) { recs = n.core.Records() }); err != nil {
		return nil, err
	}
	out := []RecordInfo{}
	for _, r := range recs {
		if kind != "" && r.Kind.String() != kind {
			continue
		}
		info := RecordInfo{Kind: r.Kind.String(), Resource: r.Resource.String(), Key: hex.EncodeToString(r.Key),
			Version: r.Version, Expiry: time.UnixMilli(r.Expiry).UTC(), Deleted: r.Deleted, Size: r.Size()}
		if r.Kind == mesh.KindRegistration && !r.Deleted {
			if reg, err := DecodeRegistration(r.Value); err == nil {
				info.AoR = reg.AoR
			}
		}
		out = append(out, info)
	}
	return out, nil
}

// PublishRevocation honours a revocation file (from `meshcomm ca revoke`) at once and sends
// the record to every linked peer, from where it floods through the mesh (each node that
// stores it passes it on by reconciliation). With no peer linked it is honoured here only
// (and kept in revocations/); publish it again once peers are there.
func (n *Node) PublishRevocation(ctx context.Context, file []byte) (RevocationResult, error) {
	rec, err := identity.DecodeRevocationFile(file)
	if err != nil {
		return RevocationResult{}, err
	}
	if rec.Kind != mesh.KindRevocation {
		return RevocationResult{}, errors.New("the file holds no revocation record")
	}
	frame, err := mesh.Encode(&mesh.Store{Records: []mesh.Record{*rec}})
	if err != nil {
		return RevocationResult{}, err
	}
	var out RevocationResult
	var herr error
	err = n.onLoop(ctx, func(time.Time) {
		if herr = n.honourRevocation(rec); herr != nil {
			return
		}
		for _, p := range n.ep.Peers() {
			if n.out.enqueue(p.Peer, frame) {
				out.SentTo++
			}
		}
	})
	if err == nil {
		err = herr
	}
	if err != nil {
		return RevocationResult{}, err
	}
	var fp identity.Fingerprint
	copy(fp[:], rec.Key)
	out.Fingerprint = fp.String()
	for _, info := range n.id.Verifier().Revocations() {
		if info.Fingerprint == fp {
			out.AoR = info.AoR
		}
	}
	return out, nil
}

// TrustCA makes the running node trust another team's CA (PEM: a ca.pem or a node.pem), in
// memory and in its data directory. It counts from the next handshake, so every peer without
// a link is redialled at once.
func (n *Node) TrustCA(ctx context.Context, pemData []byte) (identity.Anchor, error) {
	c, err := identity.ParseCAFile(pemData)
	if err != nil {
		return identity.Anchor{}, err
	}
	a, err := n.id.TrustCA(c)
	if err != nil {
		return identity.Anchor{}, err
	}
	return a, n.onLoop(ctx, func(now time.Time) { n.dial.retryNow(now) })
}
