package resp

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/tidwall/redcon"

	"github.com/riot-kv/riot-redis/fsm"
)

// Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH. See DESIGN.md
// ("Transactions") for how a queued command becomes part of one log entry.

// Error replies of the transaction commands, Redis 7's texts.
const (
	errTextNestedMulti   = "ERR MULTI calls can not be nested"
	errTextExecNoMulti   = "ERR EXEC without MULTI"
	errTextDiscardNoMult = "ERR DISCARD without MULTI"
	errTextWatchInMulti  = "ERR WATCH inside MULTI is not allowed"
	errTextExecAbort     = "EXECABORT Transaction discarded because of previous errors."
	errTextExecAbortFor  = "EXECABORT Transaction discarded because of: "
	errTextNotInMulti    = "ERR Command not allowed inside a transaction"
)

var (
	// errTxPlanned is returned by client.nodePropose while EXEC collects the
	// commands of a transaction: the proposal joins the transaction, and the
	// handler's reply is discarded (it runs again with the result).
	errTxPlanned = errors.New("resp: proposal joins the transaction")
	// errTxReplay is returned when a handler asks for more proposals when its
	// reply is built than it made when the transaction was collected.
	errTxReplay = errors.New("resp: handler proposed differently when replayed")
)

// txPolicy sets the transaction behaviour of commands registered elsewhere:
// those that run at once inside MULTI (as in Redis: QUIT, RESET) and those
// refused there (cluster administration, which is not part of the data log,
// and commands that would change the connection's protocol mode). Names that
// are not registered are ignored.
var txPolicy = map[string]cmdFlags{
	"quit":         flagNoQueue,
	"reset":        flagNoQueue,
	"cluster":      flagNoMulti,
	"subscribe":    flagNoMulti,
	"psubscribe":   flagNoMulti,
	"ssubscribe":   flagNoMulti,
	"unsubscribe":  flagNoMulti,
	"punsubscribe": flagNoMulti,
	"sunsubscribe": flagNoMulti,
	"monitor":      flagNoMulti,
}

// registerTxCommands registers the transaction commands and applies txPolicy.
// It runs after every other register function.
func registerTxCommands(t *table) {
	t.register(&command{name: "multi", arity: 1, flags: flagFast | flagNoQueue, handler: cmdMulti})
	t.register(&command{name: "exec", arity: 1, flags: flagNoQueue | flagNoSlowlog, handler: cmdExec})
	t.register(&command{name: "discard", arity: 1, flags: flagFast | flagNoQueue, handler: cmdDiscard})
	t.register(&command{name: "watch", arity: -2, flags: flagFast | flagNoQueue, firstKey: 1, lastKey: -1, keyStep: 1, handler: cmdWatch})
	t.register(&command{name: "unwatch", arity: 1, flags: flagFast, handler: cmdUnwatch})
	for name, f := range txPolicy {
		if cmd := t.m[name]; cmd != nil {
			cmd.flags |= f
		}
	}
	t.onReset(func(c *client) { c.endTx() })
}

// txRead is the transactional form of a read command whose handler reads the
// state machine directly (client.read), which cannot join a log entry. build
// turns the arguments into an fsm read op (or a validation error text, or nil
// to run the handler after all); reply writes the op's result as the
// command's reply (nil: as it is).
type txRead struct {
	build func(args [][]byte) (*fsm.Command, string)
	reply func(c *client, args [][]byte, r fsm.Result)
}

