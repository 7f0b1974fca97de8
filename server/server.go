// Package server is Riot's composition root: it opens storage, the state
// machine, the Raft node, the gRPC relay, the RESP listener and the HTTP admin
// interface in that order, and closes them in reverse. cmd/riot-redis and the
// in-process test clusters both build nodes through it.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/riot-kv/riot-redis/cluster"
	"github.com/riot-kv/riot-redis/fsm"
	"github.com/riot-kv/riot-redis/httpapi"
	"github.com/riot-kv/riot-redis/resp"
	"github.com/riot-kv/riot-redis/rpc"
	"github.com/riot-kv/riot-redis/storage"
)

// Defaults, as the README documents them ("Flags").
const (
	DefaultDir             = "./riot-data"
	DefaultRESPAddr        = "127.0.0.1:6379"
	DefaultHTTPAddr        = "127.0.0.1:8080"
	DefaultRPCAddr         = "127.0.0.1:32123"
	DefaultRaftAddr        = "127.0.0.1:12000"
	DefaultEngine          = "leveldb"
	DefaultReadConsistency = "linearizable"

	// joinAttemptTimeout bounds one CLUSTER JOIN request to one member.
	joinAttemptTimeout = 10 * time.Second
	// maxJoinBackoff caps the wait between join rounds.
	maxJoinBackoff = 5 * time.Second
)

// Config is everything a node needs. Every field can come from a flag or the
// config file.
type Config struct {
	ID       string   `json:"id"`
	Dir      string   `json:"dir"`
	RESPAddr string   `json:"resp-addr"`
	RaftAddr string   `json:"raft-addr"`
	RPCAddr  string   `json:"rpc-addr"`
	HTTPAddr string   `json:"http-addr"`
	Join     []string `json:"join"`
	Engine   string   `json:"engine"`
	// EngineCacheMB is the engine's read cache in MiB (0 turns it off).
	EngineCacheMB int `json:"engine_cache_mb"`
	// EngineWriteBehindMB is the engine's write-behind buffer in MiB (0
	// turns it off): applied writes are buffered and reach the engine in the
	// background; a restart re-applies the Raft log entries after the
	// engine's applied index.
	EngineWriteBehindMB int    `json:"engine_write_behind_mb"`
	ReadConsistency     string `json:"read-consistency"`
	// EnablePprof serves /debug/pprof on the HTTP address.
	EnablePprof bool `json:"pprof"`
	// RESPEventLoop serves RESP connections from one epoll loop instead of
	// a goroutine per connection (Linux only, and the default there; see
	// resp.Config.EventLoop).
	RESPEventLoop bool `json:"resp-event-loop"`

	// Raft timing; zero means the cluster package's defaults. Tests shorten them.
	HeartbeatTimeout time.Duration `json:"-"`
	ElectionTimeout  time.Duration `json:"-"`
	// Raft log retention, in entries (zero: the cluster package's defaults).
	// An entry is a batch of up to 4 MiB of commands, so with large values
	// SnapshotThreshold+TrailingLogs entries are gigabytes; RaftLogMaxMB
	// bounds the log in bytes too.
	SnapshotThreshold uint64 `json:"snapshot-threshold"`
	TrailingLogs      uint64 `json:"trailing-logs"`
	// SnapshotInterval is how often the node checks SnapshotThreshold (Raft
	// waits between one and two intervals; zero: the cluster package's
	// default).
	SnapshotInterval time.Duration `json:"snapshot-interval"`
	// RaftLogMaxMB bounds the Raft log in MiB as well (cluster.Config.LogMaxBytes):
	// past it the node snapshots and keeps fewer entries behind the snapshot.
	// 0: no byte bound.
	RaftLogMaxMB int64 `json:"raft-log-max-mb"`
	// MinFreeDiskMB is the free space, in MiB, of the data directory's file
	// system below which the leader refuses writes that add data, so that
	// the replicas, filling up together, never run out of space while they
	// apply committed entries (cluster.Config.MinFreeDisk). 0: no floor.
	MinFreeDiskMB int64 `json:"min-free-disk-mb"`
	// ProtoMaxBulkLen is the largest bulk string a client may send, and the
	// largest string SETRANGE, SETBIT and BITFIELD may build from a small
	// command (resp.Config.MaxValueSize), in bytes: Redis's
	// proto-max-bulk-len, 512 MiB by default (0 means the default).
	ProtoMaxBulkLen int64 `json:"proto-max-bulk-len"`
	// SlowlogLogSlowerThan is the time in microseconds from a command's
	// dispatch to its reply from which SLOWLOG records it, as Redis's
	// slowlog-log-slower-than: negative records nothing, 0 every command.
	SlowlogLogSlowerThan int64 `json:"slowlog-log-slower-than"`
	// SlowlogMaxLen is how many entries SLOWLOG keeps (slowlog-max-len).
	SlowlogMaxLen int64 `json:"slowlog-max-len"`

	Logger *slog.Logger `json:"-"`
	// Shutdown, if set, is called when a client sends SHUTDOWN; it should
	// stop the node as SIGTERM does (Close). Nil refuses SHUTDOWN.
	Shutdown func() `json:"-"`
}

