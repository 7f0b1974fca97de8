package storage

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// boltFile is the name of the bbolt database file inside a Bolt engine directory.
const boltFile = "riot.bolt"

// Bucket names of the Bolt engine.
var (
	boltData = []byte("data")
	boltMeta = []byte("meta")
)

const (
	// boltMmapSize is the initial mmap size. bbolt must remap when the file
	// outgrows its mapping, and a remap waits for every open read transaction;
	// reserving address space up front keeps snapshots from stalling writes
	// until the file is larger than this.
	boltMmapSize = 1 << 30
	// boltArenaChunk is the allocation unit Replace copies pairs into.
	boltArenaChunk = 1 << 20
)

// Bolt is a durable engine on bbolt, in the single file dir/riot.bolt.
//
// Caller keys live in the "data" bucket (behind a one-byte prefix, since bbolt
// refuses empty keys); the applied index and layout version live in the
// "meta" bucket. Every Write is one fsynced update transaction.
//
// A Snapshot is a read-only bbolt transaction held open until Release. While
// it is open, bbolt cannot reuse the pages freed by later writes, so the file
// grows, and if the file outgrows the initial 1 GiB mapping, writes wait for
// the snapshot to be released. Release snapshots promptly.
//
// Bolt is safe for concurrent use.
type Bolt struct {
	// mu guards db and closed; every operation holds it shared, Close
	// exclusively.
	mu      sync.RWMutex
	db      *bolt.DB
	closed  bool
	closing atomic.Bool // set first thing in Close: a running Replace aborts

	smu   sync.Mutex // guards snaps
	snaps map[*boltSnapshot]struct{}
}

var _ Engine = (*Bolt)(nil)

// OpenBolt opens or creates a Bolt engine in dir. It fails with an error
// wrapping ErrNewerLayout if the data was written by a newer layout version.
func OpenBolt(dir string) (*Bolt, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("storage: create %s: %w", dir, err)
	}
	path := filepath.Join(dir, boltFile)
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:         time.Second,
		InitialMmapSize: boltMmapSize,
		NoFreelistSync:  true,
		FreelistType:    bolt.FreelistMapType,
		NoStatistics:    true,
	})
	if err != nil {
		return nil, fmt.Errorf("storage: open bolt %s: %w", path, err)
	}
	// Check the layout before writing anything.
	err = db.View(func(tx *bolt.Tx) error {
		if m := tx.Bucket(boltMeta); m != nil {
			if v := m.Get(metaLayout); v != nil {
				return checkLayout(v, path)
			}
		}
		return nil
	})
	if err == nil {
		err = db.Update(func(tx *bolt.Tx) error {
			m, err := tx.CreateBucketIfNotExists(boltMeta)
			if err != nil {
				return err
			}
			if m.Get(metaLayout) == nil {
				if err := m.Put(metaLayout, encodeLayout(LayoutVersion)); err != nil {
					return err
				}
			}
			_, err = tx.CreateBucketIfNotExists(boltData)
			return err
		})
	}
	if err != nil {
		_ = db.Close()
		if errors.Is(err, ErrNewerLayout) {
			return nil, err
		}
		return nil, fmt.Errorf("storage: initialise bolt %s: %w", path, err)
	}
	return &Bolt{db: db, snaps: make(map[*boltSnapshot]struct{})}, nil
}

// mapBoltErr translates bbolt errors into this package's sentinels.
func mapBoltErr(err error) error {
	switch {
	case err == nil, errors.Is(err, ErrNotFound), errors.Is(err, ErrClosed):
		return err
	case errors.Is(err, berrors.ErrDatabaseNotOpen), errors.Is(err, berrors.ErrTxClosed):
		return ErrClosed
	}
	return fmt.Errorf("storage: bolt: %w", err)
}

// Get returns a copy of the value stored under key, or ErrNotFound.
func (e *Bolt) Get(key []byte) ([]byte, error) {
	kb := prefixed(nsData, key)
	defer putKeyBuf(kb)
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return nil, ErrClosed
	}
	var v []byte
	err := e.db.View(func(tx *bolt.Tx) error {
		val := tx.Bucket(boltData).Get(kb.b)
		if val == nil {
			return ErrNotFound
		}
		v = append(make([]byte, 0, len(val)), val...)
		return nil
	})
	return v, mapBoltErr(err)
}

