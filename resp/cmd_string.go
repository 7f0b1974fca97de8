package resp

import (
	"math"
	"time"

	"github.com/riot-kv/riot-redis/fsm"
)

func registerStringCommands(t *table) {
	t.register(&command{name: "get", arity: 2, flags: flagRead | flagFast, firstKey: 1, lastKey: 1, keyStep: 1, handler: cmdGet})
	t.register(&command{name: "set", arity: -3, flags: flagWrite, firstKey: 1, lastKey: 1, keyStep: 1, handler: cmdSet})
	t.register(&command{name: "del", arity: -2, flags: flagWrite, firstKey: 1, lastKey: -1, keyStep: 1, handler: cmdDel})
	t.register(&command{name: "exists", arity: -2, flags: flagRead | flagFast, firstKey: 1, lastKey: -1, keyStep: 1, handler: cmdExists})
	t.register(&command{name: "incr", arity: 2, flags: flagWrite | flagFast, firstKey: 1, lastKey: 1, keyStep: 1, handler: cmdIncr})
	t.register(&command{name: "decr", arity: 2, flags: flagWrite | flagFast, firstKey: 1, lastKey: 1, keyStep: 1, handler: cmdDecr})
	t.register(&command{name: "incrby", arity: 3, flags: flagWrite | flagFast, firstKey: 1, lastKey: 1, keyStep: 1, handler: cmdIncrBy})
	t.register(&command{name: "decrby", arity: 3, flags: flagWrite | flagFast, firstKey: 1, lastKey: 1, keyStep: 1, handler: cmdDecrBy})
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
	o, errText := parseSetOptions(args[3:], time.Now().UnixMilli())
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
