// Package resptest runs golden RESP transcripts: text files that list commands
// and the exact replies a Redis-compatible server must give, checked over a raw
// TCP connection so that reply types (status, bulk, integer, error, nil,
// array) are compared exactly, not only their values. The same transcripts run
// against a single Riot node, a Riot cluster and redis-server.
//
// # Format
//
// A transcript is a sequence of cases separated by blank lines. A case is a
// command line followed by the expected reply, one or more lines:
//
//	# Lines starting with '#' before a case are comments.
//	SET greeting "hello world"
//	OK
//
//	GET greeting
//	"hello world"
//
// Command lines are split like redis-cli input: arguments are separated by
// spaces; "double quotes" allow the escapes \n \r \t \b \a \\ \" and \xHH;
// 'single quotes' allow \'. A command line of the form
//
//	raw "<bytes>"
//
// sends the bytes as they are (use it for inline commands and malformed
// requests) instead of encoding a command.
//
// Replies are written in redis-cli's notation, extended so every RESP type is
// distinct:
//
//	OK                  status reply
//	"text"              bulk string (escaped like redis-cli)
//	(integer) 42        integer
//	(error) ERR ...     error
//	(nil)               nil bulk string
//	(nil array)         nil array
//	(empty array)       array without elements
//	1) "a"              array elements, nested arrays indented
//	2) 1) "b"
//	   2) (integer) 3
//	(closed)            the server closed the connection
//
// RESP3 replies are written as (null), (true), (false), (double) x,
// (big number) x, (verbatim) "txt:...", map entries "1# key => value", set
// elements "1~ x" and push elements "1> x".
//
// After a raw case and after QUIT the runner also checks whether the server
// closed the connection: it reads every reply until either a probe PING sent
// behind the case answers or the connection ends, in which case the reply
// lines end with (closed). A new connection is opened for the next case.
// Every other case reads exactly one reply.
//
// Transcripts assume an empty keyspace and use their own key names.
package resptest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ReplyTimeout bounds the wait for each reply.
const ReplyTimeout = 10 * time.Second

// RunTranscript runs the transcript at path against the server at addr and
// reports every case whose replies differ from the expected ones. With update
// it rewrites the file's expected replies with the actual ones instead.
func RunTranscript(t testing.TB, addr, path string, update bool) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("resptest: %v", err)
	}
	f, err := parseFile(string(data))
	if err != nil {
		t.Fatalf("resptest: %s: %v", path, err)
	}
	s := &session{addr: addr}
	defer s.close()
	for _, c := range f.cases {
		got, err := s.run(c)
		if err != nil {
			t.Fatalf("resptest: %s:%d: %s: %v", path, c.line, c.cmd, err)
		}
		if update {
			c.want = got
			continue
		}
		if !equalLines(c.want, got) {
			t.Errorf("%s:%d: %s\n--- want\n%s\n--- got\n%s", path, c.line, c.cmd,
				strings.Join(c.want, "\n"), strings.Join(got, "\n"))
		}
	}
	if update {
		out := f.format()
		if out != string(data) {
			if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
				t.Fatalf("resptest: %v", err)
			}
			t.Logf("resptest: updated %s", path)
		}
	}
}

func equalLines(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// file is a parsed transcript.
type file struct {
	cases   []*tcase
	trailer []string // comments and blank lines after the last case
}

// tcase is one case of a transcript.
type tcase struct {
	lead []string // comment and blank lines before the command, kept as they are
	line int      // line number of the command, 1-based
	cmd  string
	want []string
}

func parseFile(data string) (*file, error) {
	lines := strings.Split(strings.ReplaceAll(data, "\r\n", "\n"), "\n")
	if n := len(lines); n > 0 && lines[n-1] == "" {
		lines = lines[:n-1]
	}
	f := &file{}
	var lead []string
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
			lead = append(lead, l)
			continue
		}
		c := &tcase{lead: lead, line: i + 1, cmd: l}
		lead = nil
		if _, _, err := c.request(); err != nil {
			return nil, fmt.Errorf("line %d: %v", i+1, err)
		}
		for i+1 < len(lines) && strings.TrimSpace(lines[i+1]) != "" {
			i++
			c.want = append(c.want, lines[i])
		}
		// The blank line ending the case is its separator, not part of the
		// next case's leading lines.
		if i+1 < len(lines) {
			i++
		}
		f.cases = append(f.cases, c)
	}
	f.trailer = lead
	return f, nil
}

func (f *file) format() string {
	var b strings.Builder
	for _, c := range f.cases {
		for _, l := range c.lead {
			b.WriteString(l + "\n")
		}
		b.WriteString(c.cmd + "\n")
		for _, l := range c.want {
			b.WriteString(l + "\n")
		}
		b.WriteString("\n")
	}
	for _, l := range f.trailer {
		b.WriteString(l + "\n")
	}
	return b.String()
}

