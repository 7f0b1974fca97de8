package resp

import (
	"errors"
	"math"
	"time"

	"github.com/riot-kv/riot-redis/fsm"
)

func registerStringCommands(t *table) {
	t.register(&command{name: "get", arity: 2, flags: flagRead | flagFast, firstKey: 1, lastKey: 1, keyStep: 1, handler: cmdGet})
	t.register(&command{name: "set", arity: -3, flags: flagWrite, firstKey: 1, lastKey: 1, keyStep: 1, handler: cmdSet})
	t.register(&command{name: "del", arity: -2, flags: flagWrite, firstKey: 1, lastKey: -1, keyStep: 1, handler: cmdDel})
	t.register(&command{name: "exists", arity: -2, flags: flagRead | flagFast, firstKey: 1, lastKey: -1, keyStep: 1, handler: cmdExists})
	// TOUCH answers as EXISTS: Riot keeps no access times to update.
	t.register(&command{name: "touch", arity: -2, flags: flagRead | flagFast, firstKey: 1, lastKey: -1, keyStep: 1, handler: cmdExists})
	t.register(&command{name: "incr", arity: 2, flags: flagWrite | flagFast, firstKey: 1, lastKey: 1, keyStep: 1, handler: cmdIncr})
	t.register(&command{name: "decr", arity: 2, flags: flagWrite | flagFast, firstKey: 1, lastKey: 1, keyStep: 1, handler: cmdDecr})
	t.register(&command{name: "incrby", arity: 3, flags: flagWrite | flagFast, firstKey: 1, lastKey: 1, keyStep: 1, handler: cmdIncrBy})
	t.register(&command{name: "decrby", arity: 3, flags: flagWrite | flagFast, firstKey: 1, lastKey: 1, keyStep: 1, handler: cmdDecrBy})
	registerMoreStringCommands(t)
	registerBitCommands(t)
}

// GET key
func cmdGet(c *client, args [][]byte) {
	c.rkeys = args[1:2]
	err := c.read(c.getFn)
	val, ok := c.rval, c.rok
	c.rkeys, c.rval = nil, nil
	switch {
	case err != nil:
		c.writeError(err, false)
	case !ok:
		c.conn.WriteNull()
	default:
		c.conn.WriteBulk(val)
	}
}

// EXISTS key [key ...]
func cmdExists(c *client, args [][]byte) {
	c.rkeys = args[1:]
	err := c.read(c.existsFn)
	c.rkeys = nil
	if err != nil {
		c.writeError(err, false)
		return
	}
	c.conn.WriteInt64(c.rcount)
}

// SET key value [NX|XX] [GET] [EX seconds|PX milliseconds|EXAT unix-seconds|PXAT unix-milliseconds|KEEPTTL]
func cmdSet(c *client, args [][]byte) {
	if int64(len(args[2])) > c.srv.cfg.MaxValueSize {
		c.conn.WriteError(errTextValueTooBig)
		return
	}
	o, errText := parseSetOptions(args[3:], c.now.UnixMilli())
	if errText != "" {
		c.conn.WriteError(errText)
		return
	}
	c.propose(fsm.NewSet(args[1], args[2], o))
}

// expireUnit is the unit and base of a SET expiry option.
type expireUnit uint8

const (
	expireNone expireUnit = iota
	expireEX              // relative seconds
	expirePX              // relative milliseconds
	expireEXAT            // absolute unix seconds
	expirePXAT            // absolute unix milliseconds
)

// parseSetOptions parses SET's options the way Redis does: first the option
// words (any repeated option is fine, a conflicting one is a syntax error),
// then the expiry value. now is the wall clock in unix milliseconds, used only
// to reject a relative expiry that would overflow.
func parseSetOptions(opts [][]byte, now int64) (fsm.SetOptions, string) {
	var (
		o    fsm.SetOptions
		unit expireUnit
		exp  []byte
	)
	for j := 0; j < len(opts); j++ {
		opt := opts[j]
		hasNext := j+1 < len(opts)
		switch {
		case equalFold(opt, "nx") && !o.XX:
			o.NX = true
		case equalFold(opt, "xx") && !o.NX:
			o.XX = true
		case equalFold(opt, "get"):
			o.Get = true
		case equalFold(opt, "keepttl") && unit == expireNone:
			o.KeepTTL = true
		case hasNext && !o.KeepTTL && expireOption(opt, unit) != expireNone:
			unit = expireOption(opt, unit)
			exp = opts[j+1]
			j++
		default:
			return o, errTextSyntax
		}
	}
	if unit == expireNone {
		return o, ""
	}
	ms, ok := parseInt(exp)
	if !ok {
		return o, errTextNotInteger
	}
	seconds := unit == expireEX || unit == expireEXAT
	if ms <= 0 || seconds && ms > math.MaxInt64/1000 {
		return o, errTextInvalidExpire
	}
	if seconds {
		ms *= 1000
	}
	switch unit {
	case expireEX, expirePX:
		if ms > math.MaxInt64-now {
			return o, errTextInvalidExpire
		}
		o.TTL = ms
	default:
		o.ExpireAt = ms
	}
	return o, ""
}

