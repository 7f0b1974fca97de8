package cluster

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/riot-kv/riot-redis/fsm"
)

// Group commit. Every write on the leader goes through the batcher: while up to
// maxInflightBatches Raft entries are being replicated and fsynced, new
// proposals queue up, and the next entry carries all of them as one
// fsm.OpBatch command. Under load one Raft entry, one log fsync per node and
// one engine write serve many clients; a lone client pays no extra wait,
// because a proposal that finds a free slot and no clients due back is sent at
// once (see linger for the wait when clients are due back).
const (
	// maxBatchCommands caps the commands in one Raft entry: enough for 50
	// clients pipelining 16 commands each to share one.
	maxBatchCommands = 1024
	// maxBatchBytes caps the encoded size of one Raft entry's commands.
	maxBatchBytes = 4 << 20
	// maxInflightBatches is the number of batch entries handed to Raft and not
	// yet applied. The next entry forms while one is in flight. Measured with
	// redis-benchmark SET -c 50 on 3 nodes sharing 2 cores, one in flight gave
	// 10-20% more throughput and a lower p99 than two or four, with the linger
	// and without: fewer, larger entries cost less CPU per command (one
	// AppendEntries, one log sync, one engine write each), and the leader's log
	// sync already overlaps replication (durableLog).
	maxInflightBatches = 1
	// proposalQueue is the buffer between proposers and the batcher.
	proposalQueue = 4096
	// manyQueue is the buffer for hand-offs of several proposals at once.
	manyQueue = 64
	// lingerShare and maxLinger bound how long a batch waits for the clients
	// of the batch that just finished: half the last commit cycle, never more
	// than 1 ms (see batcher.linger).
	lingerShare = 2
	maxLinger   = time.Millisecond
)

type proposal struct {
	cmd     *fsm.Command
	size    int
	count   int // commands it contributes to a batch: len(Args) for an OpBatch
	timeout time.Duration
	done    chan proposalResult
	// turn, for a follower's relayed write, hands it the next relay call,
	// and ctx is its caller's (relayBatcher); both nil on the leader.
	turn chan struct{}
	ctx  context.Context
	// notify, if set, receives the result instead of done (ProposeAsync).
	notify func(fsm.Result, error)
}

// answer hands p its result.
func (p *proposal) answer(r proposalResult) {
	if p.notify != nil {
		p.notify(r.res, r.err)
		return
	}
	p.done <- r
}

type proposalResult struct {
	res fsm.Result
	err error
}

type batcher struct {
	n       *Node
	queue   chan *proposal
	many    chan []*proposal // proposals queued together (proposeAsync)
	carry   []*proposal      // taken from many, not yet in a batch (run's own)
	slots   chan struct{}
	waiters sync.WaitGroup // batches handed to Raft and not answered yet
	exited  chan struct{}  // closed when run has returned and every batch is answered

	flightMu sync.Mutex
	flights  map[*flight]struct{} // batches handed to Raft, until answered

	// Of the batch that finished last: its proposals and how long it took
	// from Raft to answer (see linger).
	lastSize  atomic.Int64
	lastCycle atomic.Int64 // nanoseconds
}

func newBatcher(n *Node) *batcher {
	return &batcher{n: n, queue: make(chan *proposal, proposalQueue), many: make(chan []*proposal, manyQueue),
		slots: make(chan struct{}, maxInflightBatches), exited: make(chan struct{})}
}

// newProposal returns the proposal of c, or, when c needs no batch, its
// result: a client's pipelined writes arrive as one fsm.OpBatch, which a batch
// flattens into the entry it builds, as batches do not nest. A malformed one is
// refused here, so it cannot fail its neighbours, and an empty one is answered.
// The caller gives the proposal its way to be answered (done or notify).
func newProposal(c *fsm.Command, timeout time.Duration) (*proposal, *fsm.Result) {
	p := &proposal{cmd: c, size: c.EncodedLen(), count: 1, timeout: timeout}
	if c.Op == fsm.OpBatch {
		var sub fsm.Command // reused: only checked, then dropped
		for _, a := range c.Args {
			if err := sub.UnmarshalBinary(a); err != nil || sub.Op == fsm.OpBatch {
				return nil, &fsm.Result{Kind: fsm.ResultError, Err: fsm.ErrTextCorruptCommand}
			}
		}
		p.count = len(c.Args)
		if p.count == 0 {
			return nil, &fsm.Result{Kind: fsm.ResultArray}
		}
	}
	return p, nil
}

