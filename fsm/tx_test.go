package fsm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/riot-kv/riot-redis/storage"
)

// applyNext applies c at the next index with Now = now.
func applyNext(t testing.TB, f *FSM, now int64, c *Command) Result {
	t.Helper()
	c.Now = now
	return mustApply(t, f, f.AppliedIndex()+1, c)
}

// mustWatch returns the watch state of key at now.
func mustWatch(t testing.TB, f *FSM, key string, now int64) Watch {
	t.Helper()
	w, err := f.Watch([]byte(key), now)
	if err != nil {
		t.Fatalf("Watch(%q): %v", key, err)
	}
	return w
}

func get(k string) *Command { return NewGet([]byte(k)) }

func TestMultiAppliesAtomically(t *testing.T) {
	f := mustMemFSM(t)
	applyNext(t, f, 1000, set("s", "text", SetOptions{}))
	ce := &countingEngine{Engine: f.eng}
	f.eng = ce
	f.txn.r = ce

	r := applyNext(t, f, 1000, NewMulti(nil,
		get("a"),
		set("a", "1", SetOptions{}),
		incr("a", 10),
		incr("s", 1), // a runtime error: the others still apply
		set("b", "x", SetOptions{TTL: 500}),
		NewExists([]byte("a"), []byte("b"), []byte("a"), []byte("none")),
		NewMGet([]byte("a"), []byte("s"), []byte("none")),
		NewStrlen([]byte("b")),
		NewPTTL([]byte("b"), 0),
		NewType([]byte("s")),
		NewDBSize(),
		del("s"),
		get("s"),
	))
	want := `[(nil) OK (integer) 11 (error) ` + ErrTextNotInteger +
		` OK (integer) 3 ["11" "text" (nil)] (integer) 1 (integer) 500 "string" (integer) 3 (integer) 1 (nil)]`
	if r.String() != want {
		t.Fatalf("EXEC = %s\nwant   %s", r, want)
	}
	if ce.writes != 1 {
		t.Fatalf("%d engine writes for one transaction, want 1", ce.writes)
	}
	checkProbes(t, f, []probe{
		{key: "a", now: 1000, val: "11"},
		{key: "b", now: 1000, val: "x", expireAt: 1500},
		{key: "s", now: 1000, absent: true},
	})
	checkExpireIndex(t, f.eng)
	if keys, _ := f.KeyStats(); keys != 2 {
		t.Fatalf("KeyStats keys = %d, want 2", keys)
	}
}

// A failing nested command changes nothing, even when it wrote before it
// failed; the commands around it apply.
func TestMultiRollsBackFailingCommand(t *testing.T) {
	f := mustMemFSM(t)
	// INCRBY of a string that overflows fails after the handler read the
	// key; SET with conflicting options fails before writing.
	applyNext(t, f, 1, set("n", "9223372036854775807", SetOptions{}))
	r := applyNext(t, f, 1, NewMulti(nil,
		set("x", "1", SetOptions{}),
		incr("n", 1),
		set("y", "1", SetOptions{NX: true, XX: true}),
		set("z", "1", SetOptions{}),
	))
	want := `[OK (error) ` + ErrTextOverflow + ` (error) ` + ErrTextSyntax + ` OK]`
	if r.String() != want {
		t.Fatalf("EXEC = %s, want %s", r, want)
	}
	checkProbes(t, f, []probe{
		{key: "x", now: 1, val: "1"},
		{key: "n", now: 1, val: "9223372036854775807"},
		{key: "y", now: 1, absent: true},
		{key: "z", now: 1, val: "1"},
	})
}

// keysInBuckets returns two keys in the same delete bucket and one in
// another bucket.
func keysInBuckets(t *testing.T) (a, sameAsA, other string) {
	t.Helper()
	a = "k0"
	for i := 1; i < 100000 && (sameAsA == "" || other == ""); i++ {
		k := fmt.Sprintf("k%d", i)
		if deleteBucket([]byte(k)) == deleteBucket([]byte(a)) {
			if sameAsA == "" {
				sameAsA = k
			}
		} else if other == "" {
			other = k
		}
	}
	if sameAsA == "" || other == "" {
		t.Fatal("no keys found in the wanted buckets")
	}
	return a, sameAsA, other
}

