package cluster

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/riot-kv/riot-redis/fsm"
)

// Read makes local state consistent at lvl and then runs fn against it.
//
//   - Linearizable: ReadIndex. The leader's commit index is taken, leadership is
//     confirmed by one heartbeat round (shared by concurrent reads), and this
//     node waits until its own state machine has applied that index. Followers
//     get the index from the leader over gRPC, then read locally.
//   - Lease: on the leader, reads are local while the lease from the last
//     confirmed heartbeat round holds; otherwise as Linearizable. Followers
//     serve lease reads as Linearizable.
//   - Stale: local state as it is.
func (n *Node) Read(ctx context.Context, lvl Consistency, fn func(s *fsm.FSM) error) error {
	if n.closing.Load() {
		return ErrClosed
	}
	switch lvl {
	case Stale:
	case Lease:
		if n.IsLeader() && n.leaseValid() && n.waitReady(ctx) == nil {
			break
		}
		fallthrough
	default:
		idx, err := n.readIndex(ctx)
		if err != nil {
			return err
		}
		if err := n.fsm.WaitApplied(ctx, idx); err != nil {
			return ErrTimeout
		}
	}
	return fn(n.fsm)
}

// readIndex returns an index that, once applied locally, makes a local read
// linearizable. Not-leader errors are retried while a leader is elected.
func (n *Node) readIndex(ctx context.Context) (uint64, error) {
	deadline := time.Now().Add(n.cfg.LeaderWait)
	for attempt := 0; ; attempt++ {
		var (
			idx uint64
			err error
		)
		if n.IsLeader() {
			idx, err = n.ReadIndexLocal(ctx)
		} else {
			var addr string
			if addr, err = n.leaderRPC(); err == nil {
				idx, err = n.cfg.Relay.ReadIndex(ctx, addr)
				if errors.Is(err, ErrUnknownOutcome) {
					// A read has no side effects: a lost reply only means retry.
					err = ErrNoLeader
				}
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
	if err := n.waitReady(ctx); err != nil {
		return 0, err
	}
	idx := n.raft.CommitIndex()
	if err := n.verify.confirm(ctx); err != nil {
		return 0, err
	}
	return idx, nil
}

func (n *Node) leaseValid() bool {
	return time.Now().UnixNano() < n.lease.Load()
}

// verifier shares leadership confirmation rounds between concurrent readers:
// a reader joins the next round to start, so the round it waits for begins
// after it took its commit index. One Raft heartbeat round serves them all.
type verifier struct {
	n       *Node
	mu      sync.Mutex
	next    *round
	running bool
}

type round struct {
	done chan struct{}
	err  error
}

func (v *verifier) confirm(ctx context.Context) error {
	v.mu.Lock()
	if v.next == nil {
		v.next = &round{done: make(chan struct{})}
	}
	r := v.next
	if !v.running {
		v.running = true
		go v.loop()
	}
	v.mu.Unlock()
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		return ErrTimeout
	}
}

func (v *verifier) loop() {
	for {
		v.mu.Lock()
		r := v.next
		v.next = nil
		if r == nil {
			v.running = false
			v.mu.Unlock()
			return
		}
		v.mu.Unlock()
		start := time.Now()
		err := v.n.raft.VerifyLeader().Error()
		if err != nil {
			r.err = translateRaftErr(err, false)
		} else {
			// A quorum heard from us after start, and a follower that heard
			// from its leader within the heartbeat timeout neither starts an
			// election nor votes for another candidate; so no other leader can
			// exist before start + heartbeat timeout. Keep a margin for clock
			// drift and scheduling (the documented risk of lease reads).
			v.n.lease.Store(start.Add(min(v.n.cfg.HeartbeatTimeout, v.n.cfg.ElectionTimeout) / 2).UnixNano())
		}
		close(r.done)
	}
}
