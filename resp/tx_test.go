package resp

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestGoRedisTxPipelined runs transactions through go-redis's TxPipelined:
// every reply of the transaction reaches its command, runtime errors
// included.
func TestGoRedisTxPipelined(t *testing.T) {
	n := mustNode(t)
	s := mustServer(t, n, Config{})
	rdb := mustClient(t, s, nil)
	ctx := testContext(t)

	if err := rdb.Set(ctx, "s", "text", 0).Err(); err != nil {
		t.Fatal(err)
	}
	var (
		set   *redis.StatusCmd
		incr  *redis.IntCmd
		bad   *redis.IntCmd
		get   *redis.StringCmd
		mget  *redis.SliceCmd
		setnx *redis.BoolCmd
		ttl   *redis.DurationCmd
	)
	cmds, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		set = p.Set(ctx, "a", "1", time.Minute)
		incr = p.IncrBy(ctx, "a", 41)
		bad = p.Incr(ctx, "s")
		get = p.Get(ctx, "a")
		mget = p.MGet(ctx, "a", "s", "missing")
		setnx = p.SetNX(ctx, "a", "x", 0)
		ttl = p.TTL(ctx, "a")
		return nil
	})
	// The pipeline's error is the first failed command's.
	if err == nil || err.Error() != "ERR value is not an integer or out of range" {
		t.Fatalf("TxPipelined error = %v, want the INCR's error", err)
	}
	if len(cmds) != 7 {
		t.Fatalf("%d results, want 7", len(cmds))
	}
	if set.Val() != "OK" || incr.Val() != 42 || get.Val() != "42" || setnx.Val() {
		t.Fatalf("results: %v %v %v %v", set, incr, get, setnx)
	}
	if bad.Err() == nil {
		t.Fatalf("INCR of a string: %v, want an error", bad)
	}
	if got := fmt.Sprint(mget.Val()); got != "[42 text <nil>]" {
		t.Fatalf("MGET = %s", got)
	}
	if d := ttl.Val(); d <= 59*time.Second || d > time.Minute {
		t.Fatalf("TTL = %v, want about a minute", d)
	}

	// A transaction with only reads still goes through the log, once.
	before := proposals(n)
	vals, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Get(ctx, "a")
		p.Exists(ctx, "a", "s")
		return nil
	})
	if err != nil || len(vals) != 2 || vals[0].(*redis.StringCmd).Val() != "42" || vals[1].(*redis.IntCmd).Val() != 2 {
		t.Fatalf("read-only transaction: %v, %v", vals, err)
	}
	if got := proposals(n) - before; got != 1 {
		t.Fatalf("read-only transaction made %d proposals, want 1", got)
	}

	// A command refused while queueing aborts the whole transaction.
	_, err = rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, "b", "1", 0)
		p.Do(ctx, "NOSUCHCOMMAND")
		return nil
	})
	if err == nil || !strings.HasPrefix(err.Error(), "EXECABORT") {
		t.Fatalf("TxPipelined with an unknown command: %v", err)
	}
	if n, err := rdb.Exists(ctx, "b").Result(); err != nil || n != 0 {
		t.Fatalf("EXISTS b after an aborted transaction = %d, %v", n, err)
	}
}

func proposals(n *testNode) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.proposals
}

// TestGoRedisWatch runs go-redis's optimistic locking recipe: concurrent
// clients incrementing one key with WATCH/GET/MULTI/SET/EXEC, retrying on
// redis.TxFailedErr, must not lose an increment.
func TestGoRedisWatch(t *testing.T) {
	s := mustServer(t, mustNode(t), Config{})
	ctx := testContext(t)
	const clients, incrs = 4, 25
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		failures int
		errs     = make(chan error, clients)
	)
	for range clients {
		rdb := mustClient(t, s, &redis.Options{PoolSize: 1})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range incrs {
				for {
					err := rdb.Watch(ctx, func(tx *redis.Tx) error {
						n, err := tx.Get(ctx, "counter").Int()
						if err != nil && !errors.Is(err, redis.Nil) {
							return err
						}
						_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
							p.Set(ctx, "counter", strconv.Itoa(n+1), 0)
							return nil
						})
						return err
					}, "counter")
					if errors.Is(err, redis.TxFailedErr) {
						mu.Lock()
						failures++
						mu.Unlock()
						continue
					}
					if err != nil {
						errs <- err
						return
					}
					break
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	rdb := mustClient(t, s, nil)
	if got, err := rdb.Get(ctx, "counter").Int(); err != nil || got != clients*incrs {
		t.Fatalf("counter = %d, %v; want %d", got, err, clients*incrs)
	}
	t.Logf("%d transactions retried after a conflict", failures)
}

