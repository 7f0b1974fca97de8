package fsm

import (
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
