package resp

import (
	"cmp"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tidwall/redcon"
)

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

// Redis's error texts of the connection commands.
const (
	errTextAuthNoPassword = "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"
	errTextMaxClients     = "ERR max number of clients reached"
	errTextInvalidClient  = "ERR Invalid client ID"
)

func registerConnectionCommands(t *table) {
	t.register(&command{name: "ping", arity: -1, flags: flagFast, handler: cmdPing})
	t.register(&command{name: "echo", arity: 2, flags: flagFast, handler: cmdEcho})
	t.register(&command{name: "quit", arity: -1, flags: flagFast, handler: cmdQuit})
	t.register(&command{name: "select", arity: 2, flags: flagFast, handler: cmdSelect})
	t.register(&command{name: "readonly", arity: 1, flags: flagFast, handler: cmdReadonly})
	t.register(&command{name: "readwrite", arity: 1, flags: flagFast, handler: cmdReadwrite})
	t.register(&command{name: "hello", arity: -1, flags: flagFast | flagNoSlowlog, handler: cmdHello})
	t.register(&command{name: "auth", arity: -2, flags: flagFast | flagNoSlowlog, handler: cmdAuth})
	t.register(&command{name: "reset", arity: 1, flags: flagFast, handler: cmdReset})

	client := newTable("client")
	client.register(&command{name: "id", arity: 2, flags: flagFast, handler: cmdClientID})
	client.register(&command{name: "getname", arity: 2, flags: flagFast, handler: cmdClientGetname})
	client.register(&command{name: "setname", arity: 3, flags: flagFast, handler: cmdClientSetname})
	client.register(&command{name: "setinfo", arity: 4, flags: flagFast, handler: cmdClientSetinfo})
	client.register(&command{name: "info", arity: 2, handler: cmdClientInfo})
	client.register(&command{name: "list", arity: -2, flags: flagAdmin, handler: cmdClientList})
	client.register(&command{name: "help", arity: 2, flags: flagFast, handler: cmdClientHelp})
	t.register(&command{name: "client", arity: -2, subs: client})
}

// PING [message]
//
// Like Redis, PING checks its argument count when it runs, not when it is
// queued: inside MULTI a PING with too many arguments is queued and fails
// as its element of EXEC's reply.
func cmdPing(c *client, args [][]byte) {
	if len(args) > 2 {
		c.conn.WriteError(arityError("ping"))
		return
	}
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
	c.quit = true
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
	c.info.mu.Lock()
	c.readonly = true
	c.info.mu.Unlock()
	c.conn.WriteString("OK")
}

// READWRITE: this connection's reads return to the node's default consistency.
func cmdReadwrite(c *client, _ [][]byte) {
	c.info.mu.Lock()
	c.readonly = false
	c.info.mu.Unlock()
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
		c.setName(string(name))
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
	c.setName(string(args[2]))
	c.conn.WriteString("OK")
}

// setName sets the connection's name (empty clears it).
func (c *client) setName(name string) {
	c.info.mu.Lock()
	c.name = name
	c.info.mu.Unlock()
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
	c.info.mu.Lock()
	*dst = string(args[3])
	c.info.mu.Unlock()
	c.conn.WriteString("OK")
}

