package cluster

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/riot-kv/riot-redis/fsm"
)

// Read makes local state consistent at lvl and then runs fn against it.
//
//   - Linearizable: ReadIndex. The leader's commit index is taken, leadership is
//     confirmed by one round (confirm.go; shared by concurrent reads), and
//     this node waits until its own state machine has applied that index.
//     Followers get the index from the leader over a connection on its Raft
//     port (readindex.go; gRPC if that fails), then read locally.
//   - Lease: on the leader, reads are local while the lease from the last
//     confirmed Raft heartbeat round holds; otherwise as Linearizable, with
//     Raft's heartbeat round to renew the lease. Followers serve lease reads
//     as Linearizable.
//   - Stale: local state as it is.
//
// A read that may wait long is bounded by ctx's deadline, or by waitTimeout
// if ctx has none; callers need not pay for a timer per read.
func (n *Node) Read(ctx context.Context, lvl Consistency, fn func(s *fsm.FSM) error) error {
	if n.closing.Load() {
		return ErrClosed
	}
	rs := n.verify
	switch lvl {
	case Stale:
	case Lease:
		if n.leaseHolds() {
			break
		}
		if n.isReady() {
			n.leaseWaits.Add(1)
		}
		// Renew the lease: only Raft's own round does.
		rs = n.verifyLease
		fallthrough
	default:
		// On a ready leader every wait is bounded without a timer: the
		// leadership round ends within the leader lease (Raft steps down
		// without a quorum) and the apply wait ends when the state machine
		// applies committed entries. Elsewhere a wait may hang on the
		// network or on a leader that never becomes ready: bound it.
		if !n.isReady() {
			var cancel context.CancelFunc
			ctx, cancel = boundWait(ctx)
			defer cancel()
		}
		idx, err := n.readIndex(ctx, rs)
		if err != nil {
			return err
		}
		if err := n.fsm.WaitApplied(ctx, idx); err != nil {
			return ErrTimeout
		}
	}
	// Under View, so a read of several keys sees one point of the log.
	return n.fsm.View(fn)
}

// ReadsAtOnce reports whether a Read at lvl would run now without waiting
// for a round, the network or the state machine: always for Stale, for
// Lease on a ready leader whose lease holds (starting its renewal, as Read
// does, when less than half is left), never for Linearizable. When it
// reports true, a read of local state right after has lvl's guarantee, as
// the Read would have.
func (n *Node) ReadsAtOnce(lvl Consistency) bool {
	switch {
	case n.closing.Load():
		return false
	case lvl == Stale:
		return true
	case lvl == Lease:
		return n.leaseHolds()
	}
	return false
}

// leaseHolds reports whether this node is a ready leader within its read
// lease, and starts the lease's renewal in the background when less than
// half of it is left.
func (n *Node) leaseHolds() bool {
	if !n.isReady() {
		return false
	}
	now, until := time.Now().UnixNano(), n.lease.Load()
	if now >= until {
		return false
	}
	if until-now < int64(n.leaseDuration()/2) {
		n.renewLease()
	}
	return true
}

// readIndex returns an index that, once applied locally, makes a local read
// linearizable; on the leader it joins rs for the leadership confirmation.
// Not-leader errors are retried while a leader is elected.
func (n *Node) readIndex(ctx context.Context, rs *rounds) (uint64, error) {
	deadline := time.Now().Add(n.cfg.LeaderWait)
	for attempt := 0; ; attempt++ {
		var (
			idx uint64
			err error
		)
		if n.IsLeader() {
			idx, err = n.leaderReadIndex(ctx, rs, "", 0)
		} else {
			// Concurrent reads on a follower share one ReadIndex call to the
			// leader; each joins a call that starts after it began.
			idx, err = n.remoteIndex.join(ctx)
			if errors.Is(err, ErrUnknownOutcome) {
				// A read has no side effects: a lost reply only means retry.
				err = ErrNoLeader
			}
		}
		if err == nil || !retryable(err) {
			return idx, err
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return 0, ErrNoLeader
		}
		select {
		case <-ctx.Done():
			return 0, ErrNoLeader
		case <-n.stop:
			return 0, ErrClosed
		case <-time.After(backoff(attempt)):
		}
	}
}

// ReadIndexLocal is the leader side of ReadIndex: it returns the commit index
// after confirming that this node still leads. A new leader answers only after
// an entry of its own term has applied, because until then its commit index
// may lag entries the previous leader committed.
func (n *Node) ReadIndexLocal(ctx context.Context) (uint64, error) {
	return n.leaderReadIndex(ctx, n.verify, "", 0)
}

