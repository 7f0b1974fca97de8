package storage

import (
	"bytes"
	"errors"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"unsafe"
)

// DefaultCacheBytes is the read cache size the server gives an engine.
const DefaultCacheBytes = 64 << 20

const (
	cacheShards = 32
	// cacheEntryOverhead approximates the memory of one entry beyond its key
	// and value bytes (map slot, string and slice headers).
	cacheEntryOverhead = 64
	// headScan bounds the random picks that make room find no value to cut
	// to its head before they give up (see shortenLocked).
	headScan = 64
)

// Cached wraps e with a read cache of at most maxBytes: Get answers from
// memory for keys read before (including "not found"), and Write keeps cached
// keys current. Iterators and snapshots read the engine itself.
//
// A leveldb Get costs several microseconds (memtable skiplist and table
// lookups, each a cache miss); the state machine reads a key before every
// write to it and every GET reads one, so this is the engine's hottest path.
//
// Gets run while a Write writes the engine (a large write-behind flush takes
// a while), so a filled entry must never be older than the engine: a Write
// counts itself started before it writes the engine and finished after it has
// brought the cached keys up to date, and a Get fills a miss only if no Write
// was in progress when it read the engine and none started since. A fill that
// races a Write either sees the Write's new value or is discarded, or it lands
// before the Write updates the cached keys, which then overwrites it. While a
// Write is in progress the engine is ahead of the entries it has yet to
// update, so a miss that read the engine answers with the key's entry if one
// was cached meanwhile: otherwise it could answer the newer value and the
// next read the older entry. For the same reason a head does not answer a
// head read while a Write that touches its key is in progress (a Get of the
// key reads the engine): before it writes the engine, a Write marks the
// heads of its keys with its number (Writes run one at a time), and the
// entries it makes while it runs carry its number too, the new values of its
// keys (a batch that puts a key twice leaves the older value in between) and
// heads cut from other values to make room. An entry marked by the Write in
// progress answers no read; the read goes to the engine. Entries of other
// keys answer throughout, so a long Write (a write-behind flush of a whole
// window) does not send every head read to the engine.
//
// While every key of the engine fits, the cache holds all of them
// ("complete"): it is loaded at open (and after Replace), every Write adds the
// keys it puts, and a miss means the key is absent, with no engine read.
// Writing a key for the first time, the state machine's read before the write
// is then free. To make room the cache first drops values longer than
// HeadBytes but keeps their first HeadBytes ("heads"): a Get of such a key
// reads the engine, but GetHead, all a plain SET, MSET or DEL needs of the
// key it overwrites (whether it exists, and its expiry), does not, and the
// cache stays complete. A value too large to cache whole (a quarter of a
// shard) is cached as its head. Dropping a whole entry (or a failed Write, or
// a key too long for even a head) ends completeness: from then on a miss
// reads the engine and fills, as above.
func Cached(e Engine, maxBytes int64) Engine {
	if maxBytes <= 0 {
		return e
	}
	c := newCached(e, maxBytes)
	c.load()
	return c
}

// newCached returns an empty, incomplete cache in front of e.
func newCached(e Engine, maxBytes int64) *cachedEngine {
	c := &cachedEngine{Engine: e, perShard: max(maxBytes/cacheShards, 1), seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].m = make(map[string]cacheEntry)
	}
	return c
}

type cachedEngine struct {
	Engine
	// wmu is held exclusively by Replace and Close, shared by Get and Write.
	wmu sync.RWMutex
	// started and finished count Writes; see Cached.
	started, finished atomic.Uint64
	// writeMu runs Writes one at a time, so at most one is in progress (see
	// inProgress).
	writeMu  sync.Mutex
	seed     maphash.Seed
	perShard int64
	shards   [cacheShards]cacheShard
	// complete is set while the cache holds every key of the engine (see
	// Cached). It is cleared before an entry is dropped for any reason other
	// than a delete of its key (an eviction clears it under the shard lock it
	// evicts under), and Get reads it under the shard lock of its lookup: a
	// miss seen with complete set cannot be an entry dropped meanwhile.
	complete atomic.Bool
}

type cacheShard struct {
	mu    sync.Mutex
	m     map[string]cacheEntry
	bytes int64 // the entries' cost
	heads int64 // entries that hold only a head
	long  int64 // entries holding a whole value longer than HeadBytes
}

