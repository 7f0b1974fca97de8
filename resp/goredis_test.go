package resp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/riot-kv/riot-redis/cluster"
)

// mustClient returns a go-redis client for s that is closed at cleanup.
func mustClient(t testing.TB, s *Server, opt *redis.Options) *redis.Client {
	t.Helper()
	if opt == nil {
		opt = &redis.Options{}
	}
	opt.Addr = s.Addr()
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

func testContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestGoRedisHandshake connects with go-redis's defaults (HELLO 3, falling
// back to RESP2, then CLIENT SETINFO) and with RESP2 explicitly.
func TestGoRedisHandshake(t *testing.T) {
	s := mustServer(t, mustNode(t), Config{})
	for _, tc := range []struct {
		name  string
		proto int
	}{
		{"default", 0},
		{"resp3", 3},
		{"resp2", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testContext(t)
			rdb := mustClient(t, s, &redis.Options{Protocol: tc.proto, ClientName: "riot-" + tc.name})
			if got, err := rdb.Ping(ctx).Result(); err != nil || got != "PONG" {
				t.Fatalf("PING = %q, %v; want PONG", got, err)
			}
			if got, err := rdb.ClientGetName(ctx).Result(); err != nil || got != "riot-"+tc.name {
				t.Fatalf("CLIENT GETNAME = %q, %v; want riot-%s", got, err, tc.name)
			}
			if id, err := rdb.ClientID(ctx).Result(); err != nil || id <= 0 {
				t.Fatalf("CLIENT ID = %d, %v; want > 0", id, err)
			}
		})
	}
}

func TestGoRedisStrings(t *testing.T) {
	s := mustServer(t, mustNode(t), Config{})
	rdb := mustClient(t, s, nil)
	ctx := testContext(t)

	if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	if got, err := rdb.Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Fatalf("GET = %q, %v; want v", got, err)
	}
	if _, err := rdb.Get(ctx, "missing").Result(); !errors.Is(err, redis.Nil) {
		t.Fatalf("GET missing: err = %v, want redis.Nil", err)
	}
	if ok, err := rdb.SetNX(ctx, "k", "other", 0).Result(); err != nil || ok {
		t.Fatalf("SETNX on existing key = %v, %v; want false", ok, err)
	}
	if ok, err := rdb.SetXX(ctx, "k", "v2", time.Minute).Result(); err != nil || !ok {
		t.Fatalf("SET XX EX = %v, %v; want true", ok, err)
	}
	old, err := rdb.SetArgs(ctx, "k", "v3", redis.SetArgs{Get: true, KeepTTL: true}).Result()
	if err != nil || old != "v2" {
		t.Fatalf("SET GET KEEPTTL = %q, %v; want v2", old, err)
	}
	if n, err := rdb.Exists(ctx, "k", "k", "missing").Result(); err != nil || n != 2 {
		t.Fatalf("EXISTS = %d, %v; want 2", n, err)
	}
	if n, err := rdb.IncrBy(ctx, "n", 5).Result(); err != nil || n != 5 {
		t.Fatalf("INCRBY = %d, %v; want 5", n, err)
	}
	if n, err := rdb.Decr(ctx, "n").Result(); err != nil || n != 4 {
		t.Fatalf("DECR = %d, %v; want 4", n, err)
	}
	err = rdb.Incr(ctx, "k").Err()
	var rerr redis.Error
	if !errors.As(err, &rerr) || err.Error() != errTextNotInteger {
		t.Fatalf("INCR on text = %v; want redis error %q", err, errTextNotInteger)
	}
	if n, err := rdb.Del(ctx, "k", "n", "missing").Result(); err != nil || n != 2 {
		t.Fatalf("DEL = %d, %v; want 2", n, err)
	}
	if err := rdb.Do(ctx, "SET", "k", "v", "EX", "0").Err(); err == nil || err.Error() != errTextInvalidExpire {
		t.Fatalf("SET EX 0 = %v; want %q", err, errTextInvalidExpire)
	}
	if n, err := rdb.Exists(ctx, "k").Result(); err != nil || n != 0 {
		t.Fatalf("EXISTS after rejected SET = %d, %v; want 0", n, err)
	}
}

func TestGoRedisPipeline(t *testing.T) {
	s := mustServer(t, mustNode(t), Config{})
	rdb := mustClient(t, s, nil)
	ctx := testContext(t)
	cmds, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range 50 {
			p.Set(ctx, fmt.Sprintf("p%d", i), i, 0)
			p.Incr(ctx, "count")
		}
		p.Get(ctx, "count")
		return nil
	})
	if err != nil {
		t.Fatalf("pipeline: %v", err)
	}
	if got := cmds[len(cmds)-1].(*redis.StringCmd).Val(); got != "50" {
		t.Fatalf("count after pipeline = %q, want 50", got)
	}
}