// readIndexFor is ReadIndexLocal for a follower's request that names the
// follower (from) and carries its current term (fromTerm), as read after the
// request's reads arrived; from is empty for a request that does not say.
// See leaderReadIndex for when such a request needs no round.
//
// The Raft port serves these requests from the moment it listens, which is
// before Raft has started: a node restarting while followers still take it
// for the leader answers ErrNotLeader until then.
func (n *Node) readIndexFor(ctx context.Context, from raft.ServerID, fromTerm uint64) (uint64, error) {
	if n.raftRef.Load() == nil {
		return 0, ErrNotLeader
	}
	return n.leaderReadIndex(ctx, n.verify, from, fromTerm)
}

// standsForRound reports whether a read-index request from the voter from,
// sent in its term fromTerm, shows what a confirmation round of term would:
// fromTerm is term, and this leader and from are a quorum of the voters (a
// 3-node cluster) in a configuration with no change of this node in flight.
// By the argument of confirm.go, a quorum that was still in term T after the
// reads arrived (the follower when it sent the request, this node when it
// read its commit index, leading in T) means no leader of a later term
// existed when they arrived.
func (n *Node) standsForRound(term uint64, from raft.ServerID, fromTerm uint64) bool {
	if from == "" || fromTerm != term {
		return false
	}
	view := n.confirmView(term)
	return view != nil && quorumOfTwo(view.voters, raft.ServerID(n.cfg.ID), from) &&
		n.membershipGen.Load() == view.gen
}

// quorumOfTwo reports whether a and b, two different voters, are a quorum
// of voters.
func quorumOfTwo(voters []raft.Server, a, b raft.ServerID) bool {
	if a == b || 2 < len(voters)/2+1 {
		return false
	}
	isVoter := func(id raft.ServerID) bool {
		return slices.ContainsFunc(voters, func(s raft.Server) bool { return s.ID == id })
	}
	return isVoter(a) && isVoter(b)
}

// leaderReadIndex is ReadIndexLocal with the confirmation rounds to join:
// n.verify (cheap, for linearizable reads) or n.verifyLease (Raft's own
// heartbeat round, which also renews the lease). A request from a follower
// (from, in its term fromTerm; from empty otherwise) joins no round when it
// stands for one (standsForRound).
func (n *Node) leaderReadIndex(ctx context.Context, rs *rounds, from raft.ServerID, fromTerm uint64) (uint64, error) {
	if err := n.waitReady(ctx); err != nil {
		return 0, err
	}
	term, idx, ok := n.leaderIndex()
	if !ok {
		return 0, ErrNotLeader
	}
	if n.standsForRound(term, from, fromTerm) {
		n.confirmPeer.Add(1)
		return idx, nil
	}
	confirmed, err := rs.join(ctx)
	if err != nil {
		return 0, err
	}
	if confirmed != term {
		// The round confirmed a later leadership of this node; the index
		// was read in an earlier one.
		return 0, ErrNotLeader
	}
	return idx, nil
}

// leaderIndex returns, on a ready leader, its term and an index that
// covers every write acknowledged so far (ok false if it no longer leads in
// the term it became ready in). The commit index is read while this node
// leads, ready, in one term throughout: leading in term at both checks
// means leading in between (a node leads a term at most once). Every write
// acknowledged so far is applied, so durable here (durableLog rule 2): the
// smaller of the two indexes covers them all.
func (n *Node) leaderIndex() (term, idx uint64, ok bool) {
	term = n.readyTerm.Load()
	idx = min(n.raft.CommitIndex(), n.store.log.Durable())
	if n.raft.State() != raft.Leader || n.raft.CurrentTerm() != term {
		return 0, 0, false
	}
	return term, idx, true
}

// ReadBarrier calls done once a Read at lvl started now could read local
// state with lvl's guarantee (done(nil)), or with the error that Read
// would return. done runs exactly once, on a goroutine of the node's or on
// the caller's before ReadBarrier returns, and must not block.
//
// A linearizable barrier on a ready leader joins the next leadership
// confirmation round (n.verify), and one on a follower (linearizable or
// lease) the next read-index request to the leader (n.remoteIndex), with
// no goroutine of its own unless the state machine has yet to apply the
// index. A barrier that needs no wait is answered at once; any other runs
// Read on a goroutine.
func (n *Node) ReadBarrier(ctx context.Context, lvl Consistency, done func(error)) {
	full := func() { done(n.Read(ctx, lvl, func(*fsm.FSM) error { return nil })) }
	if n.closing.Load() || n.ReadsAtOnce(lvl) {
		full()
		return
	}
	var (
		rs        *rounds
		term, idx uint64
		ok        bool
	)
	switch {
	case !n.IsLeader():
		if addr, _ := n.raft.LeaderWithID(); addr == "" {
			go full() // waits for a leader
			return
		}
		rs = n.remoteIndex
	case lvl == Linearizable && n.isReady():
		if term, idx, ok = n.leaderIndex(); !ok {
			go full()
			return
		}
		rs = n.verify
	default:
		go full()
		return
	}
	rs.joinFunc(func(v uint64, err error) {
		if rs == n.remoteIndex {
			idx = v
		} else if err == nil && v != term {
			err = ErrNotLeader // confirmed a later leadership of this node
		}
		switch {
		case err != nil:
			// The usual path retries or reports (a Read that starts later
			// still covers the reads that arrived before the barrier).
			go full()
		case n.fsm.AppliedIndex() >= idx:
			done(nil)
		default:
			go func() {
				wctx, cancel := boundWait(ctx)
				defer cancel()
				if n.fsm.WaitApplied(wctx, idx) != nil {
					done(ErrTimeout)
					return
				}
				done(nil)
			}()
		}
	})
}

