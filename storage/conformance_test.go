package storage

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
)

// engineCase describes one engine under the conformance suite.
type engineCase struct {
	name    string
	durable bool // keeps data across Close and Open, has a layout version
	// cache wraps the engine in a small read cache (Cached): every test
	// must pass with it too, so the cache never serves what the engine
	// would not.
	cache bool
	// behind, when positive, wraps the engine (and its cache) in a
	// write-behind buffer (WriteBehind) of that many bytes: small, so that
	// background flushes happen in the tests, or large, so that reads and
	// iterators are answered from the buffer. Every test must pass with both.
	behind int64
}

var engineCases = []engineCase{
	{name: EngineLevelDB, durable: true},
	{name: EngineMemory, durable: false},
	{name: EngineBolt, durable: true},
}

// conformanceCases are engineCases plus cached variants.
var conformanceCases = append(append([]engineCase(nil), engineCases...),
	engineCase{name: EngineLevelDB, durable: true, cache: true},
	engineCase{name: EngineMemory, cache: true},
	engineCase{name: EngineLevelDB, durable: true, cache: true, behind: 4 << 10},
	engineCase{name: EngineLevelDB, durable: true, behind: 64 << 20},
	engineCase{name: EngineMemory, behind: 4 << 10},
)

// caseName is the subtest name of c.
func (c engineCase) caseName() string {
	n := c.name
	if c.cache {
		n += "+cache"
	}
	if c.behind > 0 {
		n += fmt.Sprintf("+behind%dk", c.behind>>10)
	}
	return n
}

// open opens engine c in dir; cached cases get a 64 KiB cache, small enough
// that evictions happen in the tests.
func (c engineCase) open(dir string) (Engine, error) {
	var o Options
	if c.cache {
		o.CacheBytes = 64 << 10
	}
	o.WriteBehindBytes = c.behind
	return OpenWith(c.name, dir, o)
}

