package cluster

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A caller must never be served by a round that started before it joined, and
// callers that join while a round runs share the next one.
func TestRoundsShareCallsAndNeverReuseARunningRound(t *testing.T) {
	var calls atomic.Int64
	release := make(chan struct{})
	started := make(chan int64, 10)
	r := &rounds{do: func() (uint64, error) {
		n := calls.Add(1)
		started <- n
		<-release
		return uint64(n), nil
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	first := make(chan uint64, 1)
	go func() { idx, _ := r.join(ctx); first <- idx }()
	if n := <-started; n != 1 {
		t.Fatalf("first round is call %d", n)
	}
	// Round 1 is running: these callers must wait for round 2, together.
	var wg sync.WaitGroup
	got := make([]uint64, 5)
	for i := range got {
		wg.Add(1)
		go func() { defer wg.Done(); got[i], _ = r.join(ctx) }()
	}
	// Wait until all five have joined the pending round.
	for deadline := time.Now().Add(5 * time.Second); ; {
		r.mu.Lock()
		queued := r.next != nil && r.next.waiters == len(got)
		r.mu.Unlock()
		if queued {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("callers did not queue for the next round")
		}
		time.Sleep(time.Millisecond)
	}
	release <- struct{}{} // finish round 1
	if idx := <-first; idx != 1 {
		t.Fatalf("first caller got round %d", idx)
	}
	if n := <-started; n != 2 {
		t.Fatalf("second round is call %d", n)
	}
	release <- struct{}{} // finish round 2
	wg.Wait()
	for i, idx := range got {
		if idx != 2 {
			t.Fatalf("caller %d was served by round %d; want 2 (joined while round 1 ran)", i, idx)
		}
	}
	if c := calls.Load(); c != 2 {
		t.Fatalf("%d calls for 6 callers; want 2", c)
	}
}

func TestRoundsHonourCallerContext(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	r := &rounds{do: func() (uint64, error) { <-block; return 0, nil }}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := r.join(ctx); err != ErrTimeout {
		t.Fatalf("join with an expired context = %v; want ErrTimeout", err)
	}
}