// leaderTerm returns the term this node leads in, or ok false. Reading the
// term on both sides of the state means the node led in that term (Raft
// changes its term only after leaving the leader state).
func (n *Node) leaderTerm() (uint64, bool) {
	t := n.raft.CurrentTerm()
	if n.raft.State() != raft.Leader || n.raft.CurrentTerm() != t {
		return 0, false
	}
	return t, true
}

// confirmLeadership starts one leadership confirmation round for
// linearizable reads and gives the term it confirmed to done (rounds.start):
// the confirmation of confirm.go when it can show leadership, else Raft's
// heartbeat round. The confirmation starts on the caller's goroutine when
// this node holds its configuration; reading the configuration, and Raft's
// round, may block and run on a goroutine of their own.
func (n *Node) confirmLeadership(done func(uint64, error)) {
	slow := func() {
		n.confirmSlow.Add(1)
		done(n.verifyLeadership())
	}
	term, ok := n.leaderTerm()
	if !ok {
		go slow()
		return
	}
	start := func(view *voterView) {
		n.confirm.start(term, view.voters, n.cfg.LeaderLeaseTimeout/4, func(ok bool) {
			if ok && n.membershipGen.Load() == view.gen {
				n.confirmFast.Add(1)
				done(term, nil)
				return
			}
			go slow()
		})
	}
	if view := n.heldView(term); view != nil {
		start(view)
		return
	}
	go func() {
		if view := n.confirmView(term); view != nil {
			start(view)
			return
		}
		slow()
	}()
}

// heldView is confirmView without reading the configuration: the copy
// this node holds for term, or nil.
func (n *Node) heldView(term uint64) *voterView {
	gen := n.membershipGen.Load()
	if v := n.voters.Load(); gen%2 == 0 && v != nil && v.term == term && v.gen == gen {
		return v
	}
	return nil
}

// confirmView returns this leader's configuration for term, as read while
// no membership change of this node was in flight, or nil.
func (n *Node) confirmView(term uint64) *voterView {
	gen := n.membershipGen.Load()
	if gen%2 == 1 {
		return nil // a change is in flight
	}
	if v := n.heldView(term); v != nil {
		return v
	}
	cf := n.raft.GetConfiguration()
	if cf.Error() != nil {
		return nil
	}
	if t, ok := n.leaderTerm(); !ok || t != term || n.membershipGen.Load() != gen {
		return nil
	}
	v := &voterView{term: term, gen: gen}
	for _, s := range cf.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			v.voters = append(v.voters, s)
		}
	}
	n.voters.Store(v)
	return v
}

// voterView is a leader's latest configuration's voters.
type voterView struct {
	term, gen uint64
	voters    []raft.Server
}

// verifyLeadership is Raft's leadership confirmation round (one heartbeat to a
// quorum). On success it extends the leader's read lease. It returns the term
// confirmed.
func (n *Node) verifyLeadership() (uint64, error) {
	start := time.Now()
	term, ok := n.leaderTerm()
	if !ok {
		return 0, ErrNotLeader
	}
	if err := n.raft.VerifyLeader().Error(); err != nil {
		return 0, translateRaftErr(err, false)
	}
	// VerifyLeader ran in the leadership of the term read before and after it.
	if t, ok := n.leaderTerm(); !ok || t != term {
		return 0, ErrNotLeader
	}
	// A quorum heard from us after start, and a follower that heard from its
	// leader within the heartbeat timeout neither starts an election nor votes
	// for another candidate; so no other leader can exist before start +
	// heartbeat timeout. Keep a margin for clock drift and scheduling (the
	// documented risk of lease reads).
	n.lease.Store(start.Add(n.leaseDuration()).UnixNano())
	return term, nil
}

// leaseDuration is how long a leadership round keeps the read lease.
func (n *Node) leaseDuration() time.Duration {
	return min(n.cfg.HeartbeatTimeout, n.cfg.ElectionTimeout) / 2
}

