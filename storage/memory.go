package storage

import (
	"bytes"
	"sync"
	"sync/atomic"

	"github.com/google/btree"
)

// memDegree is the B-tree degree of the memory engine. 32 keeps nodes around a
// cache line multiple while keeping copy-on-write copies after a snapshot small.
const memDegree = 32

// memChunk is how many items an in-memory iterator fetches from the tree at a time.
const memChunk = 128

// memItem is one key/value pair of the memory engine. Both slices are owned by
// the engine and never modified after insertion.
type memItem struct {
	key   []byte
	value []byte
}

func memLess(a, b memItem) bool { return bytes.Compare(a.key, b.key) < 0 }

// Memory is an ordered, non-durable engine kept in a copy-on-write B-tree.
// Snapshots are O(1) lazy clones of the tree: the first writes after a snapshot
// copy the nodes they touch, and the snapshot keeps the old ones. Memory is safe
// for concurrent use. Its content is lost on Close.
type Memory struct {
	mu      sync.RWMutex
	tree    *btree.BTreeG[memItem]
	applied uint64
	closed  atomic.Bool
}

var _ Engine = (*Memory)(nil)

// NewMemory returns an empty memory engine.
func NewMemory() *Memory {
	return &Memory{tree: btree.NewG(memDegree, memLess)}
}

// Get returns a copy of the value stored under key, or ErrNotFound.
func (m *Memory) Get(key []byte) ([]byte, error) {
	m.mu.RLock()
	if m.closed.Load() {
		m.mu.RUnlock()
		return nil, ErrClosed
	}
	it, ok := m.tree.Get(memItem{key: key})
	m.mu.RUnlock()
	if !ok {
		return nil, ErrNotFound
	}
	return bytes.Clone(it.value), nil
}

// NewIterator returns an iterator over a point-in-time view of [start, end).
func (m *Memory) NewIterator(start, end []byte) Iterator {
	m.mu.Lock()
	if m.closed.Load() {
		m.mu.Unlock()
		return &errIterator{err: ErrClosed}
	}
	t := m.tree.Clone()
	m.mu.Unlock()
	return newMemIterator(t, start, end, &m.closed)
}

// Write applies b and records appliedIndex atomically. Keys and values are
// copied, so the caller may reuse the batch's buffers afterwards.
func (m *Memory) Write(b *Batch, appliedIndex uint64) error {
	for i, op := range b.ops { // validate first: a batch is all or nothing
		if op.Kind != OpPut && op.Kind != OpDelete {
			return errOpKind(i, op.Kind)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed.Load() {
		return ErrClosed
	}
	for _, op := range b.ops {
		switch op.Kind {
		case OpPut:
			m.tree.ReplaceOrInsert(newMemItem(op.Key, op.Value))
		case OpDelete:
			m.tree.Delete(memItem{key: op.Key})
		}
	}
	m.applied = appliedIndex
	return nil
}

// newMemItem copies key and value into one allocation.
func newMemItem(key, value []byte) memItem {
	buf := make([]byte, len(key)+len(value))
	n := copy(buf, key)
	copy(buf[n:], value)
	return memItem{key: buf[:n:n], value: buf[n:]}
}

// AppliedIndex returns the index recorded by the last Write or Replace.
func (m *Memory) AppliedIndex() (uint64, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed.Load() {
		return 0, ErrClosed
	}
	return m.applied, nil
}

// Snapshot returns a point-in-time view. Taking it is O(1).
func (m *Memory) Snapshot() (Snapshot, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed.Load() {
		return nil, ErrClosed
	}
	return &memSnapshot{tree: m.tree.Clone(), applied: m.applied, engineClosed: &m.closed}, nil
}

// Replace builds a new tree from src and swaps it in only if src ends without
// an error. Writes made while src is being read are discarded by the swap.
func (m *Memory) Replace(src Source, appliedIndex uint64) error {
	if m.closed.Load() {
		return ErrClosed
	}
	t := btree.NewG(memDegree, memLess)
	for src.Next() {
		t.ReplaceOrInsert(newMemItem(src.Key(), src.Value()))
	}
	if err := src.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed.Load() {
		return ErrClosed
	}
	m.tree = t
	m.applied = appliedIndex
	return nil
}

// Close drops the content. Later calls on the engine, its snapshots and its
// iterators return ErrClosed. Close is idempotent.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed.Store(true)
	m.tree = btree.NewG(memDegree, memLess)
	return nil
}

// memSnapshot is a lazy clone of the engine's tree.
type memSnapshot struct {
	mu           sync.RWMutex
	tree         *btree.BTreeG[memItem] // nil once released
	applied      uint64
	engineClosed *atomic.Bool
}

func (s *memSnapshot) Get(key []byte) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.tree == nil || s.engineClosed.Load() {
		return nil, ErrClosed
	}
	it, ok := s.tree.Get(memItem{key: key})
	if !ok {
		return nil, ErrNotFound
	}
	return bytes.Clone(it.value), nil
}

