package fsm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/golang/snappy"
	"github.com/hashicorp/raft"

	"github.com/riot-kv/riot-redis/storage"
)

// memSink is a raft.SnapshotSink over a buffer; it fails writes once the
// buffer would grow past failAt (when failAt > 0).
type memSink struct {
	bytes.Buffer
	failAt   int
	canceled bool
	closed   bool
}

func (s *memSink) Write(p []byte) (int, error) {
	if s.failAt > 0 && s.Len()+len(p) > s.failAt {
		return 0, errors.New("sink full")
	}
	return s.Buffer.Write(p)
}
func (s *memSink) ID() string    { return "test" }
func (s *memSink) Cancel() error { s.canceled = true; return nil }
func (s *memSink) Close() error  { s.closed = true; return nil }

var _ raft.SnapshotSink = (*memSink)(nil)

// mustPersist snapshots f and returns the persisted stream.
func mustPersist(t testing.TB, f *FSM) []byte {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	defer snap.Release()
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatalf("Persist: %v", err)
	}
	if !sink.closed || sink.canceled {
		t.Fatalf("sink closed=%v canceled=%v after a successful Persist", sink.closed, sink.canceled)
	}
	return sink.Bytes()
}

// mustRestore restores stream into f.
func mustRestore(t testing.TB, f *FSM, stream []byte) {
	t.Helper()
	if err := f.Restore(io.NopCloser(bytes.NewReader(stream))); err != nil {
		t.Fatalf("Restore: %v", err)
	}
}

