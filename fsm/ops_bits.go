package fsm

import (
	"encoding/binary"
	mbits "math/bits"
)

// OpSetBit is SETBIT key offset value: it sets or clears one bit of a string
// value, zero-padding the string (or creating it) up to the bit's byte, and
// answers the bit's old value. Args: key, the bit offset as a varint, then
// the value as one byte, 0 or 1. Part of the replicated log format: never
// renumber.
const OpSetBit Op = 31

// OpBitOp is BITOP AND|OR|XOR|NOT destkey key [key ...]: it stores the
// bitwise operation of the source strings (missing keys and the bytes past a
// shorter string count as zeros) in destkey, without an expiry, or deletes
// destkey when every source is empty, and answers the result's length.
// Args: the operation as one byte (BitAnd, BitOr, BitXor, BitNot), destkey,
// then the source keys (exactly one for BitNot). Part of the replicated log
// format: never renumber.
const OpBitOp Op = 32

// The operations of OpBitOp; part of the log format.
const (
	BitAnd byte = 1 + iota
	BitOr
	BitXor
	BitNot
)

// MaxBitOffset is the largest bit offset SETBIT accepts: the last bit of a
// string of MaxStringLen bytes.
const MaxBitOffset = MaxStringLen*8 - 1

// Redis error texts of the bit commands.
const (
	ErrTextBitOffset = "ERR bit offset is not an integer or out of range"
	ErrTextBitValue  = "ERR bit is not an integer or out of range"
)

func init() {
	register(OpSetBit, handler{minArgs: 3, maxArgs: 3, apply: applySetBit})
	register(OpBitOp, handler{minArgs: 3, maxArgs: -1, apply: applyBitOp})
	opNames[OpSetBit] = "setbit"
	opNames[OpBitOp] = "bitop"
}

// NewSetBit returns a SETBIT command; offset must be in [0, MaxBitOffset].
func NewSetBit(key []byte, offset int64, on bool) *Command {
	v := []byte{0}
	if on {
		v[0] = 1
	}
	return &Command{Op: OpSetBit, Args: [][]byte{key, binary.AppendVarint(nil, offset), v}}
}

func applySetBit(t *txn, c *Command) Result {
	off, ok := argInt64(c.Args[1])
	if !ok || len(c.Args[2]) != 1 || c.Args[2][0] > 1 {
		return resCorrupt
	}
	if off < 0 || off > MaxBitOffset {
		return errResult(ErrTextBitOffset)
	}
	s, old, exp, errRes := t.editString(c.Args[0])
	if errRes != nil {
		return *errRes
	}
	i, mask := int(off>>3), byte(0x80)>>(off&7)
	was := int64(0)
	if i < len(old) && old[i]&mask != 0 {
		was = 1
	}
	on := c.Args[2][0] == 1
	if s.live && i < len(old) && (was == 1) == on {
		// Nothing changes: as in Redis, the key is not written (a WATCH on
		// it stays valid).
		return intResult(was)
	}
	buf := make([]byte, max(len(old), i+1))
	copy(buf, old)
	if on {
		buf[i] |= mask
	} else {
		buf[i] &^= mask
	}
	t.store(s, typeString, exp, buf)
	return intResult(was)
}

// NewBitOp returns a BITOP command: op is one of BitAnd, BitOr, BitXor and
// BitNot (which takes exactly one source).
func NewBitOp(op byte, dest []byte, srcs ...[]byte) *Command {
	args := make([][]byte, 0, 2+len(srcs))
	args = append(args, []byte{op}, dest)
	return &Command{Op: OpBitOp, Args: append(args, srcs...)}
}

