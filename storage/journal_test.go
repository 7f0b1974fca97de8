package storage

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/riot-kv/riot-redis/internal/diskfault"
)

// journalBlock is goleveldb's journal block size: recovery drops damaged
// parts of the journal a block at a time.
const journalBlock = 32 << 10

// writeJournal writes n batches of one 1,000-byte value each to a NoSync
// leveldb engine in dir (batch i: key k<i> at applied index i) and closes
// it; goleveldb keeps them in its journal (n*1 KiB is far below its 16 MiB
// write buffer), after setting its layout version. It returns the journal's
// path.
func writeJournal(t *testing.T, dir string, n int, layout uint32) string {
	t.Helper()
	e, err := openLevelDB(dir, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.setLayoutVersion(layout); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		mustWrite(t, e, uint64(i), fmt.Sprintf("k%03d", i), journalValue(i))
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	logs, err := filepath.Glob(filepath.Join(dir, ldbGenPrefix+"*", "*.log"))
	if err != nil || len(logs) != 1 {
		t.Fatalf("journal files: %v, %v", logs, err)
	}
	return logs[0]
}

func journalValue(i int) string { return fmt.Sprintf("%04d", i) + strings.Repeat("v", 996) }

// mustPrefixState asserts the engine's one invariant after a crash: every
// batch up to its applied index is there, and none after it.
func mustPrefixState(t *testing.T, e Engine, n int) uint64 {
	t.Helper()
	idx, err := e.AppliedIndex()
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		v, err := e.Get([]byte(fmt.Sprintf("k%03d", i)))
		has := err == nil && string(v) == journalValue(i)
		if want := uint64(i) <= idx; has != want {
			t.Fatalf("applied index %d, but batch %d present = %v (err %v)", idx, i, has, err)
		}
	}
	return idx
}

// A NoSync engine whose journal lost a block in the middle (a power failure
// that persisted later pages but not an earlier one, or a bad sector) opens
// empty at applied index 0 and says so, instead of holding the later
// batches and their applied index without the lost ones. Undamaged, or
// damaged only at its end (what a power failure usually leaves), it keeps
// every batch before the damage.
func TestLevelDBNoSyncDamagedJournal(t *testing.T) {
	const n = 200 // about 200 KiB of journal: 6 blocks
	tail := func(t *testing.T, path string, cut int64) {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(path, fi.Size()-cut); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name      string
		damage    func(t *testing.T, path string)
		wantIndex int // -1: any below n
		wantWarn  bool
	}{
		{"intact", func(*testing.T, string) {}, n, false},
		{"block lost in the middle", func(t *testing.T, path string) {
			diskfault.Zero(t, path, 2*journalBlock, 3*journalBlock)
		}, 0, true},
		{"last record torn", func(t *testing.T, path string) { tail(t, path, 500) }, n - 1, false},
		{"last block lost", func(t *testing.T, path string) {
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			diskfault.Zero(t, path, fi.Size()/journalBlock*journalBlock, fi.Size())
		}, -1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.damage(t, writeJournal(t, dir, n, LayoutVersion))
			var logs bytes.Buffer
			e, err := openLevelDB(dir, Options{NoSync: true, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			got := mustPrefixState(t, e, n)
			if tt.wantIndex >= 0 && got != uint64(tt.wantIndex) || tt.wantIndex < 0 && got >= n {
				t.Fatalf("applied index %d, want %d (-1: below %d)", got, tt.wantIndex, n)
			}
			if warned := strings.Contains(logs.String(), "engine journal damaged"); warned != tt.wantWarn {
				t.Fatalf("warning logged = %v, want %v; log: %s", warned, tt.wantWarn, logs.String())
			}
			mustDirs(t, dir, genDirs(t, dir)[0]) // one generation, no debris
			// The engine works on, and the next open keeps what it has.
			mustWrite(t, e, got+1, "after", "x")
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
			logs.Reset()
			e2, err := openLevelDB(dir, Options{NoSync: true, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			defer e2.Close()
			mustApplied(t, e2, got+1)
			mustGet(t, e2, "after", "x")
			if logs.Len() != 0 {
				t.Fatalf("second open logged: %s", logs.String())
			}
		})
	}
}

// A damaged journal in a generation a newer layout wrote is refused like
// any newer layout, never dropped.
func TestLevelDBNoSyncDamagedJournalNewerLayout(t *testing.T) {
	dir := t.TempDir()
	diskfault.Zero(t, writeJournal(t, dir, 200, LayoutVersion+1), 2*journalBlock, 3*journalBlock)
	if _, err := openLevelDB(dir, Options{NoSync: true}); !errors.Is(err, ErrNewerLayout) {
		t.Fatalf("open = %v, want ErrNewerLayout", err)
	}
	mustExist(t, filepath.Join(dir, ldbLiveFile), true)
}

// A manifest that lost its content (a bad disk; a power failure did it
// before manifestSync, and the fault suite's power-failure round found nodes
// that could no longer open their engine, "manifest corrupted"): a NoSync
// engine opens empty and says so, for Raft to rebuild it; a synced engine,
// which Raft cannot rebuild, refuses to open.
func TestLevelDBDamagedManifest(t *testing.T) {
	for _, noSync := range []bool{true, false} {
		t.Run(fmt.Sprintf("nosync=%v", noSync), func(t *testing.T) {
			dir := t.TempDir()
			journal := writeJournal(t, dir, 20, LayoutVersion)
			manifests, err := filepath.Glob(filepath.Join(filepath.Dir(journal), "MANIFEST-*"))
			if err != nil || len(manifests) != 1 {
				t.Fatalf("manifests: %v, %v", manifests, err)
			}
			fi, err := os.Stat(manifests[0])
			if err != nil {
				t.Fatal(err)
			}
			diskfault.Zero(t, manifests[0], 0, fi.Size())
			var logs bytes.Buffer
			e, err := openLevelDB(dir, Options{NoSync: noSync, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if !noSync {
				if err == nil {
					e.Close()
					t.Fatal("a synced engine with a zeroed manifest opened")
				}
				if !strings.Contains(err.Error(), "corrupted") {
					t.Fatalf("open: %v, want goleveldb's corruption error", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("open: %v, want an empty engine", err)
			}
			defer e.Close()
			if idx := mustPrefixState(t, e, 20); idx != 0 {
				t.Fatalf("applied index %d after a damaged manifest, want 0", idx)
			}
			if !strings.Contains(logs.String(), "engine files damaged") {
				t.Fatalf("no warning logged: %q", logs.String())
			}
			// The new, empty engine works and stays.
			mustWrite(t, e, 1, "k001", journalValue(1))
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
			e2, err := openLevelDB(dir, Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			defer e2.Close()
			if idx := mustPrefixState(t, e2, 20); idx != 1 {
				t.Fatalf("applied index %d after reopening, want 1", idx)
			}
		})
	}
}
