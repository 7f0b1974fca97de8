// Package cluster owns the Raft node: the log (cluster/raftlog) and stable
// store (raft-boltdb v2), the snapshot store, the TCP transport (whose port
// also carries the leader's read confirmations and followers' read-index
// requests: confirm.go, readindex.go), bootstrap, membership changes, leader
// tracking with replicated node metadata, write proposal (locally on the
// leader, grouped into Raft entries: batcher.go; relayed to the leader from a
// follower, concurrent writes in one call: relay.go), consistent reads
// (ReadIndex, lease, stale) and the leader's background sweep of expired
// keys. It knows nothing of RESP or HTTP; the relay to the leader is an
// interface the rpc package implements.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/riot-kv/riot-redis/cluster/raftlog"
	"github.com/riot-kv/riot-redis/fsm"
)

// Defaults for Config fields left zero.
const (
	DefaultHeartbeatTimeout   = 1000 * time.Millisecond
	DefaultElectionTimeout    = 1000 * time.Millisecond
	DefaultLeaderLeaseTimeout = 500 * time.Millisecond
	DefaultCommitTimeout      = 5 * time.Millisecond
	DefaultSnapshotThreshold  = 16384
	DefaultSnapshotInterval   = 2 * time.Minute
	DefaultTrailingLogs       = 10240
	DefaultLeaderWait         = 3 * time.Second
	DefaultShutdownTransfer   = 5 * time.Second

	// maxAppendEntries caps the entries sent in one AppendEntries RPC and the
	// entries the leader takes from the apply channel for one log write. With
	// BatchApplyCh every client write that arrives while the previous batch is
	// being fsynced joins the next batch, so concurrent writers share one
	// raft-boltdb commit (two fdatasyncs) and one engine batch. 1024 is the
	// library's hard maximum; larger batches only add latency once the disk is
	// saturated.
	maxAppendEntries = 1024
	// logCacheEntries and logCacheBytes bound the recent entries kept in
	// memory so replication to followers does not read them back from disk
	// (logCache); an entry is a batch of up to 4 MiB.
	logCacheEntries = 4096
	logCacheBytes   = 32 << 20
	// snapshotsRetained is the number of snapshots kept on disk.
	snapshotsRetained = 2
	// transportPool is the number of pooled TCP connections per peer.
	transportPool = 5
	// transportTimeout bounds one transport I/O operation.
	transportTimeout = 10 * time.Second
	// waitTimeout bounds a read or write that waits (ReadIndex, apply, a
	// relay to the leader) when the caller's context has no deadline.
	waitTimeout = 10 * time.Second
)

// Relay sends work to another node, normally the leader, addressed by its gRPC
// address. The rpc package implements it. Commands and results travel encoded.
type Relay interface {
	Propose(ctx context.Context, addr string, cmd []byte) ([]byte, error)
	ReadIndex(ctx context.Context, addr string) (uint64, error)
	Join(ctx context.Context, addr string, m Member) error
	Remove(ctx context.Context, addr string, id string) error
	Transfer(ctx context.Context, addr string, id string) error
}

// Config configures a Node.
type Config struct {
	// ID is the stable server ID (default: RaftAddr).
	ID string
	// Dir holds the Raft log, stable store and snapshots.
	Dir string
	// RaftAddr is the address the Raft transport binds to and advertises. It
	// must be routable (not 0.0.0.0).
	RaftAddr string
	// Addresses advertised in node metadata.
	RESPAddr, RPCAddr, HTTPAddr string
	// Bootstrap makes a node with no Raft state form a one-node cluster.
	Bootstrap bool
	// DefaultConsistency is the read level used when a caller has no preference.
	DefaultConsistency Consistency
	// Relay reaches other nodes; required for followers to forward work.
	Relay Relay
	// Logger receives the node's and Raft's log lines.
	Logger *slog.Logger

	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration
	SnapshotThreshold  uint64
	SnapshotInterval   time.Duration
	TrailingLogs       uint64
	// LogMaxBytes bounds the Raft log in bytes as well as in entries
	// (logbound.go): 0 means DefaultLogMaxBytes, a negative value no byte
	// bound.
	LogMaxBytes int64
	// LeaderWait is how long a write or read waits for a leader to appear
	// before failing with ErrNoLeader.
	LeaderWait time.Duration
	// MinFreeDisk is the free space, in bytes, below which the node raises
	// its disk alarm and the leader refuses writes that add data (disk.go);
	// 0 turns the floor off (the node still honours other members' alarms).
	MinFreeDisk int64

	// Set by tests: how often the log bound is checked, and the Raft log's
	// segment size (0: raftlog's default).
	logBoundEvery  time.Duration
	logSegmentSize int64
}

