package resptest

import (
	"bufio"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestSplitArgs(t *testing.T) {
	tests := []struct {
		line string
		want []string
		bad  bool
	}{
		{"GET k", []string{"GET", "k"}, false},
		{"  SET   k  v  ", []string{"SET", "k", "v"}, false},
		{`SET k "hello world"`, []string{"SET", "k", "hello world"}, false},
		{`ECHO "a\r\n\t\"\\\x41\xff"`, []string{"ECHO", "a\r\n\t\"\\A\xff"}, false},
		{`ECHO ""`, []string{"ECHO", ""}, false},
		{`ECHO 'it\'s "x"'`, []string{"ECHO", `it's "x"`}, false},
		{`ECHO "open`, nil, true},
		{`ECHO 'open`, nil, true},
		{`ECHO "a"b`, nil, true},
	}
	for _, tc := range tests {
		got, err := SplitArgs(tc.line)
		if tc.bad {
			if err == nil {
				t.Errorf("SplitArgs(%q) = %q, want an error", tc.line, got)
			}
			continue
		}
		if err != nil || len(got) != len(tc.want) {
			t.Errorf("SplitArgs(%q) = %q, %v; want %q", tc.line, got, err, tc.want)
			continue
		}
		for i := range got {
			if string(got[i]) != tc.want[i] {
				t.Errorf("SplitArgs(%q)[%d] = %q, want %q", tc.line, i, got[i], tc.want[i])
			}
		}
	}
}

func TestQuoteRoundTrip(t *testing.T) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	q := Quote(all)
	args, err := SplitArgs(q)
	if err != nil || len(args) != 1 || string(args[0]) != string(all) {
		t.Fatalf("SplitArgs(Quote(x)) = %q, %v; want x back", args, err)
	}
}

func TestRender(t *testing.T) {
	tests := []struct {
		raw  string
		want []string
	}{
		{"+OK\r\n", []string{"OK"}},
		{"-ERR x\r\n", []string{"(error) ERR x"}},
		{":-3\r\n", []string{"(integer) -3"}},
		{"$3\r\na\nb\r\n", []string{`"a\nb"`}},
		{"$-1\r\n", []string{"(nil)"}},
		{"*-1\r\n", []string{"(nil array)"}},
		{"*0\r\n", []string{"(empty array)"}},
		{"*2\r\n$1\r\na\r\n*2\r\n:1\r\n*0\r\n", []string{`1) "a"`, `2) 1) (integer) 1`, `   2) (empty array)`}},
		{"*10\r\n" + strings.Repeat(":0\r\n", 10), []string{" 1) (integer) 0", " 2) (integer) 0", " 3) (integer) 0", " 4) (integer) 0",
			" 5) (integer) 0", " 6) (integer) 0", " 7) (integer) 0", " 8) (integer) 0", " 9) (integer) 0", "10) (integer) 0"}},
		{"%1\r\n+k\r\n*2\r\n:1\r\n:2\r\n", []string{"1# k => 1) (integer) 1", "        2) (integer) 2"}},
		{"_\r\n", []string{"(null)"}},
		{"#t\r\n", []string{"(true)"}},
		{",1.5\r\n", []string{"(double) 1.5"}},
	}
	for _, tc := range tests {
		r, err := readReply(bufio.NewReader(strings.NewReader(tc.raw)), 0)
		if err != nil {
			t.Errorf("readReply(%q): %v", tc.raw, err)
			continue
		}
		if got := r.render(); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("render(%q):\n%s\nwant\n%s", tc.raw, strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
		}
	}
}

// scriptedServer answers the i-th command it reads with replies[i] and closes
// the connection after the last one.
func scriptedServer(t *testing.T, replies []string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		rd := bufio.NewReader(c)
		for _, r := range replies {
			// Each command is a two-element multibulk: 5 lines.
			for range 5 {
				if _, err := rd.ReadString('\n'); err != nil {
					return
				}
			}
			if _, err := c.Write([]byte(r)); err != nil {
				return
			}
		}
	}()
	return ln.Addr().String()
}

// recorder is a testing.TB that records failures instead of failing.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper()                        {}
func (r *recorder) Errorf(format string, a ...any) { r.errs = append(r.errs, format) }

func TestRunTranscriptMismatchAndUpdate(t *testing.T) {
	const text = "# comment\nECHO a\n\"a\"\n\nGET k\n(integer) 2\n\n# trailing\n"
	path := filepath.Join(t.TempDir(), "t.txt")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	replies := []string{"$1\r\na\r\n", ":1\r\n"}

	rec := &recorder{TB: t}
	RunTranscript(rec, scriptedServer(t, replies), path, false)
	if len(rec.errs) != 1 {
		t.Fatalf("%d mismatches reported, want 1", len(rec.errs))
	}

	RunTranscript(t, scriptedServer(t, replies), path, true)
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(text, "(integer) 2", "(integer) 1", 1)
	if string(got) != want {
		t.Fatalf("updated file:\n%s\nwant\n%s", got, want)
	}

	rec = &recorder{TB: t}
	RunTranscript(rec, scriptedServer(t, replies), path, false)
	if len(rec.errs) != 0 {
		t.Fatalf("mismatches after update: %q", rec.errs)
	}
}
