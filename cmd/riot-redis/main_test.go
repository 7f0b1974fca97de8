package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/riot-kv/riot-redis/cluster"
	"github.com/riot-kv/riot-redis/internal/testcluster"
	"github.com/riot-kv/riot-redis/server"
)

func TestParseConfigDefaultsAndErrors(t *testing.T) {
	cfg, err := parseConfig(nil, &bytes.Buffer{})
	if err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if cfg.RESPAddr != "127.0.0.1:6379" || cfg.Dir != "./riot-data" || cfg.Engine != "leveldb" ||
		cfg.ReadConsistency != "linearizable" || cfg.RaftAddr != "127.0.0.1:12000" ||
		cfg.RPCAddr != "127.0.0.1:32123" || cfg.HTTPAddr != "127.0.0.1:8080" || len(cfg.Join) != 0 ||
		cfg.SnapshotThreshold != cluster.DefaultSnapshotThreshold || cfg.TrailingLogs != cluster.DefaultTrailingLogs {
		t.Fatalf("unexpected defaults: %+v", cfg)
	}
	if cfg.EngineCacheMB < 64 || cfg.EngineCacheMB > 4096 {
		t.Fatalf("--engine-cache-mb default %d, want an eighth of memory within 64..4096", cfg.EngineCacheMB)
	}
	if cfg.RaftLogMaxMB != cluster.DefaultLogMaxBytes>>20 {
		t.Fatalf("--raft-log-max-mb default %d, want %d", cfg.RaftLogMaxMB, cluster.DefaultLogMaxBytes>>20)
	}
	if cfg.SnapshotInterval != cluster.DefaultSnapshotInterval {
		t.Fatalf("--snapshot-interval default %s, want %s", cfg.SnapshotInterval, cluster.DefaultSnapshotInterval)
	}
	cfg, err = parseConfig([]string{"--snapshot-threshold", "500", "--trailing-logs=100", "--raft-log-max-mb", "256", "--snapshot-interval", "5s"}, &bytes.Buffer{})
	if err != nil || cfg.SnapshotThreshold != 500 || cfg.TrailingLogs != 100 || cfg.RaftLogMaxMB != 256 || cfg.SnapshotInterval != 5*time.Second {
		t.Fatalf("log retention flags: %+v, %v", cfg, err)
	}
	if cfg, err = parseConfig([]string{"--raft-log-max-mb=0"}, &bytes.Buffer{}); err != nil || cfg.RaftLogMaxMB != 0 {
		t.Fatalf("--raft-log-max-mb=0 (no byte bound): %+v, %v", cfg, err)
	}
	if cfg, err = parseConfig(nil, &bytes.Buffer{}); err != nil || cfg.MinFreeDiskMB != server.DefaultMinFreeDiskMB {
		t.Fatalf("--min-free-disk-mb default: %d, %v; want %d", cfg.MinFreeDiskMB, err, server.DefaultMinFreeDiskMB)
	}
	if cfg, err = parseConfig([]string{"--min-free-disk-mb", "0"}, &bytes.Buffer{}); err != nil || cfg.MinFreeDiskMB != 0 {
		t.Fatalf("--min-free-disk-mb 0 (no floor): %+v, %v", cfg, err)
	}
	if cfg, err = parseConfig(nil, &bytes.Buffer{}); err != nil || cfg.ProtoMaxBulkLen != 512<<20 {
		t.Fatalf("--proto-max-bulk-len default: %d, %v; want 512 MiB", cfg.ProtoMaxBulkLen, err)
	}
	if cfg, err = parseConfig(nil, &bytes.Buffer{}); err != nil || cfg.SlowlogLogSlowerThan != 10000 || cfg.SlowlogMaxLen != 128 {
		t.Fatalf("slow log defaults: %d us, %d entries, %v; want Redis's 10000 and 128", cfg.SlowlogLogSlowerThan, cfg.SlowlogMaxLen, err)
	}
	if cfg, err = parseConfig([]string{"--proto-max-bulk-len", "1048576"}, &bytes.Buffer{}); err != nil || cfg.ProtoMaxBulkLen != 1<<20 {
		t.Fatalf("--proto-max-bulk-len 1048576: %+v, %v", cfg, err)
	}

	bad := []struct {
		args []string
		flag string
	}{
		{[]string{"--engine", "rocks"}, "--engine"},
		{[]string{"--read-consistency", "eventual"}, "--read-consistency"},
		{[]string{"--engine-cache-mb", "-1"}, "--engine-cache-mb"},
		{[]string{"--engine-cache-mb", "lots"}, "engine-cache-mb"},
		{[]string{"--engine-write-behind-mb", "-1"}, "--engine-write-behind-mb"},
		{[]string{"--engine-write-behind-mb", "99999"}, "--engine-write-behind-mb"},
		{[]string{"--min-free-disk-mb", "-1"}, "--min-free-disk-mb"},
		{[]string{"--min-free-disk-mb", "2000000"}, "--min-free-disk-mb"},
		{[]string{"--min-free-disk-mb", "x"}, "min-free-disk-mb"},
		{[]string{"--proto-max-bulk-len", "1000"}, "--proto-max-bulk-len"},
		{[]string{"--slowlog-max-len", "-1"}, "--slowlog-max-len"},
		{[]string{"--slowlog-log-slower-than", "2000000000000"}, "--slowlog-log-slower-than"},
		{[]string{"--proto-max-bulk-len", "536870913"}, "--proto-max-bulk-len"},
		{[]string{"--proto-max-bulk-len", "64mb"}, "proto-max-bulk-len"},
		{[]string{"--snapshot-threshold", "-1"}, "snapshot-threshold"},
		{[]string{"--trailing-logs", "many"}, "trailing-logs"},
		{[]string{"--raft-log-max-mb", "8"}, "--raft-log-max-mb"},
		{[]string{"--raft-log-max-mb", "-1"}, "--raft-log-max-mb"},
		{[]string{"--raft-log-max-mb", "huge"}, "raft-log-max-mb"},
		{[]string{"--snapshot-interval", "10ms"}, "--snapshot-interval"},
		{[]string{"--snapshot-interval", "48h"}, "--snapshot-interval"},
		{[]string{"--snapshot-interval", "-1s"}, "--snapshot-interval"},
		{[]string{"--snapshot-interval", "often"}, "snapshot-interval"},
		{[]string{"--resp-addr", "nohostport"}, "--resp-addr"},
		{[]string{"--raft-addr", "0.0.0.0:12000"}, "--raft-addr"},
		{[]string{"--rpc-addr", "127.0.0.1:notaport"}, "--rpc-addr"},
		{[]string{"--join", "a,b:1"}, "--join"},
		{[]string{"--dir", ""}, "--dir"},
		{[]string{"--nope", "x"}, "nope"},
		{[]string{"stray"}, "stray"},
	}
	for _, tc := range bad {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, err := parseConfig(tc.args, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tc.flag) {
				t.Fatalf("parseConfig(%q) = %v; want an error naming %s", tc.args, err, tc.flag)
			}
		})
	}

	file := filepath.Join(t.TempDir(), "riot.conf")
	os.WriteFile(file, []byte("# a node\nengine bolt\nread-consistency = stale\njoin 127.0.0.1:7000,127.0.0.1:7001\nresp-addr=127.0.0.1:7379\n"), 0o644)
	cfg, err = parseConfig([]string{"--config", file, "--engine", "memory"}, &bytes.Buffer{})
	if err != nil {
		t.Fatalf("config file: %v", err)
	}
	if cfg.Engine != "memory" || cfg.ReadConsistency != "stale" || len(cfg.Join) != 2 || cfg.RESPAddr != "127.0.0.1:7379" {
		t.Fatalf("config file + flags: %+v", cfg)
	}
	os.WriteFile(file, []byte("colour blue\n"), 0o644)
	if _, err := parseConfig([]string{"--config", file}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "colour") {
		t.Fatalf("unknown config setting: %v", err)
	}
}

