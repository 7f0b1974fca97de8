package cluster

import (
	"fmt"
	"sync"
	"time"

	"github.com/riot-kv/riot-redis/fsm"
)

// Group commit. Every write on the leader goes through the batcher: while up to
// maxInflightBatches Raft entries are being replicated and fsynced, new
// proposals queue up, and the next entry carries all of them as one
// fsm.OpBatch command. Under load one Raft entry, one log fsync per node and
// one engine write serve many clients; a lone client pays no extra wait,
// because a proposal that finds a free slot is sent at once.
const (
	// maxBatchCommands caps the commands in one Raft entry.
	maxBatchCommands = 512
	// maxBatchBytes caps the encoded size of one Raft entry's commands.
	maxBatchBytes = 4 << 20
	// maxInflightBatches is the number of batch entries handed to Raft and not
	// yet applied. Two lets one entry be fsynced and replicated while the next
	// one forms.
	maxInflightBatches = 2
	// proposalQueue is the buffer between proposers and the batcher.
	proposalQueue = 4096
)

type proposal struct {
	cmd     *fsm.Command
	size    int
	timeout time.Duration
	done    chan proposalResult
}

type proposalResult struct {
	res fsm.Result
	err error
}

type batcher struct {
	n       *Node
	queue   chan *proposal
	slots   chan struct{}
	waiters sync.WaitGroup // goroutines waiting on Raft futures
	exited  chan struct{}  // closed when run and every waiter have returned
}

func newBatcher(n *Node) *batcher {
	return &batcher{n: n, queue: make(chan *proposal, proposalQueue),
		slots: make(chan struct{}, maxInflightBatches), exited: make(chan struct{})}
}

// propose queues c and waits for its result.
func (b *batcher) propose(c *fsm.Command, timeout time.Duration) (fsm.Result, error) {
	p := &proposal{cmd: c, size: c.EncodedLen(), timeout: timeout, done: make(chan proposalResult, 1)}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case b.queue <- p:
	case <-t.C:
		return fsm.Result{}, ErrTimeout
	case <-b.n.stop:
		return fsm.Result{}, ErrClosed
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

func (b *batcher) run() {
	defer b.n.wg.Done()
	defer close(b.exited)
	defer b.waiters.Wait()
	var batch []*proposal
	for {
		var first *proposal
		select {
		case first = <-b.queue:
		case <-b.n.stop:
			b.drainClosed()
			return
		}
		// Wait for a free slot; proposals arriving meanwhile join this batch.
		select {
		case b.slots <- struct{}{}:
		case <-b.n.stop:
			first.done <- proposalResult{err: ErrClosed}
			b.drainClosed()
			return
		}
		batch = append(batch[:0], first)
		size := first.size
		timeout := first.timeout
	fill:
		for len(batch) < maxBatchCommands && size < maxBatchBytes {
			select {
			case p := <-b.queue:
				batch = append(batch, p)
				size += p.size
				timeout = max(timeout, p.timeout)
			default:
				break fill
			}
		}
		b.send(append([]*proposal(nil), batch...), timeout)
	}
}

// send stamps the batch with the leader's clock, hands it to Raft (in the
// batcher's goroutine, so entries keep the order proposals arrived in) and
// waits for the outcome in another goroutine.
func (b *batcher) send(batch []*proposal, timeout time.Duration) {
	now := time.Now().UnixMilli()
	var c *fsm.Command
	if len(batch) == 1 {
		c = batch[0].cmd
	} else {
		cmds := make([]*fsm.Command, len(batch))
		for i, p := range batch {
			p.cmd.Now = now
			cmds[i] = p.cmd
		}
		c = fsm.NewBatch(cmds)
	}
	c.Now = now
	data, err := c.MarshalBinary()
	if err != nil {
		<-b.slots
		failAll(batch, fmt.Errorf("cluster: encode command: %w", err))
		return
	}
	f := b.n.raft.Apply(data, timeout)
	b.waiters.Add(1)
	go func() {
		defer b.waiters.Done()
		err := f.Error()
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
		if len(batch) == 1 {
			batch[0].done <- proposalResult{res: res}
			return
		}
		if res.Kind != fsm.ResultArray || len(res.Array) != len(batch) {
			failAll(batch, fmt.Errorf("%w: batch result %v", ErrUnknownOutcome, res))
			return
		}
		for i, p := range batch {
			p.done <- proposalResult{res: res.Array[i]}
		}
	}()
}

func failAll(batch []*proposal, err error) {
	for _, p := range batch {
		p.done <- proposalResult{err: err}
	}
}

// drainClosed fails every queued proposal after the node stopped: none of
// them reached Raft.
func (b *batcher) drainClosed() {
	for {
		select {
		case p := <-b.queue:
			p.done <- proposalResult{err: ErrClosed}
		default:
			return
		}
	}
}
