package fsm

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/riot-kv/riot-redis/storage"
)

// Namespaces added for the keyspace commands (see DESIGN.md, "Key layout").
const (
	// nsHash orders the keyspace by a stable hash of the key, for SCAN
	// cursors and RANDOMKEY: 'h' + 8-byte big-endian keyHash(key) + key ->
	// empty. It holds exactly one entry per 'k' record.
	nsHash byte = 'h'
	// nsMeta holds the state machine's own bookkeeping.
	nsMeta byte = 'm'
)

// statsKey is the engine key of the key statistics record: a version byte,
// then the number of 'k' records and the number of those with an expiry, each
// as 8 bytes big-endian.
var statsKey = []byte{nsMeta, 's'}

const (
	statsVersion byte = 1
	statsLen          = 17
)

// keyHash is the hash that orders the 'h' index. It is part of the on-disk
// layout and of the SCAN cursors clients hold: never change it. FNV-1a over
// the key, then a 64-bit finalizer so that keys differing only in their last
// bytes spread over the whole range.
func keyHash(key []byte) uint64 {
	h := uint64(0xcbf29ce484222325)
	for _, c := range key {
		h ^= uint64(c)
		h *= 0x100000001b3
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// hashKey returns 'h' + keyHash(key) + key in a new slice.
func hashKey(key []byte) []byte {
	b := make([]byte, 9+len(key))
	b[0] = nsHash
	binary.BigEndian.PutUint64(b[1:9], keyHash(key))
	copy(b[9:], key)
	return b
}

func encodeStats(keys, expires int64) []byte {
	b := make([]byte, 1, statsLen)
	b[0] = statsVersion
	b = binary.BigEndian.AppendUint64(b, uint64(keys))
	return binary.BigEndian.AppendUint64(b, uint64(expires))
}

func decodeStats(b []byte) (keys, expires int64, ok bool) {
	if len(b) != statsLen || b[0] != statsVersion {
		return 0, 0, false
	}
	keys = int64(binary.BigEndian.Uint64(b[1:9]))
	expires = int64(binary.BigEndian.Uint64(b[9:17]))
	return keys, expires, keys >= 0 && expires >= 0 && expires <= keys
}

// recordHasExpiry reports whether a stored value record carries an expiry.
// It looks only at the tag bit, so it also answers for records that do not
// decode; the statistics count records, not live keys.
func recordHasExpiry(v []byte) bool {
	return len(v) > 0 && v[0]&recHasExpiry != 0
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// track is the write hook for 'k' keys: it keeps the key statistics and the
// 'h' index in step with the records, whatever handler writes them. It
// compares the key's current state (the batch's pending write, or the
// engine's) with the new one.
func (t *txn) track(p pending) {
	old, had := t.current(p.key)
	has := !p.del
	t.keys += b2i(has) - b2i(had)
	t.expires += b2i(has && recordHasExpiry(p.val)) - b2i(had && recordHasExpiry(old))
	if had != has {
		hk := hashKey(p.key[1:])
		if has {
			t.write(pending{key: hk, val: emptyValue})
		} else {
			t.write(pending{key: hk, del: true})
		}
	}
}

// current returns the value of an engine key as the batch sees it, reusing
// the latest engine read when it was of the same key.
func (t *txn) current(key []byte) ([]byte, bool) {
	if i, ok := t.idx[string(key)]; ok {
		p := &t.ops[i]
		return p.val, !p.del
	}
	if t.lastValid && string(t.lastKey) == string(key) {
		return t.lastVal, t.lastFound
	}
	return t.get(key)
}

// remember keeps the result of an engine read of a 'k' key for track.
func (t *txn) remember(key, val []byte, found bool) {
	if len(key) == 0 || key[0] != nsData {
		return
	}
	t.lastKey = append(t.lastKey[:0], key...)
	t.lastVal, t.lastFound, t.lastValid = val, found, true
}

// putStats adds the statistics record to the batch if the batch changed the
// counts. An empty keyspace has no record, so deleting every key leaves no
// trace in the engine.
func (t *txn) putStats() {
	switch {
	case t.keys == t.baseKeys && t.expires == t.baseExpires:
	case t.keys == 0 && t.expires == 0:
		t.write(pending{key: statsKey, del: true})
	default:
		t.write(pending{key: statsKey, val: encodeStats(t.keys, t.expires)})
	}
}

// setStats sets the committed counts, the baseline of the next batch.
func (t *txn) setStats(keys, expires int64) {
	t.keys, t.expires = keys, expires
	t.baseKeys, t.baseExpires = keys, expires
	t.cmdKeys, t.cmdExpires = keys, expires
}

// KeyStats returns the number of keys and the number of keys with an expiry.
// The counts are exact for the applied state, kept in the engine by every
// write and restored with snapshots; they include keys that have expired but
// were not yet removed by a write or the background sweep (Redis's DBSIZE
// counts those too). Node metadata is not counted.
func (f *FSM) KeyStats() (keys, expires int64) {
	return f.statKeys.Load(), f.statExpires.Load()
}

// loadStats reads the key statistics from the engine into f and its txn. A
// data directory written before the statistics and the 'h' index existed has
// neither: they are built from the 'k' records and written at the current
// applied index. Callers hold f.mu or own f exclusively.
func (f *FSM) loadStats() error {
	v, err := f.eng.Get(statsKey)
	switch {
	case err == nil:
		keys, expires, ok := decodeStats(v)
		if !ok {
			return fmt.Errorf("%w: key statistics", ErrCorruptValue)
		}
		f.publishStats(keys, expires)
		return nil
	case !errors.Is(err, storage.ErrNotFound):
		return fmt.Errorf("fsm: read key statistics: %w", err)
	}
	var (
		b              storage.Batch
		keys, expires  int64
		it             = f.eng.NewIterator([]byte{nsData}, []byte{nsData + 1})
		hashIndexEmpty = f.rangeEmpty(nsHash)
	)
	for it.Next() {
		keys++
		if recordHasExpiry(it.Value()) {
			expires++
		}
		if hashIndexEmpty {
			b.Put(hashKey(it.Key()[1:]), emptyValue)
		}
	}
	err = it.Err()
	if cerr := it.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fsm: count keys: %w", err)
	}
	if keys > 0 {
		b.Put(statsKey, encodeStats(keys, expires))
		if err := f.eng.Write(&b, f.applied.Load()); err != nil {
			return fmt.Errorf("fsm: write key statistics: %w", err)
		}
	}
	f.publishStats(keys, expires)
	return nil
}

// rangeEmpty reports whether the engine holds no key in namespace ns.
func (f *FSM) rangeEmpty(ns byte) bool {
	it := f.eng.NewIterator([]byte{ns}, []byte{ns + 1})
	defer it.Close()
	return !it.Next()
}

func (f *FSM) publishStats(keys, expires int64) {
	f.txn.setStats(keys, expires)
	f.statKeys.Store(keys)
	f.statExpires.Store(expires)
}
