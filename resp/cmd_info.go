package resp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/riot-kv/riot-redis/cluster"
	"github.com/riot-kv/riot-redis/fsm"
	"github.com/riot-kv/riot-redis/storage"
)

// redisVersion is the Redis version Riot answers as (INFO, HELLO).
const redisVersion = helloVersion

// serverStats are the counters INFO stats reports; CONFIG RESETSTAT zeroes
// them.
type serverStats struct {
	connections atomic.Int64 // connections accepted (total_connections_received)
	commands    atomic.Int64 // commands run (total_commands_processed)
	rejected    atomic.Int64 // connections refused at MaxClients
}

func (s *serverStats) reset() {
	s.connections.Store(0)
	s.commands.Store(0)
	s.rejected.Store(0)
}

// newRunID returns 40 random hex digits, like Redis's run_id.
func newRunID() string {
	var b [20]byte
	_, _ = rand.Read(b[:]) // never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// listenHostPort returns the host and port the server listens on.
func (s *Server) listenHostPort() (host, port string) {
	addr := s.Addr()
	if addr == "" {
		addr = s.cfg.Addr
	}
	host, port, _ = net.SplitHostPort(addr)
	return host, port
}

// keyStats counts the keys (and the keys with an expiry) at level lvl.
func (c *client) keyStats(lvl cluster.Consistency) (keys, expires int64, err error) {
	ctx, cancel := c.commandContext()
	defer cancel()
	err = c.srv.node.Read(ctx, lvl, func(f *fsm.FSM) error {
		keys, expires = f.KeyStats()
		return nil
	})
	return keys, expires, err
}

// DBSIZE: the number of keys, read at the connection's consistency level.
func cmdDBSize(c *client, _ [][]byte) {
	keys, _, err := c.keyStats(c.consistency())
	if err != nil {
		c.writeError(err, false)
		return
	}
	c.conn.WriteInt64(keys)
}

// ROLE in Redis's replication terms. The leader answers
// ["master", offset, [[host, port, offset], ...]] with one entry per other
// member; a follower answers ["slave", leader host, leader port, state,
// offset]. Offsets are Raft log indexes: the leader's last log index, a
// follower's applied index. The leader does not learn its followers' progress
// from Raft, so their offsets are reported as 0.
func cmdRole(c *client, _ [][]byte) {
	r := c.srv.replication(c.ctx)
	if r.leader {
		c.conn.WriteArray(3)
		c.conn.WriteBulkString("master")
		c.conn.WriteInt64(int64(r.offset))
		c.conn.WriteArray(len(r.replicas))
		for _, m := range r.replicas {
			c.conn.WriteArray(3)
			c.conn.WriteBulkString(m.host)
			c.conn.WriteBulkString(m.port)
			c.conn.WriteBulkString("0")
		}
		return
	}
	c.conn.WriteArray(5)
	c.conn.WriteBulkString("slave")
	c.conn.WriteBulkString(r.masterHost)
	c.conn.WriteInt64(int64(r.masterPort))
	if r.linkUp {
		c.conn.WriteBulkString("connected")
	} else {
		c.conn.WriteBulkString("connect")
	}
	c.conn.WriteInt64(int64(r.offset))
}

// replica is one follower as ROLE and INFO replication list it.
type replica struct{ host, port string }

// replState is the node's replication state in Redis's terms.
type replState struct {
	leader     bool
	offset     uint64    // leader: last log index; follower: applied index
	replicas   []replica // leader: the other members with a RESP address
	masterHost string    // follower: the leader's RESP host ("" if unknown)
	masterPort int
	linkUp     bool  // follower: a leader is known
	lastIO     int64 // follower: seconds since the leader was heard from, -1 if never
	stats      map[string]string
}

func (s *Server) replication(ctx context.Context) replState {
	st := s.node.Stats()
	r := replState{leader: s.node.Role() == cluster.RoleLeader, stats: st, lastIO: -1}
	if r.leader {
		r.offset = statUint(st, "last_log_index")
		ctx, cancel := context.WithTimeout(ctx, CommandTimeout)
		members, err := s.node.Members(ctx)
		cancel()
		if err == nil {
			self := s.node.ID()
			for _, m := range members {
				host, port, err := net.SplitHostPort(m.RESPAddr)
				if m.ID == self || err != nil {
					continue
				}
				r.replicas = append(r.replicas, replica{host, port})
			}
		}
		return r
	}
	r.offset = statUint(st, "fsm_applied_index")
	if m, ok := s.node.Leader(); ok {
		if host, port, err := net.SplitHostPort(m.RESPAddr); err == nil {
			r.masterHost = host
			r.masterPort, _ = strconv.Atoi(port)
			r.linkUp = true
		}
	}
	if d, err := time.ParseDuration(st["last_contact"]); err == nil {
		r.lastIO = int64(d / time.Second)
	}
	return r
}

func statUint(st map[string]string, key string) uint64 {
	v, _ := strconv.ParseUint(st[key], 10, 64)
	return v
}

// infoSection writes one INFO section's lines (without its header).
type infoSection struct {
	name  string // lower case, as requested
	title string // as the header shows it
	write func(c *client, b *infoBuilder)
	// notDefault leaves the section out of INFO without arguments (and
	// "default"): it is listed only by name, "all" or "everything".
	notDefault bool
}

// infoSections in the order INFO lists them. Redis's modules and
// latencystats sections are not kept.
var infoSections = []infoSection{
	{"server", "Server", infoServer, false},
	{"clients", "Clients", infoClients, false},
	{"memory", "Memory", infoMemory, false},
	{"persistence", "Persistence", infoPersistence, false},
	{"stats", "Stats", infoStats, false},
	{"replication", "Replication", infoReplication, false},
	{"cpu", "CPU", infoCPU, false},
	{"cluster", "Cluster", infoCluster, false},
	{"keyspace", "Keyspace", infoKeyspace, false},
	{"raft", "Raft", infoRaft, false},
	{"engine", "Engine", infoEngine, false},
	{"errorstats", "Errorstats", infoErrorStats, false},
	{"commandstats", "Commandstats", infoCommandStats, true},
}

// INFO [section ...]: the server's state as a bulk string of "# Section"
// headers and "field:value" lines separated by CRLF. With no argument, or
// "default", every section but commandstats; with "all" or "everything",
// every section; section names are case-insensitive and unknown ones are
// ignored.
func cmdInfo(c *client, args [][]byte) {
	want := make(map[string]bool)
	defaults, all := len(args) == 1, false
	for _, a := range args[1:] {
		name := strings.ToLower(string(a))
		switch name {
		case "default":
			defaults = true
		case "all", "everything":
			all = true
		default:
			want[name] = true
		}
	}
	b := &infoBuilder{}
	for _, sec := range infoSections {
		if !all && !want[sec.name] && !(defaults && !sec.notDefault) {
			continue
		}
		if len(b.buf) > 0 {
			b.buf = append(b.buf, "\r\n"...)
		}
		b.buf = append(b.buf, "# "...)
		b.buf = append(b.buf, sec.title...)
		b.buf = append(b.buf, "\r\n"...)
		sec.write(c, b)
	}
	if b.buf == nil {
		b.buf = []byte{}
	}
	c.conn.WriteBulk(b.buf)
}

// infoBuilder accumulates INFO lines.
type infoBuilder struct{ buf []byte }

func (b *infoBuilder) str(k, v string) {
	b.buf = append(b.buf, k...)
	b.buf = append(b.buf, ':')
	b.buf = append(b.buf, v...)
	b.buf = append(b.buf, "\r\n"...)
}

func (b *infoBuilder) int(k string, v int64) { b.str(k, strconv.FormatInt(v, 10)) }

// flag writes v as 1 or 0, as Redis writes its yes/no fields.
func (b *infoBuilder) flag(k string, v bool) {
	if v {
		b.str(k, "1")
	} else {
		b.str(k, "0")
	}
}

func infoServer(c *client, b *infoBuilder) {
	s := c.srv
	now := time.Now()
	_, port := s.listenHostPort()
	uptime := int64(now.Sub(s.started) / time.Second)
	riotVersion, riotSHA := buildVersion()
	b.str("redis_version", redisVersion)
	b.str("redis_mode", "standalone")
	b.str("riot_version", riotVersion)
	b.str("riot_git_sha1", riotSHA)
	b.str("os", runtime.GOOS+" "+runtime.GOARCH)
	b.int("arch_bits", strconv.IntSize)
	b.str("go_version", runtime.Version())
	b.int("process_id", int64(os.Getpid()))
	b.str("run_id", s.runID)
	b.str("tcp_port", port)
	b.int("server_time_usec", now.UnixMicro())
	b.int("uptime_in_seconds", uptime)
	b.int("uptime_in_days", uptime/86400)
	exe, _ := os.Executable()
	b.str("executable", exe)
}

// buildVersion returns the main module's version and VCS revision as the
// Go toolchain recorded them ("(devel)" and "" when unknown).
func buildVersion() (version, sha string) {
	version = "(devel)"
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return version, ""
	}
	if bi.Main.Version != "" {
		version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" {
			sha = s.Value
		}
	}
	return version, sha
}

