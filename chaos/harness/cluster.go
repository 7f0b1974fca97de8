package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// BuildFlags are extra `go build` flags for the riot-redis binary (for
// example -race). Set them before the first cluster starts.
var BuildFlags []string

var (
	buildOnce sync.Once
	buildBin  string
	buildDir  string
	buildErr  error
)

// binary builds the riot-redis binary once per test process.
func binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", fmt.Sprintf("%s-%d-bin-", dirPrefix, os.Getpid()))
		if buildErr != nil {
			return
		}
		buildBin = filepath.Join(buildDir, "riot-redis")
		args := append([]string{"build", "-o", buildBin}, BuildFlags...)
		args = append(args, "github.com/riot-kv/riot-redis/cmd/riot-redis")
		cmd := exec.Command("go", args...)
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatalf("chaos: %v", buildErr)
	}
	return buildBin
}

// Main runs the tests and removes the built binary afterwards. Call it from
// TestMain: os.Exit(harness.Main(m)).
func Main(m *testing.M) int {
	// go-redis logs dial failures of its pools; against nodes that are
	// killed on purpose they are noise. Errors reach the workload anyway.
	redis.SetLogger(quietLogger{})
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	return code
}

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

// Options configure a cluster.
type Options struct {
	Nodes           int    // default 3
	ReadConsistency string // --read-consistency; default the server's
	Engine          string // --engine; default the server's
	// NodeFlags are passed to every node after the harness's own flags
	// (for example a short --snapshot-interval).
	NodeFlags []string
	// PowerFS puts every node's data directory on a powerfs mount (see
	// package internal/powerfs), so that the PowerFail nemesis can lose
	// what a node wrote and did not sync.
	PowerFS bool
}

// Cluster is a set of riot-redis processes, one per namespace of a Network.
type Cluster struct {
	t      testing.TB
	opts   Options
	bin    string
	Dir    string // data dirs and logs
	Net    *Network
	Nodes  []*Node
	Clock  *Clock
	Events *Events

	admin []*redis.Client

	// Counters the nemeses and the observer keep, so a test can assert that
	// its faults really happened.
	LeaderChanges atomic.Int64
	Transfers     atomic.Int64

	mu         sync.Mutex
	unexpected []string
	closing    atomic.Bool
	artifacts  []func(dir string) // writers of failure artifacts
	outDir     string
}

// NewCluster builds the binary (once), creates the network and starts the
// nodes: node 1 bootstraps, the others join it with --join. It returns when
// every node is a member, a leader is known everywhere and every node serves
// linearizable reads.
func NewCluster(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.Nodes == 0 {
		opts.Nodes = 3
	}
	bin := binary(t)
	clock := NewClock()
	c := &Cluster{t: t, opts: opts, bin: bin, Clock: clock, Events: NewEvents(t, clock)}
	c.Dir = TempDir(t, "data")
	t.Cleanup(func() {
		// A failed run keeps the data directories (Raft logs, engines) for a
		// post-mortem; the processes are gone by now.
		if t.Failed() {
			dst := filepath.Join(c.OutDir(), "data")
			if err := os.Rename(c.Dir, dst); err == nil {
				t.Logf("chaos: data directories kept in %s", dst)
				return
			}
		}
		os.RemoveAll(c.Dir)
	})
	// Unmounted after the network's cleanup has killed the processes, and
	// before the data directories are removed or kept.
	t.Cleanup(c.unmountDisks)
	c.Net = NewNetwork(t, opts.Nodes) // its cleanup kills the processes
	t.Cleanup(c.close)                // runs before the network's cleanup
	for i, h := range c.Net.Hosts() {
		id := fmt.Sprintf("n%d", i+1)
		n := &Node{
			c: c, Index: i, ID: id, Host: h,
			RESP: fmt.Sprintf("%s:%d", h.IP, respPort),
			Raft: fmt.Sprintf("%s:%d", h.IP, raftPort),
			RPC:  fmt.Sprintf("%s:%d", h.IP, rpcPort),
			HTTP: fmt.Sprintf("%s:%d", h.IP, httpPort),
			Dir:  filepath.Join(c.Dir, id),
			Log:  filepath.Join(c.Dir, id+".log"),
		}
		if opts.PowerFS {
			n.Disk = mountDisk(t, filepath.Join(c.Dir, id+".disk"), n.Dir)
		}
		c.Nodes = append(c.Nodes, n)
		c.admin = append(c.admin, redis.NewClient(&redis.Options{
			Addr: n.RESP, Protocol: 2, MaxRetries: -1, DisableIdentity: true,
			DialTimeout: 500 * time.Millisecond, ReadTimeout: 2 * time.Second, WriteTimeout: time.Second,
			PoolSize: 4,
		}))
	}
	c.Nodes[0].Start()
	c.Poll(30*time.Second, "node n1 to lead its one-node cluster", func() error {
		role, err := c.Do(0, time.Second, "CLUSTER", "ROLE").Text()
		if err != nil {
			return err
		}
		if role != "leader" {
			return fmt.Errorf("role %s", role)
		}
		return nil
	})
	for _, n := range c.Nodes[1:] {
		n.Start()
	}
	c.WaitHealthy(60 * time.Second)
	return c
}

