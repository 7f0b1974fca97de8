package cluster

import (
	"io"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

func TestForwardClampedCapsCommitAtCoveredEntries(t *testing.T) {
	in := make(chan raft.RPC)
	out := make(chan raft.RPC)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { forwardClamped(in, out, stop); close(done) }()

	cases := []struct {
		name       string
		req        raft.AppendEntriesRequest
		wantCommit uint64
	}{
		// The follower may hold a stale entry 3 from an older term: a request
		// that only vouches for 1..2 must not let it commit 3.
		{"no entries", raft.AppendEntriesRequest{Term: 2, PrevLogEntry: 2, PrevLogTerm: 1, LeaderCommitIndex: 3}, 2},
		{"entries short of commit", raft.AppendEntriesRequest{Term: 2, PrevLogEntry: 2, PrevLogTerm: 1,
			Entries: []*raft.Log{{Index: 3, Term: 2}}, LeaderCommitIndex: 7}, 3},
		{"commit within entries", raft.AppendEntriesRequest{Term: 2, PrevLogEntry: 2, PrevLogTerm: 1,
			Entries: []*raft.Log{{Index: 3, Term: 2}, {Index: 4, Term: 2}}, LeaderCommitIndex: 3}, 3},
		{"heartbeat", raft.AppendEntriesRequest{Term: 2}, 0},
	}
	for _, tc := range cases {
		req := tc.req
		in <- raft.RPC{Command: &req}
		select {
		case got := <-out:
			if c := got.Command.(*raft.AppendEntriesRequest).LeaderCommitIndex; c != tc.wantCommit {
				t.Errorf("%s: commit index %d, want %d", tc.name, c, tc.wantCommit)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: not forwarded", tc.name)
		}
	}
	// Other RPCs pass through untouched.
	vote := &raft.RequestVoteRequest{Term: 9}
	in <- raft.RPC{Command: vote}
	if got := <-out; got.Command != vote {
		t.Fatalf("vote request changed: %#v", got.Command)
	}
	close(stop)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("forwarder did not stop")
	}
}

type nopFSM struct{}

func (nopFSM) Apply(*raft.Log) interface{}         { return nil }
func (nopFSM) Snapshot() (raft.FSMSnapshot, error) { return nil, nil }
func (nopFSM) Restore(rc io.ReadCloser) error      { return rc.Close() }

// A real Raft follower holding a stale entry 3 from term 1 receives, from a
// term-2 leader, an AppendEntries that matches entries 1..2 only but carries
// commit index 3. Without the clamp hashicorp/raft commits (and applies) the
// stale entry; with it the follower's commit index stops at 2.
func TestFollowerDoesNotCommitStaleSuffix(t *testing.T) {
	logger := hclog.NewNullLogger()
	ftrans, err := raft.NewTCPTransportWithLogger("127.0.0.1:0", nil, 2, time.Second, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer ftrans.Close()
	ltrans, err := raft.NewTCPTransportWithLogger("127.0.0.1:0", nil, 2, time.Second, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer ltrans.Close()

	store := raft.NewInmemStore()
	conf := raft.Configuration{Servers: []raft.Server{
		{Suffrage: raft.Voter, ID: "f", Address: ftrans.LocalAddr()},
		{Suffrage: raft.Voter, ID: "l", Address: ltrans.LocalAddr()},
	}}
	if err := store.StoreLogs([]*raft.Log{
		{Index: 1, Term: 1, Type: raft.LogConfiguration, Data: raft.EncodeConfiguration(conf)},
		{Index: 2, Term: 1, Type: raft.LogCommand, Data: []byte("committed")},
		{Index: 3, Term: 1, Type: raft.LogCommand, Data: []byte("stale")},
	}); err != nil {
		t.Fatal(err)
	}
	if err := store.SetUint64([]byte("CurrentTerm"), 1); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	cfg := raft.DefaultConfig()
	cfg.LocalID = "f"
	cfg.Logger = logger
	cfg.HeartbeatTimeout, cfg.ElectionTimeout = 10*time.Second, 10*time.Second
	cfg.LeaderLeaseTimeout = time.Second
	r, err := raft.NewRaft(cfg, nopFSM{}, store, store, raft.NewInmemSnapshotStore(), newCommitClampTransport(ftrans, stop))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Shutdown()

	req := raft.AppendEntriesRequest{
		RPCHeader:    raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("l"), Addr: []byte(ltrans.LocalAddr())},
		Term:         2,
		PrevLogEntry: 2, PrevLogTerm: 1,
		LeaderCommitIndex: 3, // the leader's own entry 3 (term 2) is committed; the follower's is not that entry
	}
	var resp raft.AppendEntriesResponse
	if err := ltrans.AppendEntries("f", ftrans.LocalAddr(), &req, &resp); err != nil {
		t.Fatal(err)
	}
	if !resp.Success {
		t.Fatalf("append rejected: %+v", resp)
	}
	if c := r.CommitIndex(); c != 2 {
		t.Fatalf("follower commit index %d after a request vouching for entries up to 2; want 2 (entry 3 is stale)", c)
	}
}
