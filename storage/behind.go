package storage

import (
	"encoding/binary"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/riot-kv/riot-redis/internal/background"
)

// DefaultWriteBehindBytes is the write-behind buffer the server gives an
// engine. Larger windows write a key overwritten within one once and take
// fewer, larger engine batches: against 4 MiB, 32 MiB gave 20% more
// throughput under a steady SET -P 16 load over 100,000 keys, and 30% with
// 1 KiB values (docs/performance.md). The cost is memory (two windows) and
// the Raft log a node re-applies after a crash.
const DefaultWriteBehindBytes = 32 << 20

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
// log entries after it are applied again. Snapshots and iterators lay the
// buffer over e's state; Replace and Close write it to e first. A failed
// background write is returned by every later Write, Snapshot and iterator.
func WriteBehind(e Engine, maxBytes int64) Engine {
	if maxBytes <= 0 {
		return e
	}
	w := &behindEngine{eng: e, max: maxBytes, active: newOverlay(0), now: time.Now}
	w.cond.L = &w.mu
	return w
}

// maxFrozen is how many full windows may wait for the background flush
// before a Write that fills another one waits.
const maxFrozen = 1

type behindEngine struct {
	eng Engine
	max int64

	mu     sync.RWMutex
	cond   sync.Cond // on mu (write side): the flush queue shrank or failed
	active *overlay  // receives Writes
	// frozen are the windows waiting for, or in, the background flush,
	// oldest first; flushing is set while the flush goroutine runs.
	frozen   []*overlay
	flushing bool
	err      error       // a failed flush; the node must stop
	closed   atomic.Bool // read without mu by iterators, which may run under it (Replace from a snapshot)
	batch    Batch       // reused by flushes, which never run concurrently
	// Of the windows written to the engine (for Stats): how many, and how
	// long the last took. Set under mu.
	flushes   uint64
	lastFlush time.Duration
	// Writes that filled a window while maxFrozen others were queued, and
	// the time they waited for the flush.
	stalls  uint64
	stalled time.Duration
	// frozeAt is when the last full window was queued; hurry is set from a
	// stall until a window fills slowly; urgent counts the flushes that ran
	// at the process's priority (see freezeLocked).
	frozeAt time.Time
	hurry   bool
	urgent  uint64
	now     func() time.Time // time.Now; tests set their own clock
}

