package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/riot-kv/riot-redis/fsm"
)

// fakeLeader answers relayed commands as a leader would shape its reply:
// a lone command gets a bulk of its key, a batch an array with one such bulk
// per sub-command. It records how many commands each call carried, and the
// first call waits for release, so that writers queue behind it.
type fakeLeader struct {
	mu      sync.Mutex
	calls   []int
	release chan struct{}
	err     error
}

func (f *fakeLeader) call(_ context.Context, data []byte) ([]byte, error) {
	f.mu.Lock()
	first := len(f.calls) == 0
	f.mu.Unlock()
	if first && f.release != nil {
		<-f.release
	}
	c, err := fsm.DecodeCommand(data)
	if err != nil {
		return nil, err
	}
	var res fsm.Result
	n := 1
	if c.Op == fsm.OpBatch {
		res.Kind = fsm.ResultArray
		n = len(c.Args)
		for _, a := range c.Args {
			sub, err := fsm.DecodeCommand(a)
			if err != nil || sub.Op == fsm.OpBatch {
				return nil, fmt.Errorf("bad sub-command %q: %v", a, err)
			}
			res.Array = append(res.Array, fsm.Result{Kind: fsm.ResultBulk, Bulk: sub.Args[0]})
		}
	} else {
		res = fsm.Result{Kind: fsm.ResultBulk, Bulk: c.Args[0]}
	}
	f.mu.Lock()
	f.calls = append(f.calls, n)
	f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	return res.MarshalBinary()
}

func setCmd(key string) *fsm.Command {
	return fsm.NewSet([]byte(key), []byte("v"), fsm.SetOptions{})
}

// waitQueued waits until n writes are queued behind the call in flight.
func waitQueued(t *testing.T, rb *relayBatcher, n int) {
	t.Helper()
	waitRelay(t, rb, func(sending bool, queued int) bool { return sending && queued == n })
}

// waitSending waits until the first writer took its write out of the queue
// to send it.
func waitSending(t *testing.T, rb *relayBatcher) {
	t.Helper()
	waitRelay(t, rb, func(sending bool, queued int) bool { return sending && queued == 0 })
}

func waitRelay(t *testing.T, rb *relayBatcher, ok func(sending bool, queued int) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rb.mu.Lock()
		sending, q := rb.sending, len(rb.queue)
		rb.mu.Unlock()
		if ok(sending, q) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("relay: sending %v with %d queued", sending, q)
		}
		time.Sleep(time.Millisecond)
	}
}

// Writes that arrive while a relay call is in flight share the next call,
// a client's pipelined batch flattened into it, and each gets its own
// result back.
func TestRelayedWritesShareACall(t *testing.T) {
	f := &fakeLeader{release: make(chan struct{})}
	rb := newRelayBatcher(f.call)
	results := make(chan string, 64)
	var wg sync.WaitGroup
	propose := func(c *fsm.Command) {
		defer wg.Done()
		res, err := rb.propose(context.Background(), c)
		switch {
		case err != nil:
			results <- "error " + err.Error()
		case res.Kind == fsm.ResultArray:
			s := "array"
			for _, r := range res.Array {
				s += " " + string(r.Bulk)
			}
			results <- s
		default:
			results <- string(res.Bulk)
		}
	}
	wg.Add(1)
	go propose(setCmd("first"))
	waitSending(t, rb)
	for i := range 20 {
		wg.Add(1)
		go propose(setCmd(fmt.Sprintf("k%d", i)))
	}
	pipeline := fsm.NewBatch([]*fsm.Command{setCmd("p1"), setCmd("p2"), setCmd("p3")})
	wg.Add(1)
	go propose(pipeline)
	waitQueued(t, rb, 21)
	close(f.release)
	wg.Wait()
	close(results)

	got := map[string]bool{}
	for r := range results {
		got[r] = true
	}
	for i := range 20 {
		if !got[fmt.Sprintf("k%d", i)] {
			t.Errorf("write k%d: no result of its own; got %v", i, got)
		}
	}
	if !got["first"] || !got["array p1 p2 p3"] || len(got) != 22 {
		t.Errorf("results %v", got)
	}
	if len(f.calls) != 2 || f.calls[0] != 1 || f.calls[1] != 23 {
		t.Errorf("calls carried %v commands, want [1 23]", f.calls)
	}
	if w, c := rb.writes.Load(), rb.calls.Load(); w != 24 || c != 2 {
		t.Errorf("counters: %d writes in %d calls, want 24 in 2", w, c)
	}
	rb.mu.Lock()
	defer rb.mu.Unlock()
	if rb.sending || len(rb.queue) != 0 {
		t.Errorf("after the last call: sending %v, %d queued", rb.sending, len(rb.queue))
	}
}