// TestGoRedisPipelineGetEx: GETEX without options is a write command that
// only reads; among pipelined writes it must see the writes before it.
func TestGoRedisPipelineGetEx(t *testing.T) {
	s := mustServer(t, mustNode(t), Config{})
	rdb := mustClient(t, s, nil)
	ctx := testContext(t)
	var first, second, third *redis.Cmd // go-redis's GetEx with 0 sends PERSIST
	_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		first = p.Do(ctx, "GETEX", "gx")
		p.Set(ctx, "gx", "1", 0)
		p.Incr(ctx, "gx")
		second = p.Do(ctx, "GETEX", "gx")
		p.Del(ctx, "gx")
		third = p.Do(ctx, "GETEX", "gx")
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		t.Fatalf("pipeline: %v", err)
	}
	if err := first.Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("GETEX before SET = %v, %v; want nil", first.Val(), err)
	}
	if got, err := second.Result(); err != nil || got != "2" {
		t.Fatalf("GETEX after SET and INCR = %v, %v; want 2", got, err)
	}
	if err := third.Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("GETEX after DEL = %v, %v; want nil", third.Val(), err)
	}
}

// TestConcurrentClients runs writers on many connections at once.
func TestConcurrentClients(t *testing.T) {
	s := mustServer(t, mustNode(t), Config{})
	rdb := mustClient(t, s, &redis.Options{PoolSize: 8})
	ctx := testContext(t)
	const workers, each = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if err := rdb.Incr(ctx, "ctr").Err(); err != nil {
					errs <- err
					return
				}
				if err := rdb.Get(ctx, "ctr").Err(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("worker: %v", err)
	}
	if got, err := rdb.Get(ctx, "ctr").Int(); err != nil || got != workers*each {
		t.Fatalf("ctr = %d, %v; want %d", got, err, workers*each)
	}
}

// TestReadConsistency checks that reads use the node's default level, READONLY
// switches the connection to stale reads and READWRITE back.
func TestReadConsistency(t *testing.T) {
	n := mustNode(t)
	n.set(func(n *testNode) { n.consist = cluster.Lease })
	s := mustServer(t, n, Config{})
	rdb := mustClient(t, s, &redis.Options{PoolSize: 1})
	ctx := testContext(t)

	steps := []struct {
		cmd  []any
		want cluster.Consistency
	}{
		{[]any{"GET", "k"}, cluster.Lease},
		{[]any{"READONLY"}, 0},
		{[]any{"GET", "k"}, cluster.Stale},
		{[]any{"EXISTS", "k", "j"}, cluster.Stale},
		{[]any{"READWRITE"}, 0},
		{[]any{"EXISTS", "k"}, cluster.Lease},
	}
	for _, st := range steps {
		_, before := n.lastRead()
		err := rdb.Do(ctx, st.cmd...).Err()
		if err != nil && !errors.Is(err, redis.Nil) {
			t.Fatalf("%v: %v", st.cmd, err)
		}
		lvl, after := n.lastRead()
		isRead := st.cmd[0] == "GET" || st.cmd[0] == "EXISTS"
		if !isRead {
			if after != before {
				t.Fatalf("%v read from the node", st.cmd)
			}
			continue
		}
		if after != before+1 || lvl != st.want {
			t.Fatalf("%v: %d reads at %v; want 1 read at %v", st.cmd, after-before, lvl, st.want)
		}
	}

	// Another connection is not affected by READONLY on the first.
	other := mustClient(t, s, nil)
	if err := rdb.Do(ctx, "READONLY").Err(); err != nil {
		t.Fatal(err)
	}
	if err := other.Get(ctx, "k").Err(); !errors.Is(err, redis.Nil) {
		t.Fatal(err)
	}
	if lvl, _ := n.lastRead(); lvl != cluster.Lease {
		t.Fatalf("other connection read at %v, want %v", lvl, cluster.Lease)
	}
}

