package resp

import (
	"testing"

	"github.com/riot-kv/riot-redis/resp/resptest"
)

// TestRandomCommandsMatchRedis runs resptest.RunDifferential against one
// server over a test node (the state machine without Raft): random string
// and keyspace commands, alone, pipelined and in transactions, must get the
// replies redis-server gives. -diff.seed replays a run, -diff.ops sets its
// length.
func TestRandomCommandsMatchRedis(t *testing.T) {
	s := mustServer(t, mustNode(t), Config{})
	resptest.RunDifferential(t, mustRedisServer(t), s.Addr(), resptest.FlagOptions(4000))
}
