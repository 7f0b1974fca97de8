package server_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/riot-kv/riot-redis/internal/diskfault"
	"github.com/riot-kv/riot-redis/internal/testcluster"
)

// A follower restarts after its engine's journal lost a block in the middle
// (a power failure that persisted later pages of the unsynced journal but
// not an earlier one). The engine cannot be trusted to hold every batch up
// to its applied index, so it starts empty and the follower rebuilds it from
// its Raft log (and the newest snapshot when there is one): it then serves
// every acknowledged write and the same key count as the leader. Without
// the check the engine came back with later batches and their applied index
// but without the lost ones, and the follower served a state that never
// existed.
func TestFollowerRebuildsDamagedEngine(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts testcluster.Options
	}{
		{"from the log", testcluster.Options{NoWriteBehind: true}},
		{"from a snapshot and the log", testcluster.Options{NoWriteBehind: true,
			SnapshotThreshold: 64, SnapshotInterval: time.Second, TrailingLogs: 16}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 300
			c := testcluster.New(t, 3, tc.opts)
			leader := c.WaitForLeader(20 * time.Second)
			f := c.MustFollowers(2)[0]
			ctx := ctxT(t, 2*time.Minute)
			lc := leader.Client()
			value := func(i int) string { return fmt.Sprintf("%04d", i) + strings.Repeat("v", 1020) }
			for i := range n {
				if err := lc.Set(ctx, fmt.Sprintf("key:%03d", i), value(i), 0).Err(); err != nil {
					t.Fatalf("SET: %v", err)
				}
			}
			if tc.opts.SnapshotThreshold > 0 {
				fc := f.Client()
				testcluster.Eventually(t, 30*time.Second, func() error {
					if idx := raftCounters(t, ctx, fc, "raft_last_snapshot_index")[0]; idx < n/2 {
						return fmt.Errorf("%s: last snapshot at %d", f.Cfg.ID, idx)
					}
					return nil
				})
			}
			// The follower has applied everything before it stops.
			mustGetAll(t, c, fmt.Sprintf("key:%03d", n-1), value(n-1))
			f.Stop()

			journals, err := filepath.Glob(filepath.Join(f.Cfg.Dir, "engine", "data-*", "*.log"))
			if err != nil || len(journals) == 0 {
				t.Fatalf("engine journals: %v, %v", journals, err)
			}
			j := journals[len(journals)-1]
			if fi, err := os.Stat(j); err != nil || fi.Size() < 4*32<<10 {
				t.Fatalf("journal %s: %v, %v; want at least 4 blocks", j, fi, err)
			}
			diskfault.Zero(t, j, 2*32<<10, 3*32<<10)

			f.Start()
			fc := f.Client()
			testcluster.Eventually(t, 30*time.Second, func() error {
				got, err := fc.Get(ctx, fmt.Sprintf("key:%03d", n-1)).Result()
				if err != nil || got != value(n-1) {
					return fmt.Errorf("GET on restarted follower: %q, %v", got, err)
				}
				return nil
			})
			for i := range n {
				k := fmt.Sprintf("key:%03d", i)
				if got, err := fc.Get(ctx, k).Result(); err != nil || got != value(i) {
					t.Fatalf("GET %s on the restarted follower = %.8q..., %v; want %.8q...", k, got, err, value(i))
				}
			}
			want, err := lc.DBSize(ctx).Result()
			if err != nil || want != n {
				t.Fatalf("DBSIZE on the leader = %d, %v; want %d", want, err, n)
			}
			if got, err := fc.DBSize(ctx).Result(); err != nil || got != want {
				t.Fatalf("DBSIZE on the restarted follower = %d, %v; want %d", got, err, want)
			}
		})
	}
}
