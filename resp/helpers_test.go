package resp

import (
	"context"
	"flag"
	"log/slog"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/riot-kv/riot-redis/cluster"
	"github.com/riot-kv/riot-redis/cluster/raftlog"
	"github.com/riot-kv/riot-redis/fsm"
	"github.com/riot-kv/riot-redis/storage"
)

// testNode implements Node over a real state machine and an in-memory engine,
// without Raft: each proposal is applied at once with the next log index. It
// records what the RESP layer asked of it and can be told to fail.
type testNode struct {
	mu        sync.Mutex
	f         *fsm.FSM
	index     uint64
	members   []cluster.Member
	role      cluster.Role
	noLeader  bool
	consist   cluster.Consistency // DefaultConsistency
	proposeEr error               // returned by Propose instead of applying
	readErr   error               // returned by Read instead of reading
	adminErr  error               // returned by Join, Remove, Transfer, Members
	proposals int
	reads     []cluster.Consistency // level of every Read
	barriers  []bool                // per read: it was a barrier (noRead)
	transfers []string              // ids passed to Transfer
	noAsync   bool                  // ProposeAsync declines
	asyncErr  error                 // ProposeAsync's next answer, nothing applied
	block     chan struct{}         // if set, Propose waits for it or for ctx
	blocked   int                   // proposals waiting on block

	snapshots     int       // Snapshot calls that succeeded
	snapshotAt    time.Time // the last one's time and index
	snapshotIndex uint64
	snapshotErr   error         // returned by Snapshot instead
	snapshotHold  chan struct{} // if set, Snapshot waits for it (outside mu)
}

func mustNode(t testing.TB) *testNode {
	t.Helper()
	return mustNodeOn(t, storage.NewMemory())
}

// mustNodeOn is mustNode over the engine e, which it closes at the end.
func mustNodeOn(t testing.TB, e storage.Engine) *testNode {
	t.Helper()
	t.Cleanup(func() { e.Close() })
	f, err := fsm.New(e)
	if err != nil {
		t.Fatalf("fsm.New: %v", err)
	}
	return &testNode{
		f:    f,
		role: cluster.RoleLeader,
		members: []cluster.Member{{
			ID: "n1", RaftAddr: "127.0.0.1:12000", RESPAddr: "127.0.0.1:6379",
			RPCAddr: "127.0.0.1:32123", HTTPAddr: "127.0.0.1:8080", Voter: true, Role: cluster.RoleLeader,
		}},
	}
}

func (n *testNode) Propose(ctx context.Context, c *fsm.Command) (fsm.Result, error) {
	n.mu.Lock()
	block := n.block
	n.mu.Unlock()
	if block != nil {
		n.set(func(n *testNode) { n.blocked++ })
		defer n.set(func(n *testNode) { n.blocked-- })
		select {
		case <-block:
		case <-ctx.Done():
			return fsm.Result{}, ctx.Err()
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proposeEr != nil {
		return fsm.Result{}, n.proposeEr
	}
	n.proposals++
	c.Now = time.Now().UnixMilli()
	data, err := c.MarshalBinary()
	if err != nil {
		return fsm.Result{}, err
	}
	n.index++
	res, ok := n.f.Apply(&raft.Log{Index: n.index, Type: raft.LogCommand, Data: data}).(fsm.Result)
	if !ok {
		return fsm.Result{}, context.DeadlineExceeded
	}
	return res, nil
}

func (n *testNode) Read(ctx context.Context, lvl cluster.Consistency, fn func(s *fsm.FSM) error) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.reads = append(n.reads, lvl)
	n.barriers = append(n.barriers, reflect.ValueOf(fn).Pointer() == reflect.ValueOf(noRead).Pointer())
	if n.readErr != nil {
		return n.readErr
	}
	return fn(n.f)
}

// ReadBarrier is a Read that reads nothing, on a goroutine of its own.
func (n *testNode) ReadBarrier(ctx context.Context, lvl cluster.Consistency, done func(error)) {
	go func() { done(n.Read(ctx, lvl, noRead)) }()
}

func (n *testNode) Join(ctx context.Context, m cluster.Member) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.adminErr != nil {
		return n.adminErr
	}
	m.Role = cluster.RoleFollower
	for i, old := range n.members {
		if old.ID == m.ID {
			n.members[i] = m
			return nil
		}
	}
	n.members = append(n.members, m)
	return nil
}

func (n *testNode) Remove(ctx context.Context, id string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.adminErr != nil {
		return n.adminErr
	}
	for i, m := range n.members {
		if m.ID == id {
			n.members = append(n.members[:i], n.members[i+1:]...)
			return nil
		}
	}
	return cluster.ErrUnknownNode
}

func (n *testNode) Transfer(ctx context.Context, id string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.adminErr != nil {
		return n.adminErr
	}
	n.transfers = append(n.transfers, id)
	return nil
}

func (n *testNode) Members(ctx context.Context) ([]cluster.Member, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.adminErr != nil {
		return nil, n.adminErr
	}
	return append([]cluster.Member(nil), n.members...), nil
}

func (n *testNode) Role() cluster.Role {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.role
}