// mustOpen opens the engine c in dir and closes it when the test ends.
func mustOpen(t *testing.T, c engineCase, dir string) Engine {
	t.Helper()
	e, err := c.open(dir)
	if err != nil {
		t.Fatalf("Open(%q): %v", c.caseName(), err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

// mustWrite writes the given puts (key, value, key, value, ...) at index idx.
func mustWrite(t *testing.T, e Engine, idx uint64, kvs ...string) {
	t.Helper()
	var b Batch
	for i := 0; i+1 < len(kvs); i += 2 {
		b.Put([]byte(kvs[i]), []byte(kvs[i+1]))
	}
	if err := e.Write(&b, idx); err != nil {
		t.Fatalf("Write(idx %d): %v", idx, err)
	}
}

// mustGet asserts that r holds want under key.
func mustGet(t *testing.T, r Reader, key, want string) {
	t.Helper()
	got, err := r.Get([]byte(key))
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if string(got) != want {
		t.Fatalf("Get(%q) = %q, want %q", key, got, want)
	}
}

// mustMissing asserts that key is absent from r.
func mustMissing(t *testing.T, r Reader, key string) {
	t.Helper()
	if v, err := r.Get([]byte(key)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(%q) = %q, %v; want ErrNotFound", key, v, err)
	}
}

func mustApplied(t *testing.T, e Engine, want uint64) {
	t.Helper()
	got, err := e.AppliedIndex()
	if err != nil {
		t.Fatalf("AppliedIndex: %v", err)
	}
	if got != want {
		t.Fatalf("AppliedIndex = %d, want %d", got, want)
	}
}

type kv struct{ k, v string }

// collect returns every pair of r in [start, end).
func collect(t *testing.T, r Reader, start, end []byte) []kv {
	t.Helper()
	out, err := iterate(r, start, end)
	if err != nil {
		t.Fatalf("iterator: %v", err)
	}
	return out
}

// iterate is collect for a goroutine other than the test's, which must not
// call t.Fatal: it returns the iterator's error.
func iterate(r Reader, start, end []byte) ([]kv, error) {
	it := r.NewIterator(start, end)
	defer it.Close()
	var out []kv
	for it.Next() {
		out = append(out, kv{string(it.Key()), string(it.Value())})
	}
	return out, it.Err()
}

func mustContent(t *testing.T, r Reader, want ...kv) {
	t.Helper()
	got := collect(t, r, nil, nil)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("content = %q, want %q", got, want)
	}
}

var errSource = errors.New("test: source failed")

// sliceSource is a Source over pairs; with failAt >= 0 it fails instead of
// yielding pair failAt.
type sliceSource struct {
	kvs    []kv
	i      int
	failAt int
	err    error
}

func newSource(failAt int, kvs ...kv) *sliceSource {
	return &sliceSource{kvs: kvs, i: -1, failAt: failAt}
}

func (s *sliceSource) Next() bool {
	if s.err != nil {
		return false
	}
	s.i++
	if s.i == s.failAt {
		s.err = errSource
		return false
	}
	return s.i < len(s.kvs)
}
func (s *sliceSource) Key() []byte   { return []byte(s.kvs[s.i].k) }
func (s *sliceSource) Value() []byte { return []byte(s.kvs[s.i].v) }
func (s *sliceSource) Err() error    { return s.err }

// layoutSetter is implemented by durable engines for the newer-layout test.
type layoutSetter interface{ setLayoutVersion(v uint32) error }

type conformanceTest struct {
	name        string
	durableOnly bool
	run         func(t *testing.T, c engineCase)
}

var conformanceTests = []conformanceTest{
	{name: "GetMissing", run: testGetMissing},
	{name: "BinaryKeysAndValues", run: testBinary},
	{name: "ReturnedValuesAreCopies", run: testCopies},
	{name: "IteratorBounds", run: testIteratorBounds},
	{name: "BatchLaterOpWins", run: testBatchOrder},
	{name: "BatchAllOrNothing", run: testBatchAtomic},
	{name: "AppliedIndex", run: testAppliedIndex},
	{name: "SnapshotIsolation", run: testSnapshotIsolation},
	{name: "SnapshotSurvivesReplace", run: testSnapshotSurvivesReplace},
	{name: "Replace", run: testReplace},
	{name: "ReplaceSourceError", run: testReplaceSourceError},
	{name: "ReplaceFromOwnSnapshot", run: testReplaceFromOwnSnapshot},
	{name: "ClosedEngine", run: testClosed},
	{name: "CloseDuringReplace", run: testCloseDuringReplace},
	{name: "Reopen", run: testReopen},
	{name: "ConcurrentReadersDuringWrites", run: testConcurrentWrites},
	{name: "ConcurrentReadersDuringReplace", run: testConcurrentReplace},
	{name: "ClosedBatchNotVisibleAfterReopen", durableOnly: true, run: testClosedWriteDurable},
	{name: "NewerLayoutRefused", durableOnly: true, run: testNewerLayout},
	{name: "SecondOpenRefused", durableOnly: true, run: testSecondOpen},
}

func TestConformance(t *testing.T) {
	for _, c := range conformanceCases {
		t.Run(c.caseName(), func(t *testing.T) {
			for _, tc := range conformanceTests {
				if tc.durableOnly && !c.durable {
					continue
				}
				t.Run(tc.name, func(t *testing.T) { tc.run(t, c) })
			}
		})
	}
}

func testGetMissing(t *testing.T, c engineCase) {
	e := mustOpen(t, c, t.TempDir())
	mustMissing(t, e, "nope")
	mustMissing(t, e, "")
	mustWrite(t, e, 1, "k", "v")
	var b Batch
	b.Delete([]byte("k"))
	b.Delete([]byte("never-existed"))
	if err := e.Write(&b, 2); err != nil {
		t.Fatal(err)
	}
	mustMissing(t, e, "k")
	mustMissing(t, e, "never-existed")
}

func testBinary(t *testing.T, c engineCase) {
	big := make([]byte, 4<<20)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range big {
		big[i] = byte(r.Uint32())
	}
	pairs := []kv{ // in ascending key order
		{"", "empty key"},
		{"\x00", "nul key"},
		{"\x00k\x00", "\x00v\x00\xff"},
		{"\x01", "one"},
		{"big", string(big)},
		{"empty", ""},
		{"\xff\xff", "\xff"},
	}
	e := mustOpen(t, c, t.TempDir())
	var b Batch
	for _, p := range pairs {
		b.Put([]byte(p.k), []byte(p.v))
	}
	if err := e.Write(&b, 1); err != nil {
		t.Fatal(err)
	}
	for _, p := range pairs {
		t.Run(fmt.Sprintf("%q", p.k), func(t *testing.T) {
			got, err := e.Get([]byte(p.k))
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			if !bytes.Equal(got, []byte(p.v)) {
				t.Fatalf("Get = %d bytes, want %d bytes", len(got), len(p.v))
			}
		})
	}
	if got, err := e.Get([]byte("empty")); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("Get(empty value) = %v, %v; want non-nil empty slice", got, err)
	}
	mustContent(t, e, pairs...)
	snap, err := e.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	mustContent(t, snap, pairs...)
}

func testCopies(t *testing.T, c engineCase) {
	e := mustOpen(t, c, t.TempDir())
	key, val := []byte("key"), []byte("value")
	var b Batch
	b.Put(key, val)
	if err := e.Write(&b, 1); err != nil {
		t.Fatal(err)
	}
	// The caller may reuse its buffers after Write returns.
	copy(key, "XXX")
	copy(val, "XXXXX")
	mustGet(t, e, "key", "value")
	got, err := e.Get([]byte("key"))
	if err != nil {
		t.Fatal(err)
	}
	copy(got, "ZZZZZ")
	mustGet(t, e, "key", "value")
	snap, err := e.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	got, err = snap.Get([]byte("key"))
	if err != nil {
		t.Fatal(err)
	}
	copy(got, "ZZZZZ")
	mustGet(t, snap, "key", "value")
	mustGet(t, e, "key", "value")
}

func testIteratorBounds(t *testing.T, c engineCase) {
	e := mustOpen(t, c, t.TempDir())
	mustWrite(t, e, 1, "b", "2", "a", "1", "d", "4", "c", "3", "e", "5", "\x00", "0")
	all := []string{"\x00", "a", "b", "c", "d", "e"}
	values := map[string]string{"\x00": "0", "a": "1", "b": "2", "c": "3", "d": "4", "e": "5"}
	tests := []struct {
		name       string
		start, end []byte
		want       []string
	}{
		{"nil bounds", nil, nil, all},
		{"empty start", []byte{}, nil, all},
		{"start only", []byte("b"), nil, []string{"b", "c", "d", "e"}},
		{"end only", nil, []byte("c"), []string{"\x00", "a", "b"}},
		{"both", []byte("b"), []byte("d"), []string{"b", "c"}},
		{"between keys", []byte("bb"), []byte("cc"), []string{"c"}},
		{"start equals end", []byte("c"), []byte("c"), nil},
		{"start after end", []byte("d"), []byte("b"), nil},
		{"past last key", []byte("f"), nil, nil},
		{"end is empty key", nil, []byte{}, nil},
	}
	snap, err := e.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, r := range []struct {
				name string
				r    Reader
			}{{"engine", e}, {"snapshot", snap}} {
				var got []string
				for _, p := range collect(t, r.r, tt.start, tt.end) {
					got = append(got, p.k)
					if want := values[p.k]; p.v != want {
						t.Errorf("%s: value of %q = %q, want %q", r.name, p.k, p.v, want)
					}
				}
				if fmt.Sprint(got) != fmt.Sprint(tt.want) {
					t.Errorf("%s: keys = %q, want %q", r.name, got, tt.want)
				}
			}
		})
	}
	// Exhausted and closed iterators stay exhausted.
	it := e.NewIterator(nil, nil)
	for it.Next() {
	}
	if it.Next() {
		t.Fatal("Next after exhaustion returned true")
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	if err := it.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if it.Next() {
		t.Fatal("Next after Close returned true")
	}
}

