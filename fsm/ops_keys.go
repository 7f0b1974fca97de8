package fsm

import (
	"encoding/binary"
)

// Commands of the string, keyspace and expiry families. Their values are part
// of the replicated log format: never renumber or reuse one.
const (
	// OpAppend is APPEND key value.
	OpAppend Op = 16
	// OpSetRange is SETRANGE key offset value.
	OpSetRange Op = 17
	// OpGetDel is GETDEL key.
	OpGetDel Op = 18
	// OpGetEx is GETEX key [EX|PX|EXAT|PXAT|PERSIST].
	OpGetEx Op = 19
	// OpMSet is MSET key value [key value ...].
	OpMSet Op = 20
	// OpMSetNX is MSETNX key value [key value ...].
	OpMSetNX Op = 21
	// OpIncrByFloat is INCRBYFLOAT key increment.
	OpIncrByFloat Op = 22
	// OpRename is RENAME key newkey.
	OpRename Op = 23
	// OpRenameNX is RENAMENX key newkey.
	OpRenameNX Op = 24
	// OpCopy is COPY source destination [REPLACE].
	OpCopy Op = 25
	// OpFlush is FLUSHDB and FLUSHALL: it deletes every key (node metadata
	// stays).
	OpFlush Op = 26
	// OpExpire is EXPIRE, PEXPIRE, EXPIREAT and PEXPIREAT with NX|XX|GT|LT.
	OpExpire Op = 27
	// OpPersist is PERSIST key.
	OpPersist Op = 28
	// OpExpireSweep deletes the listed keys that have expired at
	// Command.Now; the leader proposes it in the background.
	OpExpireSweep Op = 29
)

func init() {
	for op, name := range map[Op]string{
		OpAppend:      "append",
		OpSetRange:    "setrange",
		OpGetDel:      "getdel",
		OpGetEx:       "getex",
		OpMSet:        "mset",
		OpMSetNX:      "msetnx",
		OpIncrByFloat: "incrbyfloat",
		OpRename:      "rename",
		OpRenameNX:    "renamenx",
		OpCopy:        "copy",
		OpFlush:       "flush",
		OpExpire:      "expire",
		OpPersist:     "persist",
		OpExpireSweep: "expiresweep",
	} {
		opNames[op] = name
	}
}

// MaxStringLen is the largest string value APPEND, SETRANGE and friends may
// build: Redis's default proto-max-bulk-len (512 MiB).
const MaxStringLen = 512 << 20

// Redis error texts of the keyspace commands.
const (
	ErrTextNoSuchKey      = "ERR no such key"
	ErrTextSameObject     = "ERR source and destination objects are the same"
	ErrTextNotFloat       = "ERR value is not a valid float"
	ErrTextNaNOrInfinity  = "ERR increment would produce NaN or Infinity"
	ErrTextOffsetRange    = "ERR offset is out of range"
	ErrTextStringTooLong  = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
	ErrTextExpireNXCombo  = "ERR NX and XX, GT or LT options at the same time are not compatible"
	ErrTextExpireGTAndLT  = "ERR GT and LT options at the same time are not compatible"
	errTextExpirePrefix   = "ERR invalid expire time in '"
	errTextExpireSuffix   = "' command"
	ErrTextInvalidGetEx   = errTextExpirePrefix + "getex" + errTextExpireSuffix
	ErrTextInvalidExpireS = errTextExpirePrefix + "expire" + errTextExpireSuffix
	ErrTextInvalidPExpire = errTextExpirePrefix + "pexpire" + errTextExpireSuffix
)

// InvalidExpireText is Redis's error for an expiry that is out of range, for
// the command name (lower case) as Redis reports it.
func InvalidExpireText(cmd string) string {
	return errTextExpirePrefix + cmd + errTextExpireSuffix
}

// NewAppend returns an APPEND command.
func NewAppend(key, value []byte) *Command {
	return &Command{Op: OpAppend, Args: [][]byte{key, value}}
}

// NewSetRange returns a SETRANGE command.
func NewSetRange(key []byte, offset int64, value []byte) *Command {
	return &Command{Op: OpSetRange, Args: [][]byte{key, binary.AppendVarint(nil, offset), value}}
}

// NewGetDel returns a GETDEL command.
func NewGetDel(key []byte) *Command {
	return &Command{Op: OpGetDel, Args: [][]byte{key}}
}

// GetExOptions are the options of GETEX. At most one of TTL, ExpireAt and
// Persist may be set; the zero value reads the key without changing it.
type GetExOptions struct {
	// TTL is a relative expiry in milliseconds (EX, PX), added to
	// Command.Now when the command applies. It must be > 0.
	TTL int64
	// ExpireAt is an absolute expiry in unix milliseconds (EXAT, PXAT). It
	// must be > 0; a time at or before Command.Now deletes the key.
	ExpireAt int64
	// Persist removes the key's expiry.
	Persist bool
	// NotInteger marks an expiry that was not an integer: the command
	// answers nil, WRONGTYPE or ErrTextNotInteger, as the key is, and
	// changes nothing. (An expiry that is an integer but out of range is
	// sent as a negative TTL, which the command answers the same way with
	// ErrTextInvalidGetEx.)
	NotInteger bool
}

