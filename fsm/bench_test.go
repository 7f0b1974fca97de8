package fsm

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/riot-kv/riot-redis/storage"
)

// benchKeys is the key space the benchmarks write to, so durable engines do
// not grow without bound.
const benchKeys = 100_000

// benchPayloads returns encoded SETs of 64-byte values over benchKeys keys.
func benchPayloads(b *testing.B) [][]byte {
	b.Helper()
	val := bytes.Repeat([]byte("v"), 64)
	out := make([][]byte, benchKeys)
	for i := range out {
		c := NewSet(fmt.Appendf(nil, "key:%08d", i), val, SetOptions{})
		c.Now = 1_700_000_000_000
		out[i] = c.AppendBinary(nil)
	}
	return out
}

// BenchmarkApplyBatch measures applying SETs of 64-byte values; one op is one
// command, applied in ApplyBatch calls of the given size (each one engine
// write, fsynced by the durable engines).
func BenchmarkApplyBatch(b *testing.B) {
	payloads := benchPayloads(b)
	for _, kind := range engineKinds {
		for _, size := range []int{1, 64, 1024} {
			b.Run(fmt.Sprintf("engine=%s/batch=%d", kind, size), func(b *testing.B) {
				f := mustNew(b, mustEngine(b, kind))
				logs := make([]*raft.Log, size)
				for i := range logs {
					logs[i] = &raft.Log{Type: raft.LogCommand}
				}
				idx, next := uint64(0), 0
				b.ReportAllocs()
				b.ResetTimer()
				for done := 0; done < b.N; {
					n := min(size, b.N-done)
					for i := range n {
						idx++
						logs[i].Index = idx
						logs[i].Data = payloads[next]
						next = (next + 1) % len(payloads)
					}
					for _, r := range f.ApplyBatch(logs[:n]) {
						if r.(Result).Kind != ResultOK {
							b.Fatalf("SET: %v", r)
						}
					}
					done += n
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
			})
		}
	}
}

// countingSink is a raft.SnapshotSink that discards what it is given.
type countingSink struct{ n int64 }

func (s *countingSink) Write(p []byte) (int, error) { s.n += int64(len(p)); return len(p), nil }
func (s *countingSink) ID() string                  { return "bench" }
func (s *countingSink) Cancel() error               { return nil }
func (s *countingSink) Close() error                { return nil }

// benchSnapshotFSM returns an FSM over engine kind holding benchKeys SETs of
// 64-byte values, and the uncompressed size of its entry stream.
func benchSnapshotFSM(b *testing.B, kind string) (*FSM, int64) {
	b.Helper()
	f := mustNew(b, mustEngine(b, kind))
	payloads := benchPayloads(b)
	const batch = 1024
	logs := make([]*raft.Log, 0, batch)
	for i, p := range payloads {
		logs = append(logs, &raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: p})
		if len(logs) == batch || i == len(payloads)-1 {
			f.ApplyBatch(logs)
			logs = logs[:0]
		}
	}
	var raw int64
	it := f.eng.NewIterator(nil, nil)
	for it.Next() {
		raw += int64(len(it.Key()) + len(it.Value()) + 2)
	}
	if err := it.Close(); err != nil {
		b.Fatal(err)
	}
	return f, raw
}

// BenchmarkSnapshotPersist measures Snapshot+Persist throughput; MB/s counts
// the uncompressed entry stream.
func BenchmarkSnapshotPersist(b *testing.B) {
	for _, kind := range engineKinds {
		b.Run("engine="+kind, func(b *testing.B) {
			f, raw := benchSnapshotFSM(b, kind)
			b.SetBytes(raw)
			b.ResetTimer()
			for range b.N {
				snap, err := f.Snapshot()
				if err != nil {
					b.Fatal(err)
				}
				var sink countingSink
				if err := snap.Persist(&sink); err != nil {
					b.Fatal(err)
				}
				snap.Release()
			}
		})
	}
}

// BenchmarkSnapshotRestore measures Restore throughput (replacing the whole
// engine content); MB/s counts the uncompressed entry stream.
func BenchmarkSnapshotRestore(b *testing.B) {
	for _, kind := range engineKinds {
		b.Run("engine="+kind, func(b *testing.B) {
			f, raw := benchSnapshotFSM(b, kind)
			stream := mustPersist(b, f)
			b.SetBytes(raw)
			b.ResetTimer()
			for range b.N {
				if err := f.Restore(io.NopCloser(bytes.NewReader(stream))); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkApplyServerBatch measures what a node does per write under load:
// entries that each carry a batch of SETs (fsm.OpBatch, as the leader's
// group commit builds them) to random keys of benchKeys, applied to the
// engine as the server opens it (leveldb without fsync, behind the read
// cache). One op is one SET.
func BenchmarkApplyServerBatch(b *testing.B) {
	val := bytes.Repeat([]byte("v"), 64)
	for _, size := range []int{40, 400} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			e, err := storage.OpenWith("leveldb", b.TempDir(), storage.Options{NoSync: true, CacheBytes: storage.DefaultCacheBytes})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { e.Close() })
			f := mustNew(b, e)
			rng := rand.New(rand.NewPCG(1, 2))
			entry := func(idx uint64) *raft.Log {
				args := make([][]byte, size)
				for i := range args {
					c := NewSet(fmt.Appendf(nil, "key:%012d", rng.IntN(benchKeys)), val, SetOptions{})
					args[i] = c.AppendBinary(nil)
				}
				c := &Command{Op: OpBatch, Now: 1_700_000_000_000, Args: args}
				data, err := c.MarshalBinary()
				if err != nil {
					b.Fatal(err)
				}
				return &raft.Log{Index: idx, Type: raft.LogCommand, Data: data}
			}
			// Fill the key space first, as a running benchmark has.
			idx := uint64(0)
			for range 2 * benchKeys / size {
				idx++
				f.ApplyBatch([]*raft.Log{entry(idx)})
			}
			logs := make([]*raft.Log, 256)
			for i := range logs {
				logs[i] = entry(idx + uint64(i) + 1)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; done += size {
				l := logs[(done/size)%len(logs)]
				idx++
				l.Index = idx
				if r := f.ApplyBatch([]*raft.Log{l})[0].(Result); r.Kind != ResultArray {
					b.Fatalf("batch: %v", r)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		})
	}
}