func testBatchOrder(t *testing.T, c engineCase) {
	e := mustOpen(t, c, t.TempDir())
	mustWrite(t, e, 1, "deleted-then-put", "old", "put-then-deleted", "old")
	var b Batch
	b.Put([]byte("twice"), []byte("first"))
	b.Put([]byte("twice"), []byte("second"))
	b.Delete([]byte("deleted-then-put"))
	b.Put([]byte("deleted-then-put"), []byte("new"))
	b.Put([]byte("put-then-deleted"), []byte("new"))
	b.Delete([]byte("put-then-deleted"))
	if b.Len() != 6 {
		t.Fatalf("Len = %d, want 6", b.Len())
	}
	if err := e.Write(&b, 2); err != nil {
		t.Fatal(err)
	}
	mustGet(t, e, "twice", "second")
	mustGet(t, e, "deleted-then-put", "new")
	mustMissing(t, e, "put-then-deleted")
	b.Reset()
	if b.Len() != 0 {
		t.Fatalf("Len after Reset = %d", b.Len())
	}
}

func testBatchAtomic(t *testing.T, c engineCase) {
	e := mustOpen(t, c, t.TempDir())
	mustWrite(t, e, 1, "a", "1")
	var b Batch
	b.Put([]byte("a"), []byte("2"))
	b.Put([]byte("b"), []byte("2"))
	b.Delete([]byte("c"))
	b.Ops()[2].Kind = 99 // an invalid op after valid ones: nothing may be applied
	if err := e.Write(&b, 2); err == nil {
		t.Fatal("Write with an invalid op succeeded")
	}
	mustGet(t, e, "a", "1")
	mustMissing(t, e, "b")
	mustApplied(t, e, 1)
}