// close stops every process; the network's cleanup deletes the namespaces.
func (c *Cluster) close() {
	c.closing.Store(true)
	if c.t.Failed() {
		c.writeArtifacts()
	}
	for _, n := range c.Nodes {
		n.Resume()
		n.signal(9, true)
	}
	for _, n := range c.Nodes {
		n.mu.Lock()
		done := n.done
		n.mu.Unlock()
		if done != nil {
			select {
			case <-done:
			case <-time.After(10 * time.Second):
			}
		}
	}
	for _, a := range c.admin {
		a.Close()
	}
}

func (c *Cluster) unexpectedExit(n *Node, err error) {
	if c.closing.Load() {
		return
	}
	c.mu.Lock()
	c.unexpected = append(c.unexpected, fmt.Sprintf("%s exited unexpectedly at t=%s: %v (log: %s)", n.ID, c.Clock.Since(), err, n.Log))
	c.mu.Unlock()
	c.Events.Instant("crash", n.ID, fmt.Sprint(err))
}

// CheckNoCrash fails the test if a process exited without the harness
// stopping it, or a node's log holds a data race report.
func (c *Cluster) CheckNoCrash() {
	c.t.Helper()
	// A node built with -race (-chaos.race) reports a data race on its
	// stderr, the node's log, and keeps running; most nodes end by SIGKILL,
	// so the exit status would not tell either.
	if n := c.LogCount(raceReport); n > 0 {
		c.t.Errorf("chaos: %d data race reports in the nodes' logs (%q)", n, raceReport)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, u := range c.unexpected {
		c.t.Errorf("chaos: %s", u)
	}
}

// Admin returns the harness's own client of node i. Its connections are
// pooled: never change connection state (READONLY, MULTI...) through it; use
// NewClient for that.
func (c *Cluster) Admin(i int) *redis.Client { return c.admin[i] }

// NewClient returns a new client of node i with one connection (RESP2, no
// retries). readonly sends READONLY on every connection it makes, so its
// reads are served from the node's local state.
func (c *Cluster) NewClient(i int, readonly bool) *redis.Client {
	opts := &redis.Options{
		Addr: c.Nodes[i].RESP, Protocol: 2, MaxRetries: -1, DisableIdentity: true, PoolSize: 1,
		DialTimeout: time.Second, ReadTimeout: 15 * time.Second, WriteTimeout: time.Second,
	}
	if readonly {
		opts.OnConnect = func(ctx context.Context, cn *redis.Conn) error { return cn.Do(ctx, "READONLY").Err() }
	}
	return redis.NewClient(opts)
}

// Do sends one command to node i with a deadline.
func (c *Cluster) Do(i int, timeout time.Duration, args ...any) *redis.Cmd {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return c.admin[i].Do(ctx, args...)
}

// Poll calls f until it returns nil or the timeout passes, then fails the
// test with f's last error. It never sleeps longer than 100ms between calls.
func (c *Cluster) Poll(timeout time.Duration, what string, f func() error) {
	c.t.Helper()
	if err := PollErr(timeout, f); err != nil {
		c.t.Fatalf("chaos: waiting %s for %s: %v", timeout, what, err)
	}
}

// PollErr calls f until it returns nil or the timeout passes and returns f's
// last error.
func PollErr(timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		<-tick.C
	}
}

