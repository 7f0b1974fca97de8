package cluster

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/hashicorp/raft"
)

// countingLogStore counts the reads that reach the store.
type countingLogStore struct {
	*raft.InmemStore
	gets int
}

func (s *countingLogStore) GetLog(idx uint64, log *raft.Log) error {
	s.gets++
	return s.InmemStore.GetLog(idx, log)
}

func cacheTestLog(idx, term uint64, size int) *raft.Log {
	data := bytes.Repeat([]byte{byte(idx)}, size)
	copy(data, fmt.Sprintf("%d/%d", idx, term))
	return &raft.Log{Index: idx, Term: term, Type: raft.LogCommand, Data: data}
}

func mustGetLog(t *testing.T, c *logCache, idx uint64) *raft.Log {
	t.Helper()
	var l raft.Log
	if err := c.GetLog(idx, &l); err != nil {
		t.Fatalf("GetLog(%d): %v", idx, err)
	}
	return &l
}

// The cache stays within its byte bound, serves what it holds without the
// store and what it dropped from the store, and an entry larger than the
// bound is not cached.
func TestLogCacheBoundedByBytes(t *testing.T) {
	store := &countingLogStore{InmemStore: raft.NewInmemStore()}
	c := newLogCache(store, 4096, 10_000)
	for i := uint64(1); i <= 100; i++ {
		if err := c.StoreLogs([]*raft.Log{cacheTestLog(i, 1, 1000)}); err != nil {
			t.Fatal(err)
		}
		if c.bytes > 10_000 {
			t.Fatalf("after entry %d the cache holds %d bytes, bound 10000", i, c.bytes)
		}
	}
	if c.lo != 91 || c.hi != 100 {
		t.Fatalf("cache holds [%d, %d], want the last ten entries [91, 100]", c.lo, c.hi)
	}
	for i := uint64(1); i <= 100; i++ {
		before := store.gets
		l := mustGetLog(t, c, i)
		if !bytes.Equal(l.Data, cacheTestLog(i, 1, 1000).Data) || l.Index != i {
			t.Fatalf("entry %d read back wrong", i)
		}
		if fromStore := store.gets > before; fromStore != (i < 91) {
			t.Fatalf("entry %d: read from the store %v, want %v", i, fromStore, i < 91)
		}
	}
	// Too large for the cache: stored, served from the store, cache empty.
	if err := c.StoreLogs([]*raft.Log{cacheTestLog(101, 1, 20_000)}); err != nil {
		t.Fatal(err)
	}
	if c.bytes != 0 || c.hi >= c.lo {
		t.Fatalf("an entry over the bound left the cache holding [%d, %d], %d bytes", c.lo, c.hi, c.bytes)
	}
	if l := mustGetLog(t, c, 101); len(l.Data) != 20_000 {
		t.Fatalf("entry 101 has %d bytes", len(l.Data))
	}
	// The next entries are cached again.
	if err := c.StoreLogs([]*raft.Log{cacheTestLog(102, 1, 100), cacheTestLog(103, 1, 100)}); err != nil {
		t.Fatal(err)
	}
	if c.lo != 102 || c.hi != 103 || c.bytes != 200 {
		t.Fatalf("cache holds [%d, %d], %d bytes; want [102, 103], 200", c.lo, c.hi, c.bytes)
	}
}

// The entry count bounds the cache too.
func TestLogCacheBoundedByCount(t *testing.T) {
	c := newLogCache(raft.NewInmemStore(), 8, 1<<20)
	var logs []*raft.Log
	for i := uint64(1); i <= 20; i++ {
		logs = append(logs, cacheTestLog(i, 1, 10))
	}
	if err := c.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	if c.lo != 13 || c.hi != 20 || c.bytes != 80 {
		t.Fatalf("cache holds [%d, %d], %d bytes; want [13, 20], 80", c.lo, c.hi, c.bytes)
	}
	for i := uint64(1); i <= 20; i++ {
		if l := mustGetLog(t, c, i); l.Index != i {
			t.Fatalf("GetLog(%d) returned entry %d", i, l.Index)
		}
	}
}

// When raft truncates a conflicting tail and writes new entries at the same
// indexes, reads return the new entries, never the cached old ones; deleting
// old entries (compaction) keeps the cache.
func TestLogCacheTruncatedTail(t *testing.T) {
	store := &countingLogStore{InmemStore: raft.NewInmemStore()}
	c := newLogCache(store, 4096, 1<<20)
	var logs []*raft.Log
	for i := uint64(1); i <= 10; i++ {
		logs = append(logs, cacheTestLog(i, 1, 50))
	}
	if err := c.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	// Compaction of the oldest entries: the rest stay cached.
	if err := c.DeleteRange(1, 3); err != nil {
		t.Fatal(err)
	}
	if c.lo != 4 || c.hi != 10 || c.bytes != 7*50 {
		t.Fatalf("after compacting [1, 3] the cache holds [%d, %d], %d bytes", c.lo, c.hi, c.bytes)
	}
	before := store.gets
	if l := mustGetLog(t, c, 5); l.Term != 1 || store.gets != before {
		t.Fatal("compaction of older entries emptied the cache")
	}
	var gone raft.Log
	if err := c.GetLog(2, &gone); err != raft.ErrLogNotFound {
		t.Fatalf("GetLog of a compacted entry: %v, want ErrLogNotFound", err)
	}
	// A conflicting tail from term 2.
	if err := c.DeleteRange(7, 10); err != nil {
		t.Fatal(err)
	}
	if c.lo != 4 || c.hi != 6 || c.bytes != 3*50 {
		t.Fatalf("after truncating [7, 10] the cache holds [%d, %d], %d bytes", c.lo, c.hi, c.bytes)
	}
	if err := c.StoreLogs([]*raft.Log{cacheTestLog(7, 2, 50), cacheTestLog(8, 2, 50)}); err != nil {
		t.Fatal(err)
	}
	for i := uint64(7); i <= 8; i++ {
		if l := mustGetLog(t, c, i); l.Term != 2 || !bytes.Equal(l.Data, cacheTestLog(i, 2, 50).Data) {
			t.Fatalf("entry %d after the rewrite has term %d", i, l.Term)
		}
	}
	if l := mustGetLog(t, c, 6); l.Term != 1 {
		t.Fatalf("entry 6 has term %d", l.Term)
	}
	// A rewrite without a DeleteRange first (not what raft does) is caught by
	// the contiguity check.
	if err := c.StoreLogs([]*raft.Log{cacheTestLog(8, 3, 50)}); err != nil {
		t.Fatal(err)
	}
	if l := mustGetLog(t, c, 8); l.Term != 3 {
		t.Fatalf("entry 8 rewritten without a delete has term %d", l.Term)
	}
	var missing raft.Log
	if err := c.GetLog(99, &missing); err != raft.ErrLogNotFound {
		t.Fatalf("GetLog of a missing entry: %v, want ErrLogNotFound", err)
	}
}
