package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"github.com/riot-kv/riot-redis/fsm"
)

// Propose replicates c and returns its result. On the leader it is applied
// through Raft; on a follower it is relayed to the leader over gRPC. Errors that
// mean "not applied" (no leader yet, leader changed before accepting it) are
// retried until ctx or the leader wait runs out. ErrUnknownOutcome is never
// retried: the write may have been applied.
func (n *Node) Propose(ctx context.Context, c *fsm.Command) (fsm.Result, error) {
	deadline := time.Now().Add(n.cfg.LeaderWait)
	for attempt := 0; ; attempt++ {
		if n.closing.Load() {
			return fsm.Result{}, ErrClosed
		}
		var (
			res fsm.Result
			err error
		)
		if n.IsLeader() {
			res, err = n.applyLocal(c, timeoutFrom(ctx, waitTimeout))
		} else {
			// Relayed to the leader, in one call with the writes of other
			// clients of this node that are waiting for one too.
			res, err = n.relay.propose(ctx, c)
		}
		if err == nil || !retryable(err) {
			return res, err
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			if errors.Is(err, ErrNotLeader) {
				err = ErrNoLeader
			}
			return fsm.Result{}, err
		}
		select {
		case <-ctx.Done():
			return fsm.Result{}, ErrNoLeader
		case <-n.stop:
			return fsm.Result{}, ErrClosed
		case <-time.After(backoff(attempt)):
		}
	}
}

// AsyncProposal is a command for ProposeAsync and the function that
// receives its result.
type AsyncProposal struct {
	Cmd  *fsm.Command
	Done func(fsm.Result, error)
}

// ProposeAsync queues every command of ps on this node, which must be a
// leader whose batcher has room, and returns true; each Done then receives
// its command's result, exactly once, on a goroutine of the batcher's (so it
// must not block). The commands reach the batcher in one hand-off, as if
// proposed at the same moment in their order, so a caller with many (an
// event loop's round) wakes it once rather than once per command. It
// returns false without queueing anything when the node cannot take them
// that way (a follower, a full queue, a stopping node, a disk alarm): the
// caller proposes with Propose instead. Errors are Propose's, without its
// retries: a retryable one (ErrNotLeader, ErrNoLeader) means that command
// was not applied.
func (n *Node) ProposeAsync(ps []AsyncProposal) bool {
	if n.closing.Load() || n.raft.State() != raft.Leader || n.diskLow() {
		return false
	}
	return n.batch.proposeAsync(ps)
}

// retryable reports errors after which the command was certainly not applied.
func retryable(err error) bool {
	return errors.Is(err, ErrNoLeader) || errors.Is(err, ErrNotLeader)
}

// ProposeLocal applies an encoded command on this node, which must be the
// leader. It never relays (the rpc server calls it for followers' writes).
func (n *Node) ProposeLocal(ctx context.Context, cmd []byte) ([]byte, error) {
	c, err := fsm.DecodeCommand(cmd)
	if err != nil {
		return nil, fmt.Errorf("cluster: relayed command: %w", err)
	}
	res, err := n.applyLocal(c, timeoutFrom(ctx, n.cfg.LeaderWait))
	if err != nil {
		return nil, err
	}
	return res.MarshalBinary()
}

// applyLocal applies c through Raft on this node, which must be the leader.
// The batcher stamps it with the leader's clock and may share its Raft entry
// with other proposals (group commit).
func (n *Node) applyLocal(c *fsm.Command, timeout time.Duration) (fsm.Result, error) {
	if n.raft.State() != raft.Leader {
		return fsm.Result{}, ErrNotLeader
	}
	if err := n.refuseForDisk(c); err != nil {
		return fsm.Result{}, err
	}
	return n.batch.propose(c, timeout)
}

// translateRaftErr maps Raft's errors to this package's sentinels. proposed
// says whether the entry may have been handed to Raft's log.
func translateRaftErr(err error, proposed bool) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return ErrNotLeader
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return ErrTimeout
	case errors.Is(err, raft.ErrLeadershipLost):
		if proposed {
			return fmt.Errorf("%w: %v", ErrUnknownOutcome, err)
		}
		return ErrNotLeader
	case errors.Is(err, raft.ErrRaftShutdown):
		if proposed {
			return fmt.Errorf("%w: %v", ErrUnknownOutcome, err)
		}
		return ErrClosed
	}
	return err
}

// timeoutFrom returns the time left until ctx's deadline, or def.
func timeoutFrom(ctx context.Context, def time.Duration) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		if d := time.Until(dl); d > 0 {
			return d
		}
		return time.Millisecond
	}
	return def
}
