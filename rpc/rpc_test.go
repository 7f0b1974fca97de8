package rpc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/riot-kv/riot-redis/cluster"
)

// fakeNode is a Node that answers from memory. When err is set every method
// returns it; when block is set every method waits for its context to end.
type fakeNode struct {
	mu        sync.Mutex
	err       error
	block     bool
	index     uint64
	proposed  [][]byte
	joined    []cluster.Member
	removed   []string
	transfers []string
	blocked   int // calls that blocked
	canceled  int // calls whose context ended while blocked
}

func (f *fakeNode) setErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

func (f *fakeNode) setBlock(b bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.block = b
}

// enter returns the configured error, or the context's error after waiting for
// it to end when the fake blocks.
func (f *fakeNode) enter(ctx context.Context) error {
	f.mu.Lock()
	err, block := f.err, f.block
	f.mu.Unlock()
	if block {
		f.mu.Lock()
		f.blocked++
		f.mu.Unlock()
		<-ctx.Done()
		f.mu.Lock()
		f.canceled++
		f.mu.Unlock()
		return ctx.Err()
	}
	return err
}

func (f *fakeNode) ProposeLocal(ctx context.Context, cmd []byte) ([]byte, error) {
	if err := f.enter(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.proposed = append(f.proposed, cmd)
	f.mu.Unlock()
	return replyFor(cmd), nil
}

func (f *fakeNode) ReadIndexLocal(ctx context.Context) (uint64, error) {
	if err := f.enter(ctx); err != nil {
		return 0, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.index, nil
}

func (f *fakeNode) JoinLocal(ctx context.Context, m cluster.Member) error {
	if err := f.enter(ctx); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.joined = append(f.joined, m)
	return nil
}

func (f *fakeNode) RemoveLocal(ctx context.Context, id string) error {
	if err := f.enter(ctx); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.removed = append(f.removed, id)
	return nil
}

func (f *fakeNode) TransferLocal(ctx context.Context, id string) error {
	if err := f.enter(ctx); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.transfers = append(f.transfers, id)
	return nil
}

func (f *fakeNode) proposedCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.proposed)
}

// poolSize returns the number of pooled connections.
func poolSize(c *Client) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.conns)
}

// replyFor is the fake's result for cmd: a marker, then cmd.
func replyFor(cmd []byte) []byte {
	return append([]byte("ok:"), cmd...)
}

// payload returns n deterministic, non-repeating-looking bytes.
func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

// mustServe serves n on a fresh 127.0.0.1 port and returns its address.
func mustServe(t testing.TB, n Node) string {
	t.Helper()
	return mustServeAt(t, n, "127.0.0.1:0")
}

// mustServeAt serves n on addr and stops the server at the end of the test. It
// returns the listening address and the server.
func mustServeAt(t testing.TB, n Node, addr string) string {
	t.Helper()
	_, a := mustServeStoppable(t, n, addr)
	return a
}

// mustServeStoppable is mustServeAt that also returns the server, for tests that
// stop it themselves (Stop is safe to call twice).
func mustServeStoppable(t testing.TB, n Node, addr string) (*Server, string) {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	srv := NewServer(n)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Stop()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return srv, l.Addr().String()
}

