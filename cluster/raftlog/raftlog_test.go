package raftlog

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/riot-kv/riot-redis/internal/diskfault"
)

// ---- helpers ----

func mustOpen(t testing.TB, dir string, segSize int64) *Log {
	t.Helper()
	l, err := Open(dir, Options{SegmentSize: segSize})
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return l
}

func mustClose(t testing.TB, l *Log) {
	t.Helper()
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func mustStore(t testing.TB, l *Log, logs ...*raft.Log) {
	t.Helper()
	if err := l.StoreLogs(logs); err != nil {
		t.Fatalf("StoreLogs(%d..%d): %v", logs[0].Index, logs[len(logs)-1].Index, err)
	}
}

func mustDelete(t testing.TB, l *Log, min, max uint64) {
	t.Helper()
	if err := l.DeleteRange(min, max); err != nil {
		t.Fatalf("DeleteRange(%d, %d): %v", min, max, err)
	}
}

func mustBounds(t testing.TB, l *Log) (first, last uint64) {
	t.Helper()
	first, err := l.FirstIndex()
	if err != nil {
		t.Fatalf("FirstIndex: %v", err)
	}
	last, err = l.LastIndex()
	if err != nil {
		t.Fatalf("LastIndex: %v", err)
	}
	return first, last
}

func mustBoundsEqual(t testing.TB, l *Log, first, last uint64) {
	t.Helper()
	f, la := mustBounds(t, l)
	if f != first || la != last {
		t.Fatalf("bounds = %d..%d, want %d..%d", f, la, first, last)
	}
}

func mustNotFound(t testing.TB, l *Log, idx uint64) {
	t.Helper()
	var out raft.Log
	if err := l.GetLog(idx, &out); !errors.Is(err, raft.ErrLogNotFound) {
		t.Fatalf("GetLog(%d) = %v (entry %d), want ErrLogNotFound", idx, err, out.Index)
	}
}

// diffLog describes how got differs from want, "" when equal.
func diffLog(got, want *raft.Log) string {
	var d []string
	if got.Index != want.Index {
		d = append(d, fmt.Sprintf("index %d, want %d", got.Index, want.Index))
	}
	if got.Term != want.Term {
		d = append(d, fmt.Sprintf("term %d, want %d", got.Term, want.Term))
	}
	if got.Type != want.Type {
		d = append(d, fmt.Sprintf("type %v, want %v", got.Type, want.Type))
	}
	if !bytes.Equal(got.Data, want.Data) {
		d = append(d, fmt.Sprintf("data (%d bytes) differs from want (%d bytes)", len(got.Data), len(want.Data)))
	}
	if !bytes.Equal(got.Extensions, want.Extensions) {
		d = append(d, fmt.Sprintf("extensions %q, want %q", got.Extensions, want.Extensions))
	}
	if !got.AppendedAt.Equal(want.AppendedAt) || got.AppendedAt.IsZero() != want.AppendedAt.IsZero() {
		d = append(d, fmt.Sprintf("appended at %v, want %v", got.AppendedAt, want.AppendedAt))
	}
	return strings.Join(d, "; ")
}

func mustEntry(t testing.TB, l *Log, want *raft.Log) {
	t.Helper()
	var got raft.Log
	if err := l.GetLog(want.Index, &got); err != nil {
		t.Fatalf("GetLog(%d): %v", want.Index, err)
	}
	if d := diffLog(&got, want); d != "" {
		t.Fatalf("GetLog(%d): %s", want.Index, d)
	}
}

// mustRange checks that every entry from..to reads back as gen makes it.
func mustRange(t testing.TB, l *Log, from, to uint64, gen func(uint64) *raft.Log) {
	t.Helper()
	for i := from; i <= to; i++ {
		mustEntry(t, l, gen(i))
	}
}

// mustSegments lists the segment files in dir, sorted by base index.
func mustSegments(t testing.TB, dir string) []uint64 {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read dir: %v", err)
	}
	var bases []uint64
	for _, e := range ents {
		if name, ok := strings.CutSuffix(e.Name(), segmentExt); ok {
			b, err := strconv.ParseUint(name, 10, 64)
			if err != nil {
				t.Fatalf("bad segment name %s", e.Name())
			}
			bases = append(bases, b)
		}
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	return bases
}

// mustTailZero checks that the last segment holds only zeros after its
// last record.
func mustTailZero(t testing.TB, l *Log) {
	t.Helper()
	s := l.tail()
	if s == nil {
		return
	}
	data, err := os.ReadFile(s.path)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(data)) != s.size {
		t.Fatalf("segment %s is %d bytes, log thinks %d", s.path, len(data), s.size)
	}
	if !allZero(data[s.end:]) {
		t.Fatalf("segment %s holds non-zero bytes after its last record (offset %d)", s.path, s.end)
	}
}

// mustFlip xors a byte of the file at off.
func mustFlip(t testing.TB, path string, off int64, mask byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b [1]byte
	if _, err := f.ReadAt(b[:], off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= mask
	if _, err := f.WriteAt(b[:], off); err != nil {
		t.Fatal(err)
	}
}

// mustCorruptOpen asserts that Open refuses the log in dir with ErrCorrupt.
func mustCorruptOpen(t testing.TB, dir string, segSize int64) {
	t.Helper()
	l, err := Open(dir, Options{SegmentSize: segSize})
	if err == nil {
		l.Close()
		t.Fatal("Open accepted a damaged log")
	}
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open = %v, want ErrCorrupt", err)
	}
}

// mustOverwrite replaces path's bytes from off to the end of the file with
// zeros or random non-zero bytes, keeping the size.
func mustOverwrite(t testing.TB, path string, off int64, garbage bool, rng *rand.Rand) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, st.Size()-off)
	if garbage {
		for i := range b {
			b[i] = byte(1 + rng.IntN(255)) // never zero: zeros are what a crash leaves
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	if st2, _ := f.Stat(); st2.Size() != st.Size() {
		t.Fatalf("file size changed")
	}
}

// fill returns n deterministic bytes for (idx, salt) with no zero byte, so
// overwriting any part of a record with zeros changes it.
func fill(idx uint64, salt byte, n int) []byte {
	b := make([]byte, n)
	x := uint32(idx)*2654435761 + uint32(salt)*40503
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = byte(x>>24) | 1
	}
	return b
}

