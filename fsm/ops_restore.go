package fsm

import "encoding/binary"

// OpRestore is RESTORE key ttl payload [REPLACE] [ABSTTL] for a string
// value, the payload already decoded by the proposer. Args: key, value,
// flags byte (RestoreReplace, RestoreAbsTTL), the TTL in milliseconds as a
// varint (0: no expiry), and an error text, empty when the arguments were
// good: Redis reports a bad TTL or payload only after it found the key
// free, so the state machine answers BUSYKEY first. Part of the replicated
// log format: never renumber.
const OpRestore Op = 34

// Flags of OpRestore; part of the log format.
const (
	RestoreReplace byte = 1 << iota
	RestoreAbsTTL
)

// ErrTextBusyKey is Redis's error for RESTORE onto an existing key.
const ErrTextBusyKey = "BUSYKEY Target key name already exists."

func init() {
	register(OpRestore, handler{minArgs: 5, maxArgs: 5, apply: applyRestore})
	opNames[OpRestore] = "restore"
}

// NewRestore returns a RESTORE command (see OpRestore).
func NewRestore(key, value []byte, flags byte, ttl int64, errText string) *Command {
	return &Command{Op: OpRestore, Args: [][]byte{key, value, {flags}, binary.AppendVarint(nil, ttl), []byte(errText)}}
}

func applyRestore(t *txn, c *Command) Result {
	ttl, ok := argInt64(c.Args[3])
	if !ok || len(c.Args[2]) != 1 || c.Args[2][0]&^(RestoreReplace|RestoreAbsTTL) != 0 || ttl < 0 {
		return resCorrupt
	}
	flags := c.Args[2][0]
	s, ok := t.lookupHeader(c.Args[0])
	switch {
	case !ok:
		return resCorruptValue
	case s.live && flags&RestoreReplace == 0:
		return errResult(ErrTextBusyKey)
	case len(c.Args[4]) > 0:
		return errResult(string(c.Args[4]))
	}
	exp := ttl
	if ttl != 0 && flags&RestoreAbsTTL == 0 {
		if exp, ok = addInt64(t.now, ttl); !ok {
			exp = 1 // past every clock: the key is gone at once, as in Redis
		}
	}
	if exp != 0 && expired(exp, t.now) {
		if s.found {
			t.remove(s) // only with REPLACE: a live key was refused above
		}
		return resOK
	}
	t.store(s, typeString, exp, c.Args[1])
	return resOK
}
