package fsm

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
)

func setBit(k string, off int64, on bool) *Command { return NewSetBit([]byte(k), off, on) }

func TestSetBit(t *testing.T) {
	f := mustMemFSM(t)
	apply(t, f, []step{
		{1, setBit("new", 7, true), "(integer) 0"},
		{1, setBit("zero", 11, false), "(integer) 0"}, // creates "\x00\x00"
		{1, set("s", "a", SetOptions{}), "OK"},        // 0x61 = 0110 0001
		{1, setBit("s", 1, true), "(integer) 1"},
		{1, setBit("s", 0, true), "(integer) 0"},
		{1, setBit("s", 0, false), "(integer) 1"},
		{1, setBit("s", 23, true), "(integer) 0"}, // grows to 3 bytes
		{1, set("ttl", "\x00", SetOptions{TTL: 100}), "OK"},
		{2, setBit("ttl", 0, true), "(integer) 0"}, // keeps the expiry
		{1, set("gone", "\xff", SetOptions{TTL: 5}), "OK"},
		{10, setBit("gone", 3, false), "(integer) 0"}, // expired: a new, empty string
		{10, setBit("s", MaxBitOffset+1, true), "(error) " + ErrTextBitOffset},
		{10, setBit("s", -1, true), "(error) " + ErrTextBitOffset},
	})
	checkProbes(t, f, []probe{
		{key: "new", now: 10, val: "\x01"},
		{key: "zero", now: 10, val: "\x00\x00"},
		{key: "s", now: 10, val: "a\x00\x01"},
		{key: "ttl", now: 10, val: "\x80", expireAt: 101},
		{key: "gone", now: 10, val: "\x00"},
	})

	// A SETBIT that changes nothing writes nothing: a WATCH stays valid.
	w := mustWatch(t, f, "s", 10)
	apply(t, f, []step{{10, setBit("s", 1, true), "(integer) 1"}})
	res := applyNext(t, f, 10, NewMulti([]Watch{w}, NewGet([]byte("s"))))
	if res.Kind != ResultArray {
		t.Fatalf("EXEC after a SETBIT that changed nothing = %s, want the array", res)
	}
	apply(t, f, []step{{10, setBit("s", 1, false), "(integer) 1"}})
	if res := applyNext(t, f, 10, NewMulti([]Watch{w}, NewGet([]byte("s")))); res.Kind != ResultNil {
		t.Fatalf("EXEC after a SETBIT that cleared a bit = %s, want nil", res)
	}

	corrupt := "(error) " + ErrTextCorruptCommand
	apply(t, f, []step{
		{10, &Command{Op: OpSetBit, Args: [][]byte{b("s"), {0x80}, {1}}}, corrupt},
		{10, &Command{Op: OpSetBit, Args: [][]byte{b("s"), {2}, {2}}}, corrupt},
		{10, &Command{Op: OpSetBit, Args: [][]byte{b("s"), {2}, nil}}, corrupt},
		{10, &Command{Op: OpSetBit, Args: [][]byte{b("s"), {2}}}, corrupt},
	})
	if OpSetBit.String() != "setbit" {
		t.Errorf("OpSetBit.String() = %q", OpSetBit.String())
	}
}

// TestBitCountAndPos checks the word-at-a-time BitCount and the byte-skipping
// BitPos against a bit-by-bit walk of the same range, over random strings and
// ranges (the replies' agreement with Redis is in resp/testdata/bits.txt and
// the differential test).
func TestBitCountAndPos(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	fill := []byte{0x00, 0xff, 0x01, 0x80, 0x7f, 0xfe}
	for range 20000 {
		v := make([]byte, rng.IntN(40))
		for i := range v {
			if rng.IntN(3) == 0 {
				v[i] = byte(rng.Uint32())
			} else {
				v[i] = fill[rng.IntN(len(fill))]
			}
		}
		n := int64(len(v))*8 + 20
		start, end := rng.Int64N(2*n)-n, rng.Int64N(2*n)-n
		bits, endGiven, bit := rng.IntN(2) == 0, rng.IntN(2) == 0, rng.IntN(2) == 0
		if !endGiven {
			end = -1
		}
		lo, hi, ok := bitRange(int64(len(v)), start, end, bits)
		var count int64
		pos := int64(-1)
		for i := lo; ok && i <= hi; i++ {
			set := v[i/8]&(0x80>>(i%8)) != 0
			if set {
				count++
			}
			if set == bit && pos < 0 {
				pos = i
			}
		}
		if pos < 0 && ok && !bit && !endGiven {
			pos = hi + 1
		}
		if start < 0 && end < 0 && start > end {
			count = 0
		}
		if got := BitCount(v, start, end, bits); got != count {
			t.Fatalf("BitCount(%x, %d, %d, bits=%v) = %d, want %d", v, start, end, bits, got, count)
		}
		if got := BitPos(v, bit, start, end, endGiven, bits); got != pos {
			t.Fatalf("BitPos(%x, %v, %d, %d, endGiven=%v, bits=%v) = %d, want %d", v, bit, start, end, endGiven, bits, got, pos)
		}
	}
}

