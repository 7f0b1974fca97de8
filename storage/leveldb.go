package storage

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/syndtr/goleveldb/leveldb"
	ldberrors "github.com/syndtr/goleveldb/leveldb/errors"
	"github.com/syndtr/goleveldb/leveldb/filter"
	"github.com/syndtr/goleveldb/leveldb/iterator"
	"github.com/syndtr/goleveldb/leveldb/journal"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/util"
)

// Files and directories inside a LevelDB engine directory.
const (
	ldbLiveFile  = "LIVE"  // names the live generation: "data-<n>\n"
	ldbLockFile  = "LOCK"  // flock held while the engine is open
	ldbGenPrefix = "data-" // generation directories: data-1, data-2, ...
)

const (
	// ldbChunkBytes is how much Replace buffers before writing a chunk to the
	// new generation.
	ldbChunkBytes = 8 << 20
	// maxPooledBatch bounds the write batches kept for reuse.
	maxPooledBatch = 1 << 20
)

// Metadata keys of the LevelDB engine, in the meta namespace.
var (
	ldbMetaLayout  = []byte{nsMeta, metaLayout[0]}
	ldbMetaApplied = []byte{nsMeta, metaApplied[0]}
)

var (
	ldbSync   = &opt.WriteOptions{Sync: true}
	ldbNoSync = &opt.WriteOptions{Sync: false}
)

// ldbOptions returns the goleveldb options of a generation.
func ldbOptions() *opt.Options {
	return &opt.Options{
		Filter:             filter.NewBloomFilter(10),
		WriteBuffer:        16 << 20,
		BlockCacheCapacity: 32 << 20,
		// Larger tables and a larger L1 than goleveldb's defaults (2 MiB,
		// 10 MiB), and more L0 tables before writes are slowed down (8) or
		// paused (12): with 1 KiB values under a write-heavy load the
		// defaults spent a third of a node's CPU in compaction and throttled
		// writes to a few MB/s.
		CompactionTableSize:    8 << 20,
		CompactionTotalSize:    64 << 20,
		CompactionL0Trigger:    8,
		WriteL0SlowdownTrigger: 24,
		WriteL0PauseTrigger:    48,
	}
}

// LevelDB is the default, durable engine, built on goleveldb.
//
// The directory holds a LIVE file naming the live generation directory
// (data-<n>), which is a goleveldb database. Caller keys are stored under the
// data namespace, the applied index and layout version under the meta
// namespace. Every Write is one goleveldb batch, data and applied index
// together, written with fsync. Replace builds generation n+1 beside the live
// one and commits it by atomically rewriting LIVE; see DESIGN.md.
//
// LevelDB is safe for concurrent use.
type LevelDB struct {
	dir   string
	lock  *dirLock
	wopts *opt.WriteOptions // ldbSync unless opened with Options.NoSync
	log   *slog.Logger      // Options.Logger; nil discards

	replaceMu sync.Mutex  // serialises Replace; Close takes it to wait for one
	closing   atomic.Bool // set first thing in Close: a running Replace aborts

	// mu guards cur, gen and closed. Get, Write and the creation of iterators
	// and snapshots hold it shared; Close and the swap in Replace hold it
	// exclusively.
	mu     sync.RWMutex
	cur    *ldbHandle
	gen    uint64
	closed bool

	// umu guards the handles set and each handle's users, retired and closed.
	umu     sync.Mutex
	handles map[*ldbHandle]struct{}
}

var _ Engine = (*LevelDB)(nil)

// ldbHandle is one open generation. A generation replaced by Replace stays
// open until its last snapshot or iterator is released, then it is closed
// and its directory removed.
type ldbHandle struct {
	db      *ldbDB
	path    string
	users   map[ldbUser]struct{}
	retired bool
	closed  bool
	keepDir bool // retired, but LIVE may not durably name its successor
}

// ldbUser is an iterator or snapshot that keeps a handle open. kill releases
// its goleveldb resources when the engine is closed under it.
type ldbUser interface{ kill() }

