package resp

import (
	"math"
	"strconv"

	"github.com/riot-kv/riot-redis/fsm"
)

// The bit commands on string values: SETBIT, GETBIT, BITCOUNT, BITPOS.
// Their argument checks follow Redis 7.0 step by step, including the order
// in which a missing key, a wrong type and a bad argument are reported
// (BITCOUNT and BITPOS look the key up before they parse their range).

const (
	errTextBitArg        = "ERR The bit argument must be 1 or 0."
	errTextBitNot        = "ERR BITOP NOT must be called with a single source key."
	errTextOverflowType  = "ERR Invalid OVERFLOW type specified"
	errTextBitFieldROSet = "ERR BITFIELD_RO only supports the GET subcommand"
)

func registerBitCommands(t *table) {
	key1 := func(c *command) *command { c.firstKey, c.lastKey, c.keyStep = 1, 1, 1; return c }
	t.register(key1(&command{name: "setbit", arity: 4, flags: flagWrite, handler: cmdSetBit}))
	t.register(key1(&command{name: "getbit", arity: 3, flags: flagRead | flagFast, handler: cmdGetBit}))
	t.register(key1(&command{name: "bitcount", arity: -2, flags: flagRead, handler: cmdBitCount}))
	t.register(key1(&command{name: "bitpos", arity: -3, flags: flagRead, handler: cmdBitPos}))
	// BITFIELD with GETs only is a read, but a write command for COMMAND,
	// as in Redis; flagWriteReads keeps the event loop from planning it.
	t.register(key1(&command{name: "bitfield", arity: -2, flags: flagWrite | flagWriteReads, handler: cmdBitField}))
	t.register(key1(&command{name: "bitfield_ro", arity: -2, flags: flagRead | flagFast, handler: cmdBitFieldRO}))
	t.register(&command{name: "bitop", arity: -4, flags: flagWrite, firstKey: 2, lastKey: -1, keyStep: 1, handler: cmdBitOp})
}

// BITOP AND|OR|XOR|NOT destkey key [key ...]
func cmdBitOp(c *client, args [][]byte) {
	var op byte
	switch {
	case equalFold(args[1], "and"):
		op = fsm.BitAnd
	case equalFold(args[1], "or"):
		op = fsm.BitOr
	case equalFold(args[1], "xor"):
		op = fsm.BitXor
	case equalFold(args[1], "not"):
		op = fsm.BitNot
	default:
		c.conn.WriteError(errTextSyntax)
		return
	}
	if op == fsm.BitNot && len(args) != 4 {
		c.conn.WriteError(errTextBitNot)
		return
	}
	c.propose(fsm.NewBitOp(op, args[2], args[3:]...))
}

// stringRead reads the string value a bit command works on: found is false
// for a missing key; ok is false when the read failed and its error reply
// is written (WRONGTYPE, or the node's error). Outside MULTI it reads the
// state machine; inside, it hands over the result of the GET the
// transaction ran for the command (txStringRead).
type stringRead func() (val []byte, found, ok bool)

func (c *client) stringReader(key []byte) stringRead {
	return func() ([]byte, bool, bool) {
		val, found, err := c.readString(key)
		if err != nil {
			c.writeError(err, false)
			return nil, false, false
		}
		return val, found, true
	}
}

// txStringRead is the transactional form of a command that reads the string
// at args[key]: a GET of it, whose result answer turns into the reply.
func txStringRead(key int, answer func(c *client, args [][]byte, read stringRead)) txRead {
	return txRead{
		build: func(a [][]byte) (*fsm.Command, string) { return fsm.NewGet(a[key]), "" },
		reply: func(c *client, a [][]byte, r fsm.Result) {
			answer(c, a, func() ([]byte, bool, bool) {
				switch r.Kind {
				case fsm.ResultBulk:
					return r.Bulk, true, true
				case fsm.ResultNil:
					return nil, false, true
				}
				writeResult(c.conn, r)
				return nil, false, false
			})
		},
	}
}

// bitOffset parses a SETBIT or GETBIT offset: an integer whose byte falls
// within proto-max-bulk-len (and within fsm.MaxBitOffset).
func (c *client) bitOffset(b []byte) (int64, bool) {
	off, ok := parseInt(b)
	if !ok || off < 0 || off>>3 >= c.srv.cfg.MaxValueSize || off > fsm.MaxBitOffset {
		return 0, false
	}
	return off, true
}

