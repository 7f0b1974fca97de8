package resp

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/riot-kv/riot-redis/fsm"
)

// TestGoRedisStringPipeline sends the string commands through one go-redis
// pipeline and checks every reply.
func TestGoRedisStringPipeline(t *testing.T) {
	s := mustServer(t, mustNode(t), Config{})
	rdb := mustClient(t, s, nil)
	ctx := testContext(t)

	var (
		setnx1, setnx2 *redis.BoolCmd
		mset           *redis.StatusCmd
		mget           *redis.SliceCmd
		msetnx         *redis.BoolCmd
		appendN        *redis.IntCmd
		strlen         *redis.IntCmd
		getrange       *redis.StringCmd
		setrange       *redis.IntCmd
		getset         *redis.StringCmd
		getdel         *redis.StringCmd
		getex          *redis.StringCmd
		ttl            *redis.DurationCmd
		incrf          *redis.FloatCmd
	)
	_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		setnx1 = p.SetNX(ctx, "p:nx", "a", 0)
		setnx2 = p.SetNX(ctx, "p:nx", "b", 0)
		mset = p.MSet(ctx, "p:1", "one", "p:2", "two")
		mget = p.MGet(ctx, "p:1", "p:missing", "p:2", "p:nx")
		msetnx = p.MSetNX(ctx, "p:2", "x", "p:3", "y")
		appendN = p.Append(ctx, "p:1", "!")
		strlen = p.StrLen(ctx, "p:1")
		getrange = p.GetRange(ctx, "p:1", 1, -2)
		setrange = p.SetRange(ctx, "p:1", 0, "ON")
		getset = p.GetSet(ctx, "p:1", "uno")
		getdel = p.GetDel(ctx, "p:2")
		getex = p.GetEx(ctx, "p:nx", 100*time.Second)
		ttl = p.TTL(ctx, "p:nx")
		incrf = p.IncrByFloat(ctx, "p:f", 10.5)
		p.IncrByFloat(ctx, "p:f", 0.1)
		return nil
	})
	if err != nil {
		t.Fatalf("pipeline: %v", err)
	}
	check := func(name string, got, want any) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	check("SETNX new", setnx1.Val(), true)
	check("SETNX existing", setnx2.Val(), false)
	check("MSET", mset.Val(), "OK")
	check("MGET", mget.Val(), []any{"one", nil, "two", "a"})
	check("MSETNX", msetnx.Val(), false)
	check("APPEND", appendN.Val(), 4)
	check("STRLEN", strlen.Val(), 4)
	check("GETRANGE", getrange.Val(), "ne")
	check("SETRANGE", setrange.Val(), 4)
	check("GETSET", getset.Val(), "ONe!")
	check("GETDEL", getdel.Val(), "two")
	check("GETEX", getex.Val(), "a")
	check("TTL after GETEX", ttl.Val(), 100*time.Second)
	check("INCRBYFLOAT", incrf.Val(), 10.5)
	if v, err := rdb.Get(ctx, "p:f").Result(); err != nil || v != "10.6" {
		t.Errorf("INCRBYFLOAT 10.5 then 0.1 = %q, %v; want 10.6", v, err)
	}
	if n, err := rdb.Exists(ctx, "p:2", "p:3").Result(); err != nil || n != 0 {
		t.Errorf("EXISTS after GETDEL and a failed MSETNX = %d, %v; want 0", n, err)
	}
}

