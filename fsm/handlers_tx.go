package fsm

import (
	"errors"
	"fmt"
)

func init() {
	register(OpMulti, handler{minArgs: 1, maxArgs: -1, apply: applyMulti})
	registerRead(OpGet, handler{minArgs: 1, maxArgs: 1, apply: applyGet})
	registerRead(OpExists, handler{minArgs: 1, maxArgs: -1, apply: applyExists})
	registerRead(OpMGet, handler{minArgs: 1, maxArgs: -1, apply: applyMGet})
	registerRead(OpStrlen, handler{minArgs: 1, maxArgs: 1, apply: applyStrlen})
	registerRead(OpPTTL, handler{minArgs: 2, maxArgs: 2, apply: applyPTTL})
	registerRead(OpType, handler{minArgs: 1, maxArgs: 1, apply: applyType})
	registerRead(OpDBSize, handler{minArgs: 0, maxArgs: 0, apply: applyDBSize})
	registerRead(OpGetStrings, handler{minArgs: 1, maxArgs: -1, apply: applyGetStrings})
	for op, name := range map[Op]string{
		OpMulti:      "multi",
		OpGet:        "get",
		OpExists:     "exists",
		OpMGet:       "mget",
		OpStrlen:     "strlen",
		OpPTTL:       "pttl",
		OpType:       "type",
		OpDBSize:     "dbsize",
		OpGetStrings: "getstrings",
	} {
		opNames[op] = name
	}
}

// readOps marks the ops registered with registerRead: they never write, so
// FSM.Eval may run them outside the log.
var readOps [256]bool

// registerRead registers a read op: a handler that only reads through the txn.
// Inside an OpMulti it sees the writes of the commands before it; through
// FSM.Eval it reads the applied state.
func registerRead(op Op, h handler) {
	register(op, h)
	readOps[op] = true
}

// IsRead reports whether op is a read op (one FSM.Eval accepts).
func IsRead(op Op) bool { return readOps[op] }

// ErrNotRead is returned by Eval for a command whose op is not a read op.
var ErrNotRead = errors.New("fsm: not a read command")

// Eval runs the read command c against the applied state at time nowMs (unix
// ms) and returns its result, without going through the log. It may run
// concurrently with Apply; a read of several keys is not guaranteed to see
// them at one index (a read inside an OpMulti is). A corrupt stored record
// yields an error result, as in the log.
func (f *FSM) Eval(c *Command, nowMs int64) (Result, error) {
	h := handlers[c.Op]
	if !readOps[c.Op] || h == nil {
		return Result{}, fmt.Errorf("%w: %v", ErrNotRead, c.Op)
	}
	if len(c.Args) < h.minArgs || (h.maxArgs >= 0 && len(c.Args) > h.maxArgs) {
		return resCorrupt, nil
	}
	t := newTxn(f.eng)
	t.setStats(f.KeyStats())
	t.begin(nowMs)
	return h.apply(t, c), nil
}

// notInMulti marks the ops an OpMulti must not nest: itself, and the node
// metadata ops, which belong to membership changes.
var notInMulti = [256]bool{OpMulti: true, OpSetNode: true, OpRemoveNode: true, OpDiskAlarm: true}

// applyMulti applies one EXEC. Everything is checked before anything runs: a
// watch set or nested command that does not decode, an unknown, forbidden or
// malformed nested command makes the whole entry ErrTextCorruptCommand and
// changes nothing. A watched key modified since its watch makes the result
// nil (nothing runs). Otherwise each nested command runs in order with its own
// savepoint, like a command of a batch: a failing one yields its error in the
// array and changes nothing; the others apply.
func applyMulti(t *txn, c *Command) Result {
	watches, ok := decodeWatches(c.Args[0])
	if !ok {
		return resCorrupt
	}
	subs := make([]Command, len(c.Args)-1)
	for i, b := range c.Args[1:] {
		s := &subs[i]
		if err := s.decode(b); err != nil {
			return resCorrupt
		}
		h := handlers[s.Op]
		if h == nil || notInMulti[s.Op] || len(s.Args) < h.minArgs || (h.maxArgs >= 0 && len(s.Args) > h.maxArgs) {
			return resCorrupt
		}
		s.Now = c.Now
	}
	for _, w := range watches {
		if t.watchChanged(w) {
			return resNil
		}
	}
	out := make([]Result, len(subs))
	for i := range subs {
		// exec starts a savepoint per nested command. The OpMulti's own
		// savepoint is gone after the first, which is fine: from here on
		// its result is an array, never an error, so it is never rolled
		// back as a whole.
		out[i] = t.exec(&subs[i])
	}
	return Result{Kind: ResultArray, Array: out}
}

