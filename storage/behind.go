package storage

import (
	"slices"
	"strings"
	"sync"
	"unsafe"
)

// DefaultWriteBehindBytes is the write-behind buffer the server gives an engine.
const DefaultWriteBehindBytes = 4 << 20

const (
	// behindEntryOverhead approximates the memory of one buffered entry
	// beyond its key and value bytes (map slot, headers).
	behindEntryOverhead = 48
	// behindChunk is the size of the buffers keys and values are copied into;
	// larger values get their own allocation.
	behindChunk = 256 << 10
)

// WriteBehind wraps e so that Write returns once the batch is in memory: the
// buffered writes reach e in the background, sorted by key, in one e.Write of
// many batches once they hold maxBytes. Reads see buffered writes at once.
//
// A random insert into goleveldb's memtable costs a few microseconds of cache
// misses, and the state machine used to pay it on every applied command,
// inside the Raft commit cycle a client waits for. Buffered, a command costs a
// map insert; the flush inserts keys in order (neighbouring keys share their
// search path) and writes a key overwritten within the window once.
//
// The price is durability of the most recent writes, which under Raft is
// already paid elsewhere: a crash loses the buffer, never part of one Write
// (each flush is one atomic e.Write recording the index of the last Write it
// holds), so AppliedIndex after a restart names what e really holds and the
// log entries after it are applied again. Snapshot, NewIterator (when the
// buffer holds keys in its range), Replace and Close write the buffer to e
// first, so they see every Write before them. A failed background write is
// returned by every later Write, Snapshot and iterator.
func WriteBehind(e Engine, maxBytes int64) Engine {
	if maxBytes <= 0 {
		return e
	}
	return &behindEngine{eng: e, max: maxBytes, active: newOverlay(0)}
}

type behindEngine struct {
	eng Engine
	max int64

	mu     sync.RWMutex
	active *overlay // receives Writes
	// frozen is being written to eng by a background flush (nil when none);
	// flushed is closed when that ends.
	frozen  *overlay
	flushed chan struct{}
	err     error // a failed flush; the node must stop
	closed  bool
	batch   Batch // reused by flushes, which never run concurrently
}

// overlay is one window of buffered writes.
type overlay struct {
	m      map[string]overlayEntry
	chunk  []byte // current copy buffer; keys and values point into chunks
	bytes  int64
	idx    uint64 // index of the last Write in the window
	wrote  bool   // a Write (possibly empty) is in the window
	starts [4]uint64
}

type overlayEntry struct {
	val []byte // nil for a delete
	del bool
}

// newOverlay returns an empty window sized for hint entries.
func newOverlay(hint int) *overlay { return &overlay{m: make(map[string]overlayEntry, hint)} }

// copyBytes copies b into the overlay's buffers. The copy is never nil.
func (o *overlay) copyBytes(b []byte) []byte {
	if len(b) > behindChunk/8 {
		return append(make([]byte, 0, len(b)), b...)
	}
	if cap(o.chunk)-len(o.chunk) < len(b) || o.chunk == nil {
		o.chunk = make([]byte, 0, behindChunk)
	}
	n := len(o.chunk)
	o.chunk = append(o.chunk, b...)
	return o.chunk[n:len(o.chunk):len(o.chunk)]
}

// mark records the first byte of key (0 for the empty key, which sorts first).
func (o *overlay) mark(key []byte) {
	var c byte
	if len(key) > 0 {
		c = key[0]
	}
	o.starts[c/64] |= 1 << (c % 64)
}

// mayHold reports whether the overlay may hold a key in [start, end).
func (o *overlay) mayHold(start, end []byte) bool {
	if len(o.m) == 0 {
		return false
	}
	lo, hi := 0, 255
	if len(start) > 0 {
		lo = int(start[0])
	}
	if end != nil {
		if len(end) == 0 {
			return false
		}
		hi = int(end[0])
	}
	for c := lo; c <= hi; c++ {
		if o.starts[c/64]&(1<<(c%64)) != 0 {
			return true
		}
	}
	return false
}

func (o *overlay) get(key []byte) (overlayEntry, bool) {
	e, ok := o.m[string(key)]
	return e, ok
}

