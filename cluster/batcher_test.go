package cluster

import (
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