// OpenLevelDB opens or creates a LevelDB engine in dir. It finishes or rolls
// back a Replace interrupted by a crash, and fails with an error wrapping
// ErrNewerLayout if the data was written by a newer layout version.
func OpenLevelDB(dir string) (*LevelDB, error) {
	return openLevelDB(dir, Options{})
}

// openLevelDB is OpenLevelDB with the options that apply to it (NoSync,
// Logger).
func openLevelDB(dir string, o Options) (*LevelDB, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("storage: create %s: %w", dir, err)
	}
	lock, err := lockDir(filepath.Join(dir, ldbLockFile))
	if err != nil {
		return nil, err
	}
	e := &LevelDB{dir: dir, lock: lock, handles: make(map[*ldbHandle]struct{}), wopts: ldbSync, log: o.Logger}
	if o.NoSync {
		e.wopts = ldbNoSync
	}
	if err := e.open(); err != nil {
		_ = lock.release()
		return nil, err
	}
	return e, nil
}

func (e *LevelDB) genPath(gen uint64) string {
	return filepath.Join(e.dir, ldbGenPrefix+strconv.FormatUint(gen, 10))
}

func parseGen(name string) (uint64, bool) {
	s, ok := strings.CutPrefix(name, ldbGenPrefix)
	if !ok {
		return 0, false
	}
	g, err := strconv.ParseUint(s, 10, 64)
	if err != nil || g == 0 || strconv.FormatUint(g, 10) != s {
		return 0, false
	}
	return g, true
}

// readLive returns the generation LIVE names; ok is false when there is no LIVE.
func (e *LevelDB) readLive() (gen uint64, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(e.dir, ldbLiveFile))
	if errors.Is(err, os.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("storage: read %s: %w", ldbLiveFile, err)
	}
	gen, ok = parseGen(strings.TrimSpace(string(b)))
	if !ok {
		return 0, false, fmt.Errorf("storage: corrupt %s file %q", ldbLiveFile, b)
	}
	return gen, true, nil
}

func (e *LevelDB) writeLive(gen uint64) error {
	return writeFileAtomic(filepath.Join(e.dir, ldbLiveFile), []byte(ldbGenPrefix+strconv.FormatUint(gen, 10)+"\n"))
}

func (e *LevelDB) open() error {
	gen, ok, err := e.readLive()
	if err != nil {
		return err
	}
	var db *ldbDB
	if ok {
		// Check the live generation's layout before touching anything else.
		path := e.genPath(gen)
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("storage: %s names missing generation: %w", ldbLiveFile, err)
		}
		o := ldbOptions()
		o.ErrorIfMissing = true
		if e.wopts == ldbNoSync {
			if ok, err = e.checkJournal(path); err != nil {
				return err
			}
		}
		if ok {
			db, err = openLDB(path, o)
			if err != nil && e.wopts == ldbNoSync && ldberrors.IsCorrupted(err) {
				// A manifest or table a bad disk damaged (manifestSync
				// closes the power-failure case goleveldb left open).
				// The state is in the Raft snapshot and log: start empty
				// and rebuild from them.
				if err := e.dropGeneration("engine files damaged (a power failure or a bad disk)", err.Error()); err != nil {
					return err
				}
				ok, err = false, nil
			}
			if err != nil {
				return fmt.Errorf("storage: open leveldb: %w", err)
			}
		}
	}
	if ok {
		v, err := db.Get(ldbMetaLayout, nil)
		switch {
		case errors.Is(err, leveldb.ErrNotFound):
			err = db.Put(ldbMetaLayout, encodeLayout(LayoutVersion), ldbSync)
		case err == nil:
			err = checkLayout(v, e.dir)
		}
		if err != nil {
			_ = db.Close()
			return err
		}
	}
	if err := e.removeDebris(gen, ok); err != nil {
		if db != nil {
			_ = db.Close()
		}
		return err
	}
	if !ok {
		gen = 1
		db, err = openLDB(e.genPath(gen), ldbOptions())
		if err != nil {
			return fmt.Errorf("storage: open leveldb: %w", err)
		}
		err = db.Put(ldbMetaLayout, encodeLayout(LayoutVersion), ldbSync)
		if err == nil {
			err = e.writeLive(gen) // a crash before this leaves debris, not data
		}
		if err != nil {
			_ = db.Close()
			return fmt.Errorf("storage: initialise leveldb: %w", err)
		}
	}
	h := &ldbHandle{db: db, path: e.genPath(gen), users: make(map[ldbUser]struct{})}
	e.cur, e.gen = h, gen
	e.handles[h] = struct{}{}
	return nil
}

