package fsm

import (
	"bytes"
	"fmt"
)

func init() {
	register(OpAppend, handler{minArgs: 2, maxArgs: 2, apply: applyAppend})
	register(OpSetRange, handler{minArgs: 3, maxArgs: 3, apply: applySetRange})
	register(OpGetDel, handler{minArgs: 1, maxArgs: 1, apply: applyGetDel})
	register(OpGetEx, handler{minArgs: 1, maxArgs: 2, apply: applyGetEx})
	register(OpMSet, handler{minArgs: 2, maxArgs: -1, apply: applyMSet})
	register(OpMSetNX, handler{minArgs: 2, maxArgs: -1, apply: applyMSetNX})
	register(OpIncrByFloat, handler{minArgs: 2, maxArgs: 2, apply: applyIncrByFloat})
	register(OpRename, handler{minArgs: 2, maxArgs: 2, apply: applyRename})
	register(OpRenameNX, handler{minArgs: 2, maxArgs: 2, apply: applyRename})
	register(OpCopy, handler{minArgs: 3, maxArgs: 3, apply: applyCopy})
	register(OpFlush, handler{minArgs: 0, maxArgs: 0, apply: applyFlush})
	register(OpExpire, handler{minArgs: 2, maxArgs: 2, apply: applyExpire})
	register(OpPersist, handler{minArgs: 1, maxArgs: 1, apply: applyPersist})
	register(OpExpireSweep, handler{minArgs: 1, maxArgs: -1, apply: applyExpireSweep})
}

// slot is a key as a handler sees it: its data key and the stored record.
type slot struct {
	key   []byte // user key
	k     []byte // data key ('k' + key); owned by the txn once written
	rec   record
	found bool // a record is stored, live or expired
	live  bool // found and not expired at the command's time
}

// lookup loads key's record. ok is false when a stored record does not
// decode: the caller answers ErrTextCorruptValue.
func (t *txn) lookup(key []byte) (s slot, ok bool) {
	s = slot{key: key, k: dataKey(key, 0)}
	s.rec, s.found, ok = t.loadRecord(s.k)
	s.live = s.found && ok && !expired(s.rec.expireAt, t.now)
	return s, ok
}

// lookupHeader is lookup for a command that replaces s's record whatever it
// holds: s.rec.payload is not loaded (txn.loadHeader).
func (t *txn) lookupHeader(key []byte) (s slot, ok bool) {
	s = slot{key: key, k: dataKey(key, 0)}
	s.rec, s.found, ok = t.loadHeader(s.k)
	s.live = s.found && ok && !expired(s.rec.expireAt, t.now)
	return s, ok
}

// remove deletes s's stored record and its TTL index entry.
func (t *txn) remove(s slot) {
	t.del(s.k)
	if s.rec.expireAt != 0 {
		t.del(expireKey(s.rec.expireAt, s.key))
	}
}

// store replaces s's stored record (if any) with a new one and keeps the TTL
// index in step. payload is copied.
func (t *txn) store(s slot, typ byte, exp int64, payload []byte) {
	same := s.found && s.rec.expireAt == exp
	if s.found && s.rec.expireAt != 0 && !same {
		t.del(expireKey(s.rec.expireAt, s.key))
	}
	if exp != 0 && !same {
		t.put(expireKey(exp, s.key), emptyValue)
	}
	rec := appendRecordHeader(make([]byte, 0, recordLen(exp, len(payload))), typ, exp)
	rec = append(rec, payload...)
	t.put(s.k, rec)
}

// stringOf returns s's string value, or a WRONGTYPE result.
func stringOf(s slot) ([]byte, *Result) {
	if s.rec.typ != typeString {
		return nil, &resWrongType
	}
	return s.rec.payload, nil
}

// editString loads key for a command that rewrites its string value: the
// slot, the live value (nil when there is none) and the expiry it keeps, or
// the error result to answer (a corrupt record, another type).
func (t *txn) editString(key []byte) (s slot, val []byte, exp int64, errRes *Result) {
	s, ok := t.lookup(key)
	switch {
	case !ok:
		return s, nil, 0, &resCorruptValue
	case !s.live:
		return s, nil, 0, nil
	}
	val, errRes = stringOf(s)
	return s, val, s.rec.expireAt, errRes
}

func bulkResult(b []byte) Result { return Result{Kind: ResultBulk, Bulk: b} }

