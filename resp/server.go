package resp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidwall/redcon"

	"github.com/riot-kv/riot-redis/cluster"
	"github.com/riot-kv/riot-redis/cluster/raftlog"
	"github.com/riot-kv/riot-redis/fsm"
)

// Node is what the RESP server needs from the cluster node.
type Node interface {
	// Propose replicates c and returns its result. On the leader it is a Raft
	// apply; on a follower it is relayed to the leader. It stamps c.Now.
	Propose(ctx context.Context, c *fsm.Command) (fsm.Result, error)
	// Read makes the local state consistent at lvl, then runs fn against it.
	Read(ctx context.Context, lvl cluster.Consistency, fn func(s *fsm.FSM) error) error
	// ReadBarrier calls done once local state, read right after, has lvl's
	// guarantee for every read that arrived before the call (nil), or with
	// the error Read would return. done runs exactly once, on any goroutine
	// (the caller's too, before ReadBarrier returns), and must not block.
	ReadBarrier(ctx context.Context, lvl cluster.Consistency, done func(error))
	// Join adds a member to the cluster.
	Join(ctx context.Context, m cluster.Member) error
	// Remove removes the member with the given ID.
	Remove(ctx context.Context, id string) error
	// Transfer hands leadership to the member with the given ID, or to any
	// suitable member when id is "".
	Transfer(ctx context.Context, id string) error
	// Members lists the cluster's members.
	Members(ctx context.Context) ([]cluster.Member, error)
	// Role is this node's Raft role.
	Role() cluster.Role
	// Leader is the current leader, if one is known.
	Leader() (cluster.Member, bool)
	// DefaultConsistency is the read level of connections that did not send
	// READONLY.
	DefaultConsistency() cluster.Consistency
	// ProposeAsync queues the commands of ps, in one hand-off, and returns
	// true when the node can take them without the caller waiting (a leader
	// with room); each Done then receives its command's result once, and
	// must not block. It returns false, having queued nothing, when the
	// caller should use Propose. A retryable error (cluster.ErrNotLeader,
	// cluster.ErrNoLeader) means that command was not applied.
	ProposeAsync(ps []cluster.AsyncProposal) bool
	// ReadsAtOnce reports whether a Read at lvl would run now without
	// waiting (always for Stale; for Lease while the leader's lease holds).
	// When it does, local state read right after has lvl's guarantee.
	ReadsAtOnce(lvl cluster.Consistency) bool
	// ID is this node's stable server ID.
	ID() string
	// Stats returns Raft's counters under hashicorp/raft's names (state,
	// term, commit_index, last_log_index, last_contact, num_peers, ...) plus
	// fsm_applied_index, the last index the state machine has applied. INFO
	// and ROLE report them.
	Stats() map[string]string
	// LogSyncStats describes the Raft log's fdatasync calls (INFO).
	LogSyncStats() raftlog.SyncStats
	// Snapshot takes a Raft snapshot now (SAVE, BGSAVE).
	Snapshot() error
	// LastSnapshot is when the newest snapshot was taken, and its index; ok
	// is false when there is none (LASTSAVE, INFO persistence).
	LastSnapshot() (at time.Time, index uint64, ok bool)
}

// Server serves the Redis protocol on one TCP address.
type Server struct {
	cfg  Config
	node Node
	log  *slog.Logger
	cmds *table

	slowlog *slowLog
	errors  errorStats // INFO errorstats

	shuttingDown atomic.Bool // SHUTDOWN was received
	failingOver  atomic.Bool // a FAILOVER is transferring leadership
	bgsave       bgsaveState

	// ctx is cancelled by Close, which aborts every in-flight node call.
	ctx    context.Context
	cancel context.CancelFunc

	nextID atomic.Int64
	conns  sync.WaitGroup // one per accepted connection until its handler returns

	// Introspection (INFO, CLIENT LIST, ROLE).
	runID   string    // random, new for every server
	started time.Time // set by Start
	stats   serverStats

	clientsMu sync.Mutex
	clients   map[int64]*client // connected clients by id

	mu     sync.Mutex
	ln     net.Listener
	rs     *redcon.Server
	served chan struct{} // closed when redcon's accept loop has returned
	closed bool
}

// New returns a server for n configured by cfg. It does not listen until Start.
func New(cfg Config, n Node) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if n == nil {
		return nil, fmt.Errorf("%w: node is nil", ErrInvalidConfig)
	}
	cfg = cfg.withDefaults()
	s := &Server{cfg: cfg, node: n, log: cfg.Logger, cmds: newCommandTable(),
		runID: newRunID(), clients: make(map[int64]*client),
		slowlog: newSlowLog(cfg.SlowlogSlowerThan, max(cfg.SlowlogMaxLen, 0))}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Start listens on the configured address and serves connections in the
