package cluster

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// A read-index service on a real port whose answers the test picks.
func startIndexServer(t *testing.T, fn func(context.Context) (uint64, error)) raft.ServerAddress {
	t.Helper()
	m, err := listenMux("127.0.0.1:0", nil, map[byte]func(net.Conn){
		readIndexMagic: func(c net.Conn) { serveReadIndex(c, fn, time.Second) },
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
