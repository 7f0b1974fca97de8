package fsm

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/riot-kv/riot-redis/storage"
)

// mustNew returns an FSM over e.
func mustNew(t testing.TB, e storage.Engine) *FSM {
	t.Helper()
	f, err := New(e)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return f
}

// mustMemFSM returns an FSM over a new memory engine, closed at cleanup.
func mustMemFSM(t testing.TB) *FSM {
	t.Helper()
	e := storage.NewMemory()
	t.Cleanup(func() { _ = e.Close() })
	return mustNew(t, e)
}

// logOf returns the command log entry for c at idx.
func logOf(t testing.TB, idx uint64, c *Command) *raft.Log {
	t.Helper()
	b, err := c.MarshalBinary()
	if err != nil {
		t.Fatalf("marshal %v: %v", c.Op, err)
	}
	return &raft.Log{Index: idx, Term: 1, Type: raft.LogCommand, Data: b}
}

// mustApply applies c at idx and returns its result.
func mustApply(t testing.TB, f *FSM, idx uint64, c *Command) Result {
	t.Helper()
	r, ok := f.Apply(logOf(t, idx, c)).(Result)
	if !ok {
		t.Fatalf("Apply did not return a Result")
	}
	if got := f.AppliedIndex(); got < idx {
		t.Fatalf("applied index %d after applying %d", got, idx)
	}
	return r
}

// mustResults converts ApplyBatch's output to Results.
func mustResults(t testing.TB, out []any) []Result {
	t.Helper()
	rs := make([]Result, len(out))
	for i, o := range out {
		r, ok := o.(Result)
		if !ok {
			t.Fatalf("result %d is %T, not a Result", i, o)
		}
		rs[i] = r
	}
	return rs
}

// kv is one engine pair.
type kv struct{ k, v string }

// mustDump returns every engine pair in key order.
func mustDump(t testing.TB, r storage.Reader) []kv {
	t.Helper()
	it := r.NewIterator(nil, nil)
	defer it.Close()
	var out []kv
	for it.Next() {
		out = append(out, kv{string(it.Key()), string(it.Value())})
	}
	if err := it.Err(); err != nil {
		t.Fatalf("iterate: %v", err)
	}
	return out
}

func sameDump(a, b []kv) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// checkExpireIndex fails the test unless the TTL index holds exactly one entry
// per record with an expiry, and nothing else.
func checkExpireIndex(t testing.TB, r storage.Reader) {
	t.Helper()
	want := map[string]bool{}
	got := map[string]bool{}
	for _, p := range mustDump(t, r) {
		switch p.k[0] {
		case nsData:
			rec, ok := decodeRecord([]byte(p.v))
			if ok && rec.expireAt != 0 { // a corrupt record names no expiry
				want[string(expireKey(rec.expireAt, []byte(p.k[1:])))] = true
			}
		case nsExpire:
			got[p.k] = true
		}
	}
	for k := range want {
		if !got[k] {
			t.Errorf("TTL index misses %q", k)
		}
	}
	for k := range got {
		if !want[k] {
			t.Errorf("TTL index has stale entry %q", k)
		}
	}
}

// step is one command applied at a time, with the expected result text.
type step struct {
	now  int64
	cmd  *Command
	want string // Result.String()
}

// probe is an expected read after the steps.
type probe struct {
	key      string
	now      int64
	val      string // "" with absent=true means missing
	absent   bool
	expireAt int64
}

func runSteps(t *testing.T, f *FSM, steps []step) {
	t.Helper()
	for i, s := range steps {
		s.cmd.Now = s.now
		idx := f.AppliedIndex() + 1
		if got := mustApply(t, f, idx, s.cmd); got.String() != s.want {
			t.Fatalf("step %d (%v): got %s, want %s", i, s.cmd.Op, got, s.want)
		}
		checkExpireIndex(t, f.eng)
	}
}

