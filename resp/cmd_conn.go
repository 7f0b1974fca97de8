package resp

import "strings"

// Values HELLO reports. Riot answers as a Redis 7 server in standalone mode
// so that client libraries enable the behaviour this command set supports.
const (
	helloServer  = "redis"
	helloVersion = "7.0.0"
	helloMode    = "standalone"
	// helloRole is "master" on every node: every node accepts writes (a
	// follower relays them to the leader). The Raft role is CLUSTER ROLE.
	helloRole = "master"
)

func registerConnectionCommands(t *table) {
	t.register(&command{name: "ping", arity: -1, maxArgs: 2, flags: flagFast, handler: cmdPing})
	t.register(&command{name: "echo", arity: 2, flags: flagFast, handler: cmdEcho})
	t.register(&command{name: "quit", arity: -1, flags: flagFast, handler: cmdQuit})
	t.register(&command{name: "select", arity: 2, flags: flagFast, handler: cmdSelect})
	t.register(&command{name: "readonly", arity: 1, flags: flagFast, handler: cmdReadonly})
	t.register(&command{name: "readwrite", arity: 1, flags: flagFast, handler: cmdReadwrite})
	t.register(&command{name: "hello", arity: -1, flags: flagFast, handler: cmdHello})

	client := newTable("client")
	client.register(&command{name: "id", arity: 2, flags: flagFast, handler: cmdClientID})
	client.register(&command{name: "getname", arity: 2, flags: flagFast, handler: cmdClientGetname})
	client.register(&command{name: "setname", arity: 3, flags: flagFast, handler: cmdClientSetname})
	client.register(&command{name: "setinfo", arity: 4, flags: flagFast, handler: cmdClientSetinfo})
	client.register(&command{name: "help", arity: 2, flags: flagFast, handler: cmdClientHelp})
	t.register(&command{name: "client", arity: -2, subs: client})
}

// PING [message]
func cmdPing(c *client, args [][]byte) {
	if len(args) == 2 {
		c.conn.WriteBulk(args[1])
		return
	}
	c.conn.WriteString("PONG")
}

// ECHO message
func cmdEcho(c *client, args [][]byte) {
	c.conn.WriteBulk(args[1])
}

// QUIT: reply OK, ignore the rest of the pipeline, close the connection.
func cmdQuit(c *client, _ [][]byte) {
	c.conn.WriteString("OK")
	c.conn.ReadPipeline()
	c.conn.Close()
}

// SELECT index: only database 0 exists.
func cmdSelect(c *client, args [][]byte) {
	n, ok := parseInt(args[1])
	switch {
	case !ok || n < -1<<31 || n > 1<<31-1:
		c.conn.WriteError(errTextNotInteger)
	case n != 0:
		c.conn.WriteError(errTextDBIndex)
	default:
		c.conn.WriteString("OK")
	}
}

// READONLY: this connection's reads are served from the local state
// (cluster.Stale), on followers too.
func cmdReadonly(c *client, _ [][]byte) {
	c.readonly = true
	c.conn.WriteString("OK")
}

// READWRITE: this connection's reads return to the node's default consistency.
func cmdReadwrite(c *client, _ [][]byte) {
	c.readonly = false
	c.conn.WriteString("OK")
}

// HELLO [protover [AUTH username password] [SETNAME clientname]]
//
// Only RESP2 is spoken: HELLO 3 fails with NOPROTO, which makes clients fall
// back to RESP2, exactly as with a Redis that does not know RESP3.
func cmdHello(c *client, args [][]byte) {
	if len(args) >= 2 {
		ver, ok := parseInt(args[1])
		if !ok {
			c.conn.WriteError(errTextProtoNotInt)
			return
		}
		if ver != 2 {
			c.conn.WriteError(errTextNoProto)
			return
		}
	}
	var name []byte
	setName := false
	for j := 2; j < len(args); j++ {
		more := len(args) - 1 - j
		switch {
		case equalFold(args[j], "auth") && more >= 2:
			// No authentication is configured: like Redis's default user
			// without a password, "default" accepts any password.
			if string(args[j+1]) != "default" {
				c.conn.WriteError(errTextWrongPass)
				return
			}
			j += 2
		case equalFold(args[j], "setname") && more >= 1:
			if !validClientName(args[j+1]) {
				c.conn.WriteError(errTextBadClientName)
				return
			}
			name, setName = args[j+1], true
			j++
		default:
			c.conn.WriteError("ERR Syntax error in HELLO option '" + string(truncate(args[j], 128)) + "'")
			return
		}
	}
	if setName {
		c.name = string(name)
	}
	c.conn.WriteArray(14)
	c.conn.WriteBulkString("server")
	c.conn.WriteBulkString(helloServer)
	c.conn.WriteBulkString("version")
	c.conn.WriteBulkString(helloVersion)
	c.conn.WriteBulkString("proto")
	c.conn.WriteInt(2)
	c.conn.WriteBulkString("id")
	c.conn.WriteInt64(c.id)
	c.conn.WriteBulkString("mode")
	c.conn.WriteBulkString(helloMode)
	c.conn.WriteBulkString("role")
	c.conn.WriteBulkString(helloRole)
	c.conn.WriteBulkString("modules")
	c.conn.WriteArray(0)
}

// validClientName reports whether name is printable ASCII without spaces, as
// Redis requires of client names and library names.
func validClientName(name []byte) bool {
	for _, b := range name {
		if b < '!' || b > '~' {
			return false
		}
	}
	return true
}

// CLIENT ID
func cmdClientID(c *client, _ [][]byte) {
	c.conn.WriteInt64(c.id)
}

// CLIENT GETNAME
func cmdClientGetname(c *client, _ [][]byte) {
	if c.name == "" {
		c.conn.WriteNull()
		return
	}
	c.conn.WriteBulkString(c.name)
}

// CLIENT SETNAME name (an empty name clears it)
func cmdClientSetname(c *client, args [][]byte) {
	if !validClientName(args[2]) {
		c.conn.WriteError(errTextBadClientName)
		return
	}
	c.name = string(args[2])
	c.conn.WriteString("OK")
}

// CLIENT SETINFO LIB-NAME name | LIB-VER version
func cmdClientSetinfo(c *client, args [][]byte) {
	attr := args[2]
	var dst *string
	switch {
	case equalFold(attr, "lib-name"):
		dst = &c.libName
	case equalFold(attr, "lib-ver"):
		dst = &c.libVer
	default:
		c.conn.WriteError("ERR Unrecognized option '" + string(truncate(attr, 128)) + "'")
		return
	}
	if !validClientName(args[3]) {
		c.conn.WriteError("ERR " + strings.ToLower(string(attr)) + " cannot contain spaces, newlines or special characters.")
		return
	}
	*dst = string(args[3])
	c.conn.WriteString("OK")
}

var clientHelp = []string{
	"CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
	"GETNAME",
	"    Return the name of the current connection.",
	"ID",
	"    Return the ID of the current connection.",
	"SETINFO <option> <value>",
	"    Set client meta attr. Options are:",
	"    * LIB-NAME: the client lib name.",
	"    * LIB-VER: the client lib version.",
	"SETNAME <name>",
	"    Assign the name <name> to the current connection.",
	"HELP",
	"    Print this help.",
}

// CLIENT HELP
func cmdClientHelp(c *client, _ [][]byte) { writeHelp(c, clientHelp) }

// writeHelp writes a HELP reply: an array of status lines, as Redis does.
func writeHelp(c *client, lines []string) {
	c.conn.WriteArray(len(lines))
	for _, l := range lines {
		c.conn.WriteString(l)
	}
}
