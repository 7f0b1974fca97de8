package resp

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/tidwall/redcon"
)

// rawConn is a client connection that sends and expects exact bytes.
type rawConn struct {
	net.Conn
	rd *bufio.Reader
}

func mustRawConn(t testing.TB, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{Conn: c, rd: bufio.NewReader(c)}
}

func (c *rawConn) send(t testing.TB, s string) {
	t.Helper()
	if err := c.SetWriteDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c.Conn, s); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// readToEOF reads until the server closes the connection.
func (c *rawConn) readToEOF(t testing.TB) []byte {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c.rd)
	if err != nil {
		t.Fatalf("read to EOF: %v (after %q)", err, b)
	}
	return b
}

// expect reads exactly len(want) bytes and compares them with want.
func (c *rawConn) expect(t testing.TB, want string) {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(want))
	n, err := io.ReadFull(c.rd, got)
	if err != nil || string(got) != want {
		t.Fatalf("read %q, %v; want %q", got[:n], err, want)
	}
}

// expectClosed checks that the server closed the connection.
func (c *rawConn) expectClosed(t testing.TB) {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	b, err := c.rd.ReadByte()
	if err == nil {
		t.Fatalf("read %q, want the connection closed", b)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open: %v", err)
	}
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		node Node
	}{
		{"nil node", Config{}, nil},
		{"negative max value size", Config{MaxValueSize: -1}, &testNode{}},
		{"address without port", Config{Addr: "localhost"}, &testNode{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg, tc.node); !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("New = %v, want ErrInvalidConfig", err)
			}
		})
	}
	s, err := New(Config{}, &testNode{})
	if err != nil {
		t.Fatal(err)
	}
	if s.cfg.Addr != DefaultAddr || s.cfg.MaxValueSize != DefaultMaxValueSize {
		t.Fatalf("defaults: addr %q max %d", s.cfg.Addr, s.cfg.MaxValueSize)
	}
	if s.Addr() != "" {
		t.Fatalf("Addr before Start = %q, want empty", s.Addr())
	}
}

func TestLifecycle(t *testing.T) {
	s, err := New(Config{Addr: "127.0.0.1:0", Logger: testLogger(t)}, mustNode(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); !errors.Is(err, ErrStarted) {
		t.Fatalf("second Start = %v, want ErrStarted", err)
	}
	c := mustRawConn(t, s.Addr())
	c.send(t, "PING\r\n")
	c.expect(t, "+PONG\r\n")
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	c.expectClosed(t)
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.Start(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Close = %v, want ErrClosed", err)
	}
	if _, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
		t.Fatal("dial after Close succeeded")
	}
}

func TestCloseBeforeStart(t *testing.T) {
	s, err := New(Config{}, &testNode{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Start(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Close = %v, want ErrClosed", err)
	}
}

// TestCloseAbortsInFlight checks that Close does not wait for a command stuck
// in the node: its context is cancelled.
func TestCloseAbortsInFlight(t *testing.T) {
	n := mustNode(t)
	block := make(chan struct{})
	defer close(block)
	n.set(func(n *testNode) { n.block = block })
	s, err := New(Config{Addr: "127.0.0.1:0", Logger: testLogger(t)}, n)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1, ReadTimeout: -1})
	defer rdb.Close()
	done := make(chan error, 1)
	go func() { done <- rdb.Set(context.Background(), "k", "v", 0).Err() }()

	// Wait until the SET is in the node.
	deadline := time.Now().Add(10 * time.Second)
	for n.waiting() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("SET never reached the node")
		}
		time.Sleep(time.Millisecond)
	}
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(CommandTimeout / 2):
		t.Fatal("Close waited for the blocked command")
	}
	if err := <-done; err == nil {
		t.Fatal("blocked SET succeeded after Close")
	}
}

// TestHandlerPanic checks that a panicking handler costs its connection only.
func TestHandlerPanic(t *testing.T) {
	s, err := New(Config{Addr: "127.0.0.1:0", Logger: testLogger(t)}, mustNode(t))
	if err != nil {
		t.Fatal(err)
	}
	s.cmds.register(&command{name: "boom", arity: 1, handler: func(*client, [][]byte) { panic("boom") }})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := mustRawConn(t, s.Addr())
	c.send(t, "BOOM\r\n")
	c.expect(t, "-"+ErrTextInternal+"\r\n")
	c.expectClosed(t)
	c2 := mustRawConn(t, s.Addr())
	c2.send(t, "PING\r\n")
	c2.expect(t, "+PONG\r\n")
}

