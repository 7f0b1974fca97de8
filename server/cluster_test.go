package server_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/riot-kv/riot-redis/internal/testcluster"
)

func ctxT(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// mustGetAll checks that key reads as want on every running node, using the
// default (linearizable) consistency.
func mustGetAll(t *testing.T, c *testcluster.Cluster, key, want string) {
	t.Helper()
	for _, n := range c.Nodes {
		if !n.Running() {
			continue
		}
		got, err := n.Client().Get(ctxT(t, 10*time.Second), key).Result()
		if err != nil || got != want {
			t.Fatalf("GET %s on %s = %q, %v; want %q", key, n.Cfg.ID, got, err, want)
		}
	}
}

func TestClusterJoinAndFollowerWrite(t *testing.T) {
	c := testcluster.New(t, 3, testcluster.Options{})
	leader := c.WaitForLeader(20 * time.Second)
	followers := c.MustFollowers(2)
	ctx := ctxT(t, 20*time.Second)
	f := followers[0].Client()
	if err := f.Set(ctx, "greeting", "hello", 0).Err(); err != nil {
		t.Fatalf("SET on follower: %v", err)
	}
	n, err := f.Incr(ctx, "counter").Result()
	if err != nil || n != 1 {
		t.Fatalf("INCR on follower = %d, %v; want 1", n, err)
	}
	mustGetAll(t, c, "greeting", "hello")
	mustGetAll(t, c, "counter", "1")

	// Every node knows every member's addresses and who leads.
	for _, nd := range c.Nodes {
		peers, err := nd.Client().Do(ctx, "CLUSTER", "PEERS").Slice()
		if err != nil {
			t.Fatalf("CLUSTER PEERS on %s: %v", nd.Cfg.ID, err)
		}
		if len(peers) != 3 {
			t.Fatalf("CLUSTER PEERS on %s lists %d members: %v", nd.Cfg.ID, len(peers), peers)
		}
		text := fmt.Sprint(peers)
		for _, other := range c.Nodes {
			for _, addr := range []string{other.Cfg.ID, other.Cfg.RESPAddr, other.Cfg.RaftAddr} {
				if !strings.Contains(text, addr) {
					t.Fatalf("CLUSTER PEERS on %s lacks %s: %v", nd.Cfg.ID, addr, text)
				}
			}
		}
		role, err := nd.Client().Do(ctx, "CLUSTER", "ROLE").Text()
		want := "follower"
		if nd == leader {
			want = "leader"
		}
		if err != nil || role != want {
			t.Fatalf("CLUSTER ROLE on %s = %q, %v; want %q", nd.Cfg.ID, role, err, want)
		}
		ld, err := nd.Client().Do(ctx, "CLUSTER", "LEADER").Slice()
		if err != nil || !strings.Contains(fmt.Sprint(ld), leader.Cfg.RESPAddr) {
			t.Fatalf("CLUSTER LEADER on %s = %v, %v; want it to name %s", nd.Cfg.ID, ld, err, leader.Cfg.RESPAddr)
		}
	}
}

// writer issues INCRs and SETs and records which were acknowledged.
type writer struct {
	mu    sync.Mutex
	acked map[string]string // key -> value acknowledged by SET
	incrs atomic.Int64      // acknowledged INCRs of "ctr"
	unk   atomic.Int64      // INCRs with an unknown outcome
}

func (w *writer) run(ctx context.Context, c *redis.Client, prefix string, stop <-chan struct{}) {
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		k := fmt.Sprintf("%s-%d", prefix, i)
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if err := c.Set(cctx, k, strconv.Itoa(i), 0).Err(); err == nil {
			w.mu.Lock()
			w.acked[k] = strconv.Itoa(i)
			w.mu.Unlock()
		}
		if err := c.Incr(cctx, "ctr").Err(); err == nil {
			w.incrs.Add(1)
		} else if strings.HasPrefix(err.Error(), "UNKNOWN") || errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "i/o timeout") {
			w.unk.Add(1)
		}
		cancel()
	}
}