// mustEngine opens engine kind ("memory", "leveldb", "bolt") on a temp dir and
// closes it at cleanup.
func mustEngine(t testing.TB, kind string) storage.Engine {
	t.Helper()
	var e storage.Engine
	var err error
	switch kind {
	case "memory":
		e = storage.NewMemory()
	case "leveldb":
		e, err = storage.OpenLevelDB(t.TempDir())
	case "bolt":
		e, err = storage.OpenBolt(t.TempDir())
	default:
		t.Fatalf("unknown engine %q", kind)
	}
	if err != nil {
		t.Fatalf("open %s: %v", kind, err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

var engineKinds = []string{"memory", "leveldb", "bolt"}

// fill applies n SETs (key "key%08d", small values, every 10th with a TTL)
// in batches, starting after f's applied index.
func fill(t testing.TB, f *FSM, n int, now int64) {
	t.Helper()
	const batch = 1000
	logs := make([]*raft.Log, 0, batch)
	for i := 0; i < n; i++ {
		o := SetOptions{}
		if i%10 == 0 {
			o.TTL = int64(1_000_000 + i)
		}
		c := NewSet(fmt.Appendf(nil, "key%08d", i), fmt.Appendf(nil, "value-%d", i), o)
		c.Now = now
		logs = append(logs, logOf(t, f.AppliedIndex()+uint64(len(logs))+1, c))
		if len(logs) == batch || i == n-1 {
			for j, r := range mustResults(t, f.ApplyBatch(logs)) {
				if r.Kind != ResultOK {
					t.Fatalf("fill entry %d: %v", logs[j].Index, r)
				}
			}
			logs = logs[:0]
		}
	}
}

// sameContent fails unless a and b hold the same pairs, comparing in lockstep.
func sameContent(t testing.TB, a, b storage.Reader) int {
	t.Helper()
	ia, ib := a.NewIterator(nil, nil), b.NewIterator(nil, nil)
	defer ia.Close()
	defer ib.Close()
	n := 0
	for {
		na, nb := ia.Next(), ib.Next()
		if na != nb {
			t.Fatalf("content differs in length after %d pairs", n)
		}
		if !na {
			break
		}
		if !bytes.Equal(ia.Key(), ib.Key()) || !bytes.Equal(ia.Value(), ib.Value()) {
			t.Fatalf("pair %d differs: %q vs %q", n, ia.Key(), ib.Key())
		}
		n++
	}
	if ia.Err() != nil || ib.Err() != nil {
		t.Fatalf("iterate: %v, %v", ia.Err(), ib.Err())
	}
	return n
}

func TestSnapshotRoundTripLarge(t *testing.T) {
	src := mustMemFSM(t)
	const keys = 100_000
	fill(t, src, keys, 1000)
	rng := rand.New(rand.NewPCG(1, 2))
	big := make([]byte, 4<<20)
	for i := range 3 {
		for j := range big {
			big[j] = byte(rng.Uint32())
		}
		idx := src.AppliedIndex() + 1
		if r := mustApply(t, src, idx, NewSet(fmt.Appendf(nil, "big%d", i), big, SetOptions{})); r.Kind != ResultOK {
			t.Fatalf("big SET: %v", r)
		}
	}
	mustApply(t, src, src.AppliedIndex()+1, NewSetNode(NodeMeta{ID: "n1", RaftAddr: "127.0.0.1:12000"}))

	stream := mustPersist(t, src)
	dst := mustMemFSM(t)
	mustRestore(t, dst, stream)
	if dst.AppliedIndex() != src.AppliedIndex() {
		t.Fatalf("restored applied index %d, want %d", dst.AppliedIndex(), src.AppliedIndex())
	}
	if idx, _ := dst.eng.AppliedIndex(); idx != src.AppliedIndex() {
		t.Fatalf("restored engine applied index %d, want %d", idx, src.AppliedIndex())
	}
	// keys records + keys/10 TTL index entries + 3 big values, their hash
	// index entries, the key statistics, the replicated clock and 1 node.
	if n := sameContent(t, src.eng, dst.eng); n != 2*(keys+3)+keys/10+1+1+1 {
		t.Fatalf("restored %d pairs", n)
	}
	if v, ok, err := dst.Get([]byte("big2"), 0); err != nil || !ok || !bytes.Equal(v, big) {
		t.Fatalf("big value did not round-trip (ok=%v err=%v len=%d)", ok, err, len(v))
	}
	if nodes, err := dst.Nodes(); err != nil || len(nodes) != 1 || nodes[0].RaftAddr != "127.0.0.1:12000" {
		t.Fatalf("nodes after restore: %v, %v", nodes, err)
	}
	// Entries covered by the snapshot are skipped; the next one applies.
	next := dst.AppliedIndex() + 1
	if r := mustApply(t, dst, next-1, NewDel([]byte("big0"))); r.Err != ErrTextAlreadyApplied {
		t.Fatalf("entry covered by the snapshot applied: %v", r)
	}
	if r := mustApply(t, dst, next, NewDel([]byte("big0"))); r.Int != 1 {
		t.Fatalf("entry after the snapshot: %v", r)
	}
}

func TestRestoreReplacesEverything(t *testing.T) {
	for _, kind := range engineKinds {
		t.Run(kind, func(t *testing.T) {
			src := mustNew(t, mustEngine(t, kind))
			fill(t, src, 1000, 1000)
			big := bytes.Repeat([]byte("0123456789abcdef"), (4<<20)/16)
			mustApply(t, src, src.AppliedIndex()+1, NewSet([]byte("big"), big, SetOptions{}))
			stream := mustPersist(t, src)

			dst := mustNew(t, mustEngine(t, kind))
			for i, c := range []*Command{
				set("old1", "x", SetOptions{}),
				set("key00000001", "overwritten", SetOptions{TTL: 5}),
				NewSetNode(NodeMeta{ID: "gone"}),
			} {
				mustApply(t, dst, uint64(5000+i), c)
			}
			mustRestore(t, dst, stream)
			if dst.AppliedIndex() != src.AppliedIndex() {
				t.Fatalf("applied index %d, want %d (the snapshot's, even if lower)", dst.AppliedIndex(), src.AppliedIndex())
			}
			sameContent(t, src.eng, dst.eng)
			if ok, _ := dst.Exists([]byte("old1"), 0); ok {
				t.Fatal("old key survived the restore")
			}
			if _, ok, _ := dst.Node("gone"); ok {
				t.Fatal("old node metadata survived the restore")
			}
			checkExpireIndex(t, dst.eng)
			// The restored stream persists to the same bytes.
			if again := mustPersist(t, dst); !bytes.Equal(again, stream) {
				t.Fatal("restored state persists differently")
			}
		})
	}
}

func TestSnapshotIsPointInTime(t *testing.T) {
	f := mustMemFSM(t)
	mustApply(t, f, 1, set("a", "1", SetOptions{}))
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	mustApply(t, f, 2, set("a", "2", SetOptions{}))
	mustApply(t, f, 3, set("b", "2", SetOptions{}))
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	dst := mustMemFSM(t)
	mustRestore(t, dst, sink.Bytes())
	if dst.AppliedIndex() != 1 {
		t.Fatalf("applied index %d, want 1", dst.AppliedIndex())
	}
	checkProbes(t, dst, []probe{{key: "a", val: "1"}, {key: "b", absent: true}})
}

func TestPersistCancelsOnError(t *testing.T) {
	f := mustMemFSM(t)
	fill(t, f, 2000, 1)
	t.Run("sink error", func(t *testing.T) {
		snap, err := f.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		defer snap.Release()
		sink := memSink{failAt: 100}
		if err := snap.Persist(&sink); err == nil {
			t.Fatal("Persist succeeded on a failing sink")
		}
		if !sink.canceled || sink.closed {
			t.Fatalf("sink canceled=%v closed=%v", sink.canceled, sink.closed)
		}
	})
	t.Run("released snapshot", func(t *testing.T) {
		snap, err := f.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		snap.Release()
		snap.Release() // safe twice
		var sink memSink
		if err := snap.Persist(&sink); err == nil {
			t.Fatal("Persist of a released snapshot succeeded")
		}
		if !sink.canceled || sink.closed {
			t.Fatalf("sink canceled=%v closed=%v", sink.canceled, sink.closed)
		}
	})
}

// sliceSnapshot is a storage.Snapshot over fixed pairs, in the given order,
// for building streams the engines would never produce.
type sliceSnapshot struct {
	pairs   []kv
	applied uint64
}

func (s *sliceSnapshot) Get([]byte) ([]byte, error) { return nil, storage.ErrNotFound }
func (s *sliceSnapshot) NewIterator(_, _ []byte) storage.Iterator {
	return &sliceIter{pairs: s.pairs, i: -1}
}
func (s *sliceSnapshot) AppliedIndex() uint64 { return s.applied }
func (s *sliceSnapshot) Release()             {}

type sliceIter struct {
	pairs []kv
	i     int
}

func (it *sliceIter) Next() bool    { it.i++; return it.i < len(it.pairs) }
func (it *sliceIter) Key() []byte   { return []byte(it.pairs[it.i].k) }
func (it *sliceIter) Value() []byte { return []byte(it.pairs[it.i].v) }
func (it *sliceIter) Err() error    { return nil }
func (it *sliceIter) Close() error  { return nil }

func mustStream(t testing.TB, applied uint64, pairs ...kv) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := writeSnapshot(&buf, &sliceSnapshot{pairs: pairs, applied: applied}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// withHeader returns stream with its header changed by edit (header checksum
// recomputed, so only the edited field is wrong).
func withHeader(t testing.TB, stream []byte, edit func(*snapHeader)) []byte {
	t.Helper()
	h, err := readSnapHeader(bytes.NewReader(stream))
	if err != nil {
		t.Fatal(err)
	}
	edit(&h)
	return append(h.marshal(), stream[snapHeaderLen:]...)
}

func TestRestoreRejectsBadStreams(t *testing.T) {
	src := mustMemFSM(t)
	fill(t, src, 3000, 1)
	good := mustPersist(t, src)
	flip := func(i int) []byte {
		b := bytes.Clone(good)
		b[i] ^= 0x10
		return b
	}
	tests := []struct {
		name   string
		stream []byte
		want   error
	}{
		{"empty", nil, ErrBadSnapshot},
		{"partial header", good[:10], ErrBadSnapshot},
		{"header only", good[:snapHeaderLen], ErrBadSnapshot},
		{"truncated in the middle", good[:len(good)/2], ErrBadSnapshot},
		{"last byte missing", good[:len(good)-1], ErrBadSnapshot},
		{"bit flip in the middle", flip(len(good) / 2), ErrBadSnapshot},
		{"bit flip in the header", flip(20), ErrBadSnapshot},
		{"bad magic", flip(0), ErrBadSnapshot},
		{"trailing garbage", append(bytes.Clone(good), "xyz"...), ErrBadSnapshot},
		{"count too high", withHeader(t, good, func(h *snapHeader) { h.count++ }), ErrBadSnapshot},
		{"count too low", withHeader(t, good, func(h *snapHeader) { h.count-- }), ErrBadSnapshot},
		{"checksum mismatch", withHeader(t, good, func(h *snapHeader) { h.sum ^= 1 }), ErrBadSnapshot},
		{"unknown version", withHeader(t, good, func(h *snapHeader) { h.version = 2 }), ErrSnapshotVersion},
		{"unknown codec", withHeader(t, good, func(h *snapHeader) { h.codec = 7 }), ErrBadSnapshot},
		{"keys out of order", mustStream(t, 9, kv{"kb", "x"}, kv{"ka", "x"}), ErrBadSnapshot},
		{"duplicate keys", mustStream(t, 9, kv{"ka", "x"}, kv{"ka", "y"}), ErrBadSnapshot},
		{"length bomb", lengthBomb(t), ErrBadSnapshot},
	}
	dst := mustMemFSM(t)
	mustApply(t, dst, 77, set("mine", "keep", SetOptions{TTL: 50}))
	before := mustDump(t, dst.eng)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := dst.Restore(io.NopCloser(bytes.NewReader(tc.stream)))
			if !errors.Is(err, tc.want) {
				t.Fatalf("Restore error = %v, want %v", err, tc.want)
			}
			if dst.AppliedIndex() != 77 {
				t.Fatalf("applied index %d after a failed restore, want 77", dst.AppliedIndex())
			}
			if idx, _ := dst.eng.AppliedIndex(); idx != 77 {
				t.Fatalf("engine applied index %d after a failed restore, want 77", idx)
			}
			if after := mustDump(t, dst.eng); !sameDump(before, after) {
				t.Fatalf("state changed by a failed restore: %d pairs", len(after))
			}
		})
	}
	// The good stream still restores.
	mustRestore(t, dst, good)
	sameContent(t, src.eng, dst.eng)
}

// lengthBomb is a well-framed stream whose single entry claims a 2 GiB key.
func lengthBomb(t testing.TB) []byte {
	t.Helper()
	s := mustStream(t, 1, kv{"k", "v"})
	h, _ := readSnapHeader(bytes.NewReader(s))
	var body bytes.Buffer
	w := snappy.NewBufferedWriter(&body)
	_, _ = w.Write(binary.AppendUvarint(nil, 1<<31))
	_, _ = w.Write([]byte("abc"))
	_ = w.Close()
	return append(h.marshal(), body.Bytes()...)
}

func TestRestoreClosesReader(t *testing.T) {
	f := mustMemFSM(t)
	rc := &closeTracker{Reader: bytes.NewReader(mustStream(t, 3, kv{"ka", "\x01v"}))}
	if err := f.Restore(rc); err != nil {
		t.Fatal(err)
	}
	if !rc.closed {
		t.Fatal("Restore did not close its reader")
	}
	checkProbes(t, f, []probe{{key: "a", val: "v"}})
}

type closeTracker struct {
	io.Reader
	closed bool
}

func (c *closeTracker) Close() error { c.closed = true; return nil }

// TestPersistConcurrentWithApply persists a snapshot while commands keep
// applying and reads keep running, as Raft does.
func TestPersistConcurrentWithApply(t *testing.T) {
	f := mustMemFSM(t)
	fill(t, f, 5000, 1)
	snapIdx := f.AppliedIndex()
	want := mustDump(t, f.eng)
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()

	logs := make([]*raft.Log, 2000)
	for i := range logs {
		logs[i] = logOf(t, snapIdx+uint64(i)+1, set(fmt.Sprintf("key%08d", i), "changed", SetOptions{}))
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, l := range logs {
			f.Apply(l)
			_, _, _ = f.Get([]byte("key00000001"), 1)
		}
	}()
	var sink memSink
	perr := snap.Persist(&sink)
	<-done
	if perr != nil {
		t.Fatal(perr)
	}
	if f.AppliedIndex() != snapIdx+2000 {
		t.Fatalf("applied index %d, want %d", f.AppliedIndex(), snapIdx+2000)
	}
	dst := mustMemFSM(t)
	mustRestore(t, dst, sink.Bytes())
	if dst.AppliedIndex() != snapIdx {
		t.Fatalf("restored applied index %d, want %d", dst.AppliedIndex(), snapIdx)
	}
	if got := mustDump(t, dst.eng); !sameDump(got, want) {
		t.Fatal("snapshot taken before concurrent writes contains them")
	}
}