// txReads maps the full names of read commands to their transactional form.
// A read command (flagRead) without one answers errTextNotInMulti inside EXEC:
// its handler reads outside the log, which would not be atomic with the
// transaction. Write commands need nothing: their proposals join the
// transaction by themselves.
var txReads = map[string]txRead{
	"get":      {build: func(a [][]byte) (*fsm.Command, string) { return fsm.NewGet(a[1]), "" }},
	"exists":   {build: func(a [][]byte) (*fsm.Command, string) { return fsm.NewExists(a[1:]...), "" }},
	"mget":     {build: func(a [][]byte) (*fsm.Command, string) { return fsm.NewMGet(a[1:]...), "" }},
	"strlen":   {build: func(a [][]byte) (*fsm.Command, string) { return fsm.NewStrlen(a[1]), "" }},
	"getrange": txStringRead(1, answerGetRange),
	"substr":   txStringRead(1, answerGetRange),
	"getex": {build: func(a [][]byte) (*fsm.Command, string) {
		if len(a) == 2 { // GETEX without options is a GET
			return fsm.NewGet(a[1]), ""
		}
		return nil, ""
	}},
	"type": {
		build: func(a [][]byte) (*fsm.Command, string) { return fsm.NewType(a[1]), "" },
		reply: func(c *client, _ [][]byte, r fsm.Result) {
			if r.Kind == fsm.ResultBulk {
				c.conn.WriteString(string(r.Bulk))
				return
			}
			writeResult(c.conn, r)
		},
	},
	"ttl":          {build: buildTTL(fsm.TTLSeconds)},
	"pttl":         {build: buildTTL(0)},
	"expiretime":   {build: buildTTL(fsm.TTLSeconds | fsm.TTLAbsolute)},
	"pexpiretime":  {build: buildTTL(fsm.TTLAbsolute)},
	"dbsize":       {build: func([][]byte) (*fsm.Command, string) { return fsm.NewDBSize(), "" }},
	"touch":        {build: func(a [][]byte) (*fsm.Command, string) { return fsm.NewExists(a[1:]...), "" }},
	"getbit":       txStringRead(1, answerGetBit),
	"bitcount":     txStringRead(1, answerBitCount),
	"bitpos":       txStringRead(1, answerBitPos),
	"bitfield_ro":  txStringRead(1, answerBitFieldRO),
	"lcs":          txLCS,
	"dump":         txStringRead(1, answerDump),
	"memory|usage": txStringRead(2, answerMemoryUsage),
}

func buildTTL(flags byte) func([][]byte) (*fsm.Command, string) {
	return func(a [][]byte) (*fsm.Command, string) { return fsm.NewPTTL(a[1], flags), "" }
}

// txMode is what client.nodePropose does with a proposal.
type txMode uint8

const (
	txIdle   txMode = iota // propose through the node
	txPlan                 // record it: it joins the transaction
	txReplay               // answer the transaction's result for it
)

// txState is a connection's MULTI and WATCH state.
type txState struct {
	multi   bool     // inside MULTI
	dirty   bool     // a command was refused while queueing: EXEC aborts
	queue   []queued // commands queued since MULTI
	watches []fsm.Watch
	watched map[string]struct{} // keys in watches

	// While EXEC runs the queued commands' handlers.
	mode    txMode
	planned []*fsm.Command // txPlan: proposals of the current handler
	results []fsm.Result   // txReplay: their results
	next    int            // txReplay: the next result to hand out
}

// queued is one command queued inside MULTI, its arguments copied out of
// the connection's read buffer.
type queued struct {
	cmd  *command
	args [][]byte
}

// endTx leaves MULTI and forgets the queue and every watched key (EXEC,
// DISCARD, RESET).
func (c *client) endTx() {
	wasMulti := c.tx.multi
	c.tx.multi, c.tx.dirty = false, false
	clear(c.tx.queue)
	c.tx.queue = c.tx.queue[:0]
	c.unwatch()
	if wasMulti {
		c.setMulti(-1)
	}
}

func (c *client) unwatch() {
	c.tx.watches = nil
	c.tx.watched = nil
}

// reject answers a command refused before it ran (unknown, wrong arity, not
// allowed in MULTI). Inside MULTI it also dooms the transaction, as Redis
// does; a refused EXEC discards it at once.
func (c *client) reject(cmd *command, text string) {
	if cmd != nil && cmd.fullName == "exec" {
		c.endTx()
		c.conn.WriteError(errTextExecAbortFor + strings.TrimPrefix(text, "ERR "))
		return
	}
	if c.tx.multi {
		c.tx.dirty = true
	}
	c.conn.WriteError(text)
}

