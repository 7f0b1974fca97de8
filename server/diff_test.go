package server_test

import (
	"testing"
	"time"

	"github.com/riot-kv/riot-redis/internal/testcluster"
	"github.com/riot-kv/riot-redis/resp/resptest"
)

// TestClusterMatchesRedis runs the differential test of resptest against a
// real 3-node cluster: through a follower (writes relayed to the leader over
// gRPC, linearizable reads by ReadIndex from the leader, pipelined writes as
// one relayed batch) and through the leader, each against its own
// redis-server. Every reply and every key's state must match Redis's. The
// test's second connection goes to another node: a write there must abort a
// transaction that WATCHed the key here, and be seen by commands queued here.
// -diff.seed replays a run, -diff.ops sets its length (per node).
func TestClusterMatchesRedis(t *testing.T) {
	c := testcluster.New(t, 3, testcluster.Options{})
	leader := c.WaitForLeader(20 * time.Second)
	followers := c.MustFollowers(2)
	for _, tc := range []struct {
		name        string
		node, other *testcluster.Node
	}{{"follower", followers[0], leader}, {"leader", leader, followers[1]}} {
		t.Run(tc.name, func(t *testing.T) {
			// Each node starts from an empty keyspace, as its redis-server.
			if err := tc.node.Client().FlushAll(ctxT(t, 10*time.Second)).Err(); err != nil {
				t.Fatalf("FLUSHALL: %v", err)
			}
			o := resptest.FlagOptions(1500)
			o.Other = tc.other.Cfg.RESPAddr
			resptest.RunDifferential(t, resptest.StartRedisServer(t), tc.node.Cfg.RESPAddr, o)
		})
	}
}

// TestLeaderReadLevelsMatchRedis runs the differential test through the
// leader of clusters whose default read level is lease or stale: the leader
// answers those reads from its own state, which must already hold every
// write it has acknowledged, so a client sees what Redis would show it.
func TestLeaderReadLevelsMatchRedis(t *testing.T) {
	for _, lvl := range []string{"lease", "stale"} {
		t.Run(lvl, func(t *testing.T) {
			c := testcluster.New(t, 3, testcluster.Options{ReadConsistency: lvl})
			leader := c.WaitForLeader(20 * time.Second)
			resptest.RunDifferential(t, resptest.StartRedisServer(t), leader.Cfg.RESPAddr, resptest.FlagOptions(1000))
		})
	}
}
