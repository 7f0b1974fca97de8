package storage

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

const (
	benchKeys     = 100_000
	benchValueLen = 64
)

func benchKey(i int) []byte { return fmt.Appendf(nil, "key:%08d", i) }

// mustBenchEngine opens engine c in a temporary directory, preloaded with n
// keys of benchValueLen bytes.
func mustBenchEngine(b *testing.B, c engineCase, n int) Engine {
	b.Helper()
	e, err := Open(c.name, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = e.Close() })
	val := make([]byte, benchValueLen)
	var batch Batch
	idx := uint64(0)
	for i := 0; i < n; i++ {
		batch.Put(benchKey(i), val)
		if batch.Len() == 1000 || i == n-1 {
			idx++
			if err := e.Write(&batch, idx); err != nil {
				b.Fatal(err)
			}
			batch.Reset()
		}
	}
	return e
}

func forEachEngine(b *testing.B, fn func(b *testing.B, c engineCase)) {
	for _, c := range engineCases {
		b.Run(c.name, func(b *testing.B) { fn(b, c) })
	}
}

// BenchmarkWrite writes batches of 64-byte values; every Write is durable on
// the leveldb and bolt engines (one fsync per batch).
func BenchmarkWrite(b *testing.B) {
	forEachEngine(b, func(b *testing.B, c engineCase) {
		for _, size := range []int{1, 64, 1024} {
			b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
				e := mustBenchEngine(b, c, 0)
				keys := make([][]byte, benchKeys)
				for i := range keys {
					keys[i] = benchKey(i)
				}
				val := make([]byte, benchValueLen)
				var batch Batch
				b.SetBytes(int64(size * benchValueLen))
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					batch.Reset()
					for j := 0; j < size; j++ {
						batch.Put(keys[(i*size+j)%benchKeys], val)
					}
					if err := e.Write(&batch, uint64(i+1)); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "ops/s")
			})
		}
	})
}

// BenchmarkGet reads random existing keys from 100k.
func BenchmarkGet(b *testing.B) {
	forEachEngine(b, func(b *testing.B, c engineCase) {
		e := mustBenchEngine(b, c, benchKeys)
		keys := make([][]byte, benchKeys)
		for i := range keys {
			keys[i] = benchKey(i)
		}
		r := rand.New(rand.NewPCG(1, 1))
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := e.Get(keys[r.IntN(benchKeys)]); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	})
}

// BenchmarkGetParallel is BenchmarkGet from GOMAXPROCS goroutines.
func BenchmarkGetParallel(b *testing.B) {
	forEachEngine(b, func(b *testing.B, c engineCase) {
		e := mustBenchEngine(b, c, benchKeys)
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			r := rand.New(rand.NewPCG(rand.Uint64(), 2))
			key := make([]byte, 0, 16)
			for pb.Next() {
				key = fmt.Appendf(key[:0], "key:%08d", r.IntN(benchKeys))
				if _, err := e.Get(key); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	})
}

// BenchmarkSnapshotIterate takes a snapshot of 100k pairs and iterates it,
// as Raft snapshot persistence does.
func BenchmarkSnapshotIterate(b *testing.B) {
	forEachEngine(b, func(b *testing.B, c engineCase) {
		e := mustBenchEngine(b, c, benchKeys)
		b.SetBytes(int64(benchKeys * (len(benchKey(0)) + benchValueLen)))
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			snap, err := e.Snapshot()
			if err != nil {
				b.Fatal(err)
			}
			it := snap.NewIterator(nil, nil)
			n := 0
			for it.Next() {
				n++
			}
			if err := it.Err(); err != nil {
				b.Fatal(err)
			}
			_ = it.Close()
			snap.Release()
			if n != benchKeys {
				b.Fatalf("iterated %d pairs, want %d", n, benchKeys)
			}
		}
	})
}

// BenchmarkReplace replaces the content with 100k pairs, as a Raft restore does.
func BenchmarkReplace(b *testing.B) {
	forEachEngine(b, func(b *testing.B, c engineCase) {
		e := mustBenchEngine(b, c, 1000)
		keys := make([][]byte, benchKeys)
		for i := range keys {
			keys[i] = benchKey(i)
		}
		val := make([]byte, benchValueLen)
		b.SetBytes(int64(benchKeys * (len(benchKey(0)) + benchValueLen)))
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := e.Replace(&bytesSource{keys: keys, value: val, i: -1}, uint64(i+1)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// bytesSource yields keys, each with the same value.
type bytesSource struct {
	keys  [][]byte
	value []byte
	i     int
}

func (s *bytesSource) Next() bool    { s.i++; return s.i < len(s.keys) }
func (s *bytesSource) Key() []byte   { return s.keys[s.i] }
func (s *bytesSource) Value() []byte { return s.value }
func (s *bytesSource) Err() error    { return nil }

// BenchmarkServerWrite writes batches of 40 random keys out of 100k (preloaded)
// through the stack the server opens: leveldb without fsync behind the read
// cache, directly or through the write-behind buffer. The time per key
// includes writing the last window to the engine.
func BenchmarkServerWrite(b *testing.B) {
	for _, behind := range []int64{0, DefaultWriteBehindBytes} {
		b.Run(fmt.Sprintf("behind=%dMiB", behind>>20), func(b *testing.B) {
			e, err := OpenWith(EngineLevelDB, b.TempDir(), Options{NoSync: true, CacheBytes: DefaultCacheBytes, WriteBehindBytes: behind})
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			val := make([]byte, benchValueLen)
			var batch Batch
			for i := 0; i < benchKeys; i++ {
				batch.Put(benchKey(i), val)
			}
			if err := e.Write(&batch, 1); err != nil {
				b.Fatal(err)
			}
			const size = 40
			r := rand.New(rand.NewPCG(1, 2))
			keys := make([][]byte, 1<<16)
			for i := range keys {
				keys[i] = benchKey(r.IntN(benchKeys))
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				batch.Reset()
				for j := 0; j < size; j++ {
					batch.Put(keys[(i*size+j)&(len(keys)-1)], val)
				}
				if err := e.Write(&batch, uint64(i+2)); err != nil {
					b.Fatal(err)
				}
			}
			s, err := e.Snapshot() // writes the last window
			if err != nil {
				b.Fatal(err)
			}
			s.Release()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*size), "ns/key")
		})
	}
}

// BenchmarkSortEntries sorts a write-behind window shaped like one under
// redis-benchmark SETs over new and existing keys: records ('k' + client key),
// a hash index entry ('h' + 8 hashed bytes + key) for every tenth, and the
// key statistics record. Keys are distinct, as in a window.
func BenchmarkSortEntries(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	var es []sortedEntry
	for i, n := range r.Perm(benchKeys)[:30_000] {
		k := fmt.Sprintf("kkey:%012d", n)
		es = append(es, sortedEntry{k: k})
		if i%10 == 0 {
			es = append(es, sortedEntry{k: fmt.Sprintf("h%08x%s", r.Uint64(), k[1:])})
		}
	}
	es = append(es, sortedEntry{k: "ms"})
	b.ReportAllocs()
	for b.Loop() {
		sortEntries(es)
	}
}
