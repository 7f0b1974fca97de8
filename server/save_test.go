package server_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/riot-kv/riot-redis/internal/testcluster"
)

// TestSaveTakesRaftSnapshot: on a real node SAVE and BGSAVE take Raft
// snapshots (INFO raft's raft_last_snapshot_index moves to the applied
// index), and LASTSAVE answers the newest one's time.
func TestSaveTakesRaftSnapshot(t *testing.T) {
	c := testcluster.New(t, 1, testcluster.Options{})
	n := c.WaitForLeader(20 * time.Second)
	rdb := n.Client()
	ctx := ctxT(t, 30*time.Second)
	field := func(section, name string) string {
		t.Helper()
		text, err := rdb.Info(ctx, section).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(text, "\r\n") {
			if v, ok := strings.CutPrefix(line, name+":"); ok {
				return v
			}
		}
		t.Fatalf("INFO %s has no %s", section, name)
		return ""
	}
	for i := range 20 {
		if err := rdb.Set(ctx, "k"+strconv.Itoa(i), "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	before := time.Now()
	if err := rdb.Save(ctx).Err(); err != nil {
		t.Fatalf("SAVE: %v", err)
	}
	snap, applied := field("raft", "raft_last_snapshot_index"), field("raft", "raft_applied_index")
	if snap == "0" || snap != applied {
		t.Errorf("after SAVE: raft_last_snapshot_index %s, raft_applied_index %s", snap, applied)
	}
	last, err := rdb.LastSave(ctx).Result()
	if err != nil || last < before.Unix()-1 || last > time.Now().Unix()+1 {
		t.Errorf("LASTSAVE = %d, %v; want about %d", last, err, before.Unix())
	}
	if v := field("persistence", "rdb_changes_since_last_save"); v != "0" {
		t.Errorf("rdb_changes_since_last_save after SAVE = %s", v)
	}

	for i := range 5 {
		rdb.Set(ctx, "more"+strconv.Itoa(i), "v", 0)
	}
	if v := field("persistence", "rdb_changes_since_last_save"); v == "0" {
		t.Errorf("rdb_changes_since_last_save after 5 writes = %s", v)
	}
	if err := rdb.BgSave(ctx).Err(); err != nil {
		t.Fatalf("BGSAVE: %v", err)
	}
	testcluster.Eventually(t, 20*time.Second, func() error {
		if v := field("persistence", "rdb_changes_since_last_save"); v != "0" {
			return fmt.Errorf("rdb_changes_since_last_save %s", v)
		}
		return nil
	})
}