// queue handles a command that passed lookup and arity checks inside MULTI:
// it queues it (+QUEUED) or refuses it, and reports true; or it reports false
// for a command that runs at once (EXEC, DISCARD, MULTI, WATCH, QUIT, RESET).
func (c *client) queue(top, cmd *command, args [][]byte) bool {
	flags := top.flags | cmd.flags
	if flags&flagNoQueue != 0 {
		return false
	}
	if flags&flagNoMulti != 0 {
		c.reject(cmd, errTextNotInMulti)
		return true
	}
	c.tx.queue = append(c.tx.queue, queued{cmd: cmd, args: copyArgs(args)})
	c.setMulti(len(c.tx.queue))
	c.conn.WriteString("QUEUED")
	return true
}

// copyArgs copies args into one allocation.
func copyArgs(args [][]byte) [][]byte {
	n := 0
	for _, a := range args {
		n += len(a)
	}
	buf := make([]byte, 0, n)
	out := make([][]byte, len(args))
	for i, a := range args {
		buf = append(buf, a...)
		out[i] = buf[len(buf)-len(a) : len(buf) : len(buf)]
	}
	return out
}

// nodePropose proposes cmd through the node; while EXEC runs a queued
// command's handler it records cmd for the transaction (txPlan) or returns
// the transaction's result for it (txReplay) instead. Handlers that propose
// through client.propose or client.proposeResult thus work inside MULTI
// without knowing it.
func (c *client) nodePropose(ctx context.Context, cmd *fsm.Command) (fsm.Result, error) {
	switch c.tx.mode {
	case txPlan:
		c.tx.planned = append(c.tx.planned, cmd)
		return fsm.Result{}, errTxPlanned
	case txReplay:
		if c.tx.next >= len(c.tx.results) {
			return fsm.Result{}, errTxReplay
		}
		r := c.tx.results[c.tx.next]
		c.tx.next++
		return r, nil
	}
	return c.srv.node.Propose(ctx, cmd)
}

// MULTI
func cmdMulti(c *client, _ [][]byte) {
	if c.tx.multi {
		c.conn.WriteError(errTextNestedMulti)
		return
	}
	c.tx.multi = true
	c.setMulti(0)
	c.conn.WriteString("OK")
}

// DISCARD
func cmdDiscard(c *client, _ [][]byte) {
	if !c.tx.multi {
		c.conn.WriteError(errTextDiscardNoMult)
		return
	}
	c.endTx()
	c.conn.WriteString("OK")
}

// UNWATCH
func cmdUnwatch(c *client, _ [][]byte) {
	c.unwatch()
	c.conn.WriteString("OK")
}

// WATCH key [key ...]
//
// Each key's version is read from the state machine now and sent back with
// EXEC; the state machine decides there whether it changed. The read uses the
// connection's consistency level: an older state can only make a conflict
// more likely, never miss one (see fsm.FSM.Watch).
func cmdWatch(c *client, args [][]byte) {
	if c.tx.multi {
		c.conn.WriteError(errTextWatchInMulti)
		return
	}
	keys := args[1:]
	ws := make([]fsm.Watch, 0, len(keys))
	err := c.read(func(f *fsm.FSM) error {
		now := time.Now().UnixMilli()
		for _, k := range keys {
			w, err := f.Watch(k, now)
			if err != nil {
				return err
			}
			ws = append(ws, w)
		}
		return nil
	})
	if err != nil {
		c.writeError(err, false)
		return
	}
	if c.tx.watched == nil {
		c.tx.watched = make(map[string]struct{}, len(ws))
	}
	for _, w := range ws {
		if _, dup := c.tx.watched[string(w.Key)]; dup {
			continue // the first watch of a key counts, as in Redis
		}
		c.tx.watched[string(w.Key)] = struct{}{}
		c.tx.watches = append(c.tx.watches, w)
	}
	c.conn.WriteString("OK")
}