// gen is the default entry for an index: the term grows slowly and the data
// size varies.
func gen(idx uint64) *raft.Log {
	return &raft.Log{
		Index:      idx,
		Term:       1 + idx/64,
		Type:       raft.LogCommand,
		Data:       fill(idx, 0, int(idx*37%300)),
		AppendedAt: time.Unix(1_700_000_000, int64(idx)),
	}
}

// genN is gen with data of n bytes.
func genN(n int, salt byte, term uint64) func(uint64) *raft.Log {
	return func(idx uint64) *raft.Log {
		return &raft.Log{Index: idx, Term: term, Type: raft.LogCommand, Data: fill(idx, salt, n)}
	}
}

func batch(from, to uint64, g func(uint64) *raft.Log) []*raft.Log {
	var out []*raft.Log
	for i := from; i <= to; i++ {
		out = append(out, g(i))
	}
	return out
}

// ---- 1. round trip ----

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, 0)
	mustBoundsEqual(t, l, 0, 0)
	mustNotFound(t, l, 0)
	mustNotFound(t, l, 1)

	big := fill(4, 9, 1<<20)
	now := time.Now()
	entries := []*raft.Log{
		{Index: 1, Term: 1, Type: raft.LogCommand}, // nil data, zero AppendedAt
		{Index: 2, Term: 1, Type: raft.LogNoop, Data: []byte{}, Extensions: []byte{}},
		{Index: 3, Term: 2, Type: raft.LogConfiguration, Data: []byte{0x7f}, Extensions: []byte("ext"), AppendedAt: now},
		{Index: 4, Term: 3, Type: raft.LogBarrier, Data: big, Extensions: fill(4, 1, 300), AppendedAt: now.Add(time.Second)},
		{Index: 5, Term: 3, Type: raft.LogCommand, Data: []byte("hello"), AppendedAt: time.Unix(1_700_000_000, 123456789).UTC()},
		{Index: 6, Term: 1 << 62, Type: raft.LogType(255), Data: []byte{0}, Extensions: []byte{0}, AppendedAt: time.Unix(-5, 0)},
	}
	mustStore(t, l, entries[:3]...)
	if err := l.StoreLog(entries[3]); err != nil {
		t.Fatalf("StoreLog: %v", err)
	}
	mustStore(t, l, entries[4:]...)

	check := func(l *Log) {
		t.Helper()
		mustBoundsEqual(t, l, 1, 6)
		// Reuse one raft.Log: fields of a previous entry must not leak.
		var out raft.Log
		for _, want := range append(append([]*raft.Log(nil), entries...), entries[3], entries[0]) {
			if err := l.GetLog(want.Index, &out); err != nil {
				t.Fatalf("GetLog(%d): %v", want.Index, err)
			}
			if d := diffLog(&out, want); d != "" {
				t.Fatalf("GetLog(%d): %s", want.Index, d)
			}
		}
		if !out.AppendedAt.IsZero() {
			t.Fatalf("zero AppendedAt read back as %v", out.AppendedAt)
		}
		for _, idx := range []uint64{0, 7, 8, 1 << 40, ^uint64(0)} {
			mustNotFound(t, l, idx)
		}
		if !l.IsMonotonic() {
			t.Fatal("IsMonotonic = false")
		}
	}
	check(l)
	mustClose(t, l)

	// A closed log refuses everything; a second Close is harmless.
	var out raft.Log
	if err := l.GetLog(1, &out); !errors.Is(err, ErrClosed) {
		t.Fatalf("GetLog after Close = %v", err)
	}
	if _, err := l.LastIndex(); !errors.Is(err, ErrClosed) {
		t.Fatalf("LastIndex after Close = %v", err)
	}
	if _, err := l.FirstIndex(); !errors.Is(err, ErrClosed) {
		t.Fatalf("FirstIndex after Close = %v", err)
	}
	if err := l.StoreLog(&raft.Log{Index: 7, Term: 3}); !errors.Is(err, ErrClosed) {
		t.Fatalf("StoreLog after Close = %v", err)
	}
	if err := l.DeleteRange(1, 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("DeleteRange after Close = %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	l = mustOpen(t, dir, 0)
	check(l)
	mustStore(t, l, &raft.Log{Index: 7, Term: 4, Data: []byte("after reopen")})
	mustEntry(t, l, &raft.Log{Index: 7, Term: 4, Data: []byte("after reopen")})
	mustClose(t, l)

	if _, err := Open(t.TempDir(), Options{SegmentSize: 20}); err == nil {
		t.Fatal("Open accepted a 20-byte segment size")
	}
}

// ---- 2. batches spanning segments ----

func TestBatchesSpanSegments(t *testing.T) {
	dir := t.TempDir()
	const segSize = 4096
	l := mustOpen(t, dir, segSize)
	rng := rand.New(rand.NewPCG(1, 2))
	bigAt := map[uint64]int{150: 10_000, 151: 5000, 300: 3 * segSize, 420: segSize}
	g := func(idx uint64) *raft.Log {
		e := gen(idx)
		if n, ok := bigAt[idx]; ok {
			e.Data = fill(idx, 0, n)
		}
		return e
	}
	var next uint64 = 1
	for next <= 600 {
		n := uint64(1 + rng.IntN(60))
		switch next {
		case 300, 420: // a big entry alone
			n = 1
		}
		to := min(next+n-1, 600)
		mustStore(t, l, batch(next, to, g)...)
		next = to + 1
	}
	mustStore(t, l, batch(601, 700, g)...) // one batch over several segments

	check := func(l *Log) {
		t.Helper()
		mustBoundsEqual(t, l, 1, 700)
		mustRange(t, l, 1, 700, g)
		mustNotFound(t, l, 701)
	}
	check(l)
	mustClose(t, l)
	segs := mustSegments(t, dir)
	if len(segs) < 10 {
		t.Fatalf("only %d segment files for 700 entries in %d-byte segments", len(segs), segSize)
	}
	if segs[0] != 1 {
		t.Fatalf("first segment is %d", segs[0])
	}
	l = mustOpen(t, dir, segSize)
	if _, err := os.Stat(filepath.Join(dir, spareName)); err == nil {
		t.Fatal("Open left the spare file")
	}
	check(l)
	// Every segment follows the previous one.
	for i := 1; i < len(l.segs); i++ {
		if l.segs[i].base != l.segs[i-1].lastIndex()+1 {
			t.Fatalf("segment %d starts at %d after %d", i, l.segs[i].base, l.segs[i-1].lastIndex())
		}
	}
	mustTailZero(t, l)
	mustClose(t, l)
}

// ---- 3. order checks ----

func TestOrder(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, 4096)
	mustStore(t, l, batch(1, 10, gen)...)

	bad := map[string][]*raft.Log{
		"gap":            {gen(12)},
		"overlap":        {gen(10)},
		"far back":       {gen(5)},
		"gap in batch":   {gen(11), gen(13)},
		"repeat":         {gen(11), gen(11)},
		"backwards":      {gen(11), gen(12), gen(11)},
		"overlap+append": {gen(9), gen(10), gen(11)},
	}
	for name, logs := range bad {
		if err := l.StoreLogs(logs); !errors.Is(err, ErrOutOfOrder) {
			t.Fatalf("%s: StoreLogs = %v, want ErrOutOfOrder", name, err)
		}
		mustBoundsEqual(t, l, 1, 10)
		mustNotFound(t, l, 11)
		mustRange(t, l, 1, 10, gen)
	}
	if err := l.StoreLogs(nil); err != nil {
		t.Fatalf("StoreLogs(nil) = %v", err)
	}
	mustClose(t, l)
	l = mustOpen(t, dir, 4096)
	mustBoundsEqual(t, l, 1, 10)
	mustRange(t, l, 1, 10, gen)
	mustStore(t, l, gen(11))
	mustBoundsEqual(t, l, 1, 11)
	mustClose(t, l)

	// An empty log takes any first index, but still no gap inside a batch.
	dir = t.TempDir()
	l = mustOpen(t, dir, 4096)
	if err := l.StoreLogs([]*raft.Log{gen(1000), gen(1002)}); !errors.Is(err, ErrOutOfOrder) {
		t.Fatalf("gap in first batch: %v", err)
	}
	mustBoundsEqual(t, l, 0, 0)
	mustStore(t, l, batch(1000, 1100, gen)...)
	mustBoundsEqual(t, l, 1000, 1100)
	if err := l.StoreLog(gen(999)); !errors.Is(err, ErrOutOfOrder) {
		t.Fatalf("StoreLog(999) = %v", err)
	}
	mustNotFound(t, l, 999)
	mustClose(t, l)
	l = mustOpen(t, dir, 4096)
	mustBoundsEqual(t, l, 1000, 1100)
	mustRange(t, l, 1000, 1100, gen)
	if segs := mustSegments(t, dir); segs[0] != 1000 {
		t.Fatalf("first segment %d", segs[0])
	}
	mustClose(t, l)
}

