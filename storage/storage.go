// Package storage owns Riot's pluggable storage engines: the Engine interface the
// replicated state machine writes through, and its implementations (leveldb, the
// default; memory; bolt). An engine stores opaque binary keys and values, applies a
// Batch atomically together with the Raft index it came from, and hands out cheap
// point-in-time snapshots for Raft snapshots and scans. Engines know nothing of Raft
// or of the key layout the state machine builds on top of them.
package storage

import (
	"errors"
)

// Errors returned by engines. Callers test them with errors.Is.
var (
	// ErrNotFound is returned by Get when the key does not exist.
	ErrNotFound = errors.New("storage: not found")
	// ErrClosed is returned by every operation on a closed engine, on a
	// released snapshot, and by the iterators of a closed engine.
	ErrClosed = errors.New("storage: closed")
	// ErrNewerLayout is returned by Open when the directory was written by a newer,
	// unknown on-disk layout. The engine refuses to touch it.
	ErrNewerLayout = errors.New("storage: data directory was written by a newer layout version")
	// ErrUnknownEngine is returned by Open for an engine name it does not know.
	ErrUnknownEngine = errors.New("storage: unknown engine")
)

// LayoutVersion is the on-disk layout version written by this build. An engine
// refuses to open data written with a larger version.
const LayoutVersion uint32 = 1

// Reader is the read side shared by engines and snapshots.
type Reader interface {
	// Get returns the value stored under key, or ErrNotFound. The returned slice
	// belongs to the caller.
	Get(key []byte) ([]byte, error)
	// NewIterator returns an iterator over keys in [start, end) in ascending
	// byte order. A nil start means from the first key, a nil end means to the
	// last key. The iterator must be closed.
	NewIterator(start, end []byte) Iterator
}

// HeadBytes is the longest value prefix GetHead serves from the read cache
// without the rest of the value: the state machine's record header (type,
// expiry, version) is at most 17 bytes.
const HeadBytes = 24

// headReader is implemented by the engine layers that can read the start of
// a value more cheaply than all of it (Cached, WriteBehind).
type headReader interface {
	getHead(key []byte, n int) ([]byte, error)
}

// GetHead returns the start of the value stored under key, at least its
// first min(n, len(value)) bytes and possibly all of it, or ErrNotFound. The
// returned slice belongs to the caller. For a caller that needs only a
// value's header (a write deciding whether the key existed, and its expiry),
// the read cache can answer after it has dropped the value itself to make
// room; other readers read the whole value.
func GetHead(r Reader, key []byte, n int) ([]byte, error) {
	if h, ok := r.(headReader); ok && n <= HeadBytes {
		return h.getHead(key, n)
	}
	return r.Get(key)
}

// Engine is what the state machine needs from a storage engine.
type Engine interface {
	Reader
	// Write applies b atomically (all or nothing) and records appliedIndex with it
	// in the same atomic write. An empty batch still records the index. Durable
	// engines have the write on stable storage (fsync) when Write returns. The
	// engine copies what it keeps: the caller may reuse b's buffers afterwards.
	Write(b *Batch, appliedIndex uint64) error
	// AppliedIndex returns the index recorded by the last successful Write or
	// Replace (0 for a new engine).
	AppliedIndex() (uint64, error)
	// Snapshot returns a point-in-time view; writes made after it are not in it.
	// It is cheap to take and must be released.
	Snapshot() (Snapshot, error)
	// Replace atomically replaces the whole content of the engine with the pairs
	// src yields (in ascending key order) and records appliedIndex. If src
	// reports an error the old content is left exactly as it was, also across a
	// crash. Writes made while Replace runs may be discarded by it. Snapshots and
	// iterators opened before Replace keep seeing the old content.
	Replace(src Source, appliedIndex uint64) error
	// Close releases the engine. Durable engines keep their data for the next
	// Open. Snapshots and iterators still open report ErrClosed afterwards.
	// Close is idempotent.
	Close() error
}

// Snapshot is a point-in-time, read-only view of an engine.
type Snapshot interface {
	Reader
	// AppliedIndex is the applied index recorded at the time of the snapshot.
	AppliedIndex() uint64
	// Release frees the snapshot. It is safe to call more than once. Iterators
	// already opened on the snapshot stay usable until they are closed.
	Release()
}

// Source yields key/value pairs, in ascending key order, for Replace.
type Source interface {
	// Next advances to the next pair and reports whether there is one.
	Next() bool
	// Key and Value are valid until the next call to Next.
	Key() []byte
	Value() []byte
	// Err reports the error that ended iteration early, if any.
	Err() error
}

// Iterator walks keys in ascending order. Key and Value are valid until the next
// call to Next; copy them to keep them, and do not modify them. An iterator is
// a point-in-time view and is not safe for concurrent use.
type Iterator interface {
	Source
	Close() error
}

// OpKind is the kind of one batch operation.
type OpKind uint8

// Batch operation kinds.
const (
	OpPut OpKind = iota + 1
	OpDelete
)

// Op is one operation in a Batch.
type Op struct {
	Kind  OpKind
	Key   []byte
	Value []byte
}

// Batch collects puts and deletes to apply atomically. Later operations on the
// same key win. A Batch is not safe for concurrent use.
type Batch struct {
	ops []Op
}

// Put records a put. The batch keeps key and value; the caller must not modify them.
func (b *Batch) Put(key, value []byte) {
	b.ops = append(b.ops, Op{Kind: OpPut, Key: key, Value: value})
}

// Delete records a delete of key.
func (b *Batch) Delete(key []byte) {
	b.ops = append(b.ops, Op{Kind: OpDelete, Key: key})
}

// Len is the number of operations in the batch.
func (b *Batch) Len() int { return len(b.ops) }

// Ops returns the operations in the order they were added. The slice is the
// batch's own; do not modify it.
func (b *Batch) Ops() []Op { return b.ops }

// Reset empties the batch for reuse.
func (b *Batch) Reset() {
	clear(b.ops)
	b.ops = b.ops[:0]
}