func (c *Config) setDefaults() {
	if c.ID == "" {
		c.ID = c.RaftAddr
	}
	if c.HeartbeatTimeout == 0 {
		c.HeartbeatTimeout = DefaultHeartbeatTimeout
	}
	if c.ElectionTimeout == 0 {
		c.ElectionTimeout = DefaultElectionTimeout
	}
	if c.LeaderLeaseTimeout == 0 {
		c.LeaderLeaseTimeout = min(DefaultLeaderLeaseTimeout, c.HeartbeatTimeout)
	}
	if c.CommitTimeout == 0 {
		c.CommitTimeout = DefaultCommitTimeout
	}
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = DefaultSnapshotThreshold
	}
	if c.SnapshotInterval == 0 {
		c.SnapshotInterval = DefaultSnapshotInterval
	}
	if c.TrailingLogs == 0 {
		c.TrailingLogs = DefaultTrailingLogs
	}
	if c.LeaderWait == 0 {
		c.LeaderWait = DefaultLeaderWait
	}
	if c.LogMaxBytes == 0 {
		c.LogMaxBytes = DefaultLogMaxBytes
	}
	if c.logBoundEvery == 0 {
		c.logBoundEvery = logBoundEvery
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}

// Node is one Raft member with its state machine.
type Node struct {
	cfg      Config
	log      *slog.Logger
	fsm      *fsm.FSM
	raft     *raft.Raft
	trans    *raft.NetworkTransport
	store    *stores
	snaps    *raft.FileSnapshotStore
	hadState bool

	// readyTerm is the term in which this node, as leader, has applied an
	// entry of its own; reads on the leader wait for it.
	readyTerm atomic.Uint64
	readyMu   sync.Mutex
	readyCh   chan struct{} // closed and replaced whenever readyTerm changes

	verify      *rounds // leadership confirmation for linearizable reads (leader)
	verifyLease *rounds // Raft's heartbeat round, which renews the lease (leader)
	remoteIndex *rounds // ReadIndex from the leader (follower)

	// Leadership confirmation (confirm.go): the leader side, the voters it
	// counts, and membershipGen, odd while a membership change of this node
	// is in flight and bumped at its start and end.
	confirm       *confirmer
	voters        atomic.Pointer[voterView]
	membershipGen atomic.Uint64
	membershipMu  sync.Mutex    // one membership change at a time
	confirmFast   atomic.Uint64 // rounds shown by confirm.go
	confirmSlow   atomic.Uint64 // rounds left to Raft's VerifyLeader
	confirmPeer   atomic.Uint64 // follower read indexes that needed no round (readIndexFor)
	// logBoundSnapshots counts the snapshots the log's byte bound took.
	logBoundSnapshots atomic.Uint64
	raftRef           atomic.Pointer[raft.Raft] // n.raft, for the Raft port's servers, which start before it
	index             *indexClient              // to the leader's read-index service (follower)
	batch             *batcher
	relay             *relayBatcher // a follower's writes to the leader
	lease             atomic.Int64  // unix nanos until which the leader's lease holds
	leaseRenewing     atomic.Bool   // a background renewal round is running
	leaseRenewals     atomic.Uint64 // background renewals started
	leaseWaits        atomic.Uint64 // lease reads on the leader that found it expired

	closing   atomic.Bool
	closeOnce sync.Once
	closeErr  error
	stop      chan struct{}
	wg        sync.WaitGroup

	disk diskGuard // Config.MinFreeDisk's floor (disk.go)
}

