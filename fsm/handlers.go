package fsm

import (
	"fmt"
	"strconv"
)

// handler applies one op. Arity is checked by exec before apply is called.
type handler struct {
	minArgs int
	maxArgs int // -1: unbounded
	apply   func(t *txn, c *Command) Result
}

// handlers is the command table, indexed by Op.
var handlers [256]*handler

// register adds op's handler to the table. Registering an op twice panics.
func register(op Op, h handler) {
	if handlers[op] != nil {
		panic(fmt.Sprintf("fsm: op %v registered twice", op))
	}
	handlers[op] = &h
}

func init() {
	register(OpNoop, handler{minArgs: 0, maxArgs: 0, apply: applyNoop})
	register(OpSet, handler{minArgs: 2, maxArgs: 3, apply: applySet})
	register(OpDel, handler{minArgs: 1, maxArgs: -1, apply: applyDel})
	register(OpIncrBy, handler{minArgs: 2, maxArgs: 2, apply: applyIncrBy})
	register(OpSetNode, handler{minArgs: 5, maxArgs: 5, apply: applySetNode})
	register(OpRemoveNode, handler{minArgs: 1, maxArgs: 1, apply: applyRemoveNode})
}

// Results shared by many commands.
var (
	resOK           = Result{Kind: ResultOK}
	resNil          = Result{Kind: ResultNil}
	resCorrupt      = errResult(ErrTextCorruptCommand)
	resCorruptValue = errResult(ErrTextCorruptValue)
	resWrongType    = errResult(ErrTextWrongType)
	resSyntax       = errResult(ErrTextSyntax)
)

func errResult(text string) Result { return Result{Kind: ResultError, Err: text} }
func intResult(n int64) Result     { return Result{Kind: ResultInt, Int: n} }

// exec applies one decoded command within t. A command whose result is an
// error leaves t as it was.
func (t *txn) exec(c *Command) Result {
	h := handlers[c.Op]
	if h == nil || len(c.Args) < h.minArgs || (h.maxArgs >= 0 && len(c.Args) > h.maxArgs) {
		return resCorrupt
	}
	t.begin(c.Now)
	r := h.apply(t, c)
	if r.Kind == ResultError {
		t.rollback()
	}
	return r
}

func applyNoop(*txn, *Command) Result { return resOK }

func applySet(t *txn, c *Command) Result {
	key, val := c.Args[0], c.Args[1]
	var o SetOptions
	if len(c.Args) == 3 {
		var ok bool
		if o, ok = decodeSetOptions(c.Args[2]); !ok {
			return resCorrupt
		}
	}
	if (o.NX && o.XX) || (o.TTL != 0 && o.ExpireAt != 0) || (o.KeepTTL && (o.TTL != 0 || o.ExpireAt != 0)) {
		return resSyntax
	}
	if o.TTL < 0 || o.ExpireAt < 0 {
		return errResult(ErrTextInvalidExpire)
	}
	var newExp int64
	switch {
	case o.TTL > 0:
		var ok bool
		if newExp, ok = addInt64(t.now, o.TTL); !ok {
			return errResult(ErrTextInvalidExpire)
		}
	case o.ExpireAt > 0:
		newExp = o.ExpireAt
	}

	k := dataKey(key, recordLen(1, len(val)))
	var (
		old       record
		found, ok bool
	)
	if o.Get {
		old, found, ok = t.loadRecord(k)
	} else {
		old, found, ok = t.loadHeader(k)
	}
	if !ok {
		return resCorruptValue
	}
	live := found && !expired(old.expireAt, t.now)
	if o.Get && live && old.typ != typeString {
		return resWrongType
	}
	res := resOK
	if o.Get {
		res = resNil
		if live {
			res = Result{Kind: ResultBulk, Bulk: old.payload}
		}
	}
	if (o.NX && live) || (o.XX && !live) {
		if o.Get {
			return res
		}
		return resNil
	}
	if o.KeepTTL && live {
		newExp = old.expireAt
	}

	gone := expired(newExp, t.now)
	keepIndex := found && old.expireAt != 0 && old.expireAt == newExp && !gone
	if found && old.expireAt != 0 && !keepIndex {
		t.del(expireKey(old.expireAt, key))
	}
	if gone {
		// A key set with an expiry at or before now is gone at once.
		if found {
			t.del(k)
		}
		return res
	}
	if newExp != 0 && !keepIndex {
		t.put(expireKey(newExp, key), emptyValue)
	}
	rec := appendRecordHeader(k[len(k):], typeString, newExp)
	rec = append(rec, val...)
	t.put(k[:len(k):len(k)], rec)
	return res
}