// TestGoRedisIncrByFloat checks INCRBYFLOAT's long double arithmetic and
// formatting, and its errors, through go-redis.
func TestGoRedisIncrByFloat(t *testing.T) {
	s := mustServer(t, mustNode(t), Config{})
	rdb := mustClient(t, s, nil)
	ctx := testContext(t)
	steps := []struct {
		by   string
		want string
	}{
		{"10.50", "10.5"},
		{"0.1", "10.6"},
		{"-5", "5.6"},
		{"2.0e2", "205.60000000000000001"},
		{"-205.60000000000000001", "0"},
		{"3.0e3", "3000"},
		{"0x10", "3016"},
		{"1e-20", "3016"},
		{"-3016", "0"},
		{"0.1", "0.1"},
		{"0.2", "0.3"},
	}
	for _, st := range steps {
		got, err := rdb.Do(ctx, "INCRBYFLOAT", "f", st.by).Text()
		if err != nil || got != st.want {
			t.Fatalf("INCRBYFLOAT f %s = %q, %v; want %q", st.by, got, err, st.want)
		}
	}
	for _, tc := range []struct{ by, err string }{
		{"abc", "ERR value is not a valid float"},
		{"nan", "ERR value is not a valid float"},
		{"1e5000", "ERR value is not a valid float"},
		{"inf", "ERR increment would produce NaN or Infinity"},
	} {
		if err := rdb.Do(ctx, "INCRBYFLOAT", "f", tc.by).Err(); err == nil || err.Error() != tc.err {
			t.Errorf("INCRBYFLOAT f %s: err %v, want %q", tc.by, err, tc.err)
		}
	}
	if v, _ := rdb.Get(ctx, "f").Result(); v != "0.3" {
		t.Fatalf("failed INCRBYFLOATs changed the value to %q", v)
	}
	rdb.Set(ctx, "s", "not a number", 0)
	if err := rdb.IncrByFloat(ctx, "s", 1).Err(); err == nil || err.Error() != "ERR value is not a valid float" {
		t.Fatalf("INCRBYFLOAT on a non-number: %v", err)
	}
}

// TestGoRedisLock uses SET NX with an expiry as a lock: one holder at a time,
// released by its owner, and free again once its TTL runs out.
func TestGoRedisLock(t *testing.T) {
	s := mustServer(t, mustNode(t), Config{})
	rdb := mustClient(t, s, nil)
	ctx := testContext(t)

	ok, err := rdb.SetNX(ctx, "lock", "owner-1", 10*time.Second).Result()
	if err != nil || !ok {
		t.Fatalf("first SETNX with expiry = %v, %v; want true", ok, err)
	}
	if ok, _ := rdb.SetNX(ctx, "lock", "owner-2", 10*time.Second).Result(); ok {
		t.Fatal("a second owner took a held lock")
	}
	if d, err := rdb.PTTL(ctx, "lock").Result(); err != nil || d <= 9*time.Second || d > 10*time.Second {
		t.Fatalf("PTTL of the lock = %v, %v; want (9s, 10s]", d, err)
	}
	// Release by the owner: compare and delete.
	if v, _ := rdb.Get(ctx, "lock").Result(); v != "owner-1" {
		t.Fatalf("lock holder = %q", v)
	}
	if n, _ := rdb.Del(ctx, "lock").Result(); n != 1 {
		t.Fatalf("DEL released %d locks", n)
	}
	// The SET form of the same lock, with a short TTL that is left to run out.
	res, err := rdb.SetArgs(ctx, "lock", "owner-2", redis.SetArgs{Mode: "NX", TTL: 100 * time.Millisecond}).Result()
	if err != nil || res != "OK" {
		t.Fatalf("SET NX PX 100 = %q, %v", res, err)
	}
	if err := rdb.SetArgs(ctx, "lock", "owner-3", redis.SetArgs{Mode: "NX", TTL: time.Second}).Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("SET NX on a held lock: %v, want nil reply", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, err := rdb.SetNX(ctx, "lock", "owner-3", time.Second).Result()
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the lock was never released by its expiry")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if v, _ := rdb.Get(ctx, "lock").Result(); v != "owner-3" {
		t.Fatalf("lock holder after expiry = %q, want owner-3", v)
	}
}