func testClosedWriteDurable(t *testing.T, c engineCase) {
	dir := t.TempDir()
	e := mustOpen(t, c, dir)
	mustWrite(t, e, 1, "a", "1")
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	var b Batch
	b.Put([]byte("a"), []byte("2"))
	b.Put([]byte("b"), []byte("2"))
	if err := e.Write(&b, 2); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write on closed engine = %v, want ErrClosed", err)
	}
	e = mustOpen(t, c, dir)
	mustContent(t, e, kv{"a", "1"})
	mustApplied(t, e, 1)
}

func testAppliedIndex(t *testing.T, c engineCase) {
	e := mustOpen(t, c, t.TempDir())
	mustApplied(t, e, 0)
	mustWrite(t, e, 5, "k", "v")
	mustApplied(t, e, 5)
	if err := e.Write(&Batch{}, 7); err != nil {
		t.Fatalf("empty Write: %v", err)
	}
	mustApplied(t, e, 7)
	mustGet(t, e, "k", "v")
	if err := e.Replace(newSource(-1, kv{"x", "y"}), 9); err != nil {
		t.Fatal(err)
	}
	mustApplied(t, e, 9)
	// The applied index is metadata, not data: it never shows up as a key.
	mustContent(t, e, kv{"x", "y"})
}

