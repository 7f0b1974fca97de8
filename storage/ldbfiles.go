package storage

import (
	"errors"
	"sync"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/opt"
	ldbstorage "github.com/syndtr/goleveldb/leveldb/storage"
)

// ldbDB is an open goleveldb database over its own file storage, which Close
// closes after the database (leveldb.Open, unlike leveldb.OpenFile, leaves the
// storage to its caller).
type ldbDB struct {
	*leveldb.DB
	stor ldbstorage.Storage
}

// openLDB opens the goleveldb database at path as leveldb.OpenFile does, over
// a file storage that fsyncs a new manifest before CURRENT names it.
func openLDB(path string, o *opt.Options) (*ldbDB, error) {
	fs, err := ldbstorage.OpenFile(path, o.GetReadOnly())
	if err != nil {
		return nil, err
	}
	stor := &manifestSync{Storage: fs, created: make(map[ldbstorage.FileDesc]ldbstorage.Writer)}
	db, err := leveldb.Open(stor, o)
	if err != nil {
		_ = stor.Close()
		return nil, err
	}
	return &ldbDB{DB: db, stor: stor}, nil
}

// Close closes the database, then its storage.
func (d *ldbDB) Close() error {
	return errors.Join(d.DB.Close(), d.stor.Close())
}

// manifestSync is goleveldb's file storage with one fix: SetMeta, which
// points CURRENT at a manifest, first fsyncs that manifest (and, through
// goleveldb's manifest writer, the directory that names it).
//
// goleveldb (v1.0.0) writes a new manifest at every open, and whenever it
// rewrites one, and makes CURRENT name it without syncing it: CURRENT is
// written synced and renamed into place, the manifest only reaches the disk
// at its first appended record (a memtable flush or a compaction), which
// syncs the file, or when the kernel writes it back. A power failure in
// between leaves CURRENT naming a manifest without its content, and goleveldb
// then refuses to open the database ("manifest corrupted"), synced writes
// or not. The fault suite's power-failure round found it.
type manifestSync struct {
	ldbstorage.Storage

	mu      sync.Mutex
	created map[ldbstorage.FileDesc]ldbstorage.Writer // manifests not yet named by CURRENT
}

func (s *manifestSync) Create(fd ldbstorage.FileDesc) (ldbstorage.Writer, error) {
	w, err := s.Storage.Create(fd)
	if err == nil && fd.Type == ldbstorage.TypeManifest {
		s.mu.Lock()
		s.created[fd] = w
		s.mu.Unlock()
	}
	return w, err
}

func (s *manifestSync) SetMeta(fd ldbstorage.FileDesc) error {
	s.mu.Lock()
	w := s.created[fd]
	delete(s.created, fd)
	s.mu.Unlock()
	if w != nil {
		if err := w.Sync(); err != nil {
			return err
		}
	}
	return s.Storage.SetMeta(fd)
}

func (s *manifestSync) Remove(fd ldbstorage.FileDesc) error {
	s.mu.Lock()
	delete(s.created, fd)
	s.mu.Unlock()
	return s.Storage.Remove(fd)
}
