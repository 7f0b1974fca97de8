package cluster

import (
	"github.com/hashicorp/raft"
)

// commitClampTransport is the Raft TCP transport with one correction on the
// receiving side: an AppendEntries request's LeaderCommitIndex is capped at
// the last entry that request vouches for (PrevLogEntry + len(Entries)).
//
// hashicorp/raft v1.7.3 sets a follower's commit index to
// min(LeaderCommitIndex, the follower's own last log index). When the
// follower still holds an uncommitted suffix from an earlier term beyond the
// entries the leader has matched (a deposed leader's unreplicated writes), and
// the leader's commit index has moved past the entries in the request, the
// follower would treat that stale suffix as committed and apply it: its state
// machine would diverge from the cluster. The Raft paper's rule is
// min(leaderCommit, index of last new entry); capping the request's commit
// index implements exactly that. The fault-injection suite found this
// (chaos/README.md, seed 546248777).
type commitClampTransport struct {
	*raft.NetworkTransport
	out chan raft.RPC
}

func newCommitClampTransport(t *raft.NetworkTransport, stop <-chan struct{}) *commitClampTransport {
	c := &commitClampTransport{NetworkTransport: t, out: make(chan raft.RPC)}
	go forwardClamped(t.Consumer(), c.out, stop)
	return c
}

// Consumer returns the corrected stream of incoming RPCs.
func (c *commitClampTransport) Consumer() <-chan raft.RPC { return c.out }

// forwardClamped copies RPCs from in to out, capping AppendEntries commit
// indexes, until stop is closed.
func forwardClamped(in <-chan raft.RPC, out chan<- raft.RPC, stop <-chan struct{}) {
	for {
		select {
		case rpc := <-in:
			if req, ok := rpc.Command.(*raft.AppendEntriesRequest); ok {
				clampCommit(req)
			}
			select {
			case out <- rpc:
			case <-stop:
				return
			}
		case <-stop:
			return
		}
	}
}

// clampCommit caps req.LeaderCommitIndex at the last index req covers.
func clampCommit(req *raft.AppendEntriesRequest) {
	last := req.PrevLogEntry + uint64(len(req.Entries))
	if req.LeaderCommitIndex > last {
		req.LeaderCommitIndex = last
	}
}
