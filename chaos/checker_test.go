package chaos

import (
	"context"
	"math/rand"
	"os"
	"testing"
	"time"

	"github.com/riot-kv/riot-redis/chaos/harness"
)

// TestCheckerCatchesStaleReads proves that the pipeline (clients, history,
// clock, porcupine) can fail: with every read served from local state
// (--read-consistency stale), a follower cut off from the others keeps
// answering reads with its old values while the majority accepts writes, and
// the checker must call the history not linearizable and draw it.
func TestCheckerCatchesStaleReads(t *testing.T) {
	c := harness.NewCluster(t, harness.Options{Nodes: 3, ReadConsistency: "stale"})
	w := harness.Workload{Prefix: "stale:", RegisterKeys: 2, CounterKeys: 1, WorkersPerNode: 3, Timeout: time.Second}
	rec := harness.NewRecorder()
	ctx, cancel := context.WithTimeout(context.Background(), 9*time.Second)
	defer cancel()
	env := &harness.Env{T: t, C: c, Rnd: rand.New(rand.NewSource(1))}
	done := make(chan struct{})
	go func() {
		defer close(done)
		harness.RunSchedule(ctx, env, harness.Schedule{step(ms(1500), ms(6000), harness.IsolateNode{Target: harness.Follower})})
	}()
	w.Run(ctx, c, rec)
	<-done
	t.Logf("%s", rec.Summary())
	if n := c.Events.Count("partition"); n != 1 {
		t.Fatalf("%d partitions, want 1", n)
	}
	dir := t.TempDir()
	bad := harness.Linearizability(c, rec.Ops(), func() string { return dir })
	if len(bad) == 0 {
		t.Fatalf("stale reads on an isolated follower went unnoticed: the linearizability checker is blind")
	}
	for _, b := range bad {
		t.Logf("found, as it must: %s", b)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) == 0 {
		t.Fatalf("no visualisation written for the violation")
	}
	for _, e := range entries {
		if fi, err := e.Info(); err != nil || fi.Size() < 1000 {
			t.Fatalf("visualisation %s is empty or unreadable: %v", e.Name(), err)
		}
	}
	c.CheckNoCrash()
}