// New opens the Raft stores under cfg.Dir, starts Raft with f as its state
// machine and, if cfg.Bootstrap is set and there is no Raft state, bootstraps
// a one-node cluster.
func New(cfg Config, f *fsm.FSM) (*Node, error) {
	cfg.setDefaults()
	if f == nil {
		return nil, errors.New("cluster: nil state machine")
	}
	advertise, err := routableAddr(cfg.RaftAddr)
	if err != nil {
		return nil, err
	}
	n := &Node{
		cfg:     cfg,
		log:     cfg.Logger,
		fsm:     f,
		readyCh: make(chan struct{}),
		stop:    make(chan struct{}),
	}
	n.verify = &rounds{start: n.confirmLeadership}
	n.verifyLease = &rounds{do: n.verifyLeadership}
	n.remoteIndex = &rounds{do: n.remoteReadIndex}
	n.confirm = newConfirmer(raft.ServerID(cfg.ID), transportTimeout)
	n.index = &indexClient{dialTimeout: transportTimeout, self: raft.ServerID(cfg.ID), term: n.localTerm}
	n.batch = newBatcher(n)
	n.relay = newRelayBatcher(n.relayCall)

	raftDir := filepath.Join(cfg.Dir, "raft")
	if err := os.MkdirAll(raftDir, 0o755); err != nil {
		return nil, fmt.Errorf("cluster: create raft dir: %w", err)
	}
	hlog := newHCLogger(cfg.Logger)
	n.store, err = openStores(raftDir, cfg.logSegmentSize)
	if err != nil {
		return nil, err
	}
	cache := newLogCache(n.store.log, logCacheEntries, logCacheBytes)
	n.snaps, err = raft.NewFileSnapshotStoreWithLogger(raftDir, snapshotsRetained, hlog.Named("snapshot"))
	if err != nil {
		n.store.close()
		return nil, fmt.Errorf("cluster: open snapshot store: %w", err)
	}
	n.hadState, err = raft.HasExistingState(cache, n.store.stable, n.snaps)
	if err != nil {
		n.store.close()
		return nil, fmt.Errorf("cluster: inspect raft state: %w", err)
	}
	stream, err := listenMux(cfg.RaftAddr, advertise, map[byte]func(net.Conn){
		confirmMagic:     func(c net.Conn) { serveConfirm(c, raft.ServerID(cfg.ID), n.localTerm) },
		readIndexMagic:   func(c net.Conn) { serveReadIndex(c, false, n.readIndexFor, cfg.LeaderWait) },
		readIndexIDMagic: func(c net.Conn) { serveReadIndex(c, true, n.readIndexFor, cfg.LeaderWait) },
	})
	if err != nil {
		n.store.close()
		return nil, fmt.Errorf("cluster: raft transport on %s: %w", cfg.RaftAddr, err)
	}
	n.trans = raft.NewNetworkTransportWithLogger(stream, transportPool, transportTimeout, hlog.Named("transport"))

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.ID)
	rc.Logger = hlog
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.LeaderLeaseTimeout
	rc.CommitTimeout = cfg.CommitTimeout
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.SnapshotInterval = cfg.SnapshotInterval
	rc.TrailingLogs = cfg.TrailingLogs
	// A leader that removes itself steps down instead of shutting Raft down,
	// so CLUSTER JOIN can add the still-running node back (a removed node
	// outside the configuration starts no elections).
	rc.ShutdownOnRemove = false
	// Throughput: see maxAppendEntries. BatchApplyCh lets the leader take up
	// to MaxAppendEntries queued proposals in one log write (group commit).
	rc.MaxAppendEntries = maxAppendEntries
	rc.BatchApplyCh = true
	// Raft reports some replication metrics twice, once with the peer in a
	// label and once (legacy) with the peer in the name; the labelled ones
	// are enough, and each report costs a go-metrics key lookup on every
	// AppendEntries answer and heartbeat.
	rc.NoLegacyTelemetry = true
	// The engine is durable and records the applied index atomically with the
	// data, so a restart resumes from the engine instead of re-reading the
	// whole snapshot: restart time does not grow with the data size. Entries
	// Raft replays at or below the engine's index are skipped by the fsm. If
	// the engine is behind the newest snapshot (a crash during snapshot
	// install, or the in-memory engine), Raft restores the snapshot first.
	rc.NoSnapshotRestoreOnStart = true
	if snaps, err := n.snaps.List(); err == nil && len(snaps) > 0 && f.AppliedIndex() < snaps[0].Index {
		rc.NoSnapshotRestoreOnStart = false
		n.log.Info("engine behind newest snapshot; restoring it", "engine_index", f.AppliedIndex(), "snapshot_index", snaps[0].Index)
	}

	if testHookBeforeRaft != nil {
		testHookBeforeRaft()
	}
	clamp := newCommitClampTransport(n.trans, n.store.log, n.stop)
	n.raft, err = raft.NewRaft(rc, durableFSM{FSM: f, log: n.store.log}, cache, n.store.stable, n.snaps, clamp)
	if err != nil {
		close(n.stop)
		n.trans.Close()
		n.store.close()
		return nil, fmt.Errorf("cluster: start raft: %w", err)
	}
	n.raftRef.Store(n.raft)
	clamp.setRaft(n.raft)
	if cfg.Bootstrap && !n.hadState {
		bf := n.raft.BootstrapCluster(raft.Configuration{Servers: []raft.Server{{
			Suffrage: raft.Voter, ID: rc.LocalID, Address: n.trans.LocalAddr(),
		}}})
		if err := bf.Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
			n.raft.Shutdown()
			n.trans.Close()
			n.store.close()
			return nil, fmt.Errorf("cluster: bootstrap: %w", err)
		}
		n.log.Info("bootstrapped a new one-node cluster", "id", cfg.ID, "raft_addr", cfg.RaftAddr)
	}
	n.wg.Add(2)
	go n.watchLeadership()
	go n.batch.run()
	n.wg.Add(1)
	go n.expiryLoop()
	n.checkDisk() // before the first write
	n.wg.Add(1)
	go n.watchDisk(diskCheckEvery)
	if cfg.LogMaxBytes > 0 {
		n.wg.Add(1)
		go n.boundLog(cfg.logBoundEvery)
	}
	return n, nil
}