// minRaftLogMaxMB is the smallest byte bound on the Raft log: a few of its
// 16 MiB segments.
const minRaftLogMaxMB = 64

// The range of --snapshot-interval: below a second the node would spend its
// time checking, above a day a log could grow for a day past the threshold.
const (
	minSnapshotInterval = time.Second
	maxSnapshotInterval = 24 * time.Hour
)

// raftLogMaxBytes is the cluster's LogMaxBytes for --raft-log-max-mb (0:
// none, which the cluster takes as a negative value).
func raftLogMaxBytes(mb int64) int64 {
	if mb == 0 {
		return -1
	}
	return mb << 20
}

// DefaultConfig returns a Config with every default filled in.
func DefaultConfig() Config {
	return Config{
		Dir:                  DefaultDir,
		RESPAddr:             DefaultRESPAddr,
		RaftAddr:             DefaultRaftAddr,
		RPCAddr:              DefaultRPCAddr,
		HTTPAddr:             DefaultHTTPAddr,
		Engine:               DefaultEngine,
		EngineCacheMB:        defaultCacheMB(),
		EngineWriteBehindMB:  storage.DefaultWriteBehindBytes >> 20,
		ReadConsistency:      DefaultReadConsistency,
		RESPEventLoop:        runtime.GOOS == "linux",
		RaftLogMaxMB:         cluster.DefaultLogMaxBytes >> 20,
		MinFreeDiskMB:        DefaultMinFreeDiskMB,
		ProtoMaxBulkLen:      resp.DefaultMaxValueSize,
		SlowlogLogSlowerThan: resp.DefaultSlowlogSlowerThan.Microseconds(),
		SlowlogMaxLen:        resp.DefaultSlowlogMaxLen,
	}
}

// slowlogConfig turns the slow log settings into resp's (whose zero values
// mean its defaults).
func slowlogConfig(slowerThanUS, maxLen int64) (time.Duration, int) {
	slower := time.Duration(slowerThanUS) * time.Microsecond
	switch {
	case slowerThanUS < 0:
		slower = -1
	case slowerThanUS == 0:
		slower = 1 // every command
	}
	if maxLen == 0 {
		return slower, -1 // keep none
	}
	return slower, int(maxLen)
}

// The range of --proto-max-bulk-len: Redis's own lower bound, and the
// largest string the state machine builds.
const (
	minProtoMaxBulkLen = 1 << 20
	maxProtoMaxBulkLen = fsm.MaxStringLen
)

// DefaultMinFreeDiskMB is --min-free-disk-mb's default.
const DefaultMinFreeDiskMB = 256

