package fsm

import (
	"encoding/binary"
)

// OpBitField is BITFIELD key with at least one SET or INCRBY: the listed
// operations run in order on the string value, grown with zeros (or created)
// up to the last bit a SET or INCRBY reaches, and the result is an array
// with one element per operation (an integer, or nil for an INCRBY or SET
// that overflowed under OVERFLOW FAIL and changed nothing). Args: key, then
// one argument per operation (EncodeBitField). Part of the replicated log
// format: never renumber.
const OpBitField Op = 33

// BitFieldOp is one GET, SET or INCRBY of BITFIELD, with the OVERFLOW mode
// in force for it.
type BitFieldOp struct {
	Kind     byte  // BitFieldGet, BitFieldSet or BitFieldIncrBy
	Signed   bool  // i<bits> rather than u<bits>
	Bits     int   // 1..64 signed, 1..63 unsigned
	Overflow byte  // OverflowWrap, OverflowSat or OverflowFail
	Offset   int64 // bit offset of the field's most significant bit
	Value    int64 // SET's value, INCRBY's increment
}

// BITFIELD operation kinds and overflow modes; part of the log format.
const (
	BitFieldGet byte = 1 + iota
	BitFieldSet
	BitFieldIncrBy
)

const (
	OverflowWrap byte = 1 + iota
	OverflowSat
	OverflowFail
)

// ErrTextBitFieldType is Redis's error for a bad BITFIELD type.
const ErrTextBitFieldType = "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is."

func init() {
	register(OpBitField, handler{minArgs: 2, maxArgs: -1, apply: applyBitField})
	opNames[OpBitField] = "bitfield"
}

// valid reports whether o is a well-formed operation whose field starts
// within a string of MaxStringLen bytes (as in Redis, it may end up to 63
// bits past it).
func (o BitFieldOp) valid() bool {
	maxBits := 63
	if o.Signed {
		maxBits = 64
	}
	return o.Kind >= BitFieldGet && o.Kind <= BitFieldIncrBy &&
		o.Overflow >= OverflowWrap && o.Overflow <= OverflowFail &&
		o.Bits >= 1 && o.Bits <= maxBits &&
		o.Offset >= 0 && o.Offset <= MaxBitOffset
}

// NewBitField returns a BITFIELD command; ops must be valid and hold at
// least one SET or INCRBY (GETs alone are a read: BitFieldRun on the value).
func NewBitField(key []byte, ops []BitFieldOp) *Command {
	args := make([][]byte, 0, 1+len(ops))
	args = append(args, key)
	for _, o := range ops {
		var flags byte
		if o.Signed {
			flags = 1
		}
		a := []byte{o.Kind, flags, byte(o.Bits), o.Overflow}
		a = binary.AppendVarint(a, o.Offset)
		args = append(args, binary.AppendVarint(a, o.Value))
	}
	return &Command{Op: OpBitField, Args: args}
}

func decodeBitFieldOp(a []byte) (BitFieldOp, bool) {
	if len(a) < 6 || a[1] > 1 {
		return BitFieldOp{}, false
	}
	o := BitFieldOp{Kind: a[0], Signed: a[1] == 1, Bits: int(a[2]), Overflow: a[3]}
	off, n := binary.Varint(a[4:])
	if n <= 0 {
		return BitFieldOp{}, false
	}
	val, m := binary.Varint(a[4+n:])
	if m <= 0 || 4+n+m != len(a) {
		return BitFieldOp{}, false
	}
	o.Offset, o.Value = off, val
	return o, o.valid()
}

func applyBitField(t *txn, c *Command) Result {
	ops := make([]BitFieldOp, len(c.Args)-1)
	writes := false
	for i, a := range c.Args[1:] {
		o, ok := decodeBitFieldOp(a)
		if !ok {
			return resCorrupt
		}
		ops[i] = o
		writes = writes || o.Kind != BitFieldGet
	}
	if !writes {
		return resCorrupt // a read: never proposed
	}
	s, old, exp, errRes := t.editString(c.Args[0])
	if errRes != nil {
		return *errRes
	}
	buf, res, changed := BitFieldRun(old, ops)
	if changed || !s.live {
		t.store(s, typeString, exp, buf)
	}
	return res
}