func applyBitOp(t *txn, c *Command) Result {
	op, srcKeys := c.Args[0], c.Args[2:]
	if len(op) != 1 || op[0] < BitAnd || op[0] > BitNot || (op[0] == BitNot && len(srcKeys) != 1) {
		return resCorrupt
	}
	srcs := make([][]byte, len(srcKeys))
	maxLen := 0
	for i, k := range srcKeys {
		s, ok := t.lookup(k)
		if !ok {
			return resCorruptValue
		}
		if !s.live {
			continue
		}
		v, errRes := stringOf(s)
		if errRes != nil {
			return *errRes
		}
		srcs[i] = v
		maxLen = max(maxLen, len(v))
	}
	res := make([]byte, maxLen)
	copy(res, srcs[0])
	switch op[0] {
	case BitNot:
		for j := range res {
			res[j] = ^res[j]
		}
	case BitAnd:
		for _, v := range srcs[1:] {
			for j := range res {
				if j < len(v) {
					res[j] &= v[j]
				} else {
					res[j] = 0
				}
			}
		}
	default:
		for _, v := range srcs[1:] {
			for j, b := range v {
				if op[0] == BitOr {
					res[j] |= b
				} else {
					res[j] ^= b
				}
			}
		}
	}
	d, ok := t.lookupHeader(c.Args[1])
	if !ok {
		return resCorruptValue
	}
	switch {
	case maxLen > 0:
		t.store(d, typeString, 0, res)
	case d.found:
		t.remove(d)
	}
	return intResult(int64(maxLen))
}

// BitCount returns the number of set bits of v in bytes [start, end], both
// clamped to v and counted from the end when negative, as BITCOUNT does;
// with bits, start and end are bit offsets instead.
func BitCount(v []byte, start, end int64, bits bool) int64 {
	if start < 0 && end < 0 && start > end {
		return 0 // Redis answers this before clamping
	}
	lo, hi, ok := bitRange(int64(len(v)), start, end, bits)
	if !ok {
		return 0
	}
	first, last := lo>>3, hi>>3
	var n int
	w := v[first : last+1]
	for len(w) >= 8 {
		n += mbits.OnesCount64(binary.LittleEndian.Uint64(w))
		w = w[8:]
	}
	for _, c := range w {
		n += mbits.OnesCount8(c)
	}
	// Take off the bits of the first and last bytes outside the range.
	n -= mbits.OnesCount8(v[first] & ^byte(0xff>>(lo&7)))
	n -= mbits.OnesCount8(v[last] & byte(0xff>>(hi&7+1)))
	return int64(n)
}

// BitPos returns the offset of the first bit of v equal to bit in bytes
// [start, end] (bit offsets with bits), with BITPOS's rules: indexes count
// from the end when negative and are clamped to v; without an explicit end
// (endGiven false) v is taken as followed by zeros, so a search for a clear
// bit in all-ones answers the offset just past v; otherwise -1 when no bit
// matches.
func BitPos(v []byte, bit bool, start, end int64, endGiven, bits bool) int64 {
	lo, hi, ok := bitRange(int64(len(v)), start, end, bits)
	if !ok {
		return -1
	}
	skip := byte(0) // a byte that holds no bit equal to bit
	if !bit {
		skip = 0xff
	}
	for b := lo; b <= hi; {
		if b&7 == 0 && b+7 <= hi && v[b>>3] == skip {
			b += 8
			continue
		}
		if (v[b>>3]&(0x80>>(b&7)) != 0) == bit {
			return b
		}
		b++
	}
	if !bit && !endGiven {
		return hi + 1
	}
	return -1
}

// bitRange turns a BITCOUNT or BITPOS range of a string of n bytes into
// bit offsets [lo, hi]; ok is false for an empty range.
func bitRange(n, start, end int64, bits bool) (lo, hi int64, ok bool) {
	total := n
	if bits {
		total = n * 8
	}
	if start < 0 {
		start += total
	}
	if end < 0 {
		end += total
	}
	start, end = max(start, 0), max(end, 0)
	end = min(end, total-1)
	if start > end {
		return 0, 0, false
	}
	if bits {
		return start, end, true
	}
	return start * 8, end*8 + 7, true
}