// propose queues c and waits for its result.
func (b *batcher) propose(c *fsm.Command, timeout time.Duration) (fsm.Result, error) {
	p, res := newProposal(c, timeout)
	if res != nil {
		return *res, nil
	}
	p.done = make(chan proposalResult, 1)
	select {
	case b.queue <- p:
	default:
		// The queue is full: wait for room, within the timeout (a timer only
		// on this path; the queue usually has room).
		t := time.NewTimer(timeout)
		defer t.Stop()
		select {
		case b.queue <- p:
		case <-t.C:
			return fsm.Result{}, ErrTimeout
		case <-b.n.stop:
			return fsm.Result{}, ErrClosed
		}
	}
	// Once queued, the proposal is answered by the batcher: it either hands it
	// to Raft and reports the outcome, or fails it with a not-applied error.
	// If the batcher has exited and never took it, it was not applied.
	select {
	case r := <-p.done:
		return r.res, r.err
	case <-b.exited:
		select {
		case r := <-p.done:
			return r.res, r.err
		default:
			return fsm.Result{}, ErrClosed
		}
	}
}

// proposeAsync queues every proposal of ps in one hand-off, if the queue
// has room; otherwise it queues none (see Node.ProposeAsync). Commands that
// need no batch (newProposal) are answered here, once the others are queued.
func (b *batcher) proposeAsync(ps []AsyncProposal) bool {
	props := make([]*proposal, 0, len(ps))
	var now []int // of ps, answered without a batch
	var nowRes []fsm.Result
	for i, a := range ps {
		p, res := newProposal(a.Cmd, waitTimeout)
		if res != nil {
			now, nowRes = append(now, i), append(nowRes, *res)
			continue
		}
		p.notify = a.Done
		props = append(props, p)
	}
	if len(props) > 0 {
		select {
		case b.many <- props:
		default:
			return false
		}
	}
	for j, i := range now {
		ps[i].Done(nowRes[j], nil)
	}
	select {
	case <-b.n.stop:
		// run may have drained the queue before props arrived: answer what
		// is left with ErrClosed (each proposal once, whoever takes it).
		b.drainClosed()
	default:
	}
	return true
}

// fromCarry takes the next proposal left from a hand-off of several, or nil.
func (b *batcher) fromCarry() *proposal {
	if len(b.carry) == 0 {
		return nil
	}
	p := b.carry[0]
	b.carry[0] = nil
	b.carry = b.carry[1:]
	return p
}

// forming is the batch the batcher is filling.
type forming struct {
	props       []*proposal
	size, count int
	timeout     time.Duration // the longest of its proposals'
}

func (f *forming) reset() {
	clear(f.props)
	f.props, f.size, f.count, f.timeout = f.props[:0], 0, 0, 0
}

func (f *forming) add(p *proposal) {
	f.props = append(f.props, p)
	f.size += p.size
	f.count += p.count
	f.timeout = max(f.timeout, p.timeout)
}

// full reports whether the batch reached a cap (it may pass one by its last
// proposal).
func (f *forming) full() bool { return f.count >= maxBatchCommands || f.size >= maxBatchBytes }

func (b *batcher) run() {
	defer b.n.wg.Done()
	defer close(b.exited)
	defer b.waiters.Wait()
	var batch forming
	for {
		first := b.fromCarry()
		if first == nil {
			select {
			case first = <-b.queue:
			case ps := <-b.many:
				first, b.carry = ps[0], ps[1:]
			case <-b.n.stop:
				failAll(b.carry, ErrClosed)
				b.drainClosed()
				return
			}
		}
		// Wait for a free slot; proposals arriving meanwhile join this batch.
		idle := true
		select {
		case b.slots <- struct{}{}:
		default:
			idle = false
			select {
			case b.slots <- struct{}{}:
			case <-b.n.stop:
				first.answer(proposalResult{err: ErrClosed})
				failAll(b.carry, ErrClosed)
				b.drainClosed()
				return
			}
		}
		batch.reset()
		batch.add(first)
		for !batch.full() && b.take(&batch, nil) {
		}
		b.linger(&batch, idle)
		b.send(append([]*proposal(nil), batch.props...), batch.timeout)
	}
}

