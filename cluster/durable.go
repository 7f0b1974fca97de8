package cluster

import (
	"errors"
	"fmt"

	"github.com/hashicorp/raft"

	"github.com/riot-kv/riot-redis/cluster/raftlog"
	"github.com/riot-kv/riot-redis/fsm"
)

// durableLog is a Raft log whose StoreLogs returns once entries are written
// and syncs them in the background, so the leader's fsync overlaps sending
// the entries to followers instead of preceding it. Raft counts the leader's
// own entries toward a quorum as soon as StoreLogs returns; three rules keep
// an entry from being acted on before a quorum has it on disk:
//
//  1. a follower acknowledges AppendEntries only once the entries are durable
//     and still in its log (commitClampTransport, ackWhenDurable);
//  2. the state machine applies an entry only once the local log is durable
//     through it (durableFSM), so a client is answered, and a read sees a
//     write, only when the leader's copy and a follower's are on disk;
//  3. a leader tells followers of a commit index no higher than its durable
//     log (clampDurable), and answers ReadIndex with no more than that.
//
// An entry Raft counted as committed but that was on no disk but a follower's
// when the leader crashed was never applied or acknowledged anywhere, so a
// new leader may drop it like any uncommitted entry.
type durableLog interface {
	// Durable returns the index through which the log is on disk.
	Durable() uint64
	// WaitDurable blocks until the log is on disk through idx.
	WaitDurable(idx uint64) error
	// Term returns the term of entry idx.
	Term(idx uint64) (uint64, error)
	// FirstIndex returns the first index in the log, 0 when it is empty.
	FirstIndex() (uint64, error)
}

// durableFSM is the state machine as Raft sees it: it applies an entry only
// once the local log is durable through it (rule 2 of durableLog).
type durableFSM struct {
	*fsm.FSM
	log durableLog
}

// errNotDurable is the apply response for entries the node stopped before
// syncing; the batcher reports an unknown outcome for them.
var errNotDurable = errors.New("cluster: node stopped before the entry was on disk")

func (d durableFSM) wait(idx uint64) bool {
	err := d.log.WaitDurable(idx)
	if err == nil {
		return true
	}
	if errors.Is(err, raftlog.ErrClosed) {
		return false
	}
	// The log could not be synced: the disk is failing. Applying would
	// acknowledge writes that may not survive; stopping this node is the
	// only safe outcome.
	panic(fmt.Sprintf("cluster: raft log sync failed: %v", err))
}

// Apply applies one entry.
func (d durableFSM) Apply(l *raft.Log) any {
	if !d.wait(l.Index) {
		return errNotDurable
	}
	return d.FSM.Apply(l)
}

// ApplyBatch applies entries.
func (d durableFSM) ApplyBatch(logs []*raft.Log) []any {
	if len(logs) > 0 && !d.wait(logs[len(logs)-1].Index) {
		out := make([]any, len(logs))
		for i := range out {
			out[i] = errNotDurable
		}
		return out
	}
	return d.FSM.ApplyBatch(logs)
}
