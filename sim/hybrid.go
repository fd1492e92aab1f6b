package sim

import (
	"meshcomm/mesh"
	"meshcomm/mesh/hybrid"
)

// hybridCore adapts the real overlay core to Core.
type hybridCore struct{ *hybrid.Node }

// Mode is the node's current organisation, as its status reports it.
func (h hybridCore) Mode() mesh.Mode { return h.Status().Mode }

// HybridCore builds the real overlay core (mesh/hybrid) with its default tuning.
func HybridCore(cfg CoreConfig) Core {
	return hybridCore{hybrid.New(hybrid.Config{Self: cfg.Self, Signer: cfg.Signer, Verifier: cfg.Verifier, Rand: cfg.Rand})}
}
