package fsm

import (
	"errors"
	"fmt"

	"github.com/riot-kv/riot-redis/storage"
)

// txn is the write context of one batch of commands. Reads see the writes of
// earlier commands of the same batch through an overlay; at the end every
// pending write goes into one storage.Batch. The writes of a command whose
// result is an error are rolled back, so a failing command changes nothing.
//
// A txn is reused from batch to batch and is not safe for concurrent use.
type txn struct {
	r     storage.Reader
	now   int64  // Command.Now of the command being applied
	index uint64 // Raft index of the entry being applied (key versions)

	idx  map[string]int // engine key -> index in ops; keys are views of ops[i].key
	ops  []pending      // at most one per engine key, in first-write order
	undo []undoRec      // overwritten entries of earlier commands, for rollback
	mark int            // len(ops) when the current command began

	// Key statistics (stats.go): counts including this batch's writes, the
	// committed counts the batch started from, and the counts when the
	// current command began (for rollback).
	keys, expires         int64
	baseKeys, baseExpires int64
	cmdKeys, cmdExpires   int64

	// The latest engine read of a 'k' key, reused by track.
	lastKey   []byte
	lastVal   []byte
	lastFound bool
	lastValid bool
}

// pending is the latest write of one engine key in the batch.
type pending struct {
	key, val []byte
	del      bool
}

type undoRec struct {
	i int
	p pending
}

// emptyValue is the value of index entries whose key carries everything.
var emptyValue = []byte{}

func newTxn(r storage.Reader) *txn {
	return &txn{r: r, idx: make(map[string]int)}
}

// get returns the current value of an engine key: the batch's latest write if
// there is one, else the engine's. A failing engine read means a failing disk;
// it panics because no deterministic result is possible (see DESIGN.md).
func (t *txn) get(key []byte) ([]byte, bool) { return t.read(key, -1) }

// read is get for all of the value (n < 0) or, from the engine, at least its
// first n bytes (storage.GetHead).
func (t *txn) read(key []byte, n int) ([]byte, bool) {
	if i, ok := t.idx[string(key)]; ok {
		p := &t.ops[i]
		return p.val, !p.del
	}
	var v []byte
	var err error
	if n < 0 {
		v, err = t.r.Get(key)
	} else {
		v, err = storage.GetHead(t.r, key, n)
	}
	if err == nil {
		t.remember(key, v, true)
		return v, true
	}
	if errors.Is(err, storage.ErrNotFound) {
		t.remember(key, nil, false)
		return nil, false
	}
	panic(fmt.Errorf("fsm: engine read failed: %w", err))
}

// put records a write of key. The txn keeps key and val: the caller must never
// modify them afterwards.
func (t *txn) put(key, val []byte) { t.write(pending{key: key, val: val}) }

// del records a delete of key, with the same ownership rule as put.
func (t *txn) del(key []byte) { t.write(pending{key: key, del: true}) }

func (t *txn) write(p pending) {
	if len(p.key) > 0 && p.key[0] == nsData {
		t.track(p)
	}
	t.writeRaw(p)
}

// writeRaw records p without the statistics hook (for FLUSHALL, which resets
// the statistics itself). Key versions for WATCH are kept on both paths.
func (t *txn) writeRaw(p pending) {
	if len(p.key) > 0 && p.key[0] == nsData && !p.del {
		// The record carries its version (WATCH); see watch.go.
		p.val = withVersion(p.val, t.index)
	}
	t.touch(p.key, p.del)
	if i, ok := t.idx[string(p.key)]; ok {
		if i < t.mark {
			t.undo = append(t.undo, undoRec{i: i, p: t.ops[i]})
		}
		t.ops[i] = p
		return
	}
	t.idx[bstr(p.key)] = len(t.ops)
	t.ops = append(t.ops, p)
}

// begin starts a command: rollback returns to this point.
func (t *txn) begin(now int64) {
	t.now = now
	t.mark = len(t.ops)
	t.undo = t.undo[:0]
	t.cmdKeys, t.cmdExpires = t.keys, t.expires
}

// rollback discards every write made since begin.
func (t *txn) rollback() {
	for i := len(t.ops) - 1; i >= t.mark; i-- {
		delete(t.idx, bstr(t.ops[i].key))
		t.ops[i] = pending{}
	}
	t.ops = t.ops[:t.mark]
	for j := len(t.undo) - 1; j >= 0; j-- {
		u := t.undo[j]
		t.ops[u.i] = u.p
	}
	t.undo = t.undo[:0]
	t.keys, t.expires = t.cmdKeys, t.cmdExpires
}

// flush adds every pending write to b.
func (t *txn) flush(b *storage.Batch) {
	for i := range t.ops {
		p := &t.ops[i]
		if p.del {
			b.Delete(p.key)
		} else {
			b.Put(p.key, p.val)
		}
	}
}

// reset empties the txn for the next batch, dropping references to its data.
func (t *txn) reset() {
	clear(t.idx)
	clear(t.ops)
	t.ops = t.ops[:0]
	clear(t.undo)
	t.undo = t.undo[:0]
	t.mark = 0
	t.lastVal, t.lastValid = nil, false
}

// loadRecord reads the value record stored under the data key k, whether or
// not it has expired. found is false when there is none; ok is false when the
// stored bytes do not decode.
func (t *txn) loadRecord(k []byte) (rec record, found, ok bool) {
	return decodeStored(t.get(k))
}

// loadHeader is loadRecord for a write that replaces or deletes the record
// whatever it holds: it needs to know only whether there is one, its type
// and its expiry. rec.payload may be cut short and must not be used. The
// read cache answers it even for a key whose value it no longer holds
// (storage.GetHead).
func (t *txn) loadHeader(k []byte) (rec record, found, ok bool) {
	rec, found, ok = decodeStored(t.read(k, maxRecordHeader))
	rec.payload = nil
	return rec, found, ok
}

// decodeStored decodes v, the value read for a data key, when stored says
// there was one.
func decodeStored(v []byte, stored bool) (rec record, found, ok bool) {
	if !stored {
		return record{}, false, true
	}
	rec, ok = decodeRecord(v)
	return rec, true, ok
}