// A failed call fails every write it carried with the same error, so a "not
// applied" error stays retryable for each of them.
func TestRelayedWritesShareAFailure(t *testing.T) {
	f := &fakeLeader{release: make(chan struct{}), err: ErrNotLeader}
	rb := newRelayBatcher(f.call)
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := rb.propose(context.Background(), setCmd(fmt.Sprintf("k%d", i)))
			errs <- err
		}()
		if i == 0 {
			waitSending(t, rb)
		}
	}
	waitQueued(t, rb, 7)
	close(f.release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, ErrNotLeader) {
			t.Errorf("error %v, want ErrNotLeader", err)
		}
	}
	if len(f.calls) != 2 {
		t.Errorf("%d calls, want 2", len(f.calls))
	}
}

// More queued writes than one Raft entry takes go in several calls, each
// within the batch caps.
func TestRelayedWritesSplitAtTheBatchCap(t *testing.T) {
	f := &fakeLeader{release: make(chan struct{})}
	rb := newRelayBatcher(f.call)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if _, err := rb.propose(context.Background(), setCmd("first")); err != nil {
			t.Error(err)
		}
	}()
	waitSending(t, rb)
	n := maxBatchCommands + 100
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := rb.propose(context.Background(), setCmd(fmt.Sprintf("k%d", i)))
			if err != nil || string(res.Bulk) != fmt.Sprintf("k%d", i) {
				t.Errorf("k%d: %v %q", i, err, res.Bulk)
			}
		}()
	}
	waitQueued(t, rb, n)
	close(f.release)
	wg.Wait()
	if len(f.calls) != 3 || f.calls[1] != maxBatchCommands || f.calls[2] != 100 {
		t.Errorf("calls carried %v commands, want [1 %d 100]", f.calls, maxBatchCommands)
	}
}

// A write too large to share a call within the caps travels alone, so the
// call stays one the leader takes, and its neighbours travel without it.
func TestRelayedLargeWriteTravelsAlone(t *testing.T) {
	f := &fakeLeader{release: make(chan struct{})}
	rb := newRelayBatcher(f.call)
	var wg sync.WaitGroup
	propose := func(c *fsm.Command) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if res, err := rb.propose(context.Background(), c); err != nil || string(res.Bulk) != string(c.Args[0]) {
				t.Errorf("%q: %v %q", c.Args[0], err, res.Bulk)
			}
		}()
	}
	propose(setCmd("first"))
	waitSending(t, rb)
	big := fsm.NewSet([]byte("big"), make([]byte, maxBatchBytes), fsm.SetOptions{})
	for i, c := range []*fsm.Command{setCmd("a"), setCmd("b"), big, setCmd("c")} {
		propose(c)
		waitQueued(t, rb, i+1)
	}
	close(f.release)
	wg.Wait()
	if want := []int{1, 2, 1, 1}; fmt.Sprint(f.calls) != fmt.Sprint(want) {
		t.Errorf("calls carried %v commands, want %v", f.calls, want)
	}
}

