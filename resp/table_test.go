package resp

import (
	"github.com/riot-kv/riot-redis/fsm"

	"math"
	"os"
	"strconv"
	"strings"
	"testing"
)

func TestRegisterPanics(t *testing.T) {
	noop := func(*client, [][]byte) {}
	tests := []struct {
		name string
		cmds []*command
	}{
		{"twice", []*command{{name: "get", arity: 2, handler: noop}, {name: "get", arity: -2, handler: noop}}},
		{"upper-case name", []*command{{name: "GET", arity: 2, handler: noop}}},
		{"empty name", []*command{{name: "", arity: 1, handler: noop}}},
		{"zero arity", []*command{{name: "x", handler: noop}}},
		{"no handler", []*command{{name: "x", arity: 1}}},
		{"container with own arity and no handler", []*command{{name: "x", arity: -1, subs: newTable("x")}}},
		{"subcommands of another container", []*command{{name: "x", arity: -2, subs: newTable("y")}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("register did not panic")
				}
			}()
			tb := newTable("")
			for _, c := range tc.cmds {
				tb.register(c)
			}
		})
	}
}

// TestCommandTable checks the real table's invariants.
func TestCommandTable(t *testing.T) {
	tb := newCommandTable()
	for _, c := range tb.order {
		if c.flags&flagWrite != 0 && c.flags&flagRead != 0 {
			t.Errorf("%s is both read and write", c.name)
		}
		if c.subs != nil {
			for _, s := range c.subs.order {
				if !strings.HasPrefix(s.fullName, c.name+"|") {
					t.Errorf("subcommand %q of %q", s.fullName, c.name)
				}
			}
		}
	}
	for _, name := range []string{"get", "GET", "Get", "cluster", "CLUSTER"} {
		if tb.lookup([]byte(name)) == nil {
			t.Errorf("lookup(%q) = nil", name)
		}
	}
	for _, name := range []string{"", "gett", "ge", strings.Repeat("g", maxNameLen+1)} {
		if c := tb.lookup([]byte(name)); c != nil {
			t.Errorf("lookup(%q) = %s", name, c.name)
		}
	}
}

func TestArity(t *testing.T) {
	tests := []struct {
		arity, max int
		n          int
		want       bool
	}{
		{2, 0, 2, true},
		{2, 0, 1, false},
		{2, 0, 3, false},
		{-2, 0, 2, true},
		{-2, 0, 9, true},
		{-2, 0, 1, false},
		{-1, 2, 1, true},
		{-1, 2, 2, true},
		{-1, 2, 3, false},
	}
	for _, tc := range tests {
		c := &command{arity: tc.arity, maxArgs: tc.max}
		if got := c.arityOK(tc.n); got != tc.want {
			t.Errorf("arity %d max %d with %d args = %v, want %v", tc.arity, tc.max, tc.n, got, tc.want)
		}
	}
}

func TestUnknownCommandText(t *testing.T) {
	long := strings.Repeat("a", 200)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"foo"}, "ERR unknown command 'foo', with args beginning with: "},
		{[]string{"Foo", "a", ""}, "ERR unknown command 'Foo', with args beginning with: 'a' '' "},
		{[]string{long}, "ERR unknown command '" + long[:128] + "', with args beginning with: "},
		{[]string{"x", long, "b"}, "ERR unknown command 'x', with args beginning with: '" + long[:128] + "' "},
		{[]string{"x", strings.Repeat("b", 120), "cccccccccc", "d"}, "ERR unknown command 'x', with args beginning with: '" + strings.Repeat("b", 120) + "' 'ccccc' "},
		{[]string{"x", "a\x00b"}, "ERR unknown command 'x', with args beginning with: 'a' "},
	}
	for _, tc := range tests {
		args := make([][]byte, len(tc.args))
		for i, a := range tc.args {
			args[i] = []byte(a)
		}
		if got := unknownCommandText(args); got != tc.want {
			t.Errorf("%q:\n got %q\nwant %q", tc.args, got, tc.want)
		}
	}
}

