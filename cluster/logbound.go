package cluster

import (
	"errors"
	"time"

	"github.com/hashicorp/raft"
)

// A byte bound on the Raft log. Raft bounds its log in entries: a snapshot
// once SnapshotThreshold entries follow the last one, and TrailingLogs
// entries kept behind it. An entry here is a batch of up to 1,024 commands
// or 4 MiB, so under a load of large values those counts stand for
// gigabytes (1 KiB MSETs made entries of about 400 KB, and a node's log
// grew to 6.5 GB). With Config.LogMaxBytes set, the node checks its log's
// size every logBoundEvery and
//
//   - keeps behind each snapshot no more entries than a quarter of the bound
//     holds at the log's current mean entry size (and no fewer than
//     minTrailingLogs, and never more than TrailingLogs), changing Raft's
//     TrailingLogs when that number changes;
//   - takes a snapshot when the log holds more than the bound, after which
//     Raft compacts the log to those trailing entries.
//
// A snapshot writes the whole state machine, so it also waits until at
// least half the bound has been written since the last one it took: when
// the log is cut to a quarter, that is every three quarters of the bound;
// when entries are too large for the kept ones to fit a quarter (a
// snapshot cannot shrink the log under the bound), no more often than
// every half bound of writes, instead of at every check. A follower that
// falls further behind than the trailing entries catches up from a
// snapshot instead of the log, as it would past TrailingLogs.

const (
	// DefaultLogMaxBytes is the default byte bound on the Raft log.
	DefaultLogMaxBytes = 1 << 30
	// minTrailingLogs is the fewest entries the bound keeps behind a
	// snapshot.
	minTrailingLogs = 64
	// logBoundEvery is how often the log's size is checked.
	logBoundEvery = time.Second
)

// boundLog runs the byte bound, a check every every, until the node stops.
func (n *Node) boundLog(every time.Duration) {
	defer n.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	var after int64 // the log's bytes after the last snapshot the bound took
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
			after = n.checkLogBound(after)
		}
	}
}

// checkLogBound sets Raft's trailing entries for the log's mean entry size
// and takes a snapshot if the log is over the bound and has grown by half
// the bound since it held after bytes. It returns the log's bytes after the
// snapshot if it took one (or tried and failed), else after.
func (n *Node) checkLogBound(after int64) int64 {
	log, max := n.store.log, n.cfg.LogMaxBytes
	bytes := log.Bytes()
	first, err1 := log.FirstIndex()
	last, err2 := log.LastIndex()
	if err1 != nil || err2 != nil || first == 0 || last < first || bytes <= 0 {
		return after
	}
	trailing := trailingFor(max, bytes/int64(last-first+1), n.cfg.TrailingLogs)
	if rc := n.raft.ReloadableConfig(); rc.TrailingLogs != trailing {
		rc.TrailingLogs = trailing
		if err := n.raft.ReloadConfig(rc); err != nil {
			n.log.Warn("raft log bound: set trailing logs", "trailing", trailing, "err", err)
		}
	}
	if bytes <= max || bytes-after < max/2 {
		return after
	}
	err := n.raft.Snapshot().Error()
	switch {
	case err == nil:
		n.logBoundSnapshots.Add(1)
		// Raft has compacted the log before the snapshot's future returns.
		now := log.Bytes()
		n.log.Info("raft log over its byte bound: snapshot taken", "log_bytes", bytes,
			"max_bytes", max, "trailing_logs", trailing, "log_bytes_after", now)
		return now
	case errors.Is(err, raft.ErrNothingNewToSnapshot):
		return after
	default:
		n.log.Warn("raft log over its byte bound: snapshot failed", "log_bytes", bytes, "err", err)
		return bytes // try again after another half bound of writes
	}
}

// trailingFor is how many entries to keep behind a snapshot: those a
// quarter of maxBytes holds at meanEntry bytes each, within
// [minTrailingLogs, configured].
func trailingFor(maxBytes, meanEntry int64, configured uint64) uint64 {
	if meanEntry <= 0 {
		return configured
	}
	fit := uint64(maxBytes / 4 / meanEntry)
	return min(configured, max(fit, minTrailingLogs))
}
