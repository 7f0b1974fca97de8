package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/riot-kv/riot-redis/chaos/harness"
)

// TestReadIsolatedOldLeader cuts the leader's links to the other nodes (the
// process keeps running and clients still reach it) while the rest elect a
// new leader that accepts a write. A read on the old leader at the server's
// level (linearizable, and lease) must never return the old value: it fails
// with CLUSTERDOWN or TRYAGAIN, or waits. A stale read (READONLY) on the old
// leader must return the old value, which proves the isolation was real.
// After healing, the old leader serves the new value.
//
// In "paused", the old leader is stopped with SIGSTOP before the cut and
// continued only once the new leader took the write, with the reads already
// sent: it wakes up still believing it leads, the case where a leader that
// trusted its own state would answer from it.
func TestReadIsolatedOldLeader(t *testing.T) {
	for _, tc := range []struct {
		name  string
		level string
		pause bool
	}{
		{"linearizable", "linearizable", false},
		{"linearizable-paused", "linearizable", true},
		{"lease-paused", "lease", true},
	} {
		t.Run(tc.name, func(t *testing.T) { testIsolatedOldLeader(t, tc.level, tc.pause) })
	}
}

func testIsolatedOldLeader(t *testing.T, level string, pause bool) {
	c := harness.NewCluster(t, harness.Options{Nodes: 3, ReadConsistency: level})
	ctx := context.Background()
	const key = "rc:isolated"
	old := c.WaitHealthy(30 * time.Second)
	if err := c.Admin(old.Index).Set(ctx, key, "old", 0).Err(); err != nil {
		t.Fatalf("SET old on leader %s: %v", old.ID, err)
	}
	// Every node applies it before the cut, so a stale read anywhere sees it.
	c.Poll(20*time.Second, "every node to apply the first write", func() error {
		for i := range c.Nodes {
			if v, err := staleGet(c, i, key); err != nil || v != "old" {
				return fmt.Errorf("%s: %q, %v", c.Nodes[i].ID, v, err)
			}
		}
		return nil
	})

	// Two connections to the old leader at the server's level, made before
	// the cut.
	lin := []*redis.Client{c.NewClient(old.Index, false), c.NewClient(old.Index, false)}
	for _, cli := range lin {
		defer cli.Close()
		if err := cli.Ping(ctx).Err(); err != nil {
			t.Fatalf("connect to %s: %v", old.ID, err)
		}
	}

	if pause && !old.Pause() {
		t.Fatalf("could not pause %s", old.ID)
	}
	c.Net.Isolate(old.Index)
	c.Events.Instant("partition", old.ID, "isolated: "+c.Net.Cuts())
	for i := range c.Nodes {
		if i != old.Index && !strings.Contains(c.Net.Rules(i), old.Host.IP) {
			t.Fatalf("no DROP rule for %s in %s's namespace:\n%s", old.Host.IP, c.Nodes[i].ID, c.Net.Rules(i))
		}
	}

	// The majority elects a new leader and accepts a write.
	var next *harness.Node
	c.Poll(30*time.Second, "a new leader among the majority", func() error {
		for i, n := range c.Nodes {
			if n == old {
				continue
			}
			if id := c.LeaderView(i, time.Second); id != "" && id != old.ID {
				next = c.NodeByID(id)
				return nil
			}
		}
		return errors.New("the majority names no new leader")
	})
	c.Poll(30*time.Second, "the new leader to accept a write", func() error {
		return c.Do(next.Index, 5*time.Second, "SET", key, "new").Err()
	})
	t.Logf("new leader %s accepted SET %s new", next.ID, key)

	// Reads on the isolated old leader, on two connections at once: never
	// "old". When it is paused, the requests wait in its socket buffers and
	// are served the moment it continues.
	type result struct {
		v    string
		err  error
		took time.Duration
	}
	results := make(chan result, len(lin))
	sent := make(chan struct{}, len(lin))
	for _, cli := range lin {
		go func() {
			start := time.Now()
			rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			cmd := redis.NewStringCmd(rctx, "GET", key)
			sent <- struct{}{}
			cli.Process(rctx, cmd)
			v, err := cmd.Result()
			results <- result{v, err, time.Since(start).Round(time.Millisecond)}
		}()
	}
	if pause {
		for range lin {
			<-sent
		}
		// Both GETs must wait unread in the paused process's sockets before
		// it continues.
		c.Poll(10*time.Second, "the GETs to reach the paused old leader", func() error {
			if n := old.QueuedConns(); n < len(lin) {
				return fmt.Errorf("%d connections with unread requests", n)
			}
			return nil
		})
		if !old.Paused() {
			t.Fatalf("%s is not paused", old.ID)
		}
		old.Resume()
	}
	for range lin {
		r := <-results
		switch {
		case r.err == nil && r.v == "old":
			t.Fatalf("%s GET on the isolated old leader %s returned the overwritten value %q after %s", level, old.ID, r.v, r.took)
		case r.err == nil:
			t.Fatalf("%s GET on the isolated old leader %s returned %q after %s; it cannot have learned it", level, old.ID, r.v, r.took)
		case isRetryable(r.err), isTimeout(r.err):
			t.Logf("%s GET on the isolated old leader: %v (after %s)", level, r.err, r.took)
		default:
			t.Fatalf("%s GET on the isolated old leader %s: unexpected error %v", level, old.ID, r.err)
		}
	}
	// A stale read there still sees the old value: the isolation is real.
	if v, err := staleGet(c, old.Index, key); err != nil || v != "old" {
		t.Fatalf("stale GET on the isolated old leader %s = %q, %v; want \"old\" (was it really cut off?)", old.ID, v, err)
	}

	c.Net.Heal()
	c.Events.Instant("heal-net", "", "")
	c.Poll(30*time.Second, "the old leader to catch up (stale read)", func() error {
		if v, err := staleGet(c, old.Index, key); err != nil || v != "new" {
			return fmt.Errorf("%q, %v", v, err)
		}
		return nil
	})
	c.Poll(30*time.Second, "a "+level+" read on the old leader", func() error {
		v, err := c.Do(old.Index, 5*time.Second, "GET", key).Text()
		if err == nil && v != "new" {
			t.Fatalf("%s GET on the healed old leader = %q, want \"new\"", level, v)
		}
		return err
	})
	c.CheckNoCrash()
}

