package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/riot-kv/riot-redis/cluster"
	"github.com/riot-kv/riot-redis/cluster/raftlog"
	"github.com/riot-kv/riot-redis/fsm"
)

// Node is what the HTTP interface needs from the cluster node. cluster.Node
// provides it.
type Node interface {
	// Propose replicates c and returns its result; a follower relays it to
	// the leader.
	Propose(ctx context.Context, c *fsm.Command) (fsm.Result, error)
	// Read makes the local state consistent at lvl, then runs fn against it.
	Read(ctx context.Context, lvl cluster.Consistency, fn func(s *fsm.FSM) error) error
	// Join adds a member; Remove removes one; Transfer hands leadership to
	// the member with the given ID (any suitable one when id is "").
	Join(ctx context.Context, m cluster.Member) error
	Remove(ctx context.Context, id string) error
	Transfer(ctx context.Context, id string) error
	// Members lists the members of the latest Raft configuration.
	Members(ctx context.Context) ([]cluster.Member, error)
	// Role is this node's Raft role; Leader the leader it knows of.
	Role() cluster.Role
	Leader() (cluster.Member, bool)
	// Stats are Raft's statistics (string values, as hashicorp/raft gives them).
	Stats() map[string]string
	// LogSyncStats describes the Raft log's fdatasync calls.
	LogSyncStats() raftlog.SyncStats
	// Snapshot takes a Raft snapshot now.
	Snapshot() error
	// CommitIndex and Term are this node's Raft commit index and term.
	CommitIndex() uint64
	Term() uint64
	// FSM is the node's state machine (its applied index).
	FSM() *fsm.FSM
	// DefaultConsistency is the read level of requests that name none.
	DefaultConsistency() cluster.Consistency
	// ID is this node's server ID.
	ID() string
}

var _ Node = (*cluster.Node)(nil)

// Server is the HTTP interface of one node.
type Server struct {
	cfg     Config
	node    Node
	log     *slog.Logger
	metrics *Metrics
	reg     *prometheus.Registry
	handler http.Handler
	peers   *http.Client

	// ctx is the base context of every request; Close cancels it, which
	// aborts in-flight node calls.
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	ln     net.Listener
	srv    *http.Server
	served chan struct{} // closed when Serve has returned
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
	if err := EnableRaftMetrics(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:     cfg,
		node:    n,
		log:     cfg.Logger,
		metrics: cfg.Metrics,
		peers: &http.Client{
			Timeout:   cfg.PeerTimeout,
			Transport: &http.Transport{MaxIdleConnsPerHost: 2, IdleConnTimeout: time.Minute},
		},
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	reg, err := s.newRegistry()
	if err != nil {
		return nil, err
	}
	s.reg = reg
	s.handler = s.routes()
	return s, nil
}

// Start listens on the configured address and serves requests in the
// background.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return ErrClosed
	case s.ln != nil:
		return ErrStarted
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return err
	}
	s.ln = ln
	s.srv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		BaseContext:       func(net.Listener) context.Context { return s.ctx },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.served = make(chan struct{})
	go func(srv *http.Server, done chan struct{}) {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server stopped", "err", err)
		}
	}(s.srv, s.served)
	return nil
}

// Addr returns the address the server listens on (the configured address
// before Start).
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return s.ln.Addr().String()
	}
	return s.cfg.Addr
}

// Handler returns the server's HTTP handler (for tests and embedding).
func (s *Server) Handler() http.Handler { return s.handler }

// Metrics returns the metrics the server exports; the RESP layer records its
// commands and clients in them.
func (s *Server) Metrics() *Metrics { return s.metrics }

// Close stops listening, aborts in-flight node calls, waits briefly for
// in-flight requests to finish and closes the remaining connections. It is
// safe to call more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	srv, served := s.srv, s.served
	s.mu.Unlock()
	s.cancel()
	var err error
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		if serr := srv.Shutdown(ctx); serr != nil {
			err = srv.Close()
		}
		cancel()
		<-served
	}
	s.peers.CloseIdleConnections()
	return err
}

