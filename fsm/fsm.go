package fsm

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"

	"github.com/riot-kv/riot-redis/storage"
)

// FSM is the Raft state machine over a storage engine. It implements
// raft.BatchingFSM. Apply, ApplyBatch, Snapshot and Restore are serialized;
// reads (Get, Exists, Nodes, ...) may run concurrently with them.
type FSM struct {
	// clock is the replicated clock (clock.go): the time the last command
	// ran at; clockStored is the value the engine holds.
	clock, clockStored int64
	eng                storage.Engine
	applied            atomic.Uint64

	// Key statistics of the applied state (KeyStats).
	statKeys, statExpires atomic.Int64

	mu    sync.RWMutex // serializes Apply, ApplyBatch, Snapshot and Restore; View read-locks it
	txn   *txn
	batch storage.Batch
	cmd   Command // decode scratch, reused

	waitMu sync.Mutex
	waitCh chan struct{} // closed when the applied index advances; nil if no waiter
}

var _ raft.BatchingFSM = (*FSM)(nil)

// Reader is the read side of the state machine, as served to clients. Every
// read takes the reader's current time (unix ms) to decide expiry.
type Reader interface {
	Get(key []byte, nowMs int64) (value []byte, ok bool, err error)
	Exists(key []byte, nowMs int64) (bool, error)
	ExpireAt(key []byte, nowMs int64) (expireAt int64, ok bool, err error)
}

var _ Reader = (*FSM)(nil)

// New returns a state machine over e, starting from the applied index e has
// recorded. The FSM does not own e: the caller closes it.
func New(e storage.Engine) (*FSM, error) {
	idx, err := e.AppliedIndex()
	if err != nil {
		return nil, fmt.Errorf("fsm: read applied index: %w", err)
	}
	f := &FSM{eng: e, txn: newTxn(e)}
	f.applied.Store(idx)
	if err := f.loadStats(); err != nil {
		return nil, err
	}
	if err := f.loadClock(); err != nil {
		return nil, err
	}
	return f, nil
}

// Boxed results shared by every call, so common replies cost no allocation.
var (
	boxedOK      any = resOK
	boxedNil     any = resNil
	boxedZero    any = intResult(0)
	boxedOne     any = intResult(1)
	boxedApplied any = errResult(ErrTextAlreadyApplied)
	boxedCorrupt any = resCorrupt
)

func box(r Result) any {
	switch r.Kind {
	case ResultOK:
		return boxedOK
	case ResultNil:
		return boxedNil
	case ResultInt:
		switch r.Int {
		case 0:
			return boxedZero
		case 1:
			return boxedOne
		}
	case ResultError:
		if r.Err == ErrTextCorruptCommand {
			return boxedCorrupt
		}
	}
	return r
}

// Apply applies one committed log entry and returns its Result.
func (f *FSM) Apply(l *raft.Log) any {
	var out [1]any
	logs := [1]*raft.Log{l}
	f.apply(logs[:], out[:])
	return out[0]
}

// ApplyBatch applies committed log entries in one atomic engine write that
// also records the index of the last one, and returns one Result per entry.
//
// Entries at or below the applied index were applied before and are skipped
// (result ErrTextAlreadyApplied). Entries that are not commands (Raft
// configuration changes) only advance the index (result ResultNil). An entry
// that does not decode to a known command yields ErrTextCorruptCommand and
// changes nothing. A failing engine write means a failing disk: ApplyBatch
// panics, since the node cannot continue without diverging from its peers.
func (f *FSM) ApplyBatch(logs []*raft.Log) []any {
	out := make([]any, len(logs))
	f.apply(logs, out)
	return out
}

func (f *FSM) apply(logs []*raft.Log, out []any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	start := f.applied.Load()
	last := start
	t := f.txn
	for i, l := range logs {
		if l.Index <= last {
			out[i] = boxedApplied
			continue
		}
		last = l.Index
		if l.Type != raft.LogCommand {
			out[i] = boxedNil
			continue
		}
		if err := f.cmd.decode(l.Data); err != nil {
			out[i] = boxedCorrupt
			continue
		}
		t.index = l.Index
		f.cmd.Now = f.runAt(f.cmd.Now)
		r := t.exec(&f.cmd)
		if r.Kind != ResultError {
			f.advance(f.cmd.Now)
		}
		out[i] = box(r)
	}
	clear(f.cmd.Args[:cap(f.cmd.Args)]) // drop references to the logs' data
	if last == start {
		return
	}
	t.putStats()
	f.putClock(t)
	t.flush(&f.batch)
	err := f.eng.Write(&f.batch, last)
	f.batch.Reset()
	t.reset()
	if err != nil {
		panic(fmt.Errorf("fsm: engine write at index %d failed: %w", last, err))
	}
	f.publishStats(t.keys, t.expires)
	f.setApplied(last)
}

