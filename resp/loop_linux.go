//go:build linux

package resp

import (
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/tidwall/redcon"
	"golang.org/x/sys/unix"

	"github.com/riot-kv/riot-redis/cluster"
	"github.com/riot-kv/riot-redis/fsm"
)

// The event loop (Config.EventLoop). One goroutine waits for every
// connection's socket through epoll, reads what arrived, parses it with
// redcon's reader and sorts the commands (loopClass, pipeline.go). Those that
// cannot wait (fast reads the node serves at once, PING, unknown commands)
// run right there, their replies written before the loop waits again, as
// redis-server's loop does. Fast reads that must wait for the node park the
// connection until the loop's next read barrier (startBarrier) has passed,
// then run on the loop. Writes that can join a batch are planned on the loop;
// at the end of each round the round's write runs go to the node together,
// with one Node.ProposeAsync; each connection is parked until its result
// comes back to the loop, which writes the replies (proposeRun, propose,
// writeDone). Anything else (MULTI, admin commands, a follower's writes)
// hands the connection to a goroutine of its own, a worker, which runs it
// and what the connection sends after it through the usual dispatcher, then
// gives the connection back. So no goroutine parks for a read served at once
// or for a write on the leader, and the commands of one connection still run
// one at a time, in order.
//
// Ownership. A connection's parser, reply buffer and client state belong to
// whoever runs its commands: the loop (also while the connection is parked),
// or one worker at a time. lconn.mu
// guards the hand-over (busy), the replies the socket has not taken yet (out)
// and the closing state; the loop writes out when epoll reports the socket
// writable. Only the loop closes a socket, so a descriptor number is never
// reused while anything still refers to it.
//
// Readiness. Sockets are registered edge-triggered. The loop counts the
// readable edges of a connection (rgen); a read that finds the socket empty,
// or returns less than it asked for (which means the kernel had no more),
// records the count it saw (rseen). A connection is worth reading while the
// two differ. A worker that finds nothing more to read gives the connection
// back under mu only if no edge arrived meanwhile; the loop counts an edge
// under mu, so either the worker sees it and reads on, or the loop sees the
// connection idle and serves it.

// loopSupported reports whether Config.EventLoop can be used here.
const loopSupported = true

// maxPendingOut is how many reply bytes a connection may have waiting for
// its socket before the server stops reading its commands, until the client
// reads its replies (redcon's goroutine blocks in write at that point).
const maxPendingOut = 1 << 20

// errAgain is lconn.Read's answer when the socket has nothing to read now.
var errAgain = errors.New("resp: no data ready")

type eventLoop struct {
	srv *Server
	ln  net.Listener
	ep  int             // epoll descriptor
	epf *os.File        // ep, in Go's poller
	epc syscall.RawConn // epf's
	efd int             // eventfd that wakes the loop

	conns map[int32]*lconn // by socket; the loop's own

	again []*lconn // connections that stopped with more to read (serveBudget)

	// Connections parked for the next read barrier (startBarrier).
	waiting []*lconn

	// Write runs planned this round, handed to the node together
	// (propose), and their connections, parked meanwhile.
	props     []cluster.AsyncProposal
	proposing []*lconn

	spareResults []runResult // the array results had before the last round

	mu       sync.Mutex
	posted   []*lconn // new connections, and connections given back to close
	barriers []barrierResult
	results  []runResult
	woken    bool // the eventfd was written since the loop last looked
	stopping bool
	done     bool // run has returned
}

// startLoop serves ln with an event loop. The accept loop runs on Go's
// poller and hands each socket over; served is closed once every connection
// has been closed after Close.
func (s *Server) startLoop(ln net.Listener) error {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return err
	}
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		_ = unix.Close(ep)
		return err
	}
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, efd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(efd)}); err != nil {
		_ = unix.Close(ep)
		_ = unix.Close(efd)
		return err
	}
	// A non-blocking epoll descriptor joins Go's poller (see run).
	var epf *os.File
	var epc syscall.RawConn
	err = unix.SetNonblock(ep, true)
	if err == nil {
		epf = os.NewFile(uintptr(ep), "epoll")
		epc, err = epf.SyscallConn()
	}
	if err != nil {
		if epf != nil {
			_ = epf.Close()
		} else {
			_ = unix.Close(ep)
		}
		_ = unix.Close(efd)
		return err
	}
	l := &eventLoop{srv: s, ln: ln, ep: ep, epf: epf, epc: epc, efd: efd, conns: make(map[int32]*lconn)}
	go l.acceptLoop()
	go func() {
		defer close(s.served)
		l.run()
	}()
	return nil
}

