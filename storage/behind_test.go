package storage

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// mustBehind wraps inner in a write-behind buffer of maxBytes.
func mustBehind(t *testing.T, inner Engine, maxBytes int64) *behindEngine {
	t.Helper()
	w, ok := WriteBehind(inner, maxBytes).(*behindEngine)
	if !ok {
		t.Fatal("WriteBehind did not wrap the engine")
	}
	t.Cleanup(func() { _ = w.Close() })
	return w
}

// waitFlushed waits until no background flush runs.
func (w *behindEngine) waitFlushed(t *testing.T) {
	t.Helper()
	w.mu.Lock()
	err := w.waitFlushLocked()
	w.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
}

// A Write below the limit stays in memory and is read from there; the Write
// that fills the buffer hands it to the engine in the background, as one
// write recording the index of the last Write in it.
func TestWriteBehindBuffersThenFlushes(t *testing.T) {
	inner := NewMemory()
	w := mustBehind(t, inner, 200)
	mustWrite(t, w, 1, "a", "1")
	mustGet(t, w, "a", "1")
	mustApplied(t, w, 1)
	mustMissing(t, inner, "a")
	mustApplied(t, inner, 0)

	var b Batch
	b.Delete([]byte("a"))
	b.Put([]byte("b"), make([]byte, 200))
	mustWriteBatch(t, w, &b, 2)
	mustMissing(t, w, "a")
	w.waitFlushed(t)
	mustMissing(t, inner, "a")
	if v, err := inner.Get([]byte("b")); err != nil || len(v) != 200 {
		t.Fatalf("engine Get(b) = %d bytes, %v", len(v), err)
	}
	mustApplied(t, inner, 2)
	mustApplied(t, w, 2)
}