// testHookBeforeRaft, when set by a test, runs in New after the Raft port
// listens and before Raft starts.
var testHookBeforeRaft func()

// routableAddr resolves addr and rejects unspecified hosts, which other nodes
// could not dial.
func routableAddr(addr string) (*net.TCPAddr, error) {
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cluster: raft address %q: %w", addr, err)
	}
	if ta.IP == nil || ta.IP.IsUnspecified() {
		return nil, fmt.Errorf("cluster: raft address %q is not routable; use an address other nodes can reach", addr)
	}
	return ta, nil
}

// ID returns this node's server ID.
func (n *Node) ID() string { return n.cfg.ID }

// HadState reports whether Raft state existed on disk when the node started.
// A node with state ignores --join: it is already a member.
func (n *Node) HadState() bool { return n.hadState }

// FSM returns the node's state machine (for local reads and introspection).
func (n *Node) FSM() *fsm.FSM { return n.fsm }

// DefaultConsistency is the server-wide default read level.
func (n *Node) DefaultConsistency() Consistency { return n.cfg.DefaultConsistency }

// Self returns this node's own member description.
func (n *Node) Self() Member {
	return Member{
		ID: n.cfg.ID, RaftAddr: string(n.trans.LocalAddr()), RESPAddr: n.cfg.RESPAddr,
		RPCAddr: n.cfg.RPCAddr, HTTPAddr: n.cfg.HTTPAddr, Voter: true, Role: n.Role(),
	}
}