// expireOption returns the unit opt names if it may follow an expiry option of
// unit cur (only the same one may repeat), else expireNone.
func expireOption(opt []byte, cur expireUnit) expireUnit {
	var u expireUnit
	switch {
	case equalFold(opt, "ex"):
		u = expireEX
	case equalFold(opt, "px"):
		u = expirePX
	case equalFold(opt, "exat"):
		u = expireEXAT
	case equalFold(opt, "pxat"):
		u = expirePXAT
	default:
		return expireNone
	}
	if cur != expireNone && cur != u {
		return expireNone
	}
	return u
}

// DEL key [key ...]
func cmdDel(c *client, args [][]byte) {
	c.propose(fsm.NewDel(args[1:]...))
}

// INCR key
func cmdIncr(c *client, args [][]byte) {
	c.propose(fsm.NewIncrBy(args[1], 1))
}

// DECR key
func cmdDecr(c *client, args [][]byte) {
	c.propose(fsm.NewIncrBy(args[1], -1))
}

// INCRBY key increment
func cmdIncrBy(c *client, args [][]byte) {
	n, ok := parseInt(args[2])
	if !ok {
		c.conn.WriteError(errTextNotInteger)
		return
	}
	c.propose(fsm.NewIncrBy(args[1], n))
}

// DECRBY key decrement
func cmdDecrBy(c *client, args [][]byte) {
	n, ok := parseInt(args[2])
	if !ok {
		c.conn.WriteError(errTextNotInteger)
		return
	}
	if n == math.MinInt64 {
		c.conn.WriteError(errTextDecrOverflow)
		return
	}
	c.propose(fsm.NewIncrBy(args[1], -n))
}

// registerMoreStringCommands registers the string commands beyond the basic
// GET/SET/INCR family.
func registerMoreStringCommands(t *table) {
	key1 := func(c *command) *command { c.firstKey, c.lastKey, c.keyStep = 1, 1, 1; return c }
	t.register(key1(&command{name: "setnx", arity: 3, flags: flagWrite | flagFast, handler: cmdSetNX}))
	t.register(key1(&command{name: "setex", arity: 4, flags: flagWrite, handler: cmdSetEx}))
	t.register(key1(&command{name: "psetex", arity: 4, flags: flagWrite, handler: cmdPSetEx}))
	t.register(key1(&command{name: "getset", arity: 3, flags: flagWrite | flagFast, handler: cmdGetSet}))
	t.register(key1(&command{name: "getdel", arity: 2, flags: flagWrite | flagFast, handler: cmdGetDel}))
	t.register(key1(&command{name: "getex", arity: -2, flags: flagWrite | flagFast | flagWriteReads, handler: cmdGetEx}))
	t.register(&command{name: "mget", arity: -2, flags: flagRead | flagFast, firstKey: 1, lastKey: -1, keyStep: 1, handler: cmdMGet})
	t.register(&command{name: "mset", arity: -3, flags: flagWrite, firstKey: 1, lastKey: -1, keyStep: 2, handler: cmdMSet})
	t.register(&command{name: "msetnx", arity: -3, flags: flagWrite, firstKey: 1, lastKey: -1, keyStep: 2, handler: cmdMSetNX})
	t.register(key1(&command{name: "incrbyfloat", arity: 3, flags: flagWrite | flagFast | flagWriteReads, handler: cmdIncrByFloat}))
	t.register(key1(&command{name: "append", arity: 3, flags: flagWrite | flagFast, handler: cmdAppend}))
	t.register(key1(&command{name: "strlen", arity: 2, flags: flagRead | flagFast, handler: cmdStrlen}))
	t.register(key1(&command{name: "getrange", arity: 4, flags: flagRead, handler: cmdGetRange}))
	t.register(key1(&command{name: "substr", arity: 4, flags: flagRead, handler: cmdGetRange}))
	t.register(key1(&command{name: "setrange", arity: 4, flags: flagWrite, handler: cmdSetRange}))
	t.register(&command{name: "lcs", arity: -3, flags: flagRead, firstKey: 1, lastKey: 2, keyStep: 1, handler: cmdLCS})
}

