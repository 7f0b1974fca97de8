package resp

import (
	"context"
	"time"

	"github.com/tidwall/redcon"

	"github.com/riot-kv/riot-redis/cluster"
	"github.com/riot-kv/riot-redis/fsm"
)

// client is the state of one connection, kept in the redcon connection's
// context. Commands of one connection run one at a time on its goroutine, so
// the fields need no locking.
type client struct {
	srv  *Server
	conn redcon.Conn
	id   int64

	// ctx is cancelled when the connection closes or the server shuts down;
	// every node call of the connection derives its deadline from it.
	ctx    context.Context
	cancel context.CancelFunc

	// now is when the command being run was dispatched (begin): the clock
	// of its expiry checks, its latency's start and CLIENT LIST's idle time,
	// read once per command.
	now time.Time

	// readonly is set by READONLY: reads use cluster.Stale instead of the
	// node's default consistency until READWRITE.
	readonly bool
	// wroteError is set when an error reply is written (errorMarkConn).
	wroteError bool
	// quit is set once QUIT ran (or a handler panicked): the connection is
	// closing, and nothing the client sent after it runs.
	quit bool
	// barrier is set while a pipeline's run of reads executes after the
	// barrier they share (pipeline.go): they read local state.
	barrier bool
	name    string // CLIENT SETNAME / HELLO SETNAME
	libName string // CLIENT SETINFO LIB-NAME
	libVer  string // CLIENT SETINFO LIB-VER

	// info is what CLIENT LIST shows of the connection to other connections.
	// The connection's own goroutine writes readonly, name, libName and
	// libVer only under info.mu (see setName), so other connections can read
	// them under that lock.
	info connInfo

	// tx is the MULTI/WATCH state (cmd_tx.go).
	tx txState

	// Read scratch. The read functions below are bound once per connection
	// and exchange their arguments and results through these fields, so a
	// read allocates no closure.
	rkeys    [][]byte
	rval     []byte
	rok      bool
	rcount   int64
	getFn    func(*fsm.FSM) error
	existsFn func(*fsm.FSM) error

	// wrun is the connection's write run (planWrites), reused: a
	// connection has at most one between its plan and its replies.
	wrun writeRun
}

func newClient(s *Server, conn redcon.Conn, id int64) *client {
	c := &client{srv: s, id: id}
	c.conn = &errorMarkConn{Conn: conn, c: c}
	c.info.init(conn)
	c.ctx, c.cancel = context.WithCancel(s.ctx)
	c.getFn = c.readGet
	c.existsFn = c.readExists
	return c
}

// consistency is the level of the connection's next read.
func (c *client) consistency() cluster.Consistency {
	if c.readonly || c.barrier {
		return cluster.Stale
	}
	return c.srv.node.DefaultConsistency()
}

// commandContext returns the context of one node call.
func (c *client) commandContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.ctx, CommandTimeout)
}

// propose sends cmd to the node and writes its result. The node bounds the
// wait itself (as for reads), so a write on the leader costs no timer here.
func (c *client) propose(cmd *fsm.Command) {
	res, err := c.nodePropose(c.ctx, cmd)
	if err != nil {
		c.writeError(err, true)
		return
	}
	writeResult(c.conn, res)
}

// read runs fn through the node at the connection's consistency level. The
// node bounds a read that has to wait by itself, so a read served at once
// (stale, or lease on the leader) costs no timer.
func (c *client) read(fn func(*fsm.FSM) error) error {
	return c.srv.node.Read(c.ctx, c.consistency(), fn)
}

// begin starts a command: it reads the clock for it (see now) and records
// the connection's activity.
func (c *client) begin() time.Time {
	c.now = time.Now()
	c.info.touch(c.now)
	return c.now
}

// readGet reads rkeys[0] into rval and rok.
func (c *client) readGet(f *fsm.FSM) error {
	v, ok, err := f.Get(c.rkeys[0], c.now.UnixMilli())
	c.rval, c.rok = v, ok
	return err
}

// readExists counts into rcount how many of rkeys exist, duplicates counted
// each time, all at one instant.
func (c *client) readExists(f *fsm.FSM) error {
	now := c.now.UnixMilli()
	var n int64
	for _, k := range c.rkeys {
		ok, err := f.Exists(k, now)
		if err != nil {
			return err
		}
		if ok {
			n++
		}
	}
	c.rcount = n
	return nil
}

// writeError writes the reply for an error from the node. Errors the table
// does not know are logged: they point at a bug or an unplanned failure.
func (c *client) writeError(err error, write bool) {
	if err == errTxPlanned {
		// A placeholder while EXEC or a pipeline plans: the reply is
		// discarded, so skip the error table (hot under pipelines).
		c.conn.WriteError(ErrTextInternal)
		return
	}
	if !knownError(err) {
		c.srv.log.Warn("command failed", "client", c.id, "err", err)
	}
	c.conn.WriteError(errorText(err, write))
}

// writeResult writes a state machine result as the matching RESP reply.
func writeResult(w redcon.Conn, r fsm.Result) {
	switch r.Kind {
	case fsm.ResultNil:
		w.WriteNull()
	case fsm.ResultOK:
		w.WriteString("OK")
	case fsm.ResultInt:
		w.WriteInt64(r.Int)
	case fsm.ResultBulk:
		w.WriteBulk(r.Bulk)
	case fsm.ResultError:
		w.WriteError(r.Err)
	case fsm.ResultArray:
		w.WriteArray(len(r.Array))
		for _, e := range r.Array {
			writeResult(w, e)
		}
	default:
		w.WriteError(ErrTextInternal)
	}
}

// errorMarkConn notes that an error reply was written, so the dispatcher can
// count failed commands (commandstats, the Observer), and counts it by its
// code (errorstats).
type errorMarkConn struct {
	redcon.Conn
	c *client
}

func (w *errorMarkConn) WriteError(msg string) {
	w.c.wroteError = true
	w.c.srv.errors.count(msg)
	w.Conn.WriteError(msg)
}
