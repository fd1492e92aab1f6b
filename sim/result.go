package sim

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"meshcomm/mesh"
)

// ModeCounts counts live nodes by overlay mode at the end of the scenario.
type ModeCounts struct {
	Flood int `json:"flood"`
	DHT   int `json:"dht"`
}

// TypeCount is the traffic of one message type over the whole run.
type TypeCount struct {
	Messages uint64 `json:"messages"`
	Bytes    uint64 `json:"bytes"`
}

// Result is what a run measured. docs/simulator.md defines every field. Every field but WallS
// and PeakHeapBytes is a function of the configuration alone.
type Result struct {
	Scenario  string  `json:"scenario"`
	Nodes     int     `json:"nodes"`
	Seed      uint64  `json:"seed"`
	Loss      float64 `json:"loss"`
	LatencyMs float64 `json:"latency_ms"`
	JitterMs  float64 `json:"jitter_ms"`
	DurationS float64 `json:"duration_s"`

	ModeCounts         ModeCounts `json:"mode_counts"`
	NodesEnd           int        `json:"nodes_end"`
	NodesCreated       int        `json:"nodes_created"`
	Lookups            int        `json:"lookups"`
	LookupSuccessRate  float64    `json:"lookup_success_rate"`
	HopsP50            float64    `json:"hops_p50"`
	HopsP99            float64    `json:"hops_p99"`
	LookupLatencyMsP50 float64    `json:"lookup_latency_ms_p50"`
	LookupLatencyMsP99 float64    `json:"lookup_latency_ms_p99"`

	TransitionLookups     int     `json:"transition_lookups"`
	TransitionSuccessRate float64 `json:"transition_success_rate"`
	// Latency of the transition lookups that succeeded: the slowest show how near the others
	// came to running out of time (Tuning.LookupTimeout, 14 s).
	TransitionLatencyMsP99 float64 `json:"transition_latency_ms_p99"`
	TransitionLatencyMsMax float64 `json:"transition_latency_ms_max"`
	LookupsDiscarded       int     `json:"lookups_discarded"`

	RecordsAudited int     `json:"records_audited"`
	RecordsLost    int     `json:"records_lost"`
	ConvergeS      float64 `json:"converge_s"`

	MaintenanceBytesPerNodePerS float64              `json:"maintenance_bytes_per_node_per_s"`
	LookupBytesPerNodePerS      float64              `json:"lookup_bytes_per_node_per_s"`
	MessagesTotal               uint64               `json:"messages_total"`
	MessagesLost                uint64               `json:"messages_lost"`
	MessagesUnreachable         uint64               `json:"messages_unreachable"`
	MessagesUnknownDest         uint64               `json:"messages_unknown_destination"`
	WireErrors                  uint64               `json:"wire_errors"`
	MessagesByType              map[string]TypeCount `json:"messages_by_type"`
	ModeSwitches                uint64               `json:"mode_switches"`
	Refusals                    uint64               `json:"refusals"`

	PropagationP99S    *float64 `json:"propagation_p99_s,omitempty"`
	PropagationAllS    *float64 `json:"propagation_all_s,omitempty"`
	PropagationP99MaxS *float64 `json:"propagation_p99_max_s,omitempty"`
	PropagationAllMaxS *float64 `json:"propagation_all_max_s,omitempty"`

	VirtualS      float64 `json:"virtual_s"`
	Events        uint64  `json:"events"`
	WallS         float64 `json:"wall_s"`
	PeakHeapBytes uint64  `json:"peak_heap_bytes"`
}

// Run simulates one scenario and returns its measurements.
func Run(cfg Config) (Result, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return Result{}, err
	}
	wall := time.Now()
	s := newSim(cfg)
	s.startWorkers()
	defer s.stopWorkers()
	s.sampleHeap()
	s.setup()
	s.run(cfg.Duration, nil)
	s.accrue()
	for _, i := range s.live {
		if s.nodes[i].core.Mode() == mesh.ModeDHT {
			s.modeCounts.DHT++
		} else {
			s.modeCounts.Flood++
		}
	}
	nodesEnd := len(s.live)
	s.startAudit()
	s.run(cfg.Duration+auditSpread+lookupTimeout+time.Second, func() bool { return s.audit.left == 0 })
	if s.err != nil {
		return Result{}, s.err
	}
	s.sampleHeap()
	s.stopWorkers()
	r := s.result()
	r.NodesEnd = nodesEnd
	r.WallS = round(time.Since(wall).Seconds(), 3)
	r.PeakHeapBytes = s.peakHeap
	return r, nil
}