func applyAppend(t *txn, c *Command) Result {
	s, old, exp, errRes := t.editString(c.Args[0])
	if errRes != nil {
		return *errRes
	}
	val := c.Args[1]
	total := int64(len(old)) + int64(len(val))
	if total > MaxStringLen {
		return errResult(ErrTextStringTooLong)
	}
	buf := make([]byte, 0, total)
	buf = append(append(buf, old...), val...)
	t.store(s, typeString, exp, buf)
	return intResult(total)
}

func applySetRange(t *txn, c *Command) Result {
	off, ok := argInt64(c.Args[1])
	if !ok {
		return resCorrupt
	}
	if off < 0 {
		return errResult(ErrTextOffsetRange)
	}
	s, old, exp, errRes := t.editString(c.Args[0])
	if errRes != nil {
		return *errRes
	}
	val := c.Args[2]
	if len(val) == 0 {
		// Nothing to write: a missing key is not created.
		return intResult(int64(len(old)))
	}
	if off > MaxStringLen-int64(len(val)) {
		return errResult(ErrTextStringTooLong)
	}
	end := int(off) + len(val)
	buf := make([]byte, max(len(old), end))
	copy(buf, old)
	copy(buf[off:], val)
	t.store(s, typeString, exp, buf)
	return intResult(int64(len(buf)))
}

func applyGetDel(t *txn, c *Command) Result {
	s, ok := t.lookup(c.Args[0])
	if !ok {
		return resCorruptValue
	}
	if !s.live {
		return resNil
	}
	v, errRes := stringOf(s)
	if errRes != nil {
		return *errRes
	}
	t.remove(s)
	return bulkResult(v)
}

func applyGetEx(t *txn, c *Command) Result {
	var o GetExOptions
	if len(c.Args) == 2 {
		var ok bool
		if o, ok = decodeGetExOptions(c.Args[1]); !ok {
			return resCorrupt
		}
	}
	if o.Persist && (o.TTL != 0 || o.ExpireAt != 0) || o.TTL != 0 && o.ExpireAt != 0 {
		return resSyntax
	}
	s, ok := t.lookup(c.Args[0])
	if !ok {
		return resCorruptValue
	}
	if !s.live {
		return resNil
	}
	v, errRes := stringOf(s)
	if errRes != nil {
		return *errRes
	}
	switch {
	case o.NotInteger:
		return errResult(ErrTextNotInteger)
	case o.TTL != 0:
		when, ok := addInt64(t.now, o.TTL)
		if o.TTL < 0 || !ok {
			return errResult(ErrTextInvalidGetEx)
		}
		t.store(s, s.rec.typ, when, v)
	case o.ExpireAt != 0:
		if o.ExpireAt < 0 {
			return errResult(ErrTextInvalidGetEx)
		}
		if expired(o.ExpireAt, t.now) {
			t.remove(s)
		} else {
			t.store(s, s.rec.typ, o.ExpireAt, v)
		}
	case o.Persist && s.rec.expireAt != 0:
		t.store(s, s.rec.typ, 0, v)
	}
	return bulkResult(v)
}

// pairsOK reports whether MSET's arguments are key/value pairs.
func pairsOK(args [][]byte) bool { return len(args) >= 2 && len(args)%2 == 0 }

func applyMSet(t *txn, c *Command) Result {
	if !pairsOK(c.Args) {
		return resCorrupt
	}
	for i := 0; i < len(c.Args); i += 2 {
		s, ok := t.lookupHeader(c.Args[i])
		if !ok {
			return resCorruptValue
		}
		t.store(s, typeString, 0, c.Args[i+1])
	}
	return resOK
}

func applyMSetNX(t *txn, c *Command) Result {
	if !pairsOK(c.Args) {
		return resCorrupt
	}
	for i := 0; i < len(c.Args); i += 2 {
		s, ok := t.lookupHeader(c.Args[i])
		if !ok {
			return resCorruptValue
		}
		if s.live {
			return intResult(0)
		}
	}
	if r := applyMSet(t, c); r.IsError() {
		return r
	}
	return intResult(1)
}

func applyIncrByFloat(t *txn, c *Command) Result {
	s, cur, exp, errRes := t.editString(c.Args[0])
	if errRes != nil {
		return *errRes
	}
	if !s.live {
		cur = []byte("0")
	}
	out, errText := incrByFloat(cur, c.Args[1])
	if errText != "" {
		return errResult(errText)
	}
	t.store(s, typeString, exp, out)
	return bulkResult(out)
}

