package resp

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/riot-kv/riot-redis/cluster"
	"github.com/riot-kv/riot-redis/fsm"
	"github.com/riot-kv/riot-redis/resp/resptest"
)

// A pipeline's consecutive writes become one proposal; replies keep their
// order; a read in the middle sees every earlier write; a write refused by
// validation proposes nothing and gets its own error in its place.
func TestPipelinedWritesShareOneProposal(t *testing.T) {
	n := mustNode(t)
	s := mustServer(t, n, Config{})
	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cmds := [][]string{
		{"SET", "a", "1"},
		{"INCR", "a"},
		{"SET", "b", "x", "NX"},
		{"GET", "a"}, // a read: completes the run before it
		{"INCR", "b"},
		{"SET", "c", "1", "EX", "-5"}, // refused in resp: no proposal
		{"SET", "d", "1", "PX", "100000"},
		{"DEL", "a", "b", "missing"},
		{"GET", "b"},
	}
	var out []byte
	for _, c := range cmds {
		args := make([][]byte, len(c))
		for i, a := range c {
			args[i] = []byte(a)
		}
		out = append(out, resptest.EncodeCommand(args)...)
	}
	if _, err := conn.Write(out); err != nil { // one write: one pipeline
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	want := []string{
		"+OK", ":2", "+OK", "$1", "2", "-" + fsm.ErrTextNotInteger,
		"-ERR invalid expire time in 'set' command", "+OK", ":2", "$-1",
	}
	var got []string
	for len(got) < len(want) {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		got = append(got, strings.TrimRight(line, "\r\n"))
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("replies\n got %q\nwant %q", got, want)
	}
	n.mu.Lock()
	proposals := n.proposals
	n.mu.Unlock()
	// SET, INCR, SET -> one batch; GET reads; INCR, SET PX, DEL -> one batch.
	if proposals != 2 {
		t.Fatalf("%d proposals for two runs of pipelined writes; want 2", proposals)
	}
	// The batch applied each command at the leader's time: d has its TTL.
	ttl, ok, err := n.f.ExpireAt([]byte("d"), time.Now().UnixMilli())
	if err != nil || !ok || ttl <= time.Now().UnixMilli() {
		t.Fatalf("d's expiry = %d, %v, %v; want a time in the future", ttl, ok, err)
	}
}

// A node error fails every write of the run with the same error, in order.
func TestPipelinedWritesNodeError(t *testing.T) {
	n := mustNode(t)
	s := mustServer(t, n, Config{})
	n.set(func(n *testNode) { n.proposeEr = cluster.ErrNoLeader })
	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n*1\r\n$4\r\nPING\r\n"))
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	for i, want := range []string{"-CLUSTERDOWN", "-CLUSTERDOWN", "+PONG"} {
		line, err := r.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, want) {
			t.Fatalf("reply %d = %q, %v; want prefix %q", i, line, err, want)
		}
	}
}

// Pipelined reads share one barrier at the connection's level and then read
// local state; a single read keeps its own level.
func TestPipelinedReadsShareOneBarrier(t *testing.T) {
	n := mustNode(t)
	s := mustServer(t, n, Config{})
	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"))
	r := bufio.NewReader(conn)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if line, err := r.ReadString('\n'); err != nil || line != "+OK\r\n" {
		t.Fatalf("SET = %q, %v", line, err)
	}
	var out []byte
	for i := 0; i < 5; i++ {
		out = append(out, "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"...)
	}
	conn.Write(out)
	for i := 0; i < 5; i++ {
		for _, want := range []string{"$1\r\n", "v\r\n"} {
			if line, err := r.ReadString('\n'); err != nil || line != want {
				t.Fatalf("GET %d: %q, %v; want %q", i, line, err, want)
			}
		}
	}
	n.mu.Lock()
	reads := fmt.Sprint(n.reads)
	n.mu.Unlock()
	want := fmt.Sprint([]cluster.Consistency{cluster.Linearizable, cluster.Stale, cluster.Stale, cluster.Stale, cluster.Stale, cluster.Stale})
	if reads != want {
		t.Fatalf("read levels %s; want one linearizable barrier then local reads %s", reads, want)
	}
}

// TestNothingRunsAfterQuit: commands pipelined behind QUIT are not run, even
// when QUIT ends a run of batched writes.
func TestNothingRunsAfterQuit(t *testing.T) {
	n := mustNode(t)
	s := mustServer(t, n, Config{})
	c := mustRawConn(t, s.Addr())
	c.send(t, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n1\r\n*3\r\n$3\r\nSET\r\n$1\r\nj\r\n$1\r\n1\r\n"+
		"*1\r\n$4\r\nQUIT\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n2\r\n")
	if got := c.readToEOF(t); string(got) != "+OK\r\n+OK\r\n+OK\r\n" {
		t.Fatalf("replies %q, want three +OK and the connection closed", got)
	}
	// Close waits for the connection's commands to end.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := n.proposalCount(); got != 1 {
		t.Fatalf("%d proposals, want 1 (the two SETs before QUIT, batched): the SET after QUIT ran", got)
	}
}

// BenchmarkPlanWrites is a run of pipelined SETs on the connection's side,
// without the node: the plan, the proposal and the replies from its result,
// as the event loop does them for each run.
func BenchmarkPlanWrites(b *testing.B) {
	for _, n := range []int{1, 16} {
		b.Run(fmt.Sprintf("SET-%d", n), func(b *testing.B) {
			s, c := mustFakeConn(b, mustNode(b))
			cl := c.ctx.(*client)
			args := [][]byte{[]byte("SET"), []byte("key:000000000001"), []byte("xxx")}
			run := make([]pipelined, n)
			results := make([]fsm.Result, n)
			for i := range run {
				_, cmd := s.loopClass(cl, args)
				run[i] = pipelined{cmd: cmd, args: args}
				results[i] = fsm.Result{Kind: fsm.ResultOK}
			}
			// A lone proposal goes to the node as it is, and its result is
			// its own; several go as one batch, with an array of results.
			res := fsm.Result{Kind: fsm.ResultArray, Array: results}
			if n == 1 {
				res = results[0]
			}
			b.ReportAllocs()
			for b.Loop() {
				c.reset()
				w := cl.planWrites(run)
				if batch := w.proposal().Op == fsm.OpBatch; batch != (n > 1) {
					b.Fatal("wrong proposal shape")
				}
				cl.finishWrites(w, res, nil)
			}
			if got := c.reply(); got != strings.Repeat("+OK\r\n", n) {
				b.Fatalf("replies %q", got)
			}
		})
	}
}
