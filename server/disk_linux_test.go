//go:build linux

package server_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/riot-kv/riot-redis/internal/testcluster"
	"github.com/riot-kv/riot-redis/resp"
)

// A cluster whose disk is below --min-free-disk-mb refuses writes that add
// data with MISCONF, through the leader and through a follower, and nothing
// of them is applied; reads and deletes go on, and no node stops. Once
// space is freed the writes are taken again. The nodes' data directories
// share a small tmpfs, filled with a file to below the floor.
func TestDiskFloor(t *testing.T) {
	mnt := t.TempDir()
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, "size=256m"); err != nil {
		t.Fatalf("mount a tmpfs: %v (this test needs root)", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(mnt, unix.MNT_DETACH) }) // after the nodes stop
	const floorMB = 64
	c := testcluster.New(t, 3, testcluster.Options{Dir: mnt, MinFreeDiskMB: floorMB})
	leader := c.WaitForLeader(20 * time.Second)
	follower := c.Followers()[0]
	ctx := ctxT(t, time.Minute)
	for _, k := range []string{"a", "b"} {
		if err := leader.Client().Set(ctx, k, "1", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}

	// Fill the file system to 4 MiB below the floor.
	var st unix.Statfs_t
	if err := unix.Statfs(mnt, &st); err != nil {
		t.Fatal(err)
	}
	free := int64(st.Bavail) * st.Bsize
	if free <= floorMB<<20 {
		t.Fatalf("setup: %d MiB free before the filler, want more than %d", free>>20, floorMB)
	}
	filler := filepath.Join(mnt, "filler")
	fh, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Fallocate(int(fh.Fd()), 0, 0, free-(floorMB-4)<<20); err != nil {
		t.Fatalf("fill the disk: %v", err)
	}
	fh.Close()

	// The nodes read the free space every 250 ms; INFO raft shows it.
	waitDiskLow := func(want uint64) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for _, nd := range c.Nodes {
			for {
				v := raftCounters(t, ctx, nd.Client(), "disk_low", "disk_free_bytes", "disk_min_free_bytes")
				if v[2] != floorMB<<20 {
					t.Fatalf("%s: INFO disk_min_free_bytes %d, want %d", nd.Cfg.ID, v[2], floorMB<<20)
				}
				if v[0] == want && (v[1] < floorMB<<20) == (want == 1) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s: INFO disk_low %d, disk_free_bytes %d; want disk_low %d", nd.Cfg.ID, v[0], v[1], want)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
	waitDiskLow(1)
	refused := func(what string, err error) {
		t.Helper()
		if err == nil || err.Error() != resp.ErrTextDiskFull {
			t.Fatalf("%s with the disk below the floor: %v, want %q", what, err, resp.ErrTextDiskFull)
		}
	}
	refused("SET on the leader", leader.Client().Set(ctx, "c", "1", 0).Err())
	refused("INCR through a follower", follower.Client().Incr(ctx, "a").Err())
	refused("MSET on the leader", leader.Client().MSet(ctx, "c", "1", "d", "1").Err())
	refused("SET through a follower", follower.Client().Set(ctx, "d", "1", 0).Err())
	for _, nd := range c.Nodes {
		cl := nd.Client()
		if got, err := cl.Get(ctx, "a").Result(); err != nil || got != "1" {
			t.Fatalf("%s: GET a = %q, %v while the disk is low: want the value before it, the INCR not applied", nd.Cfg.ID, got, err)
		}
		if n, err := cl.Exists(ctx, "c", "d").Result(); err != nil || n != 0 {
			t.Fatalf("%s: EXISTS c d = %d, %v: a refused write was applied", nd.Cfg.ID, n, err)
		}
	}
	if n, err := follower.Client().Del(ctx, "b").Result(); err != nil || n != 1 {
		t.Fatalf("DEL through a follower with the disk low = %d, %v; want 1: deletes are taken", n, err)
	}
	if err := leader.Client().FlushAll(ctx).Err(); err != nil {
		t.Fatalf("FLUSHALL with the disk low: %v", err)
	}

	// Space freed: writes are taken again, on every path.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitDiskLow(0)
	if err := follower.Client().Set(ctx, "c", "2", 0).Err(); err != nil {
		t.Fatalf("SET through a follower after space was freed: %v", err)
	}
	if err := leader.Client().Incr(ctx, "n").Err(); err != nil {
		t.Fatalf("INCR on the leader after space was freed: %v", err)
	}
	for _, nd := range c.Nodes {
		if got, err := nd.Client().Get(ctx, "c").Result(); err != nil || got != "2" {
			t.Fatalf("%s: GET c = %q, %v after space was freed", nd.Cfg.ID, got, err)
		}
	}
}