// acceptLoop accepts connections until the listener is closed, then stops
// the loop.
func (l *eventLoop) acceptLoop() {
	defer l.stop()
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			l.srv.acceptError(err)
			continue
		}
		c, err := newLconn(l, nc)
		if err != nil {
			l.srv.log.Warn("accept: taking the socket over failed", "err", err)
			continue
		}
		if !l.srv.accept(c) {
			// Refused: the error reply is in b; one try to send it.
			_, _ = unix.Write(c.fd, c.b)
			_ = unix.Close(c.fd)
			continue
		}
		l.post(c)
	}
}

// newLconn takes the socket of nc out of Go's poller: a duplicate
// descriptor, non-blocking, and nc closed.
func newLconn(l *eventLoop, nc net.Conn) (*lconn, error) {
	defer nc.Close()
	sc, ok := nc.(interface {
		SyscallConn() (syscall.RawConn, error)
	})
	if !ok {
		return nil, errors.New("not a socket")
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd := -1
	var derr error
	if err := raw.Control(func(s uintptr) { fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return nil, err
	}
	if derr != nil {
		return nil, derr
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		_ = unix.Close(fd)
		return nil, err
	}
	c := &lconn{loop: l, fd: fd, raddr: nc.RemoteAddr().String(), laddr: nc.LocalAddr().String()}
	c.wdone = c.writeResult
	c.guard.maxBulk = l.srv.cfg.MaxValueSize
	c.rd = redcon.NewReader(c)
	return c, nil
}

// post hands c to the loop (a new connection, or one to close) and wakes it.
// Once the loop has returned (it failed), c is closed here.
func (l *eventLoop) post(c *lconn) {
	l.mu.Lock()
	if l.done {
		l.mu.Unlock()
		_ = unix.Close(c.fd)
		l.srv.closedConn(c, errClosing)
		return
	}
	l.posted = append(l.posted, c)
	l.wakeUnlock()
}

// wakeUnlock releases l.mu and wakes the loop, unless it was woken since it
// last looked at what is posted.
// The write happens under l.mu, and the loop closes the eventfd under l.mu
// once done, so a late result can never write into a descriptor number the
// process has reused since.
func (l *eventLoop) wakeUnlock() {
	if !l.woken && !l.done {
		l.woken = true
		var one = [8]byte{1}
		_, _ = unix.Write(l.efd, one[:])
	}
	l.mu.Unlock()
}

// stop makes the loop close every connection and return.
func (l *eventLoop) stop() {
	l.mu.Lock()
	l.stopping = true
	l.wakeUnlock()
}

// run is the loop.
func (l *eventLoop) run() {
	defer func() {
		l.mu.Lock()
		l.done = true
		_ = unix.Close(l.efd)
		l.mu.Unlock()
		_ = l.epf.Close()
	}()
	events := make([]unix.EpollEvent, 256)
	var scratch [8]byte
	stopping := false
	for {
		// The loop never blocks in epoll_wait: a goroutine blocked in a
		// system call keeps its Go processor until the runtime takes it
		// back (20 µs to 10 ms later), which would leave Raft's goroutines
		// one processor fewer. Instead the epoll descriptor itself waits in
		// Go's poller, and epoll_wait only collects what is ready.
		var n int
		var err error
		poll := func(uintptr) bool {
			n, err = unix.EpollWait(l.ep, events, 0)
			return n != 0 || err != nil || len(l.again) > 0
		}
		if rerr := l.epc.Read(poll); rerr != nil && err == nil {
			err = rerr
		}
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			// Not expected: stop serving rather than spin.
			l.srv.log.Error("event loop: epoll_wait failed; closing every connection", "err", err)
			_ = l.ln.Close()
			for _, c := range l.conns {
				c.mu.Lock()
				_ = unix.Shutdown(c.fd, unix.SHUT_RDWR)
				c.mu.Unlock()
			}
			for _, c := range l.conns {
				c.mu.Lock()
				idle := !c.busy || c.parked
				c.mu.Unlock()
				if idle {
					l.finish(c)
				}
			}
			return
		}
		again := l.again
		l.again = nil
		for _, c := range again {
			if l.conns[int32(c.fd)] == c {
				l.serveIfIdle(c, false)
			}
		}
		for _, ev := range events[:n] {
			if int(ev.Fd) == l.efd {
				_, _ = unix.Read(l.efd, scratch[:])
				continue
			}
			c := l.conns[ev.Fd]
			if c == nil {
				continue
			}
			if ev.Events&unix.EPOLLOUT != 0 {
				l.writable(c)
			}
			if ev.Events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
				l.readable(c)
			}
		}
		l.mu.Lock()
		posted, barriers, results := l.posted, l.barriers, l.results
		// results alternates between two arrays: the loop reads one while
		// the node's goroutines append to the other.
		l.posted, l.barriers, l.results = nil, nil, l.spareResults[:0]
		l.woken = false
		stopping = stopping || l.stopping
		l.mu.Unlock()
		for _, c := range posted {
			l.adopt(c)
		}
		for _, b := range barriers {
			l.barrierDone(b)
		}
		for _, r := range results {
			l.writeDone(r)
		}
		clear(results)
		l.spareResults = results
		l.propose()
		if len(l.waiting) > 0 {
			l.startBarrier()
		}
		if stopping {
			for _, c := range l.conns {
				l.shut(c)
			}
			if len(l.conns) == 0 {
				return
			}
		}
	}
}