// checkJournal reports whether the generation at path can be kept (keep),
// and drops it when not. A generation written without fsync (NoSync) cannot
// be kept when a journal record follows a damaged part of its journals:
// goleveldb's recovery drops a damaged 32 KiB block and replays the records
// after it, so after a power failure that persisted a later page of the
// journal but not an earlier one (the OS writes pages back in no particular
// order), or after a bad sector, the engine would hold a later batch and its
// applied index without an earlier batch: the node would skip the lost
// entries and serve a state no replica ever had. Such a generation is
// dropped (LIVE removed, so the engine opens empty at applied index 0 and
// the node re-applies from the newest Raft snapshot and its log). A damaged
// tail with nothing after it, which is what a power failure usually leaves,
// is a lost tail of batches, which the applied index accounts for: kept.
func (e *LevelDB) checkJournal(path string) (keep bool, err error) {
	hole, err := journalHole(path)
	if err != nil {
		return false, err
	}
	if hole == "" {
		return true, nil
	}
	// Never drop what a newer layout wrote: refuse it, as open does. A
	// read-only open replays the journal without writing anything.
	ro := ldbOptions()
	ro.ErrorIfMissing, ro.ReadOnly = true, true
	if db, err := openLDB(path, ro); err == nil {
		v, gerr := db.Get(ldbMetaLayout, nil)
		_ = db.Close()
		if gerr == nil {
			if err := checkLayout(v, e.dir); err != nil {
				return false, err
			}
		}
	}
	return false, e.dropGeneration("engine journal damaged before its end (a power failure or a bad disk)", hole)
}

// dropGeneration makes the engine open empty, at applied index 0, by
// removing LIVE (the generation's files become debris, removed at once),
// and logs why: the node then restores the newest Raft snapshot and
// re-applies its log. Only for a NoSync engine, which Raft can rebuild.
func (e *LevelDB) dropGeneration(why, damage string) error {
	if e.log != nil {
		e.log.Warn(why+": starting the engine empty; the node restores it from the Raft snapshot and log",
			"dir", e.dir, "damage", damage)
	}
	if err := os.Remove(filepath.Join(e.dir, ldbLiveFile)); err != nil {
		return fmt.Errorf("storage: drop damaged generation: %w", err)
	}
	if err := syncDir(e.dir); err != nil {
		return fmt.Errorf("storage: drop damaged generation: %w", err)
	}
	return nil
}

// journalHole reads the journals of the goleveldb database at path, oldest
// first, as goleveldb's recovery does, and describes the first damaged part
// that a whole record follows ("" when there is none).
func journalHole(path string) (string, error) {
	names, err := filepath.Glob(filepath.Join(path, "*.log"))
	if err != nil {
		return "", err
	}
	type journalFile struct {
		num  uint64
		name string
	}
	var files []journalFile
	for _, name := range names {
		num, err := strconv.ParseUint(strings.TrimSuffix(filepath.Base(name), ".log"), 10, 64)
		if err == nil {
			files = append(files, journalFile{num, name})
		}
	}
	slices.SortFunc(files, func(a, b journalFile) int { return cmp.Compare(a.num, b.num) })
	d := &firstDrop{}
	for _, jf := range files {
		if err := readJournal(jf.name, d); err != nil {
			return "", err
		}
		if d.hole {
			return d.what, nil
		}
	}
	return "", nil
}