// ---- 4. prefix deletion ----

func TestDeletePrefix(t *testing.T) {
	dir := t.TempDir()
	g := genN(100, 0, 1)
	l := mustOpen(t, dir, 4096)
	for i := uint64(1); i <= 1000; i += 50 {
		mustStore(t, l, batch(i, i+49, g)...)
	}
	before := mustSegments(t, dir)
	if len(before) < 20 {
		t.Fatalf("%d segments", len(before))
	}

	mustDelete(t, l, 1, 300)
	mustBoundsEqual(t, l, 301, 1000)
	for _, i := range []uint64{1, 2, 150, 299, 300} {
		mustNotFound(t, l, i)
	}
	mustRange(t, l, 301, 1000, g)
	after := mustSegments(t, dir)
	// The first remaining file holds 301; every file wholly below it is gone.
	if after[0] > 301 || len(after) > 1 && after[1] <= 301 {
		t.Fatalf("segments after deleting 1..300: %v", after[:min(3, len(after))])
	}
	if len(after) >= len(before) {
		t.Fatalf("no segment file removed: %d -> %d", len(before), len(after))
	}

	// Raft deletes from the old first index; a range reaching below the
	// first index is a prefix too.
	mustDelete(t, l, 1, 320)
	mustBoundsEqual(t, l, 321, 1000)
	mustNotFound(t, l, 320)

	// A deletion that ends exactly at a segment's end.
	edge := l.segs[2].base - 1
	mustDelete(t, l, 321, edge)
	mustBoundsEqual(t, l, edge+1, 1000)
	if segs := mustSegments(t, dir); segs[0] != edge+1 {
		t.Fatalf("after deleting up to %d the first file is %d", edge, segs[0])
	}

	// Ranges that are not a prefix or a suffix are refused.
	if err := l.DeleteRange(600, 700); !errors.Is(err, ErrUnsupportedRange) {
		t.Fatalf("DeleteRange(600,700) = %v", err)
	}
	// Empty and out-of-range deletions do nothing.
	mustDelete(t, l, 10, 20)
	mustDelete(t, l, 2000, 3000)
	mustDelete(t, l, 800, 700)
	mustBoundsEqual(t, l, edge+1, 1000)

	mustDelete(t, l, edge+1, 555)
	mustBoundsEqual(t, l, 556, 1000)
	mustStore(t, l, batch(1001, 1100, g)...)
	mustClose(t, l)

	l = mustOpen(t, dir, 4096)
	first, last := mustBounds(t, l)
	if first > 556 || first <= edge || last != 1100 {
		t.Fatalf("after reopen bounds %d..%d, want first in (%d, 556], last 1100", first, last, edge)
	}
	mustRange(t, l, first, last, g)
	mustNotFound(t, l, first-1)
	if segs := mustSegments(t, dir); segs[0] != first {
		t.Fatalf("first file %d, first index %d", segs[0], first)
	}
	mustClose(t, l)
}

// ---- 5. suffix deletion and rewrite ----

