package resp

import "runtime/debug"

// MEMORY USAGE and PURGE. Riot keeps values in its engine, not in objects
// of its own heap, so MEMORY USAGE is an estimate of what a key takes there:
// its key and value bytes plus memoryKeyOverhead. redis-cli --memkeys ranks
// keys by it.

// memoryKeyOverhead is the estimated per-key cost beyond the key and value
// bytes: the stored record's header, the engine's entry and index
// overhead, and the SCAN index entry.
const memoryKeyOverhead = 48

var memoryHelp = []string{
	"MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
	"PURGE",
	"    Return freed heap memory to the operating system.",
	"USAGE <key> [SAMPLES <count>]",
	"    Return an estimate of the bytes used by <key> and its value (SAMPLES is",
	"    accepted for compatibility; string values need no sampling).",
	"HELP",
	"    Prints this help.",
}

func registerMemoryCommands(t *table) {
	sub := newTable("memory")
	sub.register(&command{name: "usage", arity: -3, flags: flagRead, firstKey: 2, lastKey: 2, keyStep: 1, handler: cmdMemoryUsage})
	sub.register(&command{name: "purge", arity: 2, handler: cmdMemoryPurge})
	sub.register(&command{name: "help", arity: 2, handler: func(c *client, _ [][]byte) { writeHelp(c, memoryHelp) }})
	t.register(&command{name: "memory", arity: -2, subs: sub})
}

// MEMORY USAGE key [SAMPLES count]
func cmdMemoryUsage(c *client, args [][]byte) {
	answerMemoryUsage(c, args, c.stringReader(args[2]))
}

func answerMemoryUsage(c *client, args [][]byte, read stringRead) {
	for j := 3; j < len(args); j++ {
		if !equalFold(args[j], "samples") || j+1 >= len(args) {
			c.conn.WriteError(errTextSyntax)
			return
		}
		n, ok := parseInt(args[j+1])
		if !ok {
			c.conn.WriteError(errTextNotInteger)
			return
		}
		if n < 0 {
			c.conn.WriteError(errTextSyntax)
			return
		}
		j++
	}
	val, found, ok := read()
	switch {
	case !ok:
	case !found:
		c.conn.WriteNull()
	default:
		c.conn.WriteInt(len(args[2]) + len(val) + memoryKeyOverhead)
	}
}

// MEMORY PURGE
func cmdMemoryPurge(c *client, _ [][]byte) {
	debug.FreeOSMemory()
	c.conn.WriteString("OK")
}
