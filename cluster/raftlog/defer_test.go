package raftlog

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func mustOpenDeferred(t testing.TB, dir string) *Log {
	t.Helper()
	l, err := Open(dir, Options{SegmentSize: 16 << 10, DeferSync: true})
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return l
}

func mustWaitDurable(t testing.TB, l *Log, idx uint64) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- l.WaitDurable(idx) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("WaitDurable(%d): %v", idx, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("WaitDurable(%d) did not return; durable %d", idx, l.Durable())
	}
}

// With DeferSync, appends become durable in the background; deleting a suffix
// or everything moves the durable index down with the log's end, so entries
// written later at those indexes are not taken as synced.
func TestDeferSyncDurableIndex(t *testing.T) {
	dir := t.TempDir()
	l := mustOpenDeferred(t, dir)
	if d := l.Durable(); d != 0 {
		t.Fatalf("empty log durable %d", d)
	}
	for i := uint64(1); i <= 300; i += 10 {
		mustStore(t, l, batch(i, i+9, gen)...)
	}
	mustWaitDurable(t, l, 300)
	if d := l.Durable(); d != 300 {
		t.Fatalf("durable %d after syncing 1..300", d)
	}

	mustDelete(t, l, 251, 300)
	if d := l.Durable(); d != 250 {
		t.Fatalf("durable %d after cutting the log to 1..250", d)
	}
	other := func(i uint64) *raft.Log { e := gen(i); e.Term += 100; e.Data = []byte("new"); return e }
	mustStore(t, l, batch(251, 260, other)...)
	mustWaitDurable(t, l, 260)
	mustRange(t, l, 251, 260, other)
	// Term reads the rewritten entries' term, and refuses what is not there.
	for _, i := range []uint64{1, 250, 251, 260} {
		want := gen(i).Term
		if i > 250 {
			want = other(i).Term
		}
		if term, err := l.Term(i); err != nil || term != want {
			t.Fatalf("Term(%d) = %d, %v; want %d", i, term, err, want)
		}
	}
	if _, err := l.Term(261); !errors.Is(err, raft.ErrLogNotFound) {
		t.Fatalf("Term past the end: %v", err)
	}

	mustDelete(t, l, 1, 260)
	if d := l.Durable(); d != 0 {
		t.Fatalf("durable %d after deleting everything", d)
	}
	mustStore(t, l, batch(5000, 5010, gen)...)
	mustWaitDurable(t, l, 5010)
	mustClose(t, l)

	// Reopened, everything read back counts as durable.
	l = mustOpenDeferred(t, dir)
	defer l.Close()
	mustBoundsEqual(t, l, 5000, 5010)
	if d := l.Durable(); d != 5010 {
		t.Fatalf("reopened durable %d, want 5010", d)
	}
}

// Close wakes a WaitDurable that can no longer be satisfied.
func TestDeferSyncCloseWakesWaiters(t *testing.T) {
	l := mustOpenDeferred(t, t.TempDir())
	mustStore(t, l, batch(1, 5, gen)...)
	mustWaitDurable(t, l, 5)
	done := make(chan error, 1)
	go func() { done <- l.WaitDurable(100) }()
	select {
	case err := <-done:
		t.Fatalf("WaitDurable(100) returned %v before entry 100 existed", err)
	case <-time.After(50 * time.Millisecond):
	}
	mustClose(t, l)
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("WaitDurable after Close: %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not wake WaitDurable")
	}
	if err := l.WaitDurable(3); err != nil {
		t.Fatalf("WaitDurable of a synced index after Close: %v", err)
	}
}

// Appends, suffix cuts and waits race the syncer; the durable index never
// passes the end of the log, and a waited-for entry reads back as written.
func TestDeferSyncRacesTruncation(t *testing.T) {
	l := mustOpenDeferred(t, t.TempDir())
	defer l.Close()
	var stop atomic.Bool
	var wg sync.WaitGroup
	var bad atomic.Value
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			d := l.Durable()
			last, err := l.LastIndex()
			if err != nil {
				return
			}
			// durable is read first: the log may have grown since, but
			// it can only shrink below durable together with it.
			if d2 := l.Durable(); d2 > last && d2 == d {
				bad.Store(d2)
			}
		}
	}()
	next := uint64(1)
	for round := 0; round < 200; round++ {
		term := uint64(round + 1)
		g := func(i uint64) *raft.Log { e := gen(i); e.Term = term; return e }
		mustStore(t, l, batch(next, next+20, g)...)
		if round%3 == 0 {
			mustWaitDurable(t, l, next+20)
			mustRange(t, l, next, next+20, g)
		}
		cut := next + uint64(round%20)
		mustDelete(t, l, cut, next+20)
		next = cut
	}
	stop.Store(true)
	wg.Wait()
	if v := bad.Load(); v != nil {
		t.Fatalf("durable %d was past the end of the log", v)
	}
}

// SyncStats counts the syncs that made entries durable, with and without
// DeferSync: one per StoreLogs without it, at least one for a run of
// appends with it, and a segment filled before the next one starts.
// Its buckets are cumulative and never above the count.
func TestSyncStats(t *testing.T) {
	check := func(t *testing.T, st SyncStats, min uint64) {
		t.Helper()
		if st.Count < min {
			t.Errorf("Count %d, want >= %d", st.Count, min)
		}
		if st.Count > 0 && (st.Sum <= 0 || st.Last <= 0 || st.Last > st.Sum) {
			t.Errorf("Sum %v, Last %v for %d syncs", st.Sum, st.Last, st.Count)
		}
		if len(st.Buckets) != len(SyncBuckets()) {
			t.Fatalf("%d buckets, %d bounds", len(st.Buckets), len(SyncBuckets()))
		}
		for i, n := range st.Buckets {
			if n > st.Count || (i > 0 && n < st.Buckets[i-1]) {
				t.Errorf("buckets %v not cumulative under the count %d", st.Buckets, st.Count)
				break
			}
		}
	}
	t.Run("sync", func(t *testing.T) {
		l := mustOpen(t, t.TempDir(), 16<<10)
		defer l.Close()
		check(t, l.SyncStats(), 0)
		for i := uint64(1); i <= 5; i++ {
			mustStore(t, l, gen(i))
		}
		st := l.SyncStats()
		check(t, st, 5)
		if st.Count != 5 {
			t.Errorf("Count %d after 5 synced appends in one segment, want 5", st.Count)
		}
	})
	t.Run("deferred", func(t *testing.T) {
		l := mustOpenDeferred(t, t.TempDir())
		defer l.Close()
		before := l.SyncStats().Count
		// 16 KiB segments: these fill several, and each full one is synced
		// before the next starts.
		for i := uint64(1); i <= 400; i += 10 {
			mustStore(t, l, batch(i, i+9, gen)...)
		}
		mustWaitDurable(t, l, 400)
		check(t, l.SyncStats(), before+2)
	})
}
