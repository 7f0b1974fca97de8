package resp

import (
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
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

// mustRedisServer starts a redis-server without persistence (see
// resptest.StartRedisServer) and returns its address.
func mustRedisServer(t testing.TB) string { return resptest.StartRedisServer(t) }

// TestCommandInfoMatchesRedis compares COMMAND INFO and the documentation
// fields of COMMAND DOCS for every command Riot serves with redis-server's.
// Riot's own commands and the few it describes differently are listed.
func TestCommandInfoMatchesRedis(t *testing.T) {
	ctx := testContext(t)
	ref := redis.NewClient(&redis.Options{Addr: mustRedisServer(t), Protocol: 2})
	defer ref.Close()
	rdb := mustClient(t, mustServer(t, mustNode(t), Config{}), &redis.Options{Protocol: 2})
	differs := map[string]string{
		"cluster":  "Riot's own",
		"client":   "fewer subcommands",
		"command":  "fewer subcommands",
		"config":   "fewer subcommands",
		"memory":   "fewer subcommands",
		"latency":  "fewer subcommands",
		"acl":      "fewer subcommands",
		"bitop":    "one key spec where Redis has two",
		"copy":     "one key spec where Redis has two",
		"rename":   "one key spec where Redis has two",
		"renamenx": "one key spec where Redis has two",
	}
	names, err := rdb.CommandList(ctx, nil).Result()
	if err != nil {
		t.Fatal(err)
	}
	compared, top := 0, 0
	for _, name := range names {
		if !strings.Contains(name, "|") {
			top++
		}
		if strings.Contains(name, "|") || differs[name] != "" {
			continue
		}
		want, err := ref.Do(ctx, "COMMAND", "INFO", name).Slice()
		if err != nil || len(want) != 1 || want[0] == nil {
			t.Errorf("redis-server COMMAND INFO %s = %v, %v", name, want, err)
			continue
		}
		got, err := rdb.Do(ctx, "COMMAND", "INFO", name).Slice()
		sortSubcommands(got)
		sortSubcommands(want)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("COMMAND INFO %s:\n got  %v (%v)\n want %v", name, got, err, want)
		}
		wantDocs, err1 := ref.Do(ctx, "COMMAND", "DOCS", name).Slice()
		gotDocs, err2 := rdb.Do(ctx, "COMMAND", "DOCS", name).Slice()
		if err1 != nil || err2 != nil || len(wantDocs) != 2 || len(gotDocs) != 2 {
			t.Errorf("COMMAND DOCS %s: %v, %v; %v, %v", name, gotDocs, err2, wantDocs, err1)
			continue
		}
		w, g := docFields(wantDocs[1]), docFields(gotDocs[1])
		for _, f := range []string{"summary", "since", "group", "complexity"} {
			if w[f] != g[f] {
				t.Errorf("COMMAND DOCS %s %s = %q, want %q", name, f, g[f], w[f])
			}
		}
		compared++
	}
	if compared != top-len(differs) || compared < 60 {
		t.Errorf("compared %d of %d commands, want all but the %d listed", compared, top, len(differs))
	}
}

// sortSubcommands orders the subcommands of a COMMAND INFO reply by name:
// Redis lists them in its hash table's order, which changes from run to run.
func sortSubcommands(info []any) {
	for _, c := range info {
		if c, ok := c.([]any); ok && len(c) == 10 {
			if subs, ok := c[9].([]any); ok {
				slices.SortFunc(subs, func(a, b any) int {
					return strings.Compare(fmt.Sprint(a.([]any)[0]), fmt.Sprint(b.([]any)[0]))
				})
			}
		}
	}
}

// docFields returns the string fields of one COMMAND DOCS map (RESP2: a flat
// list of names and values).
func docFields(v any) map[string]any {
	out := map[string]any{}
	l, _ := v.([]any)
	for i := 0; i+1 < len(l); i += 2 {
		if k, ok := l[i].(string); ok {
			out[k] = l[i+1]
		}
	}
	return out
}

// TestDumpRestoreWithRedis moves string values both ways between a Riot
// node and redis-server with DUMP and RESTORE: values Redis compresses with
// LZF, integers, binary and empty strings, with and without a TTL. A
// payload of another type restores nowhere in Riot, with an error that says
// why.
func TestDumpRestoreWithRedis(t *testing.T) {
	ctx := testContext(t)
	ref := redis.NewClient(&redis.Options{Addr: mustRedisServer(t), Protocol: 2})
	defer ref.Close()
	rdb := mustClient(t, mustServer(t, mustNode(t), Config{}), nil)

	vals := []string{"", "0", "-1", "127", "-32768", "2147483647", "2147483648", "12345678901234567890", "007",
		"hello", strings.Repeat("ab", 5000), strings.Repeat("x", 21), "\x00\xff\x80binary\r\n"}
	for i := range 20 {
		vals = append(vals, strings.Repeat(fmt.Sprintf("key:%d:", i), i*7))
	}
	for i, v := range vals {
		k := fmt.Sprintf("k%d", i)
		if err := ref.Set(ctx, k, v, 0).Err(); err != nil {
			t.Fatal(err)
		}
		payload, err := ref.Dump(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		if err := rdb.Restore(ctx, k, 90*time.Second, payload).Err(); err != nil {
			t.Fatalf("RESTORE in riot of redis-server's DUMP of %q: %v", v, err)
		}
		if got, err := rdb.Get(ctx, k).Result(); err != nil || got != v {
			t.Fatalf("GET after RESTORE = %q, %v; want %q", got, err, v)
		}
		if ttl, err := rdb.TTL(ctx, k).Result(); err != nil || ttl <= 80*time.Second || ttl > 90*time.Second {
			t.Errorf("TTL after RESTORE with 90 s = %v, %v", ttl, err)
		}
		back, err := rdb.Dump(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		if err := ref.RestoreReplace(ctx, k, 0, back).Err(); err != nil {
			t.Fatalf("RESTORE in redis-server of riot's DUMP of %q: %v", v, err)
		}
		if got, err := ref.Get(ctx, k).Result(); err != nil || got != v {
			t.Fatalf("redis-server GET after RESTORE = %q, %v; want %q", got, err, v)
		}
	}

	if err := ref.RPush(ctx, "list", "a", "b").Err(); err != nil {
		t.Fatal(err)
	}
	payload, err := ref.Dump(ctx, "list").Result()
	if err != nil {
		t.Fatal(err)
	}
	if err := rdb.Restore(ctx, "list", 0, payload).Err(); err == nil || err.Error() != errTextRestoreType {
		t.Errorf("RESTORE of a list payload: %v, want %q", err, errTextRestoreType)
	}
	if n, err := rdb.Exists(ctx, "list").Result(); err != nil || n != 0 {
		t.Errorf("EXISTS list after a refused RESTORE = %d, %v", n, err)
	}
}