func checkProbes(t *testing.T, f *FSM, probes []probe) {
	t.Helper()
	for _, p := range probes {
		v, ok, err := f.Get([]byte(p.key), p.now)
		if err != nil {
			t.Fatalf("Get(%q): %v", p.key, err)
		}
		if ok == p.absent || string(v) != p.val {
			t.Errorf("Get(%q) at %d = %q, %v; want %q, present=%v", p.key, p.now, v, ok, p.val, !p.absent)
		}
		ex, err := f.Exists([]byte(p.key), p.now)
		if err != nil || ex == p.absent {
			t.Errorf("Exists(%q) at %d = %v, %v", p.key, p.now, ex, err)
		}
		at, _, err := f.ExpireAt([]byte(p.key), p.now)
		if err != nil || at != p.expireAt {
			t.Errorf("ExpireAt(%q) at %d = %d, %v; want %d", p.key, p.now, at, err, p.expireAt)
		}
	}
}

func set(k, v string, o SetOptions) *Command { return NewSet([]byte(k), []byte(v), o) }
func incr(k string, d int64) *Command        { return NewIncrBy([]byte(k), d) }
func del(keys ...string) *Command {
	bs := make([][]byte, len(keys))
	for i, k := range keys {
		bs[i] = []byte(k)
	}
	return NewDel(bs...)
}

func TestSet(t *testing.T) {
	tests := []struct {
		name   string
		steps  []step
		probes []probe
	}{
		{"plain", []step{
			{1, set("k", "v", SetOptions{}), "OK"},
			{2, set("k", "w", SetOptions{}), "OK"},
		}, []probe{{key: "k", now: 3, val: "w"}, {key: "other", now: 3, absent: true}}},
		{"NX", []step{
			{1, set("k", "v", SetOptions{NX: true}), "OK"},
			{2, set("k", "w", SetOptions{NX: true}), "(nil)"},
		}, []probe{{key: "k", now: 3, val: "v"}}},
		{"XX", []step{
			{1, set("k", "v", SetOptions{XX: true}), "(nil)"},
			{2, set("j", "v", SetOptions{}), "OK"},
			{3, set("j", "w", SetOptions{XX: true}), "OK"},
		}, []probe{{key: "k", now: 4, absent: true}, {key: "j", now: 4, val: "w"}}},
		{"GET", []step{
			{1, set("k", "v", SetOptions{Get: true}), "(nil)"},
			{2, set("k", "w", SetOptions{Get: true}), `"v"`},
			{3, set("k", "x", SetOptions{Get: true, NX: true}), `"w"`},
			{4, set("j", "x", SetOptions{Get: true, XX: true}), "(nil)"},
		}, []probe{{key: "k", now: 5, val: "w"}, {key: "j", now: 5, absent: true}}},
		{"relative TTL from Command.Now", []step{
			{1000, set("k", "v", SetOptions{TTL: 500}), "OK"},
		}, []probe{
			{key: "k", now: 1499, val: "v", expireAt: 1500},
			{key: "k", now: 1500, absent: true},
		}},
		{"absolute expiry", []step{
			{1000, set("k", "v", SetOptions{ExpireAt: 5000}), "OK"},
		}, []probe{{key: "k", now: 4999, val: "v", expireAt: 5000}, {key: "k", now: 5000, absent: true}}},
		{"overwrite clears TTL", []step{
			{1000, set("k", "v", SetOptions{TTL: 500}), "OK"},
			{1100, set("k", "w", SetOptions{}), "OK"},
		}, []probe{{key: "k", now: 9999, val: "w"}}},
		{"KEEPTTL", []step{
			{1000, set("k", "v", SetOptions{TTL: 500}), "OK"},
			{1100, set("k", "w", SetOptions{KeepTTL: true}), "OK"},
			{1200, set("j", "w", SetOptions{KeepTTL: true}), "OK"},
		}, []probe{{key: "k", now: 1499, val: "w", expireAt: 1500}, {key: "k", now: 1500, absent: true}, {key: "j", now: 9999, val: "w"}}},
		{"new TTL replaces old", []step{
			{1000, set("k", "v", SetOptions{TTL: 500}), "OK"},
			{1100, set("k", "w", SetOptions{TTL: 5000}), "OK"},
		}, []probe{{key: "k", now: 2000, val: "w", expireAt: 6100}}},
		{"expiry in the past deletes", []step{
			{1000, set("k", "v", SetOptions{TTL: 500}), "OK"},
			{1100, set("k", "w", SetOptions{ExpireAt: 1100, Get: true}), `"v"`},
			{1200, set("j", "w", SetOptions{ExpireAt: 1}), "OK"},
		}, []probe{{key: "k", now: 1100, absent: true}, {key: "j", now: 1200, absent: true}}},
		{"same expiry twice", []step{
			{1000, set("k", "v", SetOptions{ExpireAt: 3000}), "OK"},
			{1100, set("k", "w", SetOptions{ExpireAt: 3000}), "OK"},
		}, []probe{{key: "k", now: 2000, val: "w", expireAt: 3000}}},
		{"expired key is absent", []step{
			{1000, set("k", "v", SetOptions{TTL: 10}), "OK"},
			{2000, set("k", "w", SetOptions{XX: true}), "(nil)"},
			{2000, set("k", "w", SetOptions{Get: true}), "(nil)"},
			{2000, set("j", "v", SetOptions{TTL: 10}), "OK"},
			{3000, set("j", "w", SetOptions{NX: true}), "OK"},
		}, []probe{{key: "k", now: 2001, val: "w"}, {key: "j", now: 3001, val: "w"}}},
		{"option errors change nothing", []step{
			{1, set("k", "v", SetOptions{}), "OK"},
			{2, set("k", "w", SetOptions{NX: true, XX: true}), "(error) " + ErrTextSyntax},
			{2, set("k", "w", SetOptions{KeepTTL: true, TTL: 5}), "(error) " + ErrTextSyntax},
			{2, set("k", "w", SetOptions{TTL: 5, ExpireAt: 9}), "(error) " + ErrTextSyntax},
			{2, set("k", "w", SetOptions{TTL: -5}), "(error) " + ErrTextInvalidExpire},
			{2, set("k", "w", SetOptions{ExpireAt: -5}), "(error) " + ErrTextInvalidExpire},
			{2, set("k", "w", SetOptions{TTL: math.MaxInt64}), "(error) " + ErrTextInvalidExpire},
		}, []probe{{key: "k", now: 3, val: "v"}}},
		{"binary key and empty value", []step{
			{1, set("\x00k\xff", "", SetOptions{}), "OK"},
		}, []probe{{key: "\x00k\xff", now: 2, val: ""}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := mustMemFSM(t)
			runSteps(t, f, tc.steps)
			checkProbes(t, f, tc.probes)
		})
	}
}