// add puts e in the shard, in place of any entry of its key the caller has
// removed. Called with sh.mu held.
func (sh *cacheShard) add(e cacheEntry) {
	sh.m[e.key] = e
	sh.bytes += e.cost()
	if e.head {
		sh.heads++
	}
	if e.long() {
		sh.long++
	}
}

// reset empties the shard. Called with sh.mu held.
func (sh *cacheShard) reset() {
	clear(sh.m)
	sh.bytes, sh.heads, sh.long = 0, 0, 0
}

// remove drops e, the entry of key. Called with sh.mu held.
func (sh *cacheShard) remove(key string, e cacheEntry) {
	delete(sh.m, key)
	sh.bytes -= e.cost()
	if e.head {
		sh.heads--
	}
	if e.long() {
		sh.long--
	}
}

type cacheEntry struct {
	// key is the entry's map key; an update reuses it instead of allocating
	// the key again.
	key   string
	val   []byte // nil with found false: the key is absent
	found bool
	head  bool // val is only the value's first HeadBytes (see Cached)
	// mark is the number of the Write that made the entry, or that touches
	// its key while it is a head (see cachedEngine.inProgress).
	mark uint64
}

// newCacheEntry returns an entry holding copies of key and val (when found)
// in one allocation.
func newCacheEntry(key, val []byte, found bool) cacheEntry {
	if !found {
		return cacheEntry{key: string(key)}
	}
	buf := make([]byte, len(key)+len(val))
	copy(buf, key)
	copy(buf[len(key):], val)
	return cacheEntry{
		key:   unsafe.String(unsafe.SliceData(buf), len(key)),
		val:   buf[len(key):len(buf):len(buf)],
		found: true,
	}
}

// headEntry returns an entry holding only the first HeadBytes of val (longer
// than that), in an allocation of its own, so the value's memory is freed.
// A head made while a Write is in progress counts as that Write's (see
// Cached): it may be cut from a value older than the engine's.
func (c *cachedEngine) headEntry(key, val []byte) cacheEntry {
	e := newCacheEntry(key, val[:HeadBytes], true)
	e.head = true
	e.mark = c.inProgress()
	return e
}

// putHeadLocked caches only the head of val under key, cutting other values
// to their heads to make room, and reports whether it did: not when val is
// too short to have a head, the entry would be too large to cache (an
// enormous key), or no room could be made without dropping keys. The caller
// has removed key's entry. Called with sh.mu held (or, by load, alone).
func (c *cachedEngine) putHeadLocked(sh *cacheShard, key, val []byte) bool {
	cost := entryCost(len(key), HeadBytes)
	if len(val) <= HeadBytes || cost > c.perShard/4 || !c.shortenLocked(sh, cost) {
		return false
	}
	sh.add(c.headEntry(key, val))
	return true
}

// long reports whether e holds a whole value it could keep only the head of.
func (e *cacheEntry) long() bool { return e.found && !e.head && len(e.val) > HeadBytes }

// cost is the memory an entry is accounted for.
func (e *cacheEntry) cost() int64 { return entryCost(len(e.key), len(e.val)) }

func entryCost(key, val int) int64 { return int64(key + val + cacheEntryOverhead) }

func (c *cachedEngine) shard(key []byte) *cacheShard {
	return &c.shards[maphash.Bytes(c.seed, key)%cacheShards]
}

// Get returns the value under key from the cache, or reads the engine and
// caches the answer.
func (c *cachedEngine) Get(key []byte) ([]byte, error) {
	return c.get(key, -1)
}

// getHead is Get for at least the first n bytes (n <= HeadBytes) of the
// value: a head answers it (see Cached).
func (c *cachedEngine) getHead(key []byte, n int) ([]byte, error) {
	return c.get(key, n)
}

