package httpapi

import (
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	gometrics "github.com/hashicorp/go-metrics/compat"
	gmprom "github.com/hashicorp/go-metrics/compat/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/riot-kv/riot-redis/cluster"
	"github.com/riot-kv/riot-redis/cluster/raftlog"
)

const (
	// metricsNamespace prefixes every metric name.
	metricsNamespace = "riot"
	// maxCommandNames bounds the distinct command names Metrics keeps series
	// for; further names are counted under "other", so a client sending
	// random command names cannot grow the metrics without bound.
	maxCommandNames = 256
	// otherCommand is the label of commands past maxCommandNames.
	otherCommand = "other"
)

// commandBuckets are the latency buckets of riot_command_duration_seconds,
// from 100µs (a local read) to 10s (the request timeout).
var commandBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// Metrics holds the per-command and connection metrics that the protocol
// layers record: riot_commands_total, riot_command_errors_total and
// riot_command_duration_seconds by command, and riot_connected_clients. Its
// methods are safe for concurrent use, and on a nil *Metrics they do
// nothing.
type Metrics struct {
	calls    *prometheus.CounterVec
	failures *prometheus.CounterVec
	duration *prometheus.HistogramVec
	clients  prometheus.Gauge

	byName sync.Map // command name as given -> *commandMetrics
	mu     sync.Mutex
	names  int             // entries in byName
	other  *commandMetrics // made when the first name past the cap arrives
}

// commandMetrics are one command's series, resolved once.
type commandMetrics struct {
	calls, failures prometheus.Counter
	duration        prometheus.Observer
}

// NewMetrics returns an empty set of command and client metrics.
func NewMetrics() *Metrics {
	m := &Metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "commands_total",
			Help: "Commands processed, by command.",
		}, []string{"command"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "command_errors_total",
			Help: "Commands that failed (answered with an error), by command.",
		}, []string{"command"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metricsNamespace, Name: "command_duration_seconds",
			Help:    "Command latency in seconds, from parsed request to reply, by command.",
			Buckets: commandBuckets,
		}, []string{"command"}),
		clients: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: metricsNamespace, Name: "connected_clients",
			Help: "Client connections currently open (RESP).",
		}),
	}
	return m
}

func (m *Metrics) series(label string) *commandMetrics {
	return &commandMetrics{
		calls:    m.calls.WithLabelValues(label),
		failures: m.failures.WithLabelValues(label),
		duration: m.duration.WithLabelValues(label),
	}
}

// forCommand returns the series of a command name (case-insensitive).
func (m *Metrics) forCommand(name string) *commandMetrics {
	if v, ok := m.byName.Load(name); ok {
		return v.(*commandMetrics)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.byName.Load(name); ok {
		return v.(*commandMetrics)
	}
	if m.names >= maxCommandNames {
		if m.other == nil {
			m.other = m.series(otherCommand)
		}
		return m.other
	}
	cm := m.series(strings.ToLower(name))
	m.byName.Store(name, cm)
	m.names++
	return cm
}

// Observe records one command: its name (as the client sent it; names are
// folded to lower case), how long it took, and whether it failed.
func (m *Metrics) Observe(command string, d time.Duration, failed bool) {
	if m == nil {
		return
	}
	cm := m.forCommand(command)
	cm.calls.Inc()
	if failed {
		cm.failures.Inc()
	}
	cm.duration.Observe(d.Seconds())
}

// SetConnectedClients sets the number of open client connections.
func (m *Metrics) SetConnectedClients(n int) {
	if m != nil {
		m.clients.Set(float64(n))
	}
}

// AddConnectedClients adds delta (negative on disconnect) to the number of
// open client connections.
func (m *Metrics) AddConnectedClients(delta int) {
	if m != nil {
		m.clients.Add(float64(delta))
	}
}

func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.calls, m.failures, m.duration, m.clients}
}

// raftSink is the process-wide go-metrics sink Raft reports to.
var raftSink struct {
	once sync.Once
	sink *gmprom.PrometheusSink
	err  error
}

// blockedRaftMetrics are the hot per-RPC go-metrics keys Raft emits that
// /metrics leaves out.
var blockedRaftMetrics = []string{
	metricsNamespace + ".raft.net.",
	metricsNamespace + ".raft.rpc.",
	metricsNamespace + ".raft.replication.appendEntries.rpc",
	metricsNamespace + ".raft.replication.heartbeat",
	metricsNamespace + ".raft.boltdb.",
	metricsNamespace + ".raft.fsm.enqueue",
	metricsNamespace + ".raft.thread.",
}