// proposeResult sends cmd to the node and returns its result. On a node error
// it writes the error reply and returns ok=false; an error result is written
// as it is and also returns ok=false.
func (c *client) proposeResult(cmd *fsm.Command) (fsm.Result, bool) {
	ctx, cancel := c.commandContext()
	res, err := c.nodePropose(ctx, cmd)
	cancel()
	if err != nil {
		c.writeError(err, true)
		return res, false
	}
	if res.IsError() {
		c.conn.WriteError(res.Err)
		return res, false
	}
	return res, true
}

// SETNX key value
func cmdSetNX(c *client, args [][]byte) {
	res, ok := c.proposeResult(fsm.NewSet(args[1], args[2], fsm.SetOptions{NX: true}))
	if !ok {
		return
	}
	if res.Kind == fsm.ResultOK {
		c.conn.WriteInt(1)
	} else {
		c.conn.WriteInt(0)
	}
}

// SETEX key seconds value
func cmdSetEx(c *client, args [][]byte) { setWithTTL(c, args, "setex", 1000) }

// PSETEX key milliseconds value
func cmdPSetEx(c *client, args [][]byte) { setWithTTL(c, args, "psetex", 1) }

// setWithTTL is SETEX and PSETEX: a SET with a relative expiry given in units
// of unitMs milliseconds.
func setWithTTL(c *client, args [][]byte, name string, unitMs int64) {
	n, ok := parseInt(args[2])
	if !ok {
		c.conn.WriteError(errTextNotInteger)
		return
	}
	if n <= 0 || n > math.MaxInt64/unitMs || n*unitMs > math.MaxInt64-time.Now().UnixMilli() {
		c.conn.WriteError(fsm.InvalidExpireText(name))
		return
	}
	c.propose(fsm.NewSet(args[1], args[3], fsm.SetOptions{TTL: n * unitMs}))
}

// GETSET key value
func cmdGetSet(c *client, args [][]byte) {
	c.propose(fsm.NewSet(args[1], args[2], fsm.SetOptions{Get: true}))
}

// GETDEL key
func cmdGetDel(c *client, args [][]byte) {
	c.propose(fsm.NewGetDel(args[1]))
}

// GETEX key [EX seconds|PX milliseconds|EXAT unix-seconds|PXAT unix-milliseconds|PERSIST]
//
// Redis checks the expiry value only once it has found a string under the
// key: for a missing key it answers nil and for another type WRONGTYPE, even
// when the value is bad. A bad value is therefore answered after a read, and
// never proposed.
func cmdGetEx(c *client, args [][]byte) {
	var (
		persist bool
		unit    expireUnit
		exp     []byte
	)
	opts := args[2:]
	for j := 0; j < len(opts); j++ {
		opt := opts[j]
		switch {
		case equalFold(opt, "persist") && unit == expireNone:
			persist = true
		case j+1 < len(opts) && !persist && expireOption(opt, unit) != expireNone:
			unit = expireOption(opt, unit)
			exp = opts[j+1]
			j++
		default:
			c.conn.WriteError(errTextSyntax)
			return
		}
	}
	var o fsm.GetExOptions
	o.Persist = persist
	if unit != expireNone {
		// A bad expiry is still proposed: Redis answers nil for a missing
		// key and WRONGTYPE before it looks at the expiry, and the state
		// machine knows the key as of this command's place in the log
		// (inside MULTI, after the commands queued before it).
		ms, ok := parseInt(exp)
		seconds := unit == expireEX || unit == expireEXAT
		switch {
		case !ok:
			o.NotInteger = true
		case ms <= 0 || seconds && ms > math.MaxInt64/1000:
			o.TTL = -1 // refused with fsm.ErrTextInvalidGetEx
		default:
			if seconds {
				ms *= 1000
			}
			if unit == expireEX || unit == expirePX {
				o.TTL = ms // the state machine refuses a sum past the largest time
			} else {
				o.ExpireAt = ms
			}
		}
	}
	if o == (fsm.GetExOptions{}) {
		// Without options GETEX is a GET. In a run of pipelined writes (or
		// a transaction) it reads through the batch, after the writes
		// before it; alone it is a plain read.
		if c.tx.mode != txIdle {
			c.propose(fsm.NewGet(args[1]))
			return
		}
		cmdGet(c, args[:2])
		return
	}
	c.propose(fsm.NewGetEx(args[1], o))
}

