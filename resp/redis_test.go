package resp

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/riot-kv/riot-redis/resp/resptest"
)

// TestTranscriptsMatchRedis runs every transcript that claims Redis's own
// replies (all but riot-*.txt) against a real redis-server, so the golden
// files cannot drift from what Redis answers.
func TestTranscriptsMatchRedis(t *testing.T) {
	addr := mustRedisServer(t)
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	ran := 0
	for _, f := range files {
		name := filepath.Base(f)
		if strings.HasPrefix(name, "riot-") {
			continue
		}
		ran++
		t.Run(name, func(t *testing.T) {
			if err := rdb.FlushAll(testContext(t)).Err(); err != nil {
				t.Fatalf("FLUSHALL: %v", err)
			}
			resptest.RunTranscript(t, addr, f, false)
		})
	}
	if ran == 0 {
		t.Fatal("no Redis-compatible transcripts in testdata")
	}
}

// mustRedisServer starts a redis-server without persistence (see
// resptest.StartRedisServer) and returns its address.
func mustRedisServer(t testing.TB) string { return resptest.StartRedisServer(t) }
