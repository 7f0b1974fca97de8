//go:build linux

package storage

import (
	"bytes"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/riot-kv/riot-redis/internal/powerfs"
)

// An engine on powerfs, which loses what was not fsynced when the power
// fails, power-failed over and over: right after it opened, after writes,
// and after a Replace, keeping none or a random half of the unsynced pages.
// goleveldb writes a new manifest at each open and for each new generation;
// before manifestSync, the first power failure left CURRENT naming a
// manifest without its content, and the engine could not open ("manifest
// corrupted") or, without fsync, was dropped for Raft to rebuild. Now each
// open keeps every synced write: all of them for a synced engine, and for
// a NoSync engine a prefix of its batches, at least up to its last Replace,
// whose last write is synced. Nothing is logged: no generation is dropped.
//
// Not bolt: bbolt reads its file through mmap, and a page fault on a FUSE
// mount this process serves can wait for ever (the Go runtime stops every
// goroutine for a collection and waits for the faulting one, which waits for
// the server's goroutines). Run in its own process, as the fault suite runs
// nodes, it would be safe.
func TestEnginePowerFailure(t *testing.T) {
	for _, tc := range []struct {
		engine string
		noSync bool
	}{{EngineLevelDB, false}, {EngineLevelDB, true}} {
		noSync := tc.noSync
		t.Run(fmt.Sprintf("%s/nosync=%v", tc.engine, noSync), func(t *testing.T) {
			backing, mnt := t.TempDir(), t.TempDir()
			pfs, err := powerfs.Mount(backing, mnt)
			if err != nil {
				t.Fatalf("mount: %v (powerfs needs /dev/fuse and root)", err)
			}
			t.Cleanup(func() {
				if err := pfs.Close(); err != nil {
					t.Errorf("unmount: %v", err)
				}
			})
			dir := filepath.Join(mnt, "engine")
			rng := rand.New(rand.NewPCG(7, uint64(len(t.Name()))))
			var (
				hi     int // highest batch ever written
				synced int // the engine must hold at least batches 1..synced
				cur    Engine
			)
			t.Cleanup(func() { // before the unmount, also after a failure
				if cur != nil {
					_ = cur.Close()
				}
			})
			for cycle := range 9 {
				var logs bytes.Buffer
				e, err := openEngine(tc.engine, dir, Options{NoSync: noSync, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
				if err != nil {
					t.Fatalf("cycle %d: open after a power failure: %v", cycle, err)
				}
				cur = e
				if logs.Len() != 0 {
					t.Fatalf("cycle %d: open logged: %s", cycle, logs.String())
				}
				idx := int(mustPrefixState(t, e, hi))
				if idx < synced {
					t.Fatalf("cycle %d: applied index %d after a power failure, but batches up to %d were synced", cycle, idx, synced)
				}
				switch cycle % 3 {
				case 0: // fail at once: the new manifest is all goleveldb wrote
				case 1:
					for i := idx + 1; i <= idx+20; i++ {
						mustWrite(t, e, uint64(i), fmt.Sprintf("k%03d", i), journalValue(i))
					}
					idx += 20
					if !noSync {
						synced = idx
					}
				case 2:
					var kvs []kv
					for i := 1; i <= idx+5; i++ {
						kvs = append(kvs, kv{fmt.Sprintf("k%03d", i), journalValue(i)})
					}
					idx += 5
					if err := e.Replace(newSource(-1, kvs...), uint64(idx)); err != nil {
						t.Fatalf("cycle %d: replace: %v", cycle, err)
					}
					synced = idx
				}
				hi = max(hi, idx)
				keep := []float64{0, 0.5}[cycle%2]
				if _, _, err := pfs.PowerFail(rng, keep); err != nil {
					t.Fatalf("cycle %d: power failure: %v", cycle, err)
				}
				_ = e.Close() // its files are gone with the power: errors expected
				cur = nil
			}
		})
	}
}
