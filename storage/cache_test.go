package storage

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func mustCached(t *testing.T, maxBytes int64) (*cachedEngine, Engine) {
	t.Helper()
	inner := NewMemory()
	c, ok := Cached(inner, maxBytes).(*cachedEngine)
	if !ok {
		t.Fatal("Cached did not wrap the engine")
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, inner
}

// partialCached is a cache in front of e that does not hold all of it, as
// after an eviction: misses read e and fill.
func partialCached(t *testing.T, e Engine, maxBytes int64) *cachedEngine {
	t.Helper()
	c := newCached(e, maxBytes)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func (c *cachedEngine) cached(key string) (cacheEntry, bool) {
	sh := c.shard([]byte(key))
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := sh.m[key]
	return e, ok
}

func (c *cachedEngine) usedBytes() int64 {
	var n int64
	for i := range c.shards {
		c.shards[i].mu.Lock()
		n += c.shards[i].bytes
		c.shards[i].mu.Unlock()
	}
	return n
}

// A read fills the cache (absent keys too); a write updates cached keys; a
// delete caches the absence; values handed out are the caller's.
func TestCacheFollowsWrites(t *testing.T) {
	inner := NewMemory()
	c := partialCached(t, inner, 1<<20)
	mustWrite(t, c, 1, "a", "1")
	if _, ok := c.cached("a"); ok {
		t.Fatal("a write cached a key nobody read")
	}
	mustGet(t, c, "a", "1")
	if e, ok := c.cached("a"); !ok || !e.found || string(e.val) != "1" {
		t.Fatalf("after a read, cache holds %+v %v", e, ok)
	}
	mustMissing(t, c, "b")
	if e, ok := c.cached("b"); !ok || e.found {
		t.Fatalf("absent key cached as %+v %v", e, ok)
	}
	mustWrite(t, c, 2, "a", "2", "b", "x")
	mustGet(t, c, "a", "2")
	mustGet(t, c, "b", "x")
	var b Batch
	b.Delete([]byte("a"))
	b.Put([]byte("b"), []byte("y"))
	b.Put([]byte("b"), []byte("z")) // later operations win
	if err := c.Write(&b, 3); err != nil {
		t.Fatal(err)
	}
	mustMissing(t, c, "a")
	mustGet(t, c, "b", "z")
	mustGet(t, inner, "b", "z")

	v, _ := c.Get([]byte("b"))
	v[0] = 'Q'
	mustGet(t, c, "b", "z")

	// Replace empties the cache.
	if err := c.Replace(newSource(-1, kv{"b", "r"}, kv{"c", "s"}), 4); err != nil {
		t.Fatal(err)
	}
	mustGet(t, c, "b", "r")
	mustGet(t, c, "c", "s")
	mustMissing(t, c, "a")
}

// failingEngine fails every Write after writing it halfway (to check that a
// failed Write leaves no cached value the engine may not hold).
type failingEngine struct{ Engine }

var errWrite = errors.New("test: write failed")

func (f failingEngine) Write(b *Batch, idx uint64) error {
	_ = f.Engine.Write(b, idx)
	return errWrite
}

func TestCacheDropsKeysOfFailedWrite(t *testing.T) {
	inner := NewMemory()
	mustWrite(t, inner, 1, "a", "1")
	c := partialCached(t, failingEngine{inner}, 1<<20)
	mustGet(t, c, "a", "1")
	var b Batch
	b.Put([]byte("a"), []byte("2"))
	if err := c.Write(&b, 2); !errors.Is(err, errWrite) {
		t.Fatalf("Write = %v", err)
	}
	if _, ok := c.cached("a"); ok {
		t.Fatal("a key of a failed write stayed cached")
	}
	mustGet(t, c, "a", "2") // what the engine holds
}

// The cache stays within its size, evicting old entries.
func TestCacheBounded(t *testing.T) {
	const limit = 64 << 10
	c, _ := mustCached(t, limit)
	var b Batch
	for i := 0; i < 5000; i++ {
		b.Put([]byte(fmt.Sprintf("key-%05d", i)), make([]byte, 100))
	}
	mustWriteBatch(t, c, &b, 1)
	for i := 0; i < 5000; i++ {
		if _, err := c.Get([]byte(fmt.Sprintf("key-%05d", i))); err != nil {
			t.Fatal(err)
		}
		if used := c.usedBytes(); used > limit {
			t.Fatalf("cache holds %d bytes, limit %d", used, limit)
		}
	}
	if used := c.usedBytes(); used < limit/2 {
		t.Fatalf("cache holds only %d bytes of %d after 5000 reads", used, limit)
	}
	// Writes that grow cached values keep the cache within its size too.
	var grow Batch
	for i := 0; i < 5000; i++ {
		grow.Put([]byte(fmt.Sprintf("key-%05d", i)), make([]byte, 400))
	}
	mustWriteBatch(t, c, &grow, 2)
	if used := c.usedBytes(); used > limit {
		t.Fatalf("after growing writes the cache holds %d bytes, limit %d", used, limit)
	}
	for i := 0; i < 5000; i += 97 {
		if v, err := c.Get([]byte(fmt.Sprintf("key-%05d", i))); err != nil || len(v) != 400 {
			t.Fatalf("key-%05d after growing write: %d bytes, %v", i, len(v), err)
		}
	}
	// A value too big for a shard is served but not cached.
	mustWrite(t, c, 3, "big", string(make([]byte, limit)))
	if _, err := c.Get([]byte("big")); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.cached("big"); ok {
		t.Fatal("a value larger than a shard was cached")
	}
}

func mustWriteBatch(t *testing.T, e Engine, b *Batch, idx uint64) {
	t.Helper()
	if err := e.Write(b, idx); err != nil {
		t.Fatal(err)
	}
}

// Readers racing a writer never see a value older than one they already saw,
// nor, after a Write returned, older than that write: through Get and
// GetHead alike, while other keys churn the small cache so that "n" is cut
// to its head, dropped and filled again. (With a slow miss answering the
// engine's newer value while an older entry was cached, or a head answering
// during a Write of its key, this fails within a few dozen runs.) Some
// batches put "n" twice, an older value first.
func TestCacheNeverStale(t *testing.T) {
	c, _ := mustCached(t, 32<<10)
	const writes = 3000
	value := func(i int64) string { return fmt.Sprintf("%020d", i) + strings.Repeat(".", 40) }
	mustWrite(t, c, 1, "n", value(0))
	var written atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := int64(-1)
			for i := 0; ; i++ {
				floor := written.Load()
				var v []byte
				var err error
				if i%2 == 0 {
					v, err = c.Get([]byte("n"))
				} else {
					v, err = GetHead(c, []byte("n"), 20)
				}
				if err != nil || len(v) < 20 {
					errs <- fmt.Errorf("read %q, %v", v, err)
					return
				}
				n, _ := strconv.ParseInt(string(v[:20]), 10, 64)
				if n < last || n < floor {
					errs <- fmt.Errorf("read %d after seeing %d (written %d)", n, last, floor)
					return
				}
				last = n
				if n == writes {
					return
				}
				_, _ = c.Get([]byte(fmt.Sprintf("other-%d", n%500)))
			}
		}()
	}
	cut := 0 // writes that found "n" cut to its head or dropped
	for i := int64(1); i <= writes; i++ {
		if e, ok := c.cached("n"); !ok || e.head {
			cut++
		}
		var b Batch
		if i%2 == 0 {
			// An older value first: until the Write returns, the
			// entry it leaves in between must not answer.
			b.Put([]byte("n"), []byte(value(i-1)))
		}
		b.Put([]byte("n"), []byte(value(i)))
		b.Put([]byte(fmt.Sprintf("other-%d", i%500)), make([]byte, 100))
		mustWriteBatch(t, c, &b, uint64(i+1))
		if i%100 == 0 {
			// The churn picks at random what it cuts and may leave "n"
			// alone in a run; cut it as making room for a fill would.
			cutToHead(c, "n")
		}
		written.Store(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if cut == 0 {
		t.Fatal(`"n" was never cut to its head or dropped: the test misses its point`)
	}
}

// cutToHead keeps only the head of key's value, as making room does.
func cutToHead(c *cachedEngine, key string) {
	sh := c.shard([]byte(key))
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e, ok := sh.m[key]; ok && e.long() {
		sh.remove(key, e)
		sh.add(c.headEntry([]byte(key), e.val))
	}
}

// countingEngine counts the Gets that reach the engine.
type countingEngine struct {
	Engine
	gets atomic.Int64
}

func (c *countingEngine) Get(key []byte) ([]byte, error) {
	c.gets.Add(1)
	return c.Engine.Get(key)
}

// countedCache opens a cache of maxBytes over e, counting the Gets that reach
// e; the cache is closed at cleanup.
func countedCache(t *testing.T, e Engine, maxBytes int64) (*cachedEngine, *countingEngine) {
	t.Helper()
	eng := &countingEngine{Engine: e}
	c := Cached(eng, maxBytes).(*cachedEngine)
	t.Cleanup(func() { _ = c.Close() })
	return c, eng
}

// While the engine fits, the cache holds all of it: it loads the engine at
// open, writes add the keys they put, and a miss is an absent key, answered
// without reading the engine.
func TestCacheComplete(t *testing.T) {
	inner := NewMemory()
	mustWrite(t, inner, 1, "a", "1", "b", "2")
	c, eng := countedCache(t, inner, 1<<20)
	if !c.complete.Load() {
		t.Fatal("a cache that holds the whole engine is not complete")
	}
	mustGet(t, c, "a", "1")
	mustGet(t, c, "b", "2")
	mustMissing(t, c, "x")
	mustWrite(t, c, 2, "x", "new", "a", "3")
	mustGet(t, c, "x", "new")
	mustGet(t, c, "a", "3")
	var b Batch
	b.Delete([]byte("b"))
	b.Delete([]byte("never"))
	mustWriteBatch(t, c, &b, 3)
	mustMissing(t, c, "b")
	mustMissing(t, c, "never")
	if _, ok := c.cached("b"); ok {
		t.Fatal("a complete cache keeps an entry for a deleted key")
	}
	if n := eng.gets.Load(); n != 0 {
		t.Fatalf("a complete cache read the engine %d times", n)
	}
	// Replace loads the new content.
	if err := c.Replace(newSource(-1, kv{"r", "1"}), 4); err != nil {
		t.Fatal(err)
	}
	if !c.complete.Load() {
		t.Fatal("not complete after Replace")
	}
	mustGet(t, c, "r", "1")
	mustMissing(t, c, "a")
	if n := eng.gets.Load(); n != 0 {
		t.Fatalf("a complete cache read the engine %d times", n)
	}
}

// An engine larger than the cache loads what fits and stays incomplete; a
// complete cache that must evict, meets a value too large to cache, or sees
// a Write fail stops being complete. Reads stay right throughout.
func TestCacheCompleteEnds(t *testing.T) {
	const limit = 64 << 10
	big := NewMemory()
	var fill Batch
	for i := 0; i < 2000; i++ {
		fill.Put([]byte(fmt.Sprintf("key-%05d", i)), make([]byte, 100))
	}
	mustWriteBatch(t, big, &fill, 1)
	c := Cached(big, limit).(*cachedEngine)
	t.Cleanup(func() { _ = c.Close() })
	if c.complete.Load() {
		t.Fatal("complete although the engine does not fit")
	}
	if used := c.usedBytes(); used == 0 || used > limit {
		t.Fatalf("loaded %d bytes, limit %d", used, limit)
	}
	for i := 0; i < 2000; i += 7 {
		if v, err := c.Get([]byte(fmt.Sprintf("key-%05d", i))); err != nil || len(v) != 100 {
			t.Fatalf("key-%05d: %d bytes, %v", i, len(v), err)
		}
	}

	// Eviction.
	c2, inner := mustCached(t, limit)
	if !c2.complete.Load() {
		t.Fatal("a cache of an empty engine is not complete")
	}
	for i := 0; i < 2000; i++ {
		mustWrite(t, c2, uint64(i+1), fmt.Sprintf("key-%05d", i), "v")
		if used := c2.usedBytes(); used > limit {
			t.Fatalf("cache holds %d bytes, limit %d", used, limit)
		}
	}
	if c2.complete.Load() {
		t.Fatal("still complete after evicting")
	}
	for i := 0; i < 2000; i++ {
		mustGet(t, c2, fmt.Sprintf("key-%05d", i), "v")
	}
	mustGet(t, inner, "key-00000", "v")

	// A value too large to cache whole is cached as its head; with a key so
	// long that not even the head fits, completeness ends.
	c3, _ := mustCached(t, limit)
	huge := headValue("big", limit)
	mustWrite(t, c3, 1, "big", huge)
	if e, ok := c3.cached("big"); !ok || !e.head || !c3.complete.Load() {
		t.Fatalf("a value too large to cache: entry %+v %v, complete %v", e, ok, c3.complete.Load())
	}
	if v, err := GetHead(c3, []byte("big"), HeadBytes); err != nil || string(v) != huge[:HeadBytes] {
		t.Fatalf("GetHead(big) = %q, %v", v, err)
	}
	mustGet(t, c3, "big", huge)
	longKey := strings.Repeat("k", limit/cacheShards/4)
	mustWrite(t, c3, 2, longKey, huge)
	if c3.complete.Load() {
		t.Fatal("still complete after a value it could not cache, head included")
	}
	mustGet(t, c3, longKey, huge)

	// A failed Write: the engine may hold its keys or not.
	fe := NewMemory()
	c4 := Cached(failingEngine{fe}, 1<<20).(*cachedEngine)
	t.Cleanup(func() { _ = c4.Close() })
	var b Batch
	b.Put([]byte("k"), []byte("v"))
	if err := c4.Write(&b, 1); !errors.Is(err, errWrite) {
		t.Fatalf("Write = %v", err)
	}
	if c4.complete.Load() {
		t.Fatal("still complete after a failed Write")
	}
	mustGet(t, c4, "k", "v") // what the engine holds
}

// A write of a same-size value overwrites the cached bytes in place: readers
// running meanwhile get one whole value or the other, never a mix, the
// values they got stay theirs, and the cache's size does not move.
func TestCacheSameSizeUpdateInPlace(t *testing.T) {
	c, _ := mustCached(t, 1<<20)
	a, b := strings.Repeat("a", 64), strings.Repeat("b", 64)
	mustWrite(t, c, 1, "k", a)
	used := c.usedBytes()
	var wg sync.WaitGroup
	var got [][]byte
	var mu sync.Mutex
	stop := make(chan struct{})
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				v, err := c.Get([]byte("k"))
				if err != nil {
					t.Error(err)
					return
				}
				if s := string(v); s != a && s != b {
					t.Errorf("read a torn value %q", s)
					return
				}
				mu.Lock()
				if len(got) < 64 {
					got = append(got, v)
				}
				mu.Unlock()
			}
		}()
	}
	for i := range 2000 {
		v := a
		if i%2 == 0 {
			v = b
		}
		mustWrite(t, c, uint64(i+2), "k", v)
	}
	close(stop)
	wg.Wait()
	if n := c.usedBytes(); n != used {
		t.Fatalf("same-size updates moved the cache's size from %d to %d bytes", used, n)
	}
	mustGet(t, c, "k", a)
	for _, v := range got {
		if s := string(v); s != a && s != b {
			t.Fatalf("a value handed out changed afterwards: %q", s)
		}
	}
}

