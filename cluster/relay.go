package cluster

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riot-kv/riot-redis/fsm"
)

// relayBatcher groups the writes a follower relays to the leader, as the
// leader's batcher groups proposals into Raft entries: while one relay call is
// in flight, the writes that arrive queue up, and the next call carries all of
// them as one fsm.OpBatch (a client's own pipelined batch flattened into it),
// which the leader's batcher takes into its entry like any proposal. A lone
// writer's call leaves at once. Without it every relayed write was a gRPC call
// of its own, about 100 µs of CPU on each end (rpc/DESIGN.md): under 50
// concurrent clients a follower took writes at half the leader's rate.
//
// It has no goroutine of its own. The writer that finds no call in flight
// sends one; when its call returns and writes have queued meanwhile, it hands
// the next call to the first of them. So a writer waits only for the call
// that carries its write and for the one in flight when it arrived.
type relayBatcher struct {
	// call sends one encoded command to the leader and returns its encoded
	// result (Node.relayCall).
	call    func(ctx context.Context, cmd []byte) ([]byte, error)
	mu      sync.Mutex
	queue   []*proposal
	sending bool // a writer is sending, or has been handed the turn to
	// turnTo is the queued write the turn is being handed to: it must take
	// it, even if its caller stops waiting, or the queue would stall.
	turnTo *proposal

	// arrived is signalled when a write joins the queue (for linger).
	arrived chan struct{}
	// Of the call that returned last: the writes it carried and how long it
	// took (see linger).
	lastSize, lastCycle atomic.Int64
	// maxLinger bounds a linger (the batcher's maxLinger; tests raise it).
	maxLinger time.Duration

	// Writes relayed and the calls that carried them (Node.Stats).
	writes, calls atomic.Uint64
}

func newRelayBatcher(call func(ctx context.Context, cmd []byte) ([]byte, error)) *relayBatcher {
	return &relayBatcher{call: call, arrived: make(chan struct{}, 1), maxLinger: maxLinger}
}

// propose relays c to the leader, sharing a call with concurrent writers,
// and returns its result or the call's error (every write of a failed call
// gets the same error, so "not applied" stays retryable for each). If ctx
// ends while the write waits in the queue, it leaves the queue unsent
// (ErrTimeout); once its call has left, the outcome is unknown.
func (rb *relayBatcher) propose(ctx context.Context, c *fsm.Command) (fsm.Result, error) {
	p, res := newProposal(c, timeoutFrom(ctx, waitTimeout))
	if res != nil {
		return *res, nil
	}
	p.done = make(chan proposalResult, 1)
	p.turn = make(chan struct{}, 1)
	p.ctx = ctx
	rb.mu.Lock()
	rb.queue = append(rb.queue, p)
	lead := !rb.sending
	rb.sending = true
	rb.mu.Unlock()
	select {
	case rb.arrived <- struct{}{}:
	default:
	}
	if !lead {
		select {
		case r := <-p.done:
			return r.res, r.err
		case <-p.turn:
		case <-ctx.Done():
			select {
			case r := <-p.done: // answered just now
				return r.res, r.err
			default:
			}
			if r, left := rb.leave(ctx, p); left {
				return r.res, r.err
			}
			<-p.turn // handed the turn meanwhile: take it for the others
		}
	}
	rb.mu.Lock()
	rb.turnTo = nil
	queued := len(rb.queue)
	rb.mu.Unlock()
	want := int(rb.lastSize.Load())
	if !lead {
		// Handed the turn as a call returned: those queued meanwhile go
		// with the clients that call answered.
		want += queued
	}
	rb.linger(want)
	rb.sendQueued()
	r := <-p.done
	return r.res, r.err
}

// linger holds the next call until the queue holds want writes, for at most
// half the last call's time and never more than maxLinger: the leader's
// batcher's linger (batcher.linger), for the same reason. The clients the
// last call answered send their next writes within a fraction of a call; a
// call that left without them would make them wait for the one after, and
// the clients would split into two groups taking turns, each call half full.
// A lone writer never waits: the queue already holds as many as the last call.
func (rb *relayBatcher) linger(want int) {
	wait := lingerBound(time.Duration(rb.lastCycle.Load()), rb.maxLinger)
	if want <= 1 || wait <= 0 {
		return
	}
	var t *time.Timer
	for {
		rb.mu.Lock()
		n := len(rb.queue)
		rb.mu.Unlock()
		if n >= want || n >= maxBatchCommands {
			return
		}
		if t == nil {
			t = time.NewTimer(wait)
			defer t.Stop()
		}
		select {
		case <-rb.arrived:
		case <-t.C:
			return
		}
	}
}

