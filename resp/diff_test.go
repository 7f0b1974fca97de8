package resp

import (
	"flag"
	"testing"

	"github.com/riot-kv/riot-redis/resp/resptest"
)

var (
	diffSeed = flag.Uint64("diff.seed", 0, "seed of TestRandomCommandsMatchRedis (0: a new one)")
	diffOps  = flag.Int("diff.ops", 4000, "commands TestRandomCommandsMatchRedis sends")
)

// TestRandomCommandsMatchRedis runs resptest.RunDifferential against one
// server over a test node (the state machine without Raft): random string
// and keyspace commands, alone, pipelined and in transactions, must get the
// replies redis-server gives.
func TestRandomCommandsMatchRedis(t *testing.T) {
	s := mustServer(t, mustNode(t), Config{})
	resptest.RunDifferential(t, mustRedisServer(t), s.Addr(), resptest.DiffOptions{Seed: *diffSeed, Ops: *diffOps})
}