func infoClients(c *client, b *infoBuilder) {
	b.int("connected_clients", int64(c.srv.connectedClients()))
	b.int("cluster_connections", 0)
	b.int("maxclients", int64(c.srv.cfg.MaxClients))
	b.int("blocked_clients", 0)
	b.int("tracking_clients", 0)
}

// memorySamples are the Go runtime metrics the memory section reports.
var memorySamples = []string{
	"/memory/classes/heap/objects:bytes", // live and not yet swept heap objects
	"/memory/classes/total:bytes",        // everything the runtime mapped
}

func infoMemory(_ *client, b *infoBuilder) {
	samples := make([]metrics.Sample, len(memorySamples))
	for i, name := range memorySamples {
		samples[i].Name = name
	}
	metrics.Read(samples)
	value := func(i int) int64 {
		if samples[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return int64(samples[i].Value.Uint64())
	}
	used, total := value(0), value(1)
	b.int("used_memory", used)
	b.str("used_memory_human", bytesToHuman(used))
	b.int("used_memory_rss", total)
	b.str("used_memory_rss_human", bytesToHuman(total))
	b.int("maxmemory", 0)
	b.str("maxmemory_human", "0B")
	b.str("maxmemory_policy", "noeviction")
	b.str("mem_allocator", "go")
}

// bytesToHuman formats n like Redis: 1023B, 1.16K, 42.00M, ...
func bytesToHuman(n int64) string {
	units := []string{"K", "M", "G", "T", "P"}
	if n < 1024 {
		return strconv.FormatInt(n, 10) + "B"
	}
	v := float64(n) / 1024
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return strconv.FormatFloat(v, 'f', 2, 64) + units[i]
}

func infoPersistence(c *client, b *infoBuilder) {
	// Writes are durable when acknowledged: the Raft log is fsynced before a
	// commit, which Redis would call an append-only file with fsync always.
	// The rdb_ fields describe Raft snapshots (cmd_save.go).
	b.int("loading", 0)
	b.int("async_loading", 0)
	infoSaves(c, b)
	b.int("aof_enabled", 1)
	b.int("aof_rewrite_in_progress", 0)
	b.str("aof_last_write_status", "ok")
}

func infoStats(c *client, b *infoBuilder) {
	st := &c.srv.stats
	b.int("total_connections_received", st.connections.Load())
	b.int("total_commands_processed", st.commands.Load())
	b.int("rejected_connections", st.rejected.Load())
	b.int("total_error_replies", c.srv.errors.total.Load())
}

func infoReplication(c *client, b *infoBuilder) {
	r := c.srv.replication(c.ctx)
	if r.leader {
		b.str("role", "master")
		b.int("connected_slaves", int64(len(r.replicas)))
		for i, m := range r.replicas {
			b.str("slave"+strconv.Itoa(i), "ip="+m.host+",port="+m.port+",state=online,offset=0,lag=0")
		}
	} else {
		b.str("role", "slave")
		b.str("master_host", r.masterHost)
		b.int("master_port", int64(r.masterPort))
		if r.linkUp {
			b.str("master_link_status", "up")
		} else {
			b.str("master_link_status", "down")
		}
		b.int("master_last_io_seconds_ago", r.lastIO)
		b.int("master_sync_in_progress", 0)
		b.int("slave_repl_offset", int64(r.offset))
		b.int("slave_read_only", 0)
		b.int("connected_slaves", 0)
	}
	b.str("master_failover_state", "no-failover")
	b.int("master_repl_offset", int64(r.offset))
}

func infoCluster(_ *client, b *infoBuilder) {
	b.int("cluster_enabled", 0)
}

// infoKeyspace lists db0 when it holds keys, from this node's local state.
// avg_ttl is not tracked and reported as 0.
func infoKeyspace(c *client, b *infoBuilder) {
	keys, expires, err := c.keyStats(cluster.Stale)
	if err != nil || keys == 0 {
		return
	}
	b.str("db0", "keys="+strconv.FormatInt(keys, 10)+",expires="+strconv.FormatInt(expires, 10)+",avg_ttl=0")
}

// infoRaft is Riot's own section: this node's Raft state, the leader, and
// the read consistency new connections use.
func infoRaft(c *client, b *infoBuilder) {
	n := c.srv.node
	st := n.Stats()
	b.str("raft_node_id", n.ID())
	b.str("raft_state", string(n.Role()))
	b.str("raft_term", st["term"])
	b.str("raft_commit_index", st["commit_index"])
	b.str("raft_applied_index", st["fsm_applied_index"])
	b.str("raft_last_log_index", st["last_log_index"])
	b.str("raft_last_log_term", st["last_log_term"])
	b.str("raft_last_snapshot_index", st["last_snapshot_index"])
	b.str("raft_last_contact", st["last_contact"])
	leader, _ := n.Leader() // no leader: the fields are empty
	b.str("raft_leader_id", leader.ID)
	b.str("raft_leader_raft_addr", leader.RaftAddr)
	b.str("raft_leader_resp_addr", leader.RESPAddr)
	b.str("raft_leader_rpc_addr", leader.RPCAddr)
	b.str("raft_leader_http_addr", leader.HTTPAddr)
	b.str("raft_num_peers", st["num_peers"])
	// Leadership confirmations for linearizable reads this node ran as
	// leader: shown cheaply, and left to Raft's heartbeat round.
	if v, ok := st["read_confirm_rounds"]; ok {
		b.str("raft_read_confirm_rounds", v)
		b.str("raft_read_confirm_fallbacks", st["read_confirm_fallbacks"])
		b.str("raft_read_confirm_by_follower", st["read_confirm_by_follower"])
	}
	// Lease renewals: started in the background before the lease ran out,
	// and waited for by lease reads that found it expired.
	if v, ok := st["read_lease_renewals"]; ok {
		b.str("raft_read_lease_renewals", v)
		b.str("raft_read_lease_waits", st["read_lease_waits"])
	}
	// Writes this node relayed to a leader, and the calls that carried them
	// (concurrent clients' writes share one).
	if v, ok := st["relayed_writes"]; ok {
		b.str("raft_relayed_writes", v)
		b.str("raft_relay_calls", st["relay_calls"])
	}
	// The Raft log's fdatasync calls: how many, their total time (the
	// difference of two readings over the difference of the counts is the
	// mean over the interval) and the latest.
	ss := n.LogSyncStats()
	b.int("raft_log_fsyncs", int64(ss.Count))
	b.int("raft_log_fsync_usec", ss.Sum.Microseconds())
	b.int("raft_log_fsync_last_usec", ss.Last.Microseconds())
	// The Raft log's size in bytes, and the snapshots its byte bound took
	// (--raft-log-max-mb).
	if v, ok := st["log_bytes"]; ok {
		b.str("raft_log_bytes", v)
		b.str("raft_log_bound_snapshots", st["log_bound_snapshots"])
	}
	// The free space of the data directory's file system, and whether it is
	// below --min-free-disk-mb (absent when there is no floor); the members
	// whose disk alarm is raised (the leader then refuses writes that add
	// data).
	if v, ok := st["disk_free_bytes"]; ok {
		b.str("disk_free_bytes", v)
		b.str("disk_min_free_bytes", st["disk_min_free_bytes"])
		b.str("disk_low", st["disk_low"])
	}
	if v, ok := st["disk_alarms"]; ok {
		b.str("disk_alarms", v)
	}
	ctx, cancel := context.WithTimeout(c.ctx, CommandTimeout)
	if members, err := n.Members(ctx); err == nil {
		b.int("raft_members", int64(len(members)))
	}
	cancel()
	b.str("read_consistency", n.DefaultConsistency().String())
	b.str("connection_read_consistency", c.consistency().String())
}

// infoEngine is Riot's own section: the storage engine's write-behind buffer
// and read cache (storage.Stats). A layer the engine runs without is left out.
func infoEngine(c *client, b *infoBuilder) {
	var st storage.Stats
	// A stale read: the engine's layers, not the data, are described.
	if err := c.srv.node.Read(c.ctx, cluster.Stale, func(f *fsm.FSM) error {
		st = f.EngineStats()
		return nil
	}); err != nil {
		return
	}
	b.flag("engine_write_behind", st.WriteBehind)
	if st.WriteBehind {
		b.int("engine_write_behind_window_bytes", st.BehindMaxBytes)
		b.int("engine_write_behind_buffered_bytes", st.BehindBytes)
		b.int("engine_write_behind_queued_windows", int64(st.BehindQueued))
		b.int("engine_write_behind_flushes", int64(st.Flushes))
		b.int("engine_write_behind_last_flush_usec", st.LastFlush.Microseconds())
		b.int("engine_write_behind_stalls", int64(st.Stalls))
		b.int("engine_write_behind_stalled_usec", st.Stalled.Microseconds())
		b.int("engine_write_behind_urgent_flushes", int64(st.UrgentFlushes))
		status := "ok"
		if st.FlushErr != nil {
			status = "err"
		}
		b.str("engine_write_behind_status", status)
	}
	b.flag("engine_read_cache", st.Cache)
	if st.Cache {
		b.int("engine_read_cache_max_bytes", st.CacheMaxBytes)
		b.int("engine_read_cache_bytes", st.CacheBytes)
		b.flag("engine_read_cache_complete", st.CacheComplete)
		b.int("engine_read_cache_heads", st.CacheHeads)
	}
}