// leave answers a write whose caller stopped waiting: still queued, it is
// taken out of the queue and was not sent; already sent, its outcome is
// unknown. It reports false, leaving p queued, when the turn is being handed
// to p, which must then send.
func (rb *relayBatcher) leave(ctx context.Context, p *proposal) (proposalResult, bool) {
	rb.mu.Lock()
	defer rb.mu.Unlock()
	if rb.turnTo == p {
		return proposalResult{}, false
	}
	for i, q := range rb.queue {
		if q == p {
			rb.queue = slices.Delete(rb.queue, i, i+1)
			return proposalResult{err: fmt.Errorf("%w: %v", ErrTimeout, ctx.Err())}, true
		}
	}
	// Its call has left; the sender's delivery goes to the buffered done.
	return proposalResult{err: fmt.Errorf("%w: %v", ErrUnknownOutcome, ctx.Err())}, true
}

// sendQueued sends the writes at the head of the queue, as many as one Raft
// entry takes (the sender's own is the first), then hands the turn to the
// first write still queued, if any. A write too large to share a call within
// the caps travels alone, as it did before: it must not make a call too
// large for the leader to take and fail its neighbours with it.
func (rb *relayBatcher) sendQueued() {
	rb.mu.Lock()
	var batch forming
	for len(rb.queue) > 0 {
		p := rb.queue[0]
		if len(batch.props) > 0 && (batch.count+p.count > maxBatchCommands || batch.size+p.size > maxBatchBytes) {
			break
		}
		batch.add(p)
		rb.queue[0] = nil
		rb.queue = rb.queue[1:]
	}
	rb.mu.Unlock()

	start := time.Now()
	rb.send(batch.props, batch.timeout)
	rb.lastSize.Store(int64(len(batch.props)))
	rb.lastCycle.Store(int64(time.Since(start)))

	rb.mu.Lock()
	if len(rb.queue) == 0 {
		rb.sending = false
		rb.queue = nil // drop the consumed prefix's backing array
		rb.mu.Unlock()
		return
	}
	next := rb.queue[0]
	rb.turnTo = next
	rb.mu.Unlock()
	next.turn <- struct{}{}
}

// send relays one batch to the leader and delivers every proposal its result.
func (rb *relayBatcher) send(batch []*proposal, timeout time.Duration) {
	// The leader stamps the entry with its own clock.
	data, err := encodeBatch(batch, 0)
	if err != nil {
		failAll(batch, fmt.Errorf("cluster: encode command: %w", err))
		return
	}
	rb.calls.Add(1)
	for _, p := range batch {
		rb.writes.Add(uint64(p.count))
	}
	// The call outlives any one caller, as it carries the others' writes,
	// but not all of them: once every caller has stopped waiting (a server
	// shutting down cancels them all), it is cancelled.
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var waiting atomic.Int64
	waiting.Store(int64(len(batch)))
	for _, p := range batch {
		stop := context.AfterFunc(p.ctx, func() {
			if waiting.Add(-1) == 0 {
				cancel()
			}
		})
		defer stop()
	}
	out, err := rb.call(ctx, data)
	if err != nil {
		failAll(batch, err)
		return
	}
	res, err := fsm.DecodeResult(out)
	if err != nil {
		// The leader applied it; only its reply is unreadable.
		failAll(batch, fmt.Errorf("%w: bad reply from leader: %v", ErrUnknownOutcome, err))
		return
	}
	deliver(batch, res)
}

// relayCall sends an encoded command to the leader's gRPC address.
func (n *Node) relayCall(ctx context.Context, cmd []byte) ([]byte, error) {
	addr, err := n.leaderRPC()
	if err != nil {
		return nil, err
	}
	return n.cfg.Relay.Propose(ctx, addr, cmd)
}