// mustClient returns a client closed at the end of the test.
func mustClient(t testing.TB, opts ClientOptions) *Client {
	t.Helper()
	c := NewClient(opts)
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

// mustClosedAddr returns a 127.0.0.1 address nothing listens on.
func mustClosedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

var sentinels = []error{
	cluster.ErrNotLeader,
	cluster.ErrNoLeader,
	cluster.ErrUnknownOutcome,
	cluster.ErrTimeout,
	cluster.ErrUnknownNode,
	cluster.ErrClosed,
	cluster.ErrNotReady,
	cluster.ErrDiskFull,
}

func TestProposeRoundTrip(t *testing.T) {
	node := &fakeNode{}
	addr := mustServe(t, node)
	c := mustClient(t, ClientOptions{})
	for _, n := range []int{0, 1, 1 << 10, 4<<20 + 1, 9 << 20} {
		t.Run(fmt.Sprintf("%dB", n), func(t *testing.T) {
			cmd := payload(n)
			got, err := c.Propose(context.Background(), addr, cmd)
			if err != nil {
				t.Fatalf("Propose: %v", err)
			}
			if want := replyFor(cmd); !bytes.Equal(got, want) {
				t.Fatalf("result: got %d bytes, want %d bytes of the expected content", len(got), len(want))
			}
			node.mu.Lock()
			last := node.proposed[len(node.proposed)-1]
			node.mu.Unlock()
			if !bytes.Equal(last, cmd) {
				t.Fatalf("node received %d bytes, want the %d sent", len(last), len(cmd))
			}
		})
	}
	if pooled := poolSize(c); pooled != 1 {
		t.Fatalf("pooled connections: got %d, want 1", pooled)
	}
}

func TestOtherRPCsRoundTrip(t *testing.T) {
	node := &fakeNode{index: 4242}
	addr := mustServe(t, node)
	c := mustClient(t, ClientOptions{})
	ctx := context.Background()

	t.Run("ReadIndex", func(t *testing.T) {
		idx, err := c.ReadIndex(ctx, addr)
		if err != nil || idx != 4242 {
			t.Fatalf("ReadIndex: got %d, %v; want 4242, nil", idx, err)
		}
	})
	t.Run("Join", func(t *testing.T) {
		m := cluster.Member{
			ID:       "n2",
			RaftAddr: "127.0.0.1:12001",
			RESPAddr: "127.0.0.1:6380",
			RPCAddr:  "127.0.0.1:32124",
			HTTPAddr: "127.0.0.1:8081",
			Voter:    true,
			Role:     cluster.RoleFollower,
		}
		if err := c.Join(ctx, addr, m); err != nil {
			t.Fatalf("Join: %v", err)
		}
		want := m
		want.Role = "" // a view field, not sent
		node.mu.Lock()
		got := node.joined[len(node.joined)-1]
		node.mu.Unlock()
		if got != want {
			t.Fatalf("joined: got %+v, want %+v", got, want)
		}
	})
	t.Run("JoinNonVoter", func(t *testing.T) {
		m := cluster.Member{ID: "n3", RaftAddr: "127.0.0.1:12002"}
		if err := c.Join(ctx, addr, m); err != nil {
			t.Fatalf("Join: %v", err)
		}
		node.mu.Lock()
		got := node.joined[len(node.joined)-1]
		node.mu.Unlock()
		if got != m {
			t.Fatalf("joined: got %+v, want %+v", got, m)
		}
	})
	t.Run("JoinWithoutID", func(t *testing.T) {
		err := c.Join(ctx, addr, cluster.Member{RaftAddr: "127.0.0.1:1"})
		if status.Code(err) != codes.InvalidArgument {
			t.Fatalf("Join without id: got %v, want InvalidArgument", err)
		}
		if errors.Is(err, cluster.ErrUnknownOutcome) {
			t.Fatalf("a rejected request is not an unknown outcome: %v", err)
		}
	})
	t.Run("Remove", func(t *testing.T) {
		if err := c.Remove(ctx, addr, "n2"); err != nil {
			t.Fatalf("Remove: %v", err)
		}
		node.mu.Lock()
		got := node.removed[len(node.removed)-1]
		node.mu.Unlock()
		if got != "n2" {
			t.Fatalf("removed: got %q, want n2", got)
		}
	})
	for _, id := range []string{"", "n3"} {
		t.Run("Transfer/"+id, func(t *testing.T) {
			if err := c.Transfer(ctx, addr, id); err != nil {
				t.Fatalf("Transfer: %v", err)
			}
			node.mu.Lock()
			got := node.transfers[len(node.transfers)-1]
			node.mu.Unlock()
			if got != id {
				t.Fatalf("transfer target: got %q, want %q", got, id)
			}
		})
	}
}

// calls runs each client method against addr and returns its error.
func calls(c *Client, addr string) map[string]func(context.Context) error {
	return map[string]func(context.Context) error{
		"Propose": func(ctx context.Context) error {
			_, err := c.Propose(ctx, addr, []byte("cmd"))
			return err
		},
		"ReadIndex": func(ctx context.Context) error {
			_, err := c.ReadIndex(ctx, addr)
			return err
		},
		"Join": func(ctx context.Context) error {
			return c.Join(ctx, addr, cluster.Member{ID: "n9"})
		},
		"Remove": func(ctx context.Context) error {
			return c.Remove(ctx, addr, "n9")
		},
		"Transfer": func(ctx context.Context) error {
			return c.Transfer(ctx, addr, "")
		},
	}
}

func TestSentinelsCrossTheWire(t *testing.T) {
	node := &fakeNode{}
	addr := mustServe(t, node)
	c := mustClient(t, ClientOptions{})
	for _, sentinel := range sentinels {
		for _, wrapped := range []bool{false, true} {
			sent := sentinel
			if wrapped {
				sent = fmt.Errorf("raft apply: %w", sentinel)
			}
			node.setErr(sent)
			for method, call := range calls(c, addr) {
				t.Run(fmt.Sprintf("%s/wrapped=%v/%s", sentinel, wrapped, method), func(t *testing.T) {
					err := call(context.Background())
					if !errors.Is(err, sentinel) {
						t.Fatalf("got %v, want errors.Is %v", err, sentinel)
					}
					for _, other := range sentinels {
						if other != sentinel && errors.Is(err, other) {
							t.Fatalf("%v also matches %v", err, other)
						}
					}
					if err.Error() != sent.Error() {
						t.Fatalf("text: got %q, want %q", err.Error(), sent.Error())
					}
				})
			}
		}
	}
	if pooled := poolSize(c); pooled != 1 {
		t.Fatalf("a sentinel answer must not drop the connection: %d pooled, want 1", pooled)
	}
}

func TestOtherServerErrors(t *testing.T) {
	node := &fakeNode{err: errors.New("disk on fire")}
	addr := mustServe(t, node)
	c := mustClient(t, ClientOptions{})
	for method, call := range calls(c, addr) {
		t.Run(method, func(t *testing.T) {
			err := call(context.Background())
			if err == nil || !strings.Contains(err.Error(), "disk on fire") {
				t.Fatalf("got %v, want the server's text", err)
			}
			// A write that failed for an unrecognised reason may have been applied.
			wantUnknown := method != "ReadIndex"
			if errors.Is(err, cluster.ErrUnknownOutcome) != wantUnknown {
				t.Fatalf("errors.Is(%v, ErrUnknownOutcome) = %v, want %v", err, !wantUnknown, wantUnknown)
			}
		})
	}
}

func TestEmptyAddr(t *testing.T) {
	c := mustClient(t, ClientOptions{})
	for method, call := range calls(c, "") {
		t.Run(method, func(t *testing.T) {
			if err := call(context.Background()); !errors.Is(err, cluster.ErrNoLeader) {
				t.Fatalf("got %v, want ErrNoLeader", err)
			}
		})
	}
	if n := poolSize(c); n != 0 {
		t.Fatalf("empty address created %d connections", n)
	}
}

func TestUnreachable(t *testing.T) {
	addr := mustClosedAddr(t)
	c := mustClient(t, ClientOptions{})
	for method, call := range calls(c, addr) {
		t.Run(method, func(t *testing.T) {
			err := call(context.Background())
			if !errors.Is(err, cluster.ErrNoLeader) {
				t.Fatalf("got %v, want ErrNoLeader", err)
			}
			if errors.Is(err, cluster.ErrUnknownOutcome) {
				t.Fatalf("nothing was sent, yet %v reports an unknown outcome", err)
			}
		})
	}
}

func TestClosedClient(t *testing.T) {
	addr := mustServe(t, &fakeNode{})
	c := NewClient(ClientOptions{})
	if _, err := c.Propose(context.Background(), addr, []byte("x")); err != nil {
		t.Fatalf("Propose: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for method, call := range calls(c, addr) {
		t.Run(method, func(t *testing.T) {
			if err := call(context.Background()); !errors.Is(err, cluster.ErrClosed) {
				t.Fatalf("got %v, want ErrClosed", err)
			}
		})
	}
}

func TestServerRestart(t *testing.T) {
	ctx := context.Background()

	t.Run("CallWhileDown", func(t *testing.T) {
		srv, addr := mustServeStoppable(t, &fakeNode{}, "127.0.0.1:0")
		c := mustClient(t, ClientOptions{})
		if _, err := c.Propose(ctx, addr, []byte("before")); err != nil {
			t.Fatalf("Propose before restart: %v", err)
		}
		c.mu.Lock()
		old := c.conns[addr]
		c.mu.Unlock()
		srv.Stop()
		if _, err := c.ReadIndex(ctx, addr); !errors.Is(err, cluster.ErrNoLeader) {
			t.Fatalf("ReadIndex while down: got %v, want ErrNoLeader", err)
		}
		if n := poolSize(c); n != 0 {
			t.Fatalf("the failed connection is still pooled (%d pooled)", n)
		}
		node := &fakeNode{}
		mustServeAt(t, node, addr)
		got, err := c.Propose(ctx, addr, []byte("after"))
		if err != nil {
			t.Fatalf("Propose after restart: %v", err)
		}
		if !bytes.Equal(got, replyFor([]byte("after"))) {
			t.Fatalf("result after restart: %q", got)
		}
		c.mu.Lock()
		renewed := c.conns[addr]
		c.mu.Unlock()
		if renewed == nil || renewed == old {
			t.Fatalf("the client did not dial a new connection")
		}
		if node.proposedCount() != 1 {
			t.Fatalf("restarted node received %d commands, want 1", node.proposedCount())
		}
	})

	t.Run("NoCallWhileDown", func(t *testing.T) {
		srv, addr := mustServeStoppable(t, &fakeNode{}, "127.0.0.1:0")
		c := mustClient(t, ClientOptions{Timeout: time.Second})
		if _, err := c.Propose(ctx, addr, []byte("before")); err != nil {
			t.Fatalf("Propose before restart: %v", err)
		}
		srv.Stop()
		node := &fakeNode{index: 7}
		mustServeAt(t, node, addr)
		// The old connection may not have noticed the restart yet: a call can
		// fail once while the client re-dials, never more than briefly.
		deadline := time.Now().Add(10 * time.Second)
		for {
			idx, err := c.ReadIndex(ctx, addr)
			if err == nil {
				if idx != 7 {
					t.Fatalf("ReadIndex after restart: got %d, want 7", idx)
				}
				break
			}
			if !errors.Is(err, cluster.ErrNoLeader) {
				t.Fatalf("ReadIndex after restart: %v", err)
			}
			if time.Now().After(deadline) {
				t.Fatalf("no successful call within 10s of the restart: %v", err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

func TestStopIsBounded(t *testing.T) {
	node := &fakeNode{block: true}
	srv, addr := mustServeStoppable(t, node, "127.0.0.1:0")
	srv.stopTimeout = 100 * time.Millisecond
	c := mustClient(t, ClientOptions{Timeout: time.Hour})
	done := make(chan error, 1)
	go func() {
		_, err := c.Propose(context.Background(), addr, []byte("x"))
		done <- err
	}()
	waitFor(t, 10*time.Second, "the call to reach the node", func() bool {
		node.mu.Lock()
		defer node.mu.Unlock()
		return node.blocked == 1
	})
	srv.Stop() // returns once the hard stop has cancelled the blocked handler
	if err := <-done; !errors.Is(err, cluster.ErrUnknownOutcome) {
		t.Fatalf("Propose cut by Stop: got %v, want ErrUnknownOutcome", err)
	}
	node.mu.Lock()
	defer node.mu.Unlock()
	if node.canceled != 1 {
		t.Fatalf("handlers cancelled by Stop: %d, want 1", node.canceled)
	}
}

func TestDeadline(t *testing.T) {
	const short = 200 * time.Millisecond
	tests := []struct {
		name    string
		opts    ClientOptions
		ctx     func() (context.Context, context.CancelFunc)
		call    func(c *Client, ctx context.Context, addr string) error
		want    error
		wantCtx error
	}{
		{
			name: "ProposeContextDeadline",
			opts: ClientOptions{Timeout: time.Hour},
			ctx:  func() (context.Context, context.CancelFunc) { return context.WithTimeout(context.Background(), short) },
			call: func(c *Client, ctx context.Context, addr string) error {
				_, err := c.Propose(ctx, addr, []byte("x"))
				return err
			},
			want:    cluster.ErrUnknownOutcome,
			wantCtx: context.DeadlineExceeded,
		},
		{
			name: "ProposeDefaultDeadline",
			opts: ClientOptions{Timeout: short},
			ctx:  func() (context.Context, context.CancelFunc) { return context.Background(), func() {} },
			call: func(c *Client, ctx context.Context, addr string) error {
				_, err := c.Propose(ctx, addr, []byte("x"))
				return err
			},
			want:    cluster.ErrUnknownOutcome,
			wantCtx: context.DeadlineExceeded,
		},
		{
			name: "ProposeCanceled",
			opts: ClientOptions{Timeout: time.Hour},
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(short, cancel)
				return ctx, cancel
			},
			call: func(c *Client, ctx context.Context, addr string) error {
				_, err := c.Propose(ctx, addr, []byte("x"))
				return err
			},
			want:    cluster.ErrUnknownOutcome,
			wantCtx: context.Canceled,
		},
		{
			name: "ReadIndex",
			opts: ClientOptions{Timeout: short},
			ctx:  func() (context.Context, context.CancelFunc) { return context.Background(), func() {} },
			call: func(c *Client, ctx context.Context, addr string) error {
				_, err := c.ReadIndex(ctx, addr)
				return err
			},
			want:    cluster.ErrTimeout,
			wantCtx: context.DeadlineExceeded,
		},
		{
			name: "Join",
			opts: ClientOptions{Timeout: short},
			ctx:  func() (context.Context, context.CancelFunc) { return context.Background(), func() {} },
			call: func(c *Client, ctx context.Context, addr string) error {
				return c.Join(ctx, addr, cluster.Member{ID: "n2"})
			},
			want:    cluster.ErrUnknownOutcome,
			wantCtx: context.DeadlineExceeded,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			node := &fakeNode{block: true}
			addr := mustServe(t, node)
			c := mustClient(t, tt.opts)
			ctx, cancel := tt.ctx()
			defer cancel()
			start := time.Now()
			err := tt.call(c, ctx, addr)
			elapsed := time.Since(start)
			if !errors.Is(err, tt.want) || !errors.Is(err, tt.wantCtx) {
				t.Fatalf("got %v, want errors.Is %v and %v", err, tt.want, tt.wantCtx)
			}
			// A loose bound: the call ended because of the short deadline, not
			// the hour-long default or a hang.
			if elapsed > time.Minute {
				t.Fatalf("call returned after %v", elapsed)
			}
			// The deadline or cancellation reaches the server's handler.
			waitFor(t, 10*time.Second, "the server handler's context to end", func() bool {
				node.mu.Lock()
				defer node.mu.Unlock()
				return node.canceled == 1
			})
		})
	}
}

func TestExpiredContextBeforeCall(t *testing.T) {
	node := &fakeNode{}
	addr := mustServe(t, node)
	c := mustClient(t, ClientOptions{})
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	_, err := c.Propose(ctx, addr, []byte("x"))
	if !errors.Is(err, cluster.ErrTimeout) || errors.Is(err, cluster.ErrUnknownOutcome) {
		t.Fatalf("got %v, want ErrTimeout: nothing can have been sent", err)
	}
	if node.proposedCount() != 0 {
		t.Fatalf("node received %d commands", node.proposedCount())
	}
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestConcurrentCalls(t *testing.T) {
	node := &fakeNode{index: 9}
	addrA := mustServe(t, node)
	addrB := mustServe(t, &fakeNode{err: cluster.ErrNotLeader})
	c := mustClient(t, ClientOptions{})
	const workers, rounds = 8, 40
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds)
	for w := range workers {
		wg.Go(func() {
			for i := range rounds {
				cmd := fmt.Appendf(nil, "w%d-%d", w, i)
				got, err := c.Propose(context.Background(), addrA, cmd)
				if err != nil || !bytes.Equal(got, replyFor(cmd)) {
					errs <- fmt.Errorf("Propose %s: %q, %v", cmd, got, err)
				}
				if idx, err := c.ReadIndex(context.Background(), addrA); err != nil || idx != 9 {
					errs <- fmt.Errorf("ReadIndex: %d, %v", idx, err)
				}
				if _, err := c.Propose(context.Background(), addrB, cmd); !errors.Is(err, cluster.ErrNotLeader) {
					errs <- fmt.Errorf("Propose to follower: %v", err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if node.proposedCount() != workers*rounds {
		t.Fatalf("node received %d commands, want %d", node.proposedCount(), workers*rounds)
	}
	if n := poolSize(c); n != 2 {
		t.Fatalf("pooled connections: got %d, want 2", n)
	}
}

func BenchmarkPropose(b *testing.B) {
	addr := mustServe(b, &fakeNode{})
	c := mustClient(b, ClientOptions{})
	for _, n := range []int{64, 4 << 10, 1 << 20} {
		cmd := payload(n)
		b.Run(fmt.Sprintf("%dB", n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				if _, err := c.Propose(context.Background(), addr, cmd); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("64B-parallel", func(b *testing.B) {
		cmd := payload(64)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := c.Propose(context.Background(), addr, cmd); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