func TestParseConfigPprof(t *testing.T) {
	for _, tc := range []struct {
		args []string
		file string
		want bool
	}{
		{nil, "", false},
		{[]string{"--pprof"}, "", true},
		{nil, "pprof true\n", true},
		{[]string{"--pprof=false"}, "pprof true\n", false},
	} {
		args := tc.args
		if tc.file != "" {
			file := filepath.Join(t.TempDir(), "riot.conf")
			if err := os.WriteFile(file, []byte(tc.file), 0o644); err != nil {
				t.Fatal(err)
			}
			args = append([]string{"--config", file}, args...)
		}
		cfg, err := parseConfig(args, &bytes.Buffer{})
		if err != nil || cfg.EnablePprof != tc.want {
			t.Errorf("parseConfig(%q, file %q): EnablePprof %v, %v; want %v", tc.args, tc.file, cfg.EnablePprof, err, tc.want)
		}
	}
}

// proc is one riot-redis process.
type proc struct {
	name string
	args []string
	resp string
	cmd  *exec.Cmd
	out  *bytes.Buffer
	mu   sync.Mutex
}

func (p *proc) start(t *testing.T, bin string) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.out = &bytes.Buffer{}
	p.cmd = exec.Command(bin, p.args...)
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", p.name, err)
	}
}

