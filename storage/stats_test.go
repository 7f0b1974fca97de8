package storage

import (
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/riot-kv/riot-redis/internal/background"
)

func TestStatsOf(t *testing.T) {
	if st := StatsOf(NewMemory()); st != (Stats{}) {
		t.Fatalf("StatsOf(bare engine) = %+v, want zero", st)
	}
	e, err := OpenWith(EngineLevelDB, filepath.Join(t.TempDir(), "db"), Options{NoSync: true, CacheBytes: 1 << 20, WriteBehindBytes: 4 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	st := StatsOf(e)
	if !st.WriteBehind || st.BehindMaxBytes != 4<<10 || st.BehindBytes != 0 || st.BehindQueued != 0 || st.Flushes != 0 || st.FlushErr != nil {
		t.Fatalf("fresh write-behind stats %+v", st)
	}
	if !st.Cache || st.CacheMaxBytes != 1<<20 || st.CacheBytes != 0 || !st.CacheComplete {
		t.Fatalf("fresh cache stats %+v", st)
	}

	mustWrite(t, e, 1, "k0", "v0")
	if st := StatsOf(e); st.BehindBytes <= 0 || st.Flushes != 0 {
		t.Fatalf("after one small write: %+v, want buffered bytes and no flush", st)
	}
	// Fill windows until the background flush has written one.
	deadline := time.Now().Add(10 * time.Second)
	for i := 2; StatsOf(e).Flushes == 0; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("no flush after %d writes: %+v", i, StatsOf(e))
		}
		mustWrite(t, e, uint64(i), fmt.Sprintf("k%d", i), "a value of some forty bytes, give or take")
	}
	st = StatsOf(e)
	if st.LastFlush <= 0 || st.CacheBytes <= 0 || !st.CacheComplete || st.FlushErr != nil {
		t.Fatalf("after a flush: %+v", st)
	}
	if st.BehindBytes > 2*st.BehindMaxBytes+1<<10 {
		t.Fatalf("buffered %d bytes with %d-byte windows", st.BehindBytes, st.BehindMaxBytes)
	}
}

// A Write that fills a window while the flush is still writing the previous
// one waits for it, and Stats counts the wait.
func TestStatsCountsStalls(t *testing.T) {
	inner := &blockingEngine{Engine: NewMemory(), inWrite: make(chan struct{}, 8), release: make(chan struct{})}
	w := mustBehind(t, inner, 1<<10)
	release := sync.OnceFunc(func() { close(inner.release) })
	defer release() // on failure too, before Cleanup closes w
	big := string(make([]byte, 1<<10))
	mustWrite(t, w, 1, "a", big) // fills the first window: the flush starts and blocks
	<-inner.inWrite
	if st := StatsOf(w); st.BehindQueued != 1 || st.Stalls != 0 {
		t.Fatalf("with one window in the flush: %+v", st)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		mustWrite(t, w, 2, "b", big) // fills the second: must wait for the first
	}()
	select {
	case <-done:
		t.Fatal("a Write that filled a window returned while the queue was full")
	case <-time.After(50 * time.Millisecond):
	}
	release()
	<-done
	<-inner.inWrite // the second window's flush
	w.waitFlushed(t)
	st := StatsOf(w)
	if st.Stalls != 1 || st.Stalled <= 0 || st.Flushes != 2 {
		t.Fatalf("after one stalled Write: %+v, want 1 stall and 2 flushes", st)
	}
}

// clockEngine advances a fake clock by step on every Write, after gate is
// closed, and records the nice value of the thread each Write ran on (-1
// where threads have none).
type clockEngine struct {
	Engine
	gate  chan struct{}
	mu    sync.Mutex
	t     time.Time
	step  time.Duration
	nices []int
}

func (c *clockEngine) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clockEngine) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (c *clockEngine) Write(b *Batch, idx uint64) error {
	<-c.gate
	n := threadNice()
	c.advance(c.step)
	c.mu.Lock()
	c.nices = append(c.nices, n)
	c.mu.Unlock()
	return c.Engine.Write(b, idx)
}

// After a Write waited for the flush, the next windows are flushed at the
// process's priority, until one fills slowly (in twice the last flush's time
// or more); before the stall, and after that window, flushes run at the
// background's lower priority.
func TestUrgentFlushAfterAStall(t *testing.T) {
	eng := &clockEngine{Engine: NewMemory(), gate: make(chan struct{}), t: time.Unix(1000, 0), step: time.Second}
	w := mustBehind(t, eng, 1<<10)
	w.now = eng.now
	open := sync.OnceFunc(func() { close(eng.gate) })
	defer open() // on failure too, before Cleanup closes w
	big := string(make([]byte, 1<<10))
	mustWrite(t, w, 1, "a", big) // fills the first window; its flush waits at the gate
	done := make(chan struct{})
	go func() {
		defer close(done)
		mustWrite(t, w, 2, "b", big) // fills the second while the first is queued: stalls
	}()
	for full := false; !full; {
		time.Sleep(time.Millisecond)
		w.mu.Lock()
		full = w.active.bytes >= w.max // the second Write holds mu until it waits
		w.mu.Unlock()
	}
	open()
	<-done
	w.waitFlushed(t)
	eng.advance(500 * time.Millisecond)
	mustWrite(t, w, 3, "c", big) // filled in 1.5 s, the last flush took 1 s: still urgent
	w.waitFlushed(t)
	eng.advance(5 * time.Second)
	mustWrite(t, w, 4, "d", big) // filled in 6 s: the writes slowed down
	w.waitFlushed(t)
	st := StatsOf(w)
	if st.Flushes != 4 || st.Stalls != 1 || st.UrgentFlushes != 2 || st.LastFlush != time.Second {
		t.Fatalf("%+v, want 4 flushes of 1s, 1 stall, 2 urgent", st)
	}
	eng.mu.Lock()
	nices := slices.Clone(eng.nices)
	eng.mu.Unlock()
	runtime.LockOSThread()
	base := threadNice()
	runtime.UnlockOSThread()
	if base != -1 {
		low := min(base+background.Nice, 19)
		if want := []int{low, base, base, low}; !slices.Equal(nices, want) {
			t.Fatalf("flushes ran at nice %v, want %v (the process runs at %d)", nices, want, base)
		}
	}
}
