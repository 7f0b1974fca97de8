package resp

import (
	"time"

	"github.com/tidwall/redcon"

	"github.com/riot-kv/riot-redis/fsm"
)

// Pipelined writes. A client that pipelines N writes (redis-benchmark -P,
// go-redis Pipelined) would otherwise wait for N Raft commits one after the
// other, since a connection's commands run in order. Instead, when a write
// arrives with more commands already buffered behind it, the dispatcher takes
// the whole pipeline and runs each maximal run of consecutive write commands
// the way EXEC runs a transaction, but without its atomicity: every handler
// first runs in plan mode (its proposals are recorded, not sent; a command
// that proposes nothing has its reply at once), the recorded proposals go to
// the node as ONE fsm.OpBatch (one Raft entry, each command applied as if it
// were its own entry, in order; a lone proposal goes as it is), and each
// handler runs again with its results
// to write its reply. Replies leave in the order the commands came. Any other
// command (a read, MULTI, an admin command) first completes the run before it,
// then runs normally, so it observes every earlier write of the pipeline.

//
// Pipelined reads. A run of consecutive read commands shares one consistency
// barrier: the node makes local state consistent at the connection's level
// once (for linearizable, one ReadIndex), then the reads run against local
// state. That is still linearizable: every read of the run had arrived before
// the barrier began, and the barrier waits for everything committed by then.

// pipelinable reports whether cmd can join a run of batched writes.
func (c *client) pipelinable(cmd *command) bool {
	return !c.tx.multi && cmd.flags&flagWrite != 0 && cmd.flags&(flagAdmin|flagNoQueue|flagNoMulti) == 0
}

// batchableRead reports whether cmd can join a run of reads sharing a barrier.
func (c *client) batchableRead(cmd *command) bool {
	return !c.tx.multi && cmd.flags&flagRead != 0 && cmd.flags&(flagWrite|flagAdmin|flagNoQueue|flagNoMulti) == 0
}

// pipelined is one command of a pipeline, after lookup.
type pipelined struct {
	cmd    *command // nil: unknown command or subcommand (dispatch answers)
	args   [][]byte
	r0, r1 int // its reply, once known: replies[r0:r1] of its run
	first  int // index of its first proposal in the batch
	n      int // number of proposals it made
}

// runPipeline runs first and the rest of the connection's pipeline.
func (s *Server) runPipeline(c *client, first redcon.Command, rest []redcon.Command) {
	cmds := make([]redcon.Command, 0, len(rest)+1)
	cmds = append(cmds, first)
	cmds = append(cmds, rest...)
	var run []pipelined
	for i := 0; i < len(cmds) && !c.quit; i++ {
		cmd := s.resolve(cmds[i].Args)
		ok := cmd != nil && cmd.arityOK(len(cmds[i].Args))
		if ok && c.pipelinable(cmd) {
			run = append(run, pipelined{cmd: cmd, args: cmds[i].Args})
			continue
		}
		c.runWrites(run)
		run = run[:0]
		if !ok || !c.batchableRead(cmd) {
			s.dispatchOne(c, cmds[i].Args)
			continue
		}
		j := i + 1
		for j < len(cmds) {
			next := s.resolve(cmds[j].Args)
			if next == nil || !next.arityOK(len(cmds[j].Args)) || !c.batchableRead(next) {
				break
			}
			j++
		}
		c.runReads(cmds[i:j])
		i = j - 1
	}
	if !c.quit {
		c.runWrites(run)
	}
}

// runReads runs consecutive read commands after one shared barrier.
func (c *client) runReads(reads []redcon.Command) {
	if len(reads) > 1 && !c.readonly && !c.barrier {
		ctx, cancel := c.commandContext()
		err := c.srv.node.Read(ctx, c.consistency(), noRead)
		cancel()
		if err == nil {
			// Local reads from here; on error each read tries on its own.
			c.barrier = true
			defer func() { c.barrier = false }()
		}
	}
	for _, rc := range reads {
		c.srv.dispatchOne(c, rc.Args)
	}
}