func (n *Node) selfMeta() fsm.NodeMeta {
	return fsm.NodeMeta{
		ID: n.cfg.ID, RaftAddr: string(n.trans.LocalAddr()), RESPAddr: n.cfg.RESPAddr,
		RPCAddr: n.cfg.RPCAddr, HTTPAddr: n.cfg.HTTPAddr,
	}
}

// localTerm is this node's current Raft term (0 before Raft starts), the
// answer to a leadership confirmation.
func (n *Node) localTerm() uint64 {
	if r := n.raftRef.Load(); r != nil {
		return r.CurrentTerm()
	}
	return 0
}

// ConfirmRounds returns how many leadership confirmation rounds for reads
// confirm.go has shown and how many fell back to Raft's heartbeat round.
func (n *Node) ConfirmRounds() (fast, fallback uint64) {
	return n.confirmFast.Load(), n.confirmSlow.Load()
}

// Role returns this node's Raft role.
func (n *Node) Role() Role {
	switch n.raft.State() {
	case raft.Leader:
		return RoleLeader
	case raft.Candidate:
		return RoleCandidate
	case raft.Shutdown:
		return RoleShutdown
	}
	return RoleFollower
}

// IsLeader reports whether this node is the leader.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// Leader returns the current leader as far as this node knows.
func (n *Node) Leader() (Member, bool) {
	addr, id := n.raft.LeaderWithID()
	if id == "" {
		return Member{}, false
	}
	m := Member{ID: string(id), RaftAddr: string(addr), Voter: true, Role: RoleLeader}
	if meta, ok, err := n.fsm.Node(string(id)); err == nil && ok {
		m.RESPAddr, m.RPCAddr, m.HTTPAddr = meta.RESPAddr, meta.RPCAddr, meta.HTTPAddr
	}
	return m, true
}

// leaderRPC returns the leader's gRPC address, or ErrNoLeader.
func (n *Node) leaderRPC() (string, error) {
	m, ok := n.Leader()
	if !ok || m.RPCAddr == "" {
		return "", ErrNoLeader
	}
	return m.RPCAddr, nil
}

// Members lists every server in the latest Raft configuration with its
// replicated metadata.
func (n *Node) Members(ctx context.Context) ([]Member, error) {
	cf := n.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return nil, translateRaftErr(err, false)
	}
	_, leaderID := n.raft.LeaderWithID()
	servers := cf.Configuration().Servers
	out := make([]Member, 0, len(servers))
	for _, s := range servers {
		m := Member{ID: string(s.ID), RaftAddr: string(s.Address), Voter: s.Suffrage == raft.Voter, Role: RoleFollower}
		if s.ID == leaderID {
			m.Role = RoleLeader
		}
		if meta, ok, err := n.fsm.Node(string(s.ID)); err == nil && ok {
			m.RESPAddr, m.RPCAddr, m.HTTPAddr = meta.RESPAddr, meta.RPCAddr, meta.HTTPAddr
		}
		out = append(out, m)
	}
	return out, nil
}