// get answers Get (n < 0) and getHead (0 <= n <= HeadBytes).
func (c *cachedEngine) get(key []byte, n int) ([]byte, error) {
	c.wmu.RLock()
	defer c.wmu.RUnlock()
	sh := c.shard(key)
	sh.mu.Lock()
	e, ok := sh.m[string(key)]
	complete := c.complete.Load()
	// A head answers a head read, unless a Write of its key is in progress:
	// a Get of the same key may already have read that Write's value from
	// the engine (a head is no answer to a Get), and the head is updated
	// only after the engine; answering the older head after it would go
	// back in time.
	if ok && c.current(e) && (!e.head || n >= 0) {
		v, err := e.answer(n)
		sh.mu.Unlock()
		return v, err
	}
	sh.mu.Unlock()
	if !ok && complete {
		return nil, ErrNotFound
	}
	gen := c.started.Load()
	quiet := c.finished.Load() == gen
	v, err := c.Engine.Get(key)
	found := err == nil
	if !found && !errors.Is(err, ErrNotFound) {
		return v, err
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	// An entry cached while the engine was read answers instead: it was
	// filled before a Write now in progress, or is that Write's update, and
	// other readers hit it. During a Write the engine is ahead of the entries
	// the Write has yet to update, so answering the engine's newer value
	// here and the entry's older one to the next read would go back in time.
	if e, ok := sh.m[string(key)]; ok && !e.head && c.current(e) {
		return e.answer(n)
	}
	if quiet && c.started.Load() == gen {
		c.fillLocked(sh, key, v, found)
	}
	return v, err
}

// answer is what a read of at least n bytes (all when n < 0) gets from e: a
// copy, as Write may overwrite a value in place. Called with the shard lock
// held.
func (e *cacheEntry) answer(n int) ([]byte, error) {
	switch {
	case !e.found:
		return nil, ErrNotFound
	case n >= 0 && n < len(e.val):
		return bytes.Clone(e.val[:n]), nil
	}
	return bytes.Clone(e.val), nil
}

// current reports whether e may answer reads: it is not marked by the Write
// in progress (see Cached). Called with the shard lock held.
func (c *cachedEngine) current(e cacheEntry) bool {
	w := c.inProgress()
	return w == 0 || e.mark != w
}

// inProgress returns the number (started's value) of the Write in progress,
// 0 when none. A Write that starts or ends while it looks may be missed,
// never one long finished taken for the current one.
func (c *cachedEngine) inProgress() uint64 {
	started := c.started.Load()
	if c.finished.Load() == started {
		return 0
	}
	return started
}

// fillLocked caches (a copy of) an engine answer read when no Write was in
// progress and none has started since; it makes room in the shard if it is
// full. Called with sh.mu held.
func (c *cachedEngine) fillLocked(sh *cacheShard, key, val []byte, found bool) {
	if entryCost(len(key), len(val)) > c.perShard/4 {
		return // one huge value would flush the shard
	}
	if old, ok := sh.m[string(key)]; ok {
		// Replaced below; removed first so making room cannot pick it.
		sh.remove(old.key, old)
	}
	c.putLocked(sh, key, val, found)
}

// putLocked adds the entry of key and val (found: else key is absent) to sh,
// whose entry of key the caller has removed. It makes room by cutting other
// values to their heads; failing that, it caches only val's head; failing
// that too, it drops entries at random, which ends completeness. Called with
// sh.mu held.
func (c *cachedEngine) putLocked(sh *cacheShard, key, val []byte, found bool) {
	size := entryCost(len(key), len(val))
	if !c.shortenLocked(sh, size) {
		if found && c.putHeadLocked(sh, key, val) {
			return
		}
		c.dropLocked(sh, size)
	}
	e := newCacheEntry(key, val, found)
	e.mark = c.inProgress()
	sh.add(e)
}

// dropLocked drops entries of sh at random until need more bytes fit, which
// ends completeness. Called with sh.mu held.
func (c *cachedEngine) dropLocked(sh *cacheShard, need int64) {
	c.complete.Store(false)
	for k, e := range sh.m {
		// Map iteration starts at a random place: random eviction.
		sh.remove(k, e)
		if sh.bytes+need <= c.perShard {
			return
		}
	}
}

// shortenLocked keeps only the first HeadBytes of whole values longer than
// that, picked at random, until need more bytes fit in sh. It reports
// whether they do; it gives up after headScan picks find no such value.
// Each pick starts a new iteration of the map (which starts at a random
// place) and takes its first entry: walking on from one start would favour
// the entries behind a run of heads, so runs would grow until a walk could
// not get past them. Called with sh.mu held.
func (c *cachedEngine) shortenLocked(sh *cacheShard, need int64) bool {
	for misses := 0; sh.bytes+need > c.perShard; {
		if sh.long == 0 || misses == headScan {
			return false
		}
		for k, e := range sh.m {
			if e.long() {
				sh.remove(k, e)
				sh.add(c.headEntry(unsafe.Slice(unsafe.StringData(k), len(k)), e.val))
			} else {
				misses++
			}
			break
		}
	}
	return true
}

// Write writes b to the engine and brings the cached keys b touches up to
// date; while the cache is complete it also adds the keys b puts. On failure
// the keys b touches are dropped from the cache.
func (c *cachedEngine) Write(b *Batch, appliedIndex uint64) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.wmu.RLock()
	defer c.wmu.RUnlock()
	gen := c.started.Add(1)
	defer c.finished.Add(1)
	c.markHeads(b, gen)
	err := c.Engine.Write(b, appliedIndex)
	if err != nil {
		// What the engine holds now is unknown for these keys.
		c.complete.Store(false)
	}
	for _, op := range b.Ops() {
		sh := c.shard(op.Key)
		sh.mu.Lock()
		old, ok := sh.m[string(op.Key)]
		if !ok && (err != nil || op.Kind == OpDelete || !c.complete.Load()) {
			// Not cached, and nothing to add: an absent key of a complete
			// cache is simply not in it.
			sh.mu.Unlock()
			continue
		}
		if ok {
			sh.remove(old.key, old)
		}
		found := op.Kind != OpDelete
		size := entryCost(len(op.Key), 0)
		if found {
			size += int64(len(op.Value))
		}
		if err != nil {
			sh.mu.Unlock()
			continue
		}
		if found && size > c.perShard/4 {
			// Too large to cache whole (it would flush the shard): only its
			// head, which keeps the key known; else completeness ends.
			if !c.putHeadLocked(sh, op.Key, op.Value) {
				c.complete.Store(false)
			}
			sh.mu.Unlock()
			continue
		}
		if !found && c.complete.Load() {
			sh.mu.Unlock() // absent: not in a complete cache
			continue
		}
		if ok && found && old.found && !old.head && len(old.val) == len(op.Value) {
			// Same size: the new value overwrites the old one's bytes (Get
			// copies values under the shard lock), nothing is allocated.
			copy(old.val, op.Value)
			old.mark = gen
			sh.add(old)
			sh.mu.Unlock()
			continue
		}
		// The old entry went first, so making room cannot pick it.
		c.putLocked(sh, op.Key, op.Value, found)
		sh.mu.Unlock()
	}
	return err
}