func TestDeleteSuffixRewrite(t *testing.T) {
	t.Run("shorter-higher-term", func(t *testing.T) {
		dir := t.TempDir()
		old := genN(200, 1, 1)
		l := mustOpen(t, dir, 1<<16)
		mustStore(t, l, batch(1, 200, old)...)
		mustDelete(t, l, 150, 200)
		mustBoundsEqual(t, l, 1, 149)
		mustNotFound(t, l, 150)
		mustNotFound(t, l, 200)
		mustTailZero(t, l)
		nu := genN(20, 2, 2)
		mustStore(t, l, batch(150, 170, nu)...)
		mustClose(t, l)

		l = mustOpen(t, dir, 1<<16)
		mustBoundsEqual(t, l, 1, 170)
		mustRange(t, l, 1, 149, old)
		mustRange(t, l, 150, 170, nu)
		mustNotFound(t, l, 171)
		mustNotFound(t, l, 200)
		mustTailZero(t, l)
		mustClose(t, l)
	})

	// Same sizes and the same term: only the zeroing of the cut tail keeps
	// the old records 161..200 (valid, in place, with the indexes the scan
	// expects) from coming back.
	t.Run("same-size-same-term", func(t *testing.T) {
		dir := t.TempDir()
		old := genN(200, 1, 7)
		l := mustOpen(t, dir, 1<<16)
		mustStore(t, l, batch(1, 200, old)...)
		mustDelete(t, l, 150, 200)
		nu := genN(200, 2, 7)
		mustStore(t, l, batch(150, 160, nu)...)
		mustClose(t, l)
		l = mustOpen(t, dir, 1<<16)
		mustBoundsEqual(t, l, 1, 160)
		mustRange(t, l, 1, 149, old)
		mustRange(t, l, 150, 160, nu)
		mustNotFound(t, l, 161)
		mustClose(t, l)
	})

	t.Run("whole-segments", func(t *testing.T) {
		dir := t.TempDir()
		old := genN(100, 1, 1)
		l := mustOpen(t, dir, 4096)
		mustStore(t, l, batch(1, 500, old)...)
		if len(l.segs) < 10 {
			t.Fatalf("%d segments", len(l.segs))
		}
		// Cut inside segment 3: segments 4.. go.
		s3 := l.segs[3]
		cut := s3.base + 5
		mustDelete(t, l, cut, 500)
		mustBoundsEqual(t, l, 1, cut-1)
		if segs := mustSegments(t, dir); len(segs) != 4 || segs[3] != s3.base {
			t.Fatalf("segments after suffix deletion: %v", segs)
		}
		mustTailZero(t, l)

		// Cut exactly at the start of segment 2: its file goes too.
		s2 := l.segs[2]
		mustDelete(t, l, s2.base, cut-1)
		mustBoundsEqual(t, l, 1, s2.base-1)
		if segs := mustSegments(t, dir); len(segs) != 2 {
			t.Fatalf("segments after deleting from segment 2's base: %v", segs)
		}

		nu := genN(30, 2, 2)
		mustStore(t, l, batch(s2.base, 400, nu)...)
		mustClose(t, l)
		l = mustOpen(t, dir, 4096)
		mustBoundsEqual(t, l, 1, 400)
		mustRange(t, l, 1, s2.base-1, old)
		mustRange(t, l, s2.base, 400, nu)
		mustNotFound(t, l, 401)
		mustTailZero(t, l)
		mustClose(t, l)
	})

	t.Run("after-compaction", func(t *testing.T) {
		dir := t.TempDir()
		old := genN(100, 1, 1)
		l := mustOpen(t, dir, 4096)
		mustStore(t, l, batch(1, 300, old)...)
		mustDelete(t, l, 1, 100)
		mustDelete(t, l, 250, 300)
		mustBoundsEqual(t, l, 101, 249)
		nu := genN(10, 2, 2)
		mustStore(t, l, batch(250, 260, nu)...)
		mustClose(t, l)
		l = mustOpen(t, dir, 4096)
		first, last := mustBounds(t, l)
		if first > 101 || last != 260 {
			t.Fatalf("bounds %d..%d", first, last)
		}
		mustRange(t, l, first, 249, old)
		mustRange(t, l, 250, 260, nu)
		mustClose(t, l)
	})
}

// ---- 6. delete everything, restart at a higher index ----

func TestDeleteAllThenRestart(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, 4096)
	mustStore(t, l, batch(1, 300, gen)...)
	mustDelete(t, l, 1, 100) // leaves hidden entries in the first segment
	mustDelete(t, l, 101, 300)
	mustBoundsEqual(t, l, 0, 0)
	mustNotFound(t, l, 1)
	mustNotFound(t, l, 300)
	if segs := mustSegments(t, dir); len(segs) != 0 {
		t.Fatalf("segments left after deleting everything: %v", segs)
	}
	// An empty log ignores deletions.
	mustDelete(t, l, 1, 300)

	mustStore(t, l, batch(5000, 5100, gen)...)
	mustBoundsEqual(t, l, 5000, 5100)
	mustClose(t, l)

	l = mustOpen(t, dir, 4096)
	mustBoundsEqual(t, l, 5000, 5100)
	mustRange(t, l, 5000, 5100, gen)
	mustNotFound(t, l, 4999)
	mustNotFound(t, l, 1)
	if segs := mustSegments(t, dir); len(segs) == 0 || segs[0] != 5000 {
		t.Fatalf("segments %v", segs)
	}

	// Wider than the log, and then reopen empty.
	mustDelete(t, l, 0, ^uint64(0))
	mustBoundsEqual(t, l, 0, 0)
	mustClose(t, l)
	l = mustOpen(t, dir, 4096)
	mustBoundsEqual(t, l, 0, 0)
	mustStore(t, l, batch(7, 9, gen)...)
	mustClose(t, l)
	l = mustOpen(t, dir, 4096)
	mustBoundsEqual(t, l, 7, 9)
	mustRange(t, l, 7, 9, gen)
	mustClose(t, l)
}

// ---- 7. torn writes ----