// Validate checks the configuration and names the offending flag.
func (c *Config) Validate() error {
	if c.Dir == "" {
		return errors.New("--dir must not be empty")
	}
	for _, a := range []struct{ flag, v string }{
		{"--resp-addr", c.RESPAddr}, {"--raft-addr", c.RaftAddr}, {"--rpc-addr", c.RPCAddr},
	} {
		if err := checkHostPort(a.v); err != nil {
			return fmt.Errorf("%s: %w", a.flag, err)
		}
	}
	if c.HTTPAddr != "" {
		if err := checkHostPort(c.HTTPAddr); err != nil {
			return fmt.Errorf("--http-addr: %w", err)
		}
	}
	if ip := net.ParseIP(hostOf(c.RaftAddr)); ip != nil && ip.IsUnspecified() {
		return fmt.Errorf("--raft-addr: %q is not routable; give an address other nodes can reach", c.RaftAddr)
	}
	for _, j := range c.Join {
		if err := checkHostPort(j); err != nil {
			return fmt.Errorf("--join: %q: %w", j, err)
		}
	}
	known := false
	for _, n := range storage.Names() {
		known = known || n == c.Engine
	}
	if !known {
		return fmt.Errorf("--engine: unknown engine %q (want one of %s)", c.Engine, strings.Join(storage.Names(), ", "))
	}
	if c.EngineCacheMB < 0 || c.EngineCacheMB > 1<<20 {
		return fmt.Errorf("--engine-cache-mb: %d is out of range (0 to 1048576)", c.EngineCacheMB)
	}
	if c.EngineWriteBehindMB < 0 || c.EngineWriteBehindMB > 1<<14 {
		return fmt.Errorf("--engine-write-behind-mb: %d is out of range (0 to 16384)", c.EngineWriteBehindMB)
	}
	if c.RaftLogMaxMB != 0 && (c.RaftLogMaxMB < minRaftLogMaxMB || c.RaftLogMaxMB > 1<<24) {
		return fmt.Errorf("--raft-log-max-mb: %d is out of range (0 for no byte bound, or %d to 16777216)", c.RaftLogMaxMB, minRaftLogMaxMB)
	}
	if c.MinFreeDiskMB < 0 || c.MinFreeDiskMB > 1<<20 {
		return fmt.Errorf("--min-free-disk-mb: %d is out of range (0 for no floor, or up to 1048576)", c.MinFreeDiskMB)
	}
	if c.ProtoMaxBulkLen != 0 && (c.ProtoMaxBulkLen < minProtoMaxBulkLen || c.ProtoMaxBulkLen > maxProtoMaxBulkLen) {
		return fmt.Errorf("--proto-max-bulk-len: %d is out of range (%d to %d bytes)", c.ProtoMaxBulkLen, minProtoMaxBulkLen, maxProtoMaxBulkLen)
	}
	if c.SlowlogLogSlowerThan > 1<<40 {
		return fmt.Errorf("--slowlog-log-slower-than: %d is out of range (negative for no slow log, 0 for every command, up to %d microseconds)", c.SlowlogLogSlowerThan, int64(1<<40))
	}
	if c.SlowlogMaxLen < 0 || c.SlowlogMaxLen > 1<<20 {
		return fmt.Errorf("--slowlog-max-len: %d is out of range (0 to 1048576)", c.SlowlogMaxLen)
	}
	if c.SnapshotInterval != 0 && (c.SnapshotInterval < minSnapshotInterval || c.SnapshotInterval > maxSnapshotInterval) {
		return fmt.Errorf("--snapshot-interval: %s is out of range (0 for the default, or %s to %s)", c.SnapshotInterval, minSnapshotInterval, maxSnapshotInterval)
	}
	if _, err := cluster.ParseConsistency(c.ReadConsistency); err != nil {
		return fmt.Errorf("--read-consistency: %w", err)
	}
	if c.RESPEventLoop && runtime.GOOS != "linux" {
		return fmt.Errorf("--resp-event-loop: needs Linux (this is %s)", runtime.GOOS)
	}
	if strings.ContainsAny(c.ID, " \t\r\n") {
		return fmt.Errorf("--id: %q must not contain whitespace", c.ID)
	}
	return nil
}

func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %w", s, err)
	}
	_ = host
	if port == "" {
		return fmt.Errorf("%q has no port", s)
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return fmt.Errorf("%q: bad port: %w", s, err)
	}
	return nil
}

