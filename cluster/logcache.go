package cluster

import (
	"sync"

	"github.com/hashicorp/raft"
)

// logCache keeps the most recent Raft entries in memory, so that replication
// to followers and the state machine read them without touching the log
// store, bounded by entry count and by bytes.
//
// hashicorp/raft's own LogCache bounds only the count. One of our entries is
// a whole batch of client commands (up to 4 MiB), so 4096 cached entries
// could hold gigabytes: under `SET -P 16` with 1 KiB values the leader kept
// about 90 MiB of entries after 100,000 writes, and it grows with the run.
// Entries older than the cache are one pread away in the log store.
type logCache struct {
	store    raft.LogStore
	maxBytes int

	mu    sync.RWMutex
	ring  []*raft.Log // entry i is at ring[i%len(ring)] while lo <= i <= hi
	lo    uint64      // lowest cached index; the cache is empty when hi < lo
	hi    uint64      // highest cached index
	bytes int         // data held by the cached entries
}

// newLogCache caches at most maxEntries entries holding at most maxBytes of
// data and extensions in front of store.
func newLogCache(store raft.LogStore, maxEntries, maxBytes int) *logCache {
	return &logCache{store: store, maxBytes: maxBytes, ring: make([]*raft.Log, maxEntries), lo: 1}
}

func logSize(l *raft.Log) int { return len(l.Data) + len(l.Extensions) }

// IsMonotonic passes on the store's answer (raft checks it to know that a
// restored snapshot must clear the log).
func (c *logCache) IsMonotonic() bool {
	m, ok := c.store.(raft.MonotonicLogStore)
	return ok && m.IsMonotonic()
}

// GetLog reads entry idx from memory if it is cached, else from the store.
func (c *logCache) GetLog(idx uint64, log *raft.Log) error {
	c.mu.RLock()
	if idx >= c.lo && idx <= c.hi {
		*log = *c.ring[idx%uint64(len(c.ring))]
		c.mu.RUnlock()
		return nil
	}
	c.mu.RUnlock()
	return c.store.GetLog(idx, log)
}

func (c *logCache) StoreLog(log *raft.Log) error { return c.StoreLogs([]*raft.Log{log}) }

// StoreLogs writes logs to the store and then caches them, dropping the
// oldest cached entries to stay within the bounds.
func (c *logCache) StoreLogs(logs []*raft.Log) error {
	if err := c.store.StoreLogs(logs); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range logs {
		size := logSize(l)
		if c.hi >= c.lo && l.Index != c.hi+1 {
			// Not the next entry (raft rewrote the tail): start over, so
			// that nothing cached can be an entry the store replaced.
			c.resetLocked()
		}
		if size > c.maxBytes {
			c.resetLocked() // too large to cache; keep the cache contiguous
			continue
		}
		for c.hi >= c.lo && (c.hi-c.lo+1 >= uint64(len(c.ring)) || c.bytes+size > c.maxBytes) {
			c.evictOldestLocked()
		}
		if c.hi < c.lo {
			c.lo = l.Index
		}
		c.hi = l.Index
		c.ring[l.Index%uint64(len(c.ring))] = l
		c.bytes += size
	}
	return nil
}

// dropLocked forgets the cached entry idx; the caller moves lo or hi past it.
func (c *logCache) dropLocked(idx uint64) {
	slot := idx % uint64(len(c.ring))
	c.bytes -= logSize(c.ring[slot])
	c.ring[slot] = nil
}

func (c *logCache) evictOldestLocked() {
	c.dropLocked(c.lo)
	c.lo++
}

func (c *logCache) resetLocked() {
	clear(c.ring)
	c.lo, c.hi, c.bytes = 1, 0, 0
}

func (c *logCache) FirstIndex() (uint64, error) { return c.store.FirstIndex() }

func (c *logCache) LastIndex() (uint64, error) { return c.store.LastIndex() }

// DeleteRange deletes [min, max] from the store and the cache: the oldest
// entries (compaction after a snapshot) or the newest (a conflicting tail
// raft truncates); anything else empties the cache.
func (c *logCache) DeleteRange(min, max uint64) error {
	c.mu.Lock()
	if c.hi >= c.lo && min <= c.hi && max >= c.lo {
		switch {
		case min <= c.lo && max < c.hi:
			for c.lo <= max {
				c.evictOldestLocked()
			}
		case min > c.lo && max >= c.hi:
			for c.hi >= min {
				c.dropLocked(c.hi)
				c.hi--
			}
		default:
			c.resetLocked()
		}
	}
	c.mu.Unlock()
	return c.store.DeleteRange(min, max)
}