// Write applies b and the applied index in one fsynced update transaction.
func (e *Bolt) Write(b *Batch, appliedIndex uint64) error {
	// bbolt keeps references to keys until the transaction commits, so the
	// prefixed keys get their own buffer.
	n := 0
	for _, op := range b.ops {
		n += 1 + len(op.Key)
	}
	keys := make([]byte, 0, n)
	idx := make([]byte, 8)
	encodeIndex((*[8]byte)(idx), appliedIndex)

	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return ErrClosed
	}
	err := e.db.Update(func(tx *bolt.Tx) error {
		d := tx.Bucket(boltData)
		for i, op := range b.ops {
			start := len(keys)
			keys = append(append(keys, nsData), op.Key...)
			k := keys[start:len(keys):len(keys)]
			var err error
			switch op.Kind {
			case OpPut:
				err = d.Put(k, op.Value)
			case OpDelete:
				err = d.Delete(k)
			default:
				err = errOpKind(i, op.Kind)
			}
			if err != nil {
				return err
			}
		}
		return tx.Bucket(boltMeta).Put(metaApplied, idx)
	})
	return mapBoltErr(err)
}

// AppliedIndex returns the index recorded by the last Write or Replace.
func (e *Bolt) AppliedIndex() (uint64, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return 0, ErrClosed
	}
	var idx uint64
	err := e.db.View(func(tx *bolt.Tx) (err error) {
		idx, err = boltApplied(tx)
		return err
	})
	return idx, mapBoltErr(err)
}

func boltApplied(tx *bolt.Tx) (uint64, error) {
	v := tx.Bucket(boltMeta).Get(metaApplied)
	if v == nil {
		return 0, nil
	}
	return decodeIndex(v)
}

// NewIterator returns an iterator over a point-in-time view of [start, end).
// It holds a read transaction until closed; see the Bolt type.
func (e *Bolt) NewIterator(start, end []byte) Iterator {
	s, err := e.snapshot()
	if err != nil {
		return &errIterator{err: err}
	}
	it := s.NewIterator(start, end)
	s.Release() // the iterator keeps the transaction until it is closed
	return it
}

// Snapshot begins a read-only transaction that lasts until Release.
func (e *Bolt) Snapshot() (Snapshot, error) {
	s, err := e.snapshot()
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (e *Bolt) snapshot() (*boltSnapshot, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return nil, ErrClosed
	}
	tx, err := e.db.Begin(false)
	if err != nil {
		return nil, mapBoltErr(err)
	}
	applied, err := boltApplied(tx)
	if err != nil {
		_ = tx.Rollback()
		return nil, err
	}
	s := &boltSnapshot{e: e, tx: tx, data: tx.Bucket(boltData), applied: applied, refs: 1}
	e.smu.Lock()
	e.snaps[s] = struct{}{}
	e.smu.Unlock()
	return s, nil
}

func (e *Bolt) untrack(s *boltSnapshot) {
	e.smu.Lock()
	delete(e.snaps, s)
	e.smu.Unlock()
}

// Replace deletes and recreates the data bucket with src's pairs in one
// update transaction, so it is atomic: on an error from src the transaction
// rolls back and the old content stays. bbolt holds the whole new content in
// memory until the transaction commits.
func (e *Bolt) Replace(src Source, appliedIndex uint64) error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return ErrClosed
	}
	err := e.db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(boltData); err != nil && !errors.Is(err, berrors.ErrBucketNotFound) {
			return err
		}
		d, err := tx.CreateBucket(boltData)
		if err != nil {
			return err
		}
		d.FillPercent = 1 // src is sorted: fill pages completely
		var arena []byte
		for i := 0; src.Next(); i++ {
			if i%1024 == 0 && e.closing.Load() {
				return ErrClosed
			}
			k, v := src.Key(), src.Value()
			n := 1 + len(k) + len(v)
			var buf []byte
			if n > boltArenaChunk/4 {
				buf = make([]byte, n)
			} else {
				if cap(arena)-len(arena) < n {
					arena = make([]byte, 0, boltArenaChunk)
				}
				buf = arena[len(arena) : len(arena)+n : len(arena)+n]
				arena = arena[:len(arena)+n]
			}
			buf[0] = nsData
			copy(buf[1:], k)
			copy(buf[1+len(k):], v)
			if err := d.Put(buf[:1+len(k)], buf[1+len(k):]); err != nil {
				return err
			}
		}
		if err := src.Err(); err != nil {
			return err
		}
		var idx [8]byte
		return tx.Bucket(boltMeta).Put(metaApplied, encodeIndex(&idx, appliedIndex))
	})
	return mapBoltErr(err)
}