func TestWatchConflicts(t *testing.T) {
	a, sameBucket, otherBucket := keysInBuckets(t)
	tests := []struct {
		name    string
		setup   []*Command // applied before the watch, at time 1000
		watch   string
		watchAt int64
		between []*Command // applied after the watch, at time 1000
		execAt  int64
		changed bool
	}{
		{name: "unchanged", setup: []*Command{set(a, "1", SetOptions{})}, watch: a, changed: false},
		{name: "unchanged absent", watch: a, changed: false},
		{name: "other key written", setup: []*Command{set(a, "1", SetOptions{})}, watch: a,
			between: []*Command{set(otherBucket, "1", SetOptions{})}, changed: false},
		{name: "overwritten", setup: []*Command{set(a, "1", SetOptions{})}, watch: a,
			between: []*Command{set(a, "1", SetOptions{})}, changed: true},
		{name: "incremented", setup: []*Command{set(a, "1", SetOptions{})}, watch: a,
			between: []*Command{incr(a, 1)}, changed: true},
		{name: "deleted", setup: []*Command{set(a, "1", SetOptions{})}, watch: a,
			between: []*Command{del(a)}, changed: true},
		{name: "created", watch: a, between: []*Command{set(a, "1", SetOptions{})}, changed: true},
		{name: "created and deleted", watch: a,
			between: []*Command{set(a, "1", SetOptions{}), del(a)}, changed: true},
		{name: "deleted and created again", setup: []*Command{set(a, "1", SetOptions{})}, watch: a,
			between: []*Command{del(a), set(a, "1", SetOptions{})}, changed: true},
		// The conservative rule for absent keys: a delete in the same bucket
		// counts; one in another bucket does not.
		{name: "absent, same bucket deleted", setup: []*Command{set(sameBucket, "1", SetOptions{})}, watch: a,
			between: []*Command{del(sameBucket)}, changed: true},
		{name: "absent, other bucket deleted", setup: []*Command{set(otherBucket, "1", SetOptions{})}, watch: a,
			between: []*Command{del(otherBucket)}, changed: false},
		{name: "delete of a missing key", watch: a, between: []*Command{del(a)}, changed: false},
		{name: "failed write", setup: []*Command{set(a, "1", SetOptions{})}, watch: a,
			between: []*Command{set(a, "2", SetOptions{NX: true}), NewMulti(nil, incr(a, 1<<62), set(a, "x", SetOptions{NX: true, XX: true}))},
			changed: true}, // the INCRBY inside the transaction succeeded
		{name: "failing commands only", setup: []*Command{set(a, "x", SetOptions{})}, watch: a,
			between: []*Command{set(a, "2", SetOptions{NX: true}), incr(a, 1), NewMulti(nil, incr(a, 1))},
			changed: false},
		{name: "flushed", setup: []*Command{set(a, "1", SetOptions{})}, watch: a,
			between: []*Command{NewFlush()}, changed: true},
		{name: "flushed, absent", setup: []*Command{set(otherBucket, "1", SetOptions{})}, watch: a,
			between: []*Command{NewFlush()}, changed: false},
		// Expiry: a live key that has expired when EXEC applies counts as
		// modified (Redis 7); one already expired at WATCH does not.
		{name: "expired after watch", setup: []*Command{set(a, "1", SetOptions{TTL: 100})}, watch: a,
			watchAt: 1050, execAt: 1100, changed: true},
		{name: "still live", setup: []*Command{set(a, "1", SetOptions{TTL: 100})}, watch: a,
			watchAt: 1050, execAt: 1099, changed: false},
		{name: "expired before watch", setup: []*Command{set(a, "1", SetOptions{TTL: 100})}, watch: a,
			watchAt: 1200, execAt: 1300, changed: false},
		{name: "expiry set after watch", setup: []*Command{set(a, "1", SetOptions{})}, watch: a,
			between: []*Command{NewExpire([]byte(a), ExpireOptions{When: 10, Relative: true})}, changed: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := mustMemFSM(t)
			for _, c := range tc.setup {
				applyNext(t, f, 1000, c)
			}
			watchAt := max(tc.watchAt, 1000)
			w := mustWatch(t, f, tc.watch, watchAt)
			for _, c := range tc.between {
				applyNext(t, f, 1000, c)
			}
			execAt := max(tc.execAt, 1000)
			r := applyNext(t, f, execAt, NewMulti([]Watch{w}, set("marker", "1", SetOptions{})))
			gotChanged := r.Kind == ResultNil
			if !gotChanged && r.String() != "[OK]" {
				t.Fatalf("EXEC = %s, want [OK] or nil", r)
			}
			if gotChanged != tc.changed {
				t.Fatalf("EXEC = %s: changed = %v, want %v (watch %+v)", r, gotChanged, tc.changed, w)
			}
			if ok, _ := f.Exists([]byte("marker"), 0); ok == gotChanged {
				t.Fatalf("marker exists = %v after EXEC %s", ok, r)
			}
		})
	}
}