func (s *memSnapshot) NewIterator(start, end []byte) Iterator {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.tree == nil || s.engineClosed.Load() {
		return &errIterator{err: ErrClosed}
	}
	// The snapshot's tree is never written, so iterators may share it. They
	// stay usable after Release, until closed or until the engine is closed.
	return newMemIterator(s.tree, start, end, s.engineClosed)
}

func (s *memSnapshot) AppliedIndex() uint64 { return s.applied }

func (s *memSnapshot) Release() {
	s.mu.Lock()
	s.tree = nil
	s.mu.Unlock()
}

// memIterator walks an immutable tree in chunks, so that no goroutine or
// callback is left suspended between calls to Next.
type memIterator struct {
	tree         *btree.BTreeG[memItem]
	end          []byte
	from         []byte // next chunk starts at the first key >= from (or > from if exclusive)
	exclusive    bool
	buf          []memItem
	pos          int
	done         bool
	engineClosed *atomic.Bool
	err          error
	cur          memItem
}

func newMemIterator(t *btree.BTreeG[memItem], start, end []byte, engineClosed *atomic.Bool) *memIterator {
	return &memIterator{
		tree:         t,
		end:          end,
		from:         start,
		engineClosed: engineClosed,
		pos:          -1,
	}
}

func (it *memIterator) Next() bool {
	if it.err != nil || it.tree == nil {
		return false
	}
	if it.engineClosed.Load() {
		it.err = ErrClosed
		return false
	}
	it.pos++
	if it.pos >= len(it.buf) {
		if it.done {
			it.cur = memItem{}
			return false
		}
		it.fill()
		if len(it.buf) == 0 {
			it.cur = memItem{}
			return false
		}
	}
	it.cur = it.buf[it.pos]
	return true
}

func (it *memIterator) fill() {
	clear(it.buf)
	it.buf = it.buf[:0]
	it.pos = 0
	visit := func(i memItem) bool {
		if it.exclusive && bytes.Equal(i.key, it.from) {
			return true
		}
		if it.end != nil && bytes.Compare(i.key, it.end) >= 0 {
			it.done = true
			return false
		}
		it.buf = append(it.buf, i)
		return len(it.buf) < memChunk
	}
	if it.from == nil {
		it.tree.Ascend(visit)
	} else {
		it.tree.AscendGreaterOrEqual(memItem{key: it.from}, visit)
	}
	if len(it.buf) < memChunk {
		it.done = true
	}
	if n := len(it.buf); n > 0 {
		it.from = it.buf[n-1].key
		it.exclusive = true
	}
}

func (it *memIterator) Key() []byte   { return it.cur.key }
func (it *memIterator) Value() []byte { return it.cur.value }
func (it *memIterator) Err() error    { return it.err }

func (it *memIterator) Close() error {
	it.tree = nil
	it.buf = nil
	it.cur = memItem{}
	return nil
}

// errIterator is an empty iterator that reports err.
type errIterator struct{ err error }

func (it *errIterator) Next() bool    { return false }
func (it *errIterator) Key() []byte   { return nil }
func (it *errIterator) Value() []byte { return nil }
func (it *errIterator) Err() error    { return it.err }
func (it *errIterator) Close() error  { return nil }
