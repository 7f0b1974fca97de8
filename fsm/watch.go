package fsm

import (
	"encoding/binary"
	"errors"

	"github.com/riot-kv/riot-redis/storage"
)

// Key versions for WATCH. Every write of a data record ('k' + key) stamps the
// record with the Raft index of the entry (recHasVersion); deleting the record
// records the index in the key's delete bucket ('w' + one byte of the key's
// hash -> 8-byte index). Versions live in engine records, so they are written
// atomically with the data, carried by snapshots and the same on every
// replica. Records written before versions moved into them have a separate
// 'v' + key -> index record instead; it is read when the record has no
// version, and deleted with the key. See DESIGN.md ("Transactions and WATCH").
const (
	nsVersion byte = 'v' // 'v' + user key -> uint64 index of the last write (older records)
	nsDeleted byte = 'w' // 'w' + bucket byte -> uint64 index of the last delete in the bucket
)

// deleteBucketKeys are the engine keys of the 256 delete buckets. They are
// never modified, so the txn may keep them.
var deleteBucketKeys = func() (keys [256][]byte) {
	for i := range keys {
		keys[i] = []byte{nsDeleted, byte(i)}
	}
	return keys
}()

// deleteBucket returns the delete bucket of a user key: the low byte of its
// 32-bit FNV-1a hash.
func deleteBucket(key []byte) byte {
	h := uint32(2166136261)
	for _, b := range key {
		h ^= uint32(b)
		h *= 16777619
	}
	return byte(h)
}

// versionKey returns 'v' + key in a new slice with 8 spare bytes of capacity,
// where the caller may build the value.
func versionKey(key []byte) []byte {
	b := make([]byte, 1+len(key), 1+len(key)+8)
	b[0] = nsVersion
	copy(b[1:], key)
	return b
}

// touch keeps WATCH state current after a delete of the engine key k in the
// command being applied: the key's version record of older layouts goes, and
// its delete bucket takes the index. (A write stamps the record itself; see
// writeRaw.) put and del call it for every write, so every handler, present
// and future, maintains versions by writing its data records through the txn.
// Keys outside the data namespace are ignored.
func (t *txn) touch(k []byte, del bool) {
	if !del || len(k) == 0 || k[0] != nsData {
		return
	}
	key := k[1:]
	vk := versionKey(key)
	t.write(pending{key: vk, del: true})
	val := binary.BigEndian.AppendUint64(vk[len(vk):], t.index)
	t.write(pending{key: deleteBucketKeys[deleteBucket(key)], val: val})
}

// recordVersion returns the version of a key whose record read as rec (found
// and decodable: ok): the record's own, or for a record from before versions
// moved into records, the separate version record legacy returns.
func recordVersion(rec record, found, ok bool, legacy func() ([]byte, bool, error)) (uint64, error) {
	if found && ok && rec.version != 0 {
		return rec.version, nil
	}
	v, vfound, err := legacy()
	if err != nil {
		return 0, err
	}
	idx, vok := decodeIndex(v, vfound)
	if !vok {
		return 0, ErrCorruptValue
	}
	return idx, nil
}

// decodeIndex decodes an 8-byte index value; absent is 0.
func decodeIndex(v []byte, found bool) (uint64, bool) {
	if !found {
		return 0, true
	}
	if len(v) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(v), true
}

// watchChanged reports whether the key of w counts as modified since w was
// taken, as seen by the command being applied (time t.now).
func (t *txn) watchChanged(w Watch) bool {
	rec, found, ok := t.loadRecord(dataKey(w.Key, 0))
	cur, err := recordVersion(rec, found, ok, func() ([]byte, bool, error) {
		v, found := t.get(versionKey(w.Key))
		return v, found, nil
	})
	if err != nil || cur != w.Version {
		return true
	}
	if cur == 0 {
		// No version: the key is absent now (or was last written before
		// versions were kept). It may have been created and deleted since
		// the watch; the delete bucket tells, conservatively.
		del, ok := decodeIndex(t.get(deleteBucketKeys[deleteBucket(w.Key)]))
		if !ok || del > w.Index {
			return true
		}
	}
	if w.Live {
		if !found || !ok || expired(rec.expireAt, t.now) {
			return true
		}
	}
	return false
}

// Watch returns the watch state of key at time nowMs (unix ms): its version,
// the applied index before the version was read, and whether it holds a live
// value. It copies key. EXEC sends the watches back in NewMulti, and the state
// machine decides there, at one point of the log, whether any key changed.
//
// Watch needs no consistency of its own: a watch taken from stale state only
// makes a conflict more likely, never missed, because the applied index is
// read first and every later write changes the version.
func (f *FSM) Watch(key []byte, nowMs int64) (Watch, error) {
	w := Watch{Key: append([]byte(nil), key...), Index: f.applied.Load()}
	rec, found, ok, err := f.loadRecord(key)
	if err != nil {
		return Watch{}, err
	}
	if w.Version, err = f.recordVersion(key, rec, found, ok); err != nil {
		return Watch{}, err
	}
	w.Live = found && ok && !expired(rec.expireAt, nowMs)
	return w, nil
}

// loadRecord reads key's value record from the engine, expired or not.
func (f *FSM) loadRecord(key []byte) (rec record, found, ok bool, err error) {
	v, err := f.eng.Get(dataKey(key, 0))
	if errors.Is(err, storage.ErrNotFound) {
		return record{}, false, true, nil
	}
	if err != nil {
		return record{}, false, false, err
	}
	rec, ok = decodeRecord(v)
	return rec, true, ok, nil
}

func (f *FSM) recordVersion(key []byte, rec record, found, ok bool) (uint64, error) {
	return recordVersion(rec, found, ok, func() ([]byte, bool, error) {
		v, err := f.eng.Get(versionKey(key))
		if errors.Is(err, storage.ErrNotFound) {
			return nil, false, nil
		}
		return v, err == nil, err
	})
}

// Version returns the version of key: the Raft index of the last write that
// touched it, 0 if it has none.
func (f *FSM) Version(key []byte) (uint64, error) {
	rec, found, ok, err := f.loadRecord(key)
	if err != nil {
		return 0, err
	}
	return f.recordVersion(key, rec, found, ok)
}