func hostOf(s string) string {
	h, _, _ := net.SplitHostPort(s)
	return h
}

// Server is one running riot-redis node.
type Server struct {
	cfg    Config
	log    *slog.Logger
	engine storage.Engine
	fsm    *fsm.FSM
	relay  *rpc.Client
	node   *cluster.Node
	rpcSrv *rpc.Server
	rpcLis net.Listener
	resp   *resp.Server
	http   *httpapi.Server

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// New validates cfg, opens every component and starts serving. On error,
// whatever was opened is closed again.
func New(cfg Config) (_ *Server, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.ID == "" {
		cfg.ID = cfg.RaftAddr
	}
	lvl, _ := cluster.ParseConsistency(cfg.ReadConsistency)
	s := &Server{cfg: cfg, log: cfg.Logger}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("--dir: %w", err)
	}
	// Writes to the engine skip the fsync: the Raft log (fsynced) and the
	// restore-from-snapshot check at start cover a power failure; see
	// storage.Options.NoSync.
	if s.engine, err = storage.OpenWith(cfg.Engine, filepath.Join(cfg.Dir, "engine"), storage.Options{
		NoSync:           true,
		CacheBytes:       int64(cfg.EngineCacheMB) << 20,
		WriteBehindBytes: int64(cfg.EngineWriteBehindMB) << 20,
		Logger:           cfg.Logger.With("component", "engine"),
	}); err != nil {
		return nil, fmt.Errorf("open %s engine: %w", cfg.Engine, err)
	}
	if s.fsm, err = fsm.New(s.engine); err != nil {
		return nil, fmt.Errorf("open state machine: %w", err)
	}
	s.relay = rpc.NewClient(rpc.ClientOptions{})
	if s.rpcLis, err = net.Listen("tcp", cfg.RPCAddr); err != nil {
		return nil, fmt.Errorf("--rpc-addr: %w", err)
	}
	if cfg.HTTPAddr != "" {
		// Before Raft starts, so its metrics include the first election.
		if err := httpapi.EnableRaftMetrics(); err != nil {
			return nil, err
		}
	}
	s.node, err = cluster.New(cluster.Config{
		ID:                 cfg.ID,
		Dir:                cfg.Dir,
		RaftAddr:           cfg.RaftAddr,
		RESPAddr:           cfg.RESPAddr,
		RPCAddr:            s.rpcLis.Addr().String(),
		HTTPAddr:           cfg.HTTPAddr,
		Bootstrap:          len(cfg.Join) == 0,
		DefaultConsistency: lvl,
		Relay:              s.relay,
		Logger:             cfg.Logger.With("component", "cluster"),
		HeartbeatTimeout:   cfg.HeartbeatTimeout,
		ElectionTimeout:    cfg.ElectionTimeout,
		SnapshotThreshold:  cfg.SnapshotThreshold,
		TrailingLogs:       cfg.TrailingLogs,
		SnapshotInterval:   cfg.SnapshotInterval,
		LogMaxBytes:        raftLogMaxBytes(cfg.RaftLogMaxMB),
		MinFreeDisk:        cfg.MinFreeDiskMB << 20,
	}, s.fsm)
	if err != nil {
		return nil, err
	}
	s.rpcSrv = rpc.NewServer(s.node)
	lis := s.rpcLis
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.rpcSrv.Serve(lis); err != nil {
			s.log.Warn("rpc server stopped", "err", err)
		}
	}()
	// One set of metrics: RESP records every command in it, HTTP serves it.
	metrics := httpapi.NewMetrics()
	slower, slowMax := slowlogConfig(cfg.SlowlogLogSlowerThan, cfg.SlowlogMaxLen)
	if s.resp, err = resp.New(resp.Config{Addr: cfg.RESPAddr, Logger: cfg.Logger.With("component", "resp"),
		Observer: metrics, EventLoop: cfg.RESPEventLoop, MaxValueSize: cfg.ProtoMaxBulkLen,
		SlowlogSlowerThan: slower, SlowlogMaxLen: slowMax, Shutdown: cfg.Shutdown}, s.node); err != nil {
		return nil, err
	}
	if err := s.resp.Start(); err != nil {
		return nil, fmt.Errorf("--resp-addr: %w", err)
	}
	if cfg.HTTPAddr != "" {
		if s.http, err = httpapi.New(httpapi.Config{Addr: cfg.HTTPAddr, EnablePprof: cfg.EnablePprof,
			Metrics: metrics, Logger: cfg.Logger.With("component", "http")}, s.node); err != nil {
			return nil, err
		}
		if err := s.http.Start(); err != nil {
			return nil, fmt.Errorf("--http-addr: %w", err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	if len(cfg.Join) > 0 {
		if s.node.HadState() {
			s.log.Info("raft state found; ignoring --join and rejoining as an existing member")
		} else {
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.joinLoop(ctx)
			}()
		}
	}
	s.log.Info("riot-redis node started", "id", cfg.ID, "resp", s.resp.Addr(), "raft", cfg.RaftAddr,
		"rpc", s.rpcLis.Addr().String(), "dir", cfg.Dir, "engine", cfg.Engine, "read_consistency", cfg.ReadConsistency)
	return s, nil
}

// joinLoop asks the --join members, over RESP, to add this node, retrying
// with backoff until one accepts or the server closes.
func (s *Server) joinLoop(ctx context.Context) {
	self := s.node.Self()
	args := []interface{}{"CLUSTER", "JOIN", self.ID, self.RaftAddr, self.RESPAddr, self.RPCAddr, s.cfg.HTTPAddr}
	for attempt := 0; ; attempt++ {
		for _, addr := range s.cfg.Join {
			c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 2 * time.Second,
				ReadTimeout: joinAttemptTimeout, DisableIdentity: true, Protocol: 2})
			actx, cancel := context.WithTimeout(ctx, joinAttemptTimeout)
			err := c.Do(actx, args...).Err()
			cancel()
			c.Close()
			if err == nil {
				s.log.Info("joined cluster", "via", addr)
				return
			}
			if ctx.Err() != nil {
				return
			}
			s.log.Warn("join attempt failed", "via", addr, "attempt", attempt, "err", err)
		}
		d := min(100*time.Millisecond<<min(attempt, 6), maxJoinBackoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(d):
		}
	}
}