// adopt takes a posted connection: a new one is registered, one given back
// by a worker to close is closed once its replies are written.
func (l *eventLoop) adopt(c *lconn) {
	if !c.registered {
		c.registered = true
		l.conns[int32(c.fd)] = c
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(c.fd)}
		if err := unix.EpollCtl(l.ep, unix.EPOLL_CTL_ADD, c.fd, &ev); err != nil {
			c.cerr = err
			l.finish(c)
		}
		// An edge-triggered registration of a ready socket reports it at
		// once; nothing else to do.
		return
	}
	if l.conns[int32(c.fd)] == c {
		l.closeIfDone(c)
	}
}

// readable counts a readable edge and serves c if no worker has it.
func (l *eventLoop) readable(c *lconn) {
	l.serveIfIdle(c, true)
}

// serveIfIdle serves c unless a worker has it, it is closing, or its
// replies wait for the client; edge counts a readable edge first.
func (l *eventLoop) serveIfIdle(c *lconn, edge bool) {
	c.mu.Lock()
	if edge {
		c.rgen.Add(1)
	}
	idle := !c.busy && !c.closing && !c.stalled
	c.mu.Unlock()
	if idle {
		l.serve(c)
	}
	l.closeIfDone(c)
}

// serve runs c's commands on the loop; a connection with more to read after
// its budget is served again on the next round, after the others.
func (l *eventLoop) serve(c *lconn) {
	if c.serve() {
		l.again = append(l.again, c)
	}
}

// writable sends what c's socket did not take before.
func (l *eventLoop) writable(c *lconn) {
	c.mu.Lock()
	if len(c.out) > 0 && c.werr == nil {
		c.sendLocked()
	}
	resume := c.stalled && len(c.out) == 0
	if resume {
		c.stalled = false
	}
	c.mu.Unlock()
	if resume {
		l.serve(c)
	}
	l.closeIfDone(c)
}

// closeIfDone closes c once it is closing, no worker has it and its
// replies are written (or cannot be).
func (l *eventLoop) closeIfDone(c *lconn) {
	c.mu.Lock()
	done := c.closing && !c.busy && (len(c.out) == 0 || c.werr != nil)
	c.mu.Unlock()
	if done {
		l.finish(c)
	}
}