func TestBitOp(t *testing.T) {
	f := mustMemFSM(t)
	bitop := func(op byte, dest string, srcs ...string) *Command {
		bs := make([][]byte, len(srcs))
		for i, s := range srcs {
			bs[i] = b(s)
		}
		return NewBitOp(op, b(dest), bs...)
	}
	apply(t, f, []step{
		{1, set("x", "\x0f\xf0\x01", SetOptions{}), "OK"},
		{1, set("y", "\xff", SetOptions{}), "OK"},
		{1, set("old", "\xff\xff", SetOptions{TTL: 5}), "OK"},
		{1, bitop(BitAnd, "and", "x", "y"), "(integer) 3"},
		{1, bitop(BitOr, "or", "x", "y", "missing"), "(integer) 3"},
		{1, bitop(BitXor, "xor", "y", "x"), "(integer) 3"},
		{1, bitop(BitNot, "not", "y"), "(integer) 1"},
		{10, bitop(BitOr, "exp", "old", "y"), "(integer) 1"}, // an expired source is empty
		{1, set("dst", "v", SetOptions{TTL: 100}), "OK"},
		{2, bitop(BitAnd, "dst", "y"), "(integer) 1"}, // the expiry goes
		{3, bitop(BitOr, "dst", "missing"), "(integer) 0"},
		{3, bitop(BitOr, "never", "missing"), "(integer) 0"},
	})
	checkProbes(t, f, []probe{
		{key: "and", now: 10, val: "\x0f\x00\x00"},
		{key: "or", now: 10, val: "\xff\xf0\x01"},
		{key: "xor", now: 10, val: "\xf0\xf0\x01"},
		{key: "not", now: 10, val: "\x00"},
		{key: "exp", now: 10, val: "\xff"},
		{key: "dst", now: 10, absent: true},
		{key: "never", now: 10, absent: true},
	})
	corrupt := "(error) " + ErrTextCorruptCommand
	apply(t, f, []step{
		{10, bitop(BitNot, "d", "x", "y"), corrupt},
		{10, bitop(0, "d", "x"), corrupt},
		{10, bitop(BitNot+1, "d", "x"), corrupt},
		{10, &Command{Op: OpBitOp, Args: [][]byte{{BitAnd, BitOr}, b("d"), b("x")}}, corrupt},
		{10, &Command{Op: OpBitOp, Args: [][]byte{{BitAnd}, b("d")}}, corrupt},
	})
}