// headValue is a value of n bytes whose start names key, so a head read of
// the wrong key or a cut in the wrong place shows.
func headValue(key string, n int) string {
	v := fmt.Sprintf("%s|%0*d", key, HeadBytes, n)
	if len(v) < n {
		v += strings.Repeat(".", n-len(v))
	}
	return v[:n]
}

// When the values no longer fit, a complete cache keeps their heads: it stays
// complete, GetHead answers every key from memory, and Get reads the engine
// only for the keys whose values it dropped.
func TestCacheKeepsHeads(t *testing.T) {
	const limit = 1 << 20
	c, eng := countedCache(t, NewMemory(), limit)
	const keys = 3000 // 3 MB of values; their heads take about 0.3 MB
	for i := range keys {
		k := fmt.Sprintf("key-%05d", i)
		mustWrite(t, c, uint64(i+1), k, headValue(k, 1000))
		if used := c.usedBytes(); used > limit {
			t.Fatalf("cache holds %d bytes, limit %d", used, limit)
		}
	}
	if !c.complete.Load() {
		t.Fatal("not complete although every key's head fits")
	}
	heads := 0
	for i := range keys {
		k := fmt.Sprintf("key-%05d", i)
		e, ok := c.cached(k)
		if !ok {
			t.Fatalf("%s: no entry in a complete cache", k)
		}
		if e.head {
			heads++
			if len(e.val) != HeadBytes {
				t.Fatalf("%s: head of %d bytes", k, len(e.val))
			}
		}
		for _, n := range []int{0, 17, HeadBytes} {
			v, err := GetHead(c, []byte(k), n)
			if err != nil || len(v) < n || string(v) != headValue(k, 1000)[:len(v)] {
				t.Fatalf("GetHead(%s, %d) = %q, %v", k, n, v, err)
			}
		}
	}
	if heads == 0 || heads == keys {
		t.Fatalf("%d of %d entries are heads", heads, keys)
	}
	if st := StatsOf(c); st.CacheHeads != int64(heads) {
		t.Fatalf("Stats counts %d heads, the cache holds %d", st.CacheHeads, heads)
	}
	if _, err := GetHead(c, []byte("absent"), 17); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetHead of an absent key = %v", err)
	}
	if n := eng.gets.Load(); n != 0 {
		t.Fatalf("head reads went to the engine %d times", n)
	}

	// A full read of a head reads the engine and caches the value again.
	var head string
	for i := range keys {
		if e, _ := c.cached(fmt.Sprintf("key-%05d", i)); e.head {
			head = fmt.Sprintf("key-%05d", i)
			break
		}
	}
	mustGet(t, c, head, headValue(head, 1000))
	if n := eng.gets.Load(); n != 1 {
		t.Fatalf("a full read of a head read the engine %d times, want 1", n)
	}
	if e, _ := c.cached(head); e.head || string(e.val) != headValue(head, 1000) {
		t.Fatalf("after a full read, entry is %+v", e)
	}
	// A write over a head caches the new value whole.
	mustWrite(t, c, keys+1, head, "short")
	if e, _ := c.cached(head); e.head || string(e.val) != "short" {
		t.Fatalf("after a write, entry is %+v", e)
	}
	if !c.complete.Load() {
		t.Fatal("not complete after reads and writes of heads")
	}

	// Opened over the same engine, the cache loads what fits whole and the
	// rest as heads, and is complete.
	c2 := Cached(eng, limit).(*cachedEngine)
	t.Cleanup(func() { _ = c2.Close() })
	if !c2.complete.Load() {
		t.Fatal("not complete after loading an engine whose heads fit")
	}
	before := eng.gets.Load()
	for i := 0; i < keys; i += 13 {
		k := fmt.Sprintf("key-%05d", i)
		want := headValue(k, 1000)
		if k == head {
			want = "short"
		}
		if v, err := GetHead(c2, []byte(k), 17); err != nil || string(v) != want[:len(v)] || len(v) < min(17, len(want)) {
			t.Fatalf("loaded GetHead(%s) = %q, %v", k, v, err)
		}
	}
	if n := eng.gets.Load() - before; n != 0 {
		t.Fatalf("head reads of a loaded cache went to the engine %d times", n)
	}
}

