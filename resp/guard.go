package resp

import (
	"bytes"
	"net"
)

// The protocol guard sits between a client's socket and redcon's parser. It
// follows the request stream's framing (inline lines, multibulk headers, bulk
// lengths) and rejects what Redis rejects before the bytes reach the parser:
// a bulk string longer than the configured maximum, an oversized inline
// command, or a malformed header. Without it redcon would buffer any amount
// of data a client announced. On a violation the client gets Redis's
// protocol error reply and the connection is closed; commands that arrived
// complete before the bad one are still executed and answered, as with Redis.

// protocolError is a request stream Redis would refuse. Its text is Redis's.
type protocolError struct{ msg string }

func (e *protocolError) Error() string { return "Protocol error: " + e.msg }

var (
	errInvalidBulkLength      = &protocolError{"invalid bulk length"}
	errInvalidMultibulkLength = &protocolError{"invalid multibulk length"}
	errTooBigInline           = &protocolError{"too big inline request"}
)

// guardListener wraps accepted connections in guardConn.
type guardListener struct {
	net.Listener
	maxBulk int64
}

func (l *guardListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &guardConn{Conn: c, g: protoGuard{maxBulk: l.maxBulk}}, nil
}

// guardConn checks every byte read from the client. Reads and the error reply
// it writes happen on the connection's own goroutine, after redcon has flushed
// the replies to every earlier command, so they never interleave with them.
type guardConn struct {
	net.Conn
	g        protoGuard
	err      error // violation found; returned by every later Read
	reported bool  // the error reply was written
}

func (c *guardConn) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.fail()
	}
	n, err := c.Conn.Read(p)
	if n > 0 {
		if k, gerr := c.g.scan(p[:n]); gerr != nil {
			// Hand over only the bytes before the violation: the command it is
			// in stays incomplete, so redcon cannot run it, and the next Read
			// reports the error.
			c.err = gerr
			if k == 0 {
				return 0, c.fail()
			}
			return k, nil
		}
	}
	return n, err
}

// fail writes the error reply once and returns the violation.
func (c *guardConn) fail() error {
	if !c.reported {
		c.reported = true
		_, _ = c.Conn.Write([]byte("-ERR " + c.err.Error() + "\r\n"))
	}
	return c.err
}

type guardState uint8

const (
	gsStart     guardState = iota // at the start of a command
	gsInline                      // in an inline command line
	gsCount                       // in the digits of "*<count>\r\n"
	gsCountLF                     // after the count's '\r'
	gsBulkStart                   // expecting the '$' of an argument
	gsBulkLen                     // in the digits of "$<len>\r\n"
	gsBulkLenLF                   // after the length's '\r'
	gsBulkBody                    // in an argument's bytes
	gsBulkCR                      // expecting the '\r' after an argument
	gsBulkLF                      // expecting the '\n' after an argument
)

// protoGuard is the framing state of one request stream.
type protoGuard struct {
	maxBulk int64
	state   guardState
	n       int64 // number being parsed, inline length so far, or bytes left in an argument
	digits  int
	args    int64 // arguments left in the current multibulk command
}

// scan advances over b. On a violation it returns the offset of the byte where
// it was found and the error; otherwise len(b) and nil.
func (g *protoGuard) scan(b []byte) (int, error) {
	for i := 0; i < len(b); i++ {
		ch := b[i]
		switch g.state {
		case gsStart:
			switch ch {
			case '*':
				g.state, g.n, g.digits = gsCount, 0, 0
			case '\n':
				// An empty inline line; redcon skips it.
			default:
				g.state, g.n = gsInline, 1
			}
		case gsInline:
			j := bytes.IndexByte(b[i:], '\n')
			if j < 0 {
				if g.n += int64(len(b) - i); g.n > maxInlineSize {
					return i, errTooBigInline
				}
				return len(b), nil
			}
			if g.n += int64(j); g.n > maxInlineSize {
				return i, errTooBigInline
			}
			i += j
			g.state = gsStart
		case gsCount:
			switch {
			case '0' <= ch && ch <= '9':
				if g.n = g.n*10 + int64(ch-'0'); g.n > maxMultibulkLen {
					return i, errInvalidMultibulkLength
				}
				g.digits++
			case ch == '\r' && g.digits > 0:
				g.state = gsCountLF
			default:
				return i, errInvalidMultibulkLength
			}
		case gsCountLF:
			if ch != '\n' || g.n == 0 {
				return i, errInvalidMultibulkLength
			}
			g.args, g.state = g.n, gsBulkStart
		case gsBulkStart:
			if ch != '$' {
				return i, &protocolError{"expected '$', got '" + string(ch) + "'"}
			}
			g.state, g.n, g.digits = gsBulkLen, 0, 0
		case gsBulkLen:
			switch {
			case '0' <= ch && ch <= '9':
				if g.n = g.n*10 + int64(ch-'0'); g.n > g.maxBulk {
					return i, errInvalidBulkLength
				}
				g.digits++
			case ch == '\r' && g.digits > 0:
				g.state = gsBulkLenLF
			default:
				return i, errInvalidBulkLength
			}
		case gsBulkLenLF:
			if ch != '\n' {
				return i, errInvalidBulkLength
			}
			g.state = gsBulkBody
			if g.n == 0 {
				g.state = gsBulkCR
			}
		case gsBulkBody:
			skip := int64(len(b) - i)
			if skip > g.n {
				skip = g.n
			}
			g.n -= skip
			i += int(skip) - 1
			if g.n == 0 {
				g.state = gsBulkCR
			}
		case gsBulkCR:
			if ch != '\r' {
				return i, errInvalidBulkLength
			}
			g.state = gsBulkLF
		case gsBulkLF:
			if ch != '\n' {
				return i, errInvalidBulkLength
			}
			if g.args--; g.args == 0 {
				g.state = gsStart
			} else {
				g.state = gsBulkStart
			}
		}
	}
	return len(b), nil
}