func (n *testNode) Leader() (cluster.Member, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.noLeader {
		return cluster.Member{}, false
	}
	for _, m := range n.members {
		if m.Role == cluster.RoleLeader {
			return m, true
		}
	}
	return cluster.Member{}, false
}

// ProposeAsync applies each command of ps on a goroutine of its own through
// Propose, unless noAsync is set; asyncErr, once, is the answer of every one
// of them instead, with nothing applied.
func (n *testNode) ProposeAsync(ps []cluster.AsyncProposal) bool {
	n.mu.Lock()
	no, aerr := n.noAsync, n.asyncErr
	if !no {
		n.asyncErr = nil
	}
	n.mu.Unlock()
	if no {
		return false
	}
	for _, p := range ps {
		if aerr != nil {
			go p.Done(fsm.Result{}, aerr)
			continue
		}
		go func() { p.Done(n.Propose(context.Background(), p.Cmd)) }()
	}
	return true
}

// ReadsAtOnce: the test node waits for nothing at Stale; other levels go
// through Read, which records them.
func (n *testNode) ReadsAtOnce(lvl cluster.Consistency) bool {
	return lvl == cluster.Stale
}

func (n *testNode) DefaultConsistency() cluster.Consistency {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.consist
}

// set changes the node's behaviour under its lock.
func (n *testNode) set(fn func(n *testNode)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	fn(n)
}

// lastRead returns the level of the latest read of a command and how many
// commands read (barriers not counted).
func (n *testNode) lastRead() (cluster.Consistency, int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	count := 0
	for _, b := range n.barriers {
		if !b {
			count++
		}
	}
	i := len(n.reads) - 1
	if i < 0 {
		return 0, 0
	}
	if n.reads[i] == cluster.Stale && i > 0 && n.barriers[i-1] && !n.barriers[i] {
		// A local read right after a barrier (the event loop's, or a
		// pipeline's) reads at the barrier's level.
		return n.reads[i-1], count
	}
	return n.reads[i], count
}

// testLogger returns a logger that writes through t.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// mustServer starts a server on a free port for n and closes it at cleanup.
// testLoop serves the tests' connections with the event loop
// (go test ./resp -args -resp.loop), so the suite runs against both ways of
// serving.
var testLoop = flag.Bool("resp.loop", false, "serve test connections with the event loop")

func mustServer(t testing.TB, n Node, cfg Config) *Server {
	t.Helper()
	return mustServerWith(t, n, cfg, nil)
}

// mustServerWith is mustServer with setup run on the server before it
// starts (so that what setup changes happens before any connection's
// goroutine or the event loop reads it).
func mustServerWith(t testing.TB, n Node, cfg Config, setup func(s *Server)) *Server {
	t.Helper()
	cfg.EventLoop = cfg.EventLoop || *testLoop
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	s, err := New(cfg, n)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if setup != nil {
		setup(s)
	}
	if err := s.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// waiting reports how many proposals are blocked on n.block.
func (n *testNode) waiting() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.blocked
}

// The cluster node is what the server runs on in production.
var _ Node = (*cluster.Node)(nil)

func (n *testNode) ID() string { return "n1" }

// Stats reports the counters a single-node leader would, with the test
// node's index as every Raft index.
func (n *testNode) Stats() map[string]string {
	n.mu.Lock()
	defer n.mu.Unlock()
	idx := strconv.FormatUint(n.index, 10)
	state, contact := "Leader", "0"
	if n.role != cluster.RoleLeader {
		state, contact = "Follower", "1.5s"
	}
	return map[string]string{
		"state": state, "term": "1", "last_log_index": idx, "last_log_term": "1",
		"commit_index": idx, "applied_index": idx, "fsm_applied_index": strconv.FormatUint(n.f.AppliedIndex(), 10),
		"last_snapshot_index": "0", "last_contact": contact, "num_peers": strconv.Itoa(len(n.members) - 1),
	}
}

// LogSyncStats reports one sync of 100µs per entry, as a node syncing
// every append alone would.
func (n *testNode) LogSyncStats() raftlog.SyncStats {
	n.mu.Lock()
	defer n.mu.Unlock()
	st := raftlog.SyncStats{Count: n.index, Sum: time.Duration(n.index) * 100 * time.Microsecond, Buckets: make([]uint64, len(raftlog.SyncBuckets()))}
	if n.index > 0 {
		st.Last = 100 * time.Microsecond
	}
	for i := range st.Buckets {
		st.Buckets[i] = n.index
	}
	return st
}

// Snapshot records a snapshot at the node's index, now.
func (n *testNode) Snapshot() error {
	n.mu.Lock()
	hold := n.snapshotHold
	n.mu.Unlock()
	if hold != nil {
		<-hold
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.snapshotErr != nil {
		return n.snapshotErr
	}
	n.snapshotAt, n.snapshotIndex = time.Now(), n.f.AppliedIndex()
	n.snapshots++
	return nil
}

func (n *testNode) LastSnapshot() (time.Time, uint64, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.snapshotAt, n.snapshotIndex, n.snapshots > 0
}

// proposalCount returns how many proposals were applied.
func (n *testNode) proposalCount() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.proposals
}
