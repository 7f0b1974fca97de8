package resp

import (
	"strconv"
	"strings"
	"time"
)

// newCommandTable builds the table of every command the server knows. Adding a
// command means writing its handler and registering it in one of the
// register* functions.
func newCommandTable() *table {
	t := newTable("")
	registerConnectionCommands(t)
	registerStringCommands(t)
	registerKeyCommands(t)
	registerClusterCommands(t)
	registerServerCommands(t)
	registerSlowlogCommands(t)
	registerShutdownCommand(t)
	registerMemoryCommands(t)
	registerSaveCommands(t)
	registerFailoverCommand(t)
	registerLatencyAndACLCommands(t)
	registerTxCommands(t) // last: it sets the MULTI behaviour of the others
	return t
}

func registerServerCommands(t *table) {
	sub := newTable("command")
	sub.register(&command{name: "count", arity: 2, handler: cmdCommandCount})
	sub.register(&command{name: "docs", arity: -2, handler: cmdCommandDocs})
	sub.register(&command{name: "info", arity: -2, handler: cmdCommandInfo})
	sub.register(&command{name: "list", arity: -2, handler: cmdCommandList})
	sub.register(&command{name: "getkeys", arity: -4, handler: cmdCommandGetkeys})
	sub.register(&command{name: "help", arity: 2, handler: cmdCommandHelp})
	t.register(&command{name: "command", arity: -1, subs: sub, handler: cmdCommand})

	cfg := newTable("config")
	cfg.register(&command{name: "get", arity: -3, flags: flagAdmin, handler: cmdConfigGet})
	cfg.register(&command{name: "set", arity: -4, flags: flagAdmin, handler: cmdConfigSet})
	cfg.register(&command{name: "resetstat", arity: 2, flags: flagAdmin, handler: cmdConfigResetstat})
	cfg.register(&command{name: "help", arity: 2, handler: cmdConfigHelp})
	t.register(&command{name: "config", arity: -2, subs: cfg})

	t.register(&command{name: "info", arity: -1, handler: cmdInfo})
	t.register(&command{name: "role", arity: 1, flags: flagFast, handler: cmdRole})
	t.register(&command{name: "dbsize", arity: 1, flags: flagRead | flagFast, handler: cmdDBSize})
	t.register(&command{name: "time", arity: 1, flags: flagFast, handler: cmdTime})
}

// COMMAND: every command's description.
func cmdCommand(c *client, _ [][]byte) {
	all := c.srv.cmds.order
	c.conn.WriteArray(len(all))
	for _, cmd := range all {
		writeCommandInfo(c, cmd)
	}
}

// COMMAND COUNT: the number of top-level commands.
func cmdCommandCount(c *client, _ [][]byte) {
	c.conn.WriteInt(len(c.srv.cmds.order))
}

// COMMAND DOCS [name ...]: each named command's documentation (every
// command's without names), as a flat name/doc map; unknown names are left
// out, as Redis does.
func cmdCommandDocs(c *client, args [][]byte) {
	var cmds []*command
	if len(args) == 2 {
		cmds = c.srv.cmds.order
	} else {
		for _, name := range args[2:] {
			if cmd := c.srv.cmds.lookupFull(name); cmd != nil {
				cmds = append(cmds, cmd)
			}
		}
	}
	c.conn.WriteArray(2 * len(cmds))
	for _, cmd := range cmds {
		c.conn.WriteBulkString(cmd.fullName)
		writeCommandDocs(c, cmd)
	}
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
		if cmd := c.srv.cmds.lookupFull(name); cmd != nil {
			writeCommandInfo(c, cmd)
		} else {
			c.conn.WriteNull()
		}
	}
}

// COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern]:
// the names of every command and subcommand, optionally filtered.
func cmdCommandList(c *client, args [][]byte) {
	var keep func(cmd *command) bool
	switch {
	case len(args) == 2:
		keep = func(*command) bool { return true }
	case len(args) == 5 && equalFold(args[2], "filterby"):
		arg := string(args[4])
		switch {
		case equalFold(args[3], "module"):
			keep = func(*command) bool { return false } // no modules
		case equalFold(args[3], "aclcat"):
			keep = func(cmd *command) bool {
				for _, cat := range commandACL(cmd) {
					if strings.EqualFold(cat[1:], arg) {
						return true
					}
				}
				return false
			}
		case equalFold(args[3], "pattern"):
			keep = func(cmd *command) bool { return globMatch(arg, cmd.fullName, true) }
		default:
			c.conn.WriteError(errTextSyntax)
			return
		}
	default:
		c.conn.WriteError(errTextSyntax)
		return
	}
	var names []string
	for _, cmd := range c.srv.cmds.order {
		if keep(cmd) {
			names = append(names, cmd.fullName)
		}
		if cmd.subs != nil {
			for _, sub := range cmd.subs.order {
				if keep(sub) {
					names = append(names, sub.fullName)
				}
			}
		}
	}
	c.conn.WriteArray(len(names))
	for _, n := range names {
		c.conn.WriteBulkString(n)
	}
}

// COMMAND GETKEYS command [arg ...]: the key arguments of a full command.
func cmdCommandGetkeys(c *client, args [][]byte) {
	call := args[2:]
	cmd := c.srv.cmds.lookup(call[0])
	if cmd != nil && cmd.subs != nil && len(call) > 1 {
		cmd = cmd.subs.lookup(call[1])
	}
	switch {
	case cmd == nil:
		c.conn.WriteError("ERR Invalid command specified")
		return
	case !cmd.arityOK(len(call)):
		c.conn.WriteError("ERR Invalid number of arguments specified for command")
		return
	case cmd.firstKey <= 0:
		c.conn.WriteError("ERR The command has no key arguments")
		return
	}
	last := cmd.lastKey
	if last < 0 {
		last += len(call)
	}
	step := max(cmd.keyStep, 1)
	var keys [][]byte
	for i := cmd.firstKey; i <= last && i < len(call); i += step {
		keys = append(keys, call[i])
	}
	c.conn.WriteArray(len(keys))
	for _, k := range keys {
		c.conn.WriteBulk(k)
	}
}