// TestGoRedisScanEveryKeyOnce iterates over 10,000 keys with SCAN (several
// COUNTs, with and without MATCH) and checks that every key comes back
// exactly once.
func TestGoRedisScanEveryKeyOnce(t *testing.T) {
	n := mustNode(t)
	s := mustServer(t, n, Config{})
	rdb := mustClient(t, s, nil)
	ctx := testContext(t)
	const keys = 10_000
	for start := 0; start < keys; start += 500 {
		var pairs []any
		for i := start; i < start+500; i++ {
			pairs = append(pairs, "scan:"+strconv.Itoa(i), i)
		}
		if err := rdb.MSet(ctx, pairs...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if k, _ := n.f.KeyStats(); k != keys {
		t.Fatalf("KeyStats keys = %d, want %d", k, keys)
	}
	for _, tc := range []struct {
		match string
		count int64
		want  int
	}{
		{"", 0, keys},
		{"", 1000, keys},
		{"scan:1*", 100, 1111},
		{"scan:99??", 50, 100},
	} {
		t.Run(fmt.Sprintf("match=%q,count=%d", tc.match, tc.count), func(t *testing.T) {
			seen := make(map[string]int, keys)
			calls := 0
			var cursor uint64
			for {
				page, next, err := rdb.Scan(ctx, cursor, tc.match, tc.count).Result()
				if err != nil {
					t.Fatal(err)
				}
				calls++
				if tc.count > 0 && tc.match == "" && int64(len(page)) > tc.count+1 {
					t.Fatalf("a page of %d keys for COUNT %d", len(page), tc.count)
				}
				for _, k := range page {
					seen[k]++
				}
				if cursor = next; cursor == 0 {
					break
				}
			}
			if tc.count == 0 {
				// go-redis's own iterator sees the same keys.
				it := rdb.Scan(ctx, 0, tc.match, 0).Iterator()
				n := 0
				for it.Next(ctx) {
					if seen[it.Val()] != 1 {
						t.Fatalf("the iterator returned %q, which the SCAN loop did not", it.Val())
					}
					n++
				}
				if err := it.Err(); err != nil || n != len(seen) {
					t.Fatalf("the iterator returned %d keys (%v), the SCAN loop %d", n, err, len(seen))
				}
			}
			if len(seen) != tc.want {
				t.Fatalf("SCAN returned %d distinct keys, want %d", len(seen), tc.want)
			}
			for k, c := range seen {
				if c != 1 {
					t.Fatalf("SCAN returned %q %d times", k, c)
				}
			}
			if tc.count == 0 && calls < keys/defaultScanCount {
				t.Fatalf("the default COUNT finished in %d calls", calls)
			}
		})
	}
}

// TestScanUnderWrites checks SCAN's guarantee while keys come and go: a key
// present for the whole iteration is returned exactly once.
func TestScanUnderWrites(t *testing.T) {
	s := mustServer(t, mustNode(t), Config{})
	rdb := mustClient(t, s, nil)
	ctx := testContext(t)
	var pairs []any
	for i := range 2000 {
		pairs = append(pairs, "stable:"+strconv.Itoa(i), i)
	}
	if err := rdb.MSet(ctx, pairs...).Err(); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	var cursor uint64
	for round := 0; ; round++ {
		page, next, err := rdb.Scan(ctx, cursor, "", 50).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range page {
			seen[k]++
		}
		// Churn: add and remove other keys between pages.
		for j := range 20 {
			k := fmt.Sprintf("churn:%d:%d", round, j)
			rdb.Set(ctx, k, 1, 0)
			if j%2 == 0 {
				rdb.Del(ctx, k)
			}
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	for i := range 2000 {
		if k := "stable:" + strconv.Itoa(i); seen[k] != 1 {
			t.Fatalf("%s returned %d times", k, seen[k])
		}
	}
}

// TestGoRedisKeysAndRandomKey checks KEYS with patterns that match several
// keys (sorted here: the order is not specified) and RANDOMKEY.
func TestGoRedisKeysAndRandomKey(t *testing.T) {
	n := mustNode(t)
	s := mustServer(t, n, Config{})
	rdb := mustClient(t, s, nil)
	ctx := testContext(t)
	if err := rdb.RandomKey(ctx).Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("RANDOMKEY on an empty keyspace: %v, want nil", err)
	}
	all := []string{"user:1", "user:2", "user:10", "user:x", "order:1", "h?llo", "hello", "hallo", "hxllo", "u"}
	for _, k := range all {
		rdb.Set(ctx, k, "v", 0)
	}
	rdb.Set(ctx, "user:gone", "v", time.Millisecond)
	for _, tc := range []struct {
		pattern string
		want    []string
	}{
		{"*", all},
		{"user:*", []string{"user:1", "user:10", "user:2", "user:x"}},
		{"user:?", []string{"user:1", "user:2", "user:x"}},
		{"user:[0-9]*", []string{"user:1", "user:10", "user:2"}},
		{"user:[^0-9]", []string{"user:x"}},
		{"h[ae]llo", []string{"hallo", "hello"}},
		{`h\?llo`, []string{"h?llo"}},
		{"h?llo", []string{"h?llo", "hallo", "hello", "hxllo"}},
		{"*o*", []string{"h?llo", "hallo", "hello", "hxllo", "order:1"}},
		{"nothing*", nil},
	} {
		// The expired key must not show even before it is swept.
		deadline := time.Now().Add(5 * time.Second)
		for rdb.Exists(ctx, "user:gone").Val() != 0 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		got, err := rdb.Keys(ctx, tc.pattern).Result()
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		want := slices.Clone(tc.want)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("KEYS %q = %q, want %q", tc.pattern, got, want)
		}
	}
	counts := map[string]int{}
	for range 200 {
		k, err := rdb.RandomKey(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(all, k) {
			t.Fatalf("RANDOMKEY = %q, not a live key", k)
		}
		counts[k]++
	}
	if len(counts) < 3 {
		t.Fatalf("RANDOMKEY returned only %v in 200 calls", counts)
	}
}

// TestGoRedisRenameCopy checks RENAME, RENAMENX and COPY, expiry included.
func TestGoRedisRenameCopy(t *testing.T) {
	s := mustServer(t, mustNode(t), Config{})
	rdb := mustClient(t, s, nil)
	ctx := testContext(t)
	rdb.Set(ctx, "a", "1", time.Hour)
	rdb.Set(ctx, "b", "2", 0)
	if err := rdb.Rename(ctx, "missing", "x").Err(); err == nil || err.Error() != "ERR no such key" {
		t.Fatalf("RENAME of a missing key: %v", err)
	}
	if err := rdb.Rename(ctx, "a", "c").Err(); err != nil {
		t.Fatal(err)
	}
	if d := rdb.TTL(ctx, "c").Val(); d <= 59*time.Minute || d > time.Hour {
		t.Fatalf("TTL after RENAME = %v, want about 1h", d)
	}
	if ok, _ := rdb.RenameNX(ctx, "c", "b").Result(); ok {
		t.Fatal("RENAMENX overwrote an existing key")
	}
	if err := rdb.Rename(ctx, "c", "b").Err(); err != nil {
		t.Fatal(err)
	}
	if v, _ := rdb.Get(ctx, "b").Result(); v != "1" {
		t.Fatalf("b = %q after RENAME over it, want 1", v)
	}
	if n := rdb.Exists(ctx, "a", "c").Val(); n != 0 {
		t.Fatalf("%d old names still exist", n)
	}
	if n, err := rdb.Copy(ctx, "b", "d", 0, false).Result(); err != nil || n != 1 {
		t.Fatalf("COPY = %d, %v", n, err)
	}
	if n, _ := rdb.Copy(ctx, "b", "d", 0, false).Result(); n != 0 {
		t.Fatal("COPY without REPLACE overwrote the destination")
	}
	rdb.Set(ctx, "b", "changed", redis.KeepTTL)
	if n, _ := rdb.Copy(ctx, "b", "d", 0, true).Result(); n != 1 {
		t.Fatal("COPY REPLACE did not copy")
	}
	if v, _ := rdb.Get(ctx, "d").Result(); v != "changed" {
		t.Fatalf("d = %q, want changed", v)
	}
	if d := rdb.TTL(ctx, "d").Val(); d <= 59*time.Minute || d > time.Hour {
		t.Fatalf("COPY did not copy the expiry: TTL %v", d)
	}
	if err := rdb.Copy(ctx, "b", "e", 1, false).Err(); err == nil || err.Error() != "ERR DB index is out of range" {
		t.Fatalf("COPY to DB 1: %v", err)
	}
}

// TestGoRedisTTLFamily checks EXPIRE and friends, their options, and the TTL
// readers, through go-redis.
func TestGoRedisTTLFamily(t *testing.T) {
	n := mustNode(t)
	s := mustServer(t, n, Config{})
	rdb := mustClient(t, s, nil)
	ctx := testContext(t)
	if d := rdb.TTL(ctx, "k").Val(); d != -2 {
		t.Fatalf("TTL of a missing key = %v, want -2", d)
	}
	rdb.Set(ctx, "k", "v", 0)
	if d := rdb.PTTL(ctx, "k").Val(); d != -1 {
		t.Fatalf("PTTL without expiry = %v, want -1", d)
	}
	if ok := rdb.ExpireXX(ctx, "k", time.Minute).Val(); ok {
		t.Fatal("EXPIRE XX set an expiry on a key without one")
	}
	if ok := rdb.ExpireNX(ctx, "k", time.Minute).Val(); !ok {
		t.Fatal("EXPIRE NX failed")
	}
	if ok := rdb.ExpireGT(ctx, "k", 30*time.Second).Val(); ok {
		t.Fatal("EXPIRE GT shortened the TTL")
	}
	if ok := rdb.ExpireLT(ctx, "k", 30*time.Second).Val(); !ok {
		t.Fatal("EXPIRE LT did not shorten the TTL")
	}
	if d := rdb.PTTL(ctx, "k").Val(); d <= 29*time.Second || d > 30*time.Second {
		t.Fatalf("PTTL = %v, want (29s, 30s]", d)
	}
	if ok := rdb.PExpire(ctx, "k", 90*time.Second).Val(); !ok {
		t.Fatal("PEXPIRE failed")
	}
	if d := rdb.TTL(ctx, "k").Val(); d != 90*time.Second {
		t.Fatalf("TTL = %v, want 90s", d)
	}
	at := time.Now().Add(time.Hour).Truncate(time.Second)
	if ok := rdb.ExpireAt(ctx, "k", at).Val(); !ok {
		t.Fatal("EXPIREAT failed")
	}
	if got := rdb.ExpireTime(ctx, "k").Val(); got != time.Duration(at.Unix())*time.Second {
		t.Fatalf("EXPIRETIME = %v, want %v", got, at.Unix())
	}
	if got := rdb.PExpireTime(ctx, "k").Val(); got != time.Duration(at.UnixMilli())*time.Millisecond {
		t.Fatalf("PEXPIRETIME = %v, want %v", got, at.UnixMilli())
	}
	if _, e := n.f.KeyStats(); e != 1 {
		t.Fatalf("KeyStats expires = %d, want 1", e)
	}
	if ok := rdb.Persist(ctx, "k").Val(); !ok {
		t.Fatal("PERSIST failed")
	}
	if d := rdb.TTL(ctx, "k").Val(); d != -1 {
		t.Fatalf("TTL after PERSIST = %v", d)
	}
	if _, e := n.f.KeyStats(); e != 0 {
		t.Fatalf("KeyStats expires after PERSIST = %d, want 0", e)
	}
	// A short expiry: the key disappears for every read.
	rdb.Set(ctx, "short", "v", 50*time.Millisecond)
	deadline := time.Now().Add(10 * time.Second)
	for rdb.Exists(ctx, "short").Val() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("a key with PX 50 never expired")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := rdb.Get(ctx, "short").Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("GET of an expired key: %v", err)
	}
	if d := rdb.TTL(ctx, "short").Val(); d != -2 {
		t.Fatalf("TTL of an expired key = %v, want -2", d)
	}
	// A past time deletes at once.
	if ok := rdb.Expire(ctx, "k", -time.Second).Val(); !ok {
		t.Fatal("EXPIRE with a negative time did not answer 1")
	}
	if n := rdb.Exists(ctx, "k").Val(); n != 0 {
		t.Fatal("EXPIRE with a negative time kept the key")
	}
}

// TestFlushAllKeepsNodeMetadata checks that FLUSHALL deletes every key (and
// the key statistics with them) but not the replicated node metadata.
func TestFlushAllKeepsNodeMetadata(t *testing.T) {
	n := mustNode(t)
	s := mustServer(t, n, Config{})
	rdb := mustClient(t, s, nil)
	ctx := testContext(t)
	if _, err := n.Propose(ctx, fsm.NewSetNode(fsm.NodeMeta{ID: "n1", RaftAddr: "127.0.0.1:12000"})); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		rdb.Set(ctx, "k"+strconv.Itoa(i), i, time.Duration(i%2)*time.Hour)
	}
	if k, e := n.f.KeyStats(); k != 100 || e != 50 {
		t.Fatalf("KeyStats = %d, %d; want 100, 50", k, e)
	}
	before, err := n.f.Nodes()
	if err != nil || len(before) != 1 {
		t.Fatalf("nodes before FLUSHALL: %v, %v", before, err)
	}
	if err := rdb.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if k, e := n.f.KeyStats(); k != 0 || e != 0 {
		t.Fatalf("KeyStats after FLUSHALL = %d, %d", k, e)
	}
	if keys := rdb.Keys(ctx, "*").Val(); len(keys) != 0 {
		t.Fatalf("keys after FLUSHALL: %q", keys)
	}
	after, err := n.f.Nodes()
	if err != nil || !slices.Equal(before, after) {
		t.Fatalf("node metadata changed by FLUSHALL: %v -> %v (%v)", before, after, err)
	}
}

// TestGoRedisReadsSeeExpiry checks that reads judge expiry by the clock when
// they run: a key whose PX has passed, not yet swept, reads as gone to GET,
// EXISTS, MGET and a pipeline of them, on a connection that sent commands
// before it expired.
func TestGoRedisReadsSeeExpiry(t *testing.T) {
	s := mustServer(t, mustNode(t), Config{})
	rdb := mustClient(t, s, nil)
	ctx := testContext(t)
	if err := rdb.Set(ctx, "short", "v", 50*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Set(ctx, "long", "w", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if v := rdb.Get(ctx, "short").Val(); v != "v" {
		t.Fatalf("GET before the expiry = %q, want v", v)
	}
	time.Sleep(120 * time.Millisecond)
	if err := rdb.Get(ctx, "short").Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("GET after the expiry = %v, want nil", err)
	}
	if n := rdb.Exists(ctx, "short", "long").Val(); n != 1 {
		t.Fatalf("EXISTS after the expiry = %d, want 1", n)
	}
	if vs := rdb.MGet(ctx, "short", "long").Val(); len(vs) != 2 || vs[0] != nil || vs[1] != "w" {
		t.Fatalf("MGET after the expiry = %v", vs)
	}
	var get *redis.StringCmd
	var exists *redis.IntCmd
	if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Get(ctx, "long")
		get = p.Get(ctx, "short")
		exists = p.Exists(ctx, "short")
		return nil
	}); err != nil && !errors.Is(err, redis.Nil) {
		t.Fatal(err)
	}
	if !errors.Is(get.Err(), redis.Nil) || exists.Val() != 0 {
		t.Fatalf("pipelined after the expiry: GET %v, EXISTS %d", get.Err(), exists.Val())
	}
}
