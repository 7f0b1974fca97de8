package cluster

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/riot-kv/riot-redis/fsm"
	"github.com/riot-kv/riot-redis/storage"
)

// fakeFollower answers confirmations on a real TCP port, through muxStream,
// with a term the test sets; silent makes it read requests and never answer.
type fakeFollower struct {
	id     raft.ServerID
	mux    *muxStream
	term   atomic.Uint64
	silent atomic.Bool
	asked  atomic.Int64 // requests received
}

func newFakeFollower(t *testing.T, id string, term uint64) *fakeFollower {
	t.Helper()
	f := &fakeFollower{id: raft.ServerID(id)}
	f.term.Store(term)
	m, err := listenMux("127.0.0.1:0", nil, map[byte]func(net.Conn){confirmMagic: f.serve})
	if err != nil {
		t.Fatal(err)
	}
	f.mux = m
	t.Cleanup(func() { m.Close() })
	return f
}

func (f *fakeFollower) serve(c net.Conn) {
	// A counting reader in front of serveConfirm.
	pr, pw := io.Pipe()
	go func() {
		// The hello (the ID the caller expects) passes through.
		var n [2]byte
		if _, err := io.ReadFull(c, n[:]); err != nil {
			pw.CloseWithError(err)
			return
		}
		id := make([]byte, binary.BigEndian.Uint16(n[:]))
		if _, err := io.ReadFull(c, id); err != nil {
			pw.CloseWithError(err)
			return
		}
		if _, err := pw.Write(append(n[:], id...)); err != nil {
			return
		}
		var b [confirmFrame]byte
		for {
			if _, err := io.ReadFull(c, b[:]); err != nil {
				pw.CloseWithError(err)
				return
			}
			f.asked.Add(1)
			if f.silent.Load() {
				continue
			}
			if _, err := pw.Write(b[:]); err != nil {
				return
			}
		}
	}()
	serveConfirm(&readerConn{Conn: c, r: pr}, f.id, f.term.Load)
}

// readerConn is a connection whose reads come from r.
type readerConn struct {
	net.Conn
	r io.Reader
}

