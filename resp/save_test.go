package resp

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestSaveCommands: SAVE and BGSAVE take snapshots through the node (one
// background snapshot at a time, one more scheduled behind it), LASTSAVE
// and INFO persistence report them.
func TestSaveCommands(t *testing.T) {
	n := mustNode(t)
	s := mustServer(t, n, Config{})
	rdb := mustClient(t, s, &redis.Options{Protocol: 2})
	ctx := testContext(t)
	persistence := func() map[string]string {
		t.Helper()
		return mustInfo(t, rdb, "persistence").fields["persistence"]
	}

	start, err := rdb.LastSave(ctx).Result()
	if err != nil || time.Since(time.Unix(start, 0)) > time.Minute {
		t.Fatalf("LASTSAVE before any snapshot = %d, %v; want the server's start", start, err)
	}
	for range 3 {
		rdb.Incr(ctx, "n")
	}
	if p := persistence(); p["rdb_changes_since_last_save"] != "3" || p["rdb_bgsave_in_progress"] != "0" {
		t.Errorf("INFO persistence before a save: %v", p)
	}
	if err := rdb.Save(ctx).Err(); err != nil {
		t.Fatalf("SAVE: %v", err)
	}
	n.mu.Lock()
	at, saves := n.snapshotAt, n.snapshots
	n.mu.Unlock()
	if saves != 1 {
		t.Fatalf("SAVE took %d snapshots", saves)
	}
	if last, err := rdb.LastSave(ctx).Result(); err != nil || last != at.Unix() {
		t.Errorf("LASTSAVE = %d, %v; want %d", last, err, at.Unix())
	}
	if p := persistence(); p["rdb_changes_since_last_save"] != "0" || p["rdb_last_save_time"] != strconv.FormatInt(at.Unix(), 10) {
		t.Errorf("INFO persistence after SAVE: %v", p)
	}

	hold := make(chan struct{})
	n.set(func(n *testNode) { n.snapshotHold = hold })
	if r, err := rdb.BgSave(ctx).Result(); err != nil || r != "Background saving started" {
		t.Fatalf("BGSAVE = %q, %v", r, err)
	}
	eventually(t, func() error {
		if persistence()["rdb_bgsave_in_progress"] == "1" {
			return nil
		}
		return errors.New("not yet: persistence()['rdb_bgsave_in_progress'] == '1'")
	})
	if err := rdb.BgSave(ctx).Err(); err == nil || err.Error() != errTextBGSaveRunning {
		t.Errorf("BGSAVE while one runs: %v", err)
	}
	if err := rdb.Save(ctx).Err(); err == nil || err.Error() != errTextBGSaveRunning {
		t.Errorf("SAVE while a BGSAVE runs: %v", err)
	}
	if r, err := rdb.Do(ctx, "BGSAVE", "SCHEDULE").Text(); err != nil || r != "Background saving scheduled" {
		t.Errorf("BGSAVE SCHEDULE while one runs = %q, %v", r, err)
	}
	close(hold)
	eventually(t, func() error {
		if persistence()["rdb_bgsave_in_progress"] == "0" {
			return nil
		}
		return errors.New("not yet: persistence()['rdb_bgsave_in_progress'] == '0'")
	})
	n.mu.Lock()
	saves = n.snapshots
	n.mu.Unlock()
	if saves != 3 {
		t.Errorf("%d snapshots after SAVE, BGSAVE and a scheduled one, want 3", saves)
	}

	n.set(func(n *testNode) { n.snapshotHold, n.snapshotErr = nil, errors.New("disk on fire") })
	if err := rdb.Save(ctx).Err(); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("SAVE with a failing snapshot: %v", err)
	}
	rdb.BgSave(ctx)
	eventually(t, func() error {
		if persistence()["rdb_last_bgsave_status"] == "err" {
			return nil
		}
		return errors.New("not yet: persistence()['rdb_last_bgsave_status'] == 'err'")
	})
}