// Close closes the engine. Open snapshots and iterators are released and
// report ErrClosed from then on. A running Replace is rolled back. Close is
// idempotent.
func (e *Bolt) Close() error {
	e.closing.Store(true)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	e.smu.Lock()
	for s := range e.snaps {
		s.kill()
	}
	e.snaps = nil
	e.smu.Unlock()
	if err := e.db.Close(); err != nil {
		return fmt.Errorf("storage: close bolt: %w", err)
	}
	return nil
}

// setLayoutVersion overwrites the stored layout version (tests only).
func (e *Bolt) setLayoutVersion(v uint32) error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return ErrClosed
	}
	return e.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(boltMeta).Put(metaLayout, encodeLayout(v))
	})
}

// boltSnapshot is a read-only transaction shared by the snapshot and its
// iterators; it is rolled back when the last of them lets go. bbolt
// transactions are not safe for concurrent use, so mu serialises access.
type boltSnapshot struct {
	e        *Bolt
	mu       sync.Mutex
	tx       *bolt.Tx // nil once rolled back
	data     *bolt.Bucket
	applied  uint64
	refs     int // the snapshot until Release, plus open iterators
	released bool
}

func (s *boltSnapshot) Get(key []byte) ([]byte, error) {
	kb := prefixed(nsData, key)
	defer putKeyBuf(kb)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.released || s.tx == nil {
		return nil, ErrClosed
	}
	val := s.data.Get(kb.b)
	if val == nil {
		return nil, ErrNotFound
	}
	return append(make([]byte, 0, len(val)), val...), nil
}

// NewIterator returns an iterator over the snapshot. It stays usable after the
// snapshot is released, until it is closed or the engine is closed.
func (s *boltSnapshot) NewIterator(start, end []byte) Iterator {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.released || s.tx == nil {
		return &errIterator{err: ErrClosed}
	}
	s.refs++
	return &boltIterator{s: s, c: s.data.Cursor(), start: dataKey(start), end: end}
}

func (s *boltSnapshot) AppliedIndex() uint64 { return s.applied }

func (s *boltSnapshot) Release() {
	s.mu.Lock()
	if s.released {
		s.mu.Unlock()
		return
	}
	s.released = true
	done := s.unrefLocked()
	s.mu.Unlock()
	if done {
		s.e.untrack(s)
	}
}

// unrefLocked drops one reference and rolls the transaction back when none is
// left; it reports whether it did.
func (s *boltSnapshot) unrefLocked() bool {
	s.refs--
	if s.refs > 0 {
		return false
	}
	if s.tx != nil {
		_ = s.tx.Rollback()
		s.tx, s.data = nil, nil
	}
	return true
}

func (s *boltSnapshot) kill() {
	s.mu.Lock()
	if s.tx != nil {
		_ = s.tx.Rollback()
		s.tx, s.data = nil, nil
	}
	s.mu.Unlock()
}

// boltIterator walks a cursor of its snapshot's transaction. Keys and values
// are copied out of the memory map into buffers the iterator reuses, so they
// stay valid even if the engine is closed under the caller.
type boltIterator struct {
	s          *boltSnapshot
	c          *bolt.Cursor
	start      []byte // prefixed
	end        []byte // unprefixed, nil for no bound
	started    bool
	done       bool
	closed     bool
	err        error
	key, value []byte
}

func (it *boltIterator) Next() bool {
	if it.done || it.closed {
		return false
	}
	s := it.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tx == nil {
		it.err, it.done = ErrClosed, true
		it.key, it.value = nil, nil
		return false
	}
	var k, v []byte
	if !it.started {
		it.started = true
		k, v = it.c.Seek(it.start)
	} else {
		k, v = it.c.Next()
	}
	if k == nil || (it.end != nil && bytes.Compare(k[1:], it.end) >= 0) {
		it.done = true
		it.key, it.value = nil, nil
		return false
	}
	it.key = append(it.key[:0], k[1:]...)
	it.value = append(it.value[:0], v...)
	return true
}

func (it *boltIterator) Key() []byte   { return it.key }
func (it *boltIterator) Value() []byte { return it.value }
func (it *boltIterator) Err() error    { return it.err }

func (it *boltIterator) Close() error {
	if it.closed {
		return nil
	}
	it.closed = true
	s := it.s
	s.mu.Lock()
	done := s.unrefLocked()
	s.mu.Unlock()
	if done {
		s.e.untrack(s)
	}
	return nil
}
