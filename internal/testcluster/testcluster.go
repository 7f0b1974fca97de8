// Package testcluster starts in-process riot-redis clusters for tests: real
// nodes (server.Server) on real loopback TCP ports and real data directories.
// Nodes can be stopped gracefully, killed (no leadership handover) and
// restarted on the same directory and ports.
package testcluster

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/riot-kv/riot-redis/cluster"
	"github.com/riot-kv/riot-redis/server"
)

// Fast Raft timings for tests on loopback. They are conservative enough for
// a loaded 2-core machine running the race detector.
const (
	heartbeat = 400 * time.Millisecond
	election  = 400 * time.Millisecond
)

// Node is one member of a test cluster.
type Node struct {
	t   testing.TB
	Cfg server.Config
	mu  sync.Mutex
	srv *server.Server
}

// Cluster is a set of in-process nodes.
type Cluster struct {
	t     testing.TB
	Nodes []*Node
}

// Options tweak a test cluster.
type Options struct {
	Engine            string
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	TrailingLogs      uint64
	ReadConsistency   string
	// NoWriteBehind turns the engine's write-behind buffer off: every
	// applied entry is its own engine write.
	NoWriteBehind bool
	// Dir, when set, holds the nodes' data directories, each named after
	// its node (node1, node2, ...; made if missing, so a test can mount a
	// file system there first); otherwise each node gets a test temp
	// directory.
	Dir string
	// MinFreeDiskMB, when positive, is the nodes' --min-free-disk-mb.
	MinFreeDiskMB int64
}

// New starts an n-node cluster: node 0 bootstraps, the others join it through
// --join, exactly as real nodes do. It waits until all n are members.
func New(t testing.TB, n int, opts Options) *Cluster {
	t.Helper()
	c := &Cluster{t: t}
	t.Cleanup(c.Close)
	for i := 0; i < n; i++ {
		c.AddNode(opts)
	}
	c.WaitForMembers(n, 30*time.Second)
	return c
}

// NodeConfig returns a config for a new node on fresh ports and a fresh dir.
// join is the RESP address list to join (empty for a bootstrap node).
func NodeConfig(t testing.TB, name string, join []string, opts Options) server.Config {
	t.Helper()
	cfg := server.DefaultConfig()
	cfg.ID = name
	cfg.Dir = t.TempDir()
	if opts.Dir != "" {
		cfg.Dir = filepath.Join(opts.Dir, name)
		if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
			t.Fatalf("node dir: %v", err)
		}
	}
	if opts.MinFreeDiskMB > 0 {
		cfg.MinFreeDiskMB = opts.MinFreeDiskMB
	}
	cfg.RESPAddr = FreeAddr(t)
	cfg.RaftAddr = FreeAddr(t)
	cfg.RPCAddr = FreeAddr(t)
	cfg.HTTPAddr = FreeAddr(t)
	cfg.Join = join
	if opts.Engine != "" {
		cfg.Engine = opts.Engine
	}
	if opts.ReadConsistency != "" {
		cfg.ReadConsistency = opts.ReadConsistency
	}
	cfg.HeartbeatTimeout = heartbeat
	cfg.ElectionTimeout = election
	cfg.SnapshotThreshold = opts.SnapshotThreshold
	cfg.TrailingLogs = opts.TrailingLogs
	cfg.SnapshotInterval = opts.SnapshotInterval
	if opts.NoWriteBehind {
		cfg.EngineWriteBehindMB = 0
	}
	cfg.Logger = Logger(t, name)
	return cfg
}

// AddNode starts one more node that joins through the existing nodes (or
// bootstraps if it is the first).
func (c *Cluster) AddNode(opts Options) *Node {
	c.t.Helper()
	var join []string
	for _, n := range c.Nodes {
		join = append(join, n.Cfg.RESPAddr)
	}
	cfg := NodeConfig(c.t, fmt.Sprintf("node%d", len(c.Nodes)+1), join, opts)
	nd := &Node{t: c.t, Cfg: cfg}
	nd.Start()
	c.Nodes = append(c.Nodes, nd)
	return nd
}

// Start (re)starts the node on its config, directory and ports.
func (n *Node) Start() {
	n.t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.srv != nil {
		n.t.Fatalf("node %s already running", n.Cfg.ID)
	}
	var err error
	deadline := time.Now().Add(10 * time.Second)
	for {
		// A just-closed node's ports can take a moment to be free again.
		n.srv, err = server.New(n.Cfg)
		if err == nil || time.Now().After(deadline) || !strings.Contains(err.Error(), "address already in use") {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		n.t.Fatalf("start node %s: %v", n.Cfg.ID, err)
	}
}

// Stop closes the node gracefully (a leader hands leadership over first).
func (n *Node) Stop() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.srv != nil {
		if err := n.srv.Close(); err != nil {
			n.t.Errorf("close node %s: %v", n.Cfg.ID, err)
		}
		n.srv = nil
	}
}