// shut is the server's Close for c: the socket stops taking and giving
// bytes (a worker's reads and writes fail and it gives c back), and an idle
// connection is closed at once.
func (l *eventLoop) shut(c *lconn) {
	c.mu.Lock()
	if !c.shutdown {
		c.shutdown = true
		_ = unix.Shutdown(c.fd, unix.SHUT_RDWR)
	}
	c.closing = true
	c.werr = errClosing
	idle := !c.busy || c.parked // a parked connection's result is not awaited
	c.mu.Unlock()
	if idle {
		l.finish(c)
	}
}

var errClosing = errors.New("resp: server closing")

// finish closes c's socket and runs the server's end-of-connection
// bookkeeping. Only the loop calls it, once per connection.
func (l *eventLoop) finish(c *lconn) {
	if l.conns[int32(c.fd)] != c {
		return
	}
	delete(l.conns, int32(c.fd))
	_ = unix.Close(c.fd) // also leaves the epoll set
	var err error
	if c.cerr != nil && !errors.Is(c.cerr, io.EOF) {
		err = c.cerr
	}
	l.srv.closedConn(c, err)
}

// lconn is one connection of the event loop. It implements redcon.Conn for
// the dispatcher and the handlers.
type lconn struct {
	loop         *eventLoop
	fd           int
	raddr, laddr string
	ctx          any
	registered   bool // the loop's: in conns and the epoll set

	// The owner's (see the package comment on ownership).
	rd   *redcon.Reader
	cmds []redcon.Command // the pipeline behind the running command
	// The loop's, while c is parked (waiting for a read barrier or for a
	// write run's result, with no worker): the commands still to run, from
	// the parked one, and for a write, the run planned.
	parked   bool
	waitCmds []redcon.Command
	wrun     *writeRun
	runBuf   []pipelined             // backs the run being planned or parked
	wdone    func(fsm.Result, error) // c.writeResult, bound once

	replyBuf       // replies not yet handed to the socket (b)
	closeReq bool  // Close was called, or reading failed
	cerr     error // why the connection ends (nil: the client closed it)
	guard    protoGuard
	gerr     error // protocol violation found by the guard

	rgen  atomic.Uint64 // readable edges seen by the loop
	rseen atomic.Uint64 // rgen when a read last found the socket empty

	mu       sync.Mutex
	busy     bool   // a worker has the connection
	out      []byte // replies the socket did not take yet
	werr     error  // writing failed: the connection is dead
	stalled  bool   // reading stopped until out is written
	closing  bool   // close once out is written and no worker has it
	shutdown bool   // shut down by the server's Close
}

// Read is the parser's source: the socket, checked by the protocol guard.
func (c *lconn) Read(p []byte) (int, error) {
	if c.gerr != nil {
		return 0, c.gerr
	}
	g := c.rgen.Load()
	if c.rseen.Load() == g {
		return 0, errAgain
	}
	for {
		n, err := unix.Read(c.fd, p)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			c.rseen.Store(g)
			return 0, errAgain
		case err != nil:
			return 0, err
		case n == 0:
			return 0, io.EOF
		}
		if n < len(p) {
			c.rseen.Store(g)
		}
		if k, gerr := c.guard.scan(p[:n]); gerr != nil {
			// Only the bytes before the violation reach the parser; the
			// next Read reports it.
			c.gerr = gerr
			if k == 0 {
				return 0, gerr
			}
			return k, nil
		}
		return n, nil
	}
}

// serveBudget is how many reads the loop serves one connection before it
// turns to the others.
const serveBudget = 16

// serve reads and runs c's commands on the loop until c has nothing more
// to read, leaves the loop (runOnLoop), or has used its budget; it reports
// whether c may have more to read.
func (c *lconn) serve() (more bool) {
	for range serveBudget {
		cmds, err := c.rd.ReadCommands()
		if err != nil {
			c.readFailed(err)
			c.flush()
			if c.closeReq {
				c.giveBack()
			}
			return false
		}
		if !c.runOnLoop(cmds, false) {
			return false
		}
		if len(c.b) >= maxPendingOut {
			c.flush()
			c.mu.Lock()
			stall := len(c.out) >= maxPendingOut
			c.stalled = stall
			c.mu.Unlock()
			if stall {
				return false
			}
		}
	}
	c.flush()
	return true
}