// raftMetric names a go-metrics key Raft emits, as the sink exports it.
func raftMetric(parts ...string) []string {
	return append([]string{metricsNamespace, "raft"}, parts...)
}

// EnableRaftMetrics installs, once per process, a go-metrics Prometheus sink
// as the global sink that hashicorp/raft reports to, so every Server's
// /metrics exports Raft's own metrics (riot_raft_*; timers are summaries in
// milliseconds). New calls it; calling it before the Raft node starts also
// captures the first election. The sink is global because Raft's metrics
// are: nodes sharing a process (tests) share it.
func EnableRaftMetrics() error {
	raftSink.once.Do(func() {
		opts := gmprom.PrometheusOpts{
			// Registered with each Server's registry instead of a global one.
			Registerer: prometheus.NewRegistry(),
			Name:       "riot_raft_sink",
			// Never drop a series for being idle: a counter that vanished after
			// a quiet minute would read as a reset.
			Expiration: 0,
			CounterDefinitions: []gmprom.CounterDefinition{
				{Name: raftMetric("state", "leader"), Help: "Times this process's Raft node became leader (leader changes)."},
				{Name: raftMetric("state", "candidate"), Help: "Times this process's Raft node started an election."},
				{Name: raftMetric("state", "follower"), Help: "Times this process's Raft node became a follower."},
				{Name: raftMetric("apply"), Help: "Commands applied through the leader's Raft log."},
			},
			SummaryDefinitions: []gmprom.SummaryDefinition{
				{Name: raftMetric("commitTime"), Help: "Leader: milliseconds from appending an entry to committing it."},
				{Name: raftMetric("fsm", "applyBatch"), Help: "Milliseconds to apply one batch of entries to the state machine."},
				{Name: raftMetric("leader", "lastContact"), Help: "Leader: milliseconds since it last heard from a follower (checked each lease period)."},
			},
		}
		sink, err := gmprom.NewPrometheusSinkFrom(opts)
		if err != nil {
			raftSink.err = fmt.Errorf("httpapi: raft metrics sink: %w", err)
			return
		}
		conf := gometrics.DefaultConfig(metricsNamespace)
		conf.EnableHostname = false
		conf.EnableHostnameLabel = false
		conf.EnableRuntimeMetrics = false // the Go collector covers the runtime
		// Per-RPC and per-log-operation timers cost a summary update on every
		// AppendEntries and log access (several percent of a node's CPU under
		// load); the per-commit and per-apply timers above tell the same story.
		conf.BlockedPrefixes = blockedRaftMetrics
		if _, err := gometrics.NewGlobal(conf, sink); err != nil {
			raftSink.err = fmt.Errorf("httpapi: raft metrics: %w", err)
			return
		}
		raftSink.sink = sink
	})
	return raftSink.err
}

// newRegistry builds the registry /metrics serves: the Go runtime and
// process, the command metrics, Raft's go-metrics sink and this node's state.
func (s *Server) newRegistry() (*prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	cs := []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		raftSink.sink,
		newNodeCollector(s),
	}
	for _, c := range append(cs, s.metrics.collectors()...) {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("httpapi: register metrics: %w", err)
		}
	}
	return reg, nil
}

func (s *Server) metricsHandler() http.HandlerFunc {
	h := promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{
		// One bad series (Raft names some after peer IDs) must not fail the
		// whole scrape.
		ErrorHandling: promhttp.ContinueOnError,
		ErrorLog:      slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	})
	return h.ServeHTTP
}

// nodeCollector exports this node's Raft state, read at scrape time:
// riot_node_* and riot_keys.
type nodeCollector struct {
	s    *Server
	keys *keyCounter

	term, commit, applied, lastLog, lastContact, isLeader, leaderKnown, role, fsmPending *prometheus.Desc
	keyCount, keyExpires                                                                 *prometheus.Desc
	logSync                                                                              *prometheus.Desc
}

// keyStatser is a state machine that keeps exact key counts (cheap to read).
type keyStatser interface {
	KeyStats() (keys, expires int64)
}

