package resp

import (
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestCommandAndErrorStats reads INFO commandstats, errorstats and
// total_error_replies after single, pipelined, failed and refused commands,
// in Redis's line format, and checks that CONFIG RESETSTAT zeroes them.
func TestCommandAndErrorStats(t *testing.T) {
	s := mustServer(t, mustNode(t), Config{})
	rdb := mustClient(t, s, &redis.Options{Protocol: 2}) // no HELLO 3 refused with NOPROTO
	ctx := testContext(t)

	rdb.Set(ctx, "n", "1", 0)
	rdb.Set(ctx, "s", "x", 0)
	rdb.Incr(ctx, "n")
	rdb.Incr(ctx, "s")                  // WRONGTYPE? no: not an integer, an ERR
	rdb.Do(ctx, "GET")                  // wrong arity: rejected
	rdb.Do(ctx, "NOSUCH")               // unknown: an ERR, no command to count
	rdb.Restore(ctx, "n", 0, "garbage") // BUSYKEY
	if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, "p", "1", 0)
		p.Incr(ctx, "s") // fails inside the pipelined run
		p.Set(ctx, "q", "2", 0)
		return nil
	}); err == nil {
		t.Fatal("the pipeline's INCR of a string did not fail")
	}

	stats := func(section ...string) map[string]string {
		t.Helper()
		out, err := rdb.Info(ctx, section...).Result()
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for _, line := range strings.Split(out, "\r\n") {
			if k, v, ok := strings.Cut(line, ":"); ok {
				m[k] = v
			}
		}
		return m
	}
	cmd := stats("commandstats")
	for name, want := range map[string]string{
		"cmdstat_set":     "calls=4,",
		"cmdstat_incr":    "calls=3,",
		"cmdstat_restore": "calls=1,",
	} {
		if !strings.HasPrefix(cmd[name], want) {
			t.Errorf("%s = %q, want it to start with %q", name, cmd[name], want)
		}
	}
	if !strings.HasSuffix(cmd["cmdstat_incr"], ",rejected_calls=0,failed_calls=2") ||
		!strings.HasSuffix(cmd["cmdstat_get"], ",rejected_calls=1,failed_calls=0") ||
		!strings.HasPrefix(cmd["cmdstat_get"], "calls=0,usec=0,usec_per_call=0.00,") {
		t.Errorf("incr %q, get %q", cmd["cmdstat_incr"], cmd["cmdstat_get"])
	}
	errs := stats("errorstats")
	if errs["errorstat_ERR"] != "count=4" || errs["errorstat_BUSYKEY"] != "count=1" {
		t.Errorf("errorstats = %v, want ERR 4 (INCR twice, GET's arity, NOSUCH) and BUSYKEY 1", errs)
	}
	if st := stats("stats"); st["total_error_replies"] != "5" {
		t.Errorf("total_error_replies = %q, want 5", st["total_error_replies"])
	}
	if def := stats(); def["cmdstat_set"] != "" || def["errorstat_ERR"] == "" {
		t.Errorf("INFO without arguments: commandstats listed (%q) or errorstats missing", def["cmdstat_set"])
	}
	if all := stats("all"); all["cmdstat_set"] == "" {
		t.Errorf("INFO all has no commandstats")
	}

	if err := rdb.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if cmd := stats("commandstats"); cmd["cmdstat_set"] != "" || cmd["cmdstat_incr"] != "" {
		t.Errorf("commandstats after CONFIG RESETSTAT: %v", cmd)
	}
	if errs := stats("errorstats"); len(errs) != 0 {
		t.Errorf("errorstats after CONFIG RESETSTAT: %v", errs)
	}
}

// TestInfoCPU: INFO cpu reports the process's CPU time in seconds, as
// Redis's fields do.
func TestInfoCPU(t *testing.T) {
	rdb := mustClient(t, mustServer(t, mustNode(t), Config{}), nil)
	cpu := mustInfo(t, rdb, "cpu").fields["cpu"]
	total := 0.0
	for _, f := range []string{"used_cpu_sys", "used_cpu_user", "used_cpu_sys_children", "used_cpu_user_children"} {
		v, err := strconv.ParseFloat(cpu[f], 64)
		if err != nil || v < 0 || !strings.Contains(cpu[f], ".") {
			t.Errorf("INFO cpu %s = %q", f, cpu[f])
		}
		total += v
	}
	if total <= 0 {
		t.Errorf("INFO cpu reports no CPU time: %v", cpu)
	}
}