// route registers handlers for path by method, plus a fallback that answers
// other methods with a JSON 405 (the mux's own reply is plain text).
func route(mux *http.ServeMux, path string, byMethod map[string]http.HandlerFunc) {
	allow := make([]string, 0, len(byMethod)+1)
	for m, h := range byMethod {
		mux.HandleFunc(m+" "+path, h)
		allow = append(allow, m)
		if m == http.MethodGet {
			allow = append(allow, http.MethodHead)
		}
	}
	sort.Strings(allow)
	mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, fmt.Errorf("%w: %s %s (allowed: %s)", ErrMethodNotAllowed, r.Method, r.URL.Path, strings.Join(allow, ", ")), false)
	})
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()

	// The original Riot interface.
	route(mux, "/riot", map[string]http.HandlerFunc{
		http.MethodGet:    s.riotGet,
		http.MethodPost:   s.riotSet,
		http.MethodPut:    s.riotSet,
		http.MethodDelete: s.riotDelete,
	})
	route(mux, "/admin/status", map[string]http.HandlerFunc{http.MethodGet: s.adminStatus})
	route(mux, "/admin/peer", map[string]http.HandlerFunc{http.MethodGet: s.adminPeer})
	route(mux, "/admin/leader", map[string]http.HandlerFunc{http.MethodGet: s.adminLeader})
	route(mux, "/admin/join", map[string]http.HandlerFunc{http.MethodPost: s.adminJoin})
	route(mux, "/admin/remove", map[string]http.HandlerFunc{http.MethodDelete: s.adminRemove, http.MethodPost: s.adminRemove})
	route(mux, "/admin/snapshot", map[string]http.HandlerFunc{http.MethodGet: s.adminSnapshot, http.MethodPost: s.adminSnapshot})

	// REST.
	route(mux, "/v1/kv/{key...}", map[string]http.HandlerFunc{
		http.MethodGet:    s.kvGet,
		http.MethodPut:    s.kvPut,
		http.MethodDelete: s.kvDelete,
	})
	route(mux, "/v1/status", map[string]http.HandlerFunc{http.MethodGet: s.v1Status})
	route(mux, "/v1/cluster", map[string]http.HandlerFunc{http.MethodGet: s.v1Cluster})
	route(mux, "/v1/cluster/members", map[string]http.HandlerFunc{http.MethodGet: s.v1Members, http.MethodPost: s.v1Join})
	route(mux, "/v1/cluster/members/{id}", map[string]http.HandlerFunc{http.MethodDelete: s.v1Remove})
	route(mux, "/v1/cluster/transfer", map[string]http.HandlerFunc{http.MethodPost: s.v1Transfer})

	// Operations.
	route(mux, "/metrics", map[string]http.HandlerFunc{http.MethodGet: s.metricsHandler()})
	route(mux, "/healthz", map[string]http.HandlerFunc{http.MethodGet: s.healthz})
	route(mux, "/readyz", map[string]http.HandlerFunc{http.MethodGet: s.readyz})
	if s.cfg.EnablePprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}

	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, fmt.Errorf("%w: no such path %q", ErrNotFound, r.URL.Path), false)
	})
	return mux
}

// requestContext bounds the node calls of one request.
func (s *Server) requestContext(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
}

// fail sends the error reply for err, logging internal errors.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error, write bool) {
	if writeError(w, err, write) {
		s.log.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	}
}

// readBody reads the request body, at most limit bytes.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrBodyTooLarge, r.ContentLength, limit)
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, fmt.Errorf("%w: limit %d bytes", ErrBodyTooLarge, limit)
		}
		return nil, fmt.Errorf("%w: read body: %v", ErrBadRequest, err)
	}
	return b, nil
}

// consistency returns the read level named by the request's consistency
// parameter, or the node's default.
func (s *Server) consistency(r *http.Request) (cluster.Consistency, error) {
	v := r.URL.Query().Get("consistency")
	if v == "" {
		return s.node.DefaultConsistency(), nil
	}
	lvl, err := cluster.ParseConsistency(v)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	return lvl, nil
}