// liveRecord returns the record of key if it exists and has not expired at
// t.now. ok is false when the stored record does not decode.
func (t *txn) liveRecord(key []byte) (rec record, live, ok bool) {
	rec, found, ok := t.loadRecord(dataKey(key, 0))
	if !ok {
		return record{}, false, false
	}
	if !found || expired(rec.expireAt, t.now) {
		return record{}, false, true
	}
	return rec, true, true
}

func applyGet(t *txn, c *Command) Result { return t.getString(c.Args[0]) }

// getString is GET's result for key: its value, nil, or WRONGTYPE.
func (t *txn) getString(key []byte) Result {
	rec, live, ok := t.liveRecord(key)
	switch {
	case !ok:
		return resCorruptValue
	case !live:
		return resNil
	case rec.typ != typeString:
		return resWrongType
	}
	return Result{Kind: ResultBulk, Bulk: rec.payload}
}

func applyGetStrings(t *txn, c *Command) Result {
	res := Result{Kind: ResultArray, Array: make([]Result, len(c.Args))}
	for i, key := range c.Args {
		res.Array[i] = t.getString(key)
	}
	return res
}

func applyExists(t *txn, c *Command) Result {
	var n int64
	for _, key := range c.Args {
		_, live, ok := t.liveRecord(key)
		if !ok {
			return resCorruptValue
		}
		if live {
			n++
		}
	}
	return intResult(n)
}

func applyMGet(t *txn, c *Command) Result {
	out := make([]Result, len(c.Args))
	for i, key := range c.Args {
		rec, live, ok := t.liveRecord(key)
		if ok && live && rec.typ == typeString {
			out[i] = Result{Kind: ResultBulk, Bulk: rec.payload}
		}
	}
	return Result{Kind: ResultArray, Array: out}
}

func applyStrlen(t *txn, c *Command) Result {
	rec, live, ok := t.liveRecord(c.Args[0])
	switch {
	case !ok:
		return resCorruptValue
	case !live:
		return intResult(0)
	case rec.typ != typeString:
		return resWrongType
	}
	return intResult(int64(len(rec.payload)))
}

func applyPTTL(t *txn, c *Command) Result {
	if len(c.Args[1]) != 1 || c.Args[1][0]&^(TTLSeconds|TTLAbsolute) != 0 {
		return resCorrupt
	}
	flags := c.Args[1][0]
	rec, live, ok := t.liveRecord(c.Args[0])
	switch {
	case !ok:
		return resCorruptValue
	case !live:
		return intResult(-2)
	case rec.expireAt == 0:
		return intResult(-1)
	}
	v := rec.expireAt
	if flags&TTLAbsolute == 0 {
		v = max(rec.expireAt-t.now, 0)
	}
	if flags&TTLSeconds != 0 {
		v = MillisToSeconds(v)
	}
	return intResult(v)
}

func applyType(t *txn, c *Command) Result {
	rec, live, ok := t.liveRecord(c.Args[0])
	switch {
	case !ok:
		return resCorruptValue
	case !live:
		return Result{Kind: ResultBulk, Bulk: []byte("none")}
	}
	return Result{Kind: ResultBulk, Bulk: []byte(typeNames[rec.typ])}
}

// applyDBSize counts the keys as the batch sees them: the key statistics
// include the writes of the commands before it.
func applyDBSize(t *txn, _ *Command) Result { return intResult(t.keys) }