func applyDel(t *txn, c *Command) Result {
	var n int64
	for _, key := range c.Args {
		k := dataKey(key, 0)
		old, found, ok := t.loadHeader(k)
		if !found {
			continue
		}
		// A record that does not decode is deleted too (DEL is the way out of
		// it); its index entry, if any, cannot be named and is left behind.
		t.del(k)
		if ok && old.expireAt != 0 {
			t.del(expireKey(old.expireAt, key))
		}
		if !ok || !expired(old.expireAt, t.now) {
			n++
		}
	}
	return intResult(n)
}

func applyIncrBy(t *txn, c *Command) Result {
	key := c.Args[0]
	delta, ok := argInt64(c.Args[1])
	if !ok {
		return resCorrupt
	}
	k := dataKey(key, recordLen(1, 20))
	old, found, ok := t.loadRecord(k)
	if !ok {
		return resCorruptValue
	}
	var cur, exp int64
	if found && !expired(old.expireAt, t.now) {
		if old.typ != typeString {
			return resWrongType
		}
		if cur, ok = parseRedisInt(old.payload); !ok {
			return errResult(ErrTextNotInteger)
		}
		exp = old.expireAt
	} else if found && old.expireAt != 0 {
		t.del(expireKey(old.expireAt, key))
	}
	n, ok := addInt64(cur, delta)
	if !ok {
		return errResult(ErrTextOverflow)
	}
	rec := appendRecordHeader(k[len(k):], typeString, exp)
	rec = strconv.AppendInt(rec, n, 10)
	t.put(k[:len(k):len(k)], rec)
	return intResult(n)
}

func applySetNode(t *txn, c *Command) Result {
	if len(c.Args[0]) == 0 {
		return errResult(ErrTextInvalidNode)
	}
	m := NodeMeta{
		ID:       string(c.Args[0]),
		RaftAddr: string(c.Args[1]),
		RESPAddr: string(c.Args[2]),
		RPCAddr:  string(c.Args[3]),
		HTTPAddr: string(c.Args[4]),
	}
	t.put(nodeKey(c.Args[0]), encodeNodeMeta(m))
	return resOK
}

func applyRemoveNode(t *txn, c *Command) Result {
	if len(c.Args[0]) == 0 {
		return errResult(ErrTextInvalidNode)
	}
	ak := alarmKey(c.Args[0])
	if _, found := t.get(ak); found {
		t.del(ak) // a removed node's disk no longer counts
	}
	k := nodeKey(c.Args[0])
	if _, found := t.get(k); !found {
		return intResult(0)
	}
	t.del(k)
	return intResult(1)
}

// ParseInt parses b as Redis parses an integer argument or value (see
// parseRedisInt). The RESP layer validates arguments with it.
func ParseInt(b []byte) (int64, bool) { return parseRedisInt(b) }

// parseRedisInt parses b as Redis parses an integer argument or value
// (string2ll): an optional '-', then digits without leading zeros ("0" alone is
// fine, "-0" is not), no '+', no spaces, within int64, at most 20 bytes.
func parseRedisInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	if len(b) == 1 && b[0] == '0' {
		return 0, true
	}
	neg := b[0] == '-'
	if neg {
		b = b[1:]
		if len(b) == 0 {
			return 0, false
		}
	}
	if b[0] < '1' || b[0] > '9' {
		return 0, false
	}
	var u uint64
	for _, ch := range b {
		if ch < '0' || ch > '9' {
			return 0, false
		}
		d := uint64(ch - '0')
		if u > (1<<64-1-d)/10 {
			return 0, false
		}
		u = u*10 + d
	}
	if neg {
		if u > 1<<63 {
			return 0, false
		}
		return -int64(u), true // -int64(1<<63) wraps to MinInt64, as wanted
	}
	if u > 1<<63-1 {
		return 0, false
	}
	return int64(u), true
}
