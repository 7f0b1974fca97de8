package resp

// newCommandTable builds the table of every command the server knows. Adding a
// command means writing its handler and registering it in one of the
// register* functions.
func newCommandTable() *table {
	t := newTable("")
	registerConnectionCommands(t)
	registerStringCommands(t)
	registerClusterCommands(t)
	registerServerCommands(t)
	return t
}

func registerServerCommands(t *table) {
	sub := newTable("command")
	sub.register(&command{name: "count", arity: 2, handler: cmdCommandCount})
	sub.register(&command{name: "docs", arity: -2, handler: cmdCommandDocs})
	sub.register(&command{name: "info", arity: -2, handler: cmdCommandInfo})
	sub.register(&command{name: "list", arity: 2, handler: cmdCommandList})
	sub.register(&command{name: "help", arity: 2, handler: cmdCommandHelp})
	t.register(&command{name: "command", arity: -1, subs: sub, handler: cmdCommand})
}

// COMMAND: every command's description.
func cmdCommand(c *client, _ [][]byte) {
	all := c.srv.cmds.order
	c.conn.WriteArray(len(all))
	for _, cmd := range all {
		writeCommandInfo(c, cmd)
	}
}

// COMMAND COUNT
func cmdCommandCount(c *client, _ [][]byte) {
	c.conn.WriteInt(len(c.srv.cmds.order))
}

// COMMAND DOCS [name ...]: no documentation is served; an empty reply is what
// Redis gives for names it has no docs for.
func cmdCommandDocs(c *client, _ [][]byte) {
	c.conn.WriteArray(0)
}

// COMMAND INFO [name ...]: the description of each named command, nil for
// unknown names; every command when no name is given.
func cmdCommandInfo(c *client, args [][]byte) {
	if len(args) == 2 {
		cmdCommand(c, args)
		return
	}
	c.conn.WriteArray(len(args) - 2)
	for _, name := range args[2:] {
		if cmd := c.srv.cmds.lookup(name); cmd != nil {
			writeCommandInfo(c, cmd)
		} else {
			c.conn.WriteNull()
		}
	}
}

// COMMAND LIST
func cmdCommandList(c *client, _ [][]byte) {
	all := c.srv.cmds.order
	c.conn.WriteArray(len(all))
	for _, cmd := range all {
		c.conn.WriteBulkString(cmd.name)
	}
}

var commandHelp = []string{
	"COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
	"(no subcommand)",
	"    Return details about all commands.",
	"COUNT",
	"    Return the total number of commands in this server.",
	"LIST",
	"    Return a list of all commands in this server.",
	"INFO [<command-name> ...]",
	"    Return details about multiple commands.",
	"    If no command names are given, documentation details for all",
	"    commands are returned.",
	"DOCS [<command-name> ...]",
	"    Return documentation details about multiple commands (none are served).",
	"HELP",
	"    Print this help.",
}

// COMMAND HELP
func cmdCommandHelp(c *client, _ [][]byte) { writeHelp(c, commandHelp) }

// writeCommandInfo writes one command's description in Redis 7's layout: name,
// arity, flags, first key, last key, key step, ACL categories, tips, key
// specifications and subcommands. Categories, tips and key specs are empty.
func writeCommandInfo(c *client, cmd *command) {
	c.conn.WriteArray(10)
	c.conn.WriteBulkString(cmd.fullName)
	c.conn.WriteInt(cmd.arity)
	flags := cmd.flags.names()
	c.conn.WriteArray(len(flags))
	for _, f := range flags {
		c.conn.WriteString(f)
	}
	c.conn.WriteInt(cmd.firstKey)
	c.conn.WriteInt(cmd.lastKey)
	c.conn.WriteInt(cmd.keyStep)
	c.conn.WriteArray(0)
	c.conn.WriteArray(0)
	c.conn.WriteArray(0)
	if cmd.subs == nil {
		c.conn.WriteArray(0)
		return
	}
	c.conn.WriteArray(len(cmd.subs.order))
	for _, s := range cmd.subs.order {
		writeCommandInfo(c, s)
	}
}