func TestIncrBy(t *testing.T) {
	max, min := fmt.Sprint(int64(math.MaxInt64)), fmt.Sprint(int64(math.MinInt64))
	tests := []struct {
		name   string
		steps  []step
		probes []probe
	}{
		{"counts", []step{
			{1, incr("n", 1), "(integer) 1"},
			{2, incr("n", 41), "(integer) 42"},
			{3, incr("n", -50), "(integer) -8"},
		}, []probe{{key: "n", now: 4, val: "-8"}}},
		{"existing integer", []step{
			{1, set("n", "-0", SetOptions{}), "OK"},
			{2, incr("n", 1), "(error) " + ErrTextNotInteger},
			{3, set("n", "10", SetOptions{}), "OK"},
			{4, incr("n", 5), "(integer) 15"},
		}, []probe{{key: "n", now: 5, val: "15"}}},
		{"not an integer", []step{
			{1, set("a", "abc", SetOptions{}), "OK"},
			{1, set("b", " 1", SetOptions{}), "OK"},
			{1, set("c", "01", SetOptions{}), "OK"},
			{1, set("d", "+1", SetOptions{}), "OK"},
			{1, set("e", "", SetOptions{}), "OK"},
			{1, set("f", "9223372036854775808", SetOptions{}), "OK"},
			{2, incr("a", 1), "(error) " + ErrTextNotInteger},
			{2, incr("b", 1), "(error) " + ErrTextNotInteger},
			{2, incr("c", 1), "(error) " + ErrTextNotInteger},
			{2, incr("d", 1), "(error) " + ErrTextNotInteger},
			{2, incr("e", 1), "(error) " + ErrTextNotInteger},
			{2, incr("f", 1), "(error) " + ErrTextNotInteger},
		}, []probe{{key: "a", now: 3, val: "abc"}, {key: "c", now: 3, val: "01"}, {key: "e", now: 3, val: ""}}},
		{"overflow", []step{
			{1, set("hi", max, SetOptions{}), "OK"},
			{1, set("lo", min, SetOptions{}), "OK"},
			{2, incr("hi", 1), "(error) " + ErrTextOverflow},
			{2, incr("lo", -1), "(error) " + ErrTextOverflow},
			{2, incr("lo", math.MinInt64), "(error) " + ErrTextOverflow},
			{2, incr("hi", -1), "(integer) 9223372036854775806"},
			{3, incr("z", math.MinInt64), "(integer) " + min},
		}, []probe{{key: "lo", now: 3, val: min}, {key: "hi", now: 3, val: "9223372036854775806"}, {key: "z", now: 3, val: min}}},
		{"keeps TTL", []step{
			{1000, set("n", "5", SetOptions{TTL: 1000}), "OK"},
			{1500, incr("n", 1), "(integer) 6"},
		}, []probe{{key: "n", now: 1999, val: "6", expireAt: 2000}, {key: "n", now: 2000, absent: true}}},
		{"expired key starts from zero", []step{
			{1000, set("n", "5", SetOptions{TTL: 10}), "OK"},
			{2000, incr("n", 3), "(integer) 3"},
		}, []probe{{key: "n", now: 9999, val: "3"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := mustMemFSM(t)
			runSteps(t, f, tc.steps)
			checkProbes(t, f, tc.probes)
		})
	}
}

func TestDel(t *testing.T) {
	f := mustMemFSM(t)
	runSteps(t, f, []step{
		{1000, set("a", "1", SetOptions{}), "OK"},
		{1000, set("b", "2", SetOptions{TTL: 100}), "OK"},
		{1000, set("c", "3", SetOptions{TTL: 10}), "OK"},
		{1000, del("missing"), "(integer) 0"},
		{1050, del("a", "b", "c", "a", "missing"), "(integer) 2"},
		{1050, del("a", "b", "c"), "(integer) 0"},
	})
	// Only the delete buckets of WATCH (at most 256 records, see watch.go)
	// and the replicated clock (clock.go) remain.
	for _, p := range mustDump(t, f.eng) {
		if p.k[0] != nsDeleted && p.k != string(clockKey) {
			t.Fatalf("engine not empty after deleting everything (expired key included): %q", mustDump(t, f.eng))
		}
	}
}

func TestWrongTypeAndCorruptRecords(t *testing.T) {
	f := mustMemFSM(t)
	var b storage.Batch
	b.Put(dataKey([]byte("h"), 0), []byte{typeHash, 'x'})
	b.Put(dataKey([]byte("bad"), 0), []byte{0x7f})
	if err := f.eng.Write(&b, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.Get([]byte("h"), 1); !errors.Is(err, ErrWrongType) {
		t.Errorf("Get of a hash: %v, want ErrWrongType", err)
	}
	if ok, err := f.Exists([]byte("h"), 1); !ok || err != nil {
		t.Errorf("Exists of a hash = %v, %v", ok, err)
	}
	if _, _, err := f.Get([]byte("bad"), 1); !errors.Is(err, ErrCorruptValue) {
		t.Errorf("Get of a corrupt record: %v, want ErrCorruptValue", err)
	}
	before := mustDump(t, f.eng)
	runSteps(t, f, []step{
		{1, set("h", "v", SetOptions{Get: true}), "(error) " + ErrTextWrongType},
		{1, incr("h", 1), "(error) " + ErrTextWrongType},
		{1, incr("bad", 1), "(error) " + ErrTextCorruptValue},
		{1, set("bad", "v", SetOptions{}), "(error) " + ErrTextCorruptValue},
	})
	if after := mustDump(t, f.eng); !sameDump(before, after) {
		t.Fatalf("failed commands changed the state:\n%q\n%q", before, after)
	}
	runSteps(t, f, []step{
		{1, set("h", "v", SetOptions{}), "OK"}, // SET without GET ignores the old type
		{1, del("bad"), "(integer) 1"},
	})
	checkProbes(t, f, []probe{{key: "h", now: 2, val: "v"}, {key: "bad", now: 2, absent: true}})
}

func TestNoopAndCorruptEntries(t *testing.T) {
	f := mustMemFSM(t)
	mustApply(t, f, 1, set("k", "v", SetOptions{}))
	before := mustDump(t, f.eng)
	unknown := &Command{Op: 200, Args: [][]byte{[]byte("k")}}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"noop", must(NewNoop().MarshalBinary()), "OK"},
		{"garbage", []byte("\xde\xad\xbe\xef"), "(error) " + ErrTextCorruptCommand},
		{"empty", nil, "(error) " + ErrTextCorruptCommand},
		{"unknown op", must(unknown.MarshalBinary()), "(error) " + ErrTextCorruptCommand},
		{"noop with args", must((&Command{Op: OpNoop, Args: [][]byte{{1}}}).MarshalBinary()), "(error) " + ErrTextCorruptCommand},
		{"set missing value", must((&Command{Op: OpSet, Args: [][]byte{[]byte("k")}}).MarshalBinary()), "(error) " + ErrTextCorruptCommand},
		{"del no keys", must((&Command{Op: OpDel}).MarshalBinary()), "(error) " + ErrTextCorruptCommand},
		{"incrby bad delta", must((&Command{Op: OpIncrBy, Args: [][]byte{[]byte("k"), {0x80}}}).MarshalBinary()), "(error) " + ErrTextCorruptCommand},
		{"set bad options", must((&Command{Op: OpSet, Args: [][]byte{[]byte("k"), nil, {0xff}}}).MarshalBinary()), "(error) " + ErrTextCorruptCommand},
		{"removenode empty id", must(NewRemoveNode("").MarshalBinary()), "(error) " + ErrTextInvalidNode},
		{"setnode empty id", must(NewSetNode(NodeMeta{RaftAddr: "x"}).MarshalBinary()), "(error) " + ErrTextInvalidNode},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			idx := f.AppliedIndex() + 1
			out := f.Apply(&raft.Log{Index: idx, Type: raft.LogCommand, Data: tc.data})
			if r := out.(Result); r.String() != tc.want {
				t.Fatalf("got %s, want %s", r, tc.want)
			}
			if f.AppliedIndex() != idx {
				t.Fatalf("applied index %d, want %d", f.AppliedIndex(), idx)
			}
			if got, _ := f.eng.AppliedIndex(); got != idx {
				t.Fatalf("engine applied index %d, want %d", got, idx)
			}
			if after := mustDump(t, f.eng); !sameDump(before, after) {
				t.Fatalf("state changed: %q", after)
			}
		})
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func TestSkipAlreadyApplied(t *testing.T) {
	f := mustMemFSM(t)
	if got := mustApply(t, f, 5, incr("n", 1)); got.Int != 1 {
		t.Fatalf("first apply: %v", got)
	}
	for _, idx := range []uint64{5, 3, 1} {
		if got := mustApply(t, f, idx, incr("n", 1)); got.String() != "(error) "+ErrTextAlreadyApplied {
			t.Fatalf("replay of %d: got %v", idx, got)
		}
	}
	if f.AppliedIndex() != 5 {
		t.Fatalf("applied index moved to %d", f.AppliedIndex())
	}
	checkProbes(t, f, []probe{{key: "n", now: 1, val: "1"}})
}

