package fsm

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Op identifies a command. Values are part of the replicated log format: never
// renumber or reuse one.
type Op uint8

// Commands.
const (
	// OpNoop changes nothing; it only advances the applied index. A new leader
	// proposes one to learn when an entry of its own term has applied.
	OpNoop Op = iota
	// OpSet is SET key value [NX|XX] [GET] [EX|PX|EXAT|PXAT|KEEPTTL].
	OpSet
	// OpDel is DEL key [key ...].
	OpDel
	// OpIncrBy is INCRBY key delta (INCR, DECR and DECRBY map onto it).
	OpIncrBy
	// OpSetNode records or replaces one node's metadata.
	OpSetNode
	// OpRemoveNode removes one node's metadata.
	OpRemoveNode
)

// opNames holds every op's name; ops defined in other files set theirs from
// an init function.
var opNames = [256]string{
	OpNoop:       "noop",
	OpSet:        "set",
	OpDel:        "del",
	OpIncrBy:     "incrby",
	OpSetNode:    "setnode",
	OpRemoveNode: "removenode",
}

// String returns the op's name, or "op(N)" for an op this build does not know.
func (o Op) String() string {
	if int(o) < len(opNames) && opNames[o] != "" {
		return opNames[o]
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// commandVersion is the first byte of every encoded command.
const commandVersion byte = 1

// Command is one state machine command, the payload of a Raft log entry.
type Command struct {
	Op Op
	// Now is the proposer's wall clock in unix milliseconds, stamped before the
	// command is proposed. Every replica uses it as the current time when it
	// applies the command, so expiry is decided identically everywhere.
	Now int64
	// Args are the op-specific arguments, built by the New* constructors.
	Args [][]byte
}

// MarshalBinary encodes c: a version byte, the op, Now as a uvarint, the
// argument count as a uvarint, then each argument as a uvarint length followed
// by its bytes.
func (c *Command) MarshalBinary() ([]byte, error) {
	return c.AppendBinary(make([]byte, 0, c.encodedLen())), nil
}

// AppendBinary appends the encoding of c (see MarshalBinary) to dst and returns
// the extended slice.
func (c *Command) AppendBinary(dst []byte) []byte {
	dst = append(dst, commandVersion, byte(c.Op))
	dst = binary.AppendUvarint(dst, uint64(c.Now))
	dst = binary.AppendUvarint(dst, uint64(len(c.Args)))
	for _, a := range c.Args {
		dst = binary.AppendUvarint(dst, uint64(len(a)))
		dst = append(dst, a...)
	}
	return dst
}

func (c *Command) encodedLen() int {
	n := 2 + uvarintLen(uint64(c.Now)) + uvarintLen(uint64(len(c.Args)))
	for _, a := range c.Args {
		n += uvarintLen(uint64(len(a))) + len(a)
	}
	return n
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// DecodeCommand decodes a command encoded by MarshalBinary. The arguments of
// the returned command alias b. It returns ErrUnknownVersion for an unknown
// version byte and ErrBadCommand for any other malformed input; it never panics.
// It does not check that the op is known or that the arguments fit the op:
// applying such a command yields an error result.
func DecodeCommand(b []byte) (*Command, error) {
	c := new(Command)
	if err := c.decode(b); err != nil {
		return nil, err
	}
	return c, nil
}

// UnmarshalBinary decodes b (see MarshalBinary) into c, reusing c.Args's
// capacity. c.Args point into b.
func (c *Command) UnmarshalBinary(b []byte) error { return c.decode(b) }

// decode decodes b into c, reusing c.Args's capacity.
func (c *Command) decode(b []byte) error {
	if len(b) == 0 {
		return ErrBadCommand
	}
	if b[0] != commandVersion {
		return ErrUnknownVersion
	}
	if len(b) < 2 {
		return ErrBadCommand
	}
	c.Op = Op(b[1])
	b = b[2:]
	now, n := binary.Uvarint(b)
	if n <= 0 {
		return ErrBadCommand
	}
	c.Now = int64(now)
	b = b[n:]
	argc, n := binary.Uvarint(b)
	if n <= 0 {
		return ErrBadCommand
	}
	b = b[n:]
	// Every argument takes at least one byte (its length), which bounds the
	// allocation a corrupt count can cause.
	if argc > uint64(len(b)) {
		return ErrBadCommand
	}
	if cap(c.Args) < int(argc) {
		c.Args = make([][]byte, argc)
	} else {
		c.Args = c.Args[:argc]
	}
	for i := range c.Args {
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			c.Args = c.Args[:0]
			return ErrBadCommand
		}
		b = b[n:]
		c.Args[i] = b[:l:l]
		b = b[l:]
	}
	if len(b) != 0 {
		c.Args = c.Args[:0]
		return ErrBadCommand
	}
	return nil
}

// SetOptions are the options of SET. The zero value is a plain SET.
type SetOptions struct {
	NX      bool // only set if the key does not exist
	XX      bool // only set if the key exists
	KeepTTL bool // keep the key's current expiry
	Get     bool // return the old value (or nil) instead of OK
	// TTL is a relative expiry in milliseconds (EX, PX). It is converted to an
	// absolute time with Command.Now when the command applies, so every replica
	// agrees. It must be > 0.
	TTL int64
	// ExpireAt is an absolute expiry in unix milliseconds (EXAT, PXAT). It must
	// be > 0; a time at or before Command.Now deletes the key.
	ExpireAt int64
}

// Flags of the SET options argument.
const (
	setNX byte = 1 << iota
	setXX
	setKeepTTL
	setGet
	setTTL
	setExpireAt
)

// NewSet returns a SET command. Invalid option combinations are encoded as
// given and rejected deterministically when the command applies.
func NewSet(key, value []byte, o SetOptions) *Command {
	if o == (SetOptions{}) {
		// One allocation for the command and its arguments: the most
		// frequent command's on every write path.
		x := &struct {
			c    Command
			args [2][]byte
		}{args: [2][]byte{key, value}}
		x.c = Command{Op: OpSet, Args: x.args[:]}
		return &x.c
	}
	var flags byte
	if o.NX {
		flags |= setNX
	}
	if o.XX {
		flags |= setXX
	}
	if o.KeepTTL {
		flags |= setKeepTTL
	}
	if o.Get {
		flags |= setGet
	}
	if o.TTL != 0 {
		flags |= setTTL
	}
	if o.ExpireAt != 0 {
		flags |= setExpireAt
	}
	opt := make([]byte, 1, 1+2*binary.MaxVarintLen64)
	opt[0] = flags
	if o.TTL != 0 {
		opt = binary.AppendVarint(opt, o.TTL)
	}
	if o.ExpireAt != 0 {
		opt = binary.AppendVarint(opt, o.ExpireAt)
	}
	return &Command{Op: OpSet, Args: [][]byte{key, value, opt}}
}

// decodeSetOptions parses the options argument of a SET command.
func decodeSetOptions(b []byte) (SetOptions, bool) {
	var o SetOptions
	if len(b) == 0 {
		return o, false
	}
	flags := b[0]
	if flags&^(setNX|setXX|setKeepTTL|setGet|setTTL|setExpireAt) != 0 {
		return o, false
	}
	b = b[1:]
	o.NX = flags&setNX != 0
	o.XX = flags&setXX != 0
	o.KeepTTL = flags&setKeepTTL != 0
	o.Get = flags&setGet != 0
	if flags&setTTL != 0 {
		v, n := binary.Varint(b)
		if n <= 0 || v == 0 {
			return o, false
		}
		o.TTL, b = v, b[n:]
	}
	if flags&setExpireAt != 0 {
		v, n := binary.Varint(b)
		if n <= 0 || v == 0 {
			return o, false
		}
		o.ExpireAt, b = v, b[n:]
	}
	return o, len(b) == 0
}

// NewDel returns a DEL command for keys.
func NewDel(keys ...[]byte) *Command {
	return &Command{Op: OpDel, Args: append([][]byte(nil), keys...)}
}

// NewIncrBy returns an INCRBY command.
func NewIncrBy(key []byte, delta int64) *Command {
	return &Command{Op: OpIncrBy, Args: [][]byte{key, binary.AppendVarint(nil, delta)}}
}

// NewNoop returns a command that changes nothing.
func NewNoop() *Command {
	return &Command{Op: OpNoop}
}

// NodeMeta is the metadata of one cluster node, replicated through the log so
// every node can name every member's addresses.
type NodeMeta struct {
	ID       string
	RaftAddr string
	RESPAddr string
	RPCAddr  string
	HTTPAddr string
}

// NewSetNode returns a command that records (or replaces) m.
func NewSetNode(m NodeMeta) *Command {
	return &Command{Op: OpSetNode, Args: [][]byte{
		[]byte(m.ID), []byte(m.RaftAddr), []byte(m.RESPAddr), []byte(m.RPCAddr), []byte(m.HTTPAddr),
	}}
}

// NewRemoveNode returns a command that removes the metadata of node id.
func NewRemoveNode(id string) *Command {
	return &Command{Op: OpRemoveNode, Args: [][]byte{[]byte(id)}}
}

// argInt64 decodes a zigzag varint argument that must fill b exactly.
func argInt64(b []byte) (int64, bool) {
	v, n := binary.Varint(b)
	if n <= 0 || n != len(b) {
		return 0, false
	}
	return v, true
}

// addInt64 returns a+b and whether it did not overflow.
func addInt64(a, b int64) (int64, bool) {
	if (b > 0 && a > math.MaxInt64-b) || (b < 0 && a < math.MinInt64-b) {
		return 0, false
	}
	return a + b, true
}