func applyRename(t *txn, c *Command) Result {
	nx := c.Op == OpRenameNX
	src, ok := t.lookup(c.Args[0])
	if !ok {
		return resCorruptValue
	}
	if !src.live {
		return errResult(ErrTextNoSuchKey)
	}
	if bytes.Equal(c.Args[0], c.Args[1]) {
		if nx {
			return intResult(0)
		}
		return resOK
	}
	dst, ok := t.lookup(c.Args[1])
	if !ok {
		return resCorruptValue
	}
	if nx && dst.live {
		return intResult(0)
	}
	t.remove(src)
	t.store(dst, src.rec.typ, src.rec.expireAt, src.rec.payload)
	if nx {
		return intResult(1)
	}
	return resOK
}

func applyCopy(t *txn, c *Command) Result {
	if len(c.Args[2]) != 1 || c.Args[2][0]&^copyReplace != 0 {
		return resCorrupt
	}
	replace := c.Args[2][0]&copyReplace != 0
	if bytes.Equal(c.Args[0], c.Args[1]) {
		return errResult(ErrTextSameObject)
	}
	src, ok := t.lookup(c.Args[0])
	if !ok {
		return resCorruptValue
	}
	if !src.live {
		return intResult(0)
	}
	dst, ok := t.lookup(c.Args[1])
	if !ok {
		return resCorruptValue
	}
	if dst.live && !replace {
		return intResult(0)
	}
	t.store(dst, src.rec.typ, src.rec.expireAt, src.rec.payload)
	return intResult(1)
}

// applyFlush deletes every key with its index entries; node metadata and the
// state machine's own records stay.
func applyFlush(t *txn, _ *Command) Result {
	var doomed [][]byte
	for _, ns := range [...]byte{nsExpire, nsHash, nsData} {
		it := t.r.NewIterator([]byte{ns}, []byte{ns + 1})
		for it.Next() {
			doomed = append(doomed, bytes.Clone(it.Key()))
		}
		err := it.Err()
		if cerr := it.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			// A failing engine read means a failing disk (see DESIGN.md).
			panic(fmt.Errorf("fsm: engine read failed: %w", err))
		}
	}
	for i := range t.ops {
		p := &t.ops[i]
		if !p.del && len(p.key) > 0 && (p.key[0] == nsExpire || p.key[0] == nsHash || p.key[0] == nsData) {
			doomed = append(doomed, p.key)
		}
	}
	for _, k := range doomed {
		t.writeRaw(pending{key: k, del: true})
	}
	t.keys, t.expires = 0, 0
	return resOK
}

func applyExpire(t *txn, c *Command) Result {
	flags, when, ok := decodeFlagged(c.Args[1])
	if !ok || flags&^(expireNX|expireXX|expireGT|expireLT|expireRelative|expireSeconds) != 0 {
		return resCorrupt
	}
	nx, xx, gt, lt := flags&expireNX != 0, flags&expireXX != 0, flags&expireGT != 0, flags&expireLT != 0
	switch {
	case nx && (xx || gt || lt):
		return errResult(ErrTextExpireNXCombo)
	case gt && lt:
		return errResult(ErrTextExpireGTAndLT)
	}
	if flags&expireRelative != 0 {
		var ok bool
		if when, ok = addInt64(t.now, when); !ok {
			if flags&expireSeconds != 0 {
				return errResult(ErrTextInvalidExpireS)
			}
			return errResult(ErrTextInvalidPExpire)
		}
	}
	s, ok := t.lookup(c.Args[0])
	if !ok {
		return resCorruptValue
	}
	if !s.live {
		return intResult(0)
	}
	cur := s.rec.expireAt // 0: no expiry, an infinite TTL for GT and LT
	switch {
	case nx && cur != 0,
		xx && cur == 0,
		gt && (cur == 0 || when <= cur),
		lt && cur != 0 && when >= cur:
		return intResult(0)
	}
	if when <= t.now {
		t.remove(s)
	} else {
		t.store(s, s.rec.typ, when, s.rec.payload)
	}
	return intResult(1)
}

func applyPersist(t *txn, c *Command) Result {
	s, ok := t.lookup(c.Args[0])
	if !ok {
		return resCorruptValue
	}
	if !s.live || s.rec.expireAt == 0 {
		return intResult(0)
	}
	t.store(s, s.rec.typ, 0, s.rec.payload)
	return intResult(1)
}

// applyExpireSweep deletes each listed key whose record has expired at the
// command's time. A key written again since the sweep was proposed is live
// and stays; a record that does not decode is left for DEL.
func applyExpireSweep(t *txn, c *Command) Result {
	var n int64
	for _, key := range c.Args {
		s, ok := t.lookup(key)
		if !ok || !s.found || !expired(s.rec.expireAt, t.now) {
			continue
		}
		t.remove(s)
		n++
	}
	return intResult(n)
}