// memberField returns a field of a CLUSTER LEADER / PEERS entry.
func memberField(entry any, field string) string {
	kv, ok := entry.([]any)
	if !ok {
		return ""
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if k, _ := kv[i].(string); k == field {
			v, _ := kv[i+1].(string)
			return v
		}
	}
	return ""
}

// LeaderView returns the leader ID node i reports ("" when it knows none or
// does not answer within timeout).
func (c *Cluster) LeaderView(i int, timeout time.Duration) string {
	v, err := c.Do(i, timeout, "CLUSTER", "LEADER").Result()
	if err != nil {
		return ""
	}
	return memberField(v, "id")
}

// Peers returns the member IDs node i lists.
func (c *Cluster) Peers(i int, timeout time.Duration) ([]string, error) {
	v, err := c.Do(i, timeout, "CLUSTER", "PEERS").Slice()
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range v {
		ids = append(ids, memberField(e, "id"))
	}
	return ids, nil
}

// NodeByID returns the node with the given ID, or nil.
func (c *Cluster) NodeByID(id string) *Node {
	for _, n := range c.Nodes {
		if n.ID == id {
			return n
		}
	}
	return nil
}

// Leader returns the node that a majority of nodes name as leader.
func (c *Cluster) Leader() (*Node, bool) {
	views := c.leaderViews(time.Second)
	id := majority(views, len(c.Nodes))
	if id == "" {
		return nil, false
	}
	n := c.NodeByID(id)
	return n, n != nil
}

func (c *Cluster) leaderViews(timeout time.Duration) []string {
	views := make([]string, len(c.Nodes))
	var wg sync.WaitGroup
	for i, n := range c.Nodes {
		if !n.Running() || n.Paused() {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			views[i] = c.LeaderView(i, timeout)
		}()
	}
	wg.Wait()
	return views
}

// majority returns the ID named by more than half of n nodes, or "".
func majority(views []string, n int) string {
	count := map[string]int{}
	for _, v := range views {
		if v != "" {
			count[v]++
		}
	}
	for id, k := range count {
		if k > n/2 {
			return id
		}
	}
	return ""
}

// WaitLeader polls until a majority names a leader and returns it.
func (c *Cluster) WaitLeader(timeout time.Duration) *Node {
	c.t.Helper()
	var l *Node
	c.Poll(timeout, "a leader named by a majority", func() error {
		var ok bool
		if l, ok = c.Leader(); !ok {
			return errors.New("no majority leader")
		}
		return nil
	})
	return l
}

// WaitHealthy polls until every node runs, names the same leader, that
// leader lists every node as a member, and every node serves a linearizable
// read. It returns the leader.
func (c *Cluster) WaitHealthy(timeout time.Duration) *Node {
	c.t.Helper()
	var leader *Node
	c.Poll(timeout, "a healthy cluster (all nodes up, one leader, all members, reads served)", func() error {
		for _, n := range c.Nodes {
			if !n.Running() || n.Paused() {
				return fmt.Errorf("%s is not running", n.ID)
			}
		}
		views := c.leaderViews(time.Second)
		for i, v := range views {
			if v == "" || v != views[0] {
				return fmt.Errorf("leader views differ: %q (node %s)", views, c.Nodes[i].ID)
			}
		}
		leader = c.NodeByID(views[0])
		if leader == nil {
			return fmt.Errorf("unknown leader %q", views[0])
		}
		peers, err := c.Peers(leader.Index, time.Second)
		if err != nil {
			return fmt.Errorf("peers on %s: %w", leader.ID, err)
		}
		if len(peers) != len(c.Nodes) {
			return fmt.Errorf("leader %s lists peers %q", leader.ID, peers)
		}
		for i := range c.Nodes {
			if err := c.Do(i, 2*time.Second, "GET", "chaos:probe").Err(); err != nil && err != redis.Nil {
				return fmt.Errorf("read on %s: %w", c.Nodes[i].ID, err)
			}
		}
		return nil
	})
	return leader
}