// Node returns the Raft node.
func (s *Server) Node() *cluster.Node { return s.node }

// RESPAddr returns the address the RESP listener is bound to.
func (s *Server) RESPAddr() string { return s.resp.Addr() }

// HTTP returns the HTTP interface (nil when --http-addr is empty).
func (s *Server) HTTP() *httpapi.Server { return s.http }

// RPCAddr returns the address the gRPC listener is bound to.
func (s *Server) RPCAddr() string { return s.rpcLis.Addr().String() }

// Config returns the server's configuration.
func (s *Server) Config() Config { return s.cfg }

// Close shuts the node down gracefully: client listeners first, then Raft
// (handing leadership over if this node leads), then storage.
func (s *Server) Close() error {
	return s.closeWith(func(n *cluster.Node) error { return n.Close() })
}

// Kill stops the node as abruptly as the process allows in-process: no
// leadership transfer. Tests use it to simulate a crash.
func (s *Server) Kill() error {
	return s.closeWith(func(n *cluster.Node) error { return n.Kill() })
}

func (s *Server) closeWith(stopNode func(*cluster.Node) error) error {
	s.closeOnce.Do(func() {
		var errs []error
		if s.cancel != nil {
			s.cancel()
		}
		if s.http != nil {
			errs = append(errs, s.http.Close())
		}
		if s.resp != nil {
			errs = append(errs, s.resp.Close())
		}
		if s.rpcSrv != nil {
			s.rpcSrv.Stop()
		} else if s.rpcLis != nil {
			s.rpcLis.Close()
		}
		if s.node != nil {
			errs = append(errs, stopNode(s.node))
		}
		s.wg.Wait()
		if s.relay != nil {
			errs = append(errs, s.relay.Close())
		}
		if s.engine != nil {
			errs = append(errs, s.engine.Close())
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}