// setApplied publishes a new applied index and wakes WaitApplied callers.
func (f *FSM) setApplied(idx uint64) {
	f.applied.Store(idx)
	f.waitMu.Lock()
	if f.waitCh != nil {
		close(f.waitCh)
		f.waitCh = nil
	}
	f.waitMu.Unlock()
}

// AppliedIndex returns the index of the last log entry whose effects are in
// the engine.
func (f *FSM) AppliedIndex() uint64 { return f.applied.Load() }

// EngineStats describes the engine's read cache and write-behind buffer.
func (f *FSM) EngineStats() storage.Stats { return storage.StatsOf(f.eng) }

// WaitApplied blocks until AppliedIndex() >= index or ctx is done, and then
// returns ctx's error.
func (f *FSM) WaitApplied(ctx context.Context, index uint64) error {
	for {
		if f.applied.Load() >= index {
			return nil
		}
		f.waitMu.Lock()
		if f.applied.Load() >= index {
			f.waitMu.Unlock()
			return nil
		}
		if f.waitCh == nil {
			f.waitCh = make(chan struct{})
		}
		ch := f.waitCh
		f.waitMu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Get returns the string value of key at time nowMs (unix ms). An expired key
// is absent. It returns ErrWrongType when the key holds another type and
// ErrCorruptValue when the stored record does not decode.
func (f *FSM) Get(key []byte, nowMs int64) ([]byte, bool, error) {
	rec, ok, err := f.read(key, nowMs)
	if err != nil || !ok {
		return nil, false, err
	}
	if rec.typ != typeString {
		return nil, false, ErrWrongType
	}
	return rec.payload, true, nil
}

// Exists reports whether key holds a value at time nowMs.
func (f *FSM) Exists(key []byte, nowMs int64) (bool, error) {
	_, ok, err := f.read(key, nowMs)
	return ok, err
}

// ExpireAt returns the absolute expiry (unix ms, 0 for none) of key at time
// nowMs, and whether the key exists.
func (f *FSM) ExpireAt(key []byte, nowMs int64) (int64, bool, error) {
	rec, ok, err := f.read(key, nowMs)
	if err != nil || !ok {
		return 0, false, err
	}
	return rec.expireAt, true, nil
}

func (f *FSM) read(key []byte, nowMs int64) (record, bool, error) {
	v, err := f.eng.Get(dataKey(key, 0))
	if errors.Is(err, storage.ErrNotFound) {
		return record{}, false, nil
	}
	if err != nil {
		return record{}, false, err
	}
	rec, ok := decodeRecord(v)
	if !ok {
		return record{}, false, ErrCorruptValue
	}
	if expired(rec.expireAt, nowMs) {
		return record{}, false, nil
	}
	return rec, true, nil
}

// Nodes returns the metadata of every node, sorted by ID.
func (f *FSM) Nodes() ([]NodeMeta, error) {
	it := f.eng.NewIterator([]byte{nsNode}, []byte{nsNode + 1})
	var nodes []NodeMeta
	for it.Next() {
		m, ok := decodeNodeMeta(it.Value())
		if !ok {
			err := fmt.Errorf("%w: node %q", ErrCorruptValue, it.Key()[1:])
			it.Close()
			return nil, err
		}
		nodes = append(nodes, m)
	}
	err := it.Err()
	if cerr := it.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	// Engine keys are 'n' + ID in ascending byte order: already sorted by ID.
	return nodes, nil
}

// Node returns the metadata of node id.
func (f *FSM) Node(id string) (NodeMeta, bool, error) {
	v, err := f.eng.Get(nodeKey([]byte(id)))
	if errors.Is(err, storage.ErrNotFound) {
		return NodeMeta{}, false, nil
	}
	if err != nil {
		return NodeMeta{}, false, err
	}
	m, ok := decodeNodeMeta(v)
	if !ok {
		return NodeMeta{}, false, fmt.Errorf("%w: node %q", ErrCorruptValue, id)
	}
	return m, true, nil
}

// View runs fn while no batch is being applied, so every read fn makes sees
// the state after the same log entry: a multi-key read (MGET, EXISTS k1 k2,
// SCAN's page) is atomic with respect to writes. Concurrent Views run in
// parallel; an Apply waits for the running ones. fn must not call Apply,
// Snapshot or Restore.
func (f *FSM) View(fn func(*FSM) error) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return fn(f)
}