func (c *readerConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (f *fakeFollower) server() raft.Server {
	return raft.Server{Suffrage: raft.Voter, ID: f.id, Address: raft.ServerAddress(f.mux.Addr().String())}
}

// confirm runs one round (start) and waits for it: whether a quorum of
// voters, this node included, answered term within timeout. A stop closed
// first ends the round unanswered.
func (c *confirmer) confirm(term uint64, voters []raft.Server, timeout time.Duration, stop <-chan struct{}) bool {
	res := make(chan bool, 1)
	r := c.start(term, voters, timeout, func(ok bool) { res <- ok })
	select {
	case ok := <-res:
		return ok
	case <-stop:
		c.abort(r)
		return false
	}
}

// confirmEventually runs rounds until one returns want (the first rounds
// only start the dials) or fails the test.
func confirmEventually(t *testing.T, c *confirmer, term uint64, voters []raft.Server, want bool) {
	t.Helper()
	stop := make(chan struct{})
	deadline := time.Now().Add(5 * time.Second)
	for {
		if c.confirm(term, voters, time.Second, stop) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("confirm(term %d) never returned %v", term, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestServeConfirmAnswersEachRequestWithTheTerm(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	go serveConfirm(b, "me", func() uint64 { return 42 })
	// The hello, then three requests in one write: three answers, in order.
	reqs := make([]byte, 3*confirmFrame)
	for i := range 3 {
		binary.BigEndian.PutUint64(reqs[i*confirmFrame:], uint64(100+i))
		binary.BigEndian.PutUint64(reqs[i*confirmFrame+8:], 7)
	}
	go a.Write(append(confirmHello("me")[1:], reqs...))
	br := bufio.NewReader(a)
	for i := range 3 {
		var resp [confirmFrame]byte
		if _, err := io.ReadFull(br, resp[:]); err != nil {
			t.Fatal(err)
		}
		if seq, term := binary.BigEndian.Uint64(resp[:8]), binary.BigEndian.Uint64(resp[8:]); seq != uint64(100+i) || term != 42 {
			t.Fatalf("answer %d = seq %d term %d; want seq %d term 42", i, seq, term, 100+i)
		}
	}
}

// Raft's connections pass through the listener with their first byte intact;
// confirmation connections never reach Raft; a connection that sends nothing
// holds up no other.
func TestMuxStreamRoutesByFirstByte(t *testing.T) {
	served := make(chan struct{}, 1)
	m, err := listenMux("127.0.0.1:0", nil, map[byte]func(net.Conn){confirmMagic: func(c net.Conn) {
		served <- struct{}{}
		serveConfirm(c, "n9", func() uint64 { return 9 })
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	addr := raft.ServerAddress(m.Addr().String())

	idle, err := m.Dial(addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close() // never writes

	conf, err := net.Dial("tcp", string(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer conf.Close()
	req := make([]byte, confirmFrame)
	binary.BigEndian.PutUint64(req, 5)
	binary.BigEndian.PutUint64(req[8:], 9)
	if _, err := conf.Write(append(confirmHello("n9"), req...)); err != nil {
		t.Fatal(err)
	}
	var resp [confirmFrame]byte
	if _, err := io.ReadFull(conf, resp[:]); err != nil {
		t.Fatal(err)
	}
	if binary.BigEndian.Uint64(resp[:8]) != 5 || binary.BigEndian.Uint64(resp[8:]) != 9 {
		t.Fatalf("confirmation answer %x", resp)
	}
	<-served

	rc, err := m.Dial(addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := rc.Write([]byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := m.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	select {
	case c := <-accepted:
		defer c.Close()
		got := make([]byte, 3)
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatal(err)
		}
		if got[0] != 1 || got[1] != 2 || got[2] != 3 {
			t.Fatalf("Raft connection read %v; want [1 2 3]", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Raft connection not accepted while another sends nothing")
	}

	m.Close()
	if _, err := m.Accept(); err == nil {
		t.Fatal("Accept after Close succeeded")
	}
}

func TestConfirmNeedsAQuorumAtTheTerm(t *testing.T) {
	f1 := newFakeFollower(t, "f1", 3)
	f2 := newFakeFollower(t, "f2", 3)
	self := raft.Server{Suffrage: raft.Voter, ID: "self", Address: "127.0.0.1:1"}
	voters := []raft.Server{self, f1.server(), f2.server()}
	c := newConfirmer("self", time.Second)
	defer c.close()

	confirmEventually(t, c, 3, voters, true)

	// One follower answering suffices in three voters: the other is not asked
	// (both connected now; the first is asked, the hedge does not fire).
	for range 5 {
		confirmEventually(t, c, 3, voters, true)
	}
	before1, before2 := f1.asked.Load(), f2.asked.Load()
	for range 20 {
		if !c.confirm(3, voters, time.Second, nil) {
			t.Fatal("round failed with both followers at the term")
		}
	}
	// (A round asks the second follower too only if the first is slow to
	// answer: allow some of that on a loaded machine.)
	if d1, d2 := f1.asked.Load()-before1, f2.asked.Load()-before2; d1+d2 < 20 || d1+d2 >= 30 {
		t.Fatalf("20 rounds asked %d and %d times; want about one follower per round", d1, d2)
	}

	// A follower at another term (it voted in a newer election) denies: a
	// round it answers first fails.
	f1.term.Store(4)
	f2.term.Store(4)
	if c.confirm(3, voters, time.Second, nil) {
		t.Fatal("round confirmed term 3 with every follower at term 4")
	}
	// A follower behind the term (restarted, not yet heard from the leader)
	// does not count, and the round goes on to the other.
	f1.term.Store(2)
	f2.term.Store(3)
	confirmEventually(t, c, 3, voters, true)
	f2.term.Store(2)
	if c.confirm(3, voters, 200*time.Millisecond, nil) {
		t.Fatal("round confirmed term 3 with both followers at term 2")
	}
	// One follower at the term is a quorum with the leader...
	f1.term.Store(3)
	f2.silent.Store(true)
	f2.term.Store(3)
	confirmEventually(t, c, 3, voters, true)
	// ...but not when it is silent too.
	f1.silent.Store(true)
	if c.confirm(3, voters, 200*time.Millisecond, nil) {
		t.Fatal("round confirmed with no follower answering")
	}
}

// A silent follower is asked first no longer: the round asks the other after
// the hedge delay, and later rounds go to the one that answers.
func TestConfirmAsksOthersWhenAFollowerIsSilent(t *testing.T) {
	f1 := newFakeFollower(t, "f1", 2)
	f2 := newFakeFollower(t, "f2", 2)
	voters := []raft.Server{{Suffrage: raft.Voter, ID: "self"}, f1.server(), f2.server()}
	c := newConfirmer("self", time.Second)
	defer c.close()
	confirmEventually(t, c, 2, voters, true)
	for range 3 {
		confirmEventually(t, c, 2, voters, true) // both connected
	}
	f1.silent.Store(true)
	f2.silent.Store(false)
	for range 10 {
		if !c.confirm(2, voters, time.Second, nil) {
			t.Fatal("round failed with one follower answering")
		}
	}
	// Once f1 has missed, rounds go to f2 first: f1 is asked at most a few
	// times (each miss moves it back; three in a row drop it).
	if n := f1.asked.Load(); n > int64(confirmMaxMisses)+3 {
		t.Fatalf("silent follower asked %d times in 10 rounds", n)
	}
}

// In five voters a round needs two followers; one alone is not a quorum.
func TestConfirmCountsTheConfiguration(t *testing.T) {
	var fs []*fakeFollower
	voters := []raft.Server{{Suffrage: raft.Voter, ID: "self"}}
	for _, id := range []string{"a", "b", "c", "d"} {
		f := newFakeFollower(t, id, 5)
		fs = append(fs, f)
		voters = append(voters, f.server())
	}
	c := newConfirmer("self", time.Second)
	defer c.close()
	confirmEventually(t, c, 5, voters, true)
	fs[0].silent.Store(true)
	fs[1].silent.Store(true)
	confirmEventually(t, c, 5, voters, true) // c and d answer
	fs[2].silent.Store(true)
	if c.confirm(5, voters, 300*time.Millisecond, nil) {
		t.Fatal("round confirmed with one of four followers answering")
	}
	// A node that is not a voter never confirms.
	if c.confirm(5, voters[1:], time.Second, nil) {
		t.Fatal("round confirmed on a node outside the voters")
	}
	// A one-voter configuration needs nobody.
	if !c.confirm(5, voters[:1], time.Second, nil) {
		t.Fatal("single voter not confirmed")
	}
}

// startNode starts a one-node cluster on a real port, with the memory engine.
func startNode(t *testing.T) *Node {
	t.Helper()
	return startNodeTimeout(t, 200*time.Millisecond)
}

// startNodeTimeout is startNode with heartbeat and election timeouts of d.
func startNodeTimeout(t *testing.T, d time.Duration) *Node {
	t.Helper()
	addr, f := nodeParts(t)
	n, err := New(Config{ID: "n1", Dir: t.TempDir(), RaftAddr: addr, Bootstrap: true,
		HeartbeatTimeout: d, ElectionTimeout: d}, f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Kill() })
	waitLeader(t, n)
	return n
}

// nodeParts returns a free local address for a node's Raft port and a state
// machine on the memory engine.
func nodeParts(t *testing.T) (string, *fsm.FSM) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	f, err := fsm.New(storage.NewMemory())
	if err != nil {
		t.Fatal(err)
	}
	return addr, f
}

// waitLeader waits up to 10 s for n, bootstrapped alone, to be a ready leader.
func waitLeader(t *testing.T, n *Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for n.waitReady(ctx) != nil {
		if ctx.Err() != nil {
			t.Fatal("one-node cluster never became a ready leader")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Linearizable reads use the confirmation; while a membership change is in
// flight they fall back to Raft's round; lease reads renew the lease through
// Raft's round only.
func TestReadsConfirmAndFallBackDuringMembershipChange(t *testing.T) {
	n := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	read := func(lvl Consistency) {
		t.Helper()
		if err := n.Read(ctx, lvl, func(*fsm.FSM) error { return nil }); err != nil {
			t.Fatalf("read: %v", err)
		}
	}
	read(Linearizable)
	fast, slow := n.ConfirmRounds()
	if fast != 1 || slow != 0 {
		t.Fatalf("after one read: %d confirmed, %d fallbacks; want 1, 0", fast, slow)
	}
	done := n.changingMembership()
	read(Linearizable)
	if fast, slow = n.ConfirmRounds(); fast != 1 || slow != 1 {
		t.Fatalf("read during a membership change: %d confirmed, %d fallbacks; want 1, 1", fast, slow)
	}
	done()
	read(Linearizable)
	if fast, slow = n.ConfirmRounds(); fast != 2 || slow != 1 {
		t.Fatalf("read after the change: %d confirmed, %d fallbacks; want 2, 1", fast, slow)
	}
	n.lease.Store(0)
	read(Lease)
	if time.Now().UnixNano() >= n.lease.Load() {
		t.Fatal("lease read did not renew the lease")
	}
	if f, s := n.ConfirmRounds(); f != 2 || s != 1 {
		t.Fatalf("lease read used the read confirmation (%d, %d)", f, s)
	}
}

// Lease reads under a steady load renew the lease in the background before
// it runs out: they do not stop at its expiry to wait for a round.
func TestLeaseRenewedBeforeItRunsOut(t *testing.T) {
	n := startNodeTimeout(t, time.Second) // a lease of 500 ms
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	read := func() {
		t.Helper()
		if err := n.Read(ctx, Lease, func(*fsm.FSM) error { return nil }); err != nil {
			t.Fatalf("lease read: %v", err)
		}
	}
	read() // takes the first lease
	waits := n.leaseWaits.Load()
	// Four leases' worth of reads, one every 10 ms. Without the background
	// renewal the lease would run out at least three times, and a read would
	// wait each time.
	for end := time.Now().Add(4 * n.leaseDuration()); time.Now().Before(end); {
		read()
		time.Sleep(10 * time.Millisecond)
	}
	renewals := n.leaseRenewals.Load()
	if w := n.leaseWaits.Load() - waits; w > 1 {
		t.Errorf("%d lease reads found the lease expired (%d background renewals); want at most 1", w, renewals)
	}
	if renewals < 3 {
		t.Errorf("%d background renewals over four leases; want at least 3", renewals)
	}
	st := n.Stats()
	if st["read_lease_renewals"] == "0" || st["read_lease_waits"] == "" {
		t.Errorf("stats: renewals %q, waits %q", st["read_lease_renewals"], st["read_lease_waits"])
	}
}

// A round that confirmed another term than the one the index was read in
// does not serve the read.
func TestLeaderReadIndexChecksTheConfirmedTerm(t *testing.T) {
	n := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	term := n.raft.CurrentTerm()
	var mu sync.Mutex
	confirmed := term + 1
	rs := &rounds{do: func() (uint64, error) { mu.Lock(); defer mu.Unlock(); return confirmed, nil }}
	if _, err := n.leaderReadIndex(ctx, rs, "", 0); err != ErrNotLeader {
		t.Fatalf("read index with a round of term %d (led in %d) = %v; want ErrNotLeader", term+1, term, err)
	}
	mu.Lock()
	confirmed = term
	mu.Unlock()
	if _, err := n.leaderReadIndex(ctx, rs, "", 0); err != nil {
		t.Fatalf("read index with a round of the same term: %v", err)
	}
}

// A node that is not the server the caller expects (it took over a voter's
// address) closes the connection without answering.
func TestServeConfirmRefusesAnotherID(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	done := make(chan struct{})
	go func() { serveConfirm(b, "n2", func() uint64 { return 42 }); close(done) }()
	req := make([]byte, confirmFrame)
	binary.BigEndian.PutUint64(req, 1)
	binary.BigEndian.PutUint64(req[8:], 42)
	go a.Write(append(confirmHello("n1")[1:], req...))
	var resp [confirmFrame]byte
	if _, err := io.ReadFull(a, resp[:]); err == nil {
		t.Fatalf("node n2 answered a confirmation meant for n1: %x", resp)
	}
	<-done
}

// start returns with the round in flight; finish runs once: on the answer,
// on the deadline, or when the confirmer closes. A round started while
// another is in flight fails at once.
func TestConfirmStartFinishesOnce(t *testing.T) {
	f1 := newFakeFollower(t, "f1", 7)
	voters := []raft.Server{{Suffrage: raft.Voter, ID: "self"}, f1.server()}
	c := newConfirmer("self", time.Second)
	defer c.close()
	confirmEventually(t, c, 7, voters, true)

	var calls atomic.Int32
	res := make(chan bool, 4)
	finish := func(ok bool) { calls.Add(1); res <- ok }
	wait := func(want bool) {
		t.Helper()
		select {
		case ok := <-res:
			if ok != want {
				t.Fatalf("round finished %v; want %v", ok, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("round never finished")
		}
	}

	// Answered: true, once.
	if r := c.start(7, voters, time.Hour, finish); r == nil {
		t.Fatal("round ended before it was answered")
	}
	wait(true)

	// Unanswered: in flight until its deadline.
	f1.silent.Store(true)
	r := c.start(7, voters, 100*time.Millisecond, finish)
	if r == nil {
		t.Fatal("round with a connected follower ended at once")
	}
	other := make(chan bool, 1)
	if c.start(7, voters, time.Hour, func(ok bool) { other <- ok }) != nil || <-other {
		t.Fatal("a second round in flight at once did not fail at once")
	}
	wait(false)
	c.abort(r) // ended already: nothing more

	// Closing the confirmer ends the round in flight.
	if r = c.start(7, voters, time.Hour, finish); r == nil {
		t.Fatal("round with a connected follower ended at once")
	}
	select {
	case ok := <-res:
		t.Fatalf("round finished %v with no answer and no deadline", ok)
	case <-time.After(50 * time.Millisecond):
	}
	c.close()
	wait(false)
	c.abort(r)
	time.Sleep(20 * time.Millisecond)
	if n := calls.Load(); n != 3 {
		t.Fatalf("finish ran %d times for 3 rounds", n)
	}
	// Closed: a round fails at once.
	if c.start(7, voters, time.Hour, finish) != nil {
		t.Fatal("a round started on a closed confirmer")
	}
	wait(false)
}

// A read barrier on a leader passes once what was acknowledged before it
// is applied, at every level; one whose round confirmed another term goes
// the usual way (Read), which refuses it; a closed node refuses at once.
func TestReadBarrier(t *testing.T) {
	n := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	barrier := func(lvl Consistency) error {
		t.Helper()
		errc := make(chan error, 2)
		n.ReadBarrier(ctx, lvl, func(err error) { errc <- err })
		select {
		case err := <-errc:
			select {
			case <-errc:
				t.Fatal("done ran twice")
			case <-time.After(20 * time.Millisecond):
			}
			return err
		case <-ctx.Done():
			t.Fatal("barrier never passed")
			return nil
		}
	}
	for i, lvl := range []Consistency{Linearizable, Lease, Stale} {
		if _, err := n.Propose(ctx, setCmd(fmt.Sprint("k", i))); err != nil {
			t.Fatal(err)
		}
		commit := n.raft.CommitIndex()
		if err := barrier(lvl); err != nil {
			t.Fatalf("barrier at %v: %v", lvl, err)
		}
		if applied := n.fsm.AppliedIndex(); applied < commit {
			t.Fatalf("barrier at %v passed at applied index %d; the write was committed at %d", lvl, applied, commit)
		}
	}

	// A round that confirms a later term than the barrier's.
	term := n.raft.CurrentTerm()
	n.verify = &rounds{start: func(done func(uint64, error)) { done(term+1, nil) }}
	short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancelShort()
	errc := make(chan error, 1)
	n.ReadBarrier(short, Linearizable, func(err error) { errc <- err })
	if err := <-errc; err == nil {
		t.Fatal("barrier passed with a round of another term")
	}
	n.verify = &rounds{start: n.confirmLeadership}
	if err := barrier(Linearizable); err != nil {
		t.Fatalf("barrier with the node's own rounds again: %v", err)
	}

	n.Kill()
	if err := barrier(Linearizable); err != ErrClosed {
		t.Fatalf("barrier on a killed node = %v; want ErrClosed", err)
	}
}
