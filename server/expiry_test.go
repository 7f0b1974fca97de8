package server_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/riot-kv/riot-redis/internal/testcluster"
)

// TestClusterExpiry checks expiry across a 3-node cluster: a short TTL set on
// the leader ends on every node; expired keys are removed in the background
// by the leader's sweep, replicated through the log, without any client
// touching them; and a long TTL survives a full restart with its remaining
// time.
func TestClusterExpiry(t *testing.T) {
	c := testcluster.New(t, 3, testcluster.Options{})
	leader := c.WaitForLeader(20 * time.Second)
	ctx := ctxT(t, 2*time.Minute)
	lc := leader.Client()

	const swept = 50
	if err := lc.Set(ctx, "plain", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := lc.Set(ctx, "long", "v", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	for i := range swept {
		if err := lc.Set(ctx, fmt.Sprint("swept:", i), "v", 100*time.Millisecond).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := lc.Set(ctx, "short", "v", 200*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}

	// The short key ends on every node, for reads on that node.
	testcluster.Eventually(t, 10*time.Second, func() error {
		for _, nd := range c.Nodes {
			err := nd.Client().Get(ctx, "short").Err()
			if !errors.Is(err, redis.Nil) {
				return fmt.Errorf("GET short on %s: %v, want nil", nd.Cfg.ID, err)
			}
		}
		return nil
	})

	// The sweep removes the expired records everywhere. Reading the state
	// machine at time 0 shows a record whatever its expiry, so this sees the
	// stored record, not the expiry rule.
	testcluster.Eventually(t, 20*time.Second, func() error {
		for _, nd := range c.Nodes {
			f := nd.Raft().FSM()
			for _, key := range []string{"short", "swept:0", fmt.Sprint("swept:", swept-1)} {
				if ok, err := f.Exists([]byte(key), 0); err != nil || ok {
					return fmt.Errorf("%s still stores %s (%v)", nd.Cfg.ID, key, err)
				}
			}
			if keys, expires := f.KeyStats(); keys != 2 || expires != 1 {
				return fmt.Errorf("%s: KeyStats = %d keys, %d with expiry; want 2, 1", nd.Cfg.ID, keys, expires)
			}
		}
		return nil
	})

	before, err := lc.PTTL(ctx, "long").Result()
	if err != nil || before <= 0 || before > time.Minute {
		t.Fatalf("PTTL long before the restart = %v, %v", before, err)
	}
	for _, nd := range c.Nodes {
		nd.Stop()
	}
	for _, nd := range c.Nodes {
		nd.Start()
	}
	c.WaitForLeader(30 * time.Second)
	for _, nd := range c.Nodes {
		cl := nd.Client()
		d, err := cl.PTTL(ctx, "long").Result()
		if err != nil || d <= 0 || d > before {
			t.Fatalf("PTTL long on %s after the restart = %v, %v; want (0, %v]", nd.Cfg.ID, d, err, before)
		}
		if v, err := cl.Get(ctx, "plain").Result(); err != nil || v != "v" {
			t.Fatalf("GET plain on %s after the restart = %q, %v", nd.Cfg.ID, v, err)
		}
		if keys, expires := nd.Raft().FSM().KeyStats(); keys != 2 || expires != 1 {
			t.Fatalf("%s: KeyStats after the restart = %d, %d; want 2, 1", nd.Cfg.ID, keys, expires)
		}
	}
}
