package fsm

import (
	"encoding/binary"
)

// Transaction ops and the read ops that may run inside a transaction. Values
// 96..111 belong to transactions; like every Op they are part of the log
// format.
const (
	// OpMulti is MULTI/EXEC: a watch set and a sequence of nested commands
	// applied at one point of the log. See NewMulti.
	OpMulti Op = 96
	// OpGet is GET key, as a read op.
	OpGet Op = 97
	// OpExists is EXISTS key [key ...], as a read op.
	OpExists Op = 98
	// OpMGet is MGET key [key ...], as a read op.
	OpMGet Op = 99
	// OpStrlen is STRLEN key, as a read op.
	OpStrlen Op = 100
	// OpPTTL is TTL and PTTL (and EXPIRETIME, PEXPIRETIME): the key's expiry,
	// as a read op. See NewPTTL.
	OpPTTL Op = 101
	// OpType is TYPE key, as a read op.
	OpType Op = 102
	// OpDBSize is DBSIZE, as a read op.
	OpDBSize Op = 103
	// OpGetStrings reads one or more string values, as a read op: an array
	// with, per key, its value, nil, or WRONGTYPE (LCS inside a transaction).
	OpGetStrings Op = 104
)

// Watch is one key watched by WATCH, as taken by FSM.Watch and checked by the
// OpMulti that EXEC proposes.
type Watch struct {
	Key []byte
	// Version is the Raft index of the last write that touched the key, 0 when
	// the key has no version record (it does not exist, or was last written
	// before versions were kept).
	Version uint64
	// Index is the applied index of the state machine when the watch was
	// taken, read before Version. A key watched with Version 0 counts as
	// modified if a key of its delete bucket was deleted after Index.
	Index uint64
	// Live is set when the key held a value that had not expired, by the
	// watcher's clock. A live key that has expired by the time EXEC applies
	// counts as modified, as in Redis.
	Live bool
}

// watchLive is the flag bit of Watch.Live in the encoded watch set.
const watchLive byte = 1

// NewMulti returns the command of one EXEC: the watched keys and the queued
// commands, applied atomically at one point of the log. If any watched key was
// modified after it was watched, the result is ResultNil and nothing changes;
// otherwise the result is an array with one result per command (an error
// result for a command that failed, whose writes are undone; the others
// apply). A command nested in cmds must not be an OpMulti or a node metadata
// op; its Now is replaced by the OpMulti's own.
//
// Args: the encoded watch set (uvarint count, then per watch: uvarint key
// length, key, uvarint version, uvarint index, flags byte), then each command
// encoded with AppendBinary.
func NewMulti(watches []Watch, cmds ...*Command) *Command {
	n := binary.MaxVarintLen64
	for _, w := range watches {
		n += 3*binary.MaxVarintLen64 + 1 + len(w.Key)
	}
	ws := binary.AppendUvarint(make([]byte, 0, n), uint64(len(watches)))
	for _, w := range watches {
		ws = binary.AppendUvarint(ws, uint64(len(w.Key)))
		ws = append(ws, w.Key...)
		ws = binary.AppendUvarint(ws, w.Version)
		ws = binary.AppendUvarint(ws, w.Index)
		var flags byte
		if w.Live {
			flags |= watchLive
		}
		ws = append(ws, flags)
	}
	args := make([][]byte, 1, 1+len(cmds))
	args[0] = ws
	for _, c := range cmds {
		args = append(args, c.AppendBinary(make([]byte, 0, c.encodedLen())))
	}
	return &Command{Op: OpMulti, Args: args}
}

// decodeWatches decodes the watch set of an OpMulti. Keys alias b.
func decodeWatches(b []byte) ([]Watch, bool) {
	cnt, n := binary.Uvarint(b)
	// Every watch takes at least four bytes.
	if n <= 0 || cnt > uint64(len(b)-n)/4 {
		return nil, false
	}
	b = b[n:]
	ws := make([]Watch, cnt)
	for i := range ws {
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return nil, false
		}
		b = b[n:]
		ws[i].Key = b[:l:l]
		b = b[l:]
		if ws[i].Version, n = binary.Uvarint(b); n <= 0 {
			return nil, false
		}
		b = b[n:]
		if ws[i].Index, n = binary.Uvarint(b); n <= 0 {
			return nil, false
		}
		b = b[n:]
		if len(b) == 0 || b[0]&^watchLive != 0 {
			return nil, false
		}
		ws[i].Live = b[0]&watchLive != 0
		b = b[1:]
	}
	return ws, len(b) == 0
}

// NewGetStrings returns a read command for the values of keys (OpGetStrings).
func NewGetStrings(keys ...[]byte) *Command {
	return &Command{Op: OpGetStrings, Args: keys}
}

// NewGet returns a GET read command.
func NewGet(key []byte) *Command {
	return &Command{Op: OpGet, Args: [][]byte{key}}
}

// NewExists returns an EXISTS read command; a key named twice counts twice.
func NewExists(keys ...[]byte) *Command {
	return &Command{Op: OpExists, Args: append([][]byte(nil), keys...)}
}

// NewMGet returns an MGET read command: an array with the value of each key,
// nil for a missing key or one that does not hold a string.
func NewMGet(keys ...[]byte) *Command {
	return &Command{Op: OpMGet, Args: append([][]byte(nil), keys...)}
}

// NewStrlen returns a STRLEN read command.
func NewStrlen(key []byte) *Command {
	return &Command{Op: OpStrlen, Args: [][]byte{key}}
}

// TTL units and bases of NewPTTL, the flags byte of an OpPTTL.
const (
	// TTLSeconds answers in seconds, rounded as Redis does (TTL, EXPIRETIME);
	// without it the answer is in milliseconds (PTTL, PEXPIRETIME).
	TTLSeconds byte = 1 << iota
	// TTLAbsolute answers the absolute unix time of the expiry (EXPIRETIME,
	// PEXPIRETIME) instead of the time left.
	TTLAbsolute
)

// NewPTTL returns a read command for the expiry of key: -2 if the key does not
// exist, -1 if it has no expiry, else the time left (or, with TTLAbsolute, the
// unix time of the expiry) in milliseconds or, with TTLSeconds, seconds.
func NewPTTL(key []byte, flags byte) *Command {
	return &Command{Op: OpPTTL, Args: [][]byte{key, {flags}}}
}

// NewType returns a TYPE read command: a bulk string naming the type of the
// key's value as Redis's TYPE does ("string", ...), "none" when it does not
// exist.
func NewType(key []byte) *Command {
	return &Command{Op: OpType, Args: [][]byte{key}}
}

// NewDBSize returns a DBSIZE read command: the number of keys, counted as
// FSM.KeyStats counts them.
func NewDBSize() *Command {
	return &Command{Op: OpDBSize}
}
