package resp

// LATENCY and ACL answer as a Redis server with their defaults does: the
// latency monitor is off (latency-monitor-threshold 0), and the only user
// is "default", on, without a password, allowed everything. Riot has
// neither a latency monitor nor configurable users; monitoring tools and
// clients that ask get Redis's answers rather than unknown-command errors.

var latencyHelp = []string{
	"LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
	"DOCTOR",
	"    Return a human readable latency analysis report.",
	"GRAPH <event>",
	"    Return an ASCII latency graph for the <event> class.",
	"HISTORY <event>",
	"    Return time-latency samples for the <event> class.",
	"LATEST",
	"    Return the latest latency samples for all events.",
	"RESET [<event> ...]",
	"    Reset latency data of one or more <event> classes.",
	"    (default: reset all data for all event classes)",
	"HELP",
	"    Prints this help.",
}

// latencyDoctorOff is Redis's LATENCY DOCTOR report when the monitor is off.
const latencyDoctorOff = "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. " +
	"You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. " +
	"If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n"

func registerLatencyAndACLCommands(t *table) {
	lat := newTable("latency")
	lat.register(&command{name: "latest", arity: 2, flags: flagAdmin, handler: func(c *client, _ [][]byte) { c.conn.WriteArray(0) }})
	lat.register(&command{name: "history", arity: 3, flags: flagAdmin, handler: func(c *client, _ [][]byte) { c.conn.WriteArray(0) }})
	lat.register(&command{name: "reset", arity: -2, flags: flagAdmin, handler: func(c *client, _ [][]byte) { c.conn.WriteInt(0) }})
	lat.register(&command{name: "doctor", arity: 2, flags: flagAdmin, handler: func(c *client, _ [][]byte) { c.conn.WriteBulkString(latencyDoctorOff) }})
	lat.register(&command{name: "graph", arity: 3, flags: flagAdmin, handler: func(c *client, args [][]byte) {
		c.conn.WriteError("ERR No samples available for event '" + string(args[2]) + "'")
	}})
	lat.register(&command{name: "help", arity: 2, handler: func(c *client, _ [][]byte) { writeHelp(c, latencyHelp) }})
	t.register(&command{name: "latency", arity: -2, subs: lat})

	acl := newTable("acl")
	acl.register(&command{name: "whoami", arity: 2, handler: func(c *client, _ [][]byte) { c.conn.WriteBulkString("default") }})
	acl.register(&command{name: "users", arity: 2, flags: flagAdmin, handler: func(c *client, _ [][]byte) {
		c.conn.WriteArray(1)
		c.conn.WriteBulkString("default")
	}})
	acl.register(&command{name: "list", arity: 2, flags: flagAdmin, handler: func(c *client, _ [][]byte) {
		c.conn.WriteArray(1)
		c.conn.WriteBulkString("user default on nopass ~* &* +@all")
	}})
	t.register(&command{name: "acl", arity: -2, subs: acl})
}
