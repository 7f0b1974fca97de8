package server_test

import (
	"net"
	"testing"
	"time"

	"github.com/riot-kv/riot-redis/internal/testcluster"
)

// TestFailover: FAILOVER on the leader hands leadership to a follower (to the
// one TO names, by its RESP address); on a follower, or naming a node that
// is not a member, it is refused with Redis's errors.
func TestFailover(t *testing.T) {
	c := testcluster.New(t, 3, testcluster.Options{})
	leader := c.WaitForLeader(20 * time.Second)
	ctx := ctxT(t, 60*time.Second)

	followers := c.MustFollowers(2)
	if err := followers[0].Client().Do(ctx, "FAILOVER").Err(); err == nil || err.Error() != "ERR FAILOVER is not valid when server is a replica." {
		t.Errorf("FAILOVER on a follower: %v", err)
	}
	if err := leader.Client().Do(ctx, "FAILOVER", "TO", "127.0.0.1", "1").Err(); err == nil || err.Error() != "ERR FAILOVER target HOST and PORT is not a replica." {
		t.Errorf("FAILOVER TO a non-member: %v", err)
	}

	target := followers[1]
	host, port, err := net.SplitHostPort(target.Cfg.RESPAddr)
	if err != nil {
		t.Fatal(err)
	}
	if err := leader.Client().Do(ctx, "FAILOVER", "TO", host, port, "TIMEOUT", "10000").Err(); err != nil {
		t.Fatalf("FAILOVER TO %s: %v", target.Cfg.RESPAddr, err)
	}
	if got := c.WaitForLeader(20 * time.Second); got != target {
		t.Fatalf("leader after FAILOVER TO %s is %s", target.Cfg.ID, got.Cfg.ID)
	}

	if err := target.Client().Do(ctx, "FAILOVER").Err(); err != nil {
		t.Fatalf("FAILOVER to any replica: %v", err)
	}
	if got := c.WaitForLeader(20 * time.Second); got == target {
		t.Fatalf("%s still leads after FAILOVER", target.Cfg.ID)
	}
	if err := c.WaitForLeader(20*time.Second).Client().Set(ctx, "after", "failover", 0).Err(); err != nil {
		t.Fatalf("SET after two failovers: %v", err)
	}
}
