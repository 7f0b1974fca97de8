package resp

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// mustRedisServer starts a redis-server without persistence on a free
// loopback port and stops it at cleanup. `make deps` installs redis-server.
func mustRedisServer(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is needed to check transcripts against Redis (run `make deps`): %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, port, _ := net.SplitHostPort(addr)
	dir := t.TempDir()
	cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--logfile", filepath.Join(dir, "redis.log"))
	if err := cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	defer rdb.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := rdb.Ping(ctx).Err()
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
			t.Fatalf("redis-server on %s did not answer: %v\n%s", addr, err, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return addr
}