// countingEngine counts writes and can make them fail.
type countingEngine struct {
	storage.Engine
	mu     sync.Mutex
	writes int
	ops    int
	fail   error
}

func (c *countingEngine) Write(b *storage.Batch, idx uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail != nil {
		return c.fail
	}
	c.writes++
	c.ops += b.Len()
	return c.Engine.Write(b, idx)
}

func TestApplyBatchIsOneWrite(t *testing.T) {
	ce := &countingEngine{Engine: storage.NewMemory()}
	f := mustNew(t, ce)
	logs := []*raft.Log{
		logOf(t, 1, set("k", "1", SetOptions{})),
		logOf(t, 2, incr("k", 1)),
		{Index: 3, Type: raft.LogConfiguration, Data: []byte("not a command")},
		logOf(t, 4, set("k", "x", SetOptions{XX: true, Get: true})),
		logOf(t, 5, incr("k", 1)), // error: not an integer, rolled back
		logOf(t, 6, set("j", "v", SetOptions{TTL: 100})),
		logOf(t, 7, del("j")),
		logOf(t, 8, NewNoop()),
	}
	got := mustResults(t, f.ApplyBatch(logs))
	want := []string{"OK", "(integer) 2", "(nil)", `"2"`, "(error) " + ErrTextNotInteger, "OK", "(integer) 1", "OK"}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("result %d = %s, want %s", i, got[i], want[i])
		}
	}
	if ce.writes != 1 {
		t.Fatalf("%d engine writes, want 1", ce.writes)
	}
	// One op per engine key: k's record (which carries its version) and its
	// hash index entry, the key statistics, the deletes of j's record, TTL
	// index entry and hash index entry (written and deleted within the
	// batch), the delete of j's version record of older layouts, and j's
	// delete bucket.
	if ce.ops != 8 {
		t.Fatalf("batch held %d ops, want 8", ce.ops)
	}
	if idx, _ := ce.AppliedIndex(); idx != 8 || f.AppliedIndex() != 8 {
		t.Fatalf("applied index engine=%d fsm=%d, want 8", idx, f.AppliedIndex())
	}
	checkProbes(t, f, []probe{{key: "k", now: 1, val: "x"}, {key: "j", now: 1, absent: true}})
	checkExpireIndex(t, ce)

	// A batch with only a configuration entry still records its index.
	f.ApplyBatch([]*raft.Log{{Index: 9, Type: raft.LogConfiguration}})
	if idx, _ := ce.AppliedIndex(); idx != 9 {
		t.Fatalf("engine applied index %d after a configuration entry, want 9", idx)
	}
	// A batch of replays writes nothing.
	out := mustResults(t, f.ApplyBatch([]*raft.Log{logOf(t, 8, NewNoop()), logOf(t, 9, NewNoop())}))
	if ce.writes != 2 || out[0].Err != ErrTextAlreadyApplied || out[1].Err != ErrTextAlreadyApplied {
		t.Fatalf("replayed batch: writes=%d results=%v", ce.writes, out)
	}
}

