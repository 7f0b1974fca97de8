package storage

import (
	"fmt"
	"log/slog"
	"strings"
)

// Engine names accepted by Open.
const (
	EngineLevelDB = "leveldb"
	EngineMemory  = "memory"
	EngineBolt    = "bolt"

	// DefaultEngine is the engine a node uses unless configured otherwise.
	DefaultEngine = EngineLevelDB
)

// Names returns the engine names Open accepts, the default first.
func Names() []string {
	return []string{EngineLevelDB, EngineMemory, EngineBolt}
}

// Open opens the named engine in dir: "leveldb" (durable, the default),
// "memory" (not durable; dir is ignored) or "bolt" (durable). An unknown name
// yields an error wrapping ErrUnknownEngine.
func Open(engine, dir string) (Engine, error) {
	return OpenWith(engine, dir, Options{})
}

// Options tune how an engine is opened.
type Options struct {
	// NoSync makes the leveldb engine write without an fsync per Write (its
	// journal still reaches the OS at once, so a killed process loses
	// nothing; a power failure can lose a tail of recent writes, never part of
	// one). That is safe under Raft when, as in Riot, the applied index is
	// written atomically with the data and the node restores the newest Raft
	// snapshot at start whenever the engine is behind it: the fsynced Raft log
	// and snapshot hold every lost entry, and entries are re-applied. At open,
	// a NoSync generation whose journal holds a record after a damaged part
	// (a power failure that persisted a later page but not an earlier one)
	// is dropped and the engine starts empty at applied index 0, since it
	// could hold a batch without the ones before it; so is one goleveldb
	// refuses to open as corrupted (a bad disk). Replace is always
	// synced. The bolt engine ignores NoSync (bbolt without fsync can
	// corrupt its file on power loss); memory has nothing to sync.
	NoSync bool
	// CacheBytes, when positive, puts a read cache of that size in front of
	// the engine (see Cached).
	CacheBytes int64
	// WriteBehindBytes, when positive, buffers Writes in memory up to that
	// many bytes and writes them to the engine in the background (see
	// WriteBehind). Like NoSync it is safe only when, as in Riot, a restart
	// re-applies the log entries after the engine's applied index.
	WriteBehindBytes int64
	// Logger receives the engine's warnings (a leveldb generation written
	// with NoSync whose files were found damaged at open, and so started
	// empty). Nil discards them.
	Logger *slog.Logger
}

// OpenWith is Open with options.
func OpenWith(engine, dir string, o Options) (Engine, error) {
	e, err := openEngine(engine, dir, o)
	if err != nil {
		return nil, err
	}
	return WriteBehind(Cached(e, o.CacheBytes), o.WriteBehindBytes), nil
}

func openEngine(engine, dir string, o Options) (Engine, error) {
	switch engine {
	case EngineLevelDB:
		e, err := openLevelDB(dir, o)
		if err != nil {
			return nil, err
		}
		return e, nil
	case EngineMemory:
		return NewMemory(), nil
	case EngineBolt:
		e, err := OpenBolt(dir)
		if err != nil {
			return nil, err
		}
		return e, nil
	}
	return nil, fmt.Errorf("%w %q (known: %s)", ErrUnknownEngine, engine, strings.Join(Names(), ", "))
}
