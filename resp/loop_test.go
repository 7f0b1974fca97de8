//go:build linux

package resp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/riot-kv/riot-redis/cluster"
)

// The event loop (loop_linux.go) is also covered by the whole suite run
// with -resp.loop; these tests aim at what only it does: commands of the
// three kinds (run in the loop, after a read barrier, proposed without
// waiting) in one pipeline, replies larger than the socket takes at once,
// parked connections at shutdown, and the fall-backs to a worker.

// rawExchange sends req on a new connection to addr and reads until the
// server closes it.
func rawExchange(t *testing.T, addr string, req []byte) []byte {
	t.Helper()
	c := mustRawConn(t, addr)
	c.send(t, string(req))
	return c.readToEOF(t)
}

func respCommand(args ...string) []byte {
	b := fmt.Appendf(nil, "*%d\r\n", len(args))
	for _, a := range args {
		b = fmt.Appendf(b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b
}

// TestLoopAnswersLikeGoroutineServer sends one byte stream, pipelined, to a
// server with the event loop and to one without, each over its own node,
// and compares the bytes that come back. The stream mixes reads that wait
// for a barrier (the node's default level is linearizable), writes proposed
// without waiting, commands the loop answers itself, errors, MULTI, and
// ends with QUIT and a command after it.
func TestLoopAnswersLikeGoroutineServer(t *testing.T) {
	var req []byte
	for _, c := range [][]string{
		{"SET", "a", "1"}, {"GET", "a"}, {"INCR", "a"}, {"GET", "a"}, {"PING"},
		{"GET", "missing"}, {"SET", "b", "2"}, {"MGET", "a", "b", "c"},
		{"INCR", "b"}, {"INCRBY", "b", "x"}, {"NOSUCH", "x"}, {"GET"},
		{"APPEND", "a", "zz"}, {"STRLEN", "a"}, {"INCR", "a"}, {"TYPE", "a"},
		{"MULTI"}, {"SET", "c", "3"}, {"INCR", "c"}, {"GET", "c"}, {"EXEC"},
		{"EXISTS", "a", "b", "c", "d"}, {"DEL", "a", "zz"}, {"GETEX", "b"},
		{"INCRBYFLOAT", "b", "1.5"}, {"SETNX", "b", "9"}, {"GETSET", "b", "7"},
		{"ECHO", "hi"}, {"EXPIRE", "b", "100"}, {"TTL", "b"}, {"READONLY"},
		{"GET", "b"}, {"READWRITE"}, {"MSET", "x", "1", "y", "2"}, {"DBSIZE"},
		{"QUIT"}, {"PING"},
	} {
		req = append(req, respCommand(c...)...)
	}
	req = append(req, "GET inline\r\n"...)
	var replies [2][]byte
	for i, loop := range []bool{false, true} {
		s := mustServer(t, mustNode(t), Config{EventLoop: loop})
		replies[i] = rawExchange(t, s.Addr(), req)
	}
	if !bytes.Equal(replies[0], replies[1]) {
		t.Fatalf("replies differ:\ngoroutine per connection:\n%q\nevent loop:\n%q", replies[0], replies[1])
	}
	if !bytes.HasSuffix(replies[1], []byte("+OK\r\n")) || !bytes.Contains(replies[1], []byte(":4\r\n")) {
		t.Fatalf("unexpected replies %q", replies[1])
	}
}

// TestLoopProtocolErrorAfterPipeline: the commands before a violation run
// and are answered in order, then the error, then the connection closes,
// byte for byte as without the loop.
func TestLoopProtocolErrorAfterPipeline(t *testing.T) {
	req := append(respCommand("SET", "k", "v"), respCommand("GET", "k")...)
	req = append(req, respCommand("PING")...)
	req = append(req, "*1\r\n$-5\r\n"...)
	var replies [2][]byte
	for i, loop := range []bool{false, true} {
		s := mustServer(t, mustNode(t), Config{EventLoop: loop})
		replies[i] = rawExchange(t, s.Addr(), req)
	}
	want := "+OK\r\n$1\r\nv\r\n+PONG\r\n-ERR Protocol error: invalid bulk length\r\n"
	for i, r := range replies {
		if string(r) != want {
			t.Errorf("server %d: %q, want %q", i, r, want)
		}
	}
}

// TestLoopLargeReplies pipelines GETs of a 3 MiB value without reading the
// replies until they are all sent: the loop keeps what the socket does not
// take, stops reading the connection past maxPendingOut, and resumes once
// the client reads. Every byte arrives, in order.
func TestLoopLargeReplies(t *testing.T) {
	n := mustNode(t)
	n.consist = cluster.Stale // the GETs run in the loop itself
	s := mustServer(t, n, Config{EventLoop: true})
	rdb := mustClient(t, s, nil)
	ctx := testContext(t)
	big := strings.Repeat("0123456789abcdef", 3<<16) // 3 MiB
	if err := rdb.Set(ctx, "big", big, 0).Err(); err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const gets = 8
	var req []byte
	for range gets {
		req = append(req, respCommand("GET", "big")...)
	}
	req = append(req, respCommand("PING")...)
	if _, err := conn.Write(req); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the server fills the socket and stops
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReaderSize(conn, 1<<16)
	wantHead := fmt.Sprintf("$%d\r\n", len(big))
	for i := range gets {
		head, err := r.ReadString('\n')
		if err != nil || head != wantHead {
			t.Fatalf("GET %d: header %q, %v; want %q", i, head, err, wantHead)
		}
		body := make([]byte, len(big)+2)
		if _, err := io.ReadFull(r, body); err != nil {
			t.Fatalf("GET %d: %v", i, err)
		}
		if string(body[:len(big)]) != big || string(body[len(big):]) != "\r\n" {
			t.Fatalf("GET %d: value differs", i)
		}
	}
	if line, err := r.ReadString('\n'); err != nil || line != "+PONG\r\n" {
		t.Fatalf("PING after the GETs: %q, %v", line, err)
	}
}

// TestLoopCloseWithParkedWrite: a connection parked for a write's result
// does not hold the server's Close, and its client sees the connection end.
func TestLoopCloseWithParkedWrite(t *testing.T) {
	n := mustNode(t)
	block := make(chan struct{})
	n.block = block
	s := mustServer(t, n, Config{EventLoop: true})
	rdb := mustClient(t, s, &redis.Options{MaxRetries: -1})
	errc := make(chan error, 1)
	go func() { errc <- rdb.Set(testContext(t), "k", "v", 0).Err() }()
	eventually(t, func() error {
		if !(n.waiting() != 0) {
			return errors.New("waiting for the SET to reach the node")
		}
		return nil
	})
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close waited for a parked write")
	}
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("SET succeeded on a closed connection")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the client did not see its connection close")
	}
	// Let the parked write finish before the node's engine closes.
	close(block)
	eventually(t, func() error {
		if !(n.waiting() == 0) {
			return errors.New("waiting for the blocked proposal to return")
		}
		return nil
	})
}