func TestParseInt(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"1", 1, true},
		{"-1", -1, true},
		{"42", 42, true},
		{"9223372036854775807", math.MaxInt64, true},
		{"-9223372036854775808", math.MinInt64, true},
		{"9223372036854775808", 0, false},
		{"-9223372036854775809", 0, false},
		{"18446744073709551616", 0, false},
		{"99999999999999999999", 0, false},
		{"", 0, false},
		{"-", 0, false},
		{"-0", 0, false},
		{"00", 0, false},
		{"01", 0, false},
		{"+1", 0, false},
		{" 1", 0, false},
		{"1 ", 0, false},
		{"1.0", 0, false},
		{"1e3", 0, false},
		{"0x10", 0, false},
		{"--1", 0, false},
	}
	for _, tc := range tests {
		got, ok := parseInt([]byte(tc.in))
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseInt(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
	// Every canonical decimal form round-trips.
	for _, v := range []int64{math.MinInt64 + 1, -1000000007, -10, 7, 123456789, math.MaxInt64 - 1} {
		if got, ok := parseInt([]byte(strconv.FormatInt(v, 10))); !ok || got != v {
			t.Errorf("parseInt(%d) = %d, %v", v, got, ok)
		}
	}
}

func TestParseSetOptions(t *testing.T) {
	const now = 1_700_000_000_000
	tests := []struct {
		opts    string
		wantErr string
		check   func(t *testing.T, o fsm.SetOptions)
	}{
		{"", "", func(t *testing.T, o fsm.SetOptions) {
			if o != (fsm.SetOptions{}) {
				t.Errorf("options %+v, want none", o)
			}
		}},
		{"nx get", "", func(t *testing.T, o fsm.SetOptions) {
			if !o.NX || !o.Get || o.XX {
				t.Errorf("options %+v", o)
			}
		}},
		{"EX 10", "", func(t *testing.T, o fsm.SetOptions) {
			if o.TTL != 10_000 || o.ExpireAt != 0 {
				t.Errorf("options %+v, want TTL 10000", o)
			}
		}},
		{"PX 5", "", func(t *testing.T, o fsm.SetOptions) {
			if o.TTL != 5 {
				t.Errorf("options %+v, want TTL 5", o)
			}
		}},
		{"EXAT 2", "", func(t *testing.T, o fsm.SetOptions) {
			if o.ExpireAt != 2000 || o.TTL != 0 {
				t.Errorf("options %+v, want ExpireAt 2000", o)
			}
		}},
		{"PXAT 9223372036854775807", "", func(t *testing.T, o fsm.SetOptions) {
			if o.ExpireAt != math.MaxInt64 {
				t.Errorf("options %+v", o)
			}
		}},
		{"XX KEEPTTL", "", func(t *testing.T, o fsm.SetOptions) {
			if !o.XX || !o.KeepTTL {
				t.Errorf("options %+v", o)
			}
		}},
		{"PX 9223372036854775807", errTextInvalidExpire, nil},
		{"PX 9223370336854775807", "", nil},
		{"PX 9223370336854775808", errTextInvalidExpire, nil},
		{"EX 9223372036854775", errTextInvalidExpire, nil},
		{"EXAT 9223372036854775", "", nil},
		{"EXAT 9223372036854776", errTextInvalidExpire, nil},
		{"PX 1 EX 1", errTextSyntax, nil},
		{"KEEPTTL PXAT 1", errTextSyntax, nil},
		{"PXAT 1 KEEPTTL", errTextSyntax, nil},
		{"XX NX", errTextSyntax, nil},
		{"GET GET NX NX", "", nil},
		{"EX", errTextSyntax, nil},
		{"EX x", errTextNotInteger, nil},
		{"EX -1", errTextInvalidExpire, nil},
	}
	for _, tc := range tests {
		t.Run(tc.opts, func(t *testing.T) {
			var opts [][]byte
			for _, f := range strings.Fields(tc.opts) {
				opts = append(opts, []byte(f))
			}
			o, errText := parseSetOptions(opts, now)
			if errText != tc.wantErr {
				t.Fatalf("error %q, want %q", errText, tc.wantErr)
			}
			if tc.check != nil {
				tc.check(t, o)
			}
		})
	}
}

// TestREADMEListsEveryCommand keeps the README's command list in step with
// the command table: every command appears there, in capitals, in backticks.
func TestREADMEListsEveryCommand(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	tb := newCommandTable()
	for _, c := range tb.order {
		if !strings.Contains(string(readme), "`"+strings.ToUpper(c.name)) {
			t.Errorf("README does not list %s", strings.ToUpper(c.name))
		}
	}
	if len(tb.order) < 70 {
		t.Fatalf("the table has %d commands", len(tb.order))
	}
}
