//go:build linux

package raftlog

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/riot-kv/riot-redis/internal/powerfs"
)

// The log on powerfs, which loses what was not fsynced when the power
// fails, power-failed again and again while the leader's deferred syncs
// run, with none, half or all of the unsynced pages written back in no
// order. Every open must succeed (a torn tail is never taken for
// corruption), keep every entry Durable reported before the failure, and
// hold a prefix of what was appended, byte for byte.
func TestPowerFailure(t *testing.T) {
	backing, mnt := t.TempDir(), t.TempDir()
	pfs, err := powerfs.Mount(backing, mnt)
	if err != nil {
		t.Fatalf("mount: %v (powerfs needs /dev/fuse and root)", err)
	}
	var cur *Log
	t.Cleanup(func() {
		if cur != nil {
			_ = cur.Close()
		}
		if err := pfs.Close(); err != nil {
			t.Errorf("unmount: %v", err)
		}
	})
	dir := filepath.Join(mnt, "log")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	g := genN(700, 5, 1) // about 90 entries per 64 KiB segment
	rng := rand.New(rand.NewPCG(11, 12))
	var durable, appended, cut uint64
	for cycle := range 16 {
		l, err := Open(dir, Options{SegmentSize: 64 << 10, DeferSync: true})
		if err != nil {
			t.Fatalf("cycle %d: open after a power failure: %v", cycle, err)
		}
		cur = l
		last, err := l.LastIndex()
		if err != nil {
			t.Fatal(err)
		}
		if last < durable || last > appended {
			t.Fatalf("cycle %d: last index %d after a power failure, want %d (durable) to %d (appended)", cycle, last, durable, appended)
		}
		if last < appended {
			cut++
		}
		mustRange(t, l, 1, last, g)
		store := func() {
			n := 1 + uint64(rng.IntN(8))
			mustStore(t, l, batch(last+1, last+n, g)...)
			last += n
		}
		for range 20 {
			store()
			if rng.IntN(4) == 0 {
				if err := l.WaitDurable(last); err != nil {
					t.Fatal(err)
				}
			}
		}
		// A tail that is certainly unsynced when the power fails: the
		// syncer waits while the last batches are written.
		if err := l.WaitDurable(last); err != nil {
			t.Fatal(err)
		}
		hold := make(chan struct{})
		syncHold.Store(&hold)
		for range 1 + rng.IntN(3) {
			store()
		}
		durable, appended = l.Durable(), last
		_, _, err = pfs.PowerFail(rng, float64(rng.IntN(3))/2)
		syncHold.Store(nil)
		close(hold)
		if err != nil {
			t.Fatalf("cycle %d: power failure: %v", cycle, err)
		}
		_ = l.Close() // its files went with the power: errors expected
		cur = nil
	}
	if cut == 0 { // a third of the failures write no unsynced page back
		t.Fatal("no power failure cut off an unsynced tail: the test lost nothing")
	}
}