// TestWatchConflictsFromOtherClients checks EXEC's nil reply when another
// connection changes, deletes or creates a watched key, and when the key
// expires, between WATCH and EXEC.
func TestWatchConflictsFromOtherClients(t *testing.T) {
	s := mustServer(t, mustNode(t), Config{})
	ctx := testContext(t)
	other := mustClient(t, s, nil)
	rdb := mustClient(t, s, &redis.Options{PoolSize: 1})

	tests := []struct {
		name   string
		before func() error // run before WATCH
		change func() error // run by the other client after WATCH; nil: none
		fail   bool
	}{
		{"untouched", func() error { return other.Set(ctx, "w", "1", 0).Err() }, nil, false},
		{"written", func() error { return other.Set(ctx, "w", "1", 0).Err() },
			func() error { return other.Set(ctx, "w", "2", 0).Err() }, true},
		{"deleted", func() error { return other.Set(ctx, "w", "1", 0).Err() },
			func() error { return other.Del(ctx, "w").Err() }, true},
		{"created", func() error { return other.Del(ctx, "w").Err() },
			func() error { return other.Set(ctx, "w", "1", 0).Err() }, true},
		{"created and deleted", func() error { return other.Del(ctx, "w").Err() },
			func() error {
				if err := other.Set(ctx, "w", "1", 0).Err(); err != nil {
					return err
				}
				return other.Del(ctx, "w").Err()
			}, true},
		{"expired", func() error { return other.Set(ctx, "w", "1", 150*time.Millisecond).Err() },
			func() error {
				// Wait, by polling, until the key has expired.
				deadline := time.Now().Add(10 * time.Second)
				for time.Now().Before(deadline) {
					n, err := other.Exists(ctx, "w").Result()
					if err != nil || n == 0 {
						return err
					}
					time.Sleep(10 * time.Millisecond)
				}
				return errors.New("key did not expire")
			}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.before(); err != nil {
				t.Fatal(err)
			}
			err := rdb.Watch(ctx, func(tx *redis.Tx) error {
				if tc.change != nil {
					if err := tc.change(); err != nil {
						return fmt.Errorf("change: %w", err)
					}
				}
				_, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
					p.Set(ctx, "marker", tc.name, 0)
					return nil
				})
				return err
			}, "w")
			switch {
			case tc.fail && !errors.Is(err, redis.TxFailedErr):
				t.Fatalf("Watch = %v, want redis.TxFailedErr", err)
			case !tc.fail && err != nil:
				t.Fatalf("Watch = %v", err)
			}
			got, err := other.Get(ctx, "marker").Result()
			if tc.fail && got == tc.name || !tc.fail && got != tc.name {
				t.Fatalf("marker = %q, %v after EXEC (transaction failed: %v)", got, err, tc.fail)
			}
		})
	}
}

// TestExecProposals checks what reaches the node: nothing while commands are
// queued, one proposal for EXEC, none for an EXEC without commands or
// watches, and none for an aborted one.
func TestExecProposals(t *testing.T) {
	n := mustNode(t)
	s, c := mustFakeConn(t, n)
	steps := []struct {
		args      []string
		want      string
		proposals int // after the step
	}{
		{[]string{"MULTI"}, "+OK\r\n", 0},
		{[]string{"SET", "k", "v"}, "+QUEUED\r\n", 0},
		{[]string{"GET", "k"}, "+QUEUED\r\n", 0},
		{[]string{"EXEC"}, "*2\r\n+OK\r\n$1\r\nv\r\n", 1},
		{[]string{"MULTI"}, "+OK\r\n", 1},
		{[]string{"PING"}, "+QUEUED\r\n", 1},
		{[]string{"EXEC"}, "*1\r\n+PONG\r\n", 1},
		{[]string{"MULTI"}, "+OK\r\n", 1},
		{[]string{"SET", "k"}, "-ERR wrong number of arguments for 'set' command\r\n", 1},
		{[]string{"EXEC"}, "-" + errTextExecAbort + "\r\n", 1},
		{[]string{"WATCH", "k"}, "+OK\r\n", 1},
		{[]string{"MULTI"}, "+OK\r\n", 1},
		{[]string{"EXEC"}, "*0\r\n", 2}, // the watch is checked in the log
	}
	for i, st := range steps {
		if got := c.do(s, st.args...); got != st.want {
			t.Fatalf("step %d %v: %q, want %q", i, st.args, got, st.want)
		}
		if got := proposals(n); got != st.proposals {
			t.Fatalf("step %d %v: %d proposals, want %d", i, st.args, got, st.proposals)
		}
	}
}

// A node error on EXEC is EXEC's reply, and the transaction is over.
func TestExecNodeError(t *testing.T) {
	n := mustNode(t)
	s, c := mustFakeConn(t, n)
	c.do(s, "MULTI")
	c.do(s, "SET", "k", "v")
	n.set(func(n *testNode) { n.proposeEr = context.DeadlineExceeded })
	if got := c.do(s, "EXEC"); got != "-"+ErrTextUnknownOutcome+"\r\n" {
		t.Fatalf("EXEC = %q", got)
	}
	n.set(func(n *testNode) { n.proposeEr = nil })
	if got := c.do(s, "EXEC"); got != "-"+errTextExecNoMulti+"\r\n" {
		t.Fatalf("second EXEC = %q", got)
	}
}