// A transaction's own writes, and writes earlier in the same batch, are seen
// by a watch check exactly like writes of earlier batches.
func TestWatchInSameBatch(t *testing.T) {
	f := mustMemFSM(t)
	applyNext(t, f, 1, set("k", "1", SetOptions{}))
	w := mustWatch(t, f, "k", 1)
	idx := f.AppliedIndex()
	logs := []*raft.Log{
		logOf(t, idx+1, NewMulti([]Watch{w}, set("k", "2", SetOptions{}))),
		logOf(t, idx+2, NewMulti([]Watch{w}, set("k", "3", SetOptions{}))),
	}
	rs := mustResults(t, f.ApplyBatch(logs))
	if rs[0].String() != "[OK]" || rs[1].Kind != ResultNil {
		t.Fatalf("results %v, want [OK] then nil", rs)
	}
	checkProbes(t, f, []probe{{key: "k", now: 1, val: "2"}})
	if v, err := f.Version([]byte("k")); err != nil || v != idx+1 {
		t.Fatalf("Version = %d, %v; want %d", v, err, idx+1)
	}
}

// Several watches: one changed key is enough.
func TestWatchSeveralKeys(t *testing.T) {
	f := mustMemFSM(t)
	applyNext(t, f, 1, set("a", "1", SetOptions{}))
	applyNext(t, f, 1, set("b", "1", SetOptions{}))
	ws := []Watch{mustWatch(t, f, "a", 1), mustWatch(t, f, "b", 1), mustWatch(t, f, "c", 1)}
	if r := applyNext(t, f, 1, NewMulti(ws)); r.String() != "[]" {
		t.Fatalf("EXEC of nothing = %s, want []", r)
	}
	applyNext(t, f, 1, set("b", "2", SetOptions{}))
	if r := applyNext(t, f, 1, NewMulti(ws, incr("a", 1))); r.Kind != ResultNil {
		t.Fatalf("EXEC = %s, want nil", r)
	}
	checkProbes(t, f, []probe{{key: "a", now: 1, val: "1"}})
}

func TestCorruptMultiChangesNothing(t *testing.T) {
	good := set("g", "1", SetOptions{})
	goodBytes, _ := good.MarshalBinary()
	nested := NewMulti(nil, good)
	nestedBytes, _ := nested.MarshalBinary()
	node := NewSetNode(NodeMeta{ID: "n1"})
	nodeBytes, _ := node.MarshalBinary()
	unknown := &Command{Op: 250}
	unknownBytes, _ := unknown.MarshalBinary()
	badArity := &Command{Op: OpSet, Args: [][]byte{[]byte("k")}}
	badArityBytes, _ := badArity.MarshalBinary()
	noWatches := NewMulti(nil).Args[0]
	validWatches := NewMulti([]Watch{{Key: []byte("w"), Version: 3, Index: 4, Live: true}}).Args[0]

	tests := []struct {
		name string
		args [][]byte
	}{
		{"no watch set", nil},
		{"empty watch set", [][]byte{{}}},
		{"watch count too large", [][]byte{{5, 1}}},
		{"watch truncated", [][]byte{validWatches[:len(validWatches)-1]}},
		{"watch trailing bytes", [][]byte{append(append([]byte(nil), validWatches...), 0)}},
		{"watch bad flags", [][]byte{append(append([]byte(nil), validWatches[:len(validWatches)-1]...), 2)}},
		{"garbage command", [][]byte{noWatches, goodBytes, {1, 2, 3}}},
		{"empty command", [][]byte{noWatches, goodBytes, {}}},
		{"truncated command", [][]byte{noWatches, goodBytes, goodBytes[:len(goodBytes)-1]}},
		{"nested multi", [][]byte{noWatches, goodBytes, nestedBytes}},
		{"node metadata", [][]byte{noWatches, goodBytes, nodeBytes}},
		{"unknown op", [][]byte{noWatches, goodBytes, unknownBytes}},
		{"wrong arity", [][]byte{noWatches, goodBytes, badArityBytes}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := mustMemFSM(t)
			applyNext(t, f, 1, set("k", "v", SetOptions{}))
			before := mustDump(t, f.eng)
			r := applyNext(t, f, 1, &Command{Op: OpMulti, Args: tc.args})
			if r.Kind != ResultError || r.Err != ErrTextCorruptCommand {
				t.Fatalf("result %s, want %s", r, ErrTextCorruptCommand)
			}
			if after := mustDump(t, f.eng); !sameDump(before, after) {
				t.Fatalf("engine changed:\nbefore %q\nafter  %q", before, after)
			}
		})
	}
	// The watch set round-trips.
	ws, ok := decodeWatches(validWatches)
	if !ok || len(ws) != 1 || string(ws[0].Key) != "w" || ws[0].Version != 3 || ws[0].Index != 4 || !ws[0].Live {
		t.Fatalf("decodeWatches = %+v, %v", ws, ok)
	}
}