func TestBitField(t *testing.T) {
	f := mustMemFSM(t)
	u8 := func(kind byte, off, v int64, ow byte) BitFieldOp {
		return BitFieldOp{Kind: kind, Bits: 8, Offset: off, Value: v, Overflow: ow}
	}
	bf := func(k string, ops ...BitFieldOp) *Command { return NewBitField(b(k), ops) }
	apply(t, f, []step{
		{1, set("k", "\x01", SetOptions{TTL: 100}), "OK"},
		{2, bf("k", u8(BitFieldIncrBy, 0, 255, OverflowWrap), u8(BitFieldGet, 4, 0, OverflowWrap),
			u8(BitFieldSet, 8, 7, OverflowWrap)), "[(integer) 0 (integer) 0 (integer) 0]"},
		{2, bf("k", u8(BitFieldIncrBy, 0, -1, OverflowFail), u8(BitFieldSet, 8, 300, OverflowSat)),
			"[(nil) (integer) 7]"},
		{1, set("gone", "\xff", SetOptions{TTL: 1}), "OK"},
		{5, bf("gone", BitFieldOp{Kind: BitFieldIncrBy, Signed: true, Bits: 4, Offset: 4, Value: -9, Overflow: OverflowSat}),
			"[(integer) -8]"},
		{5, bf("new", u8(BitFieldIncrBy, 16, 1000, OverflowFail)), "[(nil)]"},
	})
	checkProbes(t, f, []probe{
		{key: "k", now: 5, val: "\x00\xff", expireAt: 101},
		{key: "gone", now: 5, val: "\x08"},
		{key: "new", now: 5, val: "\x00\x00\x00"}, // created to hold the field, as Redis does
	})

	// An INCRBY by 0 changes nothing: the key is not written, so a WATCH
	// on it stays valid.
	w := mustWatch(t, f, "k", 5)
	apply(t, f, []step{{5, bf("k", u8(BitFieldIncrBy, 8, 0, OverflowWrap)), "[(integer) 255]"}})
	if res := applyNext(t, f, 5, NewMulti([]Watch{w}, NewGet(b("k")))); res.Kind != ResultArray {
		t.Fatalf("EXEC after a BITFIELD that changed nothing = %s, want the array", res)
	}

	corrupt := "(error) " + ErrTextCorruptCommand
	good := NewBitField(b("k"), []BitFieldOp{u8(BitFieldSet, 0, 1, OverflowWrap)}).Args[1]
	for i, a := range [][]byte{
		nil,
		good[:5],
		append(append([]byte(nil), good...), 0),
		{0, 0, 8, 1, 0, 0},            // kind 0
		{BitFieldSet, 2, 8, 1, 0, 0},  // flags
		{BitFieldSet, 0, 64, 1, 0, 0}, // u64
		{BitFieldSet, 1, 65, 1, 0, 0}, // i65
		{BitFieldSet, 0, 0, 1, 0, 0},  // u0
		{BitFieldSet, 0, 8, 4, 0, 0},  // overflow mode
		{BitFieldSet, 0, 8, 1, 1, 0},  // offset -1
		{BitFieldGet, 0, 8, 1, 0, 0},  // GETs only: a read, never proposed
		binary.AppendVarint([]byte{BitFieldSet, 0, 8, 1}, MaxBitOffset+1), // past the largest string
	} {
		c := &Command{Op: OpBitField, Args: [][]byte{b("k"), a}}
		if len(a) == 0 {
			c.Args = c.Args[:1]
		}
		if r := applyNext(t, f, 5, c); r.String() != corrupt {
			t.Errorf("case %d (%x): %s, want %s", i, a, r, corrupt)
		}
	}
	checkProbes(t, f, []probe{{key: "k", now: 5, val: "\x00\xff", expireAt: 101}})
}

func TestBitFieldOverflow(t *testing.T) {
	for _, tc := range []struct {
		base, incr int64
		signed     bool
		bits       int
		up         bool
		wrap, sat  int64
		over       bool
	}{
		{base: 250, incr: 10, bits: 8, wrap: 4, sat: 255, over: true},
		{base: 5, incr: -10, bits: 8, wrap: 251, sat: 0, over: true},
		{base: 5, incr: 10, bits: 8, wrap: 15, sat: 15},
		{base: -1, incr: 0, bits: 8, up: true, wrap: 255, sat: 255, over: true}, // unsigned SET -1
		{base: 127, incr: 1, signed: true, bits: 8, wrap: -128, sat: 127, over: true},
		{base: -128, incr: -1, signed: true, bits: 8, wrap: 127, sat: -128, over: true},
		{base: math.MaxInt64, incr: 1, signed: true, bits: 64, wrap: math.MinInt64, sat: math.MaxInt64, over: true},
		{base: math.MinInt64, incr: math.MinInt64, signed: true, bits: 64, wrap: 0, sat: math.MinInt64, over: true},
		{base: math.MaxInt64, incr: math.MinInt64, signed: true, bits: 64, wrap: -1, sat: -1},
		{base: 1<<62 - 1, incr: 1 << 62, bits: 63, wrap: 1<<63 - 1, sat: 1<<63 - 1},
		{base: 1<<63 - 1, incr: 1, bits: 63, wrap: 0, sat: 1<<63 - 1, over: true},
		{base: 1<<63 - 1, incr: math.MaxInt64, bits: 63, wrap: 1<<63 - 2, sat: 1<<63 - 1, over: true},
		// Redis's quirk: a SET value this far below an i5's range wraps
		// Redis's headroom arithmetic and saturates to the maximum.
		{base: math.MinInt64 + 1, incr: 0, signed: true, bits: 5, wrap: 1, sat: 15, over: true},
		{base: -1000, incr: 0, signed: true, bits: 5, wrap: -8, sat: -16, over: true},
	} {
		o := BitFieldOp{Signed: tc.signed, Bits: tc.bits, Overflow: OverflowWrap}
		w, over := fieldAdd(tc.base, tc.incr, o, tc.up)
		o.Overflow = OverflowSat
		s, _ := fieldAdd(tc.base, tc.incr, o, tc.up)
		if w != tc.wrap || s != tc.sat || over != tc.over {
			t.Errorf("%+v: wrap %d, sat %d, overflow %v", tc, w, s, over)
		}
	}
}

