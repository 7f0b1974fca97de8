package fsm

import (
	"testing"

	"github.com/hashicorp/raft"

	"github.com/riot-kv/riot-redis/storage"
)

// mustLevelDBFSM opens a leveldb engine on dir and an FSM over it. The caller
// closes the returned engine (to simulate a crash and restart).
func mustLevelDBFSM(t testing.TB, dir string) (*FSM, storage.Engine) {
	t.Helper()
	e, err := storage.OpenLevelDB(dir)
	if err != nil {
		t.Fatalf("OpenLevelDB: %v", err)
	}
	return mustNew(t, e), e
}

func mustClose(t testing.TB, e storage.Engine) {
	t.Helper()
	if err := e.Close(); err != nil {
		t.Fatalf("close engine: %v", err)
	}
}

func checkCounter(t testing.TB, f *FSM, want string) {
	t.Helper()
	v, ok, err := f.Get([]byte("counter"), 0)
	if err != nil || !ok || string(v) != want {
		t.Fatalf("counter = %q, %v, %v; want %s", v, ok, err, want)
	}
}

// TestReplayAfterRestart applies INCR entries 1..100, restarts on the same
// directory and replays part of the log, as Raft does after a restart when
// the FSM is durable: no entry applies twice.
func TestReplayAfterRestart(t *testing.T) {
	dir := t.TempDir()
	logs := make([]*raft.Log, 0, 110)
	for i := uint64(1); i <= 110; i++ {
		logs = append(logs, logOf(t, i, incr("counter", 1)))
	}

	f, e := mustLevelDBFSM(t, dir)
	for _, l := range logs[:100] {
		f.Apply(l)
	}
	checkCounter(t, f, "100")
	mustClose(t, e)

	t.Run("Apply", func(t *testing.T) {
		f, e := mustLevelDBFSM(t, dir)
		defer mustClose(t, e)
		if f.AppliedIndex() != 100 {
			t.Fatalf("applied index after restart = %d, want 100", f.AppliedIndex())
		}
		for _, l := range logs[49:100] {
			if r := f.Apply(l).(Result); r.Err != ErrTextAlreadyApplied {
				t.Fatalf("replayed entry %d: %v", l.Index, r)
			}
		}
		checkCounter(t, f, "100")
	})
	t.Run("ApplyBatch", func(t *testing.T) {
		f, e := mustLevelDBFSM(t, dir)
		defer mustClose(t, e)
		for i, r := range mustResults(t, f.ApplyBatch(logs[49:100])) {
			if r.Err != ErrTextAlreadyApplied {
				t.Fatalf("replayed entry %d: %v", logs[49+i].Index, r)
			}
		}
		checkCounter(t, f, "100")
	})
	t.Run("ApplyBatch across the applied index", func(t *testing.T) {
		f, e := mustLevelDBFSM(t, dir)
		rs := mustResults(t, f.ApplyBatch(logs[89:110]))
		for i, r := range rs {
			idx := logs[89+i].Index
			switch {
			case idx <= 100 && r.Err != ErrTextAlreadyApplied:
				t.Fatalf("entry %d: %v, want skipped", idx, r)
			case idx > 100 && r.Int != int64(idx):
				t.Fatalf("entry %d: %v, want %d", idx, r, idx)
			}
		}
		checkCounter(t, f, "110")
		mustClose(t, e)

		f, e = mustLevelDBFSM(t, dir)
		defer mustClose(t, e)
		if f.AppliedIndex() != 110 {
			t.Fatalf("applied index after second restart = %d, want 110", f.AppliedIndex())
		}
		f.ApplyBatch(logs)
		checkCounter(t, f, "110")
	})
}