func TestApplyPanicsOnWriteFailure(t *testing.T) {
	ce := &countingEngine{Engine: storage.NewMemory(), fail: errors.New("disk on fire")}
	f := mustNew(t, ce)
	defer func() {
		r := recover()
		err, ok := r.(error)
		if !ok || !strings.Contains(err.Error(), "disk on fire") {
			t.Fatalf("recovered %v, want the write error", r)
		}
		if f.AppliedIndex() != 0 {
			t.Fatalf("applied index advanced to %d despite the failed write", f.AppliedIndex())
		}
	}()
	f.Apply(logOf(t, 1, set("k", "v", SetOptions{})))
	t.Fatal("Apply returned after a failed engine write")
}

func TestTxnRollback(t *testing.T) {
	e := storage.NewMemory()
	defer e.Close()
	tx := newTxn(e)
	tx.begin(0)
	tx.put([]byte("a"), []byte("1"))
	tx.begin(0)
	tx.put([]byte("a"), []byte("2"))
	tx.put([]byte("a"), []byte("3"))
	tx.put([]byte("b"), []byte("1"))
	tx.del([]byte("c"))
	if v, ok := tx.get([]byte("a")); !ok || string(v) != "3" {
		t.Fatalf("overlay read a = %q, %v", v, ok)
	}
	tx.rollback()
	if v, ok := tx.get([]byte("a")); !ok || string(v) != "1" {
		t.Fatalf("a after rollback = %q, %v; want 1", v, ok)
	}
	if _, ok := tx.get([]byte("b")); ok {
		t.Fatal("b survived the rollback")
	}
	var b storage.Batch
	tx.flush(&b)
	if b.Len() != 1 || string(b.Ops()[0].Key) != "a" || string(b.Ops()[0].Value) != "1" {
		t.Fatalf("flushed %+v", b.Ops())
	}
}