func (s *Sim) result() Result {
	c := s.cfg
	r := Result{
		Scenario: c.Scenario, Nodes: c.Nodes, Seed: c.Seed, Loss: c.Loss,
		LatencyMs: ms(c.Latency), JitterMs: ms(c.Jitter), DurationS: c.Duration.Seconds(),
		ModeCounts:   s.modeCounts,
		NodesCreated: len(s.nodes),
		Lookups:      s.work.measured, LookupSuccessRate: ratio(s.work.measuredOK, s.work.measured),
		HopsP50: -1, HopsP99: -1, LookupLatencyMsP50: -1, LookupLatencyMsP99: -1,
		TransitionLatencyMsP99: -1, TransitionLatencyMsMax: -1,
		TransitionLookups:     s.work.transition,
		TransitionSuccessRate: ratio(s.work.transitionOK, s.work.transition),
		LookupsDiscarded:      s.work.discarded,
		RecordsAudited:        s.audit.audited, RecordsLost: s.audit.lost,
		ConvergeS:           -1,
		MessagesTotal:       s.traffic.messages,
		MessagesLost:        s.net.lost + s.traffic.lost,
		MessagesUnreachable: s.net.unreached + s.traffic.unreached,
		MessagesUnknownDest: s.traffic.unknownDest,
		WireErrors:          s.traffic.wireErrors,
		ModeSwitches:        s.traffic.modeSwitches,
		Refusals:            s.traffic.refused,
		VirtualS:            round(s.now.Seconds(), 3),
		Events:              s.events,
	}
	r.MessagesByType = map[string]TypeCount{}
	for _, tt := range s.traffic.byType {
		if tt.messages > 0 {
			r.MessagesByType[tt.name] = TypeCount{Messages: tt.messages, Bytes: tt.bytes}
		}
	}
	if len(s.work.hops) > 0 {
		hops := slices.Clone(s.work.hops)
		slices.Sort(hops)
		r.HopsP50, r.HopsP99 = float64(percentile(hops, 50)), float64(percentile(hops, 99))
		lat := slices.Clone(s.work.latencies)
		slices.Sort(lat)
		r.LookupLatencyMsP50, r.LookupLatencyMsP99 = ms(percentile(lat, 50)), ms(percentile(lat, 99))
	}
	if len(s.work.transitionLatencies) > 0 {
		lat := slices.Clone(s.work.transitionLatencies)
		slices.Sort(lat)
		r.TransitionLatencyMsP99, r.TransitionLatencyMsMax = ms(percentile(lat, 99)), ms(lat[len(lat)-1])
	}
	if o := s.oracle; o != nil && o.converged >= 0 {
		r.ConvergeS = round((o.converged - s.plan.convergeFrom).Seconds(), 3)
	}
	if s.nodeSecs > 0 {
		r.MaintenanceBytesPerNodePerS = round(float64(s.traffic.spanMaintBytes)/s.nodeSecs, 3)
		r.LookupBytesPerNodePerS = round(float64(s.traffic.spanLookupBytes)/s.nodeSecs, 3)
	}
	if p := s.props; p != nil && len(p.p99s) > 0 {
		r.PropagationP99S = secondsField(median(p.p99s))
		r.PropagationAllS = secondsField(median(p.alls))
		r.PropagationP99MaxS = secondsField(slices.Max(p.p99s))
		r.PropagationAllMaxS = secondsField(slices.Max(p.alls))
	}
	return r
}

// percentile is the nearest-rank percentile of sorted values: the smallest value such that at
// least p% of the values are at or below it.
func percentile[T cmp.Ordered](sorted []T, p float64) T {
	k := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[max(k, 1)-1]
}

// median is the nearest-rank 50th percentile.
func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return percentile(s, 50)
}

func secondsField(v float64) *float64 {
	if math.IsInf(v, 1) {
		v = -1
	}
	v = round(v, 4)
	return &v
}