// Random writes, deletes, reads and head reads of values of every size,
// against a map, with a Replace of the whole content now and then: the cache
// answers what the engine holds, never exceeds its limit, and accounts
// exactly for the entries it holds.
func TestCacheMatchesModel(t *testing.T) {
	const limit = 128 << 10
	c, _ := mustCached(t, limit)
	model := map[string]string{}
	sizes := []int{0, 5, HeadBytes, HeadBytes + 1, 100, 300, 900, 2000}
	sawHeads := false
	seed := uint64(1)
	rnd := func(n int) int { // xorshift: the same sequence on every run
		seed ^= seed << 13
		seed ^= seed >> 7
		seed ^= seed << 17
		return int(seed % uint64(n))
	}
	for i := range 40000 {
		k := fmt.Sprintf("k%04d", rnd(2000))
		switch op := rnd(10); {
		case op < 4:
			v := headValue(k+strconv.Itoa(i), sizes[rnd(len(sizes))])
			mustWrite(t, c, uint64(i+1), k, v)
			model[k] = v
		case op < 5:
			var b Batch
			b.Delete([]byte(k))
			mustWriteBatch(t, c, &b, uint64(i+1))
			delete(model, k)
		case op < 7:
			want, ok := model[k]
			if !ok {
				mustMissing(t, c, k)
			} else {
				mustGet(t, c, k, want)
			}
		default:
			n := rnd(HeadBytes + 1)
			want, ok := model[k]
			v, err := GetHead(c, []byte(k), n)
			switch {
			case !ok && !errors.Is(err, ErrNotFound):
				t.Fatalf("op %d: GetHead(%s) of an absent key = %q, %v", i, k, v, err)
			case ok && (err != nil || len(v) < min(n, len(want)) || string(v) != want[:len(v)]):
				t.Fatalf("op %d: GetHead(%s, %d) = %q, %v; value %q", i, k, n, v, err, want)
			}
		}
		if i%10000 == 5000 {
			// Replace empties the cache and loads the new content.
			ks := slices.Sorted(maps.Keys(model))
			kvs := make([]kv, len(ks))
			for j, k := range ks {
				kvs[j] = kv{k, model[k]}
			}
			if err := c.Replace(newSource(-1, kvs...), uint64(i+1)); err != nil {
				t.Fatalf("op %d: Replace: %v", i, err)
			}
		}
		if i%1000 == 0 {
			var sum int64
			for j := range c.shards {
				sh := &c.shards[j]
				sh.mu.Lock()
				var n, heads, long int64
				for _, e := range sh.m {
					n += e.cost()
					if e.head {
						heads++
					}
					if e.long() {
						long++
					}
				}
				acc := [3]int64{sh.bytes, sh.heads, sh.long}
				sh.mu.Unlock() // before Fatalf: the cleanup's Close takes the lock
				if held := [3]int64{n, heads, long}; acc != held {
					t.Fatalf("op %d: shard %d accounts %v (bytes, heads, long values), holds %v", i, j, acc, held)
				}
				sum += n
			}
			if sum > limit {
				t.Fatalf("op %d: cache holds %d bytes, limit %d", i, sum, limit)
			}
			sawHeads = sawHeads || StatsOf(c).CacheHeads > 0
		}
	}
	if !sawHeads {
		t.Fatal("the cache never kept a head: the test misses its point")
	}
}