var commandHelp = []string{
	"COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
	"(no subcommand)",
	"    Return details about all Redis commands.",
	"COUNT",
	"    Return the total number of commands in this Redis server.",
	"LIST",
	"    Return a list of all commands in this Redis server.",
	"INFO [<command-name> ...]",
	"    Return details about multiple Redis commands.",
	"    If no command names are given, documentation details for all",
	"    commands are returned.",
	"DOCS [<command-name> ...]",
	"    Return documentation details about multiple Redis commands.",
	"    If no command names are given, documentation details for all",
	"    commands are returned.",
	"GETKEYS <full-command>",
	"    Return the keys from a full Redis command.",
	"HELP",
	"    Prints this help.",
}

// COMMAND HELP
func cmdCommandHelp(c *client, _ [][]byte) { writeHelp(c, commandHelp) }

// lookupFull returns the command named name, or the subcommand for a
// "container|sub" name, as COMMAND INFO and COMMAND DOCS accept them.
func (t *table) lookupFull(name []byte) *command {
	container, sub, ok := strings.Cut(string(name), "|")
	if !ok {
		return t.lookup(name)
	}
	cmd := t.lookup([]byte(container))
	if cmd == nil || cmd.subs == nil {
		return nil
	}
	return cmd.subs.lookup([]byte(sub))
}

// writeCommandInfo writes one command's description in Redis 7's layout:
// name, arity, flags, first key, last key, key step, ACL categories, tips,
// key specifications and subcommands. Commands that Redis has are described
// as Redis describes them (commandMeta); Riot's own are derived from the
// table's flags and key positions.
func writeCommandInfo(c *client, cmd *command) {
	meta := commandMeta[cmd.fullName]
	c.conn.WriteArray(10)
	c.conn.WriteBulkString(cmd.fullName)
	c.conn.WriteInt(cmd.arity)
	flags := cmd.flags.names()
	if meta.acl != "" {
		flags = strings.Fields(meta.flags)
	}
	c.conn.WriteArray(len(flags))
	for _, f := range flags {
		c.conn.WriteString(f)
	}
	c.conn.WriteInt(cmd.firstKey)
	c.conn.WriteInt(cmd.lastKey)
	c.conn.WriteInt(cmd.keyStep)
	acl := commandACL(cmd)
	c.conn.WriteArray(len(acl))
	for _, a := range acl {
		c.conn.WriteString(a)
	}
	tips := strings.Fields(meta.tips)
	c.conn.WriteArray(len(tips))
	for _, tip := range tips {
		c.conn.WriteBulkString(tip)
	}
	writeKeySpecs(c, cmd, meta)
	if cmd.subs == nil {
		c.conn.WriteArray(0)
		return
	}
	c.conn.WriteArray(len(cmd.subs.order))
	for _, s := range cmd.subs.order {
		writeCommandInfo(c, s)
	}
}

// commandACL returns the command's ACL categories, with their '@'. Without
// Redis's own list they follow Redis's implicit rules: @write, @read, @admin
// and @dangerous from the flags, and @fast or @slow.
func commandACL(cmd *command) []string {
	if meta, ok := commandMeta[cmd.fullName]; ok && meta.acl != "" {
		return strings.Fields(meta.acl)
	}
	var out []string
	if cmd.flags&flagRead != 0 {
		out = append(out, "@read")
	}
	if cmd.flags&flagWrite != 0 {
		out = append(out, "@write")
	}
	if cmd.flags&flagAdmin != 0 {
		out = append(out, "@admin")
	}
	if cmd.flags&flagFast != 0 {
		out = append(out, "@fast")
	} else {
		out = append(out, "@slow")
	}
	if cmd.flags&flagAdmin != 0 {
		out = append(out, "@dangerous")
	}
	return out
}

// writeKeySpecs writes the key specifications: one range spec over the
// table's key positions, or none for a command without keys.
func writeKeySpecs(c *client, cmd *command, meta cmdMeta) {
	if cmd.firstKey <= 0 {
		c.conn.WriteArray(0)
		return
	}
	flags := strings.Fields(meta.keyFlags)
	if meta.keyFlags == "" {
		switch {
		case cmd.flags&flagWrite != 0:
			flags = []string{"RW", "update"}
		default:
			flags = []string{"RO", "access"}
		}
	}
	lastKey := cmd.lastKey // relative to the first key, negative from the end
	if lastKey >= 0 {
		lastKey -= cmd.firstKey
	}
	c.conn.WriteArray(1)
	n := 6
	if meta.keyNotes != "" {
		n += 2
	}
	c.conn.WriteArray(n)
	if meta.keyNotes != "" {
		c.conn.WriteBulkString("notes")
		c.conn.WriteBulkString(meta.keyNotes)
	}
	c.conn.WriteBulkString("flags")
	c.conn.WriteArray(len(flags))
	for _, f := range flags {
		c.conn.WriteString(f)
	}
	c.conn.WriteBulkString("begin_search")
	c.conn.WriteArray(4)
	c.conn.WriteBulkString("type")
	c.conn.WriteBulkString("index")
	c.conn.WriteBulkString("spec")
	c.conn.WriteArray(2)
	c.conn.WriteBulkString("index")
	c.conn.WriteInt(cmd.firstKey)
	c.conn.WriteBulkString("find_keys")
	c.conn.WriteArray(4)
	c.conn.WriteBulkString("type")
	c.conn.WriteBulkString("range")
	c.conn.WriteBulkString("spec")
	c.conn.WriteArray(6)
	c.conn.WriteBulkString("lastkey")
	c.conn.WriteInt(lastKey)
	c.conn.WriteBulkString("keystep")
	c.conn.WriteInt(max(cmd.keyStep, 1))
	c.conn.WriteBulkString("limit")
	c.conn.WriteInt(0)
}

// writeCommandDocs writes one command's documentation map (flattened, as in
// RESP2): summary, since, group and complexity where known, and the
// subcommands' documentation. Argument descriptions are not served.
func writeCommandDocs(c *client, cmd *command) {
	meta := commandMeta[cmd.fullName]
	group := meta.group
	if group == "" {
		group = "generic"
	}
	fields := []string{"summary", meta.summary, "since", meta.since, "group", group, "complexity", meta.complexity}
	n := 0
	for i := 0; i < len(fields); i += 2 {
		if fields[i+1] != "" {
			n += 2
		}
	}
	if cmd.subs != nil {
		n += 2
	}
	c.conn.WriteArray(n)
	for i := 0; i < len(fields); i += 2 {
		if fields[i+1] != "" {
			c.conn.WriteBulkString(fields[i])
			c.conn.WriteBulkString(fields[i+1])
		}
	}
	if cmd.subs != nil {
		c.conn.WriteBulkString("subcommands")
		c.conn.WriteArray(2 * len(cmd.subs.order))
		for _, s := range cmd.subs.order {
			c.conn.WriteBulkString(s.fullName)
			writeCommandDocs(c, s)
		}
	}
}