func TestSameLogSameState(t *testing.T) {
	var logs []*raft.Log
	for i := range 300 {
		now := int64(1_000_000 + i*7)
		k := fmt.Sprintf("k%d", i%37)
		var c *Command
		switch i % 6 {
		case 0:
			c = set(k, "v", SetOptions{TTL: int64(i%50 + 1)})
		case 1:
			c = incr(k, int64(i))
		case 2:
			c = set(k, fmt.Sprint(i), SetOptions{KeepTTL: true, Get: true})
		case 3:
			c = del(k, fmt.Sprintf("k%d", (i+1)%37))
		case 4:
			c = set(k, "x", SetOptions{NX: true, ExpireAt: now + 20})
		default:
			c = set(k, "y", SetOptions{XX: true})
		}
		c.Now = now
		logs = append(logs, logOf(t, uint64(i+1), c))
	}
	a, b := mustMemFSM(t), mustMemFSM(t)
	ra := mustResults(t, a.ApplyBatch(logs))
	var rb []Result
	for _, l := range logs { // same log, different batching
		rb = append(rb, b.Apply(l).(Result))
	}
	for i := range ra {
		if ra[i].String() != rb[i].String() {
			t.Fatalf("result %d differs: %v vs %v", i, ra[i], rb[i])
		}
	}
	da, db := mustDump(t, a.eng), mustDump(t, b.eng)
	if !sameDump(da, db) || len(da) == 0 {
		t.Fatalf("states differ (%d vs %d pairs)", len(da), len(db))
	}
	checkExpireIndex(t, a.eng)
}

