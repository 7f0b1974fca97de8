package cluster

import "fmt"

// Consistency is the read consistency level of a read.
type Consistency uint8

// Read consistency levels.
const (
	// Linearizable reads use ReadIndex: the serving node learns the leader's
	// confirmed commit index and waits until its own state machine has applied it.
	Linearizable Consistency = iota
	// Lease reads are served by the leader from local state while its lease holds.
	Lease
	// Stale reads are served by any node from its local state.
	Stale
)

// String returns the level's name as used by flags and INFO.
func (c Consistency) String() string {
	switch c {
	case Linearizable:
		return "linearizable"
	case Lease:
		return "lease"
	case Stale:
		return "stale"
	}
	return fmt.Sprintf("consistency(%d)", uint8(c))
}

// ParseConsistency parses "linearizable", "lease" or "stale".
func ParseConsistency(s string) (Consistency, error) {
	switch s {
	case "linearizable":
		return Linearizable, nil
	case "lease":
		return Lease, nil
	case "stale":
		return Stale, nil
	}
	return 0, fmt.Errorf("unknown read consistency %q (want linearizable, lease or stale)", s)
}
