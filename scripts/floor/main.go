// Command floor is a RESP server that does no work: it answers GET with a
// fixed 64-byte value and every other command with +OK. Benchmarked with
// redis-benchmark beside redis-server (scripts/floor.sh), it measures what
// Go's networking costs per request on a machine before any database work: the
// floor under riot-redis's read path. It serves one of three ways:
//
//	-mode goroutine  a goroutine per connection on net.Conn (riot-redis's model)
//	-mode redcon     redcon's server, as riot-redis uses it
//	-mode epoll      one goroutine, one epoll set, non-blocking sockets
//	                 (redis-server's model: an event loop)
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/tidwall/redcon"
)

// value is the reply to GET, the size of the bench's values.
var value = []byte(strings.Repeat("x", 64))

func main() {
	addr := flag.String("addr", "127.0.0.1:7301", "address to listen on")
	mode := flag.String("mode", "goroutine", "goroutine, redcon or epoll")
	flag.Parse()
	serve, err := server(*mode)
	if err == nil {
		var ln net.Listener
		if ln, err = net.Listen("tcp", *addr); err == nil {
			err = serve(ln)
		}
	}
	fmt.Fprintln(os.Stderr, "floor:", err)
	os.Exit(1)
}

// server returns the serve function of a mode. It serves ln until ln fails.
func server(mode string) (func(ln net.Listener) error, error) {
	switch mode {
	case "goroutine":
		return serveGoroutines, nil
	case "redcon":
		return serveRedcon, nil
	case "epoll":
		return serveEpoll, nil
	}
	return nil, fmt.Errorf("unknown -mode %q (want goroutine, redcon or epoll)", mode)
}

func serveRedcon(ln net.Listener) error {
	// Each connection keeps a scratch buffer for its replies: WriteRaw copies
	// them into redcon's own.
	s := redcon.NewServer("", func(conn redcon.Conn, cmd redcon.Command) {
		b := conn.Context().(*[]byte)
		*b = reply((*b)[:0], cmd.Args)
		conn.WriteRaw(*b)
	}, func(conn redcon.Conn) bool {
		conn.SetContext(new([]byte))
		return true
	}, nil)
	return s.Serve(ln)
}

// reply appends the answer to one command to b.
func reply(b []byte, args [][]byte) []byte {
	switch {
	case len(args) == 0:
		return b
	case equalFold(args[0], "GET"):
		return redcon.AppendBulk(b, value)
	case equalFold(args[0], "CONFIG"):
		return redcon.AppendArray(b, 0)
	case equalFold(args[0], "HELLO"):
		// As a server before RESP3: clients fall back to RESP2.
		return redcon.AppendError(b, "ERR unknown command 'HELLO'")
	}
	return redcon.AppendOK(b)
}

// equalFold reports whether b is s in any case (s is upper case ASCII).
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// answer parses every complete command in in, appends their replies to out,
// and returns out and the bytes of an incomplete command left at the end.
// *args is the parser's argument buffer, kept between calls.
func answer(in, out []byte, args *[][]byte) ([]byte, []byte, error) {
	for len(in) > 0 {
		complete, a, _, rest, err := redcon.ReadNextCommand(in, (*args)[:0])
		if err != nil {
			return out, nil, err
		}
		if !complete {
			break
		}
		*args = a
		out = reply(out, a)
		in = rest
	}
	return out, in, nil
}

// conn is one connection's buffers: unparsed input, replies, arguments.
type conn struct {
	in, out []byte
	args    [][]byte
}

// feed parses what arrived (after what was left over, if anything), and
// returns the replies to write. Only an incomplete command is copied.
func (c *conn) feed(p []byte) ([]byte, error) {
	in := p
	if len(c.in) > 0 {
		c.in = append(c.in, p...)
		in = c.in
	}
	out, left, err := answer(in, c.out[:0], &c.args)
	c.out = out
	c.in = append(c.in[:0], left...)
	return out, err
}

func serveGoroutines(ln net.Listener) error {
	for {
		nc, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer nc.Close()
			var c conn
			buf := make([]byte, 16<<10)
			for {
				n, err := nc.Read(buf)
				if err != nil {
					return
				}
				out, err := c.feed(buf[:n])
				if len(out) > 0 {
					if _, werr := nc.Write(out); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
	}
}