// markHeads marks the head entries of the keys b touches as b's, Write
// number gen, before the engine is written (see Cached).
func (c *cachedEngine) markHeads(b *Batch, gen uint64) {
	for _, op := range b.Ops() {
		sh := c.shard(op.Key)
		sh.mu.Lock()
		if sh.heads > 0 {
			if e, ok := sh.m[string(op.Key)]; ok && e.head {
				e.mark = gen
				sh.m[e.key] = e
			}
		}
		sh.mu.Unlock()
	}
}

// Replace replaces the engine's content and empties the cache.
func (c *cachedEngine) Replace(src Source, appliedIndex uint64) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	err := c.Engine.Replace(src, appliedIndex)
	c.clear()
	if err == nil {
		c.load()
	}
	return err
}

// Close closes the engine and empties the cache.
func (c *cachedEngine) Close() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.clear()
	return c.Engine.Close()
}

// load fills the empty cache with the engine's content and marks it
// complete, unless the content does not fit: then it keeps what it read,
// incomplete. Called when no Write or Get runs (at open, or under wmu).
func (c *cachedEngine) load() {
	it := c.Engine.NewIterator(nil, nil)
	defer it.Close()
	for it.Next() {
		k, v := it.Key(), it.Value()
		sh := c.shard(k)
		if cost := entryCost(len(k), len(v)); cost <= c.perShard/4 && c.shortenLocked(sh, cost) {
			sh.add(newCacheEntry(k, v, true))
		} else if !c.putHeadLocked(sh, k, v) {
			return // only its head would do, and not even that fits
		}
	}
	if it.Err() == nil {
		c.complete.Store(true)
	}
}

func (c *cachedEngine) clear() {
	c.complete.Store(false)
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		sh.reset()
		sh.mu.Unlock()
	}
}
