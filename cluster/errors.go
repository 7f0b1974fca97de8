package cluster

import "errors"

// Errors returned by the node. Callers test them with errors.Is; each edge (RESP,
// gRPC, HTTP) translates them once through its own table.
var (
	// ErrNotLeader is returned by leader-only operations on a node that is not the
	// leader (for example an OpRPC relayed to a node that lost leadership).
	ErrNotLeader = errors.New("cluster: not leader")
	// ErrNoLeader is returned when the cluster has no known leader (election in
	// progress, or no quorum).
	ErrNoLeader = errors.New("cluster: no leader")
	// ErrUnknownOutcome is returned when a write was proposed but leadership was
	// lost (or the relay failed) before its outcome was known: it may or may not
	// have been applied.
	ErrUnknownOutcome = errors.New("cluster: write outcome unknown")
	// ErrTimeout is returned when an operation did not complete within its deadline
	// before anything was proposed.
	ErrTimeout = errors.New("cluster: timeout")
	// ErrUnknownNode is returned for a node ID that is not a cluster member.
	ErrUnknownNode = errors.New("cluster: unknown node")
	// ErrClosed is returned by operations on a node that is shutting down.
	ErrClosed = errors.New("cluster: node closed")
	// ErrNotReady is returned by reads on a new leader that has not yet applied an
	// entry of its own term.
	ErrNotReady = errors.New("cluster: leader not ready")
	// ErrDiskFull is returned by the leader for a write that adds data while
	// its own disk, or a member's (a raised disk alarm), has less than its
	// Config.MinFreeDisk free (disk.go). Nothing was proposed.
	ErrDiskFull = errors.New("cluster: disk almost full")
)