// TestLoopFallsBackToWorkers: writes the node will not take without
// waiting, and a write that comes back "not leader" without having been
// applied, run on a worker through Propose, and are applied once.
func TestLoopFallsBackToWorkers(t *testing.T) {
	n := mustNode(t)
	s := mustServer(t, n, Config{EventLoop: true})
	rdb := mustClient(t, s, nil)
	ctx := testContext(t)

	n.set(func(n *testNode) { n.noAsync = true })
	pipe := rdb.Pipeline()
	incrs := make([]*redis.IntCmd, 10)
	for i := range incrs {
		incrs[i] = pipe.Incr(ctx, "n")
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	for i, c := range incrs {
		if c.Val() != int64(i+1) {
			t.Fatalf("INCR %d = %d, want %d", i, c.Val(), i+1)
		}
	}

	n.set(func(n *testNode) { n.noAsync = false; n.asyncErr = cluster.ErrNotLeader })
	before := n.proposalCount()
	if got, err := rdb.Incr(ctx, "n").Result(); err != nil || got != 11 {
		t.Fatalf("INCR after a not-leader answer = %d, %v; want 11", got, err)
	}
	if after := n.proposalCount(); after != before+1 {
		t.Fatalf("%d proposals applied, want 1", after-before)
	}
}

// TestLoopBarrierFailure: when the loop's read barrier fails, each read
// runs on a worker and reports the node's error, as without the loop.
func TestLoopBarrierFailure(t *testing.T) {
	n := mustNode(t)
	s := mustServer(t, n, Config{EventLoop: true})
	rdb := mustClient(t, s, nil)
	ctx := testContext(t)
	n.set(func(n *testNode) { n.readErr = cluster.ErrNoLeader })
	if err := rdb.Get(ctx, "k").Err(); err == nil || err.Error() != ErrTextClusterDown {
		t.Fatalf("GET without a leader = %v, want %q", err, ErrTextClusterDown)
	}
	n.set(func(n *testNode) { n.readErr = nil })
	if err := rdb.Get(ctx, "k").Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("GET once the node reads again = %v, want nil", err)
	}
}

