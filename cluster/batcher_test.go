package cluster

import (
	"errors"
	"testing"
	"time"

	"github.com/riot-kv/riot-redis/fsm"
)

func testBatcher(lastSize int, lastCycle time.Duration) *batcher {
	b := newBatcher(&Node{stop: make(chan struct{})})
	b.lastSize.Store(int64(lastSize))
	b.lastCycle.Store(int64(lastCycle))
	return b
}

func testProposal(count int) *proposal {
	return &proposal{cmd: &fsm.Command{Op: fsm.OpSet}, size: 10, count: count, timeout: time.Second,
		done: make(chan proposalResult, 1)}
}

// lingerOnce runs linger for a batch that starts with first and returns the
// batch and its command count.
func lingerOnce(b *batcher, idle bool, first ...*proposal) ([]*proposal, int) {
	var f forming
	for _, p := range first {
		f.add(p)
	}
	b.linger(&f, idle)
	return f.props, f.count
}

// After a batch of three, an idle batcher holds a new batch open until the
// three clients are back, and takes no more than that.
func TestLingerWaitsForTheClientsOfTheLastBatch(t *testing.T) {
	b := testBatcher(3, time.Second)
	for range 3 {
		b.queue <- testProposal(1)
	}
	batch, count := lingerOnce(b, true, testProposal(1))
	if len(batch) != 3 || count != 3 {
		t.Fatalf("batch of %d proposals (%d commands), want 3", len(batch), count)
	}
	if len(b.queue) != 1 {
		t.Fatalf("%d proposals left queued, want 1", len(b.queue))
	}
}

// A batch that had to wait for the slot expects the proposals queued behind
// the finished batch and that batch's clients.
func TestLingerAfterBusySlotCountsQueuedAndReturning(t *testing.T) {
	b := testBatcher(2, time.Second)
	for range 5 {
		b.queue <- testProposal(1)
	}
	batch, _ := lingerOnce(b, false, testProposal(1), testProposal(1))
	if len(batch) != 4 {
		t.Fatalf("batch of %d proposals, want 2 queued + 2 returning", len(batch))
	}
}

// A lone client, or a batcher with no history, never waits.
func TestLingerNeverDelaysALoneClient(t *testing.T) {
	for _, last := range []int{0, 1} {
		b := testBatcher(last, time.Hour)
		batch, _ := lingerOnce(b, true, testProposal(1))
		if len(batch) != 1 {
			t.Fatalf("lastSize %d: batch of %d", last, len(batch))
		}
	}
}