func ratio(num, den int) float64 {
	if den == 0 {
		return -1
	}
	return round(float64(num)/float64(den), 6)
}

func ms(d time.Duration) float64 { return round(float64(d)/float64(time.Millisecond), 3) }

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

// WriteJSON writes the result as one JSON object on one line.
func (r Result) WriteJSON(w io.Writer) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// WriteText writes a readable summary of the result.
func (r Result) WriteText(w io.Writer) error {
	orNA := func(v float64, unit string) string {
		if v < 0 {
			return "n/a"
		}
		return fmt.Sprintf("%g%s", v, unit)
	}
	lines := []string{
		fmt.Sprintf("scenario %s: %d nodes, seed %d, loss %g, latency %gms + jitter up to %gms, %gs virtual",
			r.Scenario, r.Nodes, r.Seed, r.Loss, r.LatencyMs, r.JitterMs, r.DurationS),
		fmt.Sprintf("  modes at end:       %d flood, %d dht (%d live, %d created)", r.ModeCounts.Flood, r.ModeCounts.DHT, r.NodesEnd, r.NodesCreated),
		fmt.Sprintf("  lookups:            %d, success %s (transition: %d, success %s; discarded %d)",
			r.Lookups, orNA(r.LookupSuccessRate, ""), r.TransitionLookups, orNA(r.TransitionSuccessRate, ""), r.LookupsDiscarded),
		fmt.Sprintf("  hops:               p50 %s, p99 %s", orNA(r.HopsP50, ""), orNA(r.HopsP99, "")),
		fmt.Sprintf("  lookup latency:     p50 %s, p99 %s (transition: p99 %s, max %s)", orNA(r.LookupLatencyMsP50, "ms"),
			orNA(r.LookupLatencyMsP99, "ms"), orNA(r.TransitionLatencyMsP99, "ms"), orNA(r.TransitionLatencyMsMax, "ms")),
		fmt.Sprintf("  records lost:       %d of %d audited", r.RecordsLost, r.RecordsAudited),
		fmt.Sprintf("  converged after:    %s", orNA(r.ConvergeS, "s")),
		fmt.Sprintf("  traffic:            %g maintenance + %g lookup bytes per node per second",
			r.MaintenanceBytesPerNodePerS, r.LookupBytesPerNodePerS),
		fmt.Sprintf("  messages:           %d sent, %d lost, %d unreachable", r.MessagesTotal, r.MessagesLost, r.MessagesUnreachable),
		fmt.Sprintf("  by type (bytes):    %s", r.typeSummary()),
		fmt.Sprintf("  mode switches:      %d, refusals %d", r.ModeSwitches, r.Refusals),
	}
	if r.PropagationP99S != nil {
		lines = append(lines, fmt.Sprintf("  propagation:        99%% of nodes in %s (max %s), all in %s (max %s)",
			orNA(*r.PropagationP99S, "s"), orNA(*r.PropagationP99MaxS, "s"),
			orNA(*r.PropagationAllS, "s"), orNA(*r.PropagationAllMaxS, "s")))
	}
	lines = append(lines, fmt.Sprintf("  run:                %gs virtual, %d events, %gs wall, peak heap %d MiB",
		r.VirtualS, r.Events, r.WallS, r.PeakHeapBytes>>20))
	for _, l := range lines {
		if _, err := fmt.Fprintln(w, l); err != nil {
			return err
		}
	}
	return nil
}

// typeSummary lists message types by bytes sent, largest first.
func (r Result) typeSummary() string {
	names := make([]string, 0, len(r.MessagesByType))
	for n := range r.MessagesByType {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int {
		if c := cmp.Compare(r.MessagesByType[b].Bytes, r.MessagesByType[a].Bytes); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s %s", n, humanBytes(r.MessagesByType[n].Bytes))
	}
	return strings.Join(parts, ", ")
}

func humanBytes(b uint64) string {
	switch {
	case b >= 10<<30:
		return fmt.Sprintf("%dG", b>>30)
	case b >= 10<<20:
		return fmt.Sprintf("%dM", b>>20)
	case b >= 10<<10:
		return fmt.Sprintf("%dk", b>>10)
	}
	return fmt.Sprintf("%d", b)
}
