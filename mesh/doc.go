// Package mesh holds the value types every overlay package shares: 128-bit node and resource
// identifiers, signed records and their access policy, the credential interfaces through which
// records are signed and verified, the overlay messages and their bounded binary wire codec, and
// the Ready batch through which a pure core hands its effects to the runtime that drives it.
//
// Nothing here does I/O, owns time or randomness: callers pass both in.
package mesh