// Two state machines on different engines applying the same log, including
// transactions with watches, end with the same results and the same engine
// content, also after a snapshot is restored into a third.
func TestMultiDeterministic(t *testing.T) {
	mem := mustMemFSM(t)
	ldb, err := storage.OpenLevelDB(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ldb.Close() })
	disk := mustNew(t, ldb)

	var logs []*raft.Log
	add := func(now int64, c *Command) {
		c.Now = now
		logs = append(logs, logOf(t, uint64(len(logs)+1), c))
	}
	add(1000, set("a", "1", SetOptions{}))
	add(1000, set("b", "10", SetOptions{TTL: 50}))
	// Watches as a client on any node would take them (both state machines
	// agree on them at this point).
	applyLogs := func(f *FSM, from, to int) []Result {
		var out []Result
		for _, l := range logs[from:to] {
			out = append(out, mustResults(t, f.ApplyBatch([]*raft.Log{l}))...)
		}
		return out
	}
	r1 := applyLogs(mem, 0, 2)
	r2 := applyLogs(disk, 0, 2)
	wa, wb := mustWatch(t, mem, "a", 1000), mustWatch(t, mem, "b", 1000)
	if wd := mustWatch(t, disk, "a", 1000); wd.Version != wa.Version || wd.Index != wa.Index {
		t.Fatalf("watch differs between replicas: %+v vs %+v", wd, wa)
	}
	add(1000, NewMulti([]Watch{wa, wb}, incr("a", 1), incr("b", 1), get("b")))
	add(1000, NewMulti([]Watch{wa}, incr("a", 1))) // conflict: a changed
	add(1060, NewMulti([]Watch{mustWatchAfter(t, logs, "a")}, set("c", "x", SetOptions{}), del("a")))
	add(1060, NewMulti([]Watch{wb}, set("b", "again", SetOptions{}))) // conflict: b expired and changed
	r1 = append(r1, applyLogs(mem, 2, len(logs))...)
	r2 = append(r2, applyLogs(disk, 2, len(logs))...)
	if fmt.Sprint(r1) != fmt.Sprint(r2) {
		t.Fatalf("results differ:\n%v\n%v", r1, r2)
	}
	if got := fmt.Sprint(r1[2:]); got != `[[(integer) 2 (integer) 11 "11"] (nil) [OK (integer) 1] (nil)]` {
		t.Fatalf("results %s", got)
	}
	if a, b := mustDump(t, mem.eng), mustDump(t, disk.eng); !sameDump(a, b) {
		t.Fatalf("engines differ:\n%q\n%q", a, b)
	}

	// The versions travel with a snapshot.
	snap, err := disk.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &bufSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	restored := mustMemFSM(t)
	if err := restored.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	if a, b := mustDump(t, mem.eng), mustDump(t, restored.eng); !sameDump(a, b) {
		t.Fatalf("restored engine differs:\n%q\n%q", a, b)
	}
	wc := mustWatch(t, mem, "c", 1060)
	if wr := mustWatch(t, restored, "c", 1060); wr.Version != wc.Version || wr.Index != wc.Index || !wr.Live || wc.Version == 0 {
		t.Fatalf("restored watch %+v, want %+v", wr, wc)
	}
}

// mustWatchAfter returns the watch a client would take of key once logs so
// far are applied (computed on a scratch state machine).
func mustWatchAfter(t *testing.T, logs []*raft.Log, key string) Watch {
	t.Helper()
	f := mustMemFSM(t)
	for _, l := range logs {
		f.ApplyBatch([]*raft.Log{l})
	}
	return mustWatch(t, f, key, 1060)
}

// bufSink is a raft.SnapshotSink over a buffer.
type bufSink struct{ bytes.Buffer }

func (s *bufSink) ID() string    { return "test" }
func (s *bufSink) Cancel() error { return nil }
func (s *bufSink) Close() error  { return nil }