func TestTornWrite(t *testing.T) {
	const n = 20
	g := genN(100, 1, 1)
	more := genN(57, 2, 2)
	rng := rand.New(rand.NewPCG(3, 4))

	type cut struct {
		name string
		rec  int   // record (0-based within the last segment, from its end)
		at   int64 // offset within that record
	}
	cuts := []cut{
		{"last-start", 1, 0},
		{"last-len", 1, 2},
		{"last-crc", 1, 5},
		{"last-index", 1, 9},
		{"last-mid", 1, 60},
		{"last-final-byte", 1, -1},
		{"second-last-mid", 2, 40},
	}
	for _, multi := range []bool{false, true} {
		for _, c := range cuts {
			for _, garbage := range []bool{false, true} {
				name := fmt.Sprintf("multi=%v/%s/garbage=%v", multi, c.name, garbage)
				t.Run(name, func(t *testing.T) {
					dir := t.TempDir()
					segSize := int64(1 << 16)
					if multi {
						segSize = 1024
					}
					l := mustOpen(t, dir, segSize)
					for i := uint64(1); i <= n; i += 4 {
						mustStore(t, l, batch(i, i+3, g)...)
					}
					s := l.tail()
					if multi && len(l.segs) < 3 || len(s.offs) < 2 {
						t.Fatalf("setup: %d segments, %d records in the last", len(l.segs), len(s.offs))
					}
					pos := len(s.offs) - c.rec
					recEnd := s.end
					if pos+1 < len(s.offs) {
						recEnd = s.offs[pos+1]
					}
					off := s.offs[pos] + c.at
					if c.at < 0 {
						off = recEnd + c.at
					}
					wantLast := s.base + uint64(pos) - 1
					path := s.path
					mustClose(t, l)

					mustOverwrite(t, path, off, garbage, rng)
					if garbage {
						// Not what a crash leaves (the disk held zeros
						// there): a record written whole and damaged since.
						mustCorruptOpen(t, dir, segSize)
						return
					}
					l = mustOpen(t, dir, segSize)
					mustBoundsEqual(t, l, 1, wantLast)
					mustRange(t, l, 1, wantLast, g)
					mustNotFound(t, l, wantLast+1)
					mustTailZero(t, l)

					mustStore(t, l, batch(wantLast+1, wantLast+10, more)...)
					mustClose(t, l)
					l = mustOpen(t, dir, segSize)
					mustBoundsEqual(t, l, 1, wantLast+10)
					mustRange(t, l, 1, wantLast, g)
					mustRange(t, l, wantLast+1, wantLast+10, more)
					mustNotFound(t, l, wantLast+11)
					mustTailZero(t, l)
					mustClose(t, l)
				})
			}
		}
	}

	// A power failure that wrote back a later sector of the tail but not an
	// earlier one (writeback keeps no order): a record with its share of one
	// sector still zero, whole records after it. The log ends before it.
	t.Run("sector-lost-before-later-records", func(t *testing.T) {
		dir := t.TempDir()
		l := mustOpen(t, dir, 1<<16)
		big := genN(1500, 3, 3) // records of about 1.5 KiB: each spans sectors
		for i := uint64(1); i <= 12; i += 3 {
			mustStore(t, l, batch(i, i+2, big)...)
		}
		s := l.tail()
		k := 6 // the 7th record, entry 7
		recStart, recEnd := s.offs[k], s.offs[k+1]
		lost := (recStart/sectorSize + 1) * sectorSize // the sector after the one it starts in
		if lost+sectorSize > recEnd {
			t.Fatalf("setup: record %d..%d does not cover the sector at %d", recStart, recEnd, lost)
		}
		path := s.path
		mustClose(t, l)
		diskfault.Zero(t, path, lost, lost+sectorSize)
		l = mustOpen(t, dir, 1<<16)
		mustBoundsEqual(t, l, 1, 7-1)
		mustRange(t, l, 1, 6, big)
		mustTailZero(t, l)
		mustClose(t, l)
	})

	// A crash while a new segment's first records were being synced: the
	// records reached the disk but the header page did not (writeback has
	// no order). Nothing in that segment was acknowledged, so the log is
	// the segments before it.
	for _, tear := range []string{"header-only", "header-and-record"} {
		t.Run("new-segment-"+tear, func(t *testing.T) {
			dir := t.TempDir()
			l := mustOpen(t, dir, 1024)
			mustStore(t, l, batch(1, 20, g)...)
			s := l.tail()
			if len(l.segs) < 2 {
				t.Fatal("setup: one segment")
			}
			base, path := s.base, s.path
			mustClose(t, l)
			diskfault.Zero(t, path, 0, headerSize)
			if tear == "header-and-record" {
				mustFlip(t, path, s.offs[0]+20, 0x10)
			}
			l = mustOpen(t, dir, 1024)
			mustBoundsEqual(t, l, 1, base-1)
			mustRange(t, l, 1, base-1, g)
			if segs := mustSegments(t, dir); segs[len(segs)-1] == base {
				t.Fatal("the headerless segment was kept")
			}
			mustStore(t, l, batch(base, base+30, more)...)
			mustClose(t, l)
			l = mustOpen(t, dir, 1024)
			mustBoundsEqual(t, l, 1, base+30)
			mustRange(t, l, base, base+30, more)
			mustClose(t, l)
		})
	}
}

// ---- 8. corruption ----