// TestNodeErrors checks the error table end to end: every node error reaches
// the client as its RESP text, and nothing is applied.
func TestNodeErrors(t *testing.T) {
	n := mustNode(t)
	s := mustServer(t, n, Config{})
	// No retries: CLUSTERDOWN and TRYAGAIN would otherwise be retried.
	rdb := mustClient(t, s, &redis.Options{MaxRetries: -1})
	ctx := testContext(t)

	tests := []struct {
		name     string
		propose  error
		read     error
		admin    error
		cmd      []any
		wantText string
	}{
		{"no leader", cluster.ErrNoLeader, nil, nil, []any{"SET", "k", "v"}, ErrTextClusterDown},
		{"not leader", cluster.ErrNotLeader, nil, nil, []any{"INCR", "k"}, ErrTextClusterDown},
		{"unknown outcome", fmt.Errorf("%w: leadership lost", cluster.ErrUnknownOutcome), nil, nil, []any{"DEL", "k"}, ErrTextUnknownOutcome},
		{"timeout", cluster.ErrTimeout, nil, nil, []any{"SET", "k", "v"}, ErrTextTimeout},
		{"write deadline", context.DeadlineExceeded, nil, nil, []any{"SET", "k", "v"}, ErrTextUnknownOutcome},
		{"closed", cluster.ErrClosed, nil, nil, []any{"SET", "k", "v"}, ErrTextShuttingDown},
		{"other write error", errors.New("disk on fire"), nil, nil, []any{"SET", "k", "v"}, "ERR disk on fire"},
		{"read no leader", nil, cluster.ErrNoLeader, nil, []any{"GET", "k"}, ErrTextClusterDown},
		{"read not ready", nil, cluster.ErrNotReady, nil, []any{"EXISTS", "k"}, ErrTextNotReady},
		{"read deadline", nil, context.DeadlineExceeded, nil, []any{"GET", "k"}, ErrTextTimeout},
		{"admin no leader", nil, nil, cluster.ErrNoLeader, []any{"CLUSTER", "JOIN", "n2", "127.0.0.1:1"}, ErrTextClusterDown},
		{"admin unknown node", nil, nil, cluster.ErrUnknownNode, []any{"CLUSTER", "TRANSFER", "n9"}, ErrTextUnknownNode},
		{"members failed", nil, nil, errors.New("no configuration"), []any{"CLUSTER", "PEERS"}, "ERR no configuration"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n.set(func(n *testNode) { n.proposeEr, n.readErr, n.adminErr = tc.propose, tc.read, tc.admin })
			defer n.set(func(n *testNode) { n.proposeEr, n.readErr, n.adminErr = nil, nil, nil })
			err := rdb.Do(ctx, tc.cmd...).Err()
			var rerr redis.Error
			if !errors.As(err, &rerr) || err.Error() != tc.wantText {
				t.Fatalf("%v = %v; want redis error %q", tc.cmd, err, tc.wantText)
			}
		})
	}
	n.set(func(n *testNode) {
		if n.proposals != 0 {
			t.Errorf("%d proposals applied, want 0", n.proposals)
		}
	})
	// The connection is still usable.
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING after errors: %v", err)
	}
}

func TestClusterLeaderDown(t *testing.T) {
	n := mustNode(t)
	n.set(func(n *testNode) { n.noLeader, n.role = true, cluster.RoleCandidate })
	s := mustServer(t, n, Config{})
	rdb := mustClient(t, s, &redis.Options{MaxRetries: -1})
	ctx := testContext(t)
	if err := rdb.Do(ctx, "CLUSTER", "LEADER").Err(); err == nil || err.Error() != ErrTextClusterDown {
		t.Fatalf("CLUSTER LEADER = %v; want %q", err, ErrTextClusterDown)
	}
	if got, err := rdb.Do(ctx, "CLUSTER", "ROLE").Text(); err != nil || got != "candidate" {
		t.Fatalf("CLUSTER ROLE = %q, %v; want candidate", got, err)
	}
}

// TestOversizedValue checks that values above MaxValueSize are refused and
// nothing is stored, whether sent as a bulk string or inline.
func TestOversizedValue(t *testing.T) {
	const max = 1024
	n := mustNode(t)
	s := mustServer(t, n, Config{MaxValueSize: max})
	rdb := mustClient(t, s, &redis.Options{MaxRetries: -1})
	ctx := testContext(t)

	if err := rdb.Set(ctx, "fits", strings.Repeat("x", max), 0).Err(); err != nil {
		t.Fatalf("SET of %d bytes: %v", max, err)
	}
	err := rdb.Set(ctx, "big", strings.Repeat("x", max+1), 0).Err()
	if err == nil || err.Error() != "ERR Protocol error: invalid bulk length" {
		t.Fatalf("SET of %d bytes = %v; want the protocol error", max+1, err)
	}
	// The server closed that connection; go-redis may have pooled it before
	// noticing, so ask on a fresh client.
	fresh := mustClient(t, s, &redis.Options{MaxRetries: -1})
	if n, err := fresh.Exists(ctx, "big").Result(); err != nil || n != 0 {
		t.Fatalf("EXISTS big = %d, %v; want 0", n, err)
	}

	// An inline command is limited by its line length, not by MaxValueSize:
	// the SET handler refuses the value and the connection stays open.
	c := mustRawConn(t, s.Addr())
	c.send(t, "SET inline "+strings.Repeat("y", max+1)+"\r\nPING\r\n")
	c.expect(t, "-"+errTextValueTooBig+"\r\n+PONG\r\n")
	if n, err := fresh.Exists(ctx, "inline").Result(); err != nil || n != 0 {
		t.Fatalf("EXISTS inline = %d, %v; want 0", n, err)
	}
}

func TestClientNameRoundTrip(t *testing.T) {
	s := mustServer(t, mustNode(t), Config{})
	rdb := mustClient(t, s, &redis.Options{PoolSize: 1})
	ctx := testContext(t)
	if err := rdb.Do(ctx, "CLIENT", "SETNAME", "worker-1").Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := rdb.ClientGetName(ctx).Result(); err != nil || got != "worker-1" {
		t.Fatalf("CLIENT GETNAME = %q, %v", got, err)
	}
	if err := rdb.Do(ctx, "CLIENT", "SETNAME", "").Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := rdb.ClientGetName(ctx).Result(); !errors.Is(err, redis.Nil) {
		t.Fatalf("CLIENT GETNAME after clearing = %v, want nil", err)
	}
}