func testSnapshotIsolation(t *testing.T, c engineCase) {
	e := mustOpen(t, c, t.TempDir())
	mustWrite(t, e, 3, "a", "1", "b", "2")
	snap, err := e.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var b Batch
	b.Put([]byte("a"), []byte("10"))
	b.Delete([]byte("b"))
	b.Put([]byte("c"), []byte("3"))
	if err := e.Write(&b, 4); err != nil {
		t.Fatal(err)
	}
	if got := snap.AppliedIndex(); got != 3 {
		t.Fatalf("snapshot AppliedIndex = %d, want 3", got)
	}
	mustGet(t, snap, "a", "1")
	mustGet(t, snap, "b", "2")
	mustMissing(t, snap, "c")
	mustContent(t, snap, kv{"a", "1"}, kv{"b", "2"})
	mustContent(t, e, kv{"a", "10"}, kv{"c", "3"})
	mustApplied(t, e, 4)

	// An iterator opened before a write does not see it either.
	it := e.NewIterator(nil, nil)
	mustWrite(t, e, 5, "d", "4")
	var keys []string
	for it.Next() {
		keys = append(keys, string(it.Key()))
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(keys) != "[a c]" {
		t.Fatalf("iterator saw %q, want [a c]", keys)
	}

	// Iterators outlive the release of their snapshot.
	sit := snap.NewIterator(nil, nil)
	snap.Release()
	snap.Release() // idempotent
	if _, err := snap.Get([]byte("a")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get on released snapshot = %v, want ErrClosed", err)
	}
	if it := snap.NewIterator(nil, nil); it.Next() || !errors.Is(it.Err(), ErrClosed) {
		t.Fatalf("iterator of released snapshot: Err = %v, want ErrClosed", it.Err())
	}
	keys = nil
	for sit.Next() {
		keys = append(keys, string(sit.Key())+"="+string(sit.Value()))
	}
	if err := sit.Err(); err != nil {
		t.Fatal(err)
	}
	_ = sit.Close()
	if fmt.Sprint(keys) != "[a=1 b=2]" {
		t.Fatalf("iterator of released snapshot saw %q, want [a=1 b=2]", keys)
	}
}

func testSnapshotSurvivesReplace(t *testing.T, c engineCase) {
	e := mustOpen(t, c, t.TempDir())
	mustWrite(t, e, 1, "old", "1")
	snap, err := e.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	it := e.NewIterator(nil, nil)
	defer it.Close()
	if err := e.Replace(newSource(-1, kv{"new", "2"}), 2); err != nil {
		t.Fatal(err)
	}
	mustContent(t, e, kv{"new", "2"})
	mustContent(t, snap, kv{"old", "1"})
	mustGet(t, snap, "old", "1")
	if !it.Next() || string(it.Key()) != "old" || it.Next() {
		t.Fatalf("iterator opened before Replace did not see exactly the old content (err %v)", it.Err())
	}
	if snap.AppliedIndex() != 1 {
		t.Fatalf("snapshot AppliedIndex = %d, want 1", snap.AppliedIndex())
	}
}

func testReplace(t *testing.T, c engineCase) {
	dir := t.TempDir()
	e := mustOpen(t, c, dir)
	mustWrite(t, e, 10, "gone", "x", "kept", "old", "zzz", "x")
	want := []kv{{"", "empty"}, {"a", "1"}, {"kept", "new"}, {"m", ""}}
	if err := e.Replace(newSource(-1, want...), 20); err != nil {
		t.Fatal(err)
	}
	mustContent(t, e, want...)
	mustMissing(t, e, "gone")
	mustMissing(t, e, "zzz")
	mustGet(t, e, "kept", "new")
	mustApplied(t, e, 20)
	// The engine keeps working after a Replace.
	mustWrite(t, e, 21, "after", "yes")
	mustGet(t, e, "after", "yes")
	mustApplied(t, e, 21)
	// An empty source empties the engine.
	if err := e.Replace(newSource(-1), 30); err != nil {
		t.Fatal(err)
	}
	mustContent(t, e)
	mustApplied(t, e, 30)
	if c.durable {
		mustWrite(t, e, 31, "z", "26")
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		e = mustOpen(t, c, dir)
		mustContent(t, e, kv{"z", "26"})
		mustApplied(t, e, 31)
	}
}

func testReplaceSourceError(t *testing.T, c engineCase) {
	dir := t.TempDir()
	e := mustOpen(t, c, dir)
	mustWrite(t, e, 10, "a", "1", "b", "2")
	for _, failAt := range []int{0, 2} {
		t.Run(fmt.Sprintf("failAt%d", failAt), func(t *testing.T) {
			src := newSource(failAt, kv{"a", "new"}, kv{"c", "3"}, kv{"d", "4"})
			if err := e.Replace(src, 20); !errors.Is(err, errSource) {
				t.Fatalf("Replace = %v, want the source's error", err)
			}
			mustContent(t, e, kv{"a", "1"}, kv{"b", "2"})
			mustApplied(t, e, 10)
		})
	}
	if c.durable {
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		e = mustOpen(t, c, dir)
		mustContent(t, e, kv{"a", "1"}, kv{"b", "2"})
		mustApplied(t, e, 10)
	}
}

func testReplaceFromOwnSnapshot(t *testing.T, c engineCase) {
	e := mustOpen(t, c, t.TempDir())
	mustWrite(t, e, 1, "a", "1", "b", "2")
	snap, err := e.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	mustWrite(t, e, 2, "c", "3")
	it := snap.NewIterator(nil, nil)
	defer it.Close()
	if err := e.Replace(it, 5); err != nil {
		t.Fatal(err)
	}
	mustContent(t, e, kv{"a", "1"}, kv{"b", "2"})
	mustApplied(t, e, 5)
}

func testClosed(t *testing.T, c engineCase) {
	e := mustOpen(t, c, t.TempDir())
	mustWrite(t, e, 1, "a", "1", "b", "2")
	snap, err := e.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	it := e.NewIterator(nil, nil)
	if !it.Next() {
		t.Fatalf("iterator empty: %v", it.Err())
	}
	if err := e.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	checks := []struct {
		name string
		err  func() error
	}{
		{"Get", func() error { _, err := e.Get([]byte("a")); return err }},
		{"Write", func() error { return e.Write(&Batch{}, 2) }},
		{"AppliedIndex", func() error { _, err := e.AppliedIndex(); return err }},
		{"Snapshot", func() error { _, err := e.Snapshot(); return err }},
		{"Replace", func() error { return e.Replace(newSource(-1), 3) }},
		{"NewIterator", func() error {
			it := e.NewIterator(nil, nil)
			defer it.Close()
			if it.Next() {
				return errors.New("Next returned true")
			}
			return it.Err()
		}},
		{"snapshot Get", func() error { _, err := snap.Get([]byte("a")); return err }},
		{"open iterator", func() error {
			if it.Next() {
				return errors.New("Next returned true")
			}
			return it.Err()
		}},
	}
	for _, ck := range checks {
		t.Run(ck.name, func(t *testing.T) {
			if err := ck.err(); !errors.Is(err, ErrClosed) {
				t.Fatalf("%s on closed engine = %v, want ErrClosed", ck.name, err)
			}
		})
	}
	snap.Release()
	if err := it.Close(); err != nil {
		t.Fatalf("iterator Close after engine Close: %v", err)
	}
}

func testReopen(t *testing.T, c engineCase) {
	dir := t.TempDir()
	e := mustOpen(t, c, dir)
	mustWrite(t, e, 42, "k", "v", "\x00bin", "\x00")
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e = mustOpen(t, c, dir)
	if !c.durable {
		mustContent(t, e)
		mustApplied(t, e, 0)
		return
	}
	mustContent(t, e, kv{"\x00bin", "\x00"}, kv{"k", "v"})
	mustApplied(t, e, 42)
}

func testNewerLayout(t *testing.T, c engineCase) {
	dir := t.TempDir()
	e := mustOpen(t, c, dir)
	mustWrite(t, e, 1, "k", "v")
	for unwrapped := false; !unwrapped; {
		switch x := e.(type) {
		case *behindEngine:
			e = x.eng
		case *cachedEngine:
			e = x.Engine
		default:
			unwrapped = true
		}
	}
	ls, ok := e.(layoutSetter)
	if !ok {
		t.Fatalf("%T has no layout test hook", e)
	}
	if err := ls.setLayoutVersion(LayoutVersion + 1); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // a refused open must not change the directory
		e2, err := c.open(dir)
		if !errors.Is(err, ErrNewerLayout) {
			if e2 != nil {
				_ = e2.Close()
			}
			t.Fatalf("Open of newer layout = %v, want ErrNewerLayout", err)
		}
		if e2 != nil {
			t.Fatalf("Open returned an engine with error %v", err)
		}
	}
}

