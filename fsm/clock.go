package fsm

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/riot-kv/riot-redis/storage"
)

// The replicated clock. Every command carries the leader's wall clock
// (Command.Now), but leaders change, and a new leader's clock may be behind
// the old one's: expiry would then run backwards and a key that had expired
// could come back. The state machine therefore applies each command at
// max(Command.Now, the time of the previous command), so log time never goes
// backwards. The last time is kept in an engine key written in the same batch
// as the data, so it survives restarts and travels in snapshots, and every
// replica computes the same sequence.

// clockKey is the engine key of the replicated clock: 8 bytes, big-endian
// unix milliseconds.
var clockKey = []byte{nsMeta, 'c'}

// loadClock reads the replicated clock from the engine (0 if never written).
func (f *FSM) loadClock() error {
	v, err := f.eng.Get(clockKey)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		f.clock, f.clockStored = 0, 0
		return nil
	case err != nil:
		return fmt.Errorf("fsm: read clock: %w", err)
	case len(v) != 8:
		return fmt.Errorf("fsm: clock record has %d bytes, want 8", len(v))
	}
	f.clock = int64(binary.BigEndian.Uint64(v))
	f.clockStored = f.clock
	return nil
}

// runAt returns the time a command stamped now runs at.
func (f *FSM) runAt(now int64) int64 { return max(now, f.clock) }

// advance moves the clock to at, the time a command that changed state ran at.
// A failed command leaves it alone, so it changes nothing.
func (f *FSM) advance(at int64) { f.clock = max(f.clock, at) }

// putClock adds the clock to the batch if it moved.
func (f *FSM) putClock(t *txn) {
	if f.clock == f.clockStored {
		return
	}
	v := make([]byte, 8)
	binary.BigEndian.PutUint64(v, uint64(f.clock))
	t.write(pending{key: clockKey, val: v})
	f.clockStored = f.clock
}

// MillisToSeconds rounds a non-negative number of milliseconds to the nearest
// second, half up, as Redis's TTL and EXPIRETIME report them, without
// overflowing near the largest int64 (an expiry set with PEXPIREAT can be
// that far away).
func MillisToSeconds(ms int64) int64 {
	return ms/1000 + (ms%1000+500)/1000
}
