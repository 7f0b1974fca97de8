package main

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestAnswerKeepsAnIncompleteCommand(t *testing.T) {
	in := []byte("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPI")
	var args [][]byte
	out, left, err := answer(in, nil, &args)
	if err != nil {
		t.Fatal(err)
	}
	if want := "$64\r\n" + strings.Repeat("x", 64) + "\r\n"; string(out) != want {
		t.Fatalf("replies %q, want %q", out, want)
	}
	if string(left) != "*1\r\n$4\r\nPI" {
		t.Fatalf("left %q", left)
	}
	if _, _, err := answer([]byte("*x\r\n"), nil, &args); err == nil {
		t.Fatal("a malformed header parsed")
	}
}

func TestModesAnswerRealClients(t *testing.T) {
	for _, mode := range []string{"goroutine", "redcon", "epoll"} {
		t.Run(mode, func(t *testing.T) {
			serve, err := server(mode)
			if err != nil {
				t.Fatal(err)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- serve(ln) }()

			ctx := context.Background()
			rdb := redis.NewClient(&redis.Options{Addr: ln.Addr().String(), Protocol: 2, DisableIdentity: true})
			if v, err := rdb.Get(ctx, "k").Result(); err != nil || v != strings.Repeat("x", 64) {
				t.Fatalf("GET = %q, %v", v, err)
			}
			if v, err := rdb.Set(ctx, "k", "v", 0).Result(); err != nil || v != "OK" {
				t.Fatalf("SET = %q, %v", v, err)
			}
			cmds, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
				for range 100 {
					p.Get(ctx, "k")
				}
				return nil
			})
			if err != nil || len(cmds) != 100 {
				t.Fatalf("pipeline: %d replies, %v", len(cmds), err)
			}
			rdb.Close()

			// A command split over two writes is answered once, when whole.
			nc, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			if _, err := nc.Write([]byte("*1\r\n$4\r\nPI")); err != nil {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond)
			if _, err := nc.Write([]byte("NG\r\n")); err != nil {
				t.Fatal(err)
			}
			_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
			line, err := bufio.NewReader(nc).ReadString('\n')
			if err != nil || line != "+OK\r\n" {
				t.Fatalf("split PING answered %q, %v", line, err)
			}

			ln.Close()
			select {
			case <-done: // redcon returns nil, the others the Accept error
			case <-time.After(5 * time.Second):
				t.Fatal("serve did not return after its listener closed")
			}
		})
	}
}