// runOnLoop runs cmds on the loop as far as they run at once (afterBarrier:
// a read barrier that began after they arrived has passed, so reads of local
// state have the connection's guarantee). At a read that must wait for a
// barrier it parks c until the loop's next one; at any other command that
// may wait it hands c to a worker. It reports whether c is still the
// loop's to serve.
func (c *lconn) runOnLoop(cmds []redcon.Command, afterBarrier bool) bool {
	l, srv := c.loop, c.loop.srv
	cl, _ := c.ctx.(*client)
	if cl == nil {
		c.toWorker(cmds)
		return false
	}
	// cl.barrier is set only around the loop's own classifying and running
	// (and cleared before c leaves the loop: a worker reads it).
	for i := range cmds {
		cl.barrier = afterBarrier
		class, cmd := srv.loopClass(cl, cmds[i].Args)
		cl.barrier = false
		switch class {
		case loopNow:
			// The class made the read's guarantee hold now: read local state.
			cl.barrier = true
			srv.dispatch(c, cmds[i])
			cl.barrier = false
			if c.closeReq {
				c.flush()
				c.giveBack()
				return false
			}
			continue
		case loopBarrier:
			c.park(cmds[i:])
			l.waiting = append(l.waiting, c)
			return false
		case loopWrite:
			// The run lives in runBuf until its replies are written: c
			// plans or waits for nothing else meanwhile.
			run := append(c.runBuf[:0], pipelined{cmd: cmd, args: cmds[i].Args})
			for _, next := range cmds[i+1:] {
				class, cmd := srv.loopClass(cl, next.Args)
				if class != loopWrite {
					break
				}
				run = append(run, pipelined{cmd: cmd, args: next.Args})
			}
			c.runBuf = run
			if !c.proposeRun(cl, run, cmds[i:]) {
				// Nothing to propose: the replies are written; run on.
				c.runOnLoopFrom(cmds[i+len(run):], false)
			}
			return false
		}
		c.toWorker(cmds[i:])
		return false
	}
	return true
}

// toWorker hands c, with cmds to run first, to a worker goroutine.
func (c *lconn) toWorker(cmds []redcon.Command) {
	c.parked = false
	c.mu.Lock()
	c.busy = true
	c.mu.Unlock()
	go c.work(cmds)
}

// runOnLoopFrom runs cmds on the loop (see runOnLoop) and, if c is still
// the loop's, serves what else it sent.
func (c *lconn) runOnLoopFrom(cmds []redcon.Command, afterBarrier bool) {
	if c.runOnLoop(cmds, afterBarrier) {
		c.flush()
		c.loop.serveIfIdle(c, false)
	}
}

// park holds c on the loop until a barrier or a proposal's result resumes
// it with cmds; replies so far go out first.
func (c *lconn) park(cmds []redcon.Command) {
	c.flush()
	c.waitCmds = cmds
	c.parked = true
	c.mu.Lock()
	c.busy = true
	c.mu.Unlock()
}

// unpark ends park; it reports whether c is still to be served (not closed
// meanwhile by the server's Close).
func (c *lconn) unpark() bool {
	if !c.parked || c.loop.conns[int32(c.fd)] != c {
		return false
	}
	c.parked = false
	c.mu.Lock()
	c.busy = false
	c.mu.Unlock()
	return true
}

// proposeRun plans run (the first len(run) commands of cmds: writes that
// may join one batch) and queues their proposal for the end of the round
// (propose); it reports whether c is parked for the result. When they
// propose nothing their replies are written and it reports false; when the
// node cannot take the round's proposals without waiting, c goes to a
// worker with cmds, which runs them the usual way.
func (c *lconn) proposeRun(cl *client, run []pipelined, cmds []redcon.Command) bool {
	w := cl.planWrites(run)
	if len(w.proposals) == 0 {
		cl.finishWrites(w, fsm.Result{}, nil)
		return false
	}
	c.park(cmds)
	c.wrun = w
	l := c.loop
	l.props = append(l.props, cluster.AsyncProposal{Cmd: w.proposal(), Done: c.wdone})
	l.proposing = append(l.proposing, c)
	return true
}