// readJournal reads the records of one journal file, reporting damage to d,
// and stops at the first whole record read after damage (d.hole).
func readJournal(name string, d *firstDrop) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("storage: check journal: %w", err)
	}
	defer f.Close()
	d.file = filepath.Base(name)
	r := journal.NewReader(f, d, false, true)
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return nil
		}
		if err == nil {
			_, err = io.Copy(io.Discard, rec)
			if err == io.ErrUnexpectedEOF {
				continue // a damaged record, reported to d
			}
		}
		if err != nil {
			return fmt.Errorf("storage: check journal %s: %w", name, err)
		}
		if d.what != "" {
			d.hole = true
			return nil
		}
	}
}

// firstDrop keeps the first damage a journal reader reports, and whether a
// whole record followed it.
type firstDrop struct {
	file, what string
	hole       bool
}

func (d *firstDrop) Drop(err error) {
	if d.what == "" {
		d.what = d.file + ": " + err.Error()
	}
}

// removeDebris deletes every generation but the live one (all of them if
// there is no LIVE) and LIVE.tmp. Such generations are left over from a
// Replace that did not commit, or are old generations that a committed
// Replace had not yet deleted.
func (e *LevelDB) removeDebris(live uint64, haveLive bool) error {
	entries, err := os.ReadDir(e.dir)
	if err != nil {
		return fmt.Errorf("storage: read %s: %w", e.dir, err)
	}
	for _, ent := range entries {
		name := ent.Name()
		g, isGen := parseGen(name)
		if name == ldbLiveFile+".tmp" || (isGen && (!haveLive || g != live)) {
			if err := os.RemoveAll(filepath.Join(e.dir, name)); err != nil {
				return fmt.Errorf("storage: clean up: %w", err)
			}
		}
	}
	return nil
}

// mapLdbErr translates goleveldb errors into this package's sentinels.
func mapLdbErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, leveldb.ErrNotFound):
		return ErrNotFound
	case errors.Is(err, leveldb.ErrClosed), errors.Is(err, leveldb.ErrSnapshotReleased),
		errors.Is(err, leveldb.ErrIterReleased):
		return ErrClosed
	}
	return fmt.Errorf("storage: leveldb: %w", err)
}

// Get returns a copy of the value stored under key, or ErrNotFound.
func (e *LevelDB) Get(key []byte) ([]byte, error) {
	kb := prefixed(nsData, key)
	e.mu.RLock()
	var v []byte
	var err error
	if e.closed {
		err = ErrClosed
	} else {
		v, err = e.cur.db.Get(kb.b, nil) // goleveldb returns a fresh copy
	}
	e.mu.RUnlock()
	putKeyBuf(kb)
	if err != nil {
		return nil, mapLdbErr(err)
	}
	return v, nil
}

// batchOverhead bounds a goleveldb batch record's bytes beyond its key and
// value: a type byte, two varint lengths, and the namespace byte of the key.
const batchOverhead = 1 + 2*binary.MaxVarintLen32 + 1

// ldbWriteBuf is a reusable goleveldb batch plus a scratch key buffer.
type ldbWriteBuf struct {
	batch leveldb.Batch
	key   []byte
}

var ldbWritePool = sync.Pool{New: func() any { return new(ldbWriteBuf) }}

// Write applies b and the applied index in one fsynced goleveldb batch.
func (e *LevelDB) Write(b *Batch, appliedIndex uint64) error {
	wb := ldbWritePool.Get().(*ldbWriteBuf)
	defer func() {
		wb.batch.Reset()
		if cap(wb.batch.Dump()) <= maxPooledBatch && cap(wb.key) <= maxPooledKey {
			ldbWritePool.Put(wb)
		}
	}()
	// Size the batch's buffer once: past 3,000 records goleveldb grows it by
	// a few hundred kilobytes at a time, copying it each time (a 4 MiB window
	// of the write-behind buffer was copied a dozen times).
	need := batchOverhead + len(ldbMetaApplied) + 8
	for _, op := range b.ops {
		need += batchOverhead + len(op.Key) + len(op.Value)
	}
	if cap(wb.batch.Dump()) < need {
		_ = wb.batch.Load(make([]byte, 0, need)) // empty: cannot fail
	}
	for i, op := range b.ops {
		// goleveldb copies key and value into the batch, so one scratch key serves all ops.
		wb.key = append(append(wb.key[:0], nsData), op.Key...)
		switch op.Kind {
		case OpPut:
			wb.batch.Put(wb.key, op.Value)
		case OpDelete:
			wb.batch.Delete(wb.key)
		default:
			return errOpKind(i, op.Kind)
		}
	}
	var idx [8]byte
	wb.batch.Put(ldbMetaApplied, encodeIndex(&idx, appliedIndex))

	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return ErrClosed
	}
	return mapLdbErr(e.cur.db.Write(&wb.batch, e.wopts))
}