// Write buffers b and records appliedIndex with it.
func (w *behindEngine) Write(b *Batch, appliedIndex uint64) error {
	for i, op := range b.ops {
		if op.Kind != OpPut && op.Kind != OpDelete {
			return errOpKind(i, op.Kind)
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	if w.err != nil {
		return w.err
	}
	o := w.active
	for _, op := range b.ops {
		k := o.copyBytes(op.Key)
		e := overlayEntry{del: op.Kind == OpDelete}
		if !e.del {
			e.val = o.copyBytes(op.Value)
		}
		o.m[unsafe.String(unsafe.SliceData(k), len(k))] = e
		o.mark(k)
		o.bytes += int64(len(k) + len(e.val) + behindEntryOverhead)
	}
	o.idx, o.wrote = appliedIndex, true
	if o.bytes < w.max {
		return nil
	}
	// Hand the window to a background flush; wait for the previous one
	// first, so at most two windows are in memory.
	if err := w.waitFlushLocked(); err != nil {
		return err
	}
	if w.closed || w.active.bytes < w.max {
		// While this Write waited, Close or another Write wrote the window.
		return nil
	}
	w.frozen, w.active = w.active, newOverlay(len(w.active.m))
	w.flushed = make(chan struct{})
	go w.flush(w.frozen, w.flushed)
	return nil
}

// flush writes o to the engine in the background.
func (w *behindEngine) flush(o *overlay, done chan struct{}) {
	err := w.writeOverlay(o)
	w.mu.Lock()
	if err != nil {
		// Keep serving the window from memory; every later Write fails.
		w.err = err
	} else {
		w.frozen = nil
	}
	close(done)
	w.mu.Unlock()
}

// writeOverlay writes o to the engine as one batch, keys in order.
func (w *behindEngine) writeOverlay(o *overlay) error {
	keys := make([]string, 0, len(o.m))
	for k := range o.m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b := &w.batch
	for _, k := range keys {
		e := o.m[k]
		kb := unsafe.Slice(unsafe.StringData(k), len(k))
		if e.del {
			b.Delete(kb)
		} else {
			b.Put(kb, e.val)
		}
	}
	err := w.eng.Write(b, o.idx)
	b.Reset()
	if cap(b.ops) > 1<<16 {
		b.ops = nil
	}
	return err
}

// waitFlushLocked waits, with w.mu held on entry and on return, until no
// background flush runs.
func (w *behindEngine) waitFlushLocked() error {
	for w.frozen != nil && w.err == nil {
		ch := w.flushed
		w.mu.Unlock()
		<-ch
		w.mu.Lock()
	}
	return w.err
}

// settleLocked writes every buffered Write to the engine if the buffers may
// hold a key in [start, end), or always if all is set (so the engine also
// records the index of the last Write). Called with w.mu held.
func (w *behindEngine) settleLocked(start, end []byte, all bool) error {
	if w.closed {
		return ErrClosed
	}
	if w.err != nil {
		return w.err
	}
	need := w.active.mayHold(start, end) || (w.frozen != nil && w.frozen.mayHold(start, end))
	if all {
		need = w.active.wrote || w.frozen != nil
	}
	if !need {
		return nil
	}
	if err := w.waitFlushLocked(); err != nil {
		return err
	}
	if w.closed {
		return ErrClosed
	}
	if !w.active.wrote {
		return nil
	}
	if err := w.writeOverlay(w.active); err != nil {
		w.err = err
		return err
	}
	w.active = newOverlay(0)
	return nil
}

// Get reads buffered writes first, then the engine.
func (w *behindEngine) Get(key []byte) ([]byte, error) {
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return nil, ErrClosed
	}
	e, ok := w.active.get(key)
	if !ok && w.frozen != nil {
		e, ok = w.frozen.get(key)
	}
	w.mu.RUnlock()
	if !ok {
		return w.eng.Get(key)
	}
	if e.del {
		return nil, ErrNotFound
	}
	return append(make([]byte, 0, len(e.val)), e.val...), nil
}

// maxMergedEntries is the most buffered entries an iterator merges with the
// engine's; an iterator over a range holding more writes the buffer to the
// engine first (work a flush would do anyway).
const maxMergedEntries = 1024

// NewIterator iterates the engine with the buffered entries in [start, end)
// laid over it.
func (w *behindEngine) NewIterator(start, end []byte) Iterator {
	w.mu.RLock()
	if w.closed || w.err != nil {
		err := w.err
		if w.closed {
			err = ErrClosed
		}
		w.mu.RUnlock()
		return &errIterator{err: err}
	}
	ents, ok := w.bufferedRange(start, end)
	if ok {
		// Under the read lock no Write lands between the buffer's view and
		// the engine's; a background flush may, but it writes only keys
		// the view already holds, with the same values.
		it := w.eng.NewIterator(start, end)
		w.mu.RUnlock()
		if len(ents) == 0 {
			return it
		}
		return &mergedIterator{w: w, eng: it, ents: ents, engPending: true}
	}
	w.mu.RUnlock()
	w.mu.Lock()
	err := w.settleLocked(start, end, false)
	w.mu.Unlock()
	if err != nil {
		return &errIterator{err: err}
	}
	return w.eng.NewIterator(start, end)
}

type bufferedEntry struct {
	key string
	overlayEntry
}

// bufferedRange returns the buffered entries in [start, end) in key order,
// the newer window's winning, or false if there are more than
// maxMergedEntries. Called with w.mu held.
func (w *behindEngine) bufferedRange(start, end []byte) ([]bufferedEntry, bool) {
	var ents []bufferedEntry
	for _, o := range [2]*overlay{w.active, w.frozen} {
		if o == nil || !o.mayHold(start, end) {
			continue
		}
		for k, e := range o.m {
			if k < string(start) || (end != nil && k >= string(end)) {
				continue
			}
			if o != w.active {
				if _, newer := w.active.m[k]; newer {
					continue
				}
			}
			if len(ents) == maxMergedEntries {
				return nil, false
			}
			ents = append(ents, bufferedEntry{key: k, overlayEntry: e})
		}
	}
	slices.SortFunc(ents, func(a, b bufferedEntry) int { return strings.Compare(a.key, b.key) })
	return ents, true
}

// mergedIterator lays sorted buffered entries over an engine iterator: a
// buffered put replaces or adds a pair, a buffered delete hides one.
type mergedIterator struct {
	w          *behindEngine
	eng        Iterator
	ents       []bufferedEntry
	i          int
	engOK      bool // eng is on a pair not yet passed
	engPending bool // eng must advance before it is looked at
	key, val   []byte
	err        error
}

func (m *mergedIterator) Next() bool {
	if m.err != nil {
		return false
	}
	if m.w.isClosed() {
		m.err = ErrClosed
		return false
	}
	if m.engPending {
		m.engPending = false
		if m.engOK = m.eng.Next(); !m.engOK && m.eng.Err() != nil {
			return false
		}
	}
	for m.i < len(m.ents) {
		e := m.ents[m.i]
		if m.engOK {
			c := strings.Compare(e.key, string(m.eng.Key()))
			if c > 0 {
				break
			}
			if c == 0 {
				if m.engOK = m.eng.Next(); !m.engOK && m.eng.Err() != nil {
					return false
				}
			}
		}
		m.i++
		if e.del {
			continue
		}
		m.key, m.val = unsafe.Slice(unsafe.StringData(e.key), len(e.key)), e.val
		return true
	}
	if !m.engOK {
		m.key, m.val = nil, nil
		return false
	}
	m.key, m.val = m.eng.Key(), m.eng.Value()
	m.engPending = true
	return true
}

func (m *mergedIterator) Key() []byte   { return m.key }
func (m *mergedIterator) Value() []byte { return m.val }

func (m *mergedIterator) Err() error {
	if m.err != nil {
		return m.err
	}
	return m.eng.Err()
}

func (m *mergedIterator) Close() error { return m.eng.Close() }

func (w *behindEngine) isClosed() bool {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.closed
}

// Snapshot writes the buffer to the engine and snapshots the engine.
func (w *behindEngine) Snapshot() (Snapshot, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.settleLocked(nil, nil, true); err != nil {
		return nil, err
	}
	return w.eng.Snapshot()
}

// AppliedIndex is the index of the last Write, buffered or not.
func (w *behindEngine) AppliedIndex() (uint64, error) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		return 0, ErrClosed
	}
	if w.active.wrote {
		return w.active.idx, nil
	}
	if w.frozen != nil {
		return w.frozen.idx, nil
	}
	return w.eng.AppliedIndex()
}

// Replace writes the buffer to the engine (so a failed Replace leaves every
// earlier Write in place) and replaces the engine's content.
func (w *behindEngine) Replace(src Source, appliedIndex uint64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.settleLocked(nil, nil, true); err != nil {
		return err
	}
	return w.eng.Replace(src, appliedIndex)
}

// Close writes the buffer to the engine and closes it.
func (w *behindEngine) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	err := w.settleLocked(nil, nil, true)
	w.closed = true
	if cerr := w.eng.Close(); err == nil {
		err = cerr
	}
	return err
}