// BitFieldRun runs ops in order on a copy of v, grown with zeros up to the
// last bit a SET or INCRBY reaches, and returns the new value, the array
// result, and whether the value differs from v (a bit changed or it grew).
// With GETs only it returns v itself.
func BitFieldRun(v []byte, ops []BitFieldOp) ([]byte, Result, bool) {
	need, writes := len(v), false
	for _, o := range ops {
		if o.Kind != BitFieldGet {
			need = max(need, int((o.Offset+int64(o.Bits)-1)>>3)+1)
			writes = true
		}
	}
	buf := v
	if writes {
		buf = make([]byte, need)
		copy(buf, v)
	}
	changed := need > len(v)
	res := Result{Kind: ResultArray, Array: make([]Result, len(ops))}
	for i, o := range ops {
		cur := getField(buf, o)
		if o.Kind == BitFieldGet {
			res.Array[i] = intResult(cur)
			continue
		}
		var nv int64
		var overflow bool
		if o.Kind == BitFieldSet {
			// Redis reads a negative value for an unsigned field as the
			// huge unsigned number it is in two's complement: it overflows
			// upwards (SAT gives the maximum, WRAP its low bits).
			nv, overflow = fieldAdd(o.Value, 0, o, !o.Signed && o.Value < 0)
		} else {
			nv, overflow = fieldAdd(cur, o.Value, o, false)
		}
		if overflow && o.Overflow == OverflowFail {
			res.Array[i] = resNil
			continue
		}
		if o.Kind == BitFieldSet {
			res.Array[i] = intResult(cur)
		} else {
			res.Array[i] = intResult(nv)
		}
		if nv != cur {
			setField(buf, o, nv)
			changed = true
		}
	}
	return buf, res, changed
}

// fieldRange is the range of values of o's type.
func fieldRange(o BitFieldOp) (lo, hi int64) {
	if o.Signed {
		hi = int64(uint64(1)<<(o.Bits-1) - 1)
		return -hi - 1, hi
	}
	return 0, int64(uint64(1)<<o.Bits - 1)
}

// fieldAdd returns base+incr as a value of o's type, and whether the exact
// sum overflowed the type (or up says it does, upwards): then the result is
// wrapped or saturated as o's overflow mode says (FAIL: the caller drops
// it).
func fieldAdd(base, incr int64, o BitFieldOp, up bool) (int64, bool) {
	lo, hi := fieldRange(o)
	sum := base + incr // wraps like the two's complement sum
	down := false
	switch {
	case up:
	case o.Signed:
		up, down = signedOverflow(base, incr, lo, hi, o.Bits)
	case incr > 0 && sum < base: // the exact sum passed the int64 range
		up = true
	case incr < 0 && sum > base:
		down = true
	default:
		up, down = sum > hi, sum < lo
	}
	switch {
	case !up && !down:
		return sum, false
	case o.Overflow == OverflowSat && up:
		return hi, true
	case o.Overflow == OverflowSat:
		return lo, true
	}
	// Wrap: keep the low Bits bits, as the type's two's complement.
	w := uint64(sum)
	if o.Bits < 64 {
		w &= 1<<o.Bits - 1
		if o.Signed && w&(1<<(o.Bits-1)) != 0 {
			w |= ^uint64(0) << o.Bits
		}
	}
	return int64(w), true
}

// signedOverflow is Redis's test of a signed field's sum for overflow, its
// arithmetic included: for a base in the type's range it is the exact test,
// but a SET value far below the range (within the type's maximum of the
// int64 minimum) wraps its headroom around and counts as an overflow
// upwards, which OVERFLOW SAT answers with the maximum.
func signedOverflow(base, incr, lo, hi int64, bits int) (up, down bool) {
	maxIncr := int64(uint64(hi) - uint64(base))
	minIncr := lo - base
	switch {
	case base > hi || (bits != 64 && incr > maxIncr) || (base >= 0 && incr > 0 && incr > maxIncr):
		return true, false
	case base < lo || (bits != 64 && incr < minIncr) || (base < 0 && incr < 0 && incr < minIncr):
		return false, true
	}
	return false, false
}

// getField reads o's field from v (bits past v read as zeros).
func getField(v []byte, o BitFieldOp) int64 {
	var u uint64
	for j := int64(0); j < int64(o.Bits); j++ {
		b := o.Offset + j
		u <<= 1
		if i := b >> 3; i < int64(len(v)) && v[i]&(0x80>>(b&7)) != 0 {
			u |= 1
		}
	}
	if o.Signed && o.Bits < 64 && u&(1<<(o.Bits-1)) != 0 {
		u |= ^uint64(0) << o.Bits
	}
	return int64(u)
}

// setField writes the low Bits bits of val into o's field of v, which holds
// it.
func setField(v []byte, o BitFieldOp, val int64) {
	u := uint64(val)
	for j := int64(o.Bits) - 1; j >= 0; j-- {
		b := o.Offset + j
		if u&1 != 0 {
			v[b>>3] |= 0x80 >> (b & 7)
		} else {
			v[b>>3] &^= 0x80 >> (b & 7)
		}
		u >>= 1
	}
}