// background until Close.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.ln != nil {
		return ErrStarted
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("resp: listen on %s: %w", s.cfg.Addr, err)
	}
	s.ln = ln
	s.started = time.Now()
	s.served = make(chan struct{})
	if s.cfg.EventLoop {
		if err := s.startLoop(ln); err != nil {
			_ = ln.Close()
			s.ln = nil
			return fmt.Errorf("resp: event loop: %w", err)
		}
		return nil
	}
	s.rs = redcon.NewServer(s.cfg.Addr, s.dispatch, s.accept, s.closedConn)
	s.rs.AcceptError = s.acceptError
	glen := &guardListener{Listener: ln, maxBulk: s.cfg.MaxValueSize}
	go func() {
		defer close(s.served)
		// Serve returns when the listener is closed; it then closes every
		// connection it still holds.
		_ = s.rs.Serve(glen)
	}()
	return nil
}

// Addr returns the address the server listens on ("" before Start).
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Close stops listening, aborts in-flight commands, closes every client
// connection and waits for their handlers to return. It is safe to call more
// than once.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	ln, served := s.ln, s.served
	s.mu.Unlock()

	s.cancel()
	if ln == nil {
		return nil
	}
	err := ln.Close()
	<-served
	s.conns.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// acceptBackoff is the pause after a failed Accept (for example when out of
// file descriptors), so the accept loop does not spin.
const acceptBackoff = 50 * time.Millisecond

func (s *Server) acceptError(err error) {
	s.log.Warn("accept failed", "err", err)
	time.Sleep(acceptBackoff)
}

// accept sets up a new connection's state, or refuses the connection with
// Redis's error when MaxClients clients are connected.
func (s *Server) accept(conn redcon.Conn) bool {
	s.clientsMu.Lock()
	if len(s.clients) >= s.cfg.MaxClients {
		s.clientsMu.Unlock()
		s.stats.rejected.Add(1)
		conn.WriteError(errTextMaxClients) // redcon flushes it when it closes conn
		return false
	}
	c := newClient(s, conn, s.nextID.Add(1))
	s.clients[c.id] = c
	s.clientsMu.Unlock()
	s.stats.connections.Add(1)
	if s.cfg.Observer != nil {
		s.cfg.Observer.AddConnectedClients(1)
	}
	conn.SetContext(c)
	s.conns.Add(1)
	return true
}

// closedConn runs when a connection's handler returns.
func (s *Server) closedConn(conn redcon.Conn, err error) {
	if c, ok := conn.Context().(*client); ok {
		c.cancel()
		s.clientsMu.Lock()
		delete(s.clients, c.id)
		s.clientsMu.Unlock()
		if s.cfg.Observer != nil {
			s.cfg.Observer.AddConnectedClients(-1)
		}
	}
	if err != nil && !errors.Is(err, net.ErrClosed) {
		s.log.Debug("connection closed", "remote", conn.RemoteAddr(), "err", err)
	}
	s.conns.Done()
}

// dispatch runs one command: table lookup, arity check, handler.
func (s *Server) dispatch(conn redcon.Conn, rc redcon.Command) {
	c, ok := conn.Context().(*client)
	if !ok || len(rc.Args) == 0 {
		conn.WriteError(ErrTextInternal)
		return
	}
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("command handler panicked", "client", c.id, "panic", r, "stack", string(debug.Stack()))
			conn.WriteError(ErrTextInternal)
			c.quit = true
			conn.Close()
		}
	}()
	// Only a command with more buffered behind it can start a pipeline run;
	// checking that first keeps the common case to one table lookup.
	if len(conn.PeekPipeline()) > 0 && s.startsRun(c, rc.Args) {
		s.runPipeline(c, rc, conn.ReadPipeline())
		return
	}
	s.dispatchOne(c, rc.Args)
}

// dispatchOne runs one command: table lookup, arity check, MULTI queueing,
// handler.
func (s *Server) dispatchOne(c *client, args [][]byte) {
	start := c.begin()
	cmd := s.cmds.lookup(args[0])
	if cmd == nil {
		c.reject(nil, unknownCommandText(args))
		return
	}
	top := cmd
	if cmd.subs != nil && len(args) > 1 {
		sub := cmd.subs.lookup(args[1])
		if sub == nil {
			c.reject(cmd, unknownSubcommandText(cmd.name, args[1]))
			return
		}
		cmd = sub
	}
	c.info.lastCmd.Store(cmd)
	if !cmd.arityOK(len(args)) {
		cmd.stats.rejected.Add(1)
		c.reject(cmd, cmd.arityErr)
		return
	}
	if c.tx.multi && c.queue(top, cmd, args) {
		return
	}
	c.wroteError = false
	cmd.handler(c, args)
	took := time.Since(start)
	cmd.stats.done(took, c.wroteError)
	if obs := s.cfg.Observer; obs != nil {
		obs.Observe(cmd.fullName, took, c.wroteError)
	}
	s.slowlog.observe(c, cmd, args, took)
	s.stats.commands.Add(1) // after the command, as Redis counts: INFO does not count itself
}