// configParam is one parameter CONFIG GET reports. Riot's configuration is
// fixed at start (flags and config file), so the values describe how the
// server behaves rather than knobs to turn.
type configParam struct {
	name, alias string
	value       func(s *Server) string
}

func fixed(v string) func(*Server) string { return func(*Server) string { return v } }

// configParams are the parameters clients and tools commonly probe.
var configParams = []configParam{
	// Every write is in the fsynced Raft log before it is acknowledged: the
	// equivalent of an append-only file with fsync always; there are no RDB
	// snapshots to schedule.
	{name: "appendonly", value: fixed("yes")},
	{name: "appendfsync", value: fixed("always")},
	{name: "save", value: fixed("")},
	{name: "bind", value: func(s *Server) string { h, _ := s.listenHostPort(); return h }},
	{name: "port", value: func(s *Server) string { _, p := s.listenHostPort(); return p }},
	{name: "databases", value: fixed("1")},
	{name: "maxclients", value: func(s *Server) string { return strconv.Itoa(s.cfg.MaxClients) }},
	{name: "maxmemory", value: fixed("0")},
	{name: "maxmemory-policy", value: fixed("noeviction")},
	{name: "proto-max-bulk-len", value: func(s *Server) string { return strconv.FormatInt(s.cfg.MaxValueSize, 10) }},
	{name: "slowlog-log-slower-than", value: func(s *Server) string {
		if s.cfg.SlowlogSlowerThan < 0 {
			return "-1"
		}
		return strconv.FormatInt(s.cfg.SlowlogSlowerThan.Microseconds(), 10)
	}},
	{name: "slowlog-max-len", value: func(s *Server) string { return strconv.Itoa(max(s.cfg.SlowlogMaxLen, 0)) }},
	{name: "latency-monitor-threshold", value: fixed("0")},
	{name: "timeout", value: fixed("0")},
	// Go's listener turns on TCP keep-alive probes every 15 seconds.
	{name: "tcp-keepalive", value: fixed("15")},
	{name: "cluster-enabled", value: fixed("no")},
	// Followers accept writes and relay them to the leader.
	{name: "replica-read-only", alias: "slave-read-only", value: fixed("no")},
	{name: "requirepass", value: fixed("")},
	{name: "notify-keyspace-events", value: fixed("")},
	{name: "read-consistency", value: func(s *Server) string { return s.node.DefaultConsistency().String() }},
}

// CONFIG GET pattern [pattern ...]: the parameters whose name (or alias)
// matches one of the glob patterns, case-insensitively, as name/value pairs.
// A pattern without glob characters is looked up directly and answered under
// the name as given, as Redis does.
func cmdConfigGet(c *client, args [][]byte) {
	var out []string
	seen := make(map[string]bool)
	add := func(name string, p *configParam) {
		if key := strings.ToLower(name); !seen[key] {
			seen[key] = true
			out = append(out, name, p.value(c.srv))
		}
	}
	for _, arg := range args[2:] {
		pat := string(arg)
		if !strings.ContainsAny(pat, "[*?") {
			if p := lookupConfigParam(pat); p != nil {
				add(pat, p)
			}
			continue
		}
		for i := range configParams {
			p := &configParams[i]
			for _, name := range []string{p.name, p.alias} {
				if name != "" && globMatch(pat, name, true) {
					add(name, p)
				}
			}
		}
	}
	c.conn.WriteArray(len(out))
	for _, s := range out {
		c.conn.WriteBulkString(s)
	}
}

// lookupConfigParam returns the parameter named name or aliased so,
// compared case-insensitively, or nil.
func lookupConfigParam(name string) *configParam {
	for i := range configParams {
		p := &configParams[i]
		if strings.EqualFold(name, p.name) || p.alias != "" && strings.EqualFold(name, p.alias) {
			return p
		}
	}
	return nil
}

// CONFIG SET parameter value [parameter value ...]: refused. Riot's
// configuration comes from flags or the config file at start.
func cmdConfigSet(c *client, args [][]byte) {
	if len(args)%2 != 0 {
		c.conn.WriteError(errTextSyntax)
		return
	}
	name := string(truncate(args[2], 128))
	if lookupConfigParam(name) == nil {
		c.conn.WriteError("ERR Unknown option or number of arguments for CONFIG SET - '" + name + "'")
		return
	}
	c.conn.WriteError(errTextConfigSet)
}

// errTextConfigSet answers CONFIG SET of a parameter Riot reports.
const errTextConfigSet = "ERR CONFIG SET is not supported: Riot's configuration is fixed when the node starts (command-line flags or the --config file)"

// CONFIG RESETSTAT: reset the counters INFO reports.
func cmdConfigResetstat(c *client, _ [][]byte) {
	c.srv.stats.reset()
	c.srv.resetCommandStats()
	c.conn.WriteString("OK")
}

var configHelp = []string{
	"CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
	"GET <pattern>",
	"    Return parameters matching the glob-like <pattern> and their values.",
	"SET <directive> <value>",
	"    Not supported: the configuration is set by flags or the config file.",
	"RESETSTAT",
	"    Reset statistics reported by the INFO command.",
	"HELP",
	"    Prints this help.",
}

// CONFIG HELP
func cmdConfigHelp(c *client, _ [][]byte) { writeHelp(c, configHelp) }

// TIME: the server's clock as [unix seconds, microseconds], bulk strings.
func cmdTime(c *client, _ [][]byte) {
	now := time.Now()
	var buf [20]byte
	c.conn.WriteArray(2)
	c.conn.WriteBulk(strconv.AppendInt(buf[:0], now.Unix(), 10))
	c.conn.WriteBulk(strconv.AppendInt(buf[:0], int64(now.Nanosecond()/1000), 10))
}

