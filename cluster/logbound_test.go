package cluster

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/riot-kv/riot-redis/fsm"
	"github.com/riot-kv/riot-redis/storage"
)

func TestTrailingFor(t *testing.T) {
	for _, c := range []struct {
		max, mean  int64
		conf, want uint64
	}{
		{1 << 30, 100, 10240, 10240},                 // small entries: the configured count
		{1 << 30, 400 << 10, 10240, 655},             // 400 KB entries: a quarter of 1 GiB
		{1 << 20, 400 << 10, 10240, minTrailingLogs}, // never below the minimum
		{1 << 30, 1 << 10, 100, 100},                 // never above the configured count
		{1 << 30, 0, 10240, 10240},
	} {
		if got := trailingFor(c.max, c.mean, c.conf); got != c.want {
			t.Errorf("trailingFor(%d, %d, %d) = %d, want %d", c.max, c.mean, c.conf, got, c.want)
		}
	}
}

// A node whose Raft log passes its byte bound lowers Raft's trailing
// entries to fit a quarter of the bound, takes a snapshot and so compacts
// the log under the bound; every write survives, also a restart that
// rebuilds the state from the snapshot and the entries left (the memory
// engine keeps nothing else).
func TestLogByteBound(t *testing.T) {
	const bound = 256 << 10
	dir := t.TempDir()
	addr, f := nodeParts(t)
	cfg := Config{ID: "n1", Dir: dir, RaftAddr: addr, Bootstrap: true,
		HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond,
		LogMaxBytes: bound, logBoundEvery: 10 * time.Millisecond,
		logSegmentSize: 64 << 10}
	n, err := New(cfg, f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Kill() })
	waitLeader(t, n)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	const writes = 1000
	val := func(i int) string { return fmt.Sprintf("%04d", i) + strings.Repeat("v", 1020) }
	for i := range writes {
		c := fsm.NewSet([]byte(fmt.Sprint("k", i)), []byte(val(i)), fsm.SetOptions{})
		if _, err := n.Propose(ctx, c); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	// About 1 MiB went through the log: it must have been cut back.
	for n.store.log.Bytes() > bound || n.logBoundSnapshots.Load() == 0 {
		if ctx.Err() != nil {
			t.Fatalf("log at %d bytes (bound %d) after %d bound snapshots", n.store.log.Bytes(), bound, n.logBoundSnapshots.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if tr := n.raft.ReloadableConfig().TrailingLogs; tr != minTrailingLogs {
		t.Errorf("trailing logs %d with 1 KiB entries and a 256 KiB bound, want %d", tr, minTrailingLogs)
	}
	if first, _ := n.store.log.FirstIndex(); first <= 1 {
		t.Errorf("first index %d: nothing compacted", first)
	}
	check := func(n *Node) {
		t.Helper()
		for _, i := range []int{0, 1, writes / 2, writes - 1} {
			err := n.Read(ctx, Linearizable, func(s *fsm.FSM) error {
				v, ok, err := s.Get([]byte(fmt.Sprint("k", i)), time.Now().UnixMilli())
				if err != nil || !ok || string(v) != val(i) {
					return fmt.Errorf("k%d: %.8q, %v, %v", i, v, ok, err)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	check(n)

	if err := n.Kill(); err != nil {
		t.Fatal(err)
	}
	f2, err := fsm.New(storage.NewMemory())
	if err != nil {
		t.Fatal(err)
	}
	n2, err := New(cfg, f2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n2.Kill() })
	waitLeader(t, n2)
	check(n2)
}

// With entries too large for the kept ones to fit under the bound, a
// snapshot cannot bring the log under it: the bound then snapshots once per
// half bound written, not at every check.
func TestLogByteBoundLargeEntries(t *testing.T) {
	const bound = 256 << 10
	addr, f := nodeParts(t)
	n, err := New(Config{ID: "n1", Dir: t.TempDir(), RaftAddr: addr, Bootstrap: true,
		HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond,
		LogMaxBytes: bound, logBoundEvery: time.Millisecond, logSegmentSize: 64 << 10}, f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Kill() })
	waitLeader(t, n)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const writes, size = 200, 8 << 10
	for i := range writes {
		c := fsm.NewSet([]byte(fmt.Sprint("k", i)), []byte(strings.Repeat("x", size)), fsm.SetOptions{})
		if _, err := n.Propose(ctx, c); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	time.Sleep(50 * time.Millisecond) // a few more checks
	snaps := n.logBoundSnapshots.Load()
	most := uint64(writes*size/(bound/2) + 1)
	if snaps == 0 || snaps > most {
		t.Fatalf("%d bound snapshots for %d KiB written with a %d KiB bound, want 1 to %d",
			snaps, writes*size>>10, bound>>10, most)
	}
	if tr := n.raft.ReloadableConfig().TrailingLogs; tr != minTrailingLogs {
		t.Errorf("trailing logs %d, want %d", tr, minTrailingLogs)
	}
	// The kept entries, and at most about half a bound written since.
	if got, want := n.store.log.Bytes(), int64(minTrailingLogs)*(size+100)+bound; got > want {
		t.Errorf("log holds %d bytes, want at most %d", got, want)
	}
}
