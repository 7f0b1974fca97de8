package cluster

import (
	"errors"
	"io"
	"sync"
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
	go func() { forwardClamped(in, out, newFakeDurable(^uint64(0)), nil, stop); close(done) }()

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
	r, err := raft.NewRaft(cfg, nopFSM{}, store, store, raft.NewInmemSnapshotStore(), newCommitClampTransport(ftrans, newFakeDurable(^uint64(0)), stop))
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

// fakeDurable is a durableLog whose durable index the test moves.
type fakeDurable struct {
	mu   sync.Mutex
	cond *sync.Cond
	d    uint64
	err  error
}

func newFakeDurable(d uint64) *fakeDurable {
	f := &fakeDurable{d: d}
	f.cond = sync.NewCond(&f.mu)
	return f
}

func (f *fakeDurable) Durable() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.d
}

func (f *fakeDurable) WaitDurable(idx uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for f.d < idx && f.err == nil {
		f.cond.Wait()
	}
	if f.d >= idx {
		return nil
	}
	return f.err
}

// Term pretends every entry has term 2.
func (f *fakeDurable) Term(idx uint64) (uint64, error) { return 2, nil }

// FirstIndex pretends the log starts at entry 1.
func (f *fakeDurable) FirstIndex() (uint64, error) { return 1, nil }

func (f *fakeDurable) set(d uint64, err error) {
	f.mu.Lock()
	f.d, f.err = d, err
	f.cond.Broadcast()
	f.mu.Unlock()
}