// FuzzBitCommands applies SETBIT, BITOP and BITFIELD commands with arbitrary
// arguments over a string and a missing key: they never panic, and one that
// fails changes nothing. (Commands that would build strings over 1 MiB are
// skipped: valid, but slow to fuzz.)
func FuzzBitCommands(f *testing.F) {
	f.Add(byte(0), []byte("k"), NewSetBit(b("k"), 9, true).Args[1], []byte{1})
	f.Add(byte(1), []byte{BitXor}, []byte("k"), []byte("m"))
	f.Add(byte(2), []byte("k"), NewBitField(b("k"), []BitFieldOp{{Kind: BitFieldIncrBy, Signed: true, Bits: 64, Overflow: OverflowSat, Offset: 3, Value: -5}}).Args[1],
		NewBitField(b("k"), []BitFieldOp{{Kind: BitFieldGet, Bits: 7, Overflow: OverflowFail, Offset: 100}}).Args[1])
	f.Fuzz(func(t *testing.T, which byte, a0, a1, a2 []byte) {
		var c *Command
		switch which % 3 {
		case 0:
			if off, ok := argInt64(a1); ok && off > 1<<23 {
				return
			}
			c = &Command{Op: OpSetBit, Args: [][]byte{a0, a1, a2}}
		case 1:
			c = &Command{Op: OpBitOp, Args: [][]byte{a0, a1, a2, b("k")}}
		default:
			for _, a := range [][]byte{a1, a2} {
				if o, ok := decodeBitFieldOp(a); ok && o.Offset > 1<<23 {
					return
				}
			}
			c = &Command{Op: OpBitField, Args: [][]byte{a0, a1, a2}}
		}
		m := mustMemFSM(t)
		applyNext(t, m, 1, set("k", "\x0f\xf0", SetOptions{TTL: 100}))
		before := mustDump(t, m.eng)
		r := applyNext(t, m, 2, c)
		if r.IsError() {
			if after := mustDump(t, m.eng); !sameDump(before, after) {
				t.Fatalf("failed %v %q changed the engine: %s", c.Op, c.Args, r)
			}
		}
		checkInvariants(t, m)
	})
}

// OpGetStrings (LCS inside a transaction) reads several values at once: it
// sees the writes queued before it, and answers through Eval too.
func TestGetStrings(t *testing.T) {
	f := mustMemFSM(t)
	apply(t, f, []step{{1, set("a", "x", SetOptions{}), "OK"}})
	res := applyNext(t, f, 1, NewMulti(nil, set("b", "y", SetOptions{}), NewGetStrings(b("a"), b("b"), b("none"))))
	if got := res.String(); got != `[OK ["x" "y" (nil)]]` {
		t.Fatalf("MULTI SET b, GETSTRINGS a b none = %s", got)
	}
	if r, err := f.Eval(NewGetStrings(b("b")), 1); err != nil || r.String() != `["y"]` {
		t.Fatalf("Eval GETSTRINGS b = %s, %v", r, err)
	}
	if OpGetStrings.String() != "getstrings" || !IsRead(OpGetStrings) {
		t.Errorf("OpGetStrings: name %q, read %v", OpGetStrings.String(), IsRead(OpGetStrings))
	}
}
