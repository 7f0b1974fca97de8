package cluster

import (
	"bytes"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/riot-kv/riot-redis/cluster/raftlog"
)

// recordingFSM counts restores and remembers the last applied index.
type recordingFSM struct {
	restores atomic.Int64
	applied  atomic.Uint64
}

func (f *recordingFSM) Apply(l *raft.Log) any {
	f.applied.Store(l.Index)
	return nil
}
func (f *recordingFSM) Snapshot() (raft.FSMSnapshot, error) { return nil, nil }
func (f *recordingFSM) Restore(rc io.ReadCloser) error {
	f.restores.Add(1)
	_, err := io.Copy(io.Discard, rc)
	rc.Close()
	return err
}

// snapshotFollower is a real Raft follower in term 1 on the project's Raft
// log, which holds entries 1..10 of term 1 (entry 1: the configuration of
// the follower "f" and the leader "l"), and the leader's transport to it.
type snapshotFollower struct {
	r      *raft.Raft
	fsm    *recordingFSM
	log    *raftlog.Log
	ltrans *raft.NetworkTransport
	faddr  raft.ServerAddress
	conf   raft.Configuration
}

func newSnapshotFollower(t *testing.T) *snapshotFollower {
	t.Helper()
	logger := hclog.NewNullLogger()
	ftrans, err := raft.NewTCPTransportWithLogger("127.0.0.1:0", nil, 2, 5*time.Second, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ftrans.Close() })
	ltrans, err := raft.NewTCPTransportWithLogger("127.0.0.1:0", nil, 2, 5*time.Second, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ltrans.Close() })
	conf := raft.Configuration{Servers: []raft.Server{
		{Suffrage: raft.Voter, ID: "f", Address: ftrans.LocalAddr()},
		{Suffrage: raft.Voter, ID: "l", Address: ltrans.LocalAddr()},
	}}
	log, err := raftlog.Open(t.TempDir(), raftlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	entries := []*raft.Log{{Index: 1, Term: 1, Type: raft.LogConfiguration, Data: raft.EncodeConfiguration(conf)}}
	for i := uint64(2); i <= 10; i++ {
		entries = append(entries, &raft.Log{Index: i, Term: 1, Type: raft.LogCommand, Data: []byte("v")})
	}
	if err := log.StoreLogs(entries); err != nil {
		t.Fatal(err)
	}
	stable := raft.NewInmemStore()
	if err := stable.SetUint64([]byte("CurrentTerm"), 1); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	clamp := newCommitClampTransport(ftrans, log, stop)
	cfg := raft.DefaultConfig()
	cfg.LocalID = "f"
	cfg.Logger = logger
	cfg.HeartbeatTimeout, cfg.ElectionTimeout = 10*time.Second, 10*time.Second
	cfg.LeaderLeaseTimeout = time.Second
	fsm := &recordingFSM{}
	r, err := raft.NewRaft(cfg, fsm, log, stable, raft.NewInmemSnapshotStore(), clamp)
	if err != nil {
		t.Fatal(err)
	}
	clamp.setRaft(r)
	t.Cleanup(func() { r.Shutdown().Error() })
	return &snapshotFollower{r: r, fsm: fsm, log: log, ltrans: ltrans, faddr: ftrans.LocalAddr(), conf: conf}
}

// install sends the follower a term-1 snapshot ending at entry index (term
// 1); it must succeed, and the follower's state machine must have been
// restored restores times since it started.
func (s *snapshotFollower) install(t *testing.T, index uint64, restores int64) {
	t.Helper()
	data := bytes.Repeat([]byte("s"), 4096)
	req := raft.InstallSnapshotRequest{
		RPCHeader:          raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("l"), Addr: []byte(s.ltrans.LocalAddr())},
		SnapshotVersion:    raft.SnapshotVersionMax,
		Term:               1,
		LastLogIndex:       index,
		LastLogTerm:        1,
		Configuration:      raft.EncodeConfiguration(s.conf),
		ConfigurationIndex: 1,
		Size:               int64(len(data)),
	}
	var resp raft.InstallSnapshotResponse
	if err := s.ltrans.InstallSnapshot("f", s.faddr, &req, &resp, bytes.NewReader(data)); err != nil {
		t.Fatalf("InstallSnapshot up to %d: %v", index, err)
	}
	if !resp.Success {
		t.Fatalf("InstallSnapshot up to %d: %+v", index, resp)
	}
	if n := s.fsm.restores.Load(); n != restores {
		t.Fatalf("after a snapshot up to %d: %d restores, want %d", index, n, restores)
	}
}