func errOpKind(i int, k OpKind) error {
	return fmt.Errorf("storage: batch op %d has unknown kind %d", i, k)
}

// AppliedIndex returns the index recorded by the last Write or Replace.
func (e *LevelDB) AppliedIndex() (uint64, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return 0, ErrClosed
	}
	return ldbApplied(e.cur.db.Get(ldbMetaApplied, nil))
}

func ldbApplied(v []byte, err error) (uint64, error) {
	if errors.Is(err, leveldb.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, mapLdbErr(err)
	}
	return decodeIndex(v)
}

// NewIterator returns an iterator over a point-in-time view of [start, end).
func (e *LevelDB) NewIterator(start, end []byte) Iterator {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return &errIterator{err: ErrClosed}
	}
	it := &ldbIterator{e: e, h: e.cur}
	it.it = e.cur.db.NewIterator(&util.Range{Start: dataKey(start), Limit: dataEnd(end)}, nil)
	if !e.track(e.cur, it) {
		it.it.Release()
		return &errIterator{err: ErrClosed}
	}
	return it
}

// Snapshot returns a goleveldb snapshot of the live generation.
func (e *LevelDB) Snapshot() (Snapshot, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return nil, ErrClosed
	}
	snap, err := e.cur.db.GetSnapshot()
	if err != nil {
		return nil, mapLdbErr(err)
	}
	applied, err := ldbApplied(snap.Get(ldbMetaApplied, nil))
	if err != nil {
		snap.Release()
		return nil, err
	}
	s := &ldbSnapshot{e: e, h: e.cur, snap: snap, applied: applied}
	if !e.track(e.cur, s) {
		snap.Release()
		return nil, ErrClosed
	}
	return s, nil
}

// track registers u as a user of h; it fails if h is already closed.
func (e *LevelDB) track(h *ldbHandle, u ldbUser) bool {
	e.umu.Lock()
	defer e.umu.Unlock()
	if h.closed {
		return false
	}
	h.users[u] = struct{}{}
	return true
}

// untrack forgets u; a retired handle whose last user leaves is closed and
// its directory removed.
func (e *LevelDB) untrack(h *ldbHandle, u ldbUser) {
	e.umu.Lock()
	delete(h.users, u)
	drop := h.retired && !h.closed && len(h.users) == 0
	if drop {
		h.closed = true
		delete(e.handles, h)
	}
	e.umu.Unlock()
	if drop {
		_ = h.db.Close()
		if !h.keepDir {
			_ = os.RemoveAll(h.path)
		}
	}
}