// overlay is one window of buffered writes.
type overlay struct {
	m      map[string]overlayEntry
	chunk  []byte // current copy buffer; keys and values point into chunks
	bytes  int64
	idx    uint64 // index of the last Write in the window
	wrote  bool   // a Write (possibly empty) is in the window
	starts [4]uint64
	urgent bool // flush it at the process's priority (see freezeLocked)

	// sorted is the window's entries in key order, built once the window is
	// frozen, by the first of the flush and an iterator to need it.
	sortOnce sync.Once
	sorted   []sortedEntry
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
	if err := w.usableLocked(); err != nil {
		return err
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
	// Hand the window to the background flush; with maxFrozen windows
	// already waiting, wait first, so memory stays bounded.
	full := o
	if len(w.frozen) >= maxFrozen {
		began := time.Now()
		for len(w.frozen) >= maxFrozen && w.err == nil && !w.closed.Load() && w.active == full {
			w.cond.Wait()
		}
		w.stalls++
		w.stalled += time.Since(began)
		w.hurry = true
	}
	if w.err != nil {
		return w.err
	}
	if w.closed.Load() || w.active != full {
		// While this Write waited, Close or another caller took the window.
		return nil
	}
	w.freezeLocked()
	return nil
}

// slowFill is how many times the last flush's duration a full window must
// take to fill for the writes to count as slower than the flush again (see
// freezeLocked).
const slowFill = 2

// freezeLocked queues the active window for the background flush and starts
// a new one. Called with w.mu held.
//
// The flush holds a core for up to a second, and no client waits for it, so
// it runs at a lower priority than the commit path (see package background).
// But a Write that fills the next window while one is still queued waits for
// the flush, and with it every client, while the flush gets a tenth of a busy
// core: under a sustained stream of large values the flush, not the commit
// path, is what clients wait for. So after such a stall, the flushes of full
// windows run at the process's priority, until a window takes slowFill times
// the last flush's duration to fill. Guessing from the fill rate alone, before
// any stall, also hurried flushes that would have kept up (64 B SET -P 16).
func (w *behindEngine) freezeLocked() {
	o := w.active
	if o.bytes >= w.max {
		now := w.now()
		if w.hurry && !w.frozeAt.IsZero() && now.Sub(w.frozeAt) >= slowFill*w.lastFlush {
			w.hurry = false
		}
		o.urgent = w.hurry
		w.frozeAt = now
	}
	w.frozen = append(w.frozen, o)
	w.active = newOverlay(len(o.m))
	if !w.flushing {
		w.flushing = true
		w.startFlushLocked()
	}
}

// startFlushLocked starts a thread to flush the oldest frozen window, at the
// priority that window asks for. Called with w.mu held and w.flushing set.
func (w *behindEngine) startFlushLocked() {
	if w.frozen[0].urgent {
		w.urgent++
		background.Urgent(w.flushOne)
		return
	}
	background.Go(w.flushOne)
}

// flushOne writes the oldest frozen window to the engine, then starts the
// flush of the next one, if any, on a thread of its own.
func (w *behindEngine) flushOne() {
	w.mu.Lock()
	defer w.mu.Unlock()
	o := w.frozen[0]
	w.mu.Unlock()
	took, err := w.writeOverlay(o)
	w.mu.Lock()
	if err != nil {
		// Keep serving the window from memory; every later Write fails.
		w.err = err
		w.flushing = false
		w.cond.Broadcast()
		return
	}
	w.frozen[0] = nil
	w.frozen = w.frozen[1:]
	w.flushedLocked(took)
	if len(w.frozen) > 0 {
		w.startFlushLocked()
	} else {
		w.flushing = false
	}
	w.cond.Broadcast()
}

// flushedLocked counts a window written to the engine in took. Called with
// w.mu held.
func (w *behindEngine) flushedLocked(took time.Duration) {
	w.flushes++
	w.lastFlush = took
}

// writeOverlay writes o to the engine as one batch, keys in order, and
// returns how long that took. o must not change any more.
func (w *behindEngine) writeOverlay(o *overlay) (time.Duration, error) {
	began := w.now()
	b := &w.batch
	for _, x := range o.sortedView() {
		kb := unsafe.Slice(unsafe.StringData(x.k), len(x.k))
		if x.e.del {
			b.Delete(kb)
		} else {
			b.Put(kb, x.e.val)
		}
	}
	err := w.eng.Write(b, o.idx)
	b.Reset()
	if cap(b.ops) > 1<<16 {
		b.ops = nil
	}
	return w.now().Sub(began), err
}

// sortedView returns o's entries in key order. o must not change any more
// (a frozen window, or the active one under w.mu as it is written); the
// order is built once and shared by the flush and every iterator.
func (o *overlay) sortedView() []sortedEntry {
	o.sortOnce.Do(func() {
		all := make([]sortedEntry, 0, len(o.m))
		for k, e := range o.m {
			all = append(all, sortedEntry{k: k, e: e})
		}
		o.sorted = make([]sortedEntry, len(all))
		for i, sk := range sortEntries(all) {
			o.sorted[i] = all[sk.i]
		}
	})
	return o.sorted
}

// sortedRange returns o's entries in [start, end) in key order (end nil: no
// bound). o must not change any more.
func (o *overlay) sortedRange(start, end []byte) []sortedEntry {
	es := o.sortedView()
	lo, _ := slices.BinarySearchFunc(es, start, func(x sortedEntry, k []byte) int { return strings.Compare(x.k, string(k)) })
	hi := len(es)
	if end != nil {
		hi, _ = slices.BinarySearchFunc(es, end, func(x sortedEntry, k []byte) int { return strings.Compare(x.k, string(k)) })
	}
	return es[lo:max(lo, hi)]
}

// sortedEntry is a buffered entry on its way to the engine.
type sortedEntry struct {
	k string
	e overlayEntry
}

// sortKey is an entry's place in a window's entries and its key's sort
// prefix (see sortEntries).
type sortKey struct {
	pfx uint64
	i   int
}

// sortEntries returns the order of es by key, which must be distinct.
//
// Keys fall into groups by their first byte (the state machine's namespaces:
// records, the hash index, its bookkeeping), and the keys of a group usually
// share a long prefix (the namespace, then the client's, like "key:0000"),
// which every string comparison would walk again. So each key gets a 64-bit
// integer: its first byte, then the 7 bytes after the prefix its group
// shares, big-endian and zero-padded, which keeps the order. The integers are
// radix-sorted, a byte at a time (bytes that are the same in every key, like
// most of a decimal number's, are skipped), and only keys whose integers tie
// are compared whole. A window of about 30,000 keys sorts in about a fifth of
// the time a comparison sort takes (BenchmarkSortEntries).
func sortEntries(es []sortedEntry) []sortKey {
	n := len(es)
	order := make([]sortKey, n)
	// first[g] is the index+1 of the first key starting with byte g, and
	// shared[g] the length of the prefix those keys share. The empty key
	// (there is at most one) gets integer 0 and sorts first on its tie.
	var first, shared [256]int
	for i := range es {
		k := es[i].k
		if len(k) == 0 {
			continue
		}
		g := k[0]
		if first[g] == 0 {
			first[g], shared[g] = i+1, len(k)
			continue
		}
		ref := es[first[g]-1].k
		m := min(shared[g], len(k))
		j := 1
		for j < m && k[j] == ref[j] {
			j++
		}
		shared[g] = j
	}
	var counts [8][256]int
	for i := range es {
		k := es[i].k
		var pfx uint64
		if len(k) > 0 {
			var buf [8]byte
			buf[0] = k[0]
			copy(buf[1:], k[shared[k[0]]:])
			pfx = binary.BigEndian.Uint64(buf[:])
		}
		order[i] = sortKey{pfx: pfx, i: i}
		for b := range 8 {
			counts[b][byte(pfx>>(8*b))]++
		}
	}
	tmp := make([]sortKey, n)
	for b := range 8 {
		c := &counts[b]
		if n == 0 || c[byte(order[0].pfx>>(8*b))] == n {
			continue // every key has the same byte here
		}
		at := 0
		for v := range c {
			at, c[v] = at+c[v], at
		}
		for _, sk := range order {
			v := byte(sk.pfx >> (8 * b))
			tmp[c[v]] = sk
			c[v]++
		}
		order, tmp = tmp, order
	}
	for lo := 0; lo < n; {
		hi := lo + 1
		for hi < n && order[hi].pfx == order[lo].pfx {
			hi++
		}
		if hi-lo > 1 {
			slices.SortFunc(order[lo:hi], func(a, b sortKey) int {
				return strings.Compare(es[a.i].k, es[b.i].k)
			})
		}
		lo = hi
	}
	return order
}

// waitFlushLocked waits, with w.mu held on entry and on return, until the
// background flush has written every frozen window or failed.
func (w *behindEngine) waitFlushLocked() error {
	for w.flushing && w.err == nil {
		w.cond.Wait()
	}
	return w.err
}

// settleLocked writes every buffered Write to the engine (so the engine also
// records the index of the last Write). Called with w.mu held.
func (w *behindEngine) settleLocked() error {
	if err := w.usableLocked(); err != nil {
		return err
	}
	if !w.active.wrote && len(w.frozen) == 0 {
		return nil
	}
	if err := w.waitFlushLocked(); err != nil {
		return err
	}
	if w.closed.Load() {
		return ErrClosed
	}
	if !w.active.wrote {
		return nil
	}
	took, err := w.writeOverlay(w.active)
	if err != nil {
		w.err = err
		w.cond.Broadcast()
		return err
	}
	w.flushedLocked(took)
	w.active = newOverlay(0)
	return nil
}

// bufferedGet looks key up in the windows, newest first. Called with w.mu
// held.
func (w *behindEngine) bufferedGet(key []byte) (overlayEntry, bool) {
	if e, ok := w.active.get(key); ok {
		return e, true
	}
	for i := len(w.frozen) - 1; i >= 0; i-- {
		if e, ok := w.frozen[i].get(key); ok {
			return e, true
		}
	}
	return overlayEntry{}, false
}

// layersLocked returns the windows, newest first. Called with w.mu held.
func (w *behindEngine) layersLocked() []*overlay {
	ls := make([]*overlay, 0, 1+len(w.frozen))
	ls = append(ls, w.active)
	for i := len(w.frozen) - 1; i >= 0; i-- {
		ls = append(ls, w.frozen[i])
	}
	return ls
}

// entryValue is what Get answers for a buffered entry.
func entryValue(e overlayEntry) ([]byte, error) {
	if e.del {
		return nil, ErrNotFound
	}
	return append(make([]byte, 0, len(e.val)), e.val...), nil
}

// Get reads buffered writes first, then the engine.
func (w *behindEngine) Get(key []byte) ([]byte, error) {
	return w.get(key, -1)
}

// getHead is Get for at least the first n bytes of the value (see GetHead).
func (w *behindEngine) getHead(key []byte, n int) ([]byte, error) {
	return w.get(key, n)
}

// get reads key from the buffered writes, then the engine: all of the value
// when n < 0, else at least its first n bytes.
func (w *behindEngine) get(key []byte, n int) ([]byte, error) {
	w.mu.RLock()
	if w.closed.Load() {
		w.mu.RUnlock()
		return nil, ErrClosed
	}
	e, ok := w.bufferedGet(key)
	w.mu.RUnlock()
	switch {
	case !ok && n < 0:
		return w.eng.Get(key)
	case !ok:
		return GetHead(w.eng, key, n)
	case !e.del && n >= 0 && n < len(e.val):
		e.val = e.val[:n]
	}
	return entryValue(e)
}

// maxMergedEntries is the most entries an active window may hold for an
// iterator to collect and sort those of its range; an iterator over a range
// a larger active window may hold freezes it first (queues it for the
// flush), so that its entries are sorted once, for the flush and every
// iterator alike, instead of on each iterator. A window frozen before is
// merged from its sorted entries, never written to the engine first: that
// took up to seconds for a large window on a busy machine, and a reader
// holding the state machine's lock held up every apply meanwhile.
const maxMergedEntries = 4096

// NewIterator iterates the engine with the buffered entries in [start, end)
// laid over it.
func (w *behindEngine) NewIterator(start, end []byte) Iterator {
	w.mu.RLock()
	if err := w.usableLocked(); err != nil {
		w.mu.RUnlock()
		return &errIterator{err: err}
	}
	if !w.mustFreezeLocked(start, end) {
		return w.mergedUnlock(start, end, w.mu.RUnlock)
	}
	w.mu.RUnlock()
	w.mu.Lock()
	if err := w.usableLocked(); err != nil {
		w.mu.Unlock()
		return &errIterator{err: err}
	}
	if w.mustFreezeLocked(start, end) {
		w.freezeLocked()
	}
	return w.mergedUnlock(start, end, w.mu.Unlock)
}

// mustFreezeLocked reports whether an iterator over [start, end) should
// freeze the active window rather than sort its entries in the range. Past
// maxFrozen queued windows it does not (each freeze lets Writes fill another
// window, and memory must stay bounded); the iterator then sorts them.
// Called with w.mu held.
func (w *behindEngine) mustFreezeLocked(start, end []byte) bool {
	a := w.active
	return len(a.m) > maxMergedEntries && a.mayHold(start, end) && len(w.frozen) <= maxFrozen
}

// usableLocked returns why w cannot be used, if it cannot: it is closed, or a
// flush failed. Called with w.mu held.
func (w *behindEngine) usableLocked() error {
	if w.closed.Load() {
		return ErrClosed
	}
	return w.err
}

// mergedUnlock returns an iterator over [start, end) laying the windows over
// the engine. Called with w.mu held; unlock releases it once the engine's
// view and the windows' are taken together (no Write lands between them; a
// background flush may, but it writes only entries the windows hold, with
// the same values). Frozen windows are sorted after that, outside the lock.
func (w *behindEngine) mergedUnlock(start, end []byte, unlock func()) Iterator {
	act := w.active.collectRange(start, end)
	frozen := w.layersLocked()[1:]
	eng := w.eng.NewIterator(start, end)
	unlock()
	return newMerged(w, eng, act, frozen, start, end)
}

// collectRange returns the entries of the active window o in [start, end),
// sorted. Called with the owner's w.mu held.
func (o *overlay) collectRange(start, end []byte) []sortedEntry {
	if !o.mayHold(start, end) {
		return nil
	}
	var es []sortedEntry
	for k, e := range o.m {
		if k >= string(start) && (end == nil || k < string(end)) {
			es = append(es, sortedEntry{k: k, e: e})
		}
	}
	slices.SortFunc(es, func(a, b sortedEntry) int { return strings.Compare(a.k, b.k) })
	return es
}

// newMerged lays act (the active window's entries in [start, end), sorted)
// and the frozen windows (newest first) over eng.
func newMerged(w *behindEngine, eng Iterator, act []sortedEntry, frozen []*overlay, start, end []byte) Iterator {
	m := &mergedIterator{w: w, eng: eng, engPending: true}
	if len(act) > 0 {
		m.layers = append(m.layers, layerRange{ents: act})
	}
	for _, o := range frozen {
		if !o.mayHold(start, end) {
			continue
		}
		if r := o.sortedRange(start, end); len(r) > 0 {
			m.layers = append(m.layers, layerRange{ents: r})
		}
	}
	if len(m.layers) == 0 {
		return eng
	}
	return m
}

// layerRange is one window's entries in an iterator's range, in key order,
// and the iterator's place in them.
type layerRange struct {
	ents []sortedEntry
	i    int
}

// mergedIterator lays sorted buffered entries over an engine iterator: a
// buffered put replaces or adds a pair, a buffered delete hides one. Of
// entries for one key in several windows, the newest wins.
type mergedIterator struct {
	w          *behindEngine
	eng        Iterator
	layers     []layerRange // newest window first
	engOK      bool         // eng is on a pair not yet passed
	engPending bool         // eng must advance before it is looked at
	key, val   []byte
	err        error
}

// peek returns the buffered entry with the smallest key not yet passed, the
// newest window's for that key.
func (m *mergedIterator) peek() (sortedEntry, bool) {
	var best *sortedEntry
	for i := range m.layers {
		l := &m.layers[i]
		if l.i < len(l.ents) && (best == nil || l.ents[l.i].k < best.k) {
			best = &l.ents[l.i]
		}
	}
	if best == nil {
		return sortedEntry{}, false
	}
	return *best, true
}

// pass moves every window past key.
func (m *mergedIterator) pass(key string) {
	for i := range m.layers {
		l := &m.layers[i]
		if l.i < len(l.ents) && l.ents[l.i].k == key {
			l.i++
		}
	}
}

func (m *mergedIterator) Next() bool {
	if m.err != nil {
		return false
	}
	if m.w.closed.Load() {
		m.err = ErrClosed
		return false
	}
	if m.engPending {
		m.engPending = false
		if m.engOK = m.eng.Next(); !m.engOK && m.eng.Err() != nil {
			return false
		}
	}
	for {
		e, ok := m.peek()
		if !ok {
			break
		}
		if m.engOK {
			c := strings.Compare(e.k, string(m.eng.Key()))
			if c > 0 {
				break
			}
			if c == 0 {
				if m.engOK = m.eng.Next(); !m.engOK && m.eng.Err() != nil {
					return false
				}
			}
		}
		m.pass(e.k)
		if e.e.del {
			continue
		}
		m.key, m.val = unsafe.Slice(unsafe.StringData(e.k), len(e.k)), e.e.val
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

// Snapshot lays the buffered windows over a snapshot of the engine. It writes
// nothing itself: it queues the active window for the background flush, so
// a Raft snapshot does not hold up applies while a window is written.
func (w *behindEngine) Snapshot() (Snapshot, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usableLocked(); err != nil {
		return nil, err
	}
	if w.active.wrote {
		w.freezeLocked()
	}
	// Under w.mu no flush finishes between the engine's view and the
	// windows': a window is dropped from the queue only after it is in the
	// engine, and one in the engine and still queued reads the same.
	es, err := w.eng.Snapshot()
	if err != nil || len(w.frozen) == 0 {
		return es, err
	}
	ls := w.layersLocked()[1:] // the new active window is empty
	return &behindSnapshot{Snapshot: es, w: w, layers: ls, idx: ls[0].idx}, nil
}

// behindSnapshot is an engine snapshot with buffered windows laid over it.
type behindSnapshot struct {
	Snapshot
	w        *behindEngine
	layers   []*overlay // newest first
	idx      uint64
	released atomic.Bool
}

func (s *behindSnapshot) AppliedIndex() uint64 { return s.idx }

func (s *behindSnapshot) Get(key []byte) ([]byte, error) {
	if s.released.Load() || s.w.closed.Load() {
		return nil, ErrClosed
	}
	for _, o := range s.layers {
		if e, ok := o.get(key); ok {
			return entryValue(e)
		}
	}
	return s.Snapshot.Get(key)
}

func (s *behindSnapshot) NewIterator(start, end []byte) Iterator {
	if s.released.Load() || s.w.closed.Load() {
		return &errIterator{err: ErrClosed}
	}
	return newMerged(s.w, s.Snapshot.NewIterator(start, end), nil, s.layers, start, end)
}

func (s *behindSnapshot) Release() {
	s.released.Store(true)
	s.Snapshot.Release()
}

// AppliedIndex is the index of the last Write, buffered or not.
func (w *behindEngine) AppliedIndex() (uint64, error) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed.Load() {
		return 0, ErrClosed
	}
	if w.active.wrote {
		return w.active.idx, nil
	}
	if n := len(w.frozen); n > 0 {
		return w.frozen[n-1].idx, nil
	}
	return w.eng.AppliedIndex()
}

// Replace writes the buffer to the engine (so a failed Replace leaves every
// earlier Write in place) and replaces the engine's content.
func (w *behindEngine) Replace(src Source, appliedIndex uint64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.settleLocked(); err != nil {
		return err
	}
	return w.eng.Replace(src, appliedIndex)
}

// Close writes the buffer to the engine and closes it.
func (w *behindEngine) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed.Load() {
		return nil
	}
	err := w.settleLocked()
	w.closed.Store(true)
	if cerr := w.eng.Close(); err == nil {
		err = cerr
	}
	return err
}