func TestCorruption(t *testing.T) {
	g := genN(100, 1, 1)
	setup := func(t *testing.T) (string, []*segment) {
		t.Helper()
		dir := t.TempDir()
		l := mustOpen(t, dir, 2048)
		mustStore(t, l, batch(1, 100, g)...)
		segs := append([]*segment(nil), l.segs...)
		if len(segs) < 4 {
			t.Fatalf("%d segments", len(segs))
		}
		mustClose(t, l)
		return dir, segs
	}
	mustCorrupt := func(t *testing.T, dir string) { t.Helper(); mustCorruptOpen(t, dir, 2048) }

	t.Run("middle-of-non-last", func(t *testing.T) {
		dir, segs := setup(t)
		s := segs[1]
		mustFlip(t, s.path, (headerSize+s.end)/2, 0x04)
		mustCorrupt(t, dir)
	})
	t.Run("last-record-of-non-last", func(t *testing.T) {
		dir, segs := setup(t)
		s := segs[len(segs)-2]
		mustFlip(t, s.path, s.end-1, 0x80)
		mustCorrupt(t, dir)
	})
	t.Run("zero-area-of-non-last", func(t *testing.T) {
		dir, segs := setup(t)
		s := segs[0]
		if s.end >= s.size {
			t.Fatalf("setup: segment 0 has no zero area")
		}
		mustFlip(t, s.path, s.size-1, 0x01)
		mustCorrupt(t, dir)
	})
	t.Run("header-of-non-last", func(t *testing.T) {
		dir, segs := setup(t)
		mustFlip(t, segs[0].path, 9, 0x01)
		mustCorrupt(t, dir)
	})
	t.Run("missing-middle-segment", func(t *testing.T) {
		dir, segs := setup(t)
		if err := os.Remove(segs[1].path); err != nil {
			t.Fatal(err)
		}
		mustCorrupt(t, dir)
	})
	t.Run("stray-file", func(t *testing.T) {
		dir, _ := setup(t)
		if err := os.WriteFile(filepath.Join(dir, "17.wal"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		mustCorrupt(t, dir)
	})
	// In the last segment too, a record written whole and damaged since
	// (none of its shares of a sector ends in a zero, so no torn write) is
	// corruption: cutting the log there would drop entries this node may
	// have acknowledged.
	for _, c := range []struct {
		name string
		off  func(s *segment) int64 // the byte flipped
		mask byte
	}{
		{"last-record-of-last", func(s *segment) int64 { return s.offs[len(s.offs)-1] + recHeaderSize + 30 }, 0x20},
		{"first-record-of-last", func(s *segment) int64 { return s.offs[0] + recHeaderSize + 10 }, 0x01},
		// One byte shorter or longer (not the last record's: one byte
		// longer ends it in the zeros after the log, which reads as torn).
		{"length-of-a-record-of-last", func(s *segment) int64 { return s.offs[len(s.offs)-2] }, 0x01},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir, segs := setup(t)
			s := segs[len(segs)-1]
			if len(s.offs) < 2 {
				t.Fatalf("setup: %d records in the last segment", len(s.offs))
			}
			mustFlip(t, s.path, c.off(s), c.mask)
			mustCorrupt(t, dir)
		})
	}
}

// ---- 9. concurrency ----

func TestConcurrentReadersWriterCompactor(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, 4096)
	defer l.Close()
	const total = 2000
	var done atomic.Bool
	var wg sync.WaitGroup
	var reads, hits atomic.Int64

	wg.Add(1)
	go func() { // appender
		defer wg.Done()
		defer done.Store(true)
		rng := rand.New(rand.NewPCG(5, 6))
		for next := uint64(1); next <= total; {
			to := min(next+uint64(rng.IntN(6)), total)
			if err := l.StoreLogs(batch(next, to, gen)); err != nil {
				t.Errorf("StoreLogs(%d..%d): %v", next, to, err)
				return
			}
			next = to + 1
		}
	}()
	for r := range 4 {
		wg.Add(1)
		go func() { // readers
			defer wg.Done()
			rng := rand.New(rand.NewPCG(7, uint64(r)))
			for !done.Load() {
				first, err1 := l.FirstIndex()
				last, err2 := l.LastIndex()
				if err1 != nil || err2 != nil {
					t.Errorf("bounds: %v %v", err1, err2)
					return
				}
				if last == 0 {
					continue
				}
				lo := min(first, last)
				idx := lo + rng.Uint64N(last-lo+3) // sometimes beyond the end
				var out raft.Log
				err := l.GetLog(idx, &out)
				reads.Add(1)
				switch {
				case err == nil:
					hits.Add(1)
					if d := diffLog(&out, gen(idx)); d != "" {
						t.Errorf("GetLog(%d): %s", idx, d)
						return
					}
				case errors.Is(err, raft.ErrLogNotFound):
				default:
					t.Errorf("GetLog(%d): %v", idx, err)
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() { // compactor
		defer wg.Done()
		for !done.Load() {
			time.Sleep(2 * time.Millisecond)
			first, _ := l.FirstIndex()
			last, _ := l.LastIndex()
			if last > first+200 {
				if err := l.DeleteRange(first, last-150); err != nil {
					t.Errorf("DeleteRange(%d, %d): %v", first, last-150, err)
					return
				}
			}
		}
	}()
	wg.Wait()
	if t.Failed() {
		return
	}
	t.Logf("%d reads, %d found", reads.Load(), hits.Load())
	if hits.Load() == 0 {
		t.Fatalf("no successful read in %d", reads.Load())
	}
	first, last := mustBounds(t, l)
	if last != total || first <= 1 {
		t.Fatalf("bounds %d..%d (compactor never ran?)", first, last)
	}
	mustRange(t, l, first, last, gen)
	mustClose(t, l)
	l = mustOpen(t, dir, 4096)
	f2, l2 := mustBounds(t, l)
	if f2 > first || l2 != total {
		t.Fatalf("after reopen %d..%d, before %d..%d", f2, l2, first, last)
	}
	mustRange(t, l, f2, l2, gen)
	mustClose(t, l)
}

// ---- 10. process crash ----

const crashEnv = "RAFTLOG_CRASH_CHILD_DIR"

func crashGen(idx uint64) *raft.Log {
	return &raft.Log{
		Index:      idx,
		Term:       1 + idx/500,
		Type:       raft.LogCommand,
		Data:       fill(idx, 3, int(idx*131%700)),
		Extensions: fill(idx, 4, int(idx%3)),
		AppendedAt: time.Unix(1_800_000_000, int64(idx)*1000),
	}
}

func TestProcessCrash(t *testing.T) {
	if dir := os.Getenv(crashEnv); dir != "" {
		crashChild(dir)
		return
	}
	for _, deferSync := range []bool{false, true} {
		t.Run(fmt.Sprintf("defer=%v", deferSync), func(t *testing.T) { testProcessCrash(t, deferSync) })
	}
}

// crashDeferEnv makes the crash child open the log with DeferSync and
// acknowledge a batch once WaitDurable returns.
const crashDeferEnv = "RAFTLOG_CRASH_CHILD_DEFER"

func testProcessCrash(t *testing.T, deferSync bool) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestProcessCrash$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+dir)
	if deferSync {
		cmd.Env = append(cmd.Env, crashDeferEnv+"=1")
	}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()

	var acked []uint64
	sc := bufio.NewScanner(out)
	for len(acked) < 400 && sc.Scan() {
		line := sc.Text()
		if s, ok := strings.CutPrefix(line, "ack "); ok {
			n, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				t.Fatalf("child said %q", line)
			}
			acked = append(acked, n)
		}
	}
	if err := cmd.Process.Signal(os.Kill); err != nil {
		t.Fatalf("kill: %v", err)
	}
	for sc.Scan() { // acknowledgements already in the pipe count too
		if s, ok := strings.CutPrefix(sc.Text(), "ack "); ok {
			n, _ := strconv.ParseUint(s, 10, 64)
			acked = append(acked, n)
		}
	}
	werr := cmd.Wait()
	if len(acked) < 400 {
		t.Fatalf("child acknowledged only %d batches (%v)", len(acked), werr)
	}
	if ws, ok := cmd.ProcessState.Sys().(interface{ Signaled() bool }); !ok || !ws.Signaled() {
		t.Fatalf("child was not killed: %v", werr)
	}
	maxAck := acked[len(acked)-1]

	l := mustOpen(t, dir, 8192)
	defer l.Close()
	first, last := mustBounds(t, l)
	if first != 1 || last < maxAck {
		t.Fatalf("after the crash the log is %d..%d, %d was acknowledged", first, last, maxAck)
	}
	mustRange(t, l, 1, last, crashGen) // contiguous, acknowledged or not
	t.Logf("%d batches acknowledged up to %d; the log holds 1..%d in %d segments", len(acked), maxAck, last, len(l.segs))
	mustNotFound(t, l, last+1)
	mustTailZero(t, l)
	if len(l.segs) < 3 {
		t.Fatalf("only %d segments: the crash test should cross segment switches", len(l.segs))
	}
	mustStore(t, l, batch(last+1, last+5, crashGen)...)
	mustRange(t, l, last+1, last+5, crashGen)
}