// A write whose caller stops waiting while it is queued leaves the queue
// unsent (ErrTimeout: nothing was applied) and the next call goes without
// it; one whose call has left gets an unknown outcome. The queue never
// stalls, whoever the turn was being handed to.
func TestRelayedWriteLeavesTheQueueWhenItsCallerStops(t *testing.T) {
	f := &fakeLeader{release: make(chan struct{})}
	rb := newRelayBatcher(f.call)
	var wg sync.WaitGroup
	wg.Add(1)
	var firstErr error
	firstCtx, cancelFirst := context.WithCancel(context.Background())
	go func() {
		defer wg.Done()
		_, firstErr = rb.propose(firstCtx, setCmd("first"))
	}()
	waitSending(t, rb)

	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, err := rb.propose(ctx, setCmd("gone"))
		errs <- err
	}()
	waitQueued(t, rb, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if res, err := rb.propose(context.Background(), setCmd("stays")); err != nil || string(res.Bulk) != "stays" {
			t.Errorf("stays: %v %q", err, res.Bulk)
		}
	}()
	waitQueued(t, rb, 2)
	cancel()
	if err := <-errs; !errors.Is(err, ErrTimeout) {
		t.Fatalf("a queued write whose caller stopped: %v, want ErrTimeout", err)
	}
	waitQueued(t, rb, 1)
	cancelFirst() // its call has left
	close(f.release)
	wg.Wait()
	if firstErr != nil && !errors.Is(firstErr, ErrUnknownOutcome) {
		t.Errorf("a sent write whose caller stopped: %v, want its result or ErrUnknownOutcome", firstErr)
	}
	if fmt.Sprint(f.calls) != "[1 1]" {
		t.Errorf("calls carried %v commands, want [1 1]", f.calls)
	}
	rb.mu.Lock()
	defer rb.mu.Unlock()
	if rb.sending || len(rb.queue) != 0 || rb.turnTo != nil {
		t.Errorf("after the last call: sending %v, %d queued, turn to %v", rb.sending, len(rb.queue), rb.turnTo)
	}
}

// Many writers whose callers give up at random moments, while calls come and
// go: every write is answered, a write reported as not sent never reached the
// leader, none stays queued, and the queue never stalls.
func TestRelayedWritesWithCallersGivingUp(t *testing.T) {
	var mu sync.Mutex
	sent := map[string]bool{} // keys the leader received
	rb := newRelayBatcher(func(_ context.Context, data []byte) ([]byte, error) {
		c, err := fsm.DecodeCommand(data)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		if c.Op == fsm.OpBatch {
			for _, a := range c.Args {
				sub, _ := fsm.DecodeCommand(a)
				sent[string(sub.Args[0])] = true
			}
		} else {
			sent[string(c.Args[0])] = true
		}
		mu.Unlock()
		time.Sleep(200 * time.Microsecond)
		return (&fakeLeader{}).call(context.Background(), data)
	})
	var wg sync.WaitGroup
	outcomes := map[string]int{}
	notSent := map[string]bool{}
	for i := range 400 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i%7)*100*time.Microsecond)
			defer cancel()
			res, err := rb.propose(ctx, setCmd(fmt.Sprintf("k%d", i)))
			kind := "ok"
			switch {
			case errors.Is(err, ErrTimeout):
				kind = "not sent"
				mu.Lock()
				notSent[fmt.Sprintf("k%d", i)] = true
				mu.Unlock()
			case errors.Is(err, ErrUnknownOutcome):
				kind = "unknown"
			case err != nil || string(res.Bulk) != fmt.Sprintf("k%d", i):
				kind = fmt.Sprintf("wrong: %v %q", err, res.Bulk)
			}
			mu.Lock()
			outcomes[kind]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	for kind := range outcomes {
		if kind != "ok" && kind != "not sent" && kind != "unknown" {
			t.Errorf("outcome %s", kind)
		}
	}
	for k := range notSent {
		if sent[k] {
			t.Errorf("%s reported not sent, but the leader received it", k)
		}
	}
	rb.mu.Lock()
	defer rb.mu.Unlock()
	if rb.sending || len(rb.queue) != 0 || rb.turnTo != nil {
		t.Errorf("at the end: sending %v, %d queued, turn to %v", rb.sending, len(rb.queue), rb.turnTo)
	}
	t.Logf("outcomes %v", outcomes)
}