// HealAll undoes every fault: resumes paused processes, removes every cut,
// starts stopped nodes, and re-adds members missing from the configuration.
// Then it waits until the cluster is healthy.
func (c *Cluster) HealAll() *Node {
	c.t.Helper()
	end := c.Events.Begin("heal", "all", "")
	defer end()
	c.Net.Heal()
	for _, n := range c.Nodes {
		n.Resume()
	}
	for _, n := range c.Nodes {
		if !n.Running() {
			n.Start()
		}
	}
	// A member removed by a nemesis that could not put it back is re-added.
	c.Poll(60*time.Second, "every node to be a member again", func() error {
		l, ok := c.Leader()
		if !ok {
			return errors.New("no leader")
		}
		peers, err := c.Peers(l.Index, time.Second)
		if err != nil {
			return err
		}
		missing := false
		for _, n := range c.Nodes {
			if !contains(peers, n.ID) {
				missing = true
				c.Rejoin(n)
			}
		}
		if missing {
			return fmt.Errorf("members %q", peers)
		}
		return nil
	})
	return c.WaitHealthy(60 * time.Second)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// RestartAll kills every process with SIGKILL at once and starts them all
// again, then waits until the cluster is healthy.
func (c *Cluster) RestartAll() *Node {
	c.t.Helper()
	KillAll(c.Nodes)
	for _, n := range c.Nodes {
		n.Start()
	}
	return c.WaitHealthy(90 * time.Second)
}

// Transfer asks the cluster (through node via) to hand leadership to target
// ("" lets the leader choose).
func (c *Cluster) Transfer(via int, target string) error {
	args := []any{"CLUSTER", "TRANSFER"}
	if target != "" {
		args = append(args, target)
	}
	err := c.Do(via, 10*time.Second, args...).Err()
	if err == nil {
		c.Transfers.Add(1)
		c.Events.Instant("transfer", target, "via "+c.Nodes[via].ID)
	}
	return err
}

// Remove removes the member id (through node via).
func (c *Cluster) Remove(via int, id string) error {
	err := c.Do(via, 10*time.Second, "CLUSTER", "REMOVE", id).Err()
	if err == nil {
		c.Events.Instant("remove", id, "via "+c.Nodes[via].ID)
	}
	return err
}

// Rejoin asks the leader (or any node) to add n back with its addresses.
func (c *Cluster) Rejoin(n *Node) error {
	var err error
	for i := range c.Nodes {
		if c.Nodes[i] == n || !c.Nodes[i].Running() || c.Nodes[i].Paused() {
			continue
		}
		err = c.Do(i, 10*time.Second, "CLUSTER", "JOIN", n.ID, n.Raft, n.RESP, n.RPC, n.HTTP, "VOTER").Err()
		if err == nil {
			c.Events.Instant("join", n.ID, "via "+c.Nodes[i].ID)
			return nil
		}
	}
	if err == nil {
		err = errors.New("no node to ask")
	}
	return err
}

// Observe polls every node's view of the leader until ctx ends, counts the
// changes of the leader that a majority names, and records them as events.
func (c *Cluster) Observe(ctx context.Context) {
	last := ""
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		views := c.leaderViews(400 * time.Millisecond)
		if id := majority(views, len(c.Nodes)); id != "" && id != last {
			if last != "" {
				c.LeaderChanges.Add(1)
			}
			c.Events.Instant("leader", id, fmt.Sprintf("views %q", views))
			last = id
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// AddArtifact registers a writer called when the test fails, with the
// directory that collects the run's artifacts.
func (c *Cluster) AddArtifact(f func(dir string)) {
	c.mu.Lock()
	c.artifacts = append(c.artifacts, f)
	c.mu.Unlock()
}

// OutDir returns (creating it) the directory for this test's failure
// artifacts: under $RIOT_CHAOS_OUT if set, else under os.TempDir().
func (c *Cluster) OutDir() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.outDir != "" {
		return c.outDir
	}
	base := os.Getenv("RIOT_CHAOS_OUT")
	if base == "" {
		base = os.TempDir()
	}
	name := strings.NewReplacer("/", "_", " ", "_").Replace(c.t.Name())
	dir := filepath.Join(base, fmt.Sprintf("riot-chaos-out-%s-%s", name, time.Now().Format("20060102-150405")))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		c.t.Errorf("chaos: artifacts dir: %v", err)
		return os.TempDir()
	}
	c.outDir = dir
	c.t.Logf("chaos: failure artifacts (node logs, history, timeline, porcupine visualisation) in %s", dir)
	return dir
}

// nodeState collects what a running node says about itself: INFO over RESP
// and the HTTP status and metrics, when it serves them.
func (c *Cluster) nodeState(i int) string {
	n := c.Nodes[i]
	var b strings.Builder
	fmt.Fprintf(&b, "%s running=%v paused=%v pid=%d\n", n.ID, n.Running(), n.Paused(), n.Pid())
	if !n.Running() || n.Paused() {
		return b.String()
	}
	info, err := c.Do(i, 2*time.Second, "INFO").Text()
	fmt.Fprintf(&b, "\n# INFO (err=%v)\n%s\n", err, info)
	hc := &http.Client{Timeout: 2 * time.Second}
	for _, path := range []string{"/v1/status", "/metrics"} {
		resp, err := hc.Get("http://" + n.HTTP + path)
		if err != nil {
			fmt.Fprintf(&b, "\n# GET %s: %v\n", path, err)
			continue
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		fmt.Fprintf(&b, "\n# GET %s: %s\n", path, resp.Status)
		for _, line := range strings.Split(string(body), "\n") {
			if path != "/metrics" || strings.HasPrefix(line, "riot_node_") || strings.HasPrefix(line, "riot_keys") {
				b.WriteString(line + "\n")
			}
		}
	}
	return b.String()
}

// writeArtifacts copies the node logs and writes the timeline and whatever
// the registered writers produce.
func (c *Cluster) writeArtifacts() {
	dir := c.OutDir()
	for _, n := range c.Nodes {
		if b, err := os.ReadFile(n.Log); err == nil {
			os.WriteFile(filepath.Join(dir, n.ID+".log"), b, 0o644)
		}
	}
	for i, n := range c.Nodes {
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("iptables-%s.txt", n.ID)), []byte(c.Net.Rules(i)+"\n"), 0o644)
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("state-%s.txt", n.ID)), []byte(c.nodeState(i)), 0o644)
	}
	os.WriteFile(filepath.Join(dir, "timeline.txt"), []byte(c.Events.String()), 0o644)
	c.mu.Lock()
	arts := append([]func(string){}, c.artifacts...)
	c.mu.Unlock()
	for _, f := range arts {
		f(dir)
	}
}

// raceReport starts every report of Go's race detector.
const raceReport = "WARNING: DATA RACE"

// LogCount returns how many lines of the nodes' logs (every process each
// node ran so far) contain s: evidence that a path ran which the clients
// cannot see, such as a snapshot installed from the leader.
func (c *Cluster) LogCount(s string) int {
	n := 0
	for _, nd := range c.Nodes {
		b, err := os.ReadFile(nd.Log)
		if err != nil {
			c.t.Errorf("chaos: read %s: %v", nd.Log, err)
			continue
		}
		n += bytes.Count(b, []byte(s))
	}
	return n
}