// MGET key [key ...]: nil for missing keys and keys of another type.
func cmdMGet(c *client, args [][]byte) {
	keys := args[1:]
	vals := make([][]byte, len(keys))
	found := make([]bool, len(keys))
	err := c.read(func(f *fsm.FSM) error {
		now := time.Now().UnixMilli()
		for i, k := range keys {
			v, ok, err := f.Get(k, now)
			if errors.Is(err, fsm.ErrWrongType) {
				continue
			}
			if err != nil {
				return err
			}
			vals[i], found[i] = v, ok
		}
		return nil
	})
	if err != nil {
		c.writeError(err, false)
		return
	}
	c.conn.WriteArray(len(keys))
	for i := range keys {
		if found[i] {
			c.conn.WriteBulk(vals[i])
		} else {
			c.conn.WriteNull()
		}
	}
}

// MSET key value [key value ...]
func cmdMSet(c *client, args [][]byte) {
	if len(args)%2 == 0 {
		c.conn.WriteError(arityError("mset"))
		return
	}
	c.propose(fsm.NewMSet(args[1:]...))
}

// MSETNX key value [key value ...]
func cmdMSetNX(c *client, args [][]byte) {
	if len(args)%2 == 0 {
		c.conn.WriteError(arityError("msetnx"))
		return
	}
	c.propose(fsm.NewMSetNX(args[1:]...))
}

// INCRBYFLOAT key increment
//
// Redis checks the key's type before it parses the increment, so a bad
// increment is answered after a read of the type (WRONGTYPE wins), and never
// proposed. A good one travels as sent: the state machine parses it.
func cmdIncrByFloat(c *client, args [][]byte) {
	if !fsm.ValidFloat(args[2]) {
		var typ string
		err := c.read(func(f *fsm.FSM) (err error) {
			typ, err = f.Type(args[1], time.Now().UnixMilli())
			return err
		})
		switch {
		case err != nil:
			c.writeError(err, false)
		case typ != "none" && typ != "string":
			c.conn.WriteError(fsm.ErrTextWrongType)
		default:
			c.conn.WriteError(fsm.ErrTextNotFloat)
		}
		return
	}
	c.propose(fsm.NewIncrByFloat(args[1], args[2]))
}

// APPEND key value
func cmdAppend(c *client, args [][]byte) {
	c.propose(fsm.NewAppend(args[1], args[2]))
}

// readString reads key's string value for STRLEN and GETRANGE.
func (c *client) readString(key []byte) (val []byte, ok bool, err error) {
	err = c.read(func(f *fsm.FSM) error {
		var err error
		val, ok, err = f.Get(key, time.Now().UnixMilli())
		return err
	})
	return val, ok, err
}

// STRLEN key
func cmdStrlen(c *client, args [][]byte) {
	val, _, err := c.readString(args[1])
	if err != nil {
		c.writeError(err, false)
		return
	}
	c.conn.WriteInt(len(val))
}

// GETRANGE key start end (and its old name SUBSTR)
func cmdGetRange(c *client, args [][]byte) { answerGetRange(c, args, c.stringReader(args[1])) }

func answerGetRange(c *client, args [][]byte, read stringRead) {
	start, ok1 := parseInt(args[2])
	end, ok2 := parseInt(args[3])
	if !ok1 || !ok2 {
		c.conn.WriteError(errTextNotInteger)
		return
	}
	if val, _, ok := read(); ok {
		c.conn.WriteBulk(stringRange(val, start, end))
	}
}

// stringRange applies GETRANGE's index rules: negative indexes count from
// the end, both ends are clamped, and an empty range gives "".
func stringRange(val []byte, start, end int64) []byte {
	n := int64(len(val))
	if start < 0 && end < 0 && start > end {
		return nil
	}
	if start < 0 {
		start += n
	}
	if end < 0 {
		end += n
	}
	start, end = max(start, 0), max(end, 0)
	if end >= n {
		end = n - 1
	}
	if start > end || n == 0 {
		return nil
	}
	return val[start : end+1]
}

// SETRANGE key offset value
func cmdSetRange(c *client, args [][]byte) {
	off, ok := parseInt(args[2])
	if !ok {
		c.conn.WriteError(errTextNotInteger)
		return
	}
	if off < 0 {
		c.conn.WriteError(fsm.ErrTextOffsetRange)
		return
	}
	// The string built may not pass proto-max-bulk-len, which may be set
	// lower than the state machine's own bound. (Redis checks this after
	// WRONGTYPE; only strings exist here.)
	if n := int64(len(args[3])); n > 0 && off > c.srv.cfg.MaxValueSize-n {
		c.conn.WriteError(fsm.ErrTextStringTooLong)
		return
	}
	c.propose(fsm.NewSetRange(args[1], off, args[3]))
}