// linger keeps a batch open a little longer for the clients of the batch that
// just finished. Those clients were answered when its slot freed, and most
// send their next command within a fraction of a commit cycle; a batch that
// left without them would make them wait a whole cycle for the next one.
// Under steady load that splits the clients into two groups that take turns,
// each batch half full. So a batch waits until it holds as many proposals as
// the last one answered (plus those that were already queued behind it when
// it had to wait for the slot), for at most half the last cycle and never
// more than maxLinger. A lone client never waits: the batch it finds
// already holds as many proposals as the last one. A node that stops meanwhile
// needs no case of its own: the wait is that short.
func (b *batcher) linger(batch *forming, idle bool) {
	want := int(b.lastSize.Load())
	if !idle {
		want += len(batch.props)
	}
	wait := lingerBound(time.Duration(b.lastCycle.Load()), maxLinger)
	if len(batch.props) >= want || wait <= 0 {
		return
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	for len(batch.props) < want && !batch.full() && b.take(batch, t.C) {
	}
}

// take adds the next queued proposal to batch: one left from a hand-off of
// several first, then whichever queue has one. With timeout nil it does not
// wait. It reports false when nothing came (or timeout fired).
func (b *batcher) take(batch *forming, timeout <-chan time.Time) bool {
	for {
		if p := b.fromCarry(); p != nil {
			batch.add(p)
			return true
		}
		if timeout == nil {
			select {
			case p := <-b.queue:
				batch.add(p)
				return true
			case b.carry = <-b.many:
			default:
				return false
			}
			continue
		}
		select {
		case p := <-b.queue:
			batch.add(p)
			return true
		case b.carry = <-b.many:
		case <-timeout:
			return false
		}
	}
}

// lingerBound is the longest a batch lingers after a commit cycle of cycle:
// lingerShare of it, never more than limit (maxLinger).
func lingerBound(cycle, limit time.Duration) time.Duration {
	return min(cycle/lingerShare, limit)
}

// send stamps the batch with the leader's clock, hands it to Raft (in the
// batcher's goroutine, so entries keep the order proposals arrived in) and
// waits for the outcome in another goroutine.
func (b *batcher) send(batch []*proposal, timeout time.Duration) {
	data, err := encodeBatch(batch, time.Now().UnixMilli())
	if err != nil {
		<-b.slots
		failAll(batch, fmt.Errorf("cluster: encode command: %w", err))
		return
	}
	start := time.Now()
	f := b.n.raft.Apply(data, timeout)
	fl := b.track(batch)
	go func() {
		err := f.Error()
		if !b.claim(fl) {
			return // abandoned: already answered
		}
		defer b.waiters.Done()
		b.lastSize.Store(int64(len(batch)))
		b.lastCycle.Store(int64(time.Since(start)))
		<-b.slots
		if err != nil {
			failAll(batch, translateRaftErr(err, true))
			return
		}
		res, ok := f.Response().(fsm.Result)
		if !ok {
			failAll(batch, fmt.Errorf("%w: unexpected apply response %T", ErrUnknownOutcome, f.Response()))
			return
		}
		deliver(batch, res)
	}()
}

// flight is a batch handed to Raft. It is answered once: by the goroutine
// waiting on its future, or by abandon.
type flight struct{ batch []*proposal }

// track records batch as handed to Raft.
func (b *batcher) track(batch []*proposal) *flight {
	fl := &flight{batch: batch}
	b.flightMu.Lock()
	if b.flights == nil {
		b.flights = make(map[*flight]struct{})
	}
	b.flights[fl] = struct{}{}
	b.waiters.Add(1)
	b.flightMu.Unlock()
	return fl
}

// claim reports whether fl is still to be answered, and makes the caller
// the one to answer it.
func (b *batcher) claim(fl *flight) bool {
	b.flightMu.Lock()
	defer b.flightMu.Unlock()
	if _, ok := b.flights[fl]; !ok {
		return false
	}
	delete(b.flights, fl)
	return true
}

// abandon answers every batch Raft has not answered, once Raft has shut
// down: hashicorp/raft leaves a future unanswered when it stops with the
// entry still queued for its main loop (BatchApplyCh) or committed but not
// yet handed to the state machine, so its waiter would wait forever, and
// the node's shutdown with it. The entry may or may not have been
// committed: the outcome is unknown. The goroutines left waiting on those
// futures stay parked; they hold only their batch.
func (b *batcher) abandon() {
	b.flightMu.Lock()
	fls := b.flights
	b.flights = nil
	b.flightMu.Unlock()
	for fl := range fls {
		failAll(fl.batch, translateRaftErr(raft.ErrRaftShutdown, true))
		b.waiters.Done()
	}
}

// encodeBatch encodes the proposals of one batch: a lone command as it is,
// several (or a client's own batch) as one flat fsm.OpBatch stamped now.
func encodeBatch(batch []*proposal, now int64) ([]byte, error) {
	if len(batch) == 1 && batch[0].cmd.Op != fsm.OpBatch {
		c := batch[0].cmd
		c.Now = now
		return c.MarshalBinary()
	}
	return encodeFlatBatch(batch, now)
}

// deliver hands each proposal of a batch encoded by encodeBatch its part of
// res, the batch's result.
func deliver(batch []*proposal, res fsm.Result) {
	if len(batch) == 1 && batch[0].cmd.Op != fsm.OpBatch {
		batch[0].answer(proposalResult{res: res})
		return
	}
	total := 0
	for _, p := range batch {
		total += p.count
	}
	if res.Kind != fsm.ResultArray || len(res.Array) != total {
		// A corrupt sub-command fails the whole entry and changes nothing.
		if res.Kind == fsm.ResultError {
			for _, p := range batch {
				p.answer(proposalResult{res: res})
			}
			return
		}
		failAll(batch, fmt.Errorf("%w: batch result %v", ErrUnknownOutcome, res))
		return
	}
	off := 0
	for _, p := range batch {
		if p.cmd.Op == fsm.OpBatch {
			p.answer(proposalResult{res: fsm.Result{Kind: fsm.ResultArray, Array: res.Array[off : off+p.count]}})
		} else {
			p.answer(proposalResult{res: res.Array[off]})
		}
		off += p.count
	}
}

// encodeFlatBatch encodes the proposals as one fsm.OpBatch stamped now,
// inlining the sub-commands of proposals that are batches themselves (their
// encoded sub-commands are copied as they are: a batch's sub-commands run at
// the batch's Now).
func encodeFlatBatch(batch []*proposal, now int64) ([]byte, error) {
	var singles []*fsm.Command
	total := 0
	for _, p := range batch {
		total += p.count
		if p.cmd.Op != fsm.OpBatch {
			singles = append(singles, p.cmd)
		}
	}
	enc := fsm.EncodeAll(singles)
	args := make([][]byte, 0, total)
	for _, p := range batch {
		if p.cmd.Op != fsm.OpBatch {
			args = append(args, enc[0])
			enc = enc[1:]
			continue
		}
		args = append(args, p.cmd.Args...)
	}
	c := &fsm.Command{Op: fsm.OpBatch, Now: now, Args: args}
	return c.MarshalBinary()
}

func failAll(batch []*proposal, err error) {
	for _, p := range batch {
		p.answer(proposalResult{err: err})
	}
}

// drainClosed fails every queued proposal after the node stopped: none of
// them reached Raft.
func (b *batcher) drainClosed() {
	for {
		select {
		case p := <-b.queue:
			p.answer(proposalResult{err: ErrClosed})
		case ps := <-b.many:
			failAll(ps, ErrClosed)
		default:
			return
		}
	}
}