// globMatch reports whether s matches the glob pattern as Redis's
// stringmatch does: '*' any run, '?' one byte, "[abc]", "[^a-z]" classes,
// '\' escapes the next byte. nocase compares ASCII letters case-insensitively.
func globMatch(pattern, s string, nocase bool) bool {
	eq := func(a, b byte) bool {
		if nocase {
			return lowerByte(a) == lowerByte(b)
		}
		return a == b
	}
	// Backtracking over the latest '*': on a mismatch, let that star absorb
	// one more byte and try again.
	var px, sx int
	starP, starS := -1, 0
	for sx < len(s) {
		if px < len(pattern) {
			switch pattern[px] {
			case '*':
				for px < len(pattern) && pattern[px] == '*' {
					px++
				}
				if px == len(pattern) {
					return true
				}
				starP, starS = px, sx
				continue
			case '?':
				px++
				sx++
				continue
			case '[':
				if ok, next := matchClass(pattern, px, s[sx], nocase); ok {
					px, sx = next, sx+1
					continue
				}
			case '\\':
				// A trailing backslash stands for itself.
				lit, n := byte('\\'), 1
				if px+1 < len(pattern) {
					lit, n = pattern[px+1], 2
				}
				if eq(lit, s[sx]) {
					px, sx = px+n, sx+1
					continue
				}
			default:
				if eq(pattern[px], s[sx]) {
					px++
					sx++
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		starS++
		px, sx = starP, starS
	}
	for px < len(pattern) && pattern[px] == '*' {
		px++
	}
	return px == len(pattern)
}

// matchClass matches b against the class that starts at pattern[open] ('[').
// It returns whether b is in the class and the index after the class. An
// unterminated class extends to the end of the pattern.
func matchClass(pattern string, open int, b byte, nocase bool) (bool, int) {
	if nocase {
		b = lowerByte(b)
	}
	fold := func(x byte) byte {
		if nocase {
			return lowerByte(x)
		}
		return x
	}
	i := open + 1
	negate := i < len(pattern) && pattern[i] == '^'
	if negate {
		i++
	}
	match := false
	for i < len(pattern) && pattern[i] != ']' {
		switch {
		case pattern[i] == '\\' && i+1 < len(pattern):
			match = match || fold(pattern[i+1]) == b
			i += 2
		case i+2 < len(pattern) && pattern[i+1] == '-':
			lo, hi := fold(pattern[i]), fold(pattern[i+2])
			if lo > hi {
				lo, hi = hi, lo
			}
			match = match || lo <= b && b <= hi
			i += 3
		default:
			match = match || fold(pattern[i]) == b
			i++
		}
	}
	if i < len(pattern) {
		i++ // the closing ']'
	}
	return match != negate, i
}

func lowerByte(b byte) byte {
	if 'A' <= b && b <= 'Z' {
		return b + ('a' - 'A')
	}
	return b
}

// cmdMeta is how Redis 7 describes a command in COMMAND INFO and COMMAND
// DOCS. For a command Redis has, the entry copies Redis's description so
// clients that inspect commands see what they would see on Redis; for Riot's
// own commands only the documentation fields are set and the rest is derived
// from the table. An entry with an empty acl derives flags, categories and
// key specs.
type cmdMeta struct {
	flags, acl, tips   string // space-separated, as COMMAND INFO lists them
	keyFlags, keyNotes string // the key spec's flags and notes
	summary, since     string
	group, complexity  string
}

// commandMeta is keyed by full name ("client|list").
var commandMeta = map[string]cmdMeta{
	// Connection.
	"ping":           {flags: "fast", acl: "@fast @connection", tips: "request_policy:all_shards response_policy:all_succeeded", summary: "Ping the server", since: "1.0.0", group: "connection", complexity: "O(1)"},
	"echo":           {flags: "loading stale fast", acl: "@fast @connection", summary: "Echo the given string", since: "1.0.0", group: "connection", complexity: "O(1)"},
	"quit":           {flags: "noscript loading stale fast no_auth allow_busy", acl: "@fast @connection", summary: "Close the connection", since: "1.0.0", group: "connection", complexity: "O(1)"},
	"select":         {flags: "loading stale fast", acl: "@fast @connection", summary: "Change the selected database for the current connection", since: "1.0.0", group: "connection", complexity: "O(1)"},
	"hello":          {flags: "noscript loading stale fast no_auth allow_busy", acl: "@fast @connection", summary: "Handshake with Redis", since: "6.0.0", group: "connection", complexity: "O(1)"},
	"auth":           {flags: "noscript loading stale fast no_auth allow_busy", acl: "@fast @connection", summary: "Authenticate to the server", since: "1.0.0", group: "connection", complexity: "O(N) where N is the number of passwords defined for the user"},
	"reset":          {flags: "noscript loading stale fast no_auth allow_busy", acl: "@fast @connection", summary: "Reset the connection", since: "6.2.0", group: "connection", complexity: "O(1)"},
	"client":         {acl: "@slow", summary: "A container for client connection commands", since: "2.4.0", group: "connection", complexity: "Depends on subcommand."},
	"client|id":      {flags: "noscript loading stale", acl: "@slow @connection", summary: "Returns the client ID for the current connection", since: "5.0.0", group: "connection", complexity: "O(1)"},
	"client|getname": {flags: "noscript loading stale", acl: "@slow @connection", summary: "Get the current connection name", since: "2.6.9", group: "connection", complexity: "O(1)"},
	"client|setname": {flags: "noscript loading stale", acl: "@slow @connection", summary: "Set the current connection name", since: "2.6.9", group: "connection", complexity: "O(1)"},
	"client|setinfo": {flags: "noscript loading stale", acl: "@slow @connection", summary: "Set client or connection specific info", since: "7.2.0", group: "connection", complexity: "O(1)"},
	"client|info":    {flags: "noscript loading stale", acl: "@slow @connection", tips: "nondeterministic_output", summary: "Returns information about the current client connection.", since: "6.2.0", group: "connection", complexity: "O(1)"},
	"client|list":    {flags: "admin noscript loading stale", acl: "@admin @slow @dangerous @connection", tips: "nondeterministic_output", summary: "Get the list of client connections", since: "2.4.0", group: "connection", complexity: "O(N) where N is the number of client connections"},
	"client|help":    {flags: "loading stale", acl: "@slow @connection", summary: "Show helpful text about the different subcommands", since: "5.0.0", group: "connection", complexity: "O(1)"},

	// Server.
	"command":          {flags: "loading stale", acl: "@slow @connection", tips: "nondeterministic_output_order", summary: "Get array of Redis command details", since: "2.8.13", group: "server", complexity: "O(N) where N is the total number of Redis commands"},
	"command|count":    {flags: "loading stale", acl: "@slow @connection", summary: "Get total number of Redis commands", since: "2.8.13", group: "server", complexity: "O(1)"},
	"command|docs":     {flags: "loading stale", acl: "@slow @connection", tips: "nondeterministic_output_order", summary: "Get array of specific Redis command documentation", since: "7.0.0", group: "server", complexity: "O(N) where N is the number of commands to look up"},
	"command|info":     {flags: "loading stale", acl: "@slow @connection", tips: "nondeterministic_output_order", summary: "Get array of specific Redis command details, or all when no argument is given.", since: "2.8.13", group: "server", complexity: "O(N) where N is the number of commands to look up"},
	"command|list":     {flags: "loading stale", acl: "@slow @connection", tips: "nondeterministic_output_order", summary: "Get an array of Redis command names", since: "7.0.0", group: "server", complexity: "O(N) where N is the total number of Redis commands"},
	"command|getkeys":  {flags: "loading stale", acl: "@slow @connection", summary: "Extract keys given a full Redis command", since: "2.8.13", group: "server", complexity: "O(N) where N is the number of arguments to the command"},
	"command|help":     {flags: "loading stale", acl: "@slow @connection", summary: "Show helpful text about the different subcommands", since: "5.0.0", group: "server", complexity: "O(1)"},
	"config":           {acl: "@slow", summary: "A container for server configuration commands", since: "2.0.0", group: "server", complexity: "Depends on subcommand."},
	"config|get":       {flags: "admin noscript loading stale", acl: "@admin @slow @dangerous", summary: "Get the values of configuration parameters", since: "2.0.0", group: "server", complexity: "O(N) when N is the number of configuration parameters provided"},
	"config|set":       {flags: "admin noscript loading stale", acl: "@admin @slow @dangerous", tips: "request_policy:all_nodes response_policy:all_succeeded", summary: "Set configuration parameters to the given values", since: "2.0.0", group: "server", complexity: "O(N) when N is the number of configuration parameters provided"},
	"config|resetstat": {flags: "admin noscript loading stale", acl: "@admin @slow @dangerous", summary: "Reset the stats returned by INFO", since: "2.0.0", group: "server", complexity: "O(1)"},
	"config|help":      {flags: "loading stale", acl: "@slow", summary: "Show helpful text about the different subcommands", since: "5.0.0", group: "server", complexity: "O(1)"},
	"info":             {flags: "loading stale", acl: "@slow @dangerous", tips: "nondeterministic_output request_policy:all_shards response_policy:special", summary: "Get information and statistics about the server", since: "1.0.0", group: "server", complexity: "O(1)"},
	"role":             {flags: "noscript loading stale fast", acl: "@admin @fast @dangerous", summary: "Return the role of the instance in the context of replication", since: "2.8.12", group: "server", complexity: "O(1)"},
	"dbsize":           {flags: "readonly fast", acl: "@keyspace @read @fast", tips: "request_policy:all_shards response_policy:agg_sum", summary: "Return the number of keys in the selected database", since: "1.0.0", group: "server", complexity: "O(1)"},
	"time":             {flags: "loading stale fast", acl: "@fast", tips: "nondeterministic_output", summary: "Return the current server time", since: "2.6.0", group: "server", complexity: "O(1)"},

	// Strings and keys.
	"get":    {flags: "readonly fast", acl: "@read @string @fast", keyFlags: "RO access", summary: "Get the value of a key", since: "1.0.0", group: "string", complexity: "O(1)"},
	"set":    {flags: "write denyoom", acl: "@write @string @slow", keyFlags: "RW access update variable_flags", keyNotes: "RW and ACCESS due to the optional `GET` argument", summary: "Set the string value of a key", since: "1.0.0", group: "string", complexity: "O(1)"},
	"incr":   {flags: "write denyoom fast", acl: "@write @string @fast", keyFlags: "RW access update", summary: "Increment the integer value of a key by one", since: "1.0.0", group: "string", complexity: "O(1)"},
	"decr":   {flags: "write denyoom fast", acl: "@write @string @fast", keyFlags: "RW access update", summary: "Decrement the integer value of a key by one", since: "1.0.0", group: "string", complexity: "O(1)"},
	"incrby": {flags: "write denyoom fast", acl: "@write @string @fast", keyFlags: "RW access update", summary: "Increment the integer value of a key by the given amount", since: "1.0.0", group: "string", complexity: "O(1)"},
	"decrby": {flags: "write denyoom fast", acl: "@write @string @fast", keyFlags: "RW access update", summary: "Decrement the integer value of a key by the given number", since: "1.0.0", group: "string", complexity: "O(1)"},
	"exists": {flags: "readonly fast", acl: "@keyspace @read @fast", tips: "request_policy:multi_shard response_policy:agg_sum", keyFlags: "RO", summary: "Determine if a key exists", since: "1.0.0", group: "generic", complexity: "O(N) where N is the number of keys to check."},
	"del": {flags: "write", acl: "@keyspace @write @slow", tips: "request_policy:multi_shard response_policy:agg_sum", keyFlags: "RM delete", summary: "Delete a key", since: "1.0.0", group: "generic",
		complexity: "O(N) where N is the number of keys that will be removed. When a key to remove holds a value other than a string, the individual complexity for this key is O(M) where M is the number of elements in the list, set, sorted set or hash. Removing a single key that holds a string value is O(1)."},

	// Transactions.
	"multi":   {flags: "noscript loading stale fast allow_busy", acl: "@fast @transaction", summary: "Mark the start of a transaction block", since: "1.2.0", group: "transactions", complexity: "O(1)"},
	"exec":    {flags: "noscript loading stale skip_slowlog", acl: "@slow @transaction", summary: "Execute all commands issued after MULTI", since: "1.2.0", group: "transactions", complexity: "Depends on commands in the transaction"},
	"discard": {flags: "noscript loading stale fast allow_busy", acl: "@fast @transaction", summary: "Discard all commands issued after MULTI", since: "2.0.0", group: "transactions", complexity: "O(N), when N is the number of queued commands"},
	"watch":   {flags: "noscript loading stale fast allow_busy", acl: "@fast @transaction", keyFlags: "RO", summary: "Watch the given keys to determine execution of the MULTI/EXEC block", since: "2.2.0", group: "transactions", complexity: "O(1) for every key."},
	"unwatch": {flags: "noscript loading stale fast allow_busy", acl: "@fast @transaction", summary: "Forget about all watched keys", since: "2.2.0", group: "transactions", complexity: "O(1)"},

	// Cluster. READONLY and READWRITE are Redis Cluster's; the CLUSTER
	// subcommands are Riot's own.
	"readonly":         {flags: "loading stale fast", acl: "@fast @connection", summary: "Enables read queries for a connection to a cluster replica node", since: "3.0.0", group: "cluster", complexity: "O(1)"},
	"readwrite":        {flags: "loading stale fast", acl: "@fast @connection", summary: "Disables read queries for a connection to a cluster replica node", since: "3.0.0", group: "cluster", complexity: "O(1)"},
	"cluster":          {acl: "@slow", summary: "A container for cluster commands", since: "3.0.0", group: "cluster", complexity: "Depends on subcommand."},
	"cluster|join":     {summary: "Add a node to the Riot cluster, or update its addresses", group: "cluster", complexity: "O(N) where N is the number of members"},
	"cluster|remove":   {summary: "Remove a node from the Riot cluster", group: "cluster", complexity: "O(N) where N is the number of members"},
	"cluster|transfer": {summary: "Hand Raft leadership to another node", group: "cluster", complexity: "O(1)"},
	"cluster|peers":    {summary: "List every member with its addresses, suffrage and role", group: "cluster", complexity: "O(N) where N is the number of members"},
	"cluster|leader":   {summary: "Return the leader's id and addresses", group: "cluster", complexity: "O(1)"},
	"cluster|role":     {summary: "Return this node's Raft role", group: "cluster", complexity: "O(1)"},
	"cluster|help":     {summary: "Show helpful text about the different subcommands", group: "cluster", complexity: "O(1)"},
	// String, bitmap and keyspace commands, as Redis 7.0 describes them (the
	// key specs of BITOP, COPY, RENAME and RENAMENX, two in Redis, are derived:
	// Riot lists one range spec per command).
	"append":          {flags: "write denyoom fast", acl: "@write @string @fast", keyFlags: "RW insert", summary: "Append a value to a key", since: "2.0.0", group: "string", complexity: "O(1). The amortized time complexity is O(1) assuming the appended value is small and the already present value is of any size, since the dynamic string library used by Redis will double the free space available on every reallocation."},
	"bitcount":        {flags: "readonly", acl: "@read @bitmap @slow", keyFlags: "RO access", summary: "Count set bits in a string", since: "2.6.0", group: "bitmap", complexity: "O(N)"},
	"bitfield":        {flags: "write denyoom", acl: "@write @bitmap @slow", keyFlags: "RW access update variable_flags", keyNotes: "This command allows both access and modification of the key", summary: "Perform arbitrary bitfield integer operations on strings", since: "3.2.0", group: "bitmap", complexity: "O(1) for each subcommand specified"},
	"bitfield_ro":     {flags: "readonly fast", acl: "@read @bitmap @fast", keyFlags: "RO access", summary: "Perform arbitrary bitfield integer operations on strings. Read-only variant of BITFIELD", since: "6.0.0", group: "bitmap", complexity: "O(1) for each subcommand specified"},
	"bitop":           {flags: "write denyoom", acl: "@write @bitmap @slow", summary: "Perform bitwise operations between strings", since: "2.6.0", group: "bitmap", complexity: "O(N)"},
	"bitpos":          {flags: "readonly", acl: "@read @bitmap @slow", keyFlags: "RO access", summary: "Find first bit set or clear in a string", since: "2.8.7", group: "bitmap", complexity: "O(N)"},
	"dump":            {flags: "readonly", acl: "@keyspace @read @slow", tips: "nondeterministic_output", keyFlags: "RO access", summary: "Return a serialized version of the value stored at the specified key.", since: "2.6.0", group: "generic", complexity: "O(1) to access the key and additional O(N*M) to serialize it, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1)."},
	"restore":         {flags: "write denyoom", acl: "@keyspace @write @slow @dangerous", keyFlags: "OW update", summary: "Create a key using the provided serialized value, previously obtained using DUMP.", since: "2.6.0", group: "generic", complexity: "O(1) to create the new key and additional O(N*M) to reconstruct the serialized value, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1). However for sorted set values the complexity is O(N*M*log(N)) because inserting values into sorted sets is O(log(N))."},
	"slowlog":         {flags: "", acl: "@slow", summary: "A container for slow log commands", since: "2.2.12", group: "server", complexity: "Depends on subcommand."},
	"slowlog|get":     {flags: "admin loading stale", acl: "@admin @slow @dangerous", tips: "request_policy:all_nodes nondeterministic_output", summary: "Get the slow log's entries", since: "2.2.12", group: "server", complexity: "O(N) where N is the number of entries returned"},
	"slowlog|len":     {flags: "admin loading stale", acl: "@admin @slow @dangerous", tips: "request_policy:all_nodes response_policy:agg_sum nondeterministic_output", summary: "Get the slow log's length", since: "2.2.12", group: "server", complexity: "O(1)"},
	"slowlog|reset":   {flags: "admin loading stale", acl: "@admin @slow @dangerous", tips: "request_policy:all_nodes response_policy:all_succeeded", summary: "Clear all entries from the slow log", since: "2.2.12", group: "server", complexity: "O(N) where N is the number of entries in the slowlog"},
	"slowlog|help":    {flags: "loading stale", acl: "@slow", summary: "Show helpful text about the different subcommands", since: "6.2.0", group: "server", complexity: "O(1)"},
	"shutdown":        {flags: "admin noscript loading stale no_multi allow_busy", acl: "@admin @slow @dangerous", summary: "Synchronously save the dataset to disk and then shut down the server", since: "1.0.0", group: "server", complexity: "O(N) when saving, where N is the total number of keys in all databases when saving data, otherwise O(1)"},
	"memory":          {flags: "", acl: "@slow", summary: "A container for memory diagnostics commands", since: "4.0.0", group: "server", complexity: "Depends on subcommand."},
	"memory|usage":    {flags: "readonly", acl: "@read @slow", keyFlags: "RO", summary: "Estimate the memory usage of a key", since: "4.0.0", group: "server", complexity: "O(N) where N is the number of samples."},
	"memory|purge":    {flags: "", acl: "@slow", tips: "request_policy:all_shards response_policy:all_succeeded", summary: "Ask the allocator to release memory", since: "4.0.0", group: "server", complexity: "Depends on how much memory is allocated, could be slow"},
	"memory|help":     {flags: "loading stale", acl: "@slow", summary: "Show helpful text about the different subcommands", since: "4.0.0", group: "server", complexity: "O(1)"},
	"save":            {flags: "admin noscript no_async_loading no_multi", acl: "@admin @slow @dangerous", summary: "Synchronously save the dataset to disk", since: "1.0.0", group: "server", complexity: "O(N) where N is the total number of keys in all databases"},
	"bgsave":          {flags: "admin noscript no_async_loading", acl: "@admin @slow @dangerous", summary: "Asynchronously save the dataset to disk", since: "1.0.0", group: "server", complexity: "O(1)"},
	"lastsave":        {flags: "loading stale fast", acl: "@admin @fast @dangerous", tips: "nondeterministic_output", summary: "Get the UNIX time stamp of the last successful save to disk", since: "1.0.0", group: "server", complexity: "O(1)"},
	"failover":        {flags: "admin noscript stale", acl: "@admin @slow @dangerous", summary: "Start a coordinated failover between this server and one of its replicas.", since: "6.2.0", group: "server", complexity: "O(1)"},
	"latency":         {flags: "", acl: "@slow", summary: "A container for latency diagnostics commands", since: "2.8.13", group: "server", complexity: "Depends on subcommand."},
	"latency|latest":  {flags: "admin noscript loading stale", acl: "@admin @slow @dangerous", tips: "nondeterministic_output request_policy:all_nodes response_policy:special", summary: "Return the latest latency samples for all events.", since: "2.8.13", group: "server", complexity: "O(1)"},
	"latency|history": {flags: "admin noscript loading stale", acl: "@admin @slow @dangerous", tips: "nondeterministic_output request_policy:all_nodes response_policy:special", summary: "Return timestamp-latency samples for the event.", since: "2.8.13", group: "server", complexity: "O(1)"},
	"latency|reset":   {flags: "admin noscript loading stale", acl: "@admin @slow @dangerous", tips: "request_policy:all_nodes response_policy:all_succeeded", summary: "Reset latency data for one or more events.", since: "2.8.13", group: "server", complexity: "O(1)"},
	"latency|doctor":  {flags: "admin noscript loading stale", acl: "@admin @slow @dangerous", tips: "nondeterministic_output request_policy:all_nodes response_policy:special", summary: "Return a human readable latency analysis report.", since: "2.8.13", group: "server", complexity: "O(1)"},
	"latency|graph":   {flags: "admin noscript loading stale", acl: "@admin @slow @dangerous", tips: "nondeterministic_output request_policy:all_nodes response_policy:special", summary: "Return a latency graph for the event.", since: "2.8.13", group: "server", complexity: "O(1)"},
	"latency|help":    {flags: "loading stale", acl: "@slow", summary: "Show helpful text about the different subcommands.", since: "2.8.13", group: "server", complexity: "O(1)"},
	"acl":             {flags: "", acl: "@slow", summary: "A container for Access List Control commands ", since: "6.0.0", group: "server", complexity: "Depends on subcommand."},
	"acl|whoami":      {flags: "noscript loading stale", acl: "@slow", summary: "Return the name of the user associated to the current connection", since: "6.0.0", group: "server", complexity: "O(1)"},
	"acl|users":       {flags: "admin noscript loading stale", acl: "@admin @slow @dangerous", summary: "List the username of all the configured ACL rules", since: "6.0.0", group: "server", complexity: "O(N). Where N is the number of configured users."},
	"acl|list":        {flags: "admin noscript loading stale", acl: "@admin @slow @dangerous", summary: "List the current ACL rules in ACL config file format", since: "6.0.0", group: "server", complexity: "O(N). Where N is the number of configured users."},
	"copy":            {flags: "write denyoom", acl: "@keyspace @write @slow", summary: "Copy a key", since: "6.2.0", group: "generic", complexity: "O(N) worst case for collections, where N is the number of nested items. O(1) for string values."},
	"expire":          {flags: "write fast", acl: "@keyspace @write @fast", keyFlags: "RW update", summary: "Set a key's time to live in seconds", since: "1.0.0", group: "generic", complexity: "O(1)"},
	"expireat":        {flags: "write fast", acl: "@keyspace @write @fast", keyFlags: "RW update", summary: "Set the expiration for a key as a UNIX timestamp", since: "1.2.0", group: "generic", complexity: "O(1)"},
	"expiretime":      {flags: "readonly fast", acl: "@keyspace @read @fast", keyFlags: "RO access", summary: "Get the expiration Unix timestamp for a key", since: "7.0.0", group: "generic", complexity: "O(1)"},
	"flushall":        {flags: "write", acl: "@keyspace @write @slow @dangerous", tips: "request_policy:all_shards response_policy:all_succeeded", summary: "Remove all keys from all databases", since: "1.0.0", group: "server", complexity: "O(N) where N is the total number of keys in all databases"},
	"flushdb":         {flags: "write", acl: "@keyspace @write @slow @dangerous", tips: "request_policy:all_shards response_policy:all_succeeded", summary: "Remove all keys from the current database", since: "1.0.0", group: "server", complexity: "O(N) where N is the number of keys in the selected database"},
	"getbit":          {flags: "readonly fast", acl: "@read @bitmap @fast", keyFlags: "RO access", summary: "Returns the bit value at offset in the string value stored at key", since: "2.2.0", group: "bitmap", complexity: "O(1)"},
	"getdel":          {flags: "write fast", acl: "@write @string @fast", keyFlags: "RW access delete", summary: "Get the value of a key and delete the key", since: "6.2.0", group: "string", complexity: "O(1)"},
	"getex":           {flags: "write fast", acl: "@write @string @fast", keyFlags: "RW access update", keyNotes: "RW and UPDATE because it changes the TTL", summary: "Get the value of a key and optionally set its expiration", since: "6.2.0", group: "string", complexity: "O(1)"},
	"getrange":        {flags: "readonly", acl: "@read @string @slow", keyFlags: "RO access", summary: "Get a substring of the string stored at a key", since: "2.4.0", group: "string", complexity: "O(N) where N is the length of the returned string. The complexity is ultimately determined by the returned length, but because creating a substring from an existing string is very cheap, it can be considered O(1) for small strings."},
	"getset":          {flags: "write denyoom fast", acl: "@write @string @fast", keyFlags: "RW access update", summary: "Set the string value of a key and return its old value", since: "1.0.0", group: "string", complexity: "O(1)"},
	"incrbyfloat":     {flags: "write denyoom fast", acl: "@write @string @fast", keyFlags: "RW access update", summary: "Increment the float value of a key by the given amount", since: "2.6.0", group: "string", complexity: "O(1)"},
	"keys":            {flags: "readonly", acl: "@keyspace @read @slow @dangerous", tips: "request_policy:all_shards nondeterministic_output_order", summary: "Find all keys matching the given pattern", since: "1.0.0", group: "generic", complexity: "O(N) with N being the number of keys in the database, under the assumption that the key names in the database and the given pattern have limited length."},
	"lcs":             {flags: "readonly", acl: "@read @string @slow", keyFlags: "RO access", summary: "Find longest common substring", since: "7.0.0", group: "string", complexity: "O(N*M) where N and M are the lengths of s1 and s2, respectively"},
	"mget":            {flags: "readonly fast", acl: "@read @string @fast", tips: "request_policy:multi_shard", keyFlags: "RO access", summary: "Get the values of all the given keys", since: "1.0.0", group: "string", complexity: "O(N) where N is the number of keys to retrieve."},
	"mset":            {flags: "write denyoom", acl: "@write @string @slow", tips: "request_policy:multi_shard response_policy:all_succeeded", keyFlags: "OW update", summary: "Set multiple keys to multiple values", since: "1.0.1", group: "string", complexity: "O(N) where N is the number of keys to set."},
	"msetnx":          {flags: "write denyoom", acl: "@write @string @slow", tips: "request_policy:multi_shard response_policy:agg_min", keyFlags: "OW insert", summary: "Set multiple keys to multiple values, only if none of the keys exist", since: "1.0.1", group: "string", complexity: "O(N) where N is the number of keys to set."},
	"persist":         {flags: "write fast", acl: "@keyspace @write @fast", keyFlags: "RW update", summary: "Remove the expiration from a key", since: "2.2.0", group: "generic", complexity: "O(1)"},
	"pexpire":         {flags: "write fast", acl: "@keyspace @write @fast", keyFlags: "RW update", summary: "Set a key's time to live in milliseconds", since: "2.6.0", group: "generic", complexity: "O(1)"},
	"pexpireat":       {flags: "write fast", acl: "@keyspace @write @fast", keyFlags: "RW update", summary: "Set the expiration for a key as a UNIX timestamp specified in milliseconds", since: "2.6.0", group: "generic", complexity: "O(1)"},
	"pexpiretime":     {flags: "readonly fast", acl: "@keyspace @read @fast", keyFlags: "RO access", summary: "Get the expiration Unix timestamp for a key in milliseconds", since: "7.0.0", group: "generic", complexity: "O(1)"},
	"psetex":          {flags: "write denyoom", acl: "@write @string @slow", keyFlags: "OW update", summary: "Set the value and expiration in milliseconds of a key", since: "2.6.0", group: "string", complexity: "O(1)"},
	"pttl":            {flags: "readonly fast", acl: "@keyspace @read @fast", tips: "nondeterministic_output", keyFlags: "RO access", summary: "Get the time to live for a key in milliseconds", since: "2.6.0", group: "generic", complexity: "O(1)"},
	"randomkey":       {flags: "readonly", acl: "@keyspace @read @slow", tips: "request_policy:all_shards nondeterministic_output", summary: "Return a random key from the keyspace", since: "1.0.0", group: "generic", complexity: "O(1)"},
	"rename":          {flags: "write", acl: "@keyspace @write @slow", summary: "Rename a key", since: "1.0.0", group: "generic", complexity: "O(1)"},
	"renamenx":        {flags: "write fast", acl: "@keyspace @write @fast", summary: "Rename a key, only if the new key does not exist", since: "1.0.0", group: "generic", complexity: "O(1)"},
	"scan":            {flags: "readonly", acl: "@keyspace @read @slow", tips: "nondeterministic_output request_policy:special", summary: "Incrementally iterate the keys space", since: "2.8.0", group: "generic", complexity: "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection."},
	"setbit":          {flags: "write denyoom", acl: "@write @bitmap @slow", keyFlags: "RW access update", summary: "Sets or clears the bit at offset in the string value stored at key", since: "2.2.0", group: "bitmap", complexity: "O(1)"},
	"setex":           {flags: "write denyoom", acl: "@write @string @slow", keyFlags: "OW update", summary: "Set the value and expiration of a key", since: "2.0.0", group: "string", complexity: "O(1)"},
	"setnx":           {flags: "write denyoom fast", acl: "@write @string @fast", keyFlags: "OW insert", summary: "Set the value of a key, only if the key does not exist", since: "1.0.0", group: "string", complexity: "O(1)"},
	"setrange":        {flags: "write denyoom", acl: "@write @string @slow", keyFlags: "RW update", summary: "Overwrite part of a string at key starting at the specified offset", since: "2.2.0", group: "string", complexity: "O(1), not counting the time taken to copy the new string in place. Usually, this string is very small so the amortized complexity is O(1). Otherwise, complexity is O(M) with M being the length of the value argument."},
	"strlen":          {flags: "readonly fast", acl: "@read @string @fast", keyFlags: "RO", summary: "Get the length of the value stored in a key", since: "2.2.0", group: "string", complexity: "O(1)"},
	"substr":          {flags: "readonly", acl: "@read @string @slow", keyFlags: "RO access", summary: "Get a substring of the string stored at a key", since: "1.0.0", group: "string", complexity: "O(N) where N is the length of the returned string. The complexity is ultimately determined by the returned length, but because creating a substring from an existing string is very cheap, it can be considered O(1) for small strings."},
	"touch":           {flags: "readonly fast", acl: "@keyspace @read @fast", tips: "request_policy:multi_shard response_policy:agg_sum", keyFlags: "RO", summary: "Alters the last access time of a key(s). Returns the number of existing keys specified.", since: "3.2.1", group: "generic", complexity: "O(N) where N is the number of keys that will be touched."},
	"ttl":             {flags: "readonly fast", acl: "@keyspace @read @fast", tips: "nondeterministic_output", keyFlags: "RO access", summary: "Get the time to live for a key in seconds", since: "1.0.0", group: "generic", complexity: "O(1)"},
	"type":            {flags: "readonly fast", acl: "@keyspace @read @fast", keyFlags: "RO", summary: "Determine the type stored at key", since: "1.0.0", group: "generic", complexity: "O(1)"},
	"unlink":          {flags: "write fast", acl: "@keyspace @write @fast", tips: "request_policy:multi_shard response_policy:agg_sum", keyFlags: "RM delete", summary: "Delete a key asynchronously in another thread. Otherwise it is just as DEL, but non blocking.", since: "4.0.0", group: "generic", complexity: "O(1) for each key removed regardless of its size. Then the command does O(N) work in a different thread in order to reclaim memory, where N is the number of allocations the deleted objects where composed of."},
}