// TestProtocolErrors covers malformed requests beyond the transcripts: each
// gets an error reply and a closed connection, and the server keeps serving.
func TestProtocolErrors(t *testing.T) {
	s := mustServer(t, mustNode(t), Config{MaxValueSize: 16})
	tests := []struct {
		name string
		send string
		want string
	}{
		{"bulk without CRLF", "*1\r\n$4\r\nPINGxx\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
		{"bulk over the limit", "*2\r\n$4\r\nECHO\r\n$17\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
		{"zero arguments", "*0\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
		{"count without CR", "*1\n", "-ERR Protocol error: invalid multibulk length\r\n"},
		{"plus sign in count", "*+1\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
		{"huge count", "*99999999999\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
		{"inline too long", strings.Repeat("a", maxInlineSize+1), "-ERR Protocol error: too big inline request\r\n"},
		{"good then bad", "PING\r\n*1\r\n$x\r\n", "+PONG\r\n-ERR Protocol error: invalid bulk length\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := mustRawConn(t, s.Addr())
			c.send(t, tc.send)
			c.expect(t, tc.want)
			c.expectClosed(t)
		})
	}
	c := mustRawConn(t, s.Addr())
	c.send(t, "*2\r\n$4\r\nECHO\r\n$16\r\n0123456789abcdef\r\n")
	c.expect(t, "$16\r\n0123456789abcdef\r\n")
}

// fakeConn is a redcon.Conn that collects replies in memory, for driving
// dispatch without a network.
type fakeConn struct {
	replyBuf
	ctx    any
	closed bool
}

var _ redcon.Conn = (*fakeConn)(nil)

func (c *fakeConn) RemoteAddr() string             { return "fake" }
func (c *fakeConn) Close() error                   { c.closed = true; return nil }
func (c *fakeConn) Context() any                   { return c.ctx }
func (c *fakeConn) SetContext(v any)               { c.ctx = v }
func (c *fakeConn) SetReadBuffer(int)              {}
func (c *fakeConn) Detach() redcon.DetachedConn    { panic("not supported") }
func (c *fakeConn) ReadPipeline() []redcon.Command { return nil }
func (c *fakeConn) PeekPipeline() []redcon.Command { return nil }
func (c *fakeConn) NetConn() net.Conn              { return nil }
func (c *fakeConn) WriteBulkFrom(int64, io.Reader) { panic("not supported") }
func (c *fakeConn) reset()                         { c.b = c.b[:0] }
func (c *fakeConn) reply() string                  { return string(c.b) }
func (c *fakeConn) do(s *Server, args ...string) string {
	c.reset()
	cmd := redcon.Command{Args: make([][]byte, len(args))}
	for i, a := range args {
		cmd.Args[i] = []byte(a)
	}
	s.dispatch(c, cmd)
	return c.reply()
}

// mustFakeConn returns a connection accepted by an unstarted server over n.
func mustFakeConn(t testing.TB, n Node) (*Server, *fakeConn) {
	t.Helper()
	s, err := New(Config{Logger: testLogger(t)}, n)
	if err != nil {
		t.Fatal(err)
	}
	c := &fakeConn{}
	s.accept(c)
	t.Cleanup(func() { s.closedConn(c, nil) })
	return s, c
}

// TestDispatchAllocations guards the hot path: commands that do not reach the
// node must not allocate.
func TestDispatchAllocations(t *testing.T) {
	s, c := mustFakeConn(t, mustNode(t))
	tests := []struct {
		name string
		cmd  redcon.Command
		want string
	}{
		{"PING", redcon.Command{Args: [][]byte{[]byte("PING")}}, "+PONG\r\n"},
		{"ping msg", redcon.Command{Args: [][]byte{[]byte("ping"), []byte("hi")}}, "$2\r\nhi\r\n"},
		{"ECHO", redcon.Command{Args: [][]byte{[]byte("ECHO"), []byte("x")}}, "$1\r\nx\r\n"},
		{"arity error", redcon.Command{Args: [][]byte{[]byte("GET")}}, "-ERR wrong number of arguments for 'get' command\r\n"},
		{"bad integer", redcon.Command{Args: [][]byte{[]byte("INCRBY"), []byte("k"), []byte("x")}}, "-" + errTextNotInteger + "\r\n"},
		{"SET syntax", redcon.Command{Args: [][]byte{[]byte("SET"), []byte("k"), []byte("v"), []byte("NX"), []byte("XX")}}, "-ERR syntax error\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c.reset()
			s.dispatch(c, tc.cmd)
			if c.reply() != tc.want {
				t.Fatalf("reply %q, want %q", c.reply(), tc.want)
			}
			allocs := testing.AllocsPerRun(100, func() {
				c.reset()
				s.dispatch(c, tc.cmd)
			})
			if allocs != 0 {
				t.Fatalf("%v allocations per command, want 0", allocs)
			}
		})
	}
}

func BenchmarkDispatch(b *testing.B) {
	for _, bc := range []struct {
		name string
		args []string
	}{
		{"PING", []string{"PING"}},
		{"GET", []string{"GET", "key:000000000001"}},
		{"SET", []string{"SET", "key:000000000001", "xxx"}},
		{"INCR", []string{"INCR", "counter"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s, c := mustFakeConn(b, mustNode(b))
			c.do(s, "SET", "key:000000000001", "xxx")
			cmd := redcon.Command{Args: make([][]byte, len(bc.args))}
			for i, a := range bc.args {
				cmd.Args[i] = []byte(a)
			}
			b.ReportAllocs()
			for b.Loop() {
				c.reset()
				s.dispatch(c, cmd)
			}
		})
	}
}