// TestLoopManyClients: concurrent clients mixing writes proposed from the
// loop (a round's runs handed to the node together), reads after barriers
// and pipelines; every increment lands once. Again with a node that
// declines every hand-off, so each round's connections go to workers.
func TestLoopManyClients(t *testing.T) {
	for _, declines := range []bool{false, true} {
		t.Run(fmt.Sprintf("declines=%v", declines), func(t *testing.T) {
			testLoopManyClients(t, declines)
		})
	}
}

func testLoopManyClients(t *testing.T, declines bool) {
	n := mustNode(t)
	n.noAsync = declines
	s := mustServer(t, n, Config{EventLoop: true})
	ctx := testContext(t)
	const clients, rounds = 16, 100
	var wg sync.WaitGroup
	errc := make(chan error, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rdb := mustClient(t, s, &redis.Options{PoolSize: 2})
			for r := range rounds {
				if r%10 == 0 {
					pipe := rdb.Pipeline()
					pipe.Incr(ctx, "total")
					pipe.Get(ctx, "total")
					pipe.Set(ctx, fmt.Sprintf("k%d", i), r, 0)
					if _, err := pipe.Exec(ctx); err != nil {
						errc <- err
						return
					}
					continue
				}
				if err := rdb.Incr(ctx, "total").Err(); err != nil {
					errc <- err
					return
				}
				if err := rdb.Get(ctx, "total").Err(); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	rdb := mustClient(t, s, nil)
	if got, err := rdb.Get(ctx, "total").Int(); err != nil || got != clients*rounds {
		t.Fatalf("total = %d, %v; want %d", got, err, clients*rounds)
	}
}

// TestLoopClientLeavesWhileParked: a client that disconnects while its
// write waits for the node has its connection closed once the result
// arrives; the write, already proposed, is applied.
func TestLoopClientLeavesWhileParked(t *testing.T) {
	n := mustNode(t)
	block := make(chan struct{})
	n.block = block
	s := mustServer(t, n, Config{EventLoop: true})
	c := mustRawConn(t, s.Addr())
	c.send(t, string(respCommand("SET", "k", "v")))
	eventually(t, func() error {
		if !(n.waiting() == 1) {
			return errors.New("waiting for the SET to reach the node")
		}
		return nil
	})
	c.Close()
	time.Sleep(50 * time.Millisecond) // the loop sees the hang-up while parked
	if got := s.connectedClients(); got != 1 {
		t.Fatalf("%d connections while the write is parked, want 1", got)
	}
	close(block)
	eventually(t, func() error {
		if !(s.connectedClients() == 0) {
			return errors.New("waiting for the connection to close")
		}
		return nil
	})
	eventually(t, func() error {
		if !(n.waiting() == 0) {
			return errors.New("waiting for the proposal to return")
		}
		return nil
	})
	if got := n.proposalCount(); got != 1 {
		t.Fatalf("%d proposals applied, want 1", got)
	}
}