// noRead is the read of a barrier: it reads nothing.
func noRead(*fsm.FSM) error { return nil }

// startsRun reports whether args is a command that batches with the commands
// pipelined behind it.
func (s *Server) startsRun(c *client, args [][]byte) bool {
	cmd := s.resolve(args)
	return cmd != nil && cmd.arityOK(len(args)) && (c.pipelinable(cmd) || c.batchableRead(cmd))
}

// How the event loop runs a command (loopClass).
const (
	loopWorker  = iota // on a worker goroutine: it may wait
	loopNow            // on the loop, now
	loopBarrier        // on the loop, after the loop's next read barrier
	loopWrite          // planned on the loop, proposed without waiting
)

// loopClass says how the event loop may run args. On the loop: commands
// Redis marks fast that write nothing and are not admin commands, outside
// MULTI; a read among them runs now when the node serves the connection's
// level without waiting, else after a read barrier. An unknown command or a
// wrong arity is answered now. A write that can join a pipeline's batch is
// planned on the loop and proposed without waiting (unless its handler may
// read first). Everything else goes to a worker.
// It also returns the command it looked up (nil if none).
func (s *Server) loopClass(c *client, args [][]byte) (int, *command) {
	if c.tx.multi {
		return loopWorker, nil
	}
	cmd := s.resolve(args)
	switch {
	case cmd == nil || !cmd.arityOK(len(args)):
		return loopNow, cmd
	case c.pipelinable(cmd) && cmd.flags&flagWriteReads == 0:
		return loopWrite, cmd
	case cmd.flags&flagFast == 0 || cmd.flags&(flagWrite|flagAdmin) != 0:
		return loopWorker, cmd
	case cmd.flags&flagRead == 0 || s.node.ReadsAtOnce(c.consistency()):
		return loopNow, cmd
	}
	return loopBarrier, cmd
}

// resolve looks up the command or subcommand args names, or returns nil.
func (s *Server) resolve(args [][]byte) *command {
	if len(args) == 0 {
		return nil
	}
	cmd := s.cmds.lookup(args[0])
	if cmd != nil && cmd.subs != nil && len(args) > 1 {
		return cmd.subs.lookup(args[1])
	}
	return cmd
}

// runWrites runs a run of pipelined write commands as one proposal
// (writeRun.proposal) and writes their replies in order.
func (c *client) runWrites(run []pipelined) {
	switch len(run) {
	case 0:
		return
	case 1:
		c.srv.dispatchOne(c, run[0].args)
		return
	}
	w := c.planWrites(run)
	if len(w.proposals) == 0 {
		c.finishWrites(w, fsm.Result{}, nil)
		return
	}
	ctx, cancel := c.commandContext()
	res, err := c.srv.node.Propose(ctx, w.proposal())
	cancel()
	c.finishWrites(w, res, err)
}

// writeRun is a run of writes between its plan and its replies.
type writeRun struct {
	run       []pipelined
	capt      *captureConn
	replies   []byte // the replies, each copied out of capt once known
	proposals []*fsm.Command
	start     time.Time
	single    bool          // its one proposal went to the node as it is (proposal)
	one       [1]fsm.Result // backs that proposal's result (finishWrites)

	captBuf captureConn // capt's, kept with its buffers for the next run
}

// keep records p's reply.
func (w *writeRun) keep(p *pipelined, reply []byte) {
	p.r0 = len(w.replies)
	w.replies = append(w.replies, reply...)
	p.r1 = len(w.replies)
}

// proposal is what the run proposes: a lone proposal as it is, several as
// one OpBatch.
func (w *writeRun) proposal() *fsm.Command {
	w.single = len(w.proposals) == 1
	if w.single {
		return w.proposals[0]
	}
	return fsm.NewBatch(w.proposals)
}