// SETBIT key offset value
func cmdSetBit(c *client, args [][]byte) {
	off, ok := c.bitOffset(args[2])
	if !ok {
		c.conn.WriteError(fsm.ErrTextBitOffset)
		return
	}
	v, ok := parseInt(args[3])
	if !ok || v&^1 != 0 {
		c.conn.WriteError(fsm.ErrTextBitValue)
		return
	}
	c.propose(fsm.NewSetBit(args[1], off, v == 1))
}

// GETBIT key offset
func cmdGetBit(c *client, args [][]byte) { answerGetBit(c, args, c.stringReader(args[1])) }

func answerGetBit(c *client, args [][]byte, read stringRead) {
	off, ok := c.bitOffset(args[2])
	if !ok {
		c.conn.WriteError(fsm.ErrTextBitOffset)
		return
	}
	val, _, ok := read()
	if !ok {
		return
	}
	if i := off >> 3; i < int64(len(val)) && val[i]&(0x80>>(off&7)) != 0 {
		c.conn.WriteInt(1)
		return
	}
	c.conn.WriteInt(0)
}

// BITCOUNT key [start end [BYTE|BIT]]
func cmdBitCount(c *client, args [][]byte) { answerBitCount(c, args, c.stringReader(args[1])) }

func answerBitCount(c *client, args [][]byte, read stringRead) {
	val, found, ok := read()
	switch {
	case !ok:
		return
	case !found:
		c.conn.WriteInt(0)
		return
	case len(args) == 2:
		c.conn.WriteInt64(fsm.BitCount(val, 0, -1, false))
		return
	case len(args) != 4 && len(args) != 5:
		c.conn.WriteError(errTextSyntax)
		return
	}
	start, ok1 := parseInt(args[2])
	end, ok2 := parseInt(args[3])
	if !ok1 || !ok2 {
		c.conn.WriteError(errTextNotInteger)
		return
	}
	if start < 0 && end < 0 && start > end {
		c.conn.WriteInt(0) // before the unit is read, as in Redis 7.0
		return
	}
	bits, ok := bitUnit(args, 4)
	if !ok {
		c.conn.WriteError(errTextSyntax)
		return
	}
	c.conn.WriteInt64(fsm.BitCount(val, start, end, bits))
}

// bitUnit parses the optional BYTE|BIT argument at args[i].
func bitUnit(args [][]byte, i int) (bits, ok bool) {
	switch {
	case len(args) <= i || equalFold(args[i], "byte"):
		return false, true
	case equalFold(args[i], "bit"):
		return true, true
	}
	return false, false
}

// BITPOS key bit [start [end [BYTE|BIT]]]
func cmdBitPos(c *client, args [][]byte) { answerBitPos(c, args, c.stringReader(args[1])) }

func answerBitPos(c *client, args [][]byte, read stringRead) {
	bit, ok := parseInt(args[2])
	if !ok {
		c.conn.WriteError(errTextNotInteger)
		return
	}
	if bit != 0 && bit != 1 {
		c.conn.WriteError(errTextBitArg)
		return
	}
	val, found, ok := read()
	switch {
	case !ok:
		return
	case !found: // an endless run of zeros
		c.conn.WriteInt64(-bit)
		return
	case len(args) == 3:
		c.conn.WriteInt64(fsm.BitPos(val, bit == 1, 0, -1, false, false))
		return
	case len(args) > 6:
		c.conn.WriteError(errTextSyntax)
		return
	}
	start, ok := parseInt(args[3])
	if !ok {
		c.conn.WriteError(errTextNotInteger)
		return
	}
	bits, ok := bitUnit(args, 5)
	if !ok {
		c.conn.WriteError(errTextSyntax)
		return
	}
	end := int64(-1)
	if len(args) >= 5 {
		if end, ok = parseInt(args[4]); !ok {
			c.conn.WriteError(errTextNotInteger)
			return
		}
	}
	c.conn.WriteInt64(fsm.BitPos(val, bit == 1, start, end, len(args) >= 5, bits))
}