// Stats returns Raft's statistics plus the fsm's applied index, the
// leadership confirmation rounds (ConfirmRounds), the lease renewals:
// started in the background, and waited for by reads that found the lease
// expired, and the writes this node relayed to a leader and the calls that
// carried them.
func (n *Node) Stats() map[string]string {
	s := n.raft.Stats()
	s["fsm_applied_index"] = fmt.Sprint(n.fsm.AppliedIndex())
	s["id"] = n.cfg.ID
	fast, slow := n.ConfirmRounds()
	s["read_confirm_rounds"] = fmt.Sprint(fast)
	s["read_confirm_fallbacks"] = fmt.Sprint(slow)
	s["read_confirm_by_follower"] = fmt.Sprint(n.confirmPeer.Load())
	s["read_lease_renewals"] = fmt.Sprint(n.leaseRenewals.Load())
	s["read_lease_waits"] = fmt.Sprint(n.leaseWaits.Load())
	s["relayed_writes"] = fmt.Sprint(n.relay.writes.Load())
	s["relay_calls"] = fmt.Sprint(n.relay.calls.Load())
	s["log_bytes"] = fmt.Sprint(n.store.log.Bytes())
	s["log_bound_snapshots"] = fmt.Sprint(n.logBoundSnapshots.Load())
	if n.cfg.MinFreeDisk > 0 {
		free, low := n.DiskFree()
		s["disk_free_bytes"] = fmt.Sprint(free)
		s["disk_min_free_bytes"] = fmt.Sprint(n.cfg.MinFreeDisk)
		s["disk_low"] = fmt.Sprint(b2i(low))
	}
	s["disk_alarms"] = strings.Join(n.DiskAlarms(), ",")
	return s
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// LogSyncStats describes the fdatasync calls that made this node's Raft
// log entries durable: each write waits for the leader's and a follower's.
func (n *Node) LogSyncStats() raftlog.SyncStats { return n.store.log.SyncStats() }

// CommitIndex, Term, LastIndex expose Raft counters for introspection.
func (n *Node) CommitIndex() uint64 { return n.raft.CommitIndex() }

// Term returns the current Raft term.
func (n *Node) Term() uint64 { return n.raft.CurrentTerm() }

// WaitForLeader blocks until some leader is known or the timeout passes.
func (n *Node) WaitForLeader(timeout time.Duration) (Member, error) {
	deadline := time.Now().Add(timeout)
	for {
		if m, ok := n.Leader(); ok {
			return m, nil
		}
		if time.Now().After(deadline) {
			return Member{}, ErrNoLeader
		}
		select {
		case <-n.stop:
			return Member{}, ErrClosed
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Snapshot asks Raft to take a snapshot now (and compact its log).
func (n *Node) Snapshot() error {
	err := n.raft.Snapshot().Error()
	if errors.Is(err, raft.ErrNothingNewToSnapshot) {
		return nil
	}
	return err
}

// LastSnapshot returns when the newest snapshot in this node's snapshot
// store was taken (by this node, or by the leader that sent it), and its
// index; ok is false when there is none. The snapshot store names each
// snapshot term-index-milliseconds.
func (n *Node) LastSnapshot() (at time.Time, index uint64, ok bool) {
	metas, err := n.snaps.List()
	if err != nil || len(metas) == 0 {
		return time.Time{}, 0, false
	}
	id := metas[0].ID // newest first
	ms, err := strconv.ParseInt(id[strings.LastIndexByte(id, '-')+1:], 10, 64)
	if err != nil {
		return time.Time{}, 0, false
	}
	return time.UnixMilli(ms), metas[0].Index, true
}

// watchLeadership reacts to leadership changes: a new leader proposes a no-op
// so it learns when an entry of its own term has applied (only then is its
// commit index current and reads allowed), and records its own metadata.
func (n *Node) watchLeadership() {
	defer n.wg.Done()
	ch := n.raft.LeaderCh()
	for {
		select {
		case <-n.stop:
			return
		case isLeader := <-ch:
			if !isLeader {
				n.lease.Store(0)
				continue
			}
			n.wg.Add(1)
			go n.onLeader(n.raft.CurrentTerm())
		}
	}
}

func (n *Node) onLeader(term uint64) {
	defer n.wg.Done()
	for attempt := 0; ; attempt++ {
		if n.closing.Load() || n.raft.State() != raft.Leader || n.raft.CurrentTerm() != term {
			return
		}
		_, err := n.applyLocal(fsm.NewNoop(), n.cfg.LeaderWait)
		if err == nil {
			break
		}
		n.log.Warn("leader no-op failed; retrying", "term", term, "err", err)
		select {
		case <-n.stop:
			return
		case <-time.After(backoff(attempt)):
		}
	}
	if n.raft.CurrentTerm() != term {
		return
	}
	n.setReadyTerm(term)
	n.log.Info("leader ready", "id", n.cfg.ID, "term", term)
	// Record or refresh this node's own addresses in the replicated metadata.
	want := n.selfMeta()
	if have, ok, err := n.fsm.Node(want.ID); err == nil && ok && have == want {
		return
	}
	if _, err := n.applyLocal(fsm.NewSetNode(want), n.cfg.LeaderWait); err != nil {
		n.log.Warn("recording own metadata failed", "err", err)
	}
}

func (n *Node) setReadyTerm(term uint64) {
	n.readyMu.Lock()
	n.readyTerm.Store(term)
	close(n.readyCh)
	n.readyCh = make(chan struct{})
	n.readyMu.Unlock()
}

// waitReady waits until this node leads and has applied an entry of its
// current term.
// isReady reports, without waiting, whether this node leads and has applied
// an entry of its own term (see waitReady).
func (n *Node) isReady() bool {
	return n.raft.State() == raft.Leader && n.readyTerm.Load() == n.raft.CurrentTerm()
}

func (n *Node) waitReady(ctx context.Context) error {
	for {
		if n.raft.State() != raft.Leader {
			return ErrNotLeader
		}
		n.readyMu.Lock()
		ready := n.readyTerm.Load() == n.raft.CurrentTerm()
		ch := n.readyCh
		n.readyMu.Unlock()
		if ready {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ErrNotReady
		case <-n.stop:
			return ErrClosed
		}
	}
}

func backoff(attempt int) time.Duration {
	d := 20 * time.Millisecond << min(attempt, 6)
	return min(d, time.Second)
}

// Close shuts the node down. A leader with other voters first hands
// leadership over so the cluster does not wait for an election timeout.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		n.closing.Store(true)
		if n.raft.State() == raft.Leader && n.otherVoters() > 0 {
			f := n.raft.LeadershipTransfer()
			done := make(chan error, 1)
			go func() { done <- f.Error() }()
			select {
			case err := <-done:
				if err != nil {
					n.log.Warn("leadership transfer on shutdown failed", "err", err)
				} else {
					n.log.Info("leadership transferred on shutdown")
				}
			case <-time.After(DefaultShutdownTransfer):
				n.log.Warn("leadership transfer on shutdown timed out")
			}
		}
		n.closeErr = n.shutdown()
	})
	return n.closeErr
}

// Kill stops the node abruptly, as a crash would: no leadership transfer.
// Tests use it to simulate a hard stop of an in-process node.
func (n *Node) Kill() error {
	n.closeOnce.Do(func() {
		n.closing.Store(true)
		n.closeErr = n.shutdown()
	})
	return n.closeErr
}

func (n *Node) shutdown() error {
	close(n.stop)
	var errs []error
	if err := n.raft.Shutdown().Error(); err != nil {
		errs = append(errs, fmt.Errorf("cluster: raft shutdown: %w", err))
	}
	// Raft's goroutines have all returned: what it has not answered, it
	// never will.
	n.batch.abandon()
	n.wg.Wait()
	n.confirm.close()
	n.index.close()
	if err := n.trans.Close(); err != nil {
		errs = append(errs, fmt.Errorf("cluster: transport close: %w", err))
	}
	if err := n.store.close(); err != nil {
		errs = append(errs, fmt.Errorf("cluster: raft log close: %w", err))
	}
	return errors.Join(errs...)
}

func (n *Node) otherVoters() int {
	cf := n.raft.GetConfiguration()
	if cf.Error() != nil {
		return 0
	}
	c := 0
	for _, s := range cf.Configuration().Servers {
		if s.Suffrage == raft.Voter && string(s.ID) != n.cfg.ID {
			c++
		}
	}
	return c
}

// newHCLogger adapts slog to the hclog interface Raft wants: Raft's lines are
// formatted by hclog and handed to slog as messages.
func newHCLogger(l *slog.Logger) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:   "raft",
		Level:  hclog.Info,
		Output: slogWriter{l},
	})
}

type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	line := strings.TrimRight(string(p), "\n")
	switch {
	case strings.Contains(line, "[ERROR]"):
		w.l.Error(line)
	case strings.Contains(line, "[WARN]"):
		w.l.Warn(line)
	default:
		w.l.Info(line)
	}
	return len(p), nil
}
