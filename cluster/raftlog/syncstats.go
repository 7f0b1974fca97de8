package raftlog

import (
	"os"
	"slices"
	"sync/atomic"
	"time"
)

// syncBounds are the upper bounds, in seconds, of the buckets SyncStats
// counts fdatasync calls in: from 100µs (a fast SSD on an idle machine) to
// 10s (a disk in trouble).
var syncBounds = [...]float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// SyncBuckets returns the upper bounds, in seconds, of SyncStats.Buckets.
func SyncBuckets() []float64 { return slices.Clone(syncBounds[:]) }

// SyncStats describes the fdatasync calls that made appended entries
// durable: in the background syncer with DeferSync, in StoreLogs without,
// and of a full segment before the next one starts. Syncs of a new, empty
// segment file are not counted.
type SyncStats struct {
	Count uint64
	Sum   time.Duration
	// Buckets[i] counts the syncs that took at most SyncBuckets()[i] seconds
	// (cumulative, as a Prometheus histogram counts them). Count is never
	// below any of them.
	Buckets []uint64
	// Last is how long the latest sync took.
	Last time.Duration
}

// syncHist counts syncs by duration. Safe for concurrent use.
type syncHist struct {
	count   atomic.Uint64
	sum     atomic.Int64
	last    atomic.Int64
	buckets [len(syncBounds)]atomic.Uint64 // per bound, not cumulative
}

// observe counts one sync that took d. The count goes first, so that a
// snapshot reading the buckets before the count never sees more in the
// buckets than in the count.
func (h *syncHist) observe(d time.Duration) {
	h.count.Add(1)
	h.sum.Add(int64(d))
	h.last.Store(int64(d))
	s := d.Seconds()
	for i, ub := range syncBounds {
		if s <= ub {
			h.buckets[i].Add(1)
			return
		}
	}
}

func (h *syncHist) stats() SyncStats {
	st := SyncStats{Buckets: make([]uint64, len(syncBounds))}
	var cum uint64
	for i := range syncBounds {
		cum += h.buckets[i].Load()
		st.Buckets[i] = cum
	}
	st.Count = h.count.Load()
	st.Sum = time.Duration(h.sum.Load())
	st.Last = time.Duration(h.last.Load())
	return st
}

// syncTimed is fdatasync of f, counted in the log's SyncStats.
func (l *Log) syncTimed(f *os.File) error {
	began := time.Now()
	err := fdatasync(f)
	l.syncs.observe(time.Since(began))
	return err
}

// SyncStats returns the counts of the syncs that made entries durable.
func (l *Log) SyncStats() SyncStats { return l.syncs.stats() }
