package cluster

import (
	"errors"
	"io"
	"sync/atomic"
	"time"

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
//
// And it works around two behaviours of hashicorp/raft around snapshots that
// together crashed a follower for good: it accepts an AppendEntries whose
// previous entry is in the follower's snapshot (skipCompacted), and answers
// itself an InstallSnapshot the follower already holds (coveredSnapshot).
type commitClampTransport struct {
	*raft.NetworkTransport
	out chan raft.RPC
	log durableLog
	// raft is the node's Raft once it runs (setRaft); until then every
	// InstallSnapshot goes to Raft.
	raft atomic.Pointer[raft.Raft]
}

func newCommitClampTransport(t *raft.NetworkTransport, log durableLog, stop <-chan struct{}) *commitClampTransport {
	c := &commitClampTransport{NetworkTransport: t, out: make(chan raft.RPC), log: log}
	go forwardClamped(t.Consumer(), c.out, log, c.followerIn, stop)
	return c
}

// setRaft gives the transport the Raft it serves.
func (c *commitClampTransport) setRaft(r *raft.Raft) { c.raft.Store(r) }

// followerIn reports whether the node's Raft is a follower in term.
func (c *commitClampTransport) followerIn(term uint64) bool {
	r := c.raft.Load()
	if r == nil {
		return false
	}
	t := r.CurrentTerm()
	return r.State() == raft.Follower && t == term && r.CurrentTerm() == t
}

// AppendEntries sends args with its commit index capped at the local durable
// log.
func (c *commitClampTransport) AppendEntries(id raft.ServerID, target raft.ServerAddress, args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	clampDurable(args, c.log)
	return c.NetworkTransport.AppendEntries(id, target, args, resp)
}

// AppendEntriesPipeline returns a pipeline that caps commit indexes like
// AppendEntries and leaves out repeated empty requests (see
// durablePipeline).
func (c *commitClampTransport) AppendEntriesPipeline(id raft.ServerID, target raft.ServerAddress) (raft.AppendPipeline, error) {
	p, err := c.NetworkTransport.AppendEntriesPipeline(id, target)
	if err != nil {
		return nil, err
	}
	return &durablePipeline{AppendPipeline: p, log: c.log}, nil
}

// idleResend is how long a pipeline holds back an empty AppendEntries
// identical to the last one it sent.
const idleResend = 100 * time.Millisecond

// durablePipeline is a leader's pipeline to one follower. It caps commit
// indexes like commitClampTransport.AppendEntries, and it does not send an
// empty AppendEntries that repeats the last one sent (same term, previous
// entry and commit index) within idleResend.
//
// hashicorp/raft sends an AppendEntries on the pipeline whenever no entry
// has been replicated for CommitTimeout (5–10 ms here), so that followers
// learn the commit index soon after writes stop. Once they know it, every
// further request until the next write says nothing new, and on an idle or
// read-only cluster those requests were most of the leader's CPU (a write, a
// follower wake-up and an answer each). A request left out is a message
// lost: Raft is safe under loss, the follower's election timer is reset by
// the heartbeats, which take another path, and the leader's view of the
// follower (last contact, match index) is updated by heartbeats and by the
// next request that does carry news. Only the pipeline's goroutine calls
// AppendEntries, so the fields need no lock.
type durablePipeline struct {
	raft.AppendPipeline
	log durableLog

	last   emptyAppend // the last empty request sent; zero after one with entries
	lastAt time.Time
}

// emptyAppend is what an AppendEntries without entries tells a follower.
type emptyAppend struct {
	term, prev, prevTerm, commit uint64
}

func (p *durablePipeline) AppendEntries(args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) (raft.AppendFuture, error) {
	clampDurable(args, p.log)
	if len(args.Entries) > 0 {
		p.last = emptyAppend{}
		return p.AppendPipeline.AppendEntries(args, resp)
	}
	e := emptyAppend{term: args.Term, prev: args.PrevLogEntry, prevTerm: args.PrevLogTerm, commit: args.LeaderCommitIndex}
	now := time.Now()
	if e == p.last && now.Sub(p.lastAt) < idleResend {
		return heldBack{start: now, req: args, resp: resp}, nil
	}
	f, err := p.AppendPipeline.AppendEntries(args, resp)
	if err == nil {
		p.last, p.lastAt = e, now
	}
	return f, err
}

// errHeldBack is the outcome of a request the pipeline did not send.
var errHeldBack = errors.New("raft transport: repeated empty append not sent")

// heldBack is the future of a request the pipeline did not send. It never
// reaches the pipeline's consumer, as a lost message would not; Raft does
// not wait on pipeline futures other than through the consumer.
type heldBack struct {
	start time.Time
	req   *raft.AppendEntriesRequest
	resp  *raft.AppendEntriesResponse
}

func (h heldBack) Error() error                          { return errHeldBack }
func (h heldBack) Start() time.Time                      { return h.start }
func (h heldBack) Request() *raft.AppendEntriesRequest   { return h.req }
func (h heldBack) Response() *raft.AppendEntriesResponse { return h.resp }

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
// entries are durable, until stop is closed. It answers InstallSnapshot
// requests the log covers itself (followerIn reports whether the node is a
// follower in a term; nil: never).
func forwardClamped(in <-chan raft.RPC, out chan<- raft.RPC, log durableLog, followerIn func(term uint64) bool, stop <-chan struct{}) {
	for {
		select {
		case rpc := <-in:
			switch req := rpc.Command.(type) {
			case *raft.AppendEntriesRequest:
				clampCommit(req)
				skipCompacted(req, log)
				if n := len(req.Entries); n > 0 {
					rpc.RespChan = ackWhenDurable(rpc.RespChan, req.Entries[n-1], log, stop)
				}
			case *raft.InstallSnapshotRequest:
				if coveredSnapshot(req, log, followerIn) {
					go answerCovered(rpc, req, log)
					continue
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

// coveredSnapshot reports whether a follower already holds every entry of
// the snapshot req would install: its log holds the snapshot's last entry
// (same index and term; by the Log Matching Property, then every entry
// before it too), or its log starts after that entry (it is in the
// follower's own snapshot: committed, so the same entry as the leader's).
//
// The Raft paper's InstallSnapshot rule 6 keeps the log after such an entry
// and leaves the state machine alone. hashicorp/raft v1.7.3 instead restores
// the snapshot (the state machine goes back to the snapshot's index) and,
// with a log like this one that takes no gaps (MonotonicLogStore), deletes
// the whole log, entries after the snapshot included, without lowering its
// own idea of the last entry (upstream issue #697). An AppendEntries that
// matches that stale last entry then commits entries that are gone: Raft
// panics with "log not found" applying them, and again at every restart.
// The chaos suite found it with snapshots every second: a leader sent a
// follower, which had just installed a snapshot and appended entries after
// it, the same snapshot again.
func coveredSnapshot(req *raft.InstallSnapshotRequest, log durableLog, followerIn func(uint64) bool) bool {
	if followerIn == nil || req.LastLogIndex == 0 || !followerIn(req.Term) {
		return false
	}
	if first, err := log.FirstIndex(); err == nil && first > req.LastLogIndex {
		return true
	}
	t, err := log.Term(req.LastLogIndex)
	return err == nil && t == req.LastLogTerm
}

// skipCompacted rewrites an AppendEntries whose previous entry is below the
// first entry of the follower's log, so that hashicorp/raft accepts it.
//
// An entry below the log's first is in the follower's snapshot: committed,
// so the same entry the leader has at that index (Raft's Leader
// Completeness). hashicorp/raft checks the previous entry against the log,
// and against the snapshot only while the log holds nothing after it; a
// follower that installed a snapshot at index s and appended entries after
// it rejects every later request with previous entry s ("failed to get
// previous log"): one repeated after a lost answer, or sent after the leader
// stepped back. The leader then steps back entry by entry, below its own
// log, and sends the snapshot again. So a request with previous entry p
// below the first index f loses its entries below f (the follower has
// them), and its previous entry: with none (PrevLogEntry 0) Raft checks
// nothing, and compares the entries from f on with its log as usual, a
// differing term there truncating the log's suffix. Its commit index was
// already capped at what the request covers (clampCommit), and the leader
// counts what it sent, so nothing else changes.
func skipCompacted(req *raft.AppendEntriesRequest, log durableLog) {
	if req.PrevLogEntry == 0 {
		return
	}
	first, err := log.FirstIndex()
	if err != nil || first == 0 || req.PrevLogEntry >= first {
		return
	}
	i := 0
	for i < len(req.Entries) && req.Entries[i].Index < first {
		i++
	}
	req.Entries = req.Entries[i:]
	req.PrevLogEntry, req.PrevLogTerm = 0, 0
}

// answerCovered answers a covered InstallSnapshot (coveredSnapshot) with
// success, as Raft would after installing it, once the log is durable
// through the snapshot's last entry; the snapshot's bytes are read and
// dropped, as the connection carries them before its next request.
func answerCovered(rpc raft.RPC, req *raft.InstallSnapshotRequest, log durableLog) {
	_, err := io.Copy(io.Discard, rpc.Reader)
	if err == nil {
		err = log.WaitDurable(req.LastLogIndex)
	}
	rpc.Respond(&raft.InstallSnapshotResponse{Term: req.Term, Success: err == nil}, err)
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
