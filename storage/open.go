package storage

import (
	"fmt"
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
	switch engine {
	case EngineLevelDB:
		e, err := OpenLevelDB(dir)
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