// execElem is one queued command's part of EXEC's reply.
type execElem struct {
	reply []byte  // the reply, when it was answered without the state machine
	read  *txRead // its transactional read form, if it has one
	first int     // index of its first proposal in the transaction
	n     int     // number of proposals
}

// EXEC
//
// Every queued command's handler runs twice. First it collects: its
// proposals (client.propose, proposeResult) are recorded instead of being
// sent, and a command that proposes nothing (an error found while checking
// its arguments, PING, ...) has its reply then and there. Read commands
// contribute their fsm read op (txReads). The proposals and the watched keys
// become one OpMulti entry, so the whole transaction applies at one point of
// the log on every replica. Then each handler that proposed runs again and
// receives its results in order, to write its reply as it always does.
func cmdExec(c *client, _ [][]byte) {
	if !c.tx.multi {
		c.conn.WriteError(errTextExecNoMulti)
		return
	}
	if c.tx.dirty {
		c.endTx()
		c.conn.WriteError(errTextExecAbort)
		return
	}
	queue, watches := c.tx.queue, c.tx.watches
	c.tx.queue = nil // kept by this EXEC; a handler may not reuse it
	c.endTx()

	real := c.conn
	capt := &captureConn{Conn: real}
	c.conn = capt
	defer func() {
		c.conn = real
		c.tx.mode, c.tx.planned, c.tx.results = txIdle, nil, nil
	}()

	elems := make([]execElem, len(queue))
	var cmds []*fsm.Command
	for i, q := range queue {
		e := &elems[i]
		e.first = len(cmds)
		if r, ok := txReads[q.cmd.fullName]; ok {
			cmd, errText := r.build(q.args)
			if errText != "" {
				e.reply = redcon.AppendError(nil, errText)
				continue
			}
			if cmd != nil {
				e.read, e.n = &r, 1
				cmds = append(cmds, cmd)
				continue
			}
		} else if q.cmd.flags&flagRead != 0 {
			e.reply = redcon.AppendError(nil, errTextNotInMulti)
			continue
		}
		planned, reply := c.plan(capt, q.cmd, q.args)
		if planned == nil {
			e.reply = bytes.Clone(reply)
			continue
		}
		e.n = len(planned)
		cmds = append(cmds, planned...)
	}

	var results []fsm.Result
	if len(cmds) > 0 || len(watches) > 0 {
		ctx, cancel := c.commandContext()
		res, err := c.srv.node.Propose(ctx, fsm.NewMulti(watches, cmds...))
		cancel()
		c.conn = real
		switch {
		case err != nil:
			c.writeError(err, true)
			return
		case res.Kind == fsm.ResultNil:
			// A watched key changed: nothing ran.
			real.WriteArray(-1)
			return
		case res.Kind == fsm.ResultError:
			real.WriteError(res.Err)
			return
		case res.Kind != fsm.ResultArray || len(res.Array) != len(cmds):
			c.srv.log.Error("EXEC: unexpected transaction result", "client", c.id, "result", res.String())
			real.WriteError(ErrTextInternal)
			return
		}
		results = res.Array
		c.conn = capt
	}

	for i := range elems {
		e := &elems[i]
		if e.n == 0 {
			continue
		}
		capt.reset()
		rs := results[e.first : e.first+e.n]
		if e.read != nil {
			if e.read.reply != nil {
				e.read.reply(c, queue[i].args, rs[0])
			} else {
				writeResult(capt, rs[0])
			}
			e.reply = c.oneReply(capt, queue[i].cmd)
		} else {
			e.reply = bytes.Clone(c.replay(capt, queue[i].cmd, queue[i].args, rs))
		}
	}

	c.conn = real
	real.WriteArray(len(elems))
	for i := range elems {
		real.WriteRaw(elems[i].reply)
	}
}

// plan runs cmd's handler in plan mode: its proposals are recorded, not
// sent. It returns them, or, for a command that proposed nothing, its reply.
// Both are valid until the next plan or capt.reset: callers copy them.
func (c *client) plan(capt *captureConn, cmd *command, args [][]byte) ([]*fsm.Command, []byte) {
	capt.reset()
	c.tx.mode, c.tx.planned = txPlan, c.tx.planned[:0]
	cmd.handler(c, args)
	c.tx.mode = txIdle
	if len(c.tx.planned) == 0 {
		return nil, c.captured(capt, cmd)
	}
	return c.tx.planned, nil
}

