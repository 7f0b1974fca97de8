package fsm

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"testing"
)

func sampleCommands() map[string]*Command {
	return map[string]*Command{
		"noop":        NewNoop(),
		"set":         NewSet([]byte("k"), []byte("v"), SetOptions{}),
		"set-empty":   NewSet(nil, nil, SetOptions{}),
		"set-opts":    NewSet([]byte("k"), []byte("v"), SetOptions{NX: true, Get: true, TTL: 1500}),
		"set-pxat":    NewSet([]byte("k"), bytes.Repeat([]byte("x"), 300), SetOptions{XX: true, ExpireAt: 1 << 50}),
		"set-keepttl": NewSet([]byte("k"), []byte("v"), SetOptions{KeepTTL: true}),
		"del":         NewDel([]byte("a"), []byte("b"), []byte("")),
		"incrby":      NewIncrBy([]byte("n"), -42),
		"incrby-min":  NewIncrBy([]byte("n"), math.MinInt64),
		"setnode":     NewSetNode(NodeMeta{ID: "n1", RaftAddr: "127.0.0.1:12000", RESPAddr: "127.0.0.1:6379", RPCAddr: "r", HTTPAddr: "h"}),
		"removenode":  NewRemoveNode("n1"),
		"diskalarm":   NewDiskAlarm("n1", true),
	}
}

func TestCommandRoundTrip(t *testing.T) {
	for name, c := range sampleCommands() {
		t.Run(name, func(t *testing.T) {
			for _, now := range []int64{0, 1, 1_700_000_000_000, math.MaxInt64, -1} {
				c.Now = now
				b, err := c.MarshalBinary()
				if err != nil {
					t.Fatal(err)
				}
				if len(b) != c.encodedLen() {
					t.Errorf("encoded %d bytes, encodedLen says %d", len(b), c.encodedLen())
				}
				if app := c.AppendBinary([]byte("prefix")); !bytes.Equal(app[6:], b) || string(app[:6]) != "prefix" {
					t.Errorf("AppendBinary differs from MarshalBinary")
				}
				got, err := DecodeCommand(b)
				if err != nil {
					t.Fatalf("decode: %v", err)
				}
				if got.Op != c.Op || got.Now != c.Now || len(got.Args) != len(c.Args) {
					t.Fatalf("got %+v, want %+v", got, c)
				}
				for i := range c.Args {
					if !bytes.Equal(got.Args[i], c.Args[i]) {
						t.Errorf("arg %d: got %q, want %q", i, got.Args[i], c.Args[i])
					}
				}
			}
		})
	}
}

func TestDecodeCommandRejectsGarbage(t *testing.T) {
	valid, _ := NewSet([]byte("key"), []byte("value"), SetOptions{TTL: 10}).MarshalBinary()
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrBadCommand},
		{"version only", []byte{commandVersion}, ErrBadCommand},
		{"unknown version", append([]byte{2}, valid[1:]...), ErrUnknownVersion},
		{"version zero", []byte{0, 0, 0, 0}, ErrUnknownVersion},
		{"trailing byte", append(append([]byte(nil), valid...), 0), ErrBadCommand},
		{"huge arg count", []byte{commandVersion, 1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}, ErrBadCommand},
		{"huge arg length", []byte{commandVersion, 1, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, ErrBadCommand},
		{"overlong now", []byte{commandVersion, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0}, ErrBadCommand},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := DecodeCommand(tc.in)
			if !errors.Is(err, tc.want) || c != nil {
				t.Fatalf("DecodeCommand(%x) = %v, %v; want nil, %v", tc.in, c, err, tc.want)
			}
		})
	}
	t.Run("every truncation", func(t *testing.T) {
		for n := range len(valid) {
			if _, err := DecodeCommand(valid[:n]); err == nil {
				t.Errorf("truncated to %d bytes: decoded without error", n)
			}
		}
	})
}

func TestDecodeReusesArgs(t *testing.T) {
	var c Command
	big, _ := NewDel([]byte("a"), []byte("b"), []byte("c")).MarshalBinary()
	small, _ := NewDel([]byte("z")).MarshalBinary()
	if err := c.decode(big); err != nil {
		t.Fatal(err)
	}
	if err := c.decode(small); err != nil {
		t.Fatal(err)
	}
	if len(c.Args) != 1 || string(c.Args[0]) != "z" {
		t.Fatalf("args after reuse = %q", c.Args)
	}
	if allocs := testing.AllocsPerRun(100, func() { _ = c.decode(big) }); allocs != 0 {
		t.Errorf("decode into a reused command allocates %v times", allocs)
	}
}