// Versions survive a restart: they are engine keys written with the data.
func TestVersionsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	e, err := storage.OpenLevelDB(dir)
	if err != nil {
		t.Fatal(err)
	}
	f := mustNew(t, e)
	applyNext(t, f, 1, set("k", "v", SetOptions{}))
	w := mustWatch(t, f, "k", 1)
	if w.Version != 1 || w.Index != 1 || !w.Live {
		t.Fatalf("watch %+v, want version 1, index 1, live", w)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e, err = storage.OpenLevelDB(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	f = mustNew(t, e)
	if got := mustWatch(t, f, "k", 1); got.Version != w.Version {
		t.Fatalf("version after restart %d, want %d", got.Version, w.Version)
	}
	if r := applyNext(t, f, 1, NewMulti([]Watch{w}, get("k"))); r.String() != `["v"]` {
		t.Fatalf("EXEC after restart = %s", r)
	}
}

func TestEval(t *testing.T) {
	f := mustMemFSM(t)
	applyNext(t, f, 1000, set("s", "hello", SetOptions{TTL: 1500}))
	applyNext(t, f, 1000, set("t", "x", SetOptions{}))
	tests := []struct {
		cmd  *Command
		now  int64
		want string
	}{
		{get("s"), 1000, `"hello"`},
		{get("s"), 2500, `(nil)`},
		{get("none"), 1000, `(nil)`},
		{NewExists([]byte("s"), []byte("s"), []byte("none")), 1000, `(integer) 2`},
		{NewMGet([]byte("s"), []byte("none"), []byte("t")), 1000, `["hello" (nil) "x"]`},
		{NewStrlen([]byte("s")), 1000, `(integer) 5`},
		{NewStrlen([]byte("none")), 1000, `(integer) 0`},
		{NewPTTL([]byte("s"), 0), 1000, `(integer) 1500`},
		{NewPTTL([]byte("s"), TTLSeconds), 1000, `(integer) 2`},
		{NewPTTL([]byte("s"), TTLSeconds), 1001, `(integer) 1`},
		{NewPTTL([]byte("s"), TTLAbsolute), 1000, `(integer) 2500`},
		{NewPTTL([]byte("s"), TTLAbsolute|TTLSeconds), 1000, `(integer) 3`},
		{NewPTTL([]byte("t"), 0), 1000, `(integer) -1`},
		{NewPTTL([]byte("none"), 0), 1000, `(integer) -2`},
		{NewPTTL([]byte("s"), 8), 1000, "(error) " + ErrTextCorruptCommand},
		{NewType([]byte("t")), 1000, `"string"`},
		{NewType([]byte("none")), 1000, `"none"`},
		{NewDBSize(), 1000, `(integer) 2`},
		{&Command{Op: OpGet}, 1000, "(error) " + ErrTextCorruptCommand},
	}
	for _, tc := range tests {
		r, err := f.Eval(tc.cmd, tc.now)
		if err != nil || r.String() != tc.want {
			t.Errorf("Eval(%v %q) at %d = %s, %v; want %s", tc.cmd.Op, tc.cmd.Args, tc.now, r, err, tc.want)
		}
	}
	if _, err := f.Eval(set("k", "v", SetOptions{}), 1); err == nil || IsRead(OpSet) || !IsRead(OpGet) {
		t.Fatalf("Eval of a write: %v; IsRead(set) %v, IsRead(get) %v", err, IsRead(OpSet), IsRead(OpGet))
	}
	// A read of a key holding another type.
	applyNext(t, f, 1000, set("h", "x", SetOptions{}))
	hk := dataKey([]byte("h"), 0)
	var b storage.Batch
	b.Put(hk, append([]byte{typeHash}, "payload"...))
	if err := f.eng.Write(&b, f.AppliedIndex()); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*Command{get("h"), NewStrlen([]byte("h"))} {
		if r, _ := f.Eval(c, 1000); r.Err != ErrTextWrongType {
			t.Errorf("Eval(%v) of a hash = %s, want WRONGTYPE", c.Op, r)
		}
	}
	if r, _ := f.Eval(NewMGet([]byte("h")), 1000); r.String() != "[(nil)]" {
		t.Errorf("MGET of a hash = %s", r)
	}
	if r, _ := f.Eval(NewType([]byte("h")), 1000); r.String() != `"hash"` {
		t.Errorf("TYPE of a hash = %s", r)
	}
}

// FuzzMulti applies OpMulti entries with arbitrary arguments: they never
// panic, and one that is not an array or nil changes nothing.
func FuzzMulti(f *testing.F) {
	good, _ := set("k", "v", SetOptions{}).MarshalBinary()
	ws := NewMulti([]Watch{{Key: []byte("k"), Version: 1, Index: 1, Live: true}}).Args[0]
	f.Add(ws, good, []byte{})
	f.Add([]byte{0}, good, good)
	f.Add([]byte{1, 1, 'k', 0, 0, 1}, []byte{1, 97, 0, 1, 1, 'k'}, []byte{1, 96, 0, 1, 0})
	f.Fuzz(func(t *testing.T, watches, c1, c2 []byte) {
		m := mustMemFSM(t)
		applyNext(t, m, 1, set("k", "v", SetOptions{}))
		before := mustDump(t, m.eng)
		r := applyNext(t, m, 1, &Command{Op: OpMulti, Args: [][]byte{watches, c1, c2}})
		switch r.Kind {
		case ResultArray, ResultNil:
		case ResultError:
			if after := mustDump(t, m.eng); !sameDump(before, after) {
				t.Fatalf("failed OpMulti %s changed the engine", r)
			}
		default:
			t.Fatalf("OpMulti result %s", r)
		}
	})
}

// Records written before versions moved into records carry a separate 'v'
// version record: WATCH reads it, a write replaces it with the record's own
// version, and a delete removes it.
func TestWatchReadsVersionsOfOlderRecords(t *testing.T) {
	e := storage.NewMemory()
	t.Cleanup(func() { _ = e.Close() })
	var b storage.Batch
	b.Put(dataKey([]byte("a"), 0), []byte{typeString, '1'}) // older layout: no version field
	b.Put(versionKey([]byte("a")), binary.BigEndian.AppendUint64(nil, 5))
	b.Put(dataKey([]byte("b"), 0), []byte{typeString, '2'}) // older, never versioned
	if err := e.Write(&b, 7); err != nil {
		t.Fatal(err)
	}
	f := mustNew(t, e)

	if v, err := f.Version([]byte("a")); err != nil || v != 5 {
		t.Fatalf("Version(a) = %d, %v; want 5 from the older version record", v, err)
	}
	w, err := f.Watch([]byte("a"), 0)
	if err != nil || w.Version != 5 || !w.Live {
		t.Fatalf("Watch(a) = %+v, %v", w, err)
	}
	if v, err := f.Version([]byte("b")); err != nil || v != 0 {
		t.Fatalf("Version(b) = %d, %v; want 0", v, err)
	}
	if got, ok, err := f.Get([]byte("a"), 0); err != nil || !ok || string(got) != "1" {
		t.Fatalf("GET a = %q %v %v", got, ok, err)
	}

	// EXEC with the watch taken before a write fails; one taken after runs.
	mustApply(t, f, 10, NewSet([]byte("a"), []byte("x"), SetOptions{}))
	raw, err := e.Get(dataKey([]byte("a"), 0))
	if err != nil || raw[0]&recHasVersion == 0 {
		t.Fatalf("rewritten record %q (%v) has no version field", raw, err)
	}
	if v, err := f.Version([]byte("a")); err != nil || v != 10 {
		t.Fatalf("Version(a) after SET at 10 = %d, %v", v, err)
	}
	if r := mustApply(t, f, 11, NewMulti([]Watch{w}, NewSet([]byte("a"), []byte("y"), SetOptions{}))); r.Kind != ResultNil {
		t.Fatalf("EXEC with a stale watch = %v, want nil (aborted)", r)
	}
	w2, err := f.Watch([]byte("a"), 0)
	if err != nil || w2.Version != 10 {
		t.Fatalf("Watch(a) = %+v, %v", w2, err)
	}
	if r := mustApply(t, f, 12, NewMulti([]Watch{w2}, NewSet([]byte("a"), []byte("z"), SetOptions{}))); r.Kind != ResultArray {
		t.Fatalf("EXEC with a current watch = %v", r)
	}
	if got, _, _ := f.Get([]byte("a"), 0); string(got) != "z" {
		t.Fatalf("a = %q after EXEC", got)
	}

	mustApply(t, f, 13, NewDel([]byte("a")))
	if _, err := e.Get(versionKey([]byte("a"))); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("version record of a deleted key: %v", err)
	}
	if v, err := f.Version([]byte("a")); err != nil || v != 0 {
		t.Fatalf("Version(a) after DEL = %d, %v", v, err)
	}
}