// Kill stops the node without a leadership handover, like a crash.
func (n *Node) Kill() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.srv != nil {
		n.srv.Kill()
		n.srv = nil
	}
}

// Running reports whether the node is started.
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.srv != nil
}

// Server returns the running server (nil when stopped).
func (n *Node) Server() *server.Server {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.srv
}

// Raft returns the running node's cluster.Node (nil when stopped).
func (n *Node) Raft() *cluster.Node {
	if s := n.Server(); s != nil {
		return s.Node()
	}
	return nil
}

// Client returns a go-redis client for this node, closed at test end.
func (n *Node) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: n.Cfg.RESPAddr, MaxRetries: -1, Protocol: 2,
		DialTimeout: 2 * time.Second, ReadTimeout: 15 * time.Second, WriteTimeout: 5 * time.Second})
	n.t.Cleanup(func() { c.Close() })
	return c
}

// Close stops every node.
func (c *Cluster) Close() {
	var wg sync.WaitGroup
	for _, n := range c.Nodes {
		wg.Add(1)
		go func() { defer wg.Done(); n.Kill() }()
	}
	wg.Wait()
}

// Leader returns the running node that is leader, or nil.
func (c *Cluster) Leader() *Node {
	for _, n := range c.Nodes {
		if r := n.Raft(); r != nil && r.IsLeader() {
			return n
		}
	}
	return nil
}

// Followers returns the running nodes that are not leader.
func (c *Cluster) Followers() []*Node {
	var out []*Node
	for _, n := range c.Nodes {
		if r := n.Raft(); r != nil && !r.IsLeader() {
			out = append(out, n)
		}
	}
	return out
}

// MustFollowers returns the followers (see Followers) and fails the test
// unless there are want of them.
func (c *Cluster) MustFollowers(want int) []*Node {
	c.t.Helper()
	fs := c.Followers()
	if len(fs) != want {
		c.t.Fatalf("%d followers, want %d", len(fs), want)
	}
	return fs
}

// WaitForLeader waits until exactly one running node leads and every running
// node agrees on it, and that leader is ready to serve reads.
func (c *Cluster) WaitForLeader(timeout time.Duration) *Node {
	c.t.Helper()
	var leader *Node
	Eventually(c.t, timeout, func() error {
		leader = c.Leader()
		if leader == nil {
			return fmt.Errorf("no leader")
		}
		for _, n := range c.Nodes {
			r := n.Raft()
			if r == nil {
				continue
			}
			if m, ok := r.Leader(); !ok || m.ID != leader.Cfg.ID {
				return fmt.Errorf("%s does not see %s as leader yet", n.Cfg.ID, leader.Cfg.ID)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if _, err := leader.Raft().ReadIndexLocal(ctx); err != nil {
			return fmt.Errorf("leader %s not ready: %w", leader.Cfg.ID, err)
		}
		return nil
	})
	return leader
}

// WaitForMembers waits until the running nodes all list want members.
func (c *Cluster) WaitForMembers(want int, timeout time.Duration) {
	c.t.Helper()
	Eventually(c.t, timeout, func() error {
		for _, n := range c.Nodes {
			r := n.Raft()
			if r == nil {
				continue
			}
			ms, err := r.Members(context.Background())
			if err != nil {
				return err
			}
			if len(ms) != want {
				return fmt.Errorf("%s lists %d members, want %d", n.Cfg.ID, len(ms), want)
			}
			for _, m := range ms {
				if m.RESPAddr == "" {
					return fmt.Errorf("%s has no metadata for %s yet", n.Cfg.ID, m.ID)
				}
			}
		}
		return nil
	})
}

// WaitApplied waits until every running node's state machine has applied at
// least index.
func (c *Cluster) WaitApplied(index uint64, timeout time.Duration) {
	c.t.Helper()
	Eventually(c.t, timeout, func() error {
		for _, n := range c.Nodes {
			if r := n.Raft(); r != nil && r.FSM().AppliedIndex() < index {
				return fmt.Errorf("%s applied %d < %d", n.Cfg.ID, r.FSM().AppliedIndex(), index)
			}
		}
		return nil
	})
}

// Eventually polls f until it returns nil or the timeout passes, then fails
// the test with f's last error.
func Eventually(t testing.TB, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v: %v", timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Logger returns a slog logger writing through t.Log, tagged with name. Only
// warnings and errors are kept, to keep failing-test output readable.
func Logger(t testing.TB, name string) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})).With("node", name)
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	defer func() { recover() }() // t.Log after the test ended panics; drop the line
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