// Overwrites at random keep a complete cache complete for as long as the
// heads fit: making room finds whole values to cut, or caches the new value's
// head. Writes come as the write-behind flush makes them: large batches in key
// order, each new key with a small index entry beside it, which is never cut.
// (On a cluster, 400,000 1 KiB SETs over 100,000 keys ended completeness on
// every node when making room walked on from one random place, giving up after
// 64 entries it could not cut, and dropped entries then; this test passes with
// that walk too, so the cluster run, INFO engine_read_cache_complete, is the
// check of that case.)
func TestCacheStaysCompleteUnderOverwrites(t *testing.T) {
	const limit = 64 << 20
	c, eng := countedCache(t, NewMemory(), limit)
	const keys = 100000
	latest := make([]string, keys)
	seed := uint64(7)
	for round := range 10 {
		var b Batch
		var batch []int
		for i := range 30000 {
			seed ^= seed << 13
			seed ^= seed >> 7
			seed ^= seed << 17
			n := int(seed % keys)
			if round == 0 {
				n = i
			}
			batch = append(batch, n)
		}
		slices.Sort(batch)
		batch = slices.Compact(batch)
		for _, n := range batch {
			k := fmt.Sprintf("key-%05d", n)
			b.Put([]byte("h"+k), nil)
		}
		for _, n := range batch {
			k := fmt.Sprintf("key-%05d", n)
			latest[n] = headValue(k+strconv.Itoa(round), 1024)
			b.Put([]byte("k"+k), []byte(latest[n]))
		}
		mustWriteBatch(t, c, &b, uint64(round+1))
		if !c.complete.Load() {
			t.Fatalf("round %d: the cache stopped being complete with %d heads", round, StatsOf(c).CacheHeads)
		}
	}
	for n, v := range latest {
		if v == "" {
			continue
		}
		k := "k" + fmt.Sprintf("key-%05d", n)
		if got, err := GetHead(c, []byte(k), HeadBytes); err != nil || string(got) != v[:HeadBytes] {
			t.Fatalf("GetHead(%s) = %q, %v, want %q", k, got, err, v[:HeadBytes])
		}
	}
	if n := eng.gets.Load(); n != 0 {
		t.Fatalf("head reads went to the engine %d times", n)
	}
}
