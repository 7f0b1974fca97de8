package resp

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/riot-kv/riot-redis/fsm"
)

func registerKeyCommands(t *table) {
	registerDumpCommands(t)
	key1 := func(c *command) *command { c.firstKey, c.lastKey, c.keyStep = 1, 1, 1; return c }
	key2 := func(c *command) *command { c.firstKey, c.lastKey, c.keyStep = 1, 2, 1; return c }
	t.register(&command{name: "unlink", arity: -2, flags: flagWrite | flagFast, firstKey: 1, lastKey: -1, keyStep: 1, handler: cmdDel})
	t.register(key1(&command{name: "type", arity: 2, flags: flagRead | flagFast, handler: cmdType}))
	t.register(&command{name: "keys", arity: 2, flags: flagRead, handler: cmdKeys})
	t.register(&command{name: "scan", arity: -2, flags: flagRead, handler: cmdScan})
	t.register(&command{name: "randomkey", arity: 1, flags: flagRead, handler: cmdRandomKey})
	t.register(key2(&command{name: "rename", arity: 3, flags: flagWrite, handler: cmdRename}))
	t.register(key2(&command{name: "renamenx", arity: 3, flags: flagWrite | flagFast, handler: cmdRenameNX}))
	t.register(key2(&command{name: "copy", arity: -3, flags: flagWrite, handler: cmdCopy}))
	t.register(&command{name: "flushdb", arity: -1, flags: flagWrite, handler: cmdFlush})
	t.register(&command{name: "flushall", arity: -1, flags: flagWrite, handler: cmdFlush})

	t.register(key1(&command{name: "expire", arity: -3, flags: flagWrite | flagFast, handler: cmdExpire}))
	t.register(key1(&command{name: "pexpire", arity: -3, flags: flagWrite | flagFast, handler: cmdPExpire}))
	t.register(key1(&command{name: "expireat", arity: -3, flags: flagWrite | flagFast, handler: cmdExpireAt}))
	t.register(key1(&command{name: "pexpireat", arity: -3, flags: flagWrite | flagFast, handler: cmdPExpireAt}))
	t.register(key1(&command{name: "ttl", arity: 2, flags: flagRead | flagFast, handler: cmdTTL}))
	t.register(key1(&command{name: "pttl", arity: 2, flags: flagRead | flagFast, handler: cmdPTTL}))
	t.register(key1(&command{name: "expiretime", arity: 2, flags: flagRead | flagFast, handler: cmdExpireTime}))
	t.register(key1(&command{name: "pexpiretime", arity: 2, flags: flagRead | flagFast, handler: cmdPExpireTime}))
	t.register(key1(&command{name: "persist", arity: 2, flags: flagWrite | flagFast, handler: cmdPersist}))
}

// Redis's error texts of the keyspace commands.
const (
	errTextInvalidCursor = "ERR invalid cursor"
	errTextIntRange      = "ERR value is out of range, value must between -2147483648 and 2147483647"
)

// TYPE key
func cmdType(c *client, args [][]byte) {
	var typ string
	err := c.read(func(f *fsm.FSM) (err error) {
		typ, err = f.Type(args[1], time.Now().UnixMilli())
		return err
	})
	if err != nil {
		c.writeError(err, false)
		return
	}
	c.conn.WriteString(typ)
}

// KEYS pattern
func cmdKeys(c *client, args [][]byte) {
	var keys [][]byte
	err := c.read(func(f *fsm.FSM) (err error) {
		keys, err = f.Keys(args[1], time.Now().UnixMilli())
		return err
	})
	if err != nil {
		c.writeError(err, false)
		return
	}
	writeBulks(c, keys)
}

func writeBulks(c *client, bs [][]byte) {
	c.conn.WriteArray(len(bs))
	for _, b := range bs {
		c.conn.WriteBulk(b)
	}
}

// defaultScanCount is SCAN's COUNT when none is given, as in Redis.
const defaultScanCount = 10

// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]
//
// The cursor is the hash of the next key in the state machine's hash-ordered
// index (see fsm.Scan): any node continues any cursor, and a key that exists
// for the whole iteration is returned exactly once.
func cmdScan(c *client, args [][]byte) {
	cursor, ok := parseCursor(args[1])
	if !ok {
		c.conn.WriteError(errTextInvalidCursor)
		return
	}
	o := fsm.ScanOptions{Count: defaultScanCount}
	for i := 2; i < len(args); i += 2 {
		hasValue := i+1 < len(args)
		switch {
		case hasValue && equalFold(args[i], "count"):
			n, ok := parseInt(args[i+1])
			if !ok {
				c.conn.WriteError(errTextNotInteger)
				return
			}
			if n < 1 {
				c.conn.WriteError(errTextSyntax)
				return
			}
			o.Count = int(min(n, math.MaxInt32))
		case hasValue && equalFold(args[i], "match"):
			o.Match = args[i+1]
			if len(o.Match) == 1 && o.Match[0] == '*' {
				o.Match = nil
			}
		case hasValue && equalFold(args[i], "type"):
			o.Type = string(args[i+1])
			if o.Type == "" {
				o.Type = "\x00" // matches no type, as in Redis
			}
		default:
			c.conn.WriteError(errTextSyntax)
			return
		}
	}
	var (
		next uint64
		keys [][]byte
	)
	err := c.read(func(f *fsm.FSM) (err error) {
		next, keys, err = f.Scan(cursor, o, time.Now().UnixMilli())
		return err
	})
	if err != nil {
		c.writeError(err, false)
		return
	}
	c.conn.WriteArray(2)
	c.conn.WriteBulkString(strconv.FormatUint(next, 10))
	writeBulks(c, keys)
}