// buildBinary builds riot-redis into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "riot-redis")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func TestProcessCluster(t *testing.T) {
	bin := buildBinary(t)
	base := t.TempDir()
	var procs []*proc
	var join []string
	for i := 1; i <= 3; i++ {
		p := &proc{name: fmt.Sprintf("node%d", i), resp: testcluster.FreeAddr(t)}
		p.args = []string{"--id", p.name, "--dir", filepath.Join(base, p.name),
			"--resp-addr", p.resp, "--raft-addr", testcluster.FreeAddr(t),
			"--rpc-addr", testcluster.FreeAddr(t), "--http-addr", testcluster.FreeAddr(t)}
		if len(join) > 0 {
			p.args = append(p.args, "--join", strings.Join(join, ","))
		}
		join = append(join, p.resp)
		procs = append(procs, p)
	}
	t.Cleanup(func() {
		for _, p := range procs {
			if p.cmd != nil && p.cmd.ProcessState == nil {
				p.cmd.Process.Kill()
				p.cmd.Wait()
			}
			if t.Failed() {
				t.Logf("--- %s output ---\n%s", p.name, p.out.String())
			}
		}
	})
	for _, p := range procs {
		p.start(t, bin)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	clients := make([]*redis.Client, len(procs))
	for i, p := range procs {
		clients[i] = redis.NewClient(&redis.Options{Addr: p.resp, Protocol: 2, MaxRetries: -1})
		defer clients[i].Close()
	}
	// Wait until every process lists three peers.
	testcluster.Eventually(t, 60*time.Second, func() error {
		for i, c := range clients {
			peers, err := c.Do(ctx, "CLUSTER", "PEERS").Slice()
			if err != nil {
				return fmt.Errorf("%s: %w", procs[i].name, err)
			}
			if len(peers) != 3 {
				return fmt.Errorf("%s lists %d peers", procs[i].name, len(peers))
			}
		}
		return nil
	})
	for i, c := range clients {
		key := fmt.Sprintf("from-%d", i)
		if err := c.Set(ctx, key, procs[i].name, 0).Err(); err != nil {
			t.Fatalf("SET via %s: %v", procs[i].name, err)
		}
		if err := c.IncrBy(ctx, "sum", int64(i+1)).Err(); err != nil {
			t.Fatalf("INCRBY via %s: %v", procs[i].name, err)
		}
	}
	for i, c := range clients {
		for j := range clients {
			got, err := c.Get(ctx, fmt.Sprintf("from-%d", j)).Result()
			if err != nil || got != procs[j].name {
				t.Fatalf("GET from-%d via %s = %q, %v", j, procs[i].name, got, err)
			}
		}
		if sum, err := c.Get(ctx, "sum").Int(); err != nil || sum != 6 {
			t.Fatalf("GET sum via %s = %d, %v; want 6", procs[i].name, sum, err)
		}
	}
	// SIGTERM on the leader hands leadership over before it exits, and the two
	// remaining nodes keep serving writes.
	leader := -1
	for i, c := range clients {
		if role, _ := c.Do(ctx, "CLUSTER", "ROLE").Text(); role == "leader" {
			leader = i
		}
	}
	if leader < 0 {
		t.Fatal("no process reports itself leader")
	}
	lp := procs[leader]
	lp.cmd.Process.Signal(syscall.SIGTERM)
	if err := lp.cmd.Wait(); err != nil {
		t.Fatalf("leader %s exited with %v", lp.name, err)
	}
	if !strings.Contains(lp.out.String(), "leadership transferred on shutdown") {
		t.Fatalf("leader %s did not transfer leadership on SIGTERM; log:\n%s", lp.name, lp.out.String())
	}
	other := clients[(leader+1)%3]
	if err := other.Set(ctx, "after-leader-exit", "1", 0).Err(); err != nil {
		t.Fatalf("SET after the leader's SIGTERM: %v", err)
	}
	// Stop the rest, one with SHUTDOWN sent by a client (redis-cli shutdown),
	// the other with SIGTERM: each shuts down cleanly and exits 0.
	byCommand := (leader + 1) % 3
	if err := clients[byCommand].Do(ctx, "SHUTDOWN").Err(); err == nil || strings.HasPrefix(err.Error(), "ERR") {
		t.Errorf("SHUTDOWN on %s: %v, want the connection closed without a reply", procs[byCommand].name, err)
	}
	for i, p := range procs {
		if i != leader && i != byCommand {
			p.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	for i, p := range procs {
		if i == leader {
			continue
		}
		done := make(chan error, 1)
		go func() { done <- p.cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s exited with %v", p.name, err)
			}
			if i == byCommand && !strings.Contains(p.out.String(), "SHUTDOWN received") {
				t.Errorf("%s exited without logging the SHUTDOWN; log:\n%s", p.name, p.out.String())
			}
		case <-time.After(30 * time.Second):
			t.Errorf("%s did not exit within 30s of SIGTERM or SHUTDOWN", p.name)
		}
	}
}

// A node killed with SIGKILL while applied writes sit in its write-behind
// buffer comes back with every acknowledged write, each applied once: the
// windows already in the engine are skipped on replay and the lost buffer is
// applied again from the Raft log (an INCR applied twice or not at all would
// show in the counter).
func TestProcessKillKeepsBufferedWrites(t *testing.T) {
	bin := buildBinary(t)
	p := &proc{name: "solo", resp: testcluster.FreeAddr(t)}
	httpAddr := testcluster.FreeAddr(t)
	p.args = []string{"--id", p.name, "--dir", filepath.Join(t.TempDir(), p.name),
		"--resp-addr", p.resp, "--raft-addr", testcluster.FreeAddr(t),
		"--rpc-addr", testcluster.FreeAddr(t), "--http-addr", httpAddr,
		"--engine-write-behind-mb", "1"}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
		if t.Failed() {
			t.Logf("--- %s output ---\n%s", p.name, p.out.String())
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := redis.NewClient(&redis.Options{Addr: p.resp, Protocol: 2})
	defer c.Close()
	ready := func() {
		testcluster.Eventually(t, 60*time.Second, func() error {
			return c.Set(ctx, "ready", "1", 0).Err()
		})
	}
	p.start(t, bin)
	ready()
	// About 3 MB of writes: a few 1 MiB windows reach the engine, the last
	// one is still buffered when the process dies.
	const n = 3000
	val := strings.Repeat("v", 1000)
	for i := 0; i < n; i += 100 {
		pipe := c.Pipeline()
		for j := i; j < i+100; j++ {
			pipe.Set(ctx, fmt.Sprintf("key:%d", j), fmt.Sprintf("%d:%s", j, val), 0)
			pipe.Incr(ctx, "counter")
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatalf("writes %d..%d: %v", i, i+99, err)
		}
	}
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	p.cmd.Wait()
	p.start(t, bin)
	ready()
	if got, err := c.Get(ctx, "counter").Int(); err != nil || got != n {
		t.Fatalf("counter after SIGKILL and restart = %d, %v; want %d", got, err, n)
	}
	pipe := c.Pipeline()
	gets := make([]*redis.StringCmd, n)
	for j := range gets {
		gets[j] = pipe.Get(ctx, fmt.Sprintf("key:%d", j))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatalf("reading the keys back: %v", err)
	}
	for j, g := range gets {
		if want := fmt.Sprintf("%d:%s", j, val); g.Val() != want {
			t.Fatalf("key:%d after SIGKILL and restart = %.20q..., want %.20q...", j, g.Val(), want)
		}
	}

	// A Raft snapshot queues the buffer for the engine instead of writing
	// it; SIGKILL right after may find it written or not (here it usually
	// is). Either way the node comes back with every write, restoring the
	// snapshot first when the engine is behind it.
	const more = 500
	pipe = c.Pipeline()
	for j := 0; j < more; j++ {
		pipe.Incr(ctx, "counter")
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatalf("more writes: %v", err)
	}
	resp, err := http.Get("http://" + httpAddr + "/admin/snapshot")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /admin/snapshot: %s", resp.Status)
	}
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	p.cmd.Wait()
	p.start(t, bin)
	ready()
	if got, err := c.Get(ctx, "counter").Int(); err != nil || got != n+more {
		t.Fatalf("counter after a snapshot, SIGKILL and restart = %d, %v; want %d", got, err, n+more)
	}
	if got, err := c.Get(ctx, "key:0").Result(); err != nil || got != "0:"+val {
		t.Fatalf("key:0 after a snapshot, SIGKILL and restart = %.20q..., %v", got, err)
	}
}

func TestParseConfigEventLoop(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{nil, runtime.GOOS == "linux"},
		{[]string{"--resp-event-loop=false"}, false},
	} {
		cfg, err := parseConfig(tc.args, &bytes.Buffer{})
		if err != nil || cfg.RESPEventLoop != tc.want {
			t.Errorf("parseConfig(%q): RESPEventLoop %v, %v; want %v", tc.args, cfg.RESPEventLoop, err, tc.want)
		}
	}
}

// TestREADMEListsEveryFlag keeps the README's flags table in step with the
// flags: every flag -h lists has a row.
func TestREADMEListsEveryFlag(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var usage bytes.Buffer
	if _, err := parseConfig([]string{"-h"}, &usage); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	n := 0
	for _, line := range strings.Split(usage.String(), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], "-") {
			continue
		}
		name := strings.TrimLeft(f[0], "-")
		n++
		if name == "config" {
			continue // described in the text above the table
		}
		if !bytes.Contains(readme, []byte("| `--"+name+"` |")) {
			t.Errorf("README's flags table has no row for --%s", name)
		}
	}
	if n < 20 {
		t.Fatalf("found %d flags in -h's output:\n%s", n, usage.String())
	}
}
