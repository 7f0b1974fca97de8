//go:build linux

package server_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/riot-kv/riot-redis/internal/testcluster"
	"github.com/riot-kv/riot-redis/resp"
)

// A cluster with a node's disk below --min-free-disk-mb refuses writes that
// add data with MISCONF, wherever they are sent, and nothing of them is
// applied; reads and deletes go on, and no node stops. A follower's disk
// counts as much as the leader's: its alarm is replicated. Once space is
// freed the writes are taken again. Each node's data directory is its own
// small tmpfs, filled with a file to below the floor.
func TestDiskFloor(t *testing.T) {
	const floorMB = 64
	mnt := t.TempDir()
	for _, name := range []string{"node1", "node2", "node3"} {
		dir := filepath.Join(mnt, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=192m"); err != nil {
			t.Fatalf("mount a tmpfs: %v (this test needs root)", err)
		}
		t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) }) // after the nodes stop
	}
	c := testcluster.New(t, 3, testcluster.Options{Dir: mnt, MinFreeDiskMB: floorMB})
	leader := c.WaitForLeader(20 * time.Second)
	followers := c.MustFollowers(2)
	ctx := ctxT(t, 2*time.Minute)
	for _, k := range []string{"a", "b", "e"} {
		if err := leader.Client().Set(ctx, k, "1", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}

	for _, low := range []*testcluster.Node{followers[0], leader} {
		filler := fill(t, low.Cfg.Dir, floorMB-4)
		// INFO raft: the node's own disk_low, and its alarm on every node.
		waitDisk(t, ctx, c, low.Cfg.ID, true)
		for _, w := range []struct {
			what string
			err  error
		}{
			{"SET on the leader", leader.Client().Set(ctx, "c", "1", 0).Err()},
			{"INCR through a follower", followers[1].Client().Incr(ctx, "a").Err()},
			{"MSET through the low follower", followers[0].Client().MSet(ctx, "c", "1", "d", "1").Err()},
			{"SET through a follower", followers[1].Client().Set(ctx, "d", "1", 0).Err()},
		} {
			if w.err == nil || w.err.Error() != resp.ErrTextDiskFull {
				t.Fatalf("%s with %s's disk below the floor: %v, want %q", w.what, low.Cfg.ID, w.err, resp.ErrTextDiskFull)
			}
		}
		for _, nd := range c.Nodes {
			cl := nd.Client()
			if got, err := cl.Get(ctx, "a").Result(); err != nil || got != "1" {
				t.Fatalf("%s: GET a = %q, %v while a disk is low: want the value before, the INCR not applied", nd.Cfg.ID, got, err)
			}
			if n, err := cl.Exists(ctx, "c", "d").Result(); err != nil || n != 0 {
				t.Fatalf("%s: EXISTS c d = %d, %v: a refused write was applied", nd.Cfg.ID, n, err)
			}
		}
		if n, err := followers[1].Client().Del(ctx, "b").Result(); err != nil || n != 1 {
			t.Fatalf("DEL through a follower with a disk low = %d, %v; want 1: deletes are taken", n, err)
		}

		// Space freed: writes are taken again, on every path.
		if err := os.Remove(filler); err != nil {
			t.Fatal(err)
		}
		waitDisk(t, ctx, c, low.Cfg.ID, false)
		if err := followers[0].Client().Set(ctx, "b", "2", 0).Err(); err != nil {
			t.Fatalf("SET through a follower after space was freed: %v", err)
		}
		if err := leader.Client().Incr(ctx, "e").Err(); err != nil {
			t.Fatalf("INCR on the leader after space was freed: %v", err)
		}
		for _, nd := range c.Nodes {
			if got, err := nd.Client().Get(ctx, "b").Result(); err != nil || got != "2" {
				t.Fatalf("%s: GET b = %q, %v after space was freed", nd.Cfg.ID, got, err)
			}
		}
	}
	if err := leader.Client().FlushAll(ctx).Err(); err != nil {
		t.Fatalf("FLUSHALL: %v", err)
	}
}

// fill allocates a file in dir that leaves belowMB MiB free on its file
// system, and returns its path.
func fill(t *testing.T, dir string, belowMB int64) string {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	free := int64(st.Bavail) * st.Bsize
	if free <= belowMB<<20 {
		t.Fatalf("setup: %d MiB free in %s, want more than %d", free>>20, dir, belowMB)
	}
	path := filepath.Join(dir, "filler")
	fh, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	if err := unix.Fallocate(int(fh.Fd()), 0, 0, free-belowMB<<20); err != nil {
		t.Fatalf("fill %s: %v", dir, err)
	}
	return path
}

// waitDisk waits until INFO raft shows node id's disk as low (or not) on
// that node and its alarm raised (or cleared) on every node.
func waitDisk(t *testing.T, ctx context.Context, c *testcluster.Cluster, id string, low bool) {
	t.Helper()
	want, alarms := "0", ""
	if low {
		want, alarms = "1", id
	}
	deadline := time.Now().Add(10 * time.Second) // a check every 250 ms, then the alarm's proposal
	for _, nd := range c.Nodes {
		for {
			in := parseInfo(t, nd.Client().Info(ctx, "raft").Val())["raft"]
			if in["disk_alarms"] == alarms && (nd.Cfg.ID != id || in["disk_low"] == want) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: INFO raft disk_low %q, disk_alarms %q; want %s low=%v", nd.Cfg.ID, in["disk_low"], in["disk_alarms"], id, low)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}