// parseCursor parses a SCAN cursor as Redis does with strtoul: an optional
// sign (a negative number wraps around), decimal digits, nothing else; the
// empty string is 0, and parsing stops at a NUL byte.
func parseCursor(b []byte) (uint64, bool) {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	if len(b) == 0 {
		return 0, true
	}
	neg := false
	if b[0] == '+' || b[0] == '-' {
		neg = b[0] == '-'
		b = b[1:]
	}
	if len(b) == 0 {
		return 0, false
	}
	var v uint64
	for _, ch := range b {
		if ch < '0' || ch > '9' {
			return 0, false
		}
		d := uint64(ch - '0')
		if v > (math.MaxUint64-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	if neg {
		v = -v
	}
	return v, true
}

// RANDOMKEY
func cmdRandomKey(c *client, _ [][]byte) {
	var (
		key []byte
		ok  bool
	)
	err := c.read(func(f *fsm.FSM) (err error) {
		key, ok, err = f.RandomKey(rand.Uint64(), time.Now().UnixMilli())
		return err
	})
	switch {
	case err != nil:
		c.writeError(err, false)
	case !ok:
		c.conn.WriteNull()
	default:
		c.conn.WriteBulk(key)
	}
}

// RENAME key newkey
func cmdRename(c *client, args [][]byte) {
	c.propose(fsm.NewRename(args[1], args[2], false))
}

// RENAMENX key newkey
func cmdRenameNX(c *client, args [][]byte) {
	c.propose(fsm.NewRename(args[1], args[2], true))
}

// COPY source destination [DB destination-db] [REPLACE]
//
// Riot has only database 0, so DB accepts only 0.
func cmdCopy(c *client, args [][]byte) {
	replace := false
	for i := 3; i < len(args); i++ {
		switch {
		case equalFold(args[i], "replace"):
			replace = true
		case equalFold(args[i], "db") && i+1 < len(args):
			db, ok := parseInt(args[i+1])
			if !ok {
				c.conn.WriteError(errTextNotInteger)
				return
			}
			if db < math.MinInt32 || db > math.MaxInt32 {
				c.conn.WriteError(errTextIntRange)
				return
			}
			if db != 0 {
				c.conn.WriteError(errTextDBIndex)
				return
			}
			i++
		default:
			c.conn.WriteError(errTextSyntax)
			return
		}
	}
	if bytes.Equal(args[1], args[2]) {
		c.conn.WriteError(fsm.ErrTextSameObject)
		return
	}
	c.propose(fsm.NewCopy(args[1], args[2], replace))
}

// FLUSHDB [ASYNC|SYNC] and FLUSHALL [ASYNC|SYNC]: every key is deleted (node
// metadata is not a key). Both modes are synchronous.
func cmdFlush(c *client, args [][]byte) {
	if len(args) > 2 || len(args) == 2 && !equalFold(args[1], "sync") && !equalFold(args[1], "async") {
		c.conn.WriteError(errTextSyntax)
		return
	}
	c.propose(fsm.NewFlush())
}

// EXPIRE key seconds [NX|XX|GT|LT]
func cmdExpire(c *client, args [][]byte) { expireCommand(c, args, "expire", true, true) }

// PEXPIRE key milliseconds [NX|XX|GT|LT]
func cmdPExpire(c *client, args [][]byte) { expireCommand(c, args, "pexpire", true, false) }

// EXPIREAT key unix-time-seconds [NX|XX|GT|LT]
func cmdExpireAt(c *client, args [][]byte) { expireCommand(c, args, "expireat", false, true) }

// PEXPIREAT key unix-time-milliseconds [NX|XX|GT|LT]
func cmdPExpireAt(c *client, args [][]byte) { expireCommand(c, args, "pexpireat", false, false) }

// expireCommand parses the EXPIRE family in Redis's order (options, then the
// time, then the range checks) and proposes it. A relative time is added to
// the leader's clock when the command applies; the range check here uses
// this node's clock, and the state machine checks again.
func expireCommand(c *client, args [][]byte, name string, relative, seconds bool) {
	o := fsm.ExpireOptions{Relative: relative, Seconds: seconds}
	for _, opt := range args[3:] {
		switch {
		case equalFold(opt, "nx"):
			o.NX = true
		case equalFold(opt, "xx"):
			o.XX = true
		case equalFold(opt, "gt"):
			o.GT = true
		case equalFold(opt, "lt"):
			o.LT = true
		default:
			c.conn.WriteError("ERR Unsupported option " + string(truncate(opt, 128)))
			return
		}
	}
	switch {
	case o.NX && (o.XX || o.GT || o.LT):
		c.conn.WriteError(fsm.ErrTextExpireNXCombo)
		return
	case o.GT && o.LT:
		c.conn.WriteError(fsm.ErrTextExpireGTAndLT)
		return
	}
	when, ok := parseInt(args[2])
	if !ok {
		c.conn.WriteError(errTextNotInteger)
		return
	}
	if seconds {
		if when > math.MaxInt64/1000 || when < math.MinInt64/1000 {
			c.conn.WriteError(fsm.InvalidExpireText(name))
			return
		}
		when *= 1000
	}
	if relative && when > math.MaxInt64-time.Now().UnixMilli() {
		c.conn.WriteError(fsm.InvalidExpireText(name))
		return
	}
	o.When = when
	c.propose(fsm.NewExpire(args[1], o))
}

// ttlReply selects what the TTL family reports.
type ttlReply uint8

const (
	ttlSeconds ttlReply = iota
	ttlMillis
	expireTimeSeconds
	expireTimeMillis
)

// TTL key
func cmdTTL(c *client, args [][]byte) { ttlCommand(c, args[1], ttlSeconds) }

// PTTL key
func cmdPTTL(c *client, args [][]byte) { ttlCommand(c, args[1], ttlMillis) }

// EXPIRETIME key
func cmdExpireTime(c *client, args [][]byte) { ttlCommand(c, args[1], expireTimeSeconds) }

// PEXPIRETIME key
func cmdPExpireTime(c *client, args [][]byte) { ttlCommand(c, args[1], expireTimeMillis) }

// ttlCommand answers -2 for a missing key, -1 for a key without expiry, else
// the remaining time (never below 0) or the absolute expiry; seconds are
// rounded to the nearest, as Redis does.
func ttlCommand(c *client, key []byte, what ttlReply) {
	var (
		at, now int64
		exists  bool
	)
	err := c.read(func(f *fsm.FSM) (err error) {
		now = time.Now().UnixMilli()
		at, exists, err = f.ExpireAt(key, now)
		return err
	})
	if err != nil {
		c.writeError(err, false)
		return
	}
	var n int64
	switch {
	case !exists:
		n = -2
	case at == 0:
		n = -1
	case what == ttlSeconds:
		n = fsm.MillisToSeconds(max(at-now, 0))
	case what == ttlMillis:
		n = max(at-now, 0)
	case what == expireTimeSeconds:
		n = fsm.MillisToSeconds(at)
	default:
		n = at
	}
	c.conn.WriteInt64(n)
}

// PERSIST key
func cmdPersist(c *client, args [][]byte) {
	c.propose(fsm.NewPersist(args[1]))
}