// request returns the bytes to send for the case and whether the runner must
// check for a closed connection afterwards.
func (c *tcase) request() ([]byte, bool, error) {
	args, err := SplitArgs(c.cmd)
	if err != nil {
		return nil, false, err
	}
	if len(args) == 0 {
		return nil, false, errors.New("empty command")
	}
	if string(args[0]) == "raw" {
		if len(args) == 1 {
			return nil, false, errors.New("raw needs the bytes to send")
		}
		return bytes.Join(args[1:], nil), true, nil
	}
	return EncodeCommand(args), strings.EqualFold(string(args[0]), "quit"), nil
}

// EncodeCommand encodes args as a RESP multibulk request.
func EncodeCommand(args [][]byte) []byte {
	b := []byte("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, '\r', '\n')
		b = append(b, a...)
		b = append(b, '\r', '\n')
	}
	return b
}

// session is the runner's connection, reopened after the server closes it.
type session struct {
	addr  string
	conn  net.Conn
	rd    *bufio.Reader
	probe int
}

func (s *session) close() {
	if s.conn != nil {
		s.conn.Close()
		s.conn, s.rd = nil, nil
	}
}

// run executes one case and returns the rendered replies.
func (s *session) run(c *tcase) ([]string, error) {
	req, check, err := c.request()
	if err != nil {
		return nil, err
	}
	if s.conn == nil {
		conn, err := net.DialTimeout("tcp", s.addr, ReplyTimeout)
		if err != nil {
			return nil, err
		}
		s.conn, s.rd = conn, bufio.NewReader(conn)
	}
	var token string
	if check {
		s.probe++
		token = "resptest-probe-" + strconv.Itoa(s.probe)
		req = append(req, EncodeCommand([][]byte{[]byte("PING"), []byte(token)})...)
	}
	if err := s.conn.SetDeadline(time.Now().Add(ReplyTimeout)); err != nil {
		return nil, err
	}
	if _, err := s.conn.Write(req); err != nil {
		if closedErr(err) {
			s.close()
			return []string{"(closed)"}, nil
		}
		return nil, err
	}
	var out []string
	for {
		r, err := readReply(s.rd, 0)
		if err != nil {
			if closedErr(err) {
				s.close()
				return append(out, "(closed)"), nil
			}
			s.close()
			return nil, fmt.Errorf("reading reply: %w", err)
		}
		if !check {
			return r.render(), nil
		}
		if r.kind == '$' && !r.null && r.str == token {
			return out, nil
		}
		out = append(out, r.render()...)
	}
}

// closedErr reports whether err means the server closed the connection.
func closedErr(err error) bool {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return true
	}
	var op *net.OpError
	if errors.As(err, &op) && !op.Timeout() {
		// Connection reset or broken pipe: the peer is gone.
		return true
	}
	return false
}

// reply is one parsed RESP reply.
type reply struct {
	kind  byte // the RESP type byte
	str   string
	null  bool
	elems []reply // array, set and push elements; map keys and values alternate
}

const maxDepth = 64