func newNodeCollector(s *Server) *nodeCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(metricsNamespace, "node", name), help, labels, nil)
	}
	c := &nodeCollector{
		s:           s,
		term:        d("term", "Current Raft term."),
		commit:      d("commit_index", "Highest log index this node knows to be committed."),
		applied:     d("applied_index", "Highest log index this node's state machine has applied."),
		lastLog:     d("last_log_index", "Index of the last entry in this node's Raft log."),
		lastContact: d("last_contact_seconds", "Seconds since this follower last heard from the leader (0 on the leader)."),
		isLeader:    d("is_leader", "1 if this node is the leader."),
		leaderKnown: d("leader_known", "1 if this node knows a leader."),
		role:        d("role", "This node's Raft role (1 for the current one).", "role"),
		fsmPending:  d("fsm_pending", "Committed entries queued for the state machine."),
		keyCount:    prometheus.NewDesc(prometheus.BuildFQName(metricsNamespace, "", "keys"), "Keys stored.", nil, nil),
		keyExpires:  prometheus.NewDesc(prometheus.BuildFQName(metricsNamespace, "", "keys_with_expiry"), "Keys stored with an expiry.", nil, nil),
		logSync: prometheus.NewDesc(prometheus.BuildFQName(metricsNamespace, "raft_log", "fsync_duration_seconds"),
			"Time of the fdatasync calls that made Raft log entries durable (a write waits for the leader's and a follower's).", nil, nil),
	}
	if s.cfg.KeyCount != nil {
		c.keys = &keyCounter{count: s.cfg.KeyCount, every: s.cfg.KeyCountInterval}
	}
	return c
}

func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.term, c.commit, c.applied, c.lastLog, c.lastContact,
		c.isLeader, c.leaderKnown, c.role, c.fsmPending, c.keyCount, c.keyExpires, c.logSync} {
		ch <- d
	}
}

func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	n := c.s.node
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	bool01 := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	stats := n.Stats()
	role := n.Role()
	_, known := n.Leader()
	gauge(c.term, float64(n.Term()))
	gauge(c.commit, float64(n.CommitIndex()))
	gauge(c.applied, float64(n.FSM().AppliedIndex()))
	if v, err := strconv.ParseUint(stats["last_log_index"], 10, 64); err == nil {
		gauge(c.lastLog, float64(v))
	}
	if v, err := strconv.ParseUint(stats["fsm_pending"], 10, 64); err == nil {
		gauge(c.fsmPending, float64(v))
	}
	if d, ok := parseLastContact(stats["last_contact"]); ok {
		gauge(c.lastContact, d.Seconds())
	}
	gauge(c.isLeader, bool01(role == cluster.RoleLeader))
	gauge(c.leaderKnown, bool01(known))
	for _, r := range []cluster.Role{cluster.RoleLeader, cluster.RoleFollower, cluster.RoleCandidate, cluster.RoleShutdown} {
		gauge(c.role, bool01(role == r), string(r))
	}
	ss := n.LogSyncStats()
	buckets := make(map[float64]uint64, len(ss.Buckets))
	for i, ub := range raftlog.SyncBuckets() {
		buckets[ub] = ss.Buckets[i]
	}
	ch <- prometheus.MustNewConstHistogram(c.logSync, ss.Count, ss.Sum.Seconds(), buckets)
	// Keys: Config.KeyCount when set (cached), else the state machine's own
	// counts when it keeps them, else nothing.
	if c.keys != nil {
		if v, ok := c.keys.get(); ok {
			gauge(c.keyCount, float64(v))
		}
	} else if ks, ok := any(n.FSM()).(keyStatser); ok {
		keys, expires := ks.KeyStats()
		gauge(c.keyCount, float64(keys))
		gauge(c.keyExpires, float64(expires))
	}
}

// parseLastContact parses Raft's last_contact statistic: "0" on the leader,
// "never" before any contact, else a duration.
func parseLastContact(s string) (time.Duration, bool) {
	switch s {
	case "", "never":
		return 0, false
	case "0":
		return 0, true
	}
	d, err := time.ParseDuration(s)
	return d, err == nil
}

// keyCounter caches a possibly expensive key count: it runs at most once per
// interval, during a scrape; scrapes in between get the cached value.
type keyCounter struct {
	count func() (uint64, error)
	every time.Duration

	mu  sync.Mutex
	at  time.Time
	n   uint64
	has bool
}

func (k *keyCounter) get() (uint64, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.at.IsZero() || time.Since(k.at) >= k.every {
		k.at = time.Now()
		if n, err := k.count(); err == nil {
			k.n, k.has = n, true
		}
	}
	return k.n, k.has
}