// A follower's successful AppendEntries answer waits until the entries are
// durable; a failed one, and a heartbeat's, go out at once.
func TestAckWaitsForDurableEntries(t *testing.T) {
	in := make(chan raft.RPC)
	out := make(chan raft.RPC)
	stop := make(chan struct{})
	defer close(stop)
	log := newFakeDurable(2)
	go forwardClamped(in, out, log, nil, stop)

	send := func(req *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) chan raft.RPCResponse {
		t.Helper()
		respCh := make(chan raft.RPCResponse, 1)
		in <- raft.RPC{Command: req, RespChan: respCh}
		got := <-out
		got.Respond(resp, nil)
		return respCh
	}
	entries := []*raft.Log{{Index: 3, Term: 2}, {Index: 4, Term: 2}}

	ok := send(&raft.AppendEntriesRequest{Term: 2, PrevLogEntry: 2, Entries: entries}, &raft.AppendEntriesResponse{Success: true})
	select {
	case <-ok:
		t.Fatal("answered before entry 4 was durable")
	case <-time.After(50 * time.Millisecond):
	}
	log.set(3, nil)
	select {
	case <-ok:
		t.Fatal("answered with entry 4 not durable")
	case <-time.After(50 * time.Millisecond):
	}
	log.set(4, nil)
	select {
	case r := <-ok:
		if r.Error != nil || !r.Response.(*raft.AppendEntriesResponse).Success {
			t.Fatalf("answer %+v", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no answer after entry 4 became durable")
	}

	fail := send(&raft.AppendEntriesRequest{Term: 2, PrevLogEntry: 4, Entries: []*raft.Log{{Index: 5, Term: 2}}}, &raft.AppendEntriesResponse{Success: false})
	select {
	case r := <-fail:
		if r.Response.(*raft.AppendEntriesResponse).Success {
			t.Fatal("failure turned into success")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a failed append was held back")
	}

	// Entries replaced by a newer leader's while the answer waited are not
	// acknowledged (the log's entry 4 has term 2, the request's term 3).
	replaced := send(&raft.AppendEntriesRequest{Term: 3, PrevLogEntry: 3, Entries: []*raft.Log{{Index: 4, Term: 3}}}, &raft.AppendEntriesResponse{Success: true})
	select {
	case r := <-replaced:
		if r.Response.(*raft.AppendEntriesResponse).Success {
			t.Fatal("acknowledged entries the log no longer holds")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no answer for replaced entries")
	}

	// A sync error is passed to the leader as an RPC error, not a success.
	bad := send(&raft.AppendEntriesRequest{Term: 2, PrevLogEntry: 4, Entries: []*raft.Log{{Index: 5, Term: 2}}}, &raft.AppendEntriesResponse{Success: true})
	diskErr := errors.New("disk failed")
	log.set(4, diskErr)
	select {
	case r := <-bad:
		if !errors.Is(r.Error, diskErr) {
			t.Fatalf("answer error %v, want the sync error", r.Error)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no answer after the sync failed")
	}
}

// A leader's outgoing commit index never passes its durable log.
func TestClampDurableCapsOutgoingCommit(t *testing.T) {
	log := newFakeDurable(5)
	for _, tc := range []struct{ commit, want uint64 }{{3, 3}, {5, 5}, {9, 5}} {
		req := raft.AppendEntriesRequest{LeaderCommitIndex: tc.commit}
		clampDurable(&req, log)
		if req.LeaderCommitIndex != tc.want {
			t.Errorf("commit %d: sent %d, want %d", tc.commit, req.LeaderCommitIndex, tc.want)
		}
	}
}

// recordingPipeline is a raft.AppendPipeline that records what it is asked
// to send; fail makes the next send fail.
type recordingPipeline struct {
	sent []raft.AppendEntriesRequest
	fail bool
}

func (r *recordingPipeline) AppendEntries(args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) (raft.AppendFuture, error) {
	if r.fail {
		r.fail = false
		return nil, errors.New("connection reset")
	}
	r.sent = append(r.sent, *args)
	return nil, nil
}
func (r *recordingPipeline) Consumer() <-chan raft.AppendFuture { return nil }
func (r *recordingPipeline) Close() error                       { return nil }

func TestPipelineHoldsBackRepeatedEmptyAppends(t *testing.T) {
	rec := &recordingPipeline{}
	p := &durablePipeline{AppendPipeline: rec, log: newFakeDurable(^uint64(0))}
	empty := func(commit uint64) *raft.AppendEntriesRequest {
		return &raft.AppendEntriesRequest{Term: 3, PrevLogEntry: 10, PrevLogTerm: 3, LeaderCommitIndex: commit}
	}
	send := func(req *raft.AppendEntriesRequest) raft.AppendFuture {
		t.Helper()
		f, err := p.AppendEntries(req, &raft.AppendEntriesResponse{})
		if err != nil {
			t.Fatalf("AppendEntries: %v", err)
		}
		return f
	}

	// The first empty request goes out; identical ones after it do not.
	send(empty(10))
	for i := 0; i < 100; i++ {
		f := send(empty(10))
		if f == nil || !errors.Is(f.Error(), errHeldBack) {
			t.Fatalf("repeat %d: future %v, want one that says it was held back", i, f)
		}
	}
	if len(rec.sent) != 1 {
		t.Fatalf("sent %d requests for one commit index, want 1", len(rec.sent))
	}

	// News goes out at once: a new commit index, a new term, entries.
	send(empty(11))
	changed := empty(11)
	changed.Term = 4
	send(changed)
	withEntries := &raft.AppendEntriesRequest{Term: 4, PrevLogEntry: 10, PrevLogTerm: 3,
		Entries: []*raft.Log{{Index: 11, Term: 4}}, LeaderCommitIndex: 11}
	send(withEntries)
	// After a request with entries, the next empty one is sent even if it
	// repeats the empty one before them.
	send(changed)
	if len(rec.sent) != 5 {
		t.Fatalf("sent %d requests, want 5: %+v", len(rec.sent), rec.sent)
	}

	// A repeat goes out again once idleResend has passed.
	p.lastAt = p.lastAt.Add(-idleResend)
	send(changed)
	if len(rec.sent) != 6 {
		t.Fatalf("repeat after idleResend not sent (%d sent)", len(rec.sent))
	}

	// A request whose send failed does not count as sent: the same request
	// again is sent.
	rec.fail = true
	if _, err := p.AppendEntries(empty(12), &raft.AppendEntriesResponse{}); err == nil {
		t.Fatal("failed send reported no error")
	}
	send(empty(12))
	if len(rec.sent) != 7 || rec.sent[6].LeaderCommitIndex != 12 {
		t.Fatalf("request after a failed send not sent: %+v", rec.sent)
	}

	// The commit index is compared after the durable clamp: requests whose
	// commit differs only above the durable index say the same thing.
	d := newFakeDurable(12)
	p.log = d
	send(empty(13))
	if len(rec.sent) != 7 {
		t.Fatalf("request whose clamped commit repeats the last was sent: %+v", rec.sent[len(rec.sent)-1])
	}
}