// Replace atomically replaces the engine's content with src.
//
// It writes src in chunks, without fsync, into a new generation directory (a
// second goleveldb database) beside the live one, then writes the applied
// index with fsync, which makes the whole new generation durable, and commits
// by atomically rewriting LIVE. Until the commit the old generation is the
// live one, so an error from src, a failed write or a crash leaves the old
// content and applied index as they were; OpenLevelDB removes an uncommitted
// generation. Writes made while src is being read are discarded by the swap.
func (e *LevelDB) Replace(src Source, appliedIndex uint64) error {
	e.replaceMu.Lock()
	defer e.replaceMu.Unlock()

	e.mu.RLock()
	closed, gen := e.closed, e.gen+1
	e.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	path := e.genPath(gen)
	if err := os.RemoveAll(path); err != nil {
		return fmt.Errorf("storage: replace: %w", err)
	}
	fail := func(db *ldbDB, err error) error {
		if db != nil {
			_ = db.Close()
		}
		_ = os.RemoveAll(path)
		return err
	}
	o := ldbOptions()
	o.ErrorIfExist = true
	ndb, err := openLDB(path, o)
	if err != nil {
		return fail(nil, fmt.Errorf("storage: replace: open new generation: %w", err))
	}
	if err := fillGeneration(ndb.DB, src, appliedIndex, &e.closing); err != nil {
		return fail(ndb, err)
	}
	// goleveldb fsyncs its tables and manifest (manifestSync the first
	// version of it) and the last write synced the journal; fsync the
	// directory for the entries of files created since.
	if err := syncDir(path); err != nil {
		return fail(ndb, fmt.Errorf("storage: replace: sync new generation: %w", err))
	}

	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return fail(ndb, ErrClosed)
	}
	// Commit point: LIVE names the new generation.
	commitErr := e.writeLive(gen)
	if commitErr != nil {
		if g, ok, _ := e.readLive(); !ok || g != gen {
			e.mu.Unlock()
			return fail(ndb, fmt.Errorf("storage: replace: commit: %w", commitErr))
		}
		// LIVE was renamed but its durability is unknown: serve the new
		// generation, keep the old directory for Open to sort out, and report.
	}
	nh := &ldbHandle{db: ndb, path: path, users: make(map[ldbUser]struct{})}
	old := e.cur
	e.cur, e.gen = nh, gen
	e.umu.Lock()
	e.handles[nh] = struct{}{}
	old.retired = true
	old.keepDir = commitErr != nil
	drop := len(old.users) == 0
	if drop {
		old.closed = true
		delete(e.handles, old)
	}
	e.umu.Unlock()
	e.mu.Unlock()

	if drop {
		_ = old.db.Close()
		if !old.keepDir {
			_ = os.RemoveAll(old.path)
		}
	}
	if commitErr != nil {
		return fmt.Errorf("storage: replace: commit: %w", commitErr)
	}
	return nil
}

// fillGeneration writes src into db in unsynced chunks of about ldbChunkBytes,
// then the layout version and the applied index in a final synced write.
func fillGeneration(db *leveldb.DB, src Source, appliedIndex uint64, abort *atomic.Bool) error {
	var b leveldb.Batch
	// Preallocate the chunk: goleveldb grows big batches in small steps.
	if err := b.Load(make([]byte, 0, ldbChunkBytes+64<<10)); err != nil {
		return err
	}
	var key []byte
	size := 0
	for src.Next() {
		k, v := src.Key(), src.Value()
		key = append(append(key[:0], nsData), k...)
		b.Put(key, v)
		size += len(key) + len(v)
		if size >= ldbChunkBytes {
			if abort.Load() {
				return ErrClosed
			}
			if err := db.Write(&b, nil); err != nil {
				return fmt.Errorf("storage: replace: write new generation: %w", err)
			}
			b.Reset()
			size = 0
		}
	}
	if err := src.Err(); err != nil {
		return err
	}
	var idx [8]byte
	b.Put(ldbMetaLayout, encodeLayout(LayoutVersion))
	b.Put(ldbMetaApplied, encodeIndex(&idx, appliedIndex))
	if err := db.Write(&b, ldbSync); err != nil {
		return fmt.Errorf("storage: replace: write new generation: %w", err)
	}
	return nil
}

// Close closes the engine. Open snapshots and iterators are released and
// report ErrClosed from then on. A running Replace is aborted at its next chunk
// and Close waits for it. Close is idempotent.
func (e *LevelDB) Close() error {
	e.closing.Store(true)
	e.replaceMu.Lock()
	defer e.replaceMu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	var errs []error
	e.umu.Lock()
	for h := range e.handles {
		for u := range h.users {
			u.kill()
		}
		h.users = nil
		h.closed = true
		if err := h.db.Close(); err != nil {
			errs = append(errs, fmt.Errorf("storage: close leveldb: %w", err))
		}
		if h.retired && !h.keepDir {
			_ = os.RemoveAll(h.path)
		}
	}
	e.handles = nil
	e.umu.Unlock()
	e.cur = nil
	if err := e.lock.release(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// setLayoutVersion overwrites the stored layout version (tests only).
func (e *LevelDB) setLayoutVersion(v uint32) error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return ErrClosed
	}
	return e.cur.db.Put(ldbMetaLayout, encodeLayout(v), ldbSync)
}

