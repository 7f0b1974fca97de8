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

// With start, a round starts on the goroutine that joins when none runs and
// the next one on the goroutine that finishes it; callers that join while
// a round runs share the next, and each callback sees its round's outcome
// once.
func TestRoundsStartChainsRounds(t *testing.T) {
	var (
		mu    sync.Mutex
		dones []func(uint64, error)
	)
	started := func() int { mu.Lock(); defer mu.Unlock(); return len(dones) }
	r := &rounds{start: func(done func(uint64, error)) {
		mu.Lock()
		dones = append(dones, done)
		mu.Unlock()
	}}
	type answer struct {
		caller int
		idx    uint64
		err    error
	}
	got := make(chan answer, 10)
	join := func(caller int) {
		r.joinFunc(func(idx uint64, err error) { got <- answer{caller, idx, err} })
	}
	expect := func(want ...answer) {
		t.Helper()
		for _, w := range want {
			select {
			case a := <-got:
				if a != w {
					t.Fatalf("callback %+v; want %+v", a, w)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("no callback; want %+v", w)
			}
		}
		select {
		case a := <-got:
			t.Fatalf("unexpected callback %+v", a)
		default:
		}
	}

	join(1) // no round runs: it starts here, before joinFunc returns
	if n := started(); n != 1 {
		t.Fatalf("%d rounds started after the first join; want 1", n)
	}
	join(2) // round 1 runs: these two wait for round 2
	join(3)
	if n := started(); n != 1 {
		t.Fatalf("%d rounds started while round 1 ran; want 1", n)
	}
	expect()
	dones[0](10, nil) // ends round 1 and starts round 2 on this goroutine
	expect(answer{1, 10, nil})
	if n := started(); n != 2 {
		t.Fatalf("%d rounds started after round 1 ended with callers waiting; want 2", n)
	}
	dones[1](0, ErrNotLeader)
	expect(answer{2, 0, ErrNotLeader}, answer{3, 0, ErrNotLeader})
	if n := started(); n != 2 {
		t.Fatalf("%d rounds started with no caller waiting; want 2", n)
	}

	// A start that answers before it returns serves a blocking join, and
	// the next round starts afresh.
	r.start = func(done func(uint64, error)) { done(30, nil) }
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for range 3 {
		if idx, err := r.join(ctx); idx != 30 || err != nil {
			t.Fatalf("join with an answer at once = %d, %v; want 30", idx, err)
		}
	}
	r.mu.Lock()
	running, next := r.running, r.next
	r.mu.Unlock()
	if running || next != nil {
		t.Fatalf("after the last round: running %v, next %v; want idle", running, next)
	}
}
