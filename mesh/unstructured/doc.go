// Package unstructured is flood mode of the overlay: each peer keeps a small random neighbour set
// drawn from its direct links, floods record updates over it, and reconciles its whole record set
// with every new neighbour by range-based set reconciliation, so that every peer holds every record
// and lookups are answered locally (zero hops). Multi-hop reach comes from flooding: A reaches C
// through B when A and C share no link.
//
// Reconciliation (stateless, one message type per step):
//
//	initiator -> SyncRanges{root fingerprint}
//	receiver, for each range: equal fingerprints -> nothing;
//	   small (both counts <= ItemThreshold) or either side empty -> SyncItems{its items in the range};
//	   otherwise -> SyncRanges{16 child ranges, 4 bits longer}
//	receiver of SyncItems: pushes (Store) what it holds newer or the other lacks, asks (SyncWant) for
//	   what the other holds newer; SyncWant is answered with Store.
//
// A range's fingerprint is the XOR of the version digests of its records, so two peers that
// differ in d of n records exchange O(d log n) messages, not O(n). The package is pure: the hybrid
// node drives it and performs the sends it returns.
package unstructured