func TestNodes(t *testing.T) {
	f := mustMemFSM(t)
	n := func(id, port string) NodeMeta {
		return NodeMeta{ID: id, RaftAddr: "127.0.0.1:1" + port, RESPAddr: "127.0.0.1:2" + port, RPCAddr: "127.0.0.1:3" + port, HTTPAddr: "127.0.0.1:4" + port}
	}
	for i, m := range []NodeMeta{n("n2", "2"), n("n1", "1"), n("n3", "3"), n("n1", "9")} {
		if r := mustApply(t, f, uint64(i+1), NewSetNode(m)); r.Kind != ResultOK {
			t.Fatalf("SetNode: %v", r)
		}
	}
	got, err := f.Nodes()
	if err != nil {
		t.Fatal(err)
	}
	want := []NodeMeta{n("n1", "9"), n("n2", "2"), n("n3", "3")}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Nodes() = %v, want %v", got, want)
	}
	if m, ok, err := f.Node("n1"); err != nil || !ok || m != n("n1", "9") {
		t.Fatalf("Node(n1) = %v, %v, %v", m, ok, err)
	}
	if r := mustApply(t, f, 5, NewRemoveNode("n2")); r.String() != "(integer) 1" {
		t.Fatalf("RemoveNode: %v", r)
	}
	if r := mustApply(t, f, 6, NewRemoveNode("n2")); r.String() != "(integer) 0" {
		t.Fatalf("RemoveNode again: %v", r)
	}
	if _, ok, err := f.Node("n2"); ok || err != nil {
		t.Fatalf("Node(n2) after removal: %v, %v", ok, err)
	}
	got, _ = f.Nodes()
	if len(got) != 2 || got[0].ID != "n1" || got[1].ID != "n3" {
		t.Fatalf("Nodes() after removal = %v", got)
	}
	// Node metadata never shows up as user data.
	if ok, _ := f.Exists([]byte("n1"), 0); ok {
		t.Fatal("node metadata visible as a key")
	}
}

