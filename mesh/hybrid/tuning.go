package hybrid

import "time"

// Tuning holds the overlay's parameters. Zero fields take DefaultTuning's values.
type Tuning struct {
	FloodToDHT          int           // switch to DHT mode at this size estimate
	DHTToFlood          int           // switch back below this size estimate
	Replicas            int           // R: each record lives on the R closest peers
	Alpha               int           // parallel requests in flight per lookup
	FarPerSlice         int           // k: peers kept per far slice of the routing table
	ResponseContacts    int           // peers returned in Nodes / Value answers
	MaxNeighbors        int           // flood mode: out-neighbours picked among direct links
	RequestTimeout      time.Duration // a request unanswered for this long has failed
	SlowRequest         time.Duration // a lookup asks past a peer unanswered this long (at least; more on slow links)
	LookupTimeout       time.Duration // a lookup gives up after this long
	TouchInterval       time.Duration // an owner checks its replicas this often (DHT mode)
	NodeRecordTTL       time.Duration // lifetime of the flood-mode membership record
	AntiEntropyInterval time.Duration // flood mode: reconcile with one random neighbour this often
	ProbeInterval       time.Duration // DHT mode: ping one random near peer this often
	SweepInterval       time.Duration // DHT mode: hand off records this node is not responsible for
	RefreshInterval     time.Duration // DHT mode: look up the own slice from far peers this often
	SwitchGrace         time.Duration // after a switch to DHT, keep every record this long
	MinDHTDwell         time.Duration // stay in DHT mode at least this long before shrinking back
	HousekeepInterval   time.Duration // Tick cadence when nothing else is due
	TombstoneTTL        time.Duration // lifetime of a deletion
	MaxFails            int           // unanswered requests before a peer is dropped
}

// DefaultTuning returns the parameters meshcomm ships with.
func DefaultTuning() Tuning {
	return Tuning{
		FloodToDHT:          64,
		DHTToFlood:          48,
		Replicas:            4,
		Alpha:               3,
		FarPerSlice:         4,
		ResponseContacts:    8,
		MaxNeighbors:        6,
		RequestTimeout:      time.Second,
		SlowRequest:         250 * time.Millisecond, // several round trips of a slow radio link
		LookupTimeout:       14 * time.Second,       // under the runtime's 15 s, so its callers hear the answer
		TouchInterval:       8 * time.Second,
		NodeRecordTTL:       5 * time.Minute,
		AntiEntropyInterval: 30 * time.Second,
		ProbeInterval:       5 * time.Second,
		SweepInterval:       10 * time.Second,
		RefreshInterval:     60 * time.Second,
		SwitchGrace:         15 * time.Second,
		MinDHTDwell:         30 * time.Second,
		HousekeepInterval:   2 * time.Second,
		TombstoneTTL:        10 * time.Minute,
		MaxFails:            2,
	}
}

func (t Tuning) withDefaults() Tuning {
	d := DefaultTuning()
	set := func(v *int, dv int) {
		if *v == 0 {
			*v = dv
		}
	}
	setD := func(v *time.Duration, dv time.Duration) {
		if *v == 0 {
			*v = dv
		}
	}
	set(&t.FloodToDHT, d.FloodToDHT)
	set(&t.DHTToFlood, d.DHTToFlood)
	set(&t.Replicas, d.Replicas)
	set(&t.Alpha, d.Alpha)
	set(&t.FarPerSlice, d.FarPerSlice)
	set(&t.ResponseContacts, d.ResponseContacts)
	set(&t.MaxNeighbors, d.MaxNeighbors)
	set(&t.MaxFails, d.MaxFails)
	setD(&t.RequestTimeout, d.RequestTimeout)
	setD(&t.SlowRequest, d.SlowRequest)
	setD(&t.LookupTimeout, d.LookupTimeout)
	setD(&t.TouchInterval, d.TouchInterval)
	setD(&t.NodeRecordTTL, d.NodeRecordTTL)
	setD(&t.AntiEntropyInterval, d.AntiEntropyInterval)
	setD(&t.ProbeInterval, d.ProbeInterval)
	setD(&t.SweepInterval, d.SweepInterval)
	setD(&t.RefreshInterval, d.RefreshInterval)
	setD(&t.SwitchGrace, d.SwitchGrace)
	setD(&t.MinDHTDwell, d.MinDHTDwell)
	setD(&t.HousekeepInterval, d.HousekeepInterval)
	setD(&t.TombstoneTTL, d.TombstoneTTL)
	return t
}