var clientHelp = []string{
	"CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
	"GETNAME",
	"    Return the name of the current connection.",
	"ID",
	"    Return the ID of the current connection.",
	"INFO",
	"    Return information about the current client connection.",
	"LIST [options ...]",
	"    Return information about client connections. Options:",
	"    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
	"      Return clients of specified type.",
	"    * ID <client-id> [<client-id> ...]",
	"      Return clients with the given IDs.",
	"SETINFO <option> <value>",
	"    Set client meta attr. Options are:",
	"    * LIB-NAME: the client lib name.",
	"    * LIB-VER: the client lib version.",
	"SETNAME <name>",
	"    Assign the name <name> to the current connection.",
	"HELP",
	"    Prints this help.",
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

// AUTH [username] password
//
// No password is configured: like Redis's default user without a password,
// "default" accepts any password, and the one-argument form is refused with
// Redis's hint that no password is set.
func cmdAuth(c *client, args [][]byte) {
	switch {
	case len(args) > 3:
		c.conn.WriteError(errTextSyntax)
	case len(args) == 2:
		c.conn.WriteError(errTextAuthNoPassword)
	case string(args[1]) != "default":
		c.conn.WriteError(errTextWrongPass)
	default:
		c.conn.WriteString("OK")
	}
}

// RESET clears the connection's state as if it had reconnected (name,
// READONLY, and what the reset hooks of other commands clear, such as
// MULTI/WATCH) and answers +RESET. The connection keeps its ID.
func cmdReset(c *client, _ [][]byte) {
	c.reset()
	c.conn.WriteString("RESET")
}

// reset clears the per-connection state, then runs the table's reset hooks.
func (c *client) reset() {
	c.info.mu.Lock()
	c.readonly = false
	c.name = ""
	c.info.mu.Unlock()
	for _, fn := range c.srv.cmds.resets {
		fn(c)
	}
}

// CLIENT INFO
func cmdClientInfo(c *client, _ [][]byte) {
	c.conn.WriteBulk(c.appendInfoLine(nil, time.Now()))
}

// CLIENT LIST [TYPE NORMAL|MASTER|REPLICA|SLAVE|PUBSUB] | [ID id [id ...]]
//
// Every connection is a normal client: the other types list nothing.
func cmdClientList(c *client, args [][]byte) {
	now := time.Now()
	var out []byte
	switch {
	case len(args) == 2:
		for _, cl := range c.srv.clientsByID() {
			out = cl.appendInfoLine(out, now)
		}
	case len(args) == 4 && equalFold(args[2], "type"):
		typ := args[3]
		switch {
		case equalFold(typ, "normal"):
			for _, cl := range c.srv.clientsByID() {
				out = cl.appendInfoLine(out, now)
			}
		case equalFold(typ, "master"), equalFold(typ, "replica"), equalFold(typ, "slave"), equalFold(typ, "pubsub"):
		default:
			c.conn.WriteError("ERR Unknown client type '" + string(truncate(typ, 128)) + "'")
			return
		}
	case len(args) > 3 && equalFold(args[2], "id"):
		ids := make([]int64, 0, len(args)-3)
		for _, a := range args[3:] {
			id, ok := parseInt(a)
			if !ok {
				c.conn.WriteError(errTextInvalidClient)
				return
			}
			ids = append(ids, id)
		}
		for _, id := range ids {
			if cl := c.srv.clientByID(id); cl != nil {
				out = cl.appendInfoLine(out, now)
			}
		}
	default:
		c.conn.WriteError(errTextSyntax)
		return
	}
	if out == nil {
		out = []byte{}
	}
	c.conn.WriteBulk(out)
}

// connInfo is what CLIENT LIST and CLIENT INFO report about a connection
// beyond the client's own fields.
type connInfo struct {
	created time.Time
	addr    string // the client's address
	laddr   string // the server's address of the connection
	fd      int    // the socket's file descriptor, -1 if unknown

	lastActive atomic.Int64            // unix nanoseconds of the latest command
	lastCmd    atomic.Pointer[command] // the latest command, nil if unknown

	// mu guards the client fields that other connections read (readonly,
	// name, libName, libVer) and multi. Only the connection's own goroutine
	// writes them, holding mu; it may read them without it.
	mu sync.Mutex
	// multi is -1 outside MULTI, else the number of queued commands. The
	// transaction commands keep it current with setMulti.
	multi int
}

func (i *connInfo) init(conn redcon.Conn) {
	now := time.Now()
	i.created = now
	i.lastActive.Store(now.UnixNano())
	i.addr = conn.RemoteAddr()
	i.fd = -1
	i.multi = -1
	if nc := conn.NetConn(); nc != nil {
		i.laddr = nc.LocalAddr().String()
		i.fd = socketFD(nc)
	} else if si, ok := conn.(interface{ socketInfo() (string, int) }); ok {
		i.laddr, i.fd = si.socketInfo()
	}
}

// touch records that the connection sent a command at now. The dispatcher
// calls it before looking the command up, then stores the command found in
// lastCmd (nil for an unknown one, which CLIENT LIST shows as NULL).
func (i *connInfo) touch(now time.Time) {
	i.lastActive.Store(now.UnixNano())
	i.lastCmd.Store(nil)
}

// setMulti records the connection's MULTI state for CLIENT LIST: -1 outside
// MULTI, else the number of queued commands.
func (c *client) setMulti(n int) {
	c.info.mu.Lock()
	c.info.multi = n
	c.info.mu.Unlock()
}

// socketFD returns the file descriptor of the TCP socket under nc, or -1.
func socketFD(nc net.Conn) int {
	if g, ok := nc.(*guardConn); ok {
		nc = g.Conn
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return -1
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return -1
	}
	fd := -1
	if err := raw.Control(func(f uintptr) { fd = int(f) }); err != nil {
		return -1
	}
	return fd
}

// appendInfoLine appends the connection's CLIENT LIST line, in Redis 7's
// field order (with Redis 7.2's lib-name and lib-ver at the end), ending in
// a newline. Fields without a meaning in Riot (buffers, memory,
// subscriptions) are 0. It may run on any connection's goroutine.
func (c *client) appendInfoLine(b []byte, now time.Time) []byte {
	c.info.mu.Lock()
	name, libName, libVer := c.name, c.libName, c.libVer
	readonly, multi := c.readonly, c.info.multi
	c.info.mu.Unlock()

	cmdName := "NULL"
	if cmd := c.info.lastCmd.Load(); cmd != nil {
		cmdName = cmd.fullName
	}
	age := int64(now.Sub(c.info.created) / time.Second)
	idle := max(0, (now.UnixNano()-c.info.lastActive.Load())/int64(time.Second))

	b = append(b, "id="...)
	b = strconv.AppendInt(b, c.id, 10)
	b = append(b, " addr="...)
	b = append(b, c.info.addr...)
	b = append(b, " laddr="...)
	b = append(b, c.info.laddr...)
	b = append(b, " fd="...)
	b = strconv.AppendInt(b, int64(c.info.fd), 10)
	b = append(b, " name="...)
	b = append(b, name...)
	b = append(b, " age="...)
	b = strconv.AppendInt(b, age, 10)
	b = append(b, " idle="...)
	b = strconv.AppendInt(b, idle, 10)
	b = append(b, " flags="...)
	flags := len(b)
	if multi >= 0 {
		b = append(b, 'x')
	}
	if readonly {
		b = append(b, 'r')
	}
	if len(b) == flags {
		b = append(b, 'N')
	}
	b = append(b, " db=0 sub=0 psub=0 ssub=0 multi="...)
	b = strconv.AppendInt(b, int64(multi), 10)
	b = append(b, " qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd="...)
	b = append(b, cmdName...)
	b = append(b, " user=default redir=-1 resp=2 lib-name="...)
	b = append(b, libName...)
	b = append(b, " lib-ver="...)
	b = append(b, libVer...)
	return append(b, '\n')
}

// clientsByID returns the connected clients in the order they connected.
func (s *Server) clientsByID() []*client {
	s.clientsMu.Lock()
	out := make([]*client, 0, len(s.clients))
	for _, c := range s.clients {
		out = append(out, c)
	}
	s.clientsMu.Unlock()
	slices.SortFunc(out, func(a, b *client) int { return cmp.Compare(a.id, b.id) })
	return out
}

// clientByID returns the connected client with the given ID, or nil.
func (s *Server) clientByID(id int64) *client {
	s.clientsMu.Lock()
	defer s.clientsMu.Unlock()
	return s.clients[id]
}

// connectedClients is the number of open client connections.
func (s *Server) connectedClients() int {
	s.clientsMu.Lock()
	defer s.clientsMu.Unlock()
	return len(s.clients)
}