// append sends entries from..to (term 1) after prev, with commit index to;
// they must be accepted and applied.
func (s *snapshotFollower) append(t *testing.T, prev, from, to uint64) {
	t.Helper()
	req := raft.AppendEntriesRequest{
		RPCHeader:    raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("l"), Addr: []byte(s.ltrans.LocalAddr())},
		Term:         1,
		PrevLogEntry: prev, PrevLogTerm: 1,
		LeaderCommitIndex: to,
	}
	for i := from; i <= to; i++ {
		req.Entries = append(req.Entries, &raft.Log{Index: i, Term: 1, Type: raft.LogCommand, Data: []byte("w")})
	}
	var resp raft.AppendEntriesResponse
	if err := s.ltrans.AppendEntries("f", s.faddr, &req, &resp); err != nil {
		t.Fatalf("AppendEntries %d..%d: %v", from, to, err)
	}
	if !resp.Success {
		t.Fatalf("AppendEntries %d..%d after %d: %+v", from, to, prev, resp)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.fsm.applied.Load() < to {
		if time.Now().After(deadline) {
			t.Fatalf("follower applied %d, want %d", s.fsm.applied.Load(), to)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A follower whose log already holds a snapshot's last entry (a leader sent
// the same snapshot again after the follower had installed it and appended
// entries after it) answers it without restoring and keeps its whole log;
// an AppendEntries that follows its last entry then commits and applies.
// Before the fix, hashicorp/raft restored the snapshot and deleted the whole
// log (entries 6..10 included) while still taking entry 10 for its last: the
// log check below failed, and the AppendEntries made Raft panic with "log
// not found" applying entry 6.
func TestFollowerKeepsLogCoveringSnapshot(t *testing.T) {
	s := newSnapshotFollower(t)
	s.install(t, 5, 0)
	first, _ := s.log.FirstIndex()
	last, _ := s.log.LastIndex()
	if first != 1 || last != 10 {
		t.Fatalf("log after a covered snapshot holds %d..%d, want 1..10", first, last)
	}
	var e raft.Log
	if err := s.log.GetLog(6, &e); err != nil {
		t.Fatalf("entry 6 after a covered snapshot: %v", err)
	}
	s.append(t, 10, 11, 11)
}

// A snapshot beyond the follower's log (the usual case: the follower fell
// behind a compacted leader) still goes to Raft, which restores it; entries
// after it then apply.
func TestFollowerInstallsSnapshotBeyondLog(t *testing.T) {
	s := newSnapshotFollower(t)
	s.install(t, 20, 1)
	s.append(t, 20, 21, 22)
}

// After installing a snapshot up to 20 and appending 21..22, a follower's log
// starts at 21. Requests whose previous entry is below that (20, repeated
// after a lost answer, or 15, from a leader that stepped back) are accepted:
// hashicorp/raft alone rejected them ("failed to get previous log"), and the
// leader stepped back below its own log and sent the snapshot again. That
// snapshot is covered too: answered without a restore, the log kept.
func TestFollowerAcceptsAppendsBelowItsLog(t *testing.T) {
	s := newSnapshotFollower(t)
	s.install(t, 20, 1)
	s.append(t, 20, 21, 22)
	s.append(t, 20, 21, 23) // 21..22 again, and 23
	s.append(t, 15, 16, 25) // 16..20 are in the snapshot, 21..23 in the log
	s.install(t, 20, 1)
	if first, _ := s.log.FirstIndex(); first != 21 {
		t.Fatalf("log starts at %d after a repeated snapshot, want 21", first)
	}
	if last, _ := s.log.LastIndex(); last != 25 {
		t.Fatalf("log ends at %d after a repeated snapshot, want 25", last)
	}
	s.append(t, 25, 26, 26)
}