// crashChild appends until it is killed, acknowledging each batch on stdout
// after StoreLogs returns.
func crashChild(dir string) {
	deferSync := os.Getenv(crashDeferEnv) != ""
	l, err := Open(dir, Options{SegmentSize: 8192, DeferSync: deferSync})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	deadline := time.Now().Add(60 * time.Second)
	w := bufio.NewWriterSize(os.Stdout, 64)
	for next := uint64(1); time.Now().Before(deadline); {
		to := next + next%7
		if err := l.StoreLogs(batch(next, to, crashGen)); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(2)
		}
		if deferSync {
			if err := l.WaitDurable(to); err != nil {
				fmt.Fprintln(os.Stderr, "child:", err)
				os.Exit(2)
			}
		}
		fmt.Fprintf(w, "ack %d\n", to)
		w.Flush()
		next = to + 1
	}
	os.Exit(3)
}

// ---- failures part way through a write ----

// A write that fails part way (here: a batch that fills the current segment
// and then cannot create the next one) must not leave the log in a state
// where a retried write loses or garbles entries.
func TestFailedWrite(t *testing.T) {
	dir := t.TempDir()
	g := genN(100, 1, 1)
	l := mustOpen(t, dir, 2048)
	mustStore(t, l, batch(1, 5, g)...)
	spare := filepath.Join(dir, spareName)
	l.spareWG.Wait()
	os.Remove(spare)
	if err := os.Mkdir(spare, 0o755); err != nil {
		t.Fatal(err)
	}
	l.spareMu.Lock()
	l.spareReady = false
	l.spareMu.Unlock()

	if err := l.StoreLogs(batch(6, 40, g)); err == nil {
		t.Fatal("StoreLogs succeeded without a way to create a segment")
	}
	mustBoundsEqual(t, l, 1, 5)
	mustNotFound(t, l, 6)
	mustRange(t, l, 1, 5, g)
	if err := os.Remove(spare); err != nil {
		t.Fatal(err)
	}
	// Either the retry is refused, or it works for real.
	if err := l.StoreLogs(batch(6, 40, g)); err == nil {
		mustBoundsEqual(t, l, 1, 40)
		mustRange(t, l, 1, 40, g)
		mustClose(t, l)
		l = mustOpen(t, dir, 2048)
		mustBoundsEqual(t, l, 1, 40)
		mustRange(t, l, 1, 40, g)
		mustClose(t, l)
		return
	}
	mustClose(t, l)
	l = mustOpen(t, dir, 2048)
	first, last := mustBounds(t, l)
	if first != 1 || last < 5 || last > 40 {
		t.Fatalf("after reopen %d..%d", first, last)
	}
	mustRange(t, l, 1, last, g)
	mustStore(t, l, batch(last+1, 60, g)...)
	mustClose(t, l)
	l = mustOpen(t, dir, 2048)
	mustBoundsEqual(t, l, 1, 60)
	mustRange(t, l, 1, 60, g)
	mustClose(t, l)
}