// Flags of the GETEX options argument.
const (
	getexTTL byte = 1 << iota
	getexExpireAt
	getexPersist
	getexNotInteger
)

// NewGetEx returns a GETEX command. Conflicting options are encoded as given
// and rejected when the command applies.
func NewGetEx(key []byte, o GetExOptions) *Command {
	if o == (GetExOptions{}) {
		return &Command{Op: OpGetEx, Args: [][]byte{key}}
	}
	opt := []byte{0}
	if o.Persist {
		opt[0] |= getexPersist
	}
	if o.NotInteger {
		opt[0] |= getexNotInteger
	}
	if o.TTL != 0 {
		opt[0] |= getexTTL
		opt = binary.AppendVarint(opt, o.TTL)
	}
	if o.ExpireAt != 0 {
		opt[0] |= getexExpireAt
		opt = binary.AppendVarint(opt, o.ExpireAt)
	}
	return &Command{Op: OpGetEx, Args: [][]byte{key, opt}}
}

// decodeGetExOptions parses the options argument of a GETEX command.
func decodeGetExOptions(b []byte) (GetExOptions, bool) {
	var o GetExOptions
	if len(b) == 0 || b[0]&^(getexTTL|getexExpireAt|getexPersist|getexNotInteger) != 0 {
		return o, false
	}
	flags := b[0]
	b = b[1:]
	o.Persist = flags&getexPersist != 0
	o.NotInteger = flags&getexNotInteger != 0
	for _, f := range [...]struct {
		bit byte
		v   *int64
	}{{getexTTL, &o.TTL}, {getexExpireAt, &o.ExpireAt}} {
		if flags&f.bit == 0 {
			continue
		}
		v, n := binary.Varint(b)
		if n <= 0 || v == 0 {
			return o, false
		}
		*f.v, b = v, b[n:]
	}
	return o, len(b) == 0
}

// NewMSet returns an MSET command for alternating keys and values.
func NewMSet(pairs ...[]byte) *Command {
	return &Command{Op: OpMSet, Args: append([][]byte(nil), pairs...)}
}

// NewMSetNX returns an MSETNX command for alternating keys and values.
func NewMSetNX(pairs ...[]byte) *Command {
	return &Command{Op: OpMSetNX, Args: append([][]byte(nil), pairs...)}
}

// NewIncrByFloat returns an INCRBYFLOAT command. The increment travels as the
// client sent it and is parsed when the command applies, exactly like the
// stored value.
func NewIncrByFloat(key, increment []byte) *Command {
	return &Command{Op: OpIncrByFloat, Args: [][]byte{key, increment}}
}

// NewRename returns a RENAME command, or RENAMENX when nx is set.
func NewRename(src, dst []byte, nx bool) *Command {
	op := OpRename
	if nx {
		op = OpRenameNX
	}
	return &Command{Op: op, Args: [][]byte{src, dst}}
}

// Flags of the COPY options argument.
const copyReplace byte = 1

// NewCopy returns a COPY command.
func NewCopy(src, dst []byte, replace bool) *Command {
	var flags byte
	if replace {
		flags |= copyReplace
	}
	return &Command{Op: OpCopy, Args: [][]byte{src, dst, {flags}}}
}

// NewFlush returns a command that deletes every key.
func NewFlush() *Command {
	return &Command{Op: OpFlush}
}

// ExpireOptions are the arguments of the EXPIRE family.
type ExpireOptions struct {
	// When is the expiry in milliseconds: relative to Command.Now when
	// Relative is set (EXPIRE, PEXPIRE), else a unix time (EXPIREAT,
	// PEXPIREAT). It may be zero or negative: a time at or before
	// Command.Now deletes the key.
	When     int64
	Relative bool
	// Seconds says the client gave seconds (EXPIRE, EXPIREAT); it only
	// selects the command name in the error for an overflowing time.
	Seconds        bool
	NX, XX, GT, LT bool
}

// Flags of the EXPIRE options argument.
const (
	expireNX byte = 1 << iota
	expireXX
	expireGT
	expireLT
	expireRelative
	expireSeconds
)

// NewExpire returns an EXPIRE-family command.
func NewExpire(key []byte, o ExpireOptions) *Command {
	var flags byte
	for _, f := range [...]struct {
		on  bool
		bit byte
	}{{o.NX, expireNX}, {o.XX, expireXX}, {o.GT, expireGT}, {o.LT, expireLT}, {o.Relative, expireRelative}, {o.Seconds, expireSeconds}} {
		if f.on {
			flags |= f.bit
		}
	}
	return &Command{Op: OpExpire, Args: [][]byte{key, binary.AppendVarint([]byte{flags}, o.When)}}
}

// NewPersist returns a PERSIST command.
func NewPersist(key []byte) *Command {
	return &Command{Op: OpPersist, Args: [][]byte{key}}
}

// NewExpireSweep returns a command that deletes those of keys that have
// expired when it applies. Keys that were set again meanwhile survive.
func NewExpireSweep(keys ...[]byte) *Command {
	return &Command{Op: OpExpireSweep, Args: append([][]byte(nil), keys...)}
}

// decodeFlagged splits an options argument into its flags byte and the zigzag
// varint that fills the rest.
func decodeFlagged(b []byte) (byte, int64, bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	v, ok := argInt64(b[1:])
	return b[0], v, ok
}
