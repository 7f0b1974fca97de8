package storage

import "time"

// Stats describes the in-memory layers in front of an engine (see Cached and
// WriteBehind), for INFO. The fields of a layer the engine does not have are
// zero.
type Stats struct {
	// WriteBehind is set when writes go through a write-behind buffer.
	WriteBehind bool
	// BehindMaxBytes is the window size; BehindBytes what the buffer holds
	// that the engine does not have yet (the filling window and the queued
	// ones); BehindQueued the full windows waiting for, or in, the background
	// flush.
	BehindMaxBytes, BehindBytes int64
	BehindQueued                int
	// Flushes counts the windows written to the engine, LastFlush is how
	// long the last of them took, and FlushErr is a failed write (after which
	// every Write fails and the node stops).
	Flushes   uint64
	LastFlush time.Duration
	FlushErr  error
	// Stalls counts the Writes that filled a window while the queue was
	// full, and Stalled is the time they waited for the flush: the flush is
	// not keeping up with the writes.
	Stalls  uint64
	Stalled time.Duration
	// UrgentFlushes counts the windows flushed at the process's priority
	// because the writes were about to catch up with the flush.
	UrgentFlushes uint64

	// Cache is set when reads go through a read cache of CacheMaxBytes, which
	// holds CacheBytes; CacheComplete while it holds every key of the engine
	// (a miss needs no engine read). CacheHeads of its entries hold only the
	// start of their value (see Cached).
	Cache                     bool
	CacheMaxBytes, CacheBytes int64
	CacheComplete             bool
	CacheHeads                int64
}

// StatsOf returns the Stats of e and the layers under it.
func StatsOf(e Engine) Stats {
	var st Stats
	for e != nil {
		switch x := e.(type) {
		case *behindEngine:
			x.stats(&st)
			e = x.eng
		case *cachedEngine:
			x.stats(&st)
			e = x.Engine
		default:
			return st
		}
	}
	return st
}

func (w *behindEngine) stats(st *Stats) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	st.WriteBehind = true
	st.BehindMaxBytes = w.max
	for _, o := range w.layersLocked() {
		st.BehindBytes += o.bytes
	}
	st.BehindQueued = len(w.frozen)
	st.Flushes = w.flushes
	st.LastFlush = w.lastFlush
	st.FlushErr = w.err
	st.Stalls = w.stalls
	st.Stalled = w.stalled
	st.UrgentFlushes = w.urgent
}

func (c *cachedEngine) stats(st *Stats) {
	st.Cache = true
	st.CacheMaxBytes = c.perShard * cacheShards
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		st.CacheBytes += sh.bytes
		st.CacheHeads += sh.heads
		sh.mu.Unlock()
	}
	st.CacheComplete = c.complete.Load()
}