// ldbSnapshot is a goleveldb snapshot of one generation.
type ldbSnapshot struct {
	e       *LevelDB
	h       *ldbHandle
	mu      sync.RWMutex
	snap    *leveldb.Snapshot // nil once released or killed
	applied uint64
}

func (s *ldbSnapshot) Get(key []byte) ([]byte, error) {
	kb := prefixed(nsData, key)
	s.mu.RLock()
	var v []byte
	var err error
	if s.snap == nil {
		err = ErrClosed
	} else {
		v, err = s.snap.Get(kb.b, nil)
	}
	s.mu.RUnlock()
	putKeyBuf(kb)
	if err != nil {
		return nil, mapLdbErr(err)
	}
	return v, nil
}

// NewIterator returns an iterator over the snapshot. It stays usable after the
// snapshot is released, until it is closed or the engine is closed.
func (s *ldbSnapshot) NewIterator(start, end []byte) Iterator {
	it := &ldbIterator{e: s.e, h: s.h}
	if !s.e.track(s.h, it) {
		return &errIterator{err: ErrClosed}
	}
	s.mu.RLock()
	if s.snap == nil {
		s.mu.RUnlock()
		s.e.untrack(s.h, it)
		return &errIterator{err: ErrClosed}
	}
	li := s.snap.NewIterator(&util.Range{Start: dataKey(start), Limit: dataEnd(end)}, nil)
	it.mu.Lock()
	if it.err != nil { // killed by Close meanwhile
		li.Release()
	} else {
		it.it = li
	}
	it.mu.Unlock()
	s.mu.RUnlock()
	return it
}

func (s *ldbSnapshot) AppliedIndex() uint64 { return s.applied }

func (s *ldbSnapshot) Release() {
	s.mu.Lock()
	wasOpen := s.snap != nil
	if wasOpen {
		s.snap.Release()
		s.snap = nil
	}
	s.mu.Unlock()
	if wasOpen {
		s.e.untrack(s.h, s)
	}
}

func (s *ldbSnapshot) kill() {
	s.mu.Lock()
	if s.snap != nil {
		s.snap.Release()
		s.snap = nil
	}
	s.mu.Unlock()
}

// ldbIterator strips the data namespace from goleveldb's keys. Its mutex only
// guards against Close of the engine from another goroutine.
type ldbIterator struct {
	e          *LevelDB
	h          *ldbHandle
	mu         sync.Mutex
	it         iterator.Iterator // nil once closed or killed
	err        error
	key, value []byte
}

func (it *ldbIterator) Next() bool {
	it.mu.Lock()
	defer it.mu.Unlock()
	if it.it == nil {
		it.key, it.value = nil, nil
		return false
	}
	if !it.it.Next() {
		it.key, it.value = nil, nil
		if err := it.it.Error(); err != nil {
			it.err = mapLdbErr(err)
		}
		return false
	}
	it.key = it.it.Key()[1:]
	it.value = it.it.Value()
	return true
}

func (it *ldbIterator) Key() []byte   { return it.key }
func (it *ldbIterator) Value() []byte { return it.value }

func (it *ldbIterator) Err() error {
	it.mu.Lock()
	defer it.mu.Unlock()
	return it.err
}

func (it *ldbIterator) Close() error {
	it.mu.Lock()
	wasOpen := it.it != nil
	if wasOpen {
		it.it.Release()
		it.it = nil
	}
	it.mu.Unlock()
	if wasOpen {
		it.e.untrack(it.h, it)
	}
	return nil
}

func (it *ldbIterator) kill() {
	it.mu.Lock()
	if it.it != nil {
		it.it.Release()
		it.it = nil
	}
	it.err = ErrClosed
	it.mu.Unlock()
}