// renewLease runs Raft's heartbeat round in the background unless one is
// running already. Lease reads call it once less than half of the lease is
// left, so under a steady load the lease is renewed before it runs out,
// rather than every lease read waiting for a round when it does (the round
// takes milliseconds under load, and each one showed in the reads' p99).
func (n *Node) renewLease() {
	if !n.leaseRenewing.CompareAndSwap(false, true) {
		return
	}
	n.leaseRenewals.Add(1)
	go func() {
		defer n.leaseRenewing.Store(false)
		// The round ends on its own: Raft answers it once a quorum has
		// heard from this leader, or with an error once it no longer leads
		// or shuts down.
		_, _ = n.verifyLease.join(context.Background())
	}()
}

// remoteReadIndex asks the leader for its read index (one request, shared by
// the follower's concurrent reads): over the leader's Raft port
// (readindex.go), or over gRPC if that connection fails.
func (n *Node) remoteReadIndex() (uint64, error) {
	if addr, _ := n.raft.LeaderWithID(); addr != "" {
		if idx, err, ok := n.index.readIndex(addr, n.cfg.LeaderWait); ok {
			return idx, err
		}
	}
	addr, err := n.leaderRPC()
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.LeaderWait)
	defer cancel()
	return n.cfg.Relay.ReadIndex(ctx, addr)
}

// boundWait returns ctx bounded by waitTimeout unless it already has a
// deadline.
func boundWait(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, waitTimeout)
}

// rounds shares one call of do between concurrent callers: a caller joins
// the next round to start, never one already running, so the call it waits for
// begins after the caller did. Used for leadership confirmation on the leader
// (one round serves all concurrent reads; the round returns the term
// confirmed) and for the ReadIndex RPC on followers (it returns the leader's
// read index).
//
// A round runs do on a goroutine of its own, or, when start is set, is
// started by start on the goroutine that finds no round running (a joining
// caller, or the one that finishes the round before) and finished by
// whichever goroutine calls start's done; the next round starts there too.
// So a round that only sends requests and waits for answers costs no
// goroutine hand-off of its own.
type rounds struct {
	do func() (uint64, error)
	// start, if set, starts a round and calls done with its outcome exactly
	// once, on any goroutine, possibly before it returns. It must not block.
	start func(done func(uint64, error))

	mu      sync.Mutex
	next    *round
	running bool
}

type round struct {
	done    chan struct{}
	idx     uint64
	err     error
	waiters int                   // callers that joined (for introspection and tests)
	then    []func(uint64, error) // callbacks of joinFunc
}

func (r *rounds) join(ctx context.Context) (uint64, error) {
	rd := r.enqueue(nil)
	select {
	case <-rd.done:
		return rd.idx, rd.err
	case <-ctx.Done():
		return 0, ErrTimeout
	}
}

// joinFunc joins the next round as join does, without waiting: f receives
// the round's outcome once, on the goroutine that finishes it (or on the
// caller's, before joinFunc returns), and must not block.
func (r *rounds) joinFunc(f func(uint64, error)) {
	r.enqueue(f)
}

// enqueue joins the next round, with f to call when it ends (if not nil),
// and starts it if no round is running.
func (r *rounds) enqueue(f func(uint64, error)) *round {
	r.mu.Lock()
	if r.next == nil {
		r.next = &round{done: make(chan struct{})}
	}
	rd := r.next
	rd.waiters++
	if f != nil {
		rd.then = append(rd.then, f)
	}
	if r.running {
		r.mu.Unlock()
		return rd
	}
	r.running = true
	if r.start == nil {
		r.mu.Unlock()
		go r.loop()
		return rd
	}
	r.next = nil
	r.mu.Unlock()
	r.run(rd)
	return rd
}

// run starts rd with start.
func (r *rounds) run(rd *round) {
	r.start(func(idx uint64, err error) { r.finish(rd, idx, err) })
}

// finish answers rd's callers and starts the next round if any joined.
func (r *rounds) finish(rd *round, idx uint64, err error) {
	rd.answer(idx, err)
	r.mu.Lock()
	next := r.next
	r.next = nil
	r.running = next != nil
	r.mu.Unlock()
	if next != nil {
		r.run(next)
	}
}

func (r *rounds) loop() {
	for {
		r.mu.Lock()
		rd := r.next
		r.next = nil
		if rd == nil {
			r.running = false
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
		rd.answer(r.do())
	}
}

// answer gives rd's outcome to its callers.
func (rd *round) answer(idx uint64, err error) {
	rd.idx, rd.err = idx, err
	close(rd.done)
	for _, f := range rd.then {
		f(idx, err)
	}
}