// staleGet reads key from node i's local state (READONLY on a connection
// of its own).
func staleGet(c *harness.Cluster, i int, key string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	cli := c.NewClient(i, true)
	defer cli.Close()
	return cli.Get(ctx, key).Result()
}

func isRetryable(err error) bool {
	var re redis.Error
	if !errors.As(err, &re) {
		return false
	}
	return strings.HasPrefix(re.Error(), "CLUSTERDOWN") || strings.HasPrefix(re.Error(), "TRYAGAIN")
}

func isTimeout(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) && ne.Timeout()
}

// TestReadLinearizableAcrossLeaderChanges runs GET/SET/INCR on all three
// nodes while leadership moves by CLUSTER TRANSFER and by SIGKILL of the
// leader, and checks the history with porcupine at the default read level.
func TestReadLinearizableAcrossLeaderChanges(t *testing.T) {
	s := fixedSeed(20260101)
	harness.Run(t, harness.Scenario{
		Nodes:    3,
		Seed:     s,
		Duration: 20 * time.Second,
		Schedule: func(*rand.Rand) harness.Schedule {
			return harness.Schedule{
				{Gap: 1500 * time.Millisecond, Nemeses: []harness.Nemesis{harness.Transfer{}}, Hold: 0},
				{Gap: 1500 * time.Millisecond, Nemeses: []harness.Nemesis{&harness.Kill{Target: harness.LeaderNode}}, Hold: 2 * time.Second},
				{Gap: 1500 * time.Millisecond, Nemeses: []harness.Nemesis{harness.Transfer{}}, Hold: 0},
			}
		},
		Workload: harness.Workload{RegisterKeys: 4, CounterKeys: 1},
		Expect: func(r *harness.Round) error {
			if r.Count("transfer") < 2 || r.Count("kill") < 1 {
				return fmt.Errorf("%d transfers and %d kills", r.Count("transfer"), r.Count("kill"))
			}
			if r.LeaderChanges < 3 {
				return fmt.Errorf("only %d leader changes observed", r.LeaderChanges)
			}
			return nil
		},
	})
}
