package resp

import (
	"fmt"
	"strings"
)

// cmdFlags describe a command for COMMAND and for the dispatcher.
type cmdFlags uint8

// Command flags.
const (
	// flagWrite marks a command that proposes a change through the node.
	flagWrite cmdFlags = 1 << iota
	// flagRead marks a command that reads replicated data at the connection's
	// consistency level.
	flagRead
	// flagAdmin marks a cluster administration command.
	flagAdmin
	// flagFast marks a command that takes constant time.
	flagFast
	// flagNoQueue marks a command that runs at once inside MULTI instead of
	// being queued (MULTI, EXEC, DISCARD, WATCH, QUIT, RESET).
	flagNoQueue
	// flagNoMulti marks a command refused inside MULTI (it dooms the
	// transaction, like an unknown command).
	flagNoMulti
	// flagWriteReads marks a write whose handler may read at the
	// connection's level before it proposes (GETEX without options,
	// INCRBYFLOAT with a bad increment): the event loop does not plan it,
	// since such a read may wait.
	flagWriteReads
	// flagNoSlowlog keeps a command out of the slow log: EXEC, as in Redis,
	// and the commands that may carry a password (AUTH, HELLO).
	flagNoSlowlog
)

// names returns the flags as COMMAND reports them.
func (f cmdFlags) names() []string {
	var out []string
	if f&flagWrite != 0 {
		out = append(out, "write")
	}
	if f&flagRead != 0 {
		out = append(out, "readonly")
	}
	if f&flagAdmin != 0 {
		out = append(out, "admin")
	}
	if f&flagFast != 0 {
		out = append(out, "fast")
	}
	return out
}

// handlerFunc runs one command whose arity has been checked. args[0] is the
// command name as the client sent it.
type handlerFunc func(c *client, args [][]byte)

// command is one entry of the command table.
type command struct {
	// name is the lower-case name (for a subcommand, without its container).
	name string
	// fullName is name, or "container|sub" for a subcommand, as Redis's error
	// messages and COMMAND show it. register sets it.
	fullName string
	// arity follows Redis: N > 0 means exactly N arguments including the name,
	// -N means at least N.
	arity int
	// maxArgs, if > 0, is the most arguments the command accepts.
	maxArgs int
	flags   cmdFlags
	// firstKey, lastKey and keyStep locate the keys among the arguments, as
	// COMMAND reports them (lastKey -1 means the last argument).
	firstKey, lastKey, keyStep int
	handler                    handlerFunc

	subs     *table // subcommands of a container command, or nil
	arityErr string

	stats cmdStats // INFO commandstats
}

// arityOK reports whether n arguments (including the name) fit the arity.
func (c *command) arityOK(n int) bool {
	if c.arity > 0 && n != c.arity || c.arity < 0 && n < -c.arity {
		return false
	}
	return c.maxArgs == 0 || n <= c.maxArgs
}

// maxNameLen is the longest command name the table looks up; longer names are
// unknown without a lookup.
const maxNameLen = 32

// table maps lower-case command names to commands.
type table struct {
	container string // the container's name for subcommand tables, else ""
	m         map[string]*command
	order     []*command // registration order, for COMMAND
	// resets clear per-connection state on RESET; see onReset.
	resets []func(c *client)
}

func newTable(container string) *table {
	return &table{container: container, m: make(map[string]*command)}
}

// register adds c. It panics on a duplicate or malformed entry: the table is
// built once at start, so a mistake there is a programming error.
func (t *table) register(c *command) {
	name := c.name
	if t.container != "" {
		name = t.container + "|" + c.name
	}
	switch {
	case c.name == "" || len(c.name) > maxNameLen || strings.ToLower(c.name) != c.name || strings.Contains(c.name, "|"):
		panic(fmt.Sprintf("resp: bad command name %q", c.name))
	case c.arity == 0:
		panic(fmt.Sprintf("resp: command %q has arity 0", name))
	case c.handler == nil && c.subs == nil:
		panic(fmt.Sprintf("resp: command %q has no handler", name))
	case c.handler == nil && c.arity != -2:
		panic(fmt.Sprintf("resp: container %q without a handler of its own must have arity -2", name))
	case c.subs != nil && c.subs.container != c.name:
		panic(fmt.Sprintf("resp: subcommands of %q registered under %q", name, c.subs.container))
	}
	if _, dup := t.m[c.name]; dup {
		panic(fmt.Sprintf("resp: command %q registered twice", name))
	}
	c.fullName = name
	c.arityErr = arityError(name)
	t.m[c.name] = c
	t.order = append(t.order, c)
}

// arityError is Redis's error for a wrong number of arguments to the command
// name (for a subcommand, "container|sub").
func arityError(name string) string {
	return "ERR wrong number of arguments for '" + name + "' command"
}

// onReset registers fn to clear the per-connection state a group of commands
// keeps (MULTI/WATCH state, for example) when the client sends RESET. Hooks run
// in registration order after the connection's own state is cleared.
func (t *table) onReset(fn func(c *client)) {
	t.resets = append(t.resets, fn)
}

// lookup returns the command named name, compared case-insensitively, or nil.
// It does not allocate.
func (t *table) lookup(name []byte) *command {
	if len(name) > maxNameLen {
		return nil
	}
	var buf [maxNameLen]byte
	n := copy(buf[:], name)
	for i := range n {
		if b := buf[i]; 'A' <= b && b <= 'Z' {
			buf[i] = b + ('a' - 'A')
		}
	}
	return t.m[string(buf[:n])]
}

// unknownCommandText is Redis 7's reply to an unknown command: the name and the
// first arguments, each quoted and followed by a space, within a 128-byte
// budget.
func unknownCommandText(args [][]byte) string {
	b := make([]byte, 0, 96)
	b = append(b, "ERR unknown command '"...)
	b = append(b, truncate(args[0], 128)...)
	b = append(b, "', with args beginning with: "...)
	start := len(b)
	for _, a := range args[1:] {
		used := len(b) - start
		if used >= 128 {
			break
		}
		b = append(b, '\'')
		b = append(b, truncate(a, 128-used)...)
		b = append(b, '\'', ' ')
	}
	return string(b)
}

// unknownSubcommandText is Redis's reply to an unknown subcommand.
func unknownSubcommandText(container string, sub []byte) string {
	return "ERR unknown subcommand '" + string(truncate(sub, 128)) + "'. Try " + strings.ToUpper(container) + " HELP."
}

// truncate returns at most n bytes of b, stopping at a NUL byte as Redis's
// C formatting does.
func truncate(b []byte, n int) []byte {
	if len(b) > n {
		b = b[:n]
	}
	for i, c := range b {
		if c == 0 {
			return b[:i]
		}
	}
	return b
}