// readReply parses one RESP2 or RESP3 reply.
func readReply(rd *bufio.Reader, depth int) (reply, error) {
	if depth > maxDepth {
		return reply{}, errors.New("reply nested too deeply")
	}
	line, err := rd.ReadString('\n')
	if err != nil {
		return reply{}, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return reply{}, fmt.Errorf("malformed reply line %q", line)
	}
	kind, body := line[0], line[1:len(line)-2]
	switch kind {
	case '+', '-', ':', ',', '(', '#':
		return reply{kind: kind, str: body}, nil
	case '_':
		return reply{kind: kind, null: true}, nil
	case '$', '=', '!':
		n, err := strconv.Atoi(body)
		if err != nil || n < -1 {
			return reply{}, fmt.Errorf("bad length in %q", line)
		}
		if n == -1 {
			return reply{kind: kind, null: true}, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(rd, buf); err != nil {
			return reply{}, err
		}
		if buf[n] != '\r' || buf[n+1] != '\n' {
			return reply{}, fmt.Errorf("bulk string of %d bytes not followed by CRLF", n)
		}
		return reply{kind: kind, str: string(buf[:n])}, nil
	case '*', '~', '>', '%':
		n, err := strconv.Atoi(body)
		if err != nil || n < -1 {
			return reply{}, fmt.Errorf("bad length in %q", line)
		}
		if n == -1 {
			return reply{kind: kind, null: true}, nil
		}
		count := n
		if kind == '%' {
			count = 2 * n
		}
		r := reply{kind: kind, elems: make([]reply, 0, min(count, 1024))}
		for range count {
			e, err := readReply(rd, depth+1)
			if err != nil {
				return reply{}, err
			}
			r.elems = append(r.elems, e)
		}
		return r, nil
	}
	return reply{}, fmt.Errorf("unknown reply type in %q", line)
}

// render writes r in the transcript notation, one string per line.
func (r reply) render() []string {
	switch r.kind {
	case '+':
		return []string{r.str}
	case '-', '!':
		return []string{"(error) " + r.str}
	case ':':
		return []string{"(integer) " + r.str}
	case ',':
		return []string{"(double) " + r.str}
	case '(':
		return []string{"(big number) " + r.str}
	case '#':
		if r.str == "t" {
			return []string{"(true)"}
		}
		return []string{"(false)"}
	case '_':
		return []string{"(null)"}
	case '$':
		if r.null {
			return []string{"(nil)"}
		}
		return []string{Quote([]byte(r.str))}
	case '=':
		return []string{"(verbatim) " + Quote([]byte(r.str))}
	}
	// Aggregates.
	if r.null {
		return []string{"(nil array)"}
	}
	if len(r.elems) == 0 {
		switch r.kind {
		case '%':
			return []string{"(empty map)"}
		case '~':
			return []string{"(empty set)"}
		}
		return []string{"(empty array)"}
	}
	sep := map[byte]string{'*': ") ", '~': "~ ", '>': "> ", '%': "# "}[r.kind]
	n := len(r.elems)
	step := 1
	if r.kind == '%' {
		n /= 2
		step = 2
	}
	width := len(strconv.Itoa(n))
	var out []string
	for i := range n {
		prefix := fmt.Sprintf("%*d%s", width, i+1, sep)
		var lines []string
		if r.kind == '%' {
			k := r.elems[2*i].render()
			v := r.elems[2*i+1].render()
			lines = append(lines, strings.Join(k, " ")+" => "+v[0])
			pad := strings.Repeat(" ", len(lines[0])-len(v[0]))
			for _, l := range v[1:] {
				lines = append(lines, pad+l)
			}
		} else {
			lines = r.elems[i*step].render()
		}
		indent := strings.Repeat(" ", len(prefix))
		for j, l := range lines {
			if j == 0 {
				out = append(out, prefix+l)
			} else {
				out = append(out, indent+l)
			}
		}
	}
	return out
}

// Quote returns b in double quotes with redis-cli's escapes.
func Quote(b []byte) string {
	var s strings.Builder
	s.WriteByte('"')
	for _, c := range b {
		switch c {
		case '\\':
			s.WriteString(`\\`)
		case '"':
			s.WriteString(`\"`)
		case '\n':
			s.WriteString(`\n`)
		case '\r':
			s.WriteString(`\r`)
		case '\t':
			s.WriteString(`\t`)
		case '\a':
			s.WriteString(`\a`)
		case '\b':
			s.WriteString(`\b`)
		default:
			if c >= 0x20 && c <= 0x7e {
				s.WriteByte(c)
			} else {
				fmt.Fprintf(&s, `\x%02x`, c)
			}
		}
	}
	s.WriteByte('"')
	return s.String()
}

// SplitArgs splits a command line like redis-cli does (see the package
// documentation for the quoting rules).
func SplitArgs(line string) ([][]byte, error) {
	var args [][]byte
	i := 0
	for {
		for i < len(line) && isSpace(line[i]) {
			i++
		}
		if i == len(line) {
			return args, nil
		}
		var cur []byte
		switch line[i] {
		case '"':
			i++
			for {
				if i >= len(line) {
					return nil, errors.New("unbalanced double quotes")
				}
				c := line[i]
				if c == '"' {
					i++
					break
				}
				if c == '\\' && i+1 < len(line) {
					i++
					switch e := line[i]; e {
					case 'n':
						cur = append(cur, '\n')
					case 'r':
						cur = append(cur, '\r')
					case 't':
						cur = append(cur, '\t')
					case 'b':
						cur = append(cur, '\b')
					case 'a':
						cur = append(cur, '\a')
					case 'x':
						if i+2 < len(line) {
							if v, err := strconv.ParseUint(line[i+1:i+3], 16, 8); err == nil {
								cur = append(cur, byte(v))
								i += 3
								continue
							}
						}
						cur = append(cur, 'x')
					default:
						cur = append(cur, e)
					}
					i++
					continue
				}
				cur = append(cur, c)
				i++
			}
			if i < len(line) && !isSpace(line[i]) {
				return nil, errors.New("closing quote must be followed by a space")
			}
		case '\'':
			i++
			for {
				if i >= len(line) {
					return nil, errors.New("unbalanced single quotes")
				}
				c := line[i]
				if c == '\'' {
					i++
					break
				}
				if c == '\\' && i+1 < len(line) && line[i+1] == '\'' {
					cur = append(cur, '\'')
					i += 2
					continue
				}
				cur = append(cur, c)
				i++
			}
			if i < len(line) && !isSpace(line[i]) {
				return nil, errors.New("closing quote must be followed by a space")
			}
		default:
			start := i
			for i < len(line) && !isSpace(line[i]) {
				i++
			}
			cur = []byte(line[start:i])
		}
		if cur == nil {
			cur = []byte{}
		}
		args = append(args, cur)
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' }