// BITFIELD key [GET type offset] [SET type offset value] [INCRBY type offset
// increment] [OVERFLOW WRAP|SAT|FAIL] ...
func cmdBitField(c *client, args [][]byte) {
	ops, writes, errText := c.parseBitField(args)
	switch {
	case errText != "":
		c.conn.WriteError(errText)
	case writes:
		c.propose(fsm.NewBitField(args[1], ops))
	case c.tx.mode != txIdle:
		// GETs only, in a run of pipelined writes or a transaction: read
		// through the batch, after the writes before it.
		answerBitFieldGets(c, ops, func() ([]byte, bool, bool) {
			res, ok := c.proposeResult(fsm.NewGet(args[1]))
			return res.Bulk, res.Kind == fsm.ResultBulk, ok
		})
	default:
		answerBitFieldGets(c, ops, c.stringReader(args[1]))
	}
}

// BITFIELD_RO key [GET type offset] ...
func cmdBitFieldRO(c *client, args [][]byte) { answerBitFieldRO(c, args, c.stringReader(args[1])) }

func answerBitFieldRO(c *client, args [][]byte, read stringRead) {
	ops, writes, errText := c.parseBitField(args)
	switch {
	case errText != "":
		c.conn.WriteError(errText)
	case writes:
		c.conn.WriteError(errTextBitFieldROSet)
	default:
		answerBitFieldGets(c, ops, read)
	}
}

// answerBitFieldGets answers a BITFIELD of GETs from the value read.
func answerBitFieldGets(c *client, ops []fsm.BitFieldOp, read stringRead) {
	val, _, ok := read()
	if !ok {
		return
	}
	_, res, _ := fsm.BitFieldRun(val, ops)
	writeResult(c.conn, res)
}

// parseBitField parses BITFIELD's operations in Redis's order: every
// operation is checked before anything runs, and an OVERFLOW mode applies
// to the operations after it.
func (c *client) parseBitField(args [][]byte) (ops []fsm.BitFieldOp, writes bool, errText string) {
	overflow := fsm.OverflowWrap
	for j := 2; j < len(args); {
		rest := len(args) - j - 1
		var kind byte
		switch sub := args[j]; {
		case equalFold(sub, "get") && rest >= 2:
			kind = fsm.BitFieldGet
		case equalFold(sub, "set") && rest >= 3:
			kind = fsm.BitFieldSet
		case equalFold(sub, "incrby") && rest >= 3:
			kind = fsm.BitFieldIncrBy
		case equalFold(sub, "overflow") && rest >= 1:
			switch mode := args[j+1]; {
			case equalFold(mode, "wrap"):
				overflow = fsm.OverflowWrap
			case equalFold(mode, "sat"):
				overflow = fsm.OverflowSat
			case equalFold(mode, "fail"):
				overflow = fsm.OverflowFail
			default:
				return nil, false, errTextOverflowType
			}
			j += 2
			continue
		default:
			return nil, false, errTextSyntax
		}
		o := fsm.BitFieldOp{Kind: kind, Overflow: overflow}
		var ok bool
		if o.Signed, o.Bits, ok = parseBitFieldType(args[j+1]); !ok {
			return nil, false, fsm.ErrTextBitFieldType
		}
		if o.Offset, ok = c.bitFieldOffset(args[j+2], o.Bits); !ok {
			return nil, false, fsm.ErrTextBitOffset
		}
		j += 3
		if kind != fsm.BitFieldGet {
			writes = true
			if o.Value, ok = parseInt(args[j]); !ok {
				return nil, false, errTextNotInteger
			}
			j++
		}
		ops = append(ops, o)
	}
	return ops, writes, ""
}

// parseBitFieldType parses i<bits> (1 to 64) or u<bits> (1 to 63).
func parseBitFieldType(b []byte) (signed bool, bits int, ok bool) {
	if len(b) < 2 || (b[0] != 'i' && b[0] != 'u') {
		return false, 0, false
	}
	n, ok := parseInt(b[1:])
	signed = b[0] == 'i'
	if !ok || n < 1 || n > 64 || (!signed && n > 63) {
		return false, 0, false
	}
	return signed, int(n), true
}

// bitFieldOffset parses a BITFIELD offset: a bit offset, or #n for the
// n-th field of this width.
func (c *client) bitFieldOffset(b []byte, bits int) (int64, bool) {
	if len(b) > 0 && b[0] == '#' {
		n, ok := parseInt(b[1:])
		if !ok || n < 0 || n > math.MaxInt64/int64(bits) {
			return 0, false
		}
		b = strconv.AppendInt(nil, n*int64(bits), 10)
	}
	return c.bitOffset(b)
}