func TestWaitApplied(t *testing.T) {
	f := mustMemFSM(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 2)
	for range 2 {
		go func() { done <- f.WaitApplied(ctx, 3) }()
	}
	for i := uint64(1); i <= 3; i++ {
		select {
		case err := <-done:
			t.Fatalf("WaitApplied returned %v at applied index %d", err, f.AppliedIndex())
		default:
		}
		mustApply(t, f, i, NewNoop())
	}
	for range 2 {
		if err := <-done; err != nil {
			t.Fatalf("WaitApplied: %v", err)
		}
	}
	if err := f.WaitApplied(context.Background(), 2); err != nil {
		t.Fatalf("WaitApplied for a past index: %v", err)
	}
	short, cancelShort := context.WithCancel(context.Background())
	cancelShort()
	if err := f.WaitApplied(short, 100); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitApplied with a canceled context: %v", err)
	}
}

func TestNewReadsAppliedIndex(t *testing.T) {
	e := storage.NewMemory()
	defer e.Close()
	if err := e.Write(&storage.Batch{}, 42); err != nil {
		t.Fatal(err)
	}
	f := mustNew(t, e)
	if f.AppliedIndex() != 42 {
		t.Fatalf("AppliedIndex() = %d, want 42", f.AppliedIndex())
	}
	if r := mustApply(t, f, 42, NewNoop()); r.Err != ErrTextAlreadyApplied {
		t.Fatalf("entry 42 not skipped: %v", r)
	}
}

// ensure the TTL index key layout is what DESIGN.md says.
func TestExpireKeyLayout(t *testing.T) {
	k := expireKey(0x0102030405060708, []byte("key"))
	want := append([]byte{'e'}, binary.BigEndian.AppendUint64(nil, 0x0102030405060708)...)
	want = append(want, "key"...)
	if !bytes.Equal(k, want) {
		t.Fatalf("expireKey = %x, want %x", k, want)
	}
}

// SET, MSET, MSETNX and DEL read only the header of the record they replace
// (txn.loadHeader), which a read cache too small for the values answers from
// the heads it keeps. The same log gives the same results and state over such
// a cache as over a plain engine.
func TestHeaderReadsSameState(t *testing.T) {
	small := storage.WriteBehind(storage.Cached(storage.NewMemory(), 256<<10), 32<<10)
	t.Cleanup(func() { _ = small.Close() })
	a, b := mustNew(t, small), mustMemFSM(t)
	val := func(i int) string { return fmt.Sprintf("%d:%s", i, strings.Repeat("v", 200+i%1800)) }
	for i := range 3000 {
		now := int64(1_000_000 + i*5)
		k := fmt.Sprintf("k%03d", i%400)
		k2 := fmt.Sprintf("k%03d", (i*7)%400)
		var c *Command
		switch i % 8 {
		case 0, 1:
			c = set(k, val(i), SetOptions{})
		case 2:
			c = set(k, val(i), SetOptions{TTL: int64(i%40 + 1)})
		case 3:
			c = NewMSet([]byte(k), []byte(val(i)), []byte(k2), []byte(val(i+1)))
		case 4:
			c = del(k, k2)
		case 5:
			c = set(k, val(i), SetOptions{NX: i%16 == 5, XX: i%16 == 13})
		case 6:
			c = NewMSetNX([]byte(k), []byte(val(i)), []byte(k2), []byte("x"))
		default:
			c = set(k, val(i), SetOptions{Get: true, KeepTTL: i%16 == 7})
		}
		c.Now = now
		ra, rb := mustApply(t, a, uint64(i+1), c), mustApply(t, b, uint64(i+1), c)
		if ra.String() != rb.String() {
			t.Fatalf("command %d (%v): %v over a small cache, %v over a plain engine", i, c.Op, ra, rb)
		}
	}
	da, db := mustDump(t, a.eng), mustDump(t, b.eng)
	if !sameDump(da, db) || len(da) == 0 {
		t.Fatalf("states differ (%d vs %d pairs)", len(da), len(db))
	}
	ka, ea := a.KeyStats()
	kb, eb := b.KeyStats()
	if ka != kb || ea != eb || ka == 0 {
		t.Fatalf("key statistics differ: %d/%d vs %d/%d", ka, ea, kb, eb)
	}
	checkExpireIndex(t, a.eng)
}
