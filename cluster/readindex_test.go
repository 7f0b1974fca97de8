package cluster

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// A read-index service on a real port whose answers the test picks.
func startIndexServer(t *testing.T, fn func(context.Context) (uint64, error)) raft.ServerAddress {
	t.Helper()
	anyFrom := func(ctx context.Context, _ raft.ServerID, _ uint64) (uint64, error) { return fn(ctx) }
	m, err := listenMux("127.0.0.1:0", nil, map[byte]func(net.Conn){
		readIndexMagic:   func(c net.Conn) { serveReadIndex(c, false, anyFrom, time.Second) },
		readIndexIDMagic: func(c net.Conn) { serveReadIndex(c, true, anyFrom, time.Second) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return raft.ServerAddress(m.Addr().String())
}

func TestReadIndexServiceCarriesIndexAndErrors(t *testing.T) {
	var answer atomic.Value
	type reply struct {
		idx uint64
		err error
	}
	answer.Store(reply{idx: 77})
	addr := startIndexServer(t, func(context.Context) (uint64, error) {
		r := answer.Load().(reply)
		return r.idx, r.err
	})
	c := &indexClient{dialTimeout: time.Second}
	defer c.close()
	for i := range 3 { // one connection, several requests
		idx, err, ok := c.readIndex(addr, time.Second)
		if !ok || err != nil || idx != 77 {
			t.Fatalf("request %d = %d, %v, %v; want 77, nil, true", i, idx, err, ok)
		}
	}
	for _, want := range []error{ErrNotLeader, ErrNoLeader, ErrNotReady, ErrClosed, ErrTimeout} {
		answer.Store(reply{err: want})
		if _, err, ok := c.readIndex(addr, time.Second); !ok || !errors.Is(err, want) {
			t.Fatalf("leader error %v arrived as %v (ok %v)", want, err, ok)
		}
	}
	// Other errors read as "no leader" (retried by the caller).
	answer.Store(reply{err: errors.New("disk on fire")})
	if _, err, ok := c.readIndex(addr, time.Second); !ok || !errors.Is(err, ErrNoLeader) {
		t.Fatalf("unlisted leader error arrived as %v (ok %v); want ErrNoLeader", err, ok)
	}
}

// A follower that names itself sends its ID once and its current term with
// every request; one that does not (an earlier version) sends neither.
func TestReadIndexRequestsCarryIDAndTerm(t *testing.T) {
	type got struct {
		from raft.ServerID
		term uint64
	}
	seen := make(chan got, 8)
	fn := func(_ context.Context, from raft.ServerID, term uint64) (uint64, error) {
		seen <- got{from, term}
		return 9, nil
	}
	m, err := listenMux("127.0.0.1:0", nil, map[byte]func(net.Conn){
		readIndexMagic:   func(c net.Conn) { serveReadIndex(c, false, fn, time.Second) },
		readIndexIDMagic: func(c net.Conn) { serveReadIndex(c, true, fn, time.Second) },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	addr := raft.ServerAddress(m.Addr().String())

	var term atomic.Uint64
	term.Store(4)
	c := &indexClient{dialTimeout: time.Second, self: "n2", term: term.Load}
	defer c.close()
	for _, want := range []uint64{4, 5} {
		term.Store(want)
		if idx, err, ok := c.readIndex(addr, time.Second); !ok || err != nil || idx != 9 {
			t.Fatalf("read index = %d, %v (ok %v); want 9", idx, err, ok)
		}
		if g := <-seen; g.from != "n2" || g.term != want {
			t.Fatalf("leader saw a request from %q in term %d; want n2, %d", g.from, g.term, want)
		}
	}
	old := &indexClient{dialTimeout: time.Second}
	defer old.close()
	if idx, err, ok := old.readIndex(addr, time.Second); !ok || err != nil || idx != 9 {
		t.Fatalf("read index without an ID = %d, %v (ok %v); want 9", idx, err, ok)
	}
	if g := <-seen; g.from != "" || g.term != 0 {
		t.Fatalf("a request without an ID arrived from %q in term %d", g.from, g.term)
	}
}

// Two voters are a quorum of one, two or three voters only.
func TestQuorumOfTwo(t *testing.T) {
	voters := func(ids ...raft.ServerID) []raft.Server {
		var out []raft.Server
		for _, id := range ids {
			out = append(out, raft.Server{ID: id, Suffrage: raft.Voter})
		}
		return out
	}
	cases := []struct {
		voters []raft.Server
		a, b   raft.ServerID
		want   bool
	}{
		{voters("n1", "n2", "n3"), "n1", "n2", true},
		{voters("n1", "n2"), "n1", "n2", true},
		{voters("n1", "n2", "n3"), "n1", "n1", false}, // one node twice
		{voters("n1", "n2", "n3"), "n1", "n4", false}, // not a voter
		{voters("n1", "n2", "n3", "n4"), "n1", "n2", false},
		{voters("n1", "n2", "n3", "n4", "n5"), "n1", "n2", false},
	}
	for _, tc := range cases {
		if got := quorumOfTwo(tc.voters, tc.a, tc.b); got != tc.want {
			t.Errorf("quorumOfTwo(%d voters, %s, %s) = %v; want %v", len(tc.voters), tc.a, tc.b, got, tc.want)
		}
	}
}

// A request that cannot stand for a confirmation (no ID, this node's own ID,
// another term, a server that is not a voter) gets a round, as the leader's
// own reads do.
func TestReadIndexForFallsBackToARound(t *testing.T) {
	n := startNode(t) // one voter: n1
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	term := n.raft.CurrentTerm()
	for _, tc := range []struct {
		from raft.ServerID
		term uint64
	}{{"", 0}, {"n1", term}, {"n2", term + 1}, {"n2", term}} {
		fast, _ := n.ConfirmRounds()
		if _, err := n.readIndexFor(ctx, tc.from, tc.term); err != nil {
			t.Fatalf("read index for %q in term %d: %v", tc.from, tc.term, err)
		}
		if f, _ := n.ConfirmRounds(); f != fast+1 {
			t.Errorf("request from %q in term %d ran %d rounds; want 1", tc.from, tc.term, f-fast)
		}
	}
	if got := n.confirmPeer.Load(); got != 0 {
		t.Fatalf("%d requests answered without a round on a one-voter cluster", got)
	}
}

// A leader that closes the connection (an older version) or cannot be
// reached sends the caller another way; a leader that does not answer in
// time is a timeout.
func TestReadIndexClientFailures(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	c := &indexClient{dialTimeout: time.Second}
	defer c.close()
	if _, _, ok := c.readIndex(raft.ServerAddress(ln.Addr().String()), time.Second); ok {
		t.Fatal("a connection closed at once was reported as an answer")
	}
	// Held off after the failure: no new dial at once.
	if _, _, ok := c.readIndex(raft.ServerAddress(ln.Addr().String()), time.Second); ok {
		t.Fatal("answer right after a failed connection")
	}
	// A new leader is asked at once: the hold-off was for the old one.
	good := startIndexServer(t, func(context.Context) (uint64, error) { return 5, nil })
	if idx, err, ok := c.readIndex(good, time.Second); !ok || err != nil || idx != 5 {
		t.Fatalf("new leader right after the old one failed = %d, %v (ok %v); want 5", idx, err, ok)
	}

	block := make(chan struct{})
	defer close(block)
	slow := startIndexServer(t, func(context.Context) (uint64, error) { <-block; return 1, nil })
	c2 := &indexClient{dialTimeout: time.Second}
	defer c2.close()
	if _, err, ok := c2.readIndex(slow, 100*time.Millisecond); !ok || !errors.Is(err, ErrTimeout) {
		t.Fatalf("unanswered request = %v (ok %v); want ErrTimeout", err, ok)
	}
	c2.close()
	if _, err, _ := c2.readIndex(slow, time.Second); !errors.Is(err, ErrClosed) {
		t.Fatalf("request after close = %v; want ErrClosed", err)
	}
}

// A real leader answers on its Raft port with the index ReadIndexLocal
// gives, and a leader that is not ready says so.
func TestReadIndexFromALeaderOnItsRaftPort(t *testing.T) {
	n := startNode(t)
	c := &indexClient{dialTimeout: time.Second}
	defer c.close()
	idx, err, ok := c.readIndex(n.trans.LocalAddr(), 5*time.Second)
	if !ok || err != nil {
		t.Fatalf("read index from the leader: %v (ok %v)", err, ok)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	local, err := n.ReadIndexLocal(ctx)
	if err != nil || idx == 0 || idx > local {
		t.Fatalf("read index over the Raft port %d, locally %d (%v)", idx, local, err)
	}
	n.readyTerm.Store(0) // as a leader whose own entry has not applied yet
	if _, err, ok := c.readIndex(n.trans.LocalAddr(), 5*time.Second); !ok || !errors.Is(err, ErrNotReady) {
		t.Fatalf("read index from a leader that is not ready = %v (ok %v); want ErrNotReady", err, ok)
	}
}

// A peer that keeps failing (an older version closes the connection at once)
// is dialled less and less often, at most a minute apart.
func TestRedialBacksOff(t *testing.T) {
	var failures int
	var waits []time.Duration
	for range 9 {
		waits = append(waits, time.Until(redialAt(&failures)).Round(time.Second))
	}
	want := []time.Duration{1, 2, 4, 8, 16, 32, 60, 60, 60}
	for i, w := range want {
		if waits[i] != w*time.Second {
			t.Fatalf("waits %v; want %v seconds", waits, want)
		}
	}
}

// The Raft port listens before Raft starts. A follower that still takes a
// restarting node for its leader may ask it for the read index in between
// (found by the long fault run, seed 132936457: a nil Raft dereferenced in
// waitReady). Held there, a real node answers a read-index request with
// ErrNotLeader and a confirmation request with term 0, and then starts
// normally.
func TestRaftPortBeforeRaftStarts(t *testing.T) {
	addr, f := nodeParts(t)
	held, release := make(chan struct{}), make(chan struct{})
	testHookBeforeRaft = func() { close(held); <-release }
	defer func() { testHookBeforeRaft = nil }()
	started := make(chan *Node, 1)
	go func() {
		n, err := New(Config{ID: "n1", Dir: t.TempDir(), RaftAddr: addr, Bootstrap: true}, f)
		if err != nil {
			t.Error(err)
		}
		started <- n
	}()
	<-held

	c := &indexClient{dialTimeout: time.Second, self: "n2", term: func() uint64 { return 3 }}
	defer c.close()
	if _, err, ok := c.readIndex(raft.ServerAddress(addr), time.Second); !ok || !errors.Is(err, ErrNotLeader) {
		t.Fatalf("read index before Raft started: %v (ok %v); want ErrNotLeader", err, ok)
	}
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	req := make([]byte, confirmFrame)
	req[7] = 42
	if _, err := conn.Write(append(hello(confirmMagic, "n1"), req...)); err != nil {
		t.Fatal(err)
	}
	resp := make([]byte, confirmFrame)
	if _, err := io.ReadFull(conn, resp); err != nil {
		t.Fatalf("confirmation before Raft started: %v", err)
	}
	if seq, term := binary.BigEndian.Uint64(resp[:8]), binary.BigEndian.Uint64(resp[8:]); seq != 42 || term != 0 {
		t.Fatalf("confirmation before Raft started = sequence %d, term %d; want 42, 0", seq, term)
	}

	close(release)
	n := <-started
	if n == nil {
		t.FailNow()
	}
	defer n.Kill()
	waitLeader(t, n)
	if _, err, ok := c.readIndex(raft.ServerAddress(addr), time.Second); !ok || err != nil {
		t.Fatalf("read index once Raft leads: %v (ok %v)", err, ok)
	}
}