func (w *writer) check(t *testing.T, c *testcluster.Cluster) {
	t.Helper()
	nd := c.Leader()
	if nd == nil {
		t.Fatal("no leader to check against")
	}
	cl := nd.Client()
	ctx := ctxT(t, 60*time.Second)
	w.mu.Lock()
	defer w.mu.Unlock()
	for k, v := range w.acked {
		got, err := cl.Get(ctx, k).Result()
		if err != nil || got != v {
			t.Fatalf("acknowledged write lost: GET %s = %q, %v; want %q", k, got, err, v)
		}
	}
	got, err := cl.Get(ctx, "ctr").Int64()
	if err != nil {
		t.Fatalf("GET ctr: %v", err)
	}
	lo, hi := w.incrs.Load(), w.incrs.Load()+w.unk.Load()
	if got < lo || got > hi {
		t.Fatalf("counter = %d, want between %d acknowledged and %d acknowledged+unknown", got, lo, hi)
	}
}

func TestClusterLeaderKillFailover(t *testing.T) {
	c := testcluster.New(t, 3, testcluster.Options{})
	old := c.WaitForLeader(20 * time.Second)
	ctx := ctxT(t, 2*time.Minute)

	w := &writer{acked: map[string]string{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, f := range c.Followers() {
		wg.Add(1)
		go func() { defer wg.Done(); w.run(ctx, f.Client(), f.Cfg.ID, stop) }()
	}
	testcluster.Eventually(t, 20*time.Second, func() error {
		if w.incrs.Load() < 20 {
			return fmt.Errorf("only %d writes so far", w.incrs.Load())
		}
		return nil
	})

	killedAt := time.Now()
	old.Kill() // hard stop: no leadership transfer
	var leader *testcluster.Node
	testcluster.Eventually(t, 15*time.Second, func() error {
		leader = c.Leader()
		if leader == nil || leader == old {
			return errors.New("no new leader yet")
		}
		return nil
	})
	t.Logf("new leader %s elected %v after the kill", leader.Cfg.ID, time.Since(killedAt).Round(time.Millisecond))
	before := w.incrs.Load()
	testcluster.Eventually(t, 20*time.Second, func() error {
		if w.incrs.Load() < before+20 {
			return fmt.Errorf("writes not continuing: %d acknowledged after failover", w.incrs.Load()-before)
		}
		return nil
	})
	close(stop)
	wg.Wait()
	w.check(t, c)

	// The old leader restarts from its own data and catches up.
	old.Start()
	c.WaitForLeader(20 * time.Second)
	idx := c.Leader().Raft().CommitIndex()
	c.WaitApplied(idx, 20*time.Second)
	v, err := old.Client().Get(ctx, "ctr").Result()
	want, _ := c.Leader().Client().Get(ctx, "ctr").Result()
	if err != nil || v != want {
		t.Fatalf("restarted node reads ctr = %q, %v; leader has %q", v, err, want)
	}
}

func TestClusterSnapshotInstallCatchUp(t *testing.T) {
	opts := testcluster.Options{TrailingLogs: 256, SnapshotThreshold: 1 << 30}
	c := testcluster.New(t, 2, opts)
	leader := c.WaitForLeader(20 * time.Second)
	ctx := ctxT(t, 3*time.Minute)

	const writes, workers = 20000, 50
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	cl := leader.Client()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < writes; i += workers {
				if err := cl.Set(ctx, fmt.Sprintf("k%05d", i), fmt.Sprintf("v%d", i), 0).Err(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("write: %v", err)
	}
	if err := leader.Raft().Snapshot(); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	if first := leader.Raft().Stats()["last_snapshot_index"]; first == "0" {
		t.Fatalf("no snapshot taken: stats %v", leader.Raft().Stats())
	}

	nd := c.AddNode(opts)
	c.WaitForMembers(3, 30*time.Second)
	c.WaitApplied(leader.Raft().CommitIndex(), 60*time.Second)
	if s := nd.Raft().Stats()["last_snapshot_index"]; s == "0" || s == "" {
		t.Fatalf("new node did not install a snapshot: last_snapshot_index=%q", s)
	}
	rc := nd.Client()
	for _, i := range []int{0, 1, 7777, 12345, writes - 1} {
		k := fmt.Sprintf("k%05d", i)
		got, err := rc.Get(ctx, k).Result()
		if err != nil || got != fmt.Sprintf("v%d", i) {
			t.Fatalf("new node GET %s = %q, %v", k, got, err)
		}
	}
	n, err := rc.Do(ctx, "EXISTS", "k00000", "k10000", "k19999", "nope").Int()
	if err != nil || n != 3 {
		t.Fatalf("EXISTS on new node = %d, %v; want 3", n, err)
	}
}

// TestClusterSnapshotInterval checks that --snapshot-interval reaches Raft:
// with a threshold of 16 entries and a one-second interval every node takes
// a snapshot within seconds of 100 writes (with the default interval, two
// minutes at least), and keeps serving every key after it.
func TestClusterSnapshotInterval(t *testing.T) {
	opts := testcluster.Options{SnapshotThreshold: 16, SnapshotInterval: time.Second, TrailingLogs: 8}
	c := testcluster.New(t, 3, opts)
	leader := c.WaitForLeader(20 * time.Second)
	ctx := ctxT(t, time.Minute)
	const writes = 100
	for i := range writes {
		if err := leader.Client().Set(ctx, fmt.Sprintf("si:%d", i), i, 0).Err(); err != nil {
			t.Fatalf("SET: %v", err)
		}
	}
	// A node snapshots only with SnapshotThreshold entries since its last
	// snapshot: one taken during the writes just below index 100 would
	// leave too few after it for another. As many writes again after them
	// make sure every node snapshots past them.
	for i := range int(opts.SnapshotThreshold) {
		if err := leader.Client().Set(ctx, fmt.Sprintf("si:after:%d", i), i, 0).Err(); err != nil {
			t.Fatalf("SET: %v", err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, nd := range c.Nodes {
		for {
			idx := raftCounters(t, ctx, nd.Client(), "raft_last_snapshot_index")[0]
			if idx >= writes {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: raft_last_snapshot_index %d after %d writes with a 1s snapshot interval", nd.Cfg.ID, idx, writes)
			}
			time.Sleep(100 * time.Millisecond)
		}
		for _, i := range []int{0, writes / 2, writes - 1} {
			if got, err := nd.Client().Get(ctx, fmt.Sprintf("si:%d", i)).Result(); err != nil || got != fmt.Sprint(i) {
				t.Fatalf("%s: GET si:%d = %q, %v after the snapshot", nd.Cfg.ID, i, got, err)
			}
		}
	}
}

func TestClusterRemoveNode(t *testing.T) {
	c := testcluster.New(t, 3, testcluster.Options{})
	leader := c.WaitForLeader(20 * time.Second)
	ctx := ctxT(t, time.Minute)
	victim := c.Followers()[0]
	// Ask through the other follower: the request is relayed to the leader.
	var via *testcluster.Node
	for _, f := range c.Followers() {
		if f != victim {
			via = f
		}
	}
	if err := via.Client().Do(ctx, "CLUSTER", "REMOVE", victim.Cfg.ID).Err(); err != nil {
		t.Fatalf("CLUSTER REMOVE: %v", err)
	}
	victim.Stop()
	c.Nodes = []*testcluster.Node{leader, via}
	c.WaitForMembers(2, 20*time.Second)
	for _, nd := range c.Nodes {
		peers, err := nd.Client().Do(ctx, "CLUSTER", "PEERS").Slice()
		if err != nil || len(peers) != 2 || strings.Contains(fmt.Sprint(peers), victim.Cfg.ID) {
			t.Fatalf("CLUSTER PEERS on %s after removal = %v, %v", nd.Cfg.ID, peers, err)
		}
	}
	// Two voters: both are needed for quorum. With both up writes work...
	if err := leader.Client().Set(ctx, "after-remove", "1", 0).Err(); err != nil {
		t.Fatalf("SET with 2/2 voters: %v", err)
	}
	// ...and with one of the two gone there is no quorum: writes fail.
	via.Kill()
	err := leader.Client().Set(ctxT(t, 20*time.Second), "no-quorum", "1", 0).Err()
	if err == nil || !(strings.HasPrefix(err.Error(), "CLUSTERDOWN") || strings.HasPrefix(err.Error(), "UNKNOWN")) {
		t.Fatalf("SET with 1/2 voters = %v; want CLUSTERDOWN or UNKNOWN", err)
	}
}

func TestClusterFullRestart(t *testing.T) {
	c := testcluster.New(t, 3, testcluster.Options{})
	c.WaitForLeader(20 * time.Second)
	ctx := ctxT(t, 2*time.Minute)

	const perNode = 100
	var wg sync.WaitGroup
	for _, nd := range c.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := nd.Client()
			for i := 0; i < perNode; i++ {
				if err := cl.Incr(ctx, "total").Err(); err != nil {
					t.Errorf("INCR via %s: %v", nd.Cfg.ID, err)
					return
				}
				if err := cl.Set(ctx, fmt.Sprintf("%s-%d", nd.Cfg.ID, i), "x", 0).Err(); err != nil {
					t.Errorf("SET via %s: %v", nd.Cfg.ID, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for _, nd := range c.Nodes {
		nd.Stop()
	}
	for _, nd := range c.Nodes {
		nd.Start()
	}
	c.WaitForLeader(30 * time.Second)
	for _, nd := range c.Nodes {
		cl := nd.Client()
		got, err := cl.Get(ctx, "total").Int()
		if err != nil || got != 3*perNode {
			t.Fatalf("after restart, total on %s = %d, %v; want %d", nd.Cfg.ID, got, err, 3*perNode)
		}
		for _, src := range c.Nodes {
			k := fmt.Sprintf("%s-%d", src.Cfg.ID, perNode-1)
			if n, err := cl.Exists(ctx, k).Result(); err != nil || n != 1 {
				t.Fatalf("after restart, %s missing on %s: %d, %v", k, nd.Cfg.ID, n, err)
			}
		}
	}
}

func TestClusterTransferAndNonVoter(t *testing.T) {
	c := testcluster.New(t, 3, testcluster.Options{})
	leader := c.WaitForLeader(20 * time.Second)
	ctx := ctxT(t, time.Minute)

	// Transfer to a named follower, asked through the other follower.
	target, via := c.Followers()[0], c.Followers()[1]
	if err := via.Client().Do(ctx, "CLUSTER", "TRANSFER", target.Cfg.ID).Err(); err != nil {
		t.Fatalf("CLUSTER TRANSFER %s: %v", target.Cfg.ID, err)
	}
	if got := c.WaitForLeader(20 * time.Second); got != target {
		t.Fatalf("leader after transfer to %s is %s", target.Cfg.ID, got.Cfg.ID)
	}
	// Transfer without a target moves leadership away from the current leader.
	if err := leader.Client().Do(ctx, "CLUSTER", "TRANSFER").Err(); err != nil {
		t.Fatalf("CLUSTER TRANSFER: %v", err)
	}
	testcluster.Eventually(t, 20*time.Second, func() error {
		if l := c.Leader(); l == nil || l == target {
			return errors.New("leadership has not moved")
		}
		return nil
	})
	if err := leader.Client().Do(ctx, "CLUSTER", "TRANSFER", "nosuchnode").Err(); err == nil {
		t.Fatal("CLUSTER TRANSFER to an unknown node succeeded")
	}

	// A fourth node joins (as a voter), then is demoted to a non-voter: it
	// still receives every write but no longer counts for quorum.
	nd := c.AddNode(testcluster.Options{})
	c.WaitForMembers(4, 30*time.Second)
	if err := leader.Client().Do(ctx, "CLUSTER", "JOIN", nd.Cfg.ID, nd.Cfg.RaftAddr, nd.Cfg.RESPAddr,
		nd.Server().RPCAddr(), nd.Cfg.HTTPAddr, "NONVOTER").Err(); err != nil {
		t.Fatalf("CLUSTER JOIN ... NONVOTER: %v", err)
	}
	testcluster.Eventually(t, 20*time.Second, func() error {
		ms, err := c.Nodes[0].Raft().Members(ctx)
		if err != nil {
			return err
		}
		for _, m := range ms {
			if m.ID == nd.Cfg.ID {
				if m.Voter {
					return errors.New("still a voter")
				}
				return nil
			}
		}
		return errors.New("fourth node missing")
	})
	peers, err := c.Nodes[0].Client().Do(ctx, "CLUSTER", "PEERS").Slice()
	if err != nil || !strings.Contains(fmt.Sprint(peers), "nonvoter") {
		t.Fatalf("CLUSTER PEERS does not show the non-voter: %v, %v", peers, err)
	}
	if err := c.Leader().Client().Set(ctx, "for-the-nonvoter", "yes", 0).Err(); err != nil {
		t.Fatal(err)
	}
	mustGetAll(t, c, "for-the-nonvoter", "yes")
}

// Linearizable reads are confirmed by the leader's read confirmation (one
// follower per round in three nodes; a follower's own read-index request
// stands for it), keep working when that follower is killed, see every
// acknowledged write, and are counted in INFO.
func TestClusterReadConfirmation(t *testing.T) {
	c := testcluster.New(t, 3, testcluster.Options{})
	leader := c.WaitForLeader(20 * time.Second)
	ctx := ctxT(t, time.Minute)
	lc := leader.Client()
	confirmed := func() (uint64, uint64) {
		v := raftCounters(t, ctx, lc, "raft_read_confirm_rounds", "raft_read_confirm_fallbacks")
		return v[0], v[1]
	}
	// Every read sees the write acknowledged before it, on the leader and,
	// through the leader's read index, on a follower.
	check := func(round int) {
		t.Helper()
		for i := range 20 {
			v := strconv.Itoa(round*100 + i)
			if err := lc.Set(ctx, "k", v, 0).Err(); err != nil {
				t.Fatalf("SET: %v", err)
			}
			for _, n := range c.Nodes {
				if !n.Running() {
					continue
				}
				if got, err := n.Client().Get(ctx, "k").Result(); err != nil || got != v {
					t.Fatalf("GET on %s after SET %s = %q, %v", n.Cfg.ID, v, got, err)
				}
			}
		}
	}
	// The first rounds dial the followers; they fall back meanwhile.
	testcluster.Eventually(t, 10*time.Second, func() error {
		check(0)
		if fast, _ := confirmed(); fast == 0 {
			return errors.New("no read confirmed by the followers yet")
		}
		return nil
	})
	byFollower := func() uint64 { return raftCounters(t, ctx, lc, "raft_read_confirm_by_follower")[0] }
	fast0, slow0 := confirmed()
	by0 := byFollower()
	check(1)
	fast1, slow1 := confirmed()
	if fast1-fast0 < 20 || slow1 != slow0 {
		t.Fatalf("60 linearizable reads: %d confirmed rounds, %d fallbacks; want at least 20 and none", fast1-fast0, slow1-slow0)
	}
	// The followers' 40 reads: each follower and the leader are a quorum of
	// three, so their read-index requests need no round of their own.
	if by := byFollower() - by0; by < 20 {
		t.Fatalf("%d of the followers' 40 read indexes answered without a round; want at least 20", by)
	}

	// Kill one follower: the other answers (after one round's delay).
	c.Followers()[0].Kill()
	check(2)
	fast2, _ := confirmed()
	if fast2-fast1 < 20 {
		t.Fatalf("with one follower down, %d of 40 reads confirmed by the other", fast2-fast1)
	}
}
