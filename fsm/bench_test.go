package fsm

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/hashicorp/raft"
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