// After a call that carried three writes, the next call waits for three
// before it leaves (its clients come back within a fraction of a call), so
// they share it instead of splitting into calls that take turns.
func TestRelayLingersForTheClientsOfTheLastCall(t *testing.T) {
	f := &fakeLeader{}
	rb := newRelayBatcher(f.call)
	rb.maxLinger = 10 * time.Second // far longer than the test waits
	rb.lastSize.Store(3)
	rb.lastCycle.Store(int64(time.Hour))
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := rb.propose(context.Background(), setCmd(fmt.Sprintf("k%d", i))); err != nil {
				t.Error(err)
			}
		}()
		if i == 0 {
			// The first finds no call in flight and lingers with itself
			// queued.
			waitQueued(t, rb, 1)
		}
	}
	wg.Wait()
	if fmt.Sprint(f.calls) != "[3]" {
		t.Errorf("calls carried %v commands, want [3]", f.calls)
	}
}

// A lone writer, after a call that carried one write, never waits: its call
// leaves at once, however long the linger may be.
func TestRelayLoneWriterDoesNotLinger(t *testing.T) {
	started := make(chan struct{}, 1)
	f := &fakeLeader{}
	rb := newRelayBatcher(func(ctx context.Context, data []byte) ([]byte, error) {
		started <- struct{}{}
		return f.call(ctx, data)
	})
	rb.maxLinger = time.Hour
	rb.lastSize.Store(1)
	rb.lastCycle.Store(int64(24 * time.Hour))
	done := make(chan error, 1)
	go func() {
		_, err := rb.propose(context.Background(), setCmd("alone"))
		done <- err
	}()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("a lone writer's call did not leave: it lingered")
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// A call carrying several callers' writes goes on while any of them waits,
// and is cancelled once every one has stopped waiting (a server shutting
// down cancels them all), instead of running to its timeout against a leader
// that does not answer.
func TestRelayCallEndsWhenEveryCallerStops(t *testing.T) {
	release := make(chan struct{})
	cancelled := make(chan struct{})
	rb := newRelayBatcher(func(ctx context.Context, data []byte) ([]byte, error) {
		c, err := fsm.DecodeCommand(data)
		if err != nil {
			return nil, err
		}
		if c.Op != fsm.OpBatch { // the first call: answered once released
			<-release
			return (&fakeLeader{}).call(ctx, data)
		}
		select {
		case <-ctx.Done(): // the second: a leader that never answers
			close(cancelled)
			return nil, fmt.Errorf("%w: %v", ErrUnknownOutcome, ctx.Err())
		case <-time.After(time.Minute):
			return nil, errors.New("the call was not cancelled")
		}
	})
	errs := make(chan error, 3)
	go func() {
		_, err := rb.propose(context.Background(), setCmd("first"))
		errs <- err
	}()
	waitSending(t, rb)
	var cancels []context.CancelFunc
	for i := range 2 {
		// A deadline far beyond the test's waits: only the callers'
		// cancellation may end the call.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		cancels = append(cancels, cancel)
		go func() {
			_, err := rb.propose(ctx, setCmd(fmt.Sprintf("k%d", i)))
			errs <- err
		}()
		waitQueued(t, rb, i+1)
	}
	close(release) // the two queued writes leave together
	if err := <-errs; err != nil {
		t.Fatalf("first: %v", err)
	}
	waitQueued(t, rb, 0)
	cancels[0]()
	select {
	case <-cancelled:
		t.Fatal("the call was cancelled while one of its callers still waited")
	case <-time.After(50 * time.Millisecond):
	}
	cancels[1]()
	select {
	case <-cancelled:
	case <-time.After(10 * time.Second):
		t.Fatal("the call ran on after every caller had stopped")
	}
	for range 2 {
		if err := <-errs; !errors.Is(err, ErrUnknownOutcome) {
			t.Fatalf("a sent write whose caller stopped: %v, want ErrUnknownOutcome", err)
		}
	}
}