func TestSetOptionsRoundTrip(t *testing.T) {
	tests := []SetOptions{
		{NX: true},
		{XX: true, KeepTTL: true},
		{Get: true, TTL: 1},
		{TTL: -5},
		{ExpireAt: math.MaxInt64},
		{NX: true, XX: true, KeepTTL: true, Get: true, TTL: 3, ExpireAt: 4},
	}
	for _, o := range tests {
		c := NewSet([]byte("k"), []byte("v"), o)
		if len(c.Args) != 3 {
			t.Fatalf("%+v: %d args, want 3", o, len(c.Args))
		}
		got, ok := decodeSetOptions(c.Args[2])
		if !ok || got != o {
			t.Errorf("decodeSetOptions = %+v, %v; want %+v", got, ok, o)
		}
	}
	for _, bad := range [][]byte{nil, {0x40}, {setTTL}, {setTTL, 0}, {setNX, 0}} {
		if _, ok := decodeSetOptions(bad); ok {
			t.Errorf("decodeSetOptions(%x) accepted", bad)
		}
	}
}

func TestResultRoundTrip(t *testing.T) {
	tests := map[string]Result{
		"nil":   {Kind: ResultNil},
		"ok":    {Kind: ResultOK},
		"int":   {Kind: ResultInt, Int: math.MinInt64},
		"bulk":  {Kind: ResultBulk, Bulk: []byte("hello\x00world")},
		"empty": {Kind: ResultBulk, Bulk: []byte{}},
		"error": {Kind: ResultError, Err: ErrTextWrongType},
		"array": {Kind: ResultArray, Array: []Result{
			{Kind: ResultInt, Int: 7},
			{Kind: ResultNil},
			{Kind: ResultArray, Array: []Result{{Kind: ResultBulk, Bulk: []byte("x")}}},
		}},
	}
	for name, r := range tests {
		t.Run(name, func(t *testing.T) {
			b, err := r.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecodeResult(b)
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != r.String() || !reflect.DeepEqual(got, r) {
				t.Fatalf("got %v, want %v", got, r)
			}
			for n := range len(b) {
				if _, err := DecodeResult(b[:n]); err == nil {
					t.Errorf("truncated to %d bytes: decoded without error", n)
				}
			}
		})
	}
}

func TestResultRejectsGarbage(t *testing.T) {
	deep := Result{Kind: ResultOK}
	for range maxResultDepth + 1 {
		deep = Result{Kind: ResultArray, Array: []Result{deep}}
	}
	if _, err := deep.MarshalBinary(); !errors.Is(err, ErrBadResult) {
		t.Errorf("marshal of a too deep result: %v, want ErrBadResult", err)
	}
	if _, err := (Result{Kind: 99}).MarshalBinary(); !errors.Is(err, ErrBadResult) {
		t.Errorf("marshal of an unknown kind: %v, want ErrBadResult", err)
	}
	deepBytes := []byte{resultVersion}
	for range maxResultDepth + 1 {
		deepBytes = append(deepBytes, byte(ResultArray), 1)
	}
	deepBytes = append(deepBytes, byte(ResultOK))
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrBadResult},
		{"version", []byte{9, byte(ResultOK)}, ErrUnknownVersion},
		{"kind", []byte{resultVersion, 99}, ErrBadResult},
		{"trailing", []byte{resultVersion, byte(ResultOK), 0}, ErrBadResult},
		{"huge array", []byte{resultVersion, byte(ResultArray), 0xff, 0xff, 0xff, 0xff, 0x0f}, ErrBadResult},
		{"too deep", deepBytes, ErrBadResult},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := DecodeResult(tc.in); !errors.Is(err, tc.want) {
				t.Fatalf("DecodeResult(%x) error = %v, want %v", tc.in, err, tc.want)
			}
		})
	}
}

func TestParseRedisInt(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"1", 1, true},
		{"-1", -1, true},
		{"1234567890", 1234567890, true},
		{"9223372036854775807", math.MaxInt64, true},
		{"-9223372036854775808", math.MinInt64, true},
		{"9223372036854775808", 0, false},
		{"-9223372036854775809", 0, false},
		{"99999999999999999999", 0, false},
		{"184467440737095516150", 0, false},
		{"", 0, false},
		{"-", 0, false},
		{"-0", 0, false},
		{"00", 0, false},
		{"01", 0, false},
		{"+1", 0, false},
		{" 1", 0, false},
		{"1 ", 0, false},
		{"1a", 0, false},
		{"1.0", 0, false},
		{"--1", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := parseRedisInt([]byte(tc.in))
			if got != tc.want || ok != tc.ok {
				t.Fatalf("parseRedisInt(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func FuzzDecodeCommand(f *testing.F) {
	for _, c := range sampleCommands() {
		b, _ := c.MarshalBinary()
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{commandVersion, 0xff, 0x80})
	f.Add([]byte{commandVersion, 1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCommand(b)
		if err != nil {
			if c != nil {
				t.Fatalf("non-nil command with error %v", err)
			}
			return
		}
		// A decoded command re-encodes to the same bytes (the encoding is
		// canonical for everything the decoder accepts, except overlong varints).
		again, err := DecodeCommand(c.AppendBinary(nil))
		if err != nil {
			t.Fatalf("re-encoded command does not decode: %v", err)
		}
		if !reflect.DeepEqual(again, c) {
			t.Fatalf("round trip changed the command: %+v -> %+v", c, again)
		}
		// Applying whatever decoded must never panic.
		mustApply(t, mustMemFSM(t), 1, c)
	})
}
