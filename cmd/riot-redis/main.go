// Command riot-redis runs one Riot node: a Redis-compatible (RESP) key/value
// server whose writes are replicated with Raft. main only parses flags and the
// config file, wires the server, waits for a signal and shuts down.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/riot-kv/riot-redis/cluster"
	"github.com/riot-kv/riot-redis/server"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "riot-redis:", err)
		}
		os.Exit(2)
	}
}

func run(args []string, stderr io.Writer) error {
	cfg, err := parseConfig(args, stderr)
	if err != nil {
		return err
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx, shutdown := context.WithCancel(ctx)
	defer shutdown()
	cfg.Shutdown = shutdown // SHUTDOWN from a client, as SIGTERM
	srv, err := server.New(cfg)
	if err != nil {
		return err
	}
	<-ctx.Done()
	cfg.Logger.Info("shutting down")
	return srv.Close()
}

// parseConfig reads flags, with defaults from server.DefaultConfig and values
// from --config FILE (command-line flags win over the file).
func parseConfig(args []string, stderr io.Writer) (server.Config, error) {
	cfg := server.DefaultConfig()
	fs := flag.NewFlagSet("riot-redis", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var join string
	var configFile string
	fs.StringVar(&configFile, "config", "", "config file: one `name value` per line, names as the flags (# comments)")
	fs.StringVar(&cfg.ID, "id", "", "stable node ID (default: the Raft address)")
	fs.StringVar(&cfg.Dir, "dir", cfg.Dir, "data directory")
	fs.StringVar(&cfg.RESPAddr, "resp-addr", cfg.RESPAddr, "RESP (Redis protocol) listen address")
	fs.StringVar(&cfg.RaftAddr, "raft-addr", cfg.RaftAddr, "Raft transport address (bound and advertised; must be routable)")
	fs.StringVar(&cfg.RPCAddr, "rpc-addr", cfg.RPCAddr, "gRPC address for relaying work between nodes")
	fs.StringVar(&cfg.HTTPAddr, "http-addr", cfg.HTTPAddr, "HTTP admin address")
	fs.BoolVar(&cfg.EnablePprof, "pprof", false, "serve /debug/pprof on the HTTP address")
	fs.BoolVar(&cfg.RESPEventLoop, "resp-event-loop", cfg.RESPEventLoop, "serve RESP connections from one epoll loop instead of a goroutine each (Linux only; false: a goroutine per connection)")
	fs.StringVar(&join, "join", "", "comma-separated RESP addresses of existing members to join (ignored when the node has state)")
	fs.StringVar(&cfg.Engine, "engine", cfg.Engine, "storage engine: leveldb, memory or bolt")
	fs.IntVar(&cfg.EngineCacheMB, "engine-cache-mb", cfg.EngineCacheMB, "engine read cache in MiB (0: off)")
	fs.IntVar(&cfg.EngineWriteBehindMB, "engine-write-behind-mb", cfg.EngineWriteBehindMB, "engine write-behind buffer in MiB (0: off)")
	fs.StringVar(&cfg.ReadConsistency, "read-consistency", cfg.ReadConsistency, "default read consistency: linearizable, lease or stale")
	fs.Uint64Var(&cfg.SnapshotThreshold, "snapshot-threshold", cluster.DefaultSnapshotThreshold, "Raft log entries since the last snapshot that make the node take one (checked every --snapshot-interval to twice that; 0: the default)")
	fs.DurationVar(&cfg.SnapshotInterval, "snapshot-interval", cluster.DefaultSnapshotInterval, "how often the node checks --snapshot-threshold: at random between this and twice this (1s to 24h; 0: the default)")
	fs.Uint64Var(&cfg.TrailingLogs, "trailing-logs", cluster.DefaultTrailingLogs, "Raft log entries kept behind a snapshot, for followers to catch up from (0: the default)")
	fs.Int64Var(&cfg.RaftLogMaxMB, "raft-log-max-mb", cfg.RaftLogMaxMB, "Raft log size in MiB past which the node takes a snapshot and keeps fewer entries behind it (0: no byte bound)")
	fs.Int64Var(&cfg.ProtoMaxBulkLen, "proto-max-bulk-len", cfg.ProtoMaxBulkLen, "largest bulk string a client may send, and largest string SETRANGE, SETBIT and BITFIELD may build, in bytes (1048576 to 536870912)")
	fs.Int64Var(&cfg.SlowlogLogSlowerThan, "slowlog-log-slower-than", cfg.SlowlogLogSlowerThan, "microseconds from a command's arrival to its reply from which SLOWLOG records it (negative: never; 0: every command)")
	fs.Int64Var(&cfg.SlowlogMaxLen, "slowlog-max-len", cfg.SlowlogMaxLen, "entries SLOWLOG keeps")
	fs.Int64Var(&cfg.MinFreeDiskMB, "min-free-disk-mb", cfg.MinFreeDiskMB, "free space in MiB on the data directory's file system below which the leader refuses writes other than deletes (0: no floor)")

	// The config file is applied first so that flags on the command line win.
	if path := findConfigFlag(args); path != "" {
		if err := applyConfigFile(fs, path); err != nil {
			return cfg, err
		}
		if v := fs.Lookup("join").Value.String(); v != "" {
			join = v
		}
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q (flags use the --name value form)", fs.Arg(0))
	}
	cfg.Join = nil
	for _, j := range strings.Split(join, ",") {
		if j = strings.TrimSpace(j); j != "" {
			cfg.Join = append(cfg.Join, j)
		}
	}
	return cfg, cfg.Validate()
}

// findConfigFlag returns the value of --config/-config in args, if any.
func findConfigFlag(args []string) string {
	for i, a := range args {
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "config" {
			continue
		}
		if hasVal {
			return val
		}
		if i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

func applyConfigFile(fs *flag.FlagSet, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		name, val := text, ""
		if i := strings.IndexAny(text, " \t="); i >= 0 {
			name = text[:i]
			val = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(text[i:]), "="))
		}
		if name == "config" || fs.Lookup(name) == nil {
			return fmt.Errorf("--config: %s:%d: unknown setting %q", path, line, name)
		}
		if err := fs.Set(name, val); err != nil {
			return fmt.Errorf("--config: %s:%d: %s: %w", path, line, name, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	return nil
}
