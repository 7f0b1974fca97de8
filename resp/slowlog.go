package resp

import (
	"fmt"
	"sync"
	"time"
)

// The slow log, as Redis keeps it: the commands that took longer than
// Config.SlowlogSlowerThan from dispatch to reply, newest first, at most
// Config.SlowlogMaxLen. Unlike Redis's, the time includes the wait for
// consensus (a write's Raft commit, a linearizable read's confirmation): it
// is the latency the client saw, less the network.

// Limits of one entry, as in Redis: at most 32 arguments (the last one then
// says how many more there were), each cut to 128 bytes.
const (
	slowlogMaxArgs   = 32
	slowlogMaxString = 128
)

type slowEntry struct {
	id   int64
	at   time.Time
	took time.Duration
	args [][]byte
	addr string
	name string
}

type slowLog struct {
	slowerThan time.Duration // negative: off
	maxLen     int

	mu      sync.Mutex
	entries []slowEntry // oldest first
	nextID  int64
}

func newSlowLog(slowerThan time.Duration, maxLen int) *slowLog {
	return &slowLog{slowerThan: slowerThan, maxLen: maxLen}
}

// observe records a command that took d, if it is slow. args are copied (as
// much as an entry keeps).
func (l *slowLog) observe(c *client, cmd *command, args [][]byte, d time.Duration) {
	if l.slowerThan < 0 || d < l.slowerThan || l.maxLen == 0 || cmd.flags&flagNoSlowlog != 0 {
		return
	}
	n := min(len(args), slowlogMaxArgs)
	e := slowEntry{at: time.Now(), took: d, args: make([][]byte, n), addr: c.info.addr}
	for i := range n {
		a := args[i]
		switch {
		case n < len(args) && i == n-1:
			e.args[i] = fmt.Appendf(nil, "... (%d more arguments)", len(args)-n+1)
		case len(a) > slowlogMaxString:
			e.args[i] = fmt.Appendf(append([]byte(nil), a[:slowlogMaxString]...), "... (%d more bytes)", len(a)-slowlogMaxString)
		default:
			e.args[i] = append([]byte(nil), a...)
		}
	}
	c.info.mu.Lock()
	e.name = c.name
	c.info.mu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	e.id = l.nextID
	l.nextID++
	if len(l.entries) == l.maxLen {
		copy(l.entries, l.entries[1:])
		l.entries = l.entries[:len(l.entries)-1]
	}
	l.entries = append(l.entries, e)
}

// newest returns up to n entries, newest first (n < 0: all).
func (l *slowLog) newest(n int) []slowEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n < 0 || n > len(l.entries) {
		n = len(l.entries)
	}
	out := make([]slowEntry, n)
	for i := range out {
		out[i] = l.entries[len(l.entries)-1-i]
	}
	return out
}

func (l *slowLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}

func (l *slowLog) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = nil
}

const errTextSlowlogCount = "ERR count should be greater than or equal to -1"

var slowlogHelp = []string{
	"SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
	"GET [<count>]",
	"    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
	"    Entries are made of:",
	"    id, timestamp, time in microseconds, arguments array, client IP and port,",
	"    client name",
	"LEN",
	"    Return the length of the slowlog.",
	"RESET",
	"    Reset the slowlog.",
	"HELP",
	"    Prints this help.",
}

func registerSlowlogCommands(t *table) {
	sub := newTable("slowlog")
	sub.register(&command{name: "get", arity: -2, flags: flagAdmin, handler: cmdSlowlogGet})
	sub.register(&command{name: "len", arity: 2, flags: flagAdmin, handler: cmdSlowlogLen})
	sub.register(&command{name: "reset", arity: 2, flags: flagAdmin, handler: cmdSlowlogReset})
	sub.register(&command{name: "help", arity: 2, handler: func(c *client, _ [][]byte) { writeHelp(c, slowlogHelp) }})
	t.register(&command{name: "slowlog", arity: -2, subs: sub})
}

// SLOWLOG GET [count]
func cmdSlowlogGet(c *client, args [][]byte) {
	if len(args) > 3 {
		c.conn.WriteError("ERR unknown subcommand or wrong number of arguments for '" + string(args[1]) + "'. Try SLOWLOG HELP.")
		return
	}
	n := int64(10)
	if len(args) == 3 {
		var ok bool
		if n, ok = parseInt(args[2]); !ok || n < -1 {
			c.conn.WriteError(errTextSlowlogCount)
			return
		}
	}
	entries := c.srv.slowlog.newest(int(min(n, 1<<30)))
	c.conn.WriteArray(len(entries))
	for _, e := range entries {
		c.conn.WriteArray(6)
		c.conn.WriteInt64(e.id)
		c.conn.WriteInt64(e.at.Unix())
		c.conn.WriteInt64(e.took.Microseconds())
		c.conn.WriteArray(len(e.args))
		for _, a := range e.args {
			c.conn.WriteBulk(a)
		}
		c.conn.WriteBulkString(e.addr)
		c.conn.WriteBulkString(e.name)
	}
}

func cmdSlowlogLen(c *client, _ [][]byte) { c.conn.WriteInt(c.srv.slowlog.len()) }

func cmdSlowlogReset(c *client, _ [][]byte) {
	c.srv.slowlog.reset()
	c.conn.WriteString("OK")
}