// An iterator lays the buffered entries of its range over the engine's pairs
// without writing them to the engine: buffered puts add and replace pairs,
// buffered deletes hide them, and later Writes are not seen.
func TestWriteBehindIteratorMergesBuffer(t *testing.T) {
	inner := NewMemory()
	mustWrite(t, inner, 1, "a", "old", "b", "old", "d", "old", "f", "old")
	w := mustBehind(t, inner, 1<<20)
	var b Batch
	b.Put([]byte("a"), []byte("new"))
	b.Delete([]byte("b"))
	b.Put([]byte("c"), []byte("new"))
	b.Delete([]byte("e")) // absent from the engine
	b.Put([]byte("g"), []byte("new"))
	b.Put([]byte("z"), []byte("out of range"))
	mustWriteBatch(t, w, &b, 2)
	it := w.NewIterator([]byte("a"), []byte("h"))
	mustWrite(t, w, 3, "a", "later", "ab", "later")
	var got []kv
	for it.Next() {
		got = append(got, kv{string(it.Key()), string(it.Value())})
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	it.Close()
	want := []kv{{"a", "new"}, {"c", "new"}, {"d", "old"}, {"f", "old"}, {"g", "new"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("iterator = %v, want %v", got, want)
	}
	mustGet(t, inner, "a", "old") // nothing was written to the engine
	mustMissing(t, inner, "c")
}

// An iterator over a range that a large active window may hold freezes the
// window (queues it for the flush) and merges its sorted entries; it writes
// nothing itself. A range the window cannot hold leaves it alone.
func TestWriteBehindIteratorFreezesLargeWindow(t *testing.T) {
	inner := NewMemory()
	w := mustBehind(t, inner, 1<<30)
	var b Batch
	for i := 0; i <= maxMergedEntries; i++ {
		b.Put([]byte(fmt.Sprintf("a%05d", i)), []byte("v"))
	}
	mustWriteBatch(t, w, &b, 1)
	if got := collect(t, w, []byte("b"), []byte("c")); len(got) != 0 {
		t.Fatalf("range [b, c) = %v", got)
	}
	w.mu.Lock()
	frozen := len(w.frozen)
	w.mu.Unlock()
	if frozen != 0 {
		t.Fatalf("an iterator over [b, c) froze the window")
	}
	if got := collect(t, w, []byte("a"), []byte("b")); len(got) != maxMergedEntries+1 || got[0] != (kv{"a00000", "v"}) {
		t.Fatalf("range [a, b) has %d pairs, want %d", len(got), maxMergedEntries+1)
	}
	w.waitFlushed(t)
	mustGet(t, inner, "a00000", "v")
	mustApplied(t, inner, 1)
}

// An iterator never waits for a window to be written: while the flush of a
// large window is stuck in the engine, iterators over its range return at
// once, with newer Writes (a put and a delete) laid over it.
func TestWriteBehindIteratorDoesNotWaitForFlush(t *testing.T) {
	inner := NewMemory()
	be := &blockingEngine{Engine: inner, inWrite: make(chan struct{}, 8), release: make(chan struct{})}
	w := mustBehind(t, be, 1<<30)
	release := sync.OnceFunc(func() { close(be.release) })
	defer release() // on failure too, before Cleanup closes w
	var b Batch
	for i := 0; i < 2*maxMergedEntries; i++ {
		b.Put([]byte(fmt.Sprintf("a%05d", i)), []byte("v"))
	}
	mustWriteBatch(t, w, &b, 1)
	within := func(what string, start, end string) []kv {
		t.Helper()
		type result struct {
			kvs []kv
			err error
		}
		got := make(chan result, 1)
		go func() {
			kvs, err := iterate(w, []byte(start), []byte(end))
			got <- result{kvs, err}
		}()
		select {
		case r := <-got:
			if r.err != nil {
				t.Fatalf("%s: %v", what, r.err)
			}
			return r.kvs
		case <-time.After(10 * time.Second):
			t.Fatalf("%s waited for the flush", what)
			return nil
		}
	}
	first := within("the first iterator", "a", "b")
	if len(first) != 2*maxMergedEntries {
		t.Fatalf("first iterator: %d pairs, want %d", len(first), 2*maxMergedEntries)
	}
	<-be.inWrite // the frozen window's flush is stuck in the engine
	mustWrite(t, w, 2, "a00001", "new")
	var d Batch
	d.Delete([]byte("a00002"))
	mustWriteBatch(t, w, &d, 3)
	got := within("an iterator during the flush", "a00000", "a00004")
	if want := []kv{{"a00000", "v"}, {"a00001", "new"}, {"a00003", "v"}}; !slices.Equal(got, want) {
		t.Fatalf("during the flush: %v, want %v", got, want)
	}
	release()
	w.waitFlushed(t)
	mustApplied(t, inner, 1)
	mustApplied(t, w, 3)
	if got := collect(t, w, []byte("a00000"), []byte("a00004")); len(got) != 3 || got[1] != (kv{"a00001", "new"}) {
		t.Fatalf("after the flush: %v", got)
	}
	be.inWrite = nil
}

// Iterators over random ranges agree with a map of every Write while small
// windows fill, freeze and are written in the background, so that ranges
// span the active window, several queued ones and the engine.
func TestWriteBehindIteratorMatchesModel(t *testing.T) {
	w := mustBehind(t, NewMemory(), 1<<10)
	model := map[string]string{}
	r := rand.New(rand.NewPCG(5, 6))
	key := func() string { return fmt.Sprintf("k%03d", r.IntN(200)) }
	for idx := uint64(1); idx <= 400; idx++ {
		var b Batch
		for range 1 + r.IntN(8) {
			k := key()
			if r.IntN(4) == 0 {
				b.Delete([]byte(k))
				delete(model, k)
			} else {
				v := fmt.Sprint(idx)
				b.Put([]byte(k), []byte(v))
				model[k] = v
			}
		}
		mustWriteBatch(t, w, &b, idx)
		lo, hi := key(), key()
		if hi < lo {
			lo, hi = hi, lo
		}
		var want []kv
		for k, v := range model {
			if k >= lo && k < hi {
				want = append(want, kv{k, v})
			}
		}
		slices.SortFunc(want, func(a, b kv) int { return strings.Compare(a.k, b.k) })
		if got := collect(t, w, []byte(lo), []byte(hi)); !slices.Equal(got, want) {
			t.Fatalf("after Write %d, [%s, %s) = %v, want %v", idx, lo, hi, got, want)
		}
	}
}

// The newer window wins over the one being flushed.
func TestWriteBehindNewerWindowWins(t *testing.T) {
	inner := NewMemory()
	be := &blockingEngine{Engine: inner, inWrite: make(chan struct{}, 8), release: make(chan struct{})}
	w := mustBehind(t, be, 100)
	release := sync.OnceFunc(func() { close(be.release) })
	defer release() // on failure too, before Cleanup closes w
	var b Batch
	b.Put([]byte("k"), make([]byte, 100))
	b.Put([]byte("j"), []byte("frozen"))
	mustWriteBatch(t, w, &b, 1) // fills the window: its flush starts and blocks
	<-be.inWrite
	var d Batch
	d.Delete([]byte("k"))
	mustWriteBatch(t, w, &d, 2)
	mustMissing(t, w, "k")
	mustGet(t, w, "j", "frozen")
	if got := collect(t, w, nil, nil); len(got) != 1 || got[0] != (kv{"j", "frozen"}) {
		t.Fatalf("iterator = %v", got)
	}
	mustApplied(t, w, 2)
	release()
	w.waitFlushed(t)
	mustMissing(t, w, "k")
	be.inWrite = nil
}

// A Snapshot lays the buffer over the engine without writing it (a Raft
// snapshot must not hold up applies while a window is written): it returns
// while the flush it queued is stuck in the engine, holds every Write before
// it and none after, and records the last index even when that Write was
// empty.
func TestWriteBehindSnapshotDoesNotWait(t *testing.T) {
	inner := NewMemory()
	mustWrite(t, inner, 1, "old", "x", "gone", "y")
	be := &blockingEngine{Engine: inner, inWrite: make(chan struct{}, 8), release: make(chan struct{})}
	w := mustBehind(t, be, 1<<20)
	release := sync.OnceFunc(func() { close(be.release) })
	defer release() // on failure too, before Cleanup closes w
	var b Batch
	b.Put([]byte("k"), []byte("v"))
	b.Delete([]byte("gone"))
	mustWriteBatch(t, w, &b, 2)
	mustWrite(t, w, 3)
	got := make(chan Snapshot, 1)
	go func() {
		s, err := w.Snapshot()
		if err != nil {
			t.Error(err)
		}
		got <- s
	}()
	var s Snapshot
	select {
	case s = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("Snapshot waited for a window to be written")
	}
	if s == nil {
		return
	}
	defer s.Release()
	<-be.inWrite // the queued window is now stuck in the engine's Write
	mustWrite(t, w, 4, "k", "later", "new", "z")
	if s.AppliedIndex() != 3 {
		t.Fatalf("snapshot index %d, want 3", s.AppliedIndex())
	}
	mustGet(t, s, "k", "v")
	mustGet(t, s, "old", "x")
	mustMissing(t, s, "gone")
	mustMissing(t, s, "new")
	if got := collect(t, s, nil, nil); fmt.Sprint(got) != fmt.Sprint([]kv{{"k", "v"}, {"old", "x"}}) {
		t.Fatalf("snapshot iterator = %v", got)
	}
	release()
	w.waitFlushed(t)
	mustGet(t, inner, "k", "v")
	mustGet(t, w, "k", "later")
}

// A crash (the process dies with Writes buffered) loses whole windows from the
// end, never part of one: after reopening, the engine holds exactly the
// Writes up to its applied index.
func TestWriteBehindCrashLosesWholeWindows(t *testing.T) {
	dir := t.TempDir()
	ldb, err := OpenLevelDB(dir)
	if err != nil {
		t.Fatal(err)
	}
	ldb.wopts = ldbNoSync
	w := WriteBehind(ldb, 300).(*behindEngine)
	const writes = 200
	for i := 1; i <= writes; i++ {
		mustWrite(t, w, uint64(i), fmt.Sprintf("k%03d", i), "v", "last", fmt.Sprint(i))
	}
	w.waitFlushed(t)
	// Crash: the engine closes under the buffer, which is never written.
	if err := ldb.Close(); err != nil {
		t.Fatal(err)
	}
	e, err := Open(EngineLevelDB, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	idx, err := e.AppliedIndex()
	if err != nil {
		t.Fatal(err)
	}
	if idx == 0 || idx >= writes {
		t.Fatalf("applied index %d after the crash: want some but not all of %d writes flushed", idx, writes)
	}
	mustGet(t, e, "last", fmt.Sprint(idx))
	for i := 1; i <= writes; i++ {
		k := fmt.Sprintf("k%03d", i)
		if uint64(i) <= idx {
			mustGet(t, e, k, "v")
		} else {
			mustMissing(t, e, k)
		}
	}
}

// A failed background write is reported by every later Write and iterator;
// reads keep answering from memory, so nothing already applied is unseen.
func TestWriteBehindFlushError(t *testing.T) {
	inner := NewMemory()
	w := mustBehind(t, failingEngine{inner}, 100)
	var b Batch
	b.Put([]byte("k"), make([]byte, 100))
	mustWriteBatch(t, w, &b, 1)
	w.mu.Lock()
	err := w.waitFlushLocked()
	w.mu.Unlock()
	if !errors.Is(err, errWrite) {
		t.Fatalf("flush error = %v, want %v", err, errWrite)
	}
	if err := w.Write(&b, 2); !errors.Is(err, errWrite) {
		t.Fatalf("Write after a failed flush = %v", err)
	}
	if v, err := w.Get([]byte("k")); err != nil || len(v) != 100 {
		t.Fatalf("Get = %d bytes, %v", len(v), err)
	}
	it := w.NewIterator(nil, nil)
	defer it.Close()
	if it.Next() || !errors.Is(it.Err(), errWrite) {
		t.Fatalf("iterator after a failed flush: Next true or Err %v", it.Err())
	}
	if _, err := w.Snapshot(); !errors.Is(err, errWrite) {
		t.Fatalf("Snapshot after a failed flush = %v", err)
	}
}

// A Write with an unknown operation changes nothing.
func TestWriteBehindRejectsBadOp(t *testing.T) {
	w := mustBehind(t, NewMemory(), 1<<20)
	b := Batch{ops: []Op{{Kind: OpPut, Key: []byte("a"), Value: []byte("1")}, {Kind: 9, Key: []byte("b")}}}
	if err := w.Write(&b, 1); err == nil {
		t.Fatal("Write accepted an unknown op kind")
	}
	mustMissing(t, w, "a")
	mustApplied(t, w, 0)
}

// Readers racing a writer through the buffer never see a value older than
// one they already saw, nor older than a Write that returned (windows are
// flushed while they read).
func TestWriteBehindNeverStale(t *testing.T) {
	w := mustBehind(t, Cached(NewMemory(), 4<<10), 2<<10)
	const writes = 3000
	mustWrite(t, w, 1, "n", "0")
	var (
		mu      sync.Mutex
		written int
		wg      sync.WaitGroup
	)
	errs := make(chan error, 4)
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := -1
			for last < writes {
				mu.Lock()
				floor := written
				mu.Unlock()
				v, err := w.Get([]byte("n"))
				if err != nil {
					errs <- err
					return
				}
				var n int
				fmt.Sscan(string(v), &n)
				if n < last || n < floor {
					errs <- fmt.Errorf("read %d after seeing %d (written %d)", n, last, floor)
					return
				}
				last = n
			}
		}()
	}
	for i := 1; i <= writes; i++ {
		var b Batch
		b.Put([]byte("n"), []byte(fmt.Sprint(i)))
		b.Put([]byte(fmt.Sprintf("other-%d", i%300)), make([]byte, 40))
		mustWriteBatch(t, w, &b, uint64(i+1))
		mu.Lock()
		written = i
		mu.Unlock()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// blockingEngine holds every Write after it reached the engine, and every
// Get after it read the engine, until released.
type blockingEngine struct {
	Engine
	inWrite, inGet chan struct{}
	release        chan struct{}
}

func (b *blockingEngine) Write(batch *Batch, idx uint64) error {
	err := b.Engine.Write(batch, idx)
	if b.inWrite != nil {
		b.inWrite <- struct{}{}
		<-b.release
	}
	return err
}

func (b *blockingEngine) Get(key []byte) ([]byte, error) {
	v, err := b.Engine.Get(key)
	if b.inGet != nil {
		b.inGet <- struct{}{}
		<-b.release
	}
	return v, err
}

// A Get does not wait for a Write in progress (a large flush takes a while),
// and what it reads meanwhile is not cached: the next Get still sees the
// Write's value.
func TestCacheGetDuringWrite(t *testing.T) {
	inner := NewMemory()
	mustWrite(t, inner, 1, "k", "old")
	be := &blockingEngine{Engine: inner, inWrite: make(chan struct{}), release: make(chan struct{})}
	c := partialCached(t, be, 1<<20)
	done := make(chan error, 1)
	go func() {
		var b Batch
		b.Put([]byte("k"), []byte("new"))
		done <- c.Write(&b, 2)
	}()
	<-be.inWrite
	got := make(chan string, 1)
	go func() {
		v, _ := c.Get([]byte("k"))
		got <- string(v)
	}()
	select {
	case v := <-got:
		if v != "new" {
			t.Fatalf("Get during Write = %q (the engine already holds the new value)", v)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Get waited for the Write")
	}
	if _, ok := c.cached("k"); ok {
		t.Fatal("a read made during a Write was cached")
	}
	close(be.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mustGet(t, c, "k", "new")
}

// While a Write is in progress (a write-behind flush of a whole window takes
// a while), heads of the keys it does not touch still answer head reads from
// memory; a head of a key it writes does not, and is read from the engine
// instead, until the Write has brought the entry up to date.
func TestCacheHeadsDuringWrite(t *testing.T) {
	const limit = 1 << 20
	be := &blockingEngine{Engine: NewMemory(), release: make(chan struct{})}
	c, eng := countedCache(t, be, limit)
	const keys = 3000 // 3 MB of values: most entries are cut to their heads
	var heads []string
	for i := range keys {
		k := fmt.Sprintf("key-%05d", i)
		mustWrite(t, c, uint64(i+1), k, headValue(k, 1000))
	}
	for i := range keys {
		k := fmt.Sprintf("key-%05d", i)
		if e, ok := c.cached(k); ok && e.head {
			heads = append(heads, k)
		}
	}
	if len(heads) < 2 || !c.complete.Load() {
		t.Fatalf("%d heads, complete %v: the test misses its point", len(heads), c.complete.Load())
	}
	written, other := heads[0], heads[1]
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(be.release) }) }
	defer release() // a failed check must not leave the Write, and Close, hanging
	be.inWrite = make(chan struct{})
	done := make(chan error, 1)
	go func() {
		var b Batch
		b.Put([]byte(written), []byte(headValue("new", 1000)))
		done <- c.Write(&b, keys+1)
	}()
	<-be.inWrite // the engine holds the new value; the cache not yet
	before := eng.gets.Load()
	if v, err := GetHead(c, []byte(other), HeadBytes); err != nil || !strings.HasPrefix(string(v), headValue(other, 1000)[:HeadBytes]) {
		t.Fatalf("GetHead(%s) during a Write of another key = %q, %v", other, v, err)
	}
	if n := eng.gets.Load() - before; n != 0 {
		t.Fatalf("a head of a key the Write does not touch read the engine %d times", n)
	}
	if v, err := GetHead(c, []byte(written), HeadBytes); err != nil || !strings.HasPrefix(string(v), headValue("new", 1000)[:HeadBytes]) {
		t.Fatalf("GetHead(%s) during its Write = %q, %v (the engine holds the new value)", written, v, err)
	}
	if n := eng.gets.Load() - before; n != 1 {
		t.Fatalf("a head of the key being written read the engine %d times, want 1", n)
	}
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	before = eng.gets.Load()
	if v, err := GetHead(c, []byte(written), HeadBytes); err != nil || !strings.HasPrefix(string(v), headValue("new", 1000)[:HeadBytes]) {
		t.Fatalf("GetHead(%s) after its Write = %q, %v", written, v, err)
	}
	if n := eng.gets.Load() - before; n != 0 {
		t.Fatalf("after the Write a head read went to the engine %d times", n)
	}
}

// A Get that read the engine before a Write and fills after it does not
// cache the older value.
func TestCacheFillLosesToWrite(t *testing.T) {
	inner := NewMemory()
	mustWrite(t, inner, 1, "k", "old")
	be := &blockingEngine{Engine: inner, inGet: make(chan struct{}), release: make(chan struct{}, 1)}
	c := partialCached(t, be, 1<<20)
	got := make(chan string, 1)
	go func() {
		v, _ := c.Get([]byte("k"))
		got <- string(v)
	}()
	<-be.inGet // the Get has read "old" and not yet filled
	var b Batch
	b.Put([]byte("k"), []byte("new"))
	if err := c.Write(&b, 2); err != nil {
		t.Fatal(err)
	}
	be.release <- struct{}{}
	if v := <-got; v != "old" {
		t.Fatalf("racing Get = %q", v)
	}
	be.inGet = nil
	mustGet(t, c, "k", "new")
}

// TestSortEntriesOrdersLikeStrings checks the prefix-integer sort against a
// plain string sort on keys built to hit its edges: several namespaces in one
// window, each with a long shared prefix, keys that end inside the 8 compared
// bytes, zero bytes that the padding could confuse with a shorter key, ties
// beyond the 8 bytes, the empty key.
func TestSortEntriesOrdersLikeStrings(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for round := range 200 {
		prefix := strings.Repeat("ns:key:", r.IntN(3))
		spaces := "kkkkhm\x00\xff"[:1+r.IntN(8)]
		var keys []string
		seen := map[string]bool{}
		n := 1 + r.IntN(60)
		if round%50 == 0 {
			n = 5000
		}
		for range n {
			var k []byte
			if r.IntN(20) > 0 {
				k = append(k, spaces[r.IntN(len(spaces))])
				k = append(k, prefix...)
			}
			for range r.IntN(14) {
				k = append(k, "\x00\x01a0z\xff"[r.IntN(6)])
			}
			if !seen[string(k)] {
				seen[string(k)] = true
				keys = append(keys, string(k))
			}
		}
		if round%7 == 0 && !seen[""] {
			keys = append(keys, "")
		}
		es := make([]sortedEntry, len(keys))
		for i, k := range keys {
			es[i] = sortedEntry{k: k}
		}
		var got []string
		for _, sk := range sortEntries(es) {
			got = append(got, es[sk.i].k)
		}
		want := slices.Clone(keys)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("round %d: sorted\n%q\nwant\n%q", round, got, want)
		}
	}
}

// A head read through the buffer sees buffered puts and deletes first and
// reaches the cache's heads below it without reading the engine.
func TestWriteBehindGetHead(t *testing.T) {
	inner := NewMemory()
	c, eng := countedCache(t, inner, 256<<10)
	w := mustBehind(t, c, 64<<10)
	// 400 KB of values: most reach the engine, and the cache keeps only the
	// heads of some.
	for i := range 400 {
		k := fmt.Sprintf("key-%03d", i)
		mustWrite(t, w, uint64(i+1), k, headValue(k, 1000))
	}
	var b Batch
	b.Delete([]byte("key-007"))
	b.Put([]byte("key-008"), []byte("short"))
	mustWriteBatch(t, w, &b, 401)
	w.waitFlushed(t)
	heads := 0
	for i := range 400 {
		if e, _ := c.cached(fmt.Sprintf("key-%03d", i)); e.head {
			heads++
		}
	}
	if heads == 0 || !c.complete.Load() {
		t.Fatalf("%d heads, complete %v", heads, c.complete.Load())
	}
	for i := range 400 {
		k := fmt.Sprintf("key-%03d", i)
		want := headValue(k, 1000)
		switch i {
		case 7:
			want = ""
		case 8:
			want = "short"
		}
		v, err := GetHead(w, []byte(k), 17)
		switch {
		case want == "" && !errors.Is(err, ErrNotFound):
			t.Fatalf("GetHead(%s) of a deleted key = %q, %v", k, v, err)
		case want != "" && (err != nil || len(v) < min(17, len(want)) || string(v) != want[:len(v)]):
			t.Fatalf("GetHead(%s) = %q, %v, want a prefix of %q", k, v, err, want)
		}
	}
	if _, err := GetHead(w, []byte("absent"), 17); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetHead of an absent key = %v", err)
	}
	if n := eng.gets.Load(); n != 0 {
		t.Fatalf("head reads went to the engine %d times", n)
	}
	// A reader without head reads gets the whole value.
	if v, err := GetHead(inner, []byte("key-001"), 17); err != nil || string(v) != headValue("key-001", 1000) {
		t.Fatalf("GetHead of a plain engine = %d bytes, %v", len(v), err)
	}
}