// replay runs cmd's handler again, handing it results for the proposals it
// planned, and returns the reply it writes, valid until capt.reset.
func (c *client) replay(capt *captureConn, cmd *command, args [][]byte, rs []fsm.Result) []byte {
	capt.reset()
	c.tx.mode, c.tx.results, c.tx.next = txReplay, rs, 0
	cmd.handler(c, args)
	c.tx.mode = txIdle
	if c.tx.next != len(rs) {
		capt.reset()
		capt.WriteError(ErrTextInternal)
		c.srv.log.Error("handler proposed differently when replayed", "client", c.id, "command", cmd.fullName)
	}
	return c.captured(capt, cmd)
}

// oneReply returns a copy of the reply capt holds (see captured).
func (c *client) oneReply(capt *captureConn, cmd *command) []byte {
	return bytes.Clone(c.captured(capt, cmd))
}

// captured returns the reply capt holds, valid until capt.reset. It must be
// exactly one; anything else is a handler bug, answered with ErrTextInternal.
func (c *client) captured(capt *captureConn, cmd *command) []byte {
	if capt.top != 1 || len(capt.open) != 0 {
		c.srv.log.Error("EXEC: handler wrote an unexpected number of replies", "client", c.id, "command", cmd.fullName, "replies", capt.top)
		return redcon.AppendError(nil, ErrTextInternal)
	}
	return capt.buf
}

// captureConn collects the replies a handler writes instead of sending them,
// and counts the complete top-level replies among them.
type captureConn struct {
	redcon.Conn
	buf  []byte
	top  int   // complete top-level replies
	open []int // elements still missing from the arrays being written
}

func (w *captureConn) reset() {
	w.buf, w.top, w.open = w.buf[:0], 0, w.open[:0]
}

// done counts one complete value and the arrays it completes.
func (w *captureConn) done() {
	for {
		n := len(w.open)
		if n == 0 {
			w.top++
			return
		}
		w.open[n-1]--
		if w.open[n-1] > 0 {
			return
		}
		w.open = w.open[:n-1]
	}
}

func (w *captureConn) WriteError(msg string) { w.buf = redcon.AppendError(w.buf, msg); w.done() }
func (w *captureConn) WriteString(s string)  { w.buf = redcon.AppendString(w.buf, s); w.done() }
func (w *captureConn) WriteBulk(b []byte)    { w.buf = redcon.AppendBulk(w.buf, b); w.done() }
func (w *captureConn) WriteBulkString(s string) {
	w.buf = redcon.AppendBulkString(w.buf, s)
	w.done()
}
func (w *captureConn) WriteInt(n int)       { w.buf = redcon.AppendInt(w.buf, int64(n)); w.done() }
func (w *captureConn) WriteInt64(n int64)   { w.buf = redcon.AppendInt(w.buf, n); w.done() }
func (w *captureConn) WriteUint64(n uint64) { w.buf = redcon.AppendUint(w.buf, n); w.done() }
func (w *captureConn) WriteNull()           { w.buf = redcon.AppendNull(w.buf); w.done() }
func (w *captureConn) WriteRaw(data []byte) { w.buf = append(w.buf, data...); w.done() }
func (w *captureConn) WriteAny(v any)       { w.buf = redcon.AppendAny(w.buf, v); w.done() }

func (w *captureConn) WriteArray(n int) {
	w.buf = redcon.AppendArray(w.buf, n)
	if n <= 0 {
		w.done()
		return
	}
	w.open = append(w.open, n)
}

func (w *captureConn) WriteBulkFrom(n int64, r io.Reader) {
	b, _ := io.ReadAll(io.LimitReader(r, n))
	w.buf = redcon.AppendBulk(w.buf, b)
	w.done()
}