// writeResult receives the result of c's write run, on a goroutine of the
// node's, and posts it to the loop (writeDone).
func (c *lconn) writeResult(res fsm.Result, err error) {
	l := c.loop
	l.mu.Lock()
	l.results = append(l.results, runResult{c: c, res: res, err: err})
	l.wakeUnlock()
}

// propose hands the write runs of this round's connections to the node
// together, so the batcher wakes once per round rather than once per
// connection; if the node cannot take them, each goes to a worker.
func (l *eventLoop) propose() {
	if len(l.props) == 0 {
		return
	}
	if !l.srv.node.ProposeAsync(l.props) {
		for _, c := range l.proposing {
			if l.conns[int32(c.fd)] != c {
				continue // closed meanwhile
			}
			cmds := c.waitCmds
			c.wrun, c.waitCmds = nil, nil
			c.toWorker(cmds)
		}
	}
	clear(l.props)
	clear(l.proposing)
	l.props, l.proposing = l.props[:0], l.proposing[:0]
}

type runResult struct {
	c   *lconn
	res fsm.Result
	err error
}

// writeDone resumes a connection parked for its write run's result: the
// run's replies, then the rest of its commands. A result that says nothing
// was applied because leadership moved sends the run to a worker, which
// proposes it again the usual way (retrying, or relaying to the new
// leader).
func (l *eventLoop) writeDone(r runResult) {
	c := r.c
	if c.wrun == nil || !c.unpark() {
		return
	}
	cmds, w := c.waitCmds, c.wrun
	c.waitCmds, c.wrun = nil, nil
	if errors.Is(r.err, cluster.ErrNotLeader) || errors.Is(r.err, cluster.ErrNoLeader) {
		c.toWorker(cmds)
		return
	}
	cl, _ := c.ctx.(*client)
	cl.finishWrites(w, r.res, r.err)
	c.runOnLoopFrom(cmds[len(w.run):], false)
}

// startBarrier starts one read barrier for every connection parked since the
// last (Node.ReadBarrier at the node's default level). Once it passes, the
// reads each parked connection sent before it began may read local state
// (the argument of pipeline.go's shared barrier).
func (l *eventLoop) startBarrier() {
	conns := l.waiting
	l.waiting = nil
	srv := l.srv
	srv.node.ReadBarrier(srv.ctx, srv.node.DefaultConsistency(), func(err error) {
		l.mu.Lock()
		l.barriers = append(l.barriers, barrierResult{conns: conns, err: err})
		l.wakeUnlock()
	})
}

type barrierResult struct {
	conns []*lconn
	err   error
}

// barrierDone resumes the connections a barrier held: their reads run on
// the loop; if the barrier failed, each command runs on a worker and
// reports its own error.
func (l *eventLoop) barrierDone(b barrierResult) {
	for _, c := range b.conns {
		if !c.unpark() {
			continue
		}
		cmds := c.waitCmds
		c.waitCmds = nil
		if b.err != nil {
			c.toWorker(cmds)
			continue
		}
		c.runOnLoopFrom(cmds, true)
	}
}

// work runs c's commands on a goroutine of its own, starting with cmds,
// until nothing more has arrived, then gives c back to the loop.
func (c *lconn) work(cmds []redcon.Command) {
	srv := c.loop.srv
	for {
		c.cmds = cmds
		for len(c.cmds) > 0 && !c.closeReq {
			cmd := c.cmds[0]
			c.cmds = c.cmds[1:]
			srv.dispatch(c, cmd)
		}
		c.cmds = nil
		c.flush()
		if c.closeReq {
			c.giveBack()
			return
		}
		c.mu.Lock()
		stall := len(c.out) >= maxPendingOut
		c.mu.Unlock()
		if !stall {
			var err error
			cmds, err = c.rd.ReadCommands()
			if err == nil {
				continue
			}
			if !errors.Is(err, errAgain) {
				c.readFailed(err)
				c.flush()
				c.giveBack()
				return
			}
		}
		// Give c back, unless input arrived after the read found none (or
		// the loop wrote the replies that stopped the reading meanwhile).
		c.mu.Lock()
		stall = len(c.out) >= maxPendingOut
		if !stall && c.rseen.Load() != c.rgen.Load() {
			c.mu.Unlock()
			cmds = nil
			continue
		}
		c.stalled = stall
		c.busy = false
		closing := c.closing // the server's Close shut it meanwhile
		c.mu.Unlock()
		if closing {
			c.loop.post(c)
		}
		return
	}
}