// Clients that do not come back cost at most the linger bound: the batch
// leaves with what it has.
func TestLingerGivesUpWhenClientsDoNotReturn(t *testing.T) {
	b := testBatcher(50, 2*time.Millisecond)
	done := make(chan int, 1)
	go func() {
		batch, _ := lingerOnce(b, true, testProposal(1))
		done <- len(batch)
	}()
	select {
	case n := <-done:
		if n != 1 {
			t.Fatalf("batch of %d, want 1", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("linger did not give up")
	}
}

// The linger lasts at most half the last commit cycle, and never over 1 ms.
func TestLingerBound(t *testing.T) {
	for _, c := range []struct{ cycle, want time.Duration }{
		{0, 0},
		{400 * time.Microsecond, 200 * time.Microsecond},
		{1800 * time.Microsecond, 900 * time.Microsecond},
		{2 * time.Millisecond, time.Millisecond},
		{time.Second, time.Millisecond},
	} {
		if got := lingerBound(c.cycle, maxLinger); got != c.want {
			t.Errorf("cycle %v: linger bound %v, want %v", c.cycle, got, c.want)
		}
	}
}

// The command cap ends a linger as it ends a fill.
func TestLingerStopsAtTheCommandCap(t *testing.T) {
	b := testBatcher(10, time.Second)
	for range 10 {
		b.queue <- testProposal(maxBatchCommands / 4)
	}
	batch, count := lingerOnce(b, true, testProposal(maxBatchCommands/4))
	if count != maxBatchCommands || len(batch) != 4 {
		t.Fatalf("batch of %d proposals, %d commands; want 4 and %d", len(batch), count, maxBatchCommands)
	}
}

// A hand-off of more commands than a batch takes fills one batch to the cap
// and leaves the rest, in order, for the next.
func TestHandOffBeyondTheCapCarriesOver(t *testing.T) {
	b := testBatcher(0, 0)
	var ps []*proposal
	for range maxBatchCommands + 5 {
		ps = append(ps, testProposal(1))
	}
	b.many <- append([]*proposal(nil), ps...)
	var f forming
	for !f.full() && b.take(&f, nil) {
	}
	if len(f.props) != maxBatchCommands || f.props[0] != ps[0] || f.props[maxBatchCommands-1] != ps[maxBatchCommands-1] {
		t.Fatalf("first batch of %d proposals, want the first %d", len(f.props), maxBatchCommands)
	}
	f.reset()
	for !f.full() && b.take(&f, nil) {
	}
	if len(f.props) != 5 || f.props[0] != ps[maxBatchCommands] {
		t.Fatalf("second batch of %d proposals, want the last 5", len(f.props))
	}
}

// ProposeAsync queues a round's commands in one hand-off: each gets its own
// result, in its own Done, and they apply in their order.
func TestProposeAsyncAnswersEach(t *testing.T) {
	addr, f := nodeParts(t)
	n, err := New(Config{ID: "n1", Dir: t.TempDir(), RaftAddr: addr, Bootstrap: true,
		HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond}, f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Kill() })
	waitLeader(t, n)

	cmds := []*fsm.Command{
		{Op: fsm.OpSet, Args: [][]byte{[]byte("k"), []byte("5")}},
		fsm.NewIncrBy([]byte("k"), 2),
		{Op: fsm.OpBatch}, // empty: answered without a batch
		fsm.NewIncrBy([]byte("k"), 3),
	}
	type answer struct {
		res fsm.Result
		err error
	}
	got := make([]chan answer, len(cmds))
	ps := make([]AsyncProposal, len(cmds))
	for i, c := range cmds {
		ch := make(chan answer, 2)
		got[i] = ch
		ps[i] = AsyncProposal{Cmd: c, Done: func(r fsm.Result, err error) { ch <- answer{r, err} }}
	}
	if !n.ProposeAsync(ps) {
		t.Fatal("leader declined the proposals")
	}
	want := []string{"OK", "(integer) 7", "[]", "(integer) 10"}
	for i, ch := range got {
		select {
		case a := <-ch:
			if a.err != nil || a.res.String() != want[i] {
				t.Fatalf("command %d: %v, %v; want %s", i, a.res, a.err, want[i])
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("command %d: no answer", i)
		}
	}
	if v, ok, err := f.Get([]byte("k"), time.Now().UnixMilli()); err != nil || !ok || string(v) != "10" {
		t.Fatalf("k = %q %v %v, want 10", v, ok, err)
	}
	for i, ch := range got {
		if len(ch) != 0 {
			t.Fatalf("command %d answered twice", i)
		}
	}

	// A stopped node takes nothing and answers nothing.
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	called := make(chan struct{}, 1)
	if n.ProposeAsync([]AsyncProposal{{Cmd: cmds[0], Done: func(fsm.Result, error) { called <- struct{}{} }}}) {
		t.Fatal("a closed node took a proposal")
	}
	select {
	case <-called:
		t.Fatal("a declined proposal was answered")
	case <-time.After(50 * time.Millisecond):
	}
}

// A batch Raft never answers (it stopped with the entry still queued) is
// answered by abandon, once, with an unknown outcome, and no longer holds up
// the batcher's exit; its waiter, should the future ever complete, answers
// nothing.
func TestAbandonAnswersWhatRaftLeft(t *testing.T) {
	b := testBatcher(0, 0)
	p1, p2 := testProposal(1), testProposal(1)
	fl := b.track([]*proposal{p1, p2})
	done := make(chan struct{})
	go func() {
		b.waiters.Wait()
		close(done)
	}()
	select {
	case <-done:
		t.Fatal("the batcher's waiters returned with a batch in flight")
	case <-time.After(20 * time.Millisecond):
	}
	b.abandon()
	for i, p := range []*proposal{p1, p2} {
		select {
		case r := <-p.done:
			if !errors.Is(r.err, ErrUnknownOutcome) {
				t.Fatalf("proposal %d: %v, want an unknown outcome", i, r.err)
			}
		default:
			t.Fatalf("proposal %d not answered", i)
		}
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the batcher's waiters still wait after abandon")
	}
	if b.claim(fl) {
		t.Fatal("an abandoned batch was claimed again")
	}
	b.abandon() // nothing left: answers nothing twice
	if len(p1.done) != 0 || len(p2.done) != 0 {
		t.Fatal("a proposal was answered twice")
	}
}