// planWrites runs every handler of run in plan mode: the replies of
// commands that propose nothing are kept, the proposals of the others
// collected (see pipeline.go's package comment). The run it returns is the
// client's own, valid until its next planWrites.
func (c *client) planWrites(run []pipelined) *writeRun {
	w := &c.wrun
	clear(w.proposals)
	w.run, w.replies, w.proposals, w.start, w.single = run, w.replies[:0], w.proposals[:0], time.Now(), false
	w.captBuf.Conn = c.conn
	w.captBuf.reset()
	w.capt = &w.captBuf
	real := c.conn
	c.conn = w.capt
	defer func() {
		c.conn = real
		clear(c.tx.planned)
		c.tx.mode, c.tx.planned = txIdle, c.tx.planned[:0]
	}()
	for i := range run {
		p := &run[i]
		c.begin()
		c.info.lastCmd.Store(p.cmd)
		p.first = len(w.proposals)
		planned, reply := c.plan(w.capt, p.cmd, p.args)
		if planned == nil {
			w.keep(p, reply)
			continue
		}
		p.n = len(planned)
		w.proposals = append(w.proposals, planned...)
	}
	return w
}

// finishWrites runs the handlers of w's commands that proposed again with
// their results (res and perr are the outcome of w.proposal) and writes
// every reply of the run, in order.
func (c *client) finishWrites(w *writeRun, res fsm.Result, perr error) {
	var results []fsm.Result
	if len(w.proposals) > 0 && perr == nil {
		switch {
		case w.single:
			// Proposed as it is: res is the one proposal's own result.
			w.one[0] = res
			results = w.one[:]
		case res.Kind == fsm.ResultArray && len(res.Array) == len(w.proposals):
			results = res.Array
		case res.Kind == fsm.ResultError:
			// The batch was refused as a whole; nothing was applied.
			results = make([]fsm.Result, len(w.proposals))
			for i := range results {
				results[i] = res
			}
		default:
			c.srv.log.Error("pipeline: unexpected batch result", "client", c.id, "result", res.String())
			results = make([]fsm.Result, len(w.proposals))
			for i := range results {
				results[i] = fsm.Result{Kind: fsm.ResultError, Err: ErrTextInternal}
			}
		}
	}

	real := c.conn
	c.conn = w.capt
	for i := range w.run {
		p := &w.run[i]
		if p.n == 0 {
			continue
		}
		if perr != nil {
			w.capt.reset()
			c.writeError(perr, true)
			w.keep(p, c.captured(w.capt, p.cmd))
			continue
		}
		w.keep(p, c.replay(w.capt, p.cmd, p.args, results[p.first:p.first+p.n]))
	}
	c.conn = real
	c.tx.mode, c.tx.results = txIdle, nil
	w.one[0] = fsm.Result{}
	obs := c.srv.cfg.Observer
	elapsed := time.Since(w.start)
	share := elapsed / time.Duration(max(len(w.run), 1)) // each command's part of the run, for commandstats
	for i := range w.run {
		r := w.replies[w.run[i].r0:w.run[i].r1]
		real.WriteRaw(r)
		c.srv.stats.commands.Add(1)
		failed := len(r) > 0 && r[0] == '-'
		w.run[i].cmd.stats.done(share, failed)
		if failed {
			c.srv.errors.count(errorLine(r))
		}
		if obs != nil {
			obs.Observe(w.run[i].cmd.fullName, elapsed, failed)
		}
		c.srv.slowlog.observe(c, w.run[i].cmd, w.run[i].args, elapsed)
	}
}

// errorLine returns the text of the error reply at the start of r ("-ERR
// ...\r\n").
func errorLine(r []byte) string {
	end := len(r)
	for i := 1; i < len(r); i++ {
		if r[i] == '\r' {
			end = i
			break
		}
	}
	return string(r[1:end])
}