// readFailed ends c after a read error: a protocol error is answered first,
// as redcon and Redis do; errAgain is not an error.
func (c *lconn) readFailed(err error) {
	if errors.Is(err, errAgain) {
		return
	}
	// The guard's protocolError and redcon's own (an unexported type) both
	// read "Protocol error: ...".
	if strings.HasPrefix(err.Error(), "Protocol error: ") {
		c.b = redcon.AppendError(c.b, "ERR "+err.Error())
	}
	c.cerr = err
	c.closeReq = true
}

// giveBack hands a closing connection to the loop, which closes it once
// its replies are written.
func (c *lconn) giveBack() {
	c.mu.Lock()
	c.closing = true
	worker := c.busy
	c.busy = false
	c.mu.Unlock()
	if worker {
		c.loop.post(c)
	} else {
		c.loop.closeIfDone(c)
	}
}

// flush hands b to the socket; what it does not take waits in out for
// the loop.
func (c *lconn) flush() {
	if len(c.b) == 0 {
		return
	}
	if c.closeReq && c.cerr == nil {
		// Written after Close.
		c.b = c.b[:0]
		return
	}
	c.mu.Lock()
	if c.werr == nil {
		if len(c.out) == 0 {
			rest, err := writeSome(c.fd, c.b)
			if c.werr = err; err == nil && len(rest) > 0 {
				c.out = append(c.out, rest...)
			}
		} else {
			c.out = append(c.out, c.b...)
		}
	}
	c.mu.Unlock()
	if cap(c.b) > 256<<10 {
		c.b = nil
	} else {
		c.b = c.b[:0]
	}
}

// sendLocked writes out to the socket as far as it takes it. c.mu is held.
func (c *lconn) sendLocked() {
	rest, err := writeSome(c.fd, c.out)
	c.werr = err
	if err != nil || len(rest) == 0 {
		c.out = nil
		return
	}
	c.out = rest
}

// writeSome writes b to the non-blocking socket fd until it is written or
// the socket takes no more; it returns what is left, and the error if the
// socket failed.
func writeSome(fd int, b []byte) ([]byte, error) {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			return b, nil
		case err != nil:
			return b, err
		}
		b = b[n:]
	}
	return b, nil
}

// redcon.Conn.

func (c *lconn) RemoteAddr() string { return c.raddr }

// Close ends the connection after the replies written so far, as redcon's
// does: they are sent, anything written later is dropped, and the rest of
// the pipeline does not run.
func (c *lconn) Close() error {
	c.flush()
	c.closeReq = true
	c.cmds = nil
	return nil
}

func (c *lconn) Context() any { return c.ctx }

// WriteBulkFrom writes a bulk string of up to n bytes read from r (the
// server does not use it).
func (c *lconn) WriteBulkFrom(n int64, r io.Reader) {
	data, _ := io.ReadAll(io.LimitReader(r, n))
	c.WriteBulk(data)
}
func (c *lconn) SetContext(v any)  { c.ctx = v }
func (c *lconn) SetReadBuffer(int) {}

// Detach is not supported by the event loop; the server never detaches.
func (c *lconn) Detach() redcon.DetachedConn { return nil }

func (c *lconn) ReadPipeline() []redcon.Command {
	cmds := c.cmds
	c.cmds = nil
	return cmds
}

func (c *lconn) PeekPipeline() []redcon.Command { return c.cmds }

// NetConn is nil: the socket is not a net.Conn. CLIENT LIST reads the
// local address and descriptor through socketInfo.
func (c *lconn) NetConn() net.Conn { return nil }

func (c *lconn) socketInfo() (laddr string, fd int) { return c.laddr, c.fd }
