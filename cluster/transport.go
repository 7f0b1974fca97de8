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
//
// It also keeps the promises of a log whose appends are synced in the
// background (see durableLog): a follower answers an AppendEntries only once
// the request's entries are on its disk, and a leader never tells followers
// of a commit index beyond its own durable log.
type commitClampTransport struct {
	*raft.NetworkTransport
	out chan raft.RPC
	log durableLog
}

func newCommitClampTransport(t *raft.NetworkTransport, log durableLog, stop <-chan struct{}) *commitClampTransport {
	c := &commitClampTransport{NetworkTransport: t, out: make(chan raft.RPC), log: log}
	go forwardClamped(t.Consumer(), c.out, log, stop)
	return c
}

// AppendEntries sends args with its commit index capped at the local durable
// log.
func (c *commitClampTransport) AppendEntries(id raft.ServerID, target raft.ServerAddress, args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	clampDurable(args, c.log)
	return c.NetworkTransport.AppendEntries(id, target, args, resp)
}

// AppendEntriesPipeline returns a pipeline that caps commit indexes like
// AppendEntries.
func (c *commitClampTransport) AppendEntriesPipeline(id raft.ServerID, target raft.ServerAddress) (raft.AppendPipeline, error) {
	p, err := c.NetworkTransport.AppendEntriesPipeline(id, target)
	if err != nil {
		return nil, err
	}
	return &durablePipeline{AppendPipeline: p, log: c.log}, nil
}

type durablePipeline struct {
	raft.AppendPipeline
	log durableLog
}

func (p *durablePipeline) AppendEntries(args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) (raft.AppendFuture, error) {
	clampDurable(args, p.log)
	return p.AppendPipeline.AppendEntries(args, resp)
}

// clampDurable caps the commit index a leader sends at its durable log: the
// leader counts its own entries toward a quorum as soon as they are written,
// so an entry may be committed before the leader's copy is synced; followers
// must not apply it before then.
func clampDurable(args *raft.AppendEntriesRequest, log durableLog) {
	if d := log.Durable(); args.LeaderCommitIndex > d {
		args.LeaderCommitIndex = d
	}
}

// Consumer returns the corrected stream of incoming RPCs.
func (c *commitClampTransport) Consumer() <-chan raft.RPC { return c.out }

// forwardClamped copies RPCs from in to out, capping AppendEntries commit
// indexes and holding back successful AppendEntries answers until their
// entries are durable, until stop is closed.
func forwardClamped(in <-chan raft.RPC, out chan<- raft.RPC, log durableLog, stop <-chan struct{}) {
	for {
		select {
		case rpc := <-in:
			if req, ok := rpc.Command.(*raft.AppendEntriesRequest); ok {
				clampCommit(req)
				if n := len(req.Entries); n > 0 {
					rpc.RespChan = ackWhenDurable(rpc.RespChan, req.Entries[n-1], log, stop)
				}
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

// ackWhenDurable returns a response channel for an AppendEntries request whose
// last entry is last: a successful answer is passed on to resp once the log
// is durable through last and still holds it (a later request from a newer
// leader may have replaced it meanwhile; then the answer becomes a failure,
// and the leader retries). The transport reads one request per connection at
// a time, so answers keep their order.
func ackWhenDurable(resp chan<- raft.RPCResponse, last *raft.Log, log durableLog, stop <-chan struct{}) chan<- raft.RPCResponse {
	idx, term := last.Index, last.Term
	ch := make(chan raft.RPCResponse, 1)
	go func() {
		var r raft.RPCResponse
		select {
		case r = <-ch:
		case <-stop:
			return
		}
		if ar, ok := r.Response.(*raft.AppendEntriesResponse); ok && r.Error == nil && ar.Success {
			if err := log.WaitDurable(idx); err != nil {
				r.Error = err
			} else if t, err := log.Term(idx); err != nil || t != term {
				ar.Success = false
			}
		}
		resp <- r
	}()
	return ch
}