func testSecondOpen(t *testing.T, c engineCase) {
	dir := t.TempDir()
	e := mustOpen(t, c, dir)
	mustWrite(t, e, 1, "k", "v")
	if e2, err := c.open(dir); err == nil {
		_ = e2.Close()
		t.Fatal("second Open of a directory in use succeeded")
	}
	mustGet(t, e, "k", "v")
}

// testConcurrentWrites runs readers against a writer. Each batch writes the
// same counter under "x" and "y", so any point-in-time view has x == y.
func testConcurrentWrites(t *testing.T, c engineCase) {
	e := mustOpen(t, c, t.TempDir())
	mustWrite(t, e, 1, "x", "0", "y", "0")
	const writes = 60
	var stop atomic.Bool
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	report := func(err error) {
		select {
		case errc <- err:
		default:
		}
	}
	var reads atomic.Int64
	var ready sync.WaitGroup
	for r := 0; r < 3; r++ {
		wg.Add(1)
		ready.Add(1)
		go func() {
			defer wg.Done()
			first := true
			defer func() {
				if first {
					ready.Done()
				}
			}()
			for first || !stop.Load() {
				reads.Add(1)
				if _, err := e.Get([]byte("x")); err != nil {
					report(fmt.Errorf("Get: %w", err))
					return
				}
				snap, err := e.Snapshot()
				if err != nil {
					report(fmt.Errorf("Snapshot: %w", err))
					return
				}
				x, err1 := snap.Get([]byte("x"))
				y, err2 := snap.Get([]byte("y"))
				snap.Release()
				if err1 != nil || err2 != nil || !bytes.Equal(x, y) {
					report(fmt.Errorf("snapshot saw x=%q (%v) y=%q (%v)", x, err1, y, err2))
					return
				}
				var vals []string
				it := e.NewIterator(nil, nil)
				for it.Next() {
					vals = append(vals, string(it.Value()))
				}
				err = it.Err()
				_ = it.Close()
				if err != nil || len(vals) != 2 || vals[0] != vals[1] {
					report(fmt.Errorf("iterator saw %q (%v)", vals, err))
					return
				}
				if first {
					first = false
					ready.Done()
				}
			}
		}()
	}
	ready.Wait() // every reader has completed one round; writes now overlap reads
	for i := 2; i < writes+2; i++ {
		v := []byte(fmt.Sprint(i))
		var b Batch
		b.Put([]byte("x"), v)
		b.Put([]byte("y"), v)
		if err := e.Write(&b, uint64(i)); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	mustGet(t, e, "x", fmt.Sprint(writes+1))
	mustApplied(t, e, writes+1)
	if reads.Load() == 0 {
		t.Fatal("readers never ran")
	}
}

// testConcurrentReplace reads while the content is replaced: every read sees
// one whole generation (all keys carry the same value).
func testConcurrentReplace(t *testing.T, c engineCase) {
	e := mustOpen(t, c, t.TempDir())
	gen := func(n int) []kv {
		var kvs []kv
		for i := 0; i < 20; i++ {
			kvs = append(kvs, kv{fmt.Sprintf("k%02d", i), fmt.Sprint(n)})
		}
		return kvs
	}
	if err := e.Replace(newSource(-1, gen(0)...), 1); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	var ready sync.WaitGroup
	for r := 0; r < 2; r++ {
		wg.Add(1)
		ready.Add(1)
		go func() {
			defer wg.Done()
			first := true
			defer func() {
				if first {
					ready.Done()
				}
			}()
			for first || !stop.Load() {
				if _, err := e.Get([]byte("k05")); err != nil {
					errc <- fmt.Errorf("Get: %w", err)
					return
				}
				it := e.NewIterator(nil, nil)
				seen := map[string]bool{}
				n := 0
				for it.Next() {
					seen[string(it.Value())] = true
					n++
				}
				err := it.Err()
				_ = it.Close()
				if err != nil || n != 20 || len(seen) != 1 {
					errc <- fmt.Errorf("iterator saw %d keys, values %v (%v)", n, seen, err)
					return
				}
				if first {
					first = false
					ready.Done()
				}
			}
		}()
	}
	ready.Wait()
	for n := 1; n <= 5; n++ {
		if err := e.Replace(newSource(-1, gen(n)...), uint64(n+1)); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	mustGet(t, e, "k19", "5")
	mustApplied(t, e, 6)
}

func TestOpenUnknownEngine(t *testing.T) {
	for _, name := range []string{"", "rocksdb", "LevelDB"} {
		t.Run(fmt.Sprintf("%q", name), func(t *testing.T) {
			e, err := Open(name, t.TempDir())
			if !errors.Is(err, ErrUnknownEngine) || e != nil {
				t.Fatalf("Open(%q) = %v, %v; want nil, ErrUnknownEngine", name, e, err)
			}
		})
	}
}

func TestNames(t *testing.T) {
	names := Names()
	if len(names) != len(engineCases) || names[0] != DefaultEngine {
		t.Fatalf("Names() = %q", names)
	}
	for i, c := range engineCases {
		if names[i] != c.name {
			t.Fatalf("Names()[%d] = %q, want %q", i, names[i], c.name)
		}
	}
	names[0] = "mutated"
	if Names()[0] != DefaultEngine {
		t.Fatal("Names returned a shared slice")
	}
}

// closingSource yields n pairs of 8 KiB values and starts closing e after the
// first few.
type closingSource struct {
	e      Engine
	n, i   int
	key    []byte
	value  []byte
	closed chan error
}

func (s *closingSource) Next() bool {
	s.i++
	if s.i == 10 {
		go func() { s.closed <- s.e.Close() }()
	}
	if s.i > s.n {
		return false
	}
	s.key = fmt.Appendf(s.key[:0], "new%06d", s.i)
	return true
}
func (s *closingSource) Key() []byte   { return s.key }
func (s *closingSource) Value() []byte { return s.value }
func (s *closingSource) Err() error    { return nil }

// testCloseDuringReplace closes the engine while Replace reads its source:
// Replace either completes or fails with ErrClosed, Close succeeds, and a
// durable engine reopens with either the whole old or the whole new content.
func testCloseDuringReplace(t *testing.T, c engineCase) {
	dir := t.TempDir()
	e := mustOpen(t, c, dir)
	mustWrite(t, e, 1, "old", "1")
	const n = 3000
	src := &closingSource{e: e, n: n, value: make([]byte, 8<<10), closed: make(chan error, 1)}
	rerr := e.Replace(src, 2)
	if rerr != nil && !errors.Is(rerr, ErrClosed) {
		t.Fatalf("Replace during Close = %v, want nil or ErrClosed", rerr)
	}
	if err := <-src.closed; err != nil {
		t.Fatalf("Close during Replace: %v", err)
	}
	t.Logf("Replace returned %v", rerr)
	if !c.durable {
		return
	}
	e = mustOpen(t, c, dir)
	applied, err := e.AppliedIndex()
	if err != nil {
		t.Fatal(err)
	}
	got := collect(t, e, nil, nil)
	switch {
	case applied == 1 && len(got) == 1 && got[0].k == "old":
	case applied == 2 && rerr == nil && len(got) == n:
	default:
		t.Fatalf("after Close during Replace (err %v): applied %d, %d keys", rerr, applied, len(got))
	}
}
