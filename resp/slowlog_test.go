package resp

import (
	"fmt"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestSlowlog records every command (a threshold of 1 ns) in a log of four
// entries and reads it back through go-redis: newest first, Redis's entry
// layout and truncation, the client's address and name; EXEC and AUTH stay
// out; RESET empties it.
func TestSlowlog(t *testing.T) {
	s := mustServer(t, mustNode(t), Config{SlowlogSlowerThan: 1, SlowlogMaxLen: 4})
	rdb := mustClient(t, s, &redis.Options{ClientName: "probe", Protocol: 2})
	ctx := testContext(t)

	if err := rdb.Do(ctx, "SLOWLOG", "RESET").Err(); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("v", 200)
	args := []any{"MSET"}
	for i := range 20 { // 41 arguments
		args = append(args, fmt.Sprintf("k%d", i), "v")
	}
	if err := rdb.Do(ctx, args...).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Set(ctx, "k", long, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Incr(ctx, "n")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Do(ctx, "AUTH", "default", "secret").Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, "p1", "1", 0)
		p.Set(ctx, "p2", "2", 0)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	list, err := rdb.ClientList(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}

	entries, err := rdb.SlowLogGet(ctx, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	// Kept: the four newest of SLOWLOG RESET, MSET, SET, MULTI, INCR (queued
	// and run by EXEC, which is left out), SET p1, SET p2, CLIENT LIST.
	var got []string
	for _, e := range entries {
		got = append(got, strings.ToLower(e.Args[0])+" "+strings.Join(e.Args[1:min(len(e.Args), 2)], " "))
		if !strings.Contains(list, "addr="+e.ClientAddr+" ") || e.ClientName != "probe" || e.Duration < 0 {
			t.Errorf("entry %+v: want a client of CLIENT LIST named probe\n%s", e, list)
		}
	}
	if want := []string{"client list", "set p2", "set p1", "multi "}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("SLOWLOG GET -1 lists %q, want %q", got, want)
	}
	if entries[0].ID != entries[1].ID+1 || entries[1].ID != entries[2].ID+1 {
		t.Errorf("ids %d, %d, %d are not consecutive", entries[0].ID, entries[1].ID, entries[2].ID)
	}
	for _, e := range entries {
		if strings.EqualFold(e.Args[0], "auth") || strings.EqualFold(e.Args[0], "exec") {
			t.Errorf("SLOWLOG holds %v", e.Args)
		}
	}

	// Truncation: 32 arguments at most, 128 bytes each.
	rdb.Do(ctx, "SLOWLOG", "RESET")
	rdb.Do(ctx, args...)
	rdb.Set(ctx, "k", long, 0)
	entries, err = rdb.SlowLogGet(ctx, 2).Result()
	if err != nil || len(entries) != 2 {
		t.Fatalf("SLOWLOG GET 2 = %v, %v", entries, err)
	}
	if set := entries[0].Args; len(set) != 3 || set[2] != strings.Repeat("v", 128)+"... (72 more bytes)" {
		t.Errorf("SET with a 200-byte value logged as %q", set)
	}
	if mset := entries[1].Args; len(mset) != 32 || mset[31] != "... (10 more arguments)" || mset[30] != "v" {
		t.Errorf("MSET with 41 arguments logged as %d arguments, last %q", len(mset), mset[len(mset)-1])
	}
	if n, err := rdb.Do(ctx, "SLOWLOG", "LEN").Int(); err != nil || n != 4 {
		t.Errorf("SLOWLOG LEN = %d, %v; want 4", n, err)
	}
}

// With the slow log off nothing is recorded, and CONFIG GET shows the
// settings as Redis names them.
func TestSlowlogOff(t *testing.T) {
	s := mustServer(t, mustNode(t), Config{SlowlogSlowerThan: -1})
	rdb := mustClient(t, s, nil)
	ctx := testContext(t)
	for range 10 {
		rdb.Set(ctx, "k", "v", 0)
	}
	if n, err := rdb.Do(ctx, "SLOWLOG", "LEN").Int(); err != nil || n != 0 {
		t.Errorf("SLOWLOG LEN with the slow log off = %d, %v", n, err)
	}
	cfg, err := rdb.ConfigGet(ctx, "slowlog-*").Result()
	if err != nil || cfg["slowlog-log-slower-than"] != "-1" || cfg["slowlog-max-len"] != "128" {
		t.Errorf("CONFIG GET slowlog-* = %v, %v", cfg, err)
	}
}