// mustBlockRemoval makes os.Remove of the segment file fail by replacing it
// with a non-empty directory, and returns a function that puts it back.
func mustBlockRemoval(t *testing.T, path string) func() {
	t.Helper()
	aside := path + ".aside"
	if err := os.Rename(path, aside); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(path, "x"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	return func() {
		t.Helper()
		if err := os.RemoveAll(path); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(aside, path); err != nil {
			t.Fatal(err)
		}
	}
}

// mustReadable checks that every index in from..to reads back right or is
// not found (no other error, no panic).
func mustReadable(t *testing.T, l *Log, from, to uint64, g func(uint64) *raft.Log) {
	t.Helper()
	for i := from; i <= to; i++ {
		var out raft.Log
		err := l.GetLog(i, &out)
		if errors.Is(err, raft.ErrLogNotFound) {
			continue
		}
		if err != nil {
			t.Fatalf("GetLog(%d): %v", i, err)
		}
		if d := diffLog(&out, g(i)); d != "" {
			t.Fatalf("GetLog(%d): %s", i, d)
		}
	}
}

// A deletion that fails part way (as a crash would stop it) must leave
// segment files that open as a contiguous log.
func TestFailedDelete(t *testing.T) {
	g := genN(100, 1, 1)
	t.Run("prefix", func(t *testing.T) {
		dir := t.TempDir()
		l := mustOpen(t, dir, 2048)
		mustStore(t, l, batch(1, 300, g)...)
		max := l.segs[3].lastIndex()
		restore := mustBlockRemoval(t, l.segs[1].path)
		if err := l.DeleteRange(1, max); err == nil {
			t.Fatal("DeleteRange succeeded")
		}
		mustReadable(t, l, 0, 301, g)
		first, last := mustBounds(t, l)
		if first > max+1 || last != 300 {
			t.Fatalf("bounds %d..%d", first, last)
		}
		restore()
		mustClose(t, l)
		l = mustOpen(t, dir, 2048)
		first, last = mustBounds(t, l)
		if first > max+1 || last != 300 {
			t.Fatalf("after reopen %d..%d", first, last)
		}
		mustRange(t, l, first, 300, g)
		mustStore(t, l, g(301))
		mustClose(t, l)
	})
	t.Run("suffix", func(t *testing.T) {
		dir := t.TempDir()
		l := mustOpen(t, dir, 2048)
		mustStore(t, l, batch(1, 300, g)...)
		if len(l.segs) < 8 {
			t.Fatalf("%d segments", len(l.segs))
		}
		min := l.segs[2].base + 3
		restore := mustBlockRemoval(t, l.segs[5].path)
		if err := l.DeleteRange(min, 300); err == nil {
			t.Fatal("DeleteRange succeeded")
		}
		mustReadable(t, l, 0, 301, g) // must not panic
		if _, last := mustBounds(t, l); last >= min {
			t.Fatalf("last %d after deleting from %d", last, min)
		}
		restore()
		mustClose(t, l)
		l = mustOpen(t, dir, 2048)
		first, last := mustBounds(t, l)
		if first != 1 || last < min-1 {
			t.Fatalf("after reopen %d..%d", first, last)
		}
		mustRange(t, l, 1, last, g) // a prefix of the old log
		mustDelete(t, l, min, last)
		nu := genN(10, 2, 2)
		mustStore(t, l, batch(min, min+20, nu)...)
		mustClose(t, l)
		l = mustOpen(t, dir, 2048)
		mustBoundsEqual(t, l, 1, min+20)
		mustRange(t, l, 1, min-1, g)
		mustRange(t, l, min, min+20, nu)
		mustClose(t, l)
	})
}

// ---- 11. benchmarks ----

type logStore interface {
	StoreLogs([]*raft.Log) error
}

func BenchmarkStoreLogs(b *testing.B) {
	cases := []struct {
		name  string
		n     int
		bytes int
	}{
		{"1x64B", 1, 64},
		{"1x1KiB", 1, 1024},
		{"64x64B", 64, 64},
		{"64x1KiB", 64, 1024},
	}
	stores := []struct {
		name string
		open func(b *testing.B) (logStore, func())
	}{
		{"raftlog", func(b *testing.B) (logStore, func()) {
			l := mustOpen(b, b.TempDir(), 0)
			return l, func() { mustClose(b, l) }
		}},
		{"boltdb", func(b *testing.B) (logStore, func()) {
			s, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(b.TempDir(), "raft.db")})
			if err != nil {
				b.Fatal(err)
			}
			return s, func() { s.Close() }
		}},
	}
	for _, c := range cases {
		for _, st := range stores {
			b.Run(c.name+"/"+st.name, func(b *testing.B) {
				s, closeFn := st.open(b)
				defer closeFn()
				data := fill(1, 0, c.bytes)
				logs := make([]*raft.Log, c.n)
				for i := range logs {
					logs[i] = &raft.Log{Term: 1, Type: raft.LogCommand, Data: data, AppendedAt: time.Now()}
				}
				b.SetBytes(int64(c.n * c.bytes))
				b.ReportAllocs()
				b.ResetTimer()
				next := uint64(1)
				for range b.N {
					for _, e := range logs {
						e.Index = next
						next++
					}
					if err := s.StoreLogs(logs); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

var _ raft.LogStore = (*Log)(nil)

// Bytes counts the records of the entries from first to last: it grows with
// each append by the record's size, and falls when a prefix or a suffix is
// deleted, also inside a segment.
func TestBytes(t *testing.T) {
	l := mustOpen(t, t.TempDir(), 4<<10)
	defer l.Close()
	if n := l.Bytes(); n != 0 {
		t.Fatalf("empty log: %d bytes", n)
	}
	var sizes []int64 // of entry i+1's record
	for i := uint64(1); i <= 60; i++ {
		before := l.Bytes()
		mustStore(t, l, gen(i))
		grew := l.Bytes() - before
		if rec := int64(len(appendRecord(nil, gen(i)))); grew != rec {
			t.Fatalf("entry %d: Bytes grew by %d, record is %d", i, grew, rec)
		}
		sizes = append(sizes, grew)
	}
	if len(l.segs) < 3 {
		t.Fatalf("%d segments; the test wants entries over several", len(l.segs))
	}
	sum := func(from, to uint64) (n int64) {
		for i := from; i <= to; i++ {
			n += sizes[i-1]
		}
		return n
	}
	if got := l.Bytes(); got != sum(1, 60) {
		t.Fatalf("Bytes %d, want %d", got, sum(1, 60))
	}
	// A prefix that ends inside a segment, then a suffix.
	mustDelete(t, l, 1, 7)
	if got := l.Bytes(); got != sum(8, 60) {
		t.Fatalf("after deleting 1..7: Bytes %d, want %d", got, sum(8, 60))
	}
	mustDelete(t, l, 51, 60)
	if got := l.Bytes(); got != sum(8, 50) {
		t.Fatalf("after deleting 51..60: Bytes %d, want %d", got, sum(8, 50))
	}
	// Reopened, the log counts from its first index again (entries of a
	// partly compacted segment may come back: DESIGN.md).
	dir := l.dir
	l.Close()
	l = mustOpen(t, dir, 4<<10)
	first, _ := l.FirstIndex()
	if first < 1 || first > 8 {
		t.Fatalf("reopened: first index %d", first)
	}
	if got := l.Bytes(); got != sum(first, 50) {
		t.Fatalf("reopened: Bytes %d, want %d (first %d)", got, sum(first, 50), first)
	}
}
