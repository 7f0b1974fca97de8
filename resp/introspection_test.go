package resp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/riot-kv/riot-redis/cluster"
	"github.com/riot-kv/riot-redis/storage"
)

// clientListFields is the field order of a CLIENT LIST line: Redis 7.0's,
// then lib-name and lib-ver as Redis 7.2 adds them.
var clientListFields = []string{"id", "addr", "laddr", "fd", "name", "age", "idle", "flags", "db",
	"sub", "psub", "ssub", "multi", "qbuf", "qbuf-free", "argv-mem", "multi-mem", "rbs", "rbp",
	"obl", "oll", "omem", "tot-mem", "events", "cmd", "user", "redir", "resp", "lib-name", "lib-ver"}

// parseClientLine splits a CLIENT LIST line into its field names, in order,
// and their values.
func parseClientLine(t testing.TB, line string) ([]string, map[string]string) {
	t.Helper()
	var keys []string
	vals := make(map[string]string)
	for _, f := range strings.Split(line, " ") {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			t.Fatalf("field %q of client line %q has no '='", f, line)
		}
		keys = append(keys, k)
		vals[k] = v
	}
	return keys, vals
}

// parseClientList parses a CLIENT LIST reply: lines ending in '\n'.
func parseClientList(t testing.TB, reply string) []map[string]string {
	t.Helper()
	if reply != "" && !strings.HasSuffix(reply, "\n") {
		t.Fatalf("CLIENT LIST reply %q does not end in a newline", reply)
	}
	var out []map[string]string
	for _, line := range strings.Split(strings.TrimSuffix(reply, "\n"), "\n") {
		if line == "" {
			continue
		}
		keys, vals := parseClientLine(t, line)
		if !slices.Equal(keys, clientListFields) {
			t.Fatalf("client line fields = %v, want %v", keys, clientListFields)
		}
		out = append(out, vals)
	}
	return out
}

// trackedClient is a go-redis client on one connection whose local address
// is known.
type trackedClient struct {
	*redis.Client
	mu    sync.Mutex
	local string
}

func mustTrackedClient(t testing.TB, s *Server, opt *redis.Options) *trackedClient {
	t.Helper()
	tc := &trackedClient{}
	if opt == nil {
		opt = &redis.Options{}
	}
	opt.PoolSize = 1
	opt.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if err == nil {
			tc.mu.Lock()
			tc.local = c.LocalAddr().String()
			tc.mu.Unlock()
		}
		return c, err
	}
	tc.Client = mustClient(t, s, opt)
	return tc
}

func (tc *trackedClient) localAddr() string {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return tc.local
}

func TestClientList(t *testing.T) {
	s := mustServer(t, mustNode(t), Config{})
	ctx := testContext(t)
	a := mustTrackedClient(t, s, &redis.Options{ClientName: "alpha"})
	b := mustTrackedClient(t, s, &redis.Options{Protocol: 2, DisableIdentity: true})
	aID, err := a.ClientID(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	bID, err := b.ClientID(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.ReadOnly(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := b.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}

	reply, err := a.ClientList(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	lines := parseClientList(t, reply)
	if len(lines) != 2 {
		t.Fatalf("CLIENT LIST lists %d clients, want 2:\n%s", len(lines), reply)
	}
	if lines[0]["id"] != strconv.FormatInt(aID, 10) || lines[1]["id"] != strconv.FormatInt(bID, 10) {
		t.Fatalf("CLIENT LIST ids = %s, %s; want %d, %d in connection order", lines[0]["id"], lines[1]["id"], aID, bID)
	}
	want := map[string]string{
		"addr": a.localAddr(), "laddr": s.Addr(), "name": "alpha", "idle": "0", "flags": "N", "db": "0",
		"multi": "-1", "cmd": "client|list", "user": "default", "resp": "2",
	}
	for k, v := range want {
		if lines[0][k] != v {
			t.Errorf("CLIENT LIST of the caller: %s=%q, want %q (line %v)", k, lines[0][k], v, lines[0])
		}
	}
	if !strings.HasPrefix(lines[0]["lib-name"], "go-redis") || lines[0]["lib-ver"] == "" {
		t.Errorf("lib-name=%q lib-ver=%q; go-redis sends them with CLIENT SETINFO", lines[0]["lib-name"], lines[0]["lib-ver"])
	}
	if fd, err := strconv.Atoi(lines[0]["fd"]); err != nil || fd <= 0 {
		t.Errorf("fd=%q, want the socket's descriptor", lines[0]["fd"])
	}
	if age, err := strconv.Atoi(lines[0]["age"]); err != nil || age < 0 {
		t.Errorf("age=%q, want seconds since connecting", lines[0]["age"])
	}
	want = map[string]string{"addr": b.localAddr(), "name": "", "flags": "r", "cmd": "ping", "lib-name": "", "lib-ver": ""}
	for k, v := range want {
		if lines[1][k] != v {
			t.Errorf("CLIENT LIST of the other client: %s=%q, want %q (line %v)", k, lines[1][k], v, lines[1])
		}
	}

	// CLIENT INFO is the caller's own line.
	info, err := b.ClientInfo(ctx).Result()
	if err != nil {
		t.Fatalf("CLIENT INFO through go-redis: %v", err)
	}
	if info.ID != bID || info.LastCmd != "client|info" || info.Addr != b.localAddr() || info.Flags&redis.ClientReadOnly == 0 {
		t.Errorf("CLIENT INFO = %+v; want id %d, cmd client|info, addr %s, flag r", info, bID, b.localAddr())
	}
	raw, err := b.Do(ctx, "CLIENT", "INFO").Text()
	if err != nil {
		t.Fatal(err)
	}
	if got := parseClientList(t, raw); len(got) != 1 || got[0]["id"] != strconv.FormatInt(bID, 10) {
		t.Errorf("CLIENT INFO = %q, want one line for client %d", raw, bID)
	}

	// The ID filter answers in the order asked, the TYPE filter by type.
	reply, err = a.Do(ctx, "CLIENT", "LIST", "ID", bID, 12345, aID).Text()
	if err != nil {
		t.Fatal(err)
	}
	if got := parseClientList(t, reply); len(got) != 2 || got[0]["id"] != strconv.FormatInt(bID, 10) || got[1]["id"] != strconv.FormatInt(aID, 10) {
		t.Errorf("CLIENT LIST ID %d 12345 %d = %q", bID, aID, reply)
	}
	reply, err = a.Do(ctx, "CLIENT", "LIST", "TYPE", "normal").Text()
	if err != nil || len(parseClientList(t, reply)) != 2 {
		t.Errorf("CLIENT LIST TYPE normal = %q, %v; want both clients", reply, err)
	}

	// An unknown command is shown as cmd=NULL.
	if err := b.Do(ctx, "NOSUCH").Err(); err == nil {
		t.Fatal("NOSUCH succeeded")
	}
	reply, err = a.Do(ctx, "CLIENT", "LIST", "ID", bID).Text()
	if err != nil {
		t.Fatal(err)
	}
	if got := parseClientList(t, reply); len(got) != 1 || got[0]["cmd"] != "NULL" {
		t.Errorf("after an unknown command: %q, want cmd=NULL", reply)
	}

	// A closed connection leaves the list.
	b.Close()
	eventually(t, func() error {
		reply, err := a.ClientList(ctx).Result()
		if err != nil {
			return err
		}
		if n := len(parseClientList(t, reply)); n != 1 {
			return fmt.Errorf("%d clients listed", n)
		}
		return nil
	})
}

// eventually polls f until it succeeds or 10 seconds pass.
func eventually(t testing.TB, f func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestClientInfoFieldsMatchRedis checks that a CLIENT INFO line has the
// fields of redis-server's, in the same order.
func TestClientInfoFieldsMatchRedis(t *testing.T) {
	ctx := testContext(t)
	rdb := redis.NewClient(&redis.Options{Addr: mustRedisServer(t), Protocol: 2})
	defer rdb.Close()
	line, err := rdb.Do(ctx, "CLIENT", "INFO").Text()
	if err != nil {
		t.Fatal(err)
	}
	redisKeys, _ := parseClientLine(t, strings.TrimSuffix(line, "\n"))
	if !slices.Equal(redisKeys, clientListFields[:len(redisKeys)]) {
		t.Fatalf("redis-server's CLIENT INFO fields %v are not a prefix of Riot's %v", redisKeys, clientListFields)
	}
}

// info is a parsed INFO reply.
type info struct {
	sections []string                     // headers in order
	fields   map[string]map[string]string // section (lower case) -> field -> value
}

func parseInfo(t testing.TB, text string) info {
	t.Helper()
	in := info{fields: make(map[string]map[string]string)}
	if text == "" {
		return in
	}
	if !strings.HasSuffix(text, "\r\n") || strings.Contains(strings.ReplaceAll(text, "\r\n", ""), "\n") {
		t.Fatalf("INFO lines must end in CRLF: %q", text)
	}
	var cur map[string]string
	lines := strings.Split(strings.TrimSuffix(text, "\r\n"), "\r\n")
	for i, line := range lines {
		switch {
		case strings.HasPrefix(line, "# "):
			if i > 0 && lines[i-1] != "" {
				t.Fatalf("INFO section %q does not follow a blank line", line)
			}
			in.sections = append(in.sections, line[2:])
			cur = make(map[string]string)
			in.fields[strings.ToLower(line[2:])] = cur
		case line == "":
			if i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], "# ") {
				t.Fatalf("blank INFO line %d not followed by a section header", i)
			}
		default:
			k, v, ok := strings.Cut(line, ":")
			if !ok || cur == nil {
				t.Fatalf("INFO line %q is not field:value inside a section", line)
			}
			if _, dup := cur[k]; dup {
				t.Fatalf("INFO field %q repeated", k)
			}
			cur[k] = v
		}
	}
	return in
}

func mustInfo(t testing.TB, rdb *redis.Client, sections ...string) info {
	t.Helper()
	text, err := rdb.Info(testContext(t), sections...).Result()
	if err != nil {
		t.Fatalf("INFO %v: %v", sections, err)
	}
	return parseInfo(t, text)
}

var defaultSections = []string{"Server", "Clients", "Memory", "Persistence", "Stats", "Replication", "CPU", "Cluster", "Keyspace", "Raft", "Engine", "Errorstats"}

func TestInfoSections(t *testing.T) {
	n := mustNode(t)
	s := mustServer(t, n, Config{})
	rdb := mustClient(t, s, nil)
	allSections := append(slices.Clone(defaultSections), "Commandstats")
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{nil, defaultSections},
		{[]string{"default"}, defaultSections},
		{[]string{"all"}, allSections},
		{[]string{"EVERYTHING"}, allSections},
		{[]string{"server", "all"}, allSections},
		{[]string{"default", "commandstats"}, allSections},
	} {
		if got := mustInfo(t, rdb, tc.args...).sections; !slices.Equal(got, tc.want) {
			t.Errorf("INFO %v sections = %v, want %v", tc.args, got, tc.want)
		}
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"server"}, []string{"Server"}},
		{[]string{"KEYSPACE", "Clients"}, []string{"Clients", "Keyspace"}},
		{[]string{"raft", "nosuch", "replication"}, []string{"Replication", "Raft"}},
		{[]string{"nosuch"}, nil},
	} {
		if got := mustInfo(t, rdb, tc.args...).sections; !slices.Equal(got, tc.want) {
			t.Errorf("INFO %v sections = %v, want %v", tc.args, got, tc.want)
		}
	}

	in := mustInfo(t, rdb)
	srv := in.fields["server"]
	_, port, _ := net.SplitHostPort(s.Addr())
	for k, v := range map[string]string{
		"redis_version": helloVersion, "redis_mode": "standalone", "tcp_port": port,
		"process_id": strconv.Itoa(os.Getpid()), "arch_bits": strconv.Itoa(strconv.IntSize),
	} {
		if srv[k] != v {
			t.Errorf("INFO server %s = %q, want %q", k, srv[k], v)
		}
	}
	if !regexp.MustCompile(`^[0-9a-f]{40}$`).MatchString(srv["run_id"]) {
		t.Errorf("run_id = %q, want 40 hex digits", srv["run_id"])
	}
	if again := mustInfo(t, rdb, "server").fields["server"]["run_id"]; again != srv["run_id"] {
		t.Errorf("run_id changed from %s to %s", srv["run_id"], again)
	}
	if srv["riot_version"] == "" || srv["uptime_in_seconds"] == "" || srv["go_version"] == "" {
		t.Errorf("INFO server lacks riot_version, uptime or go_version: %v", srv)
	}
	if us, err := strconv.ParseInt(srv["server_time_usec"], 10, 64); err != nil || absDuration(time.Since(time.UnixMicro(us))) > time.Minute {
		t.Errorf("server_time_usec = %q, want the current time", srv["server_time_usec"])
	}
	if used, err := strconv.ParseInt(in.fields["memory"]["used_memory"], 10, 64); err != nil || used <= 0 {
		t.Errorf("used_memory = %q, want the heap size", in.fields["memory"]["used_memory"])
	}
	if got := in.fields["memory"]["maxmemory_policy"]; got != "noeviction" {
		t.Errorf("maxmemory_policy = %q", got)
	}
	if got := in.fields["persistence"]["loading"]; got != "0" {
		t.Errorf("loading = %q, want 0", got)
	}
	if got := in.fields["cluster"]["cluster_enabled"]; got != "0" {
		t.Errorf("cluster_enabled = %q, want 0", got)
	}
}

// INFO engine describes the write-behind buffer and the read cache when the
// engine has them, and says so when it has not.
func TestInfoEngine(t *testing.T) {
	bare := mustInfo(t, mustClient(t, mustServer(t, mustNode(t), Config{}), nil), "engine").fields["engine"]
	if !maps.Equal(bare, map[string]string{"engine_write_behind": "0", "engine_read_cache": "0"}) {
		t.Fatalf("INFO engine of a bare engine = %v", bare)
	}

	e, err := storage.OpenWith(storage.EngineMemory, "", storage.Options{CacheBytes: 1 << 20, WriteBehindBytes: 4 << 10})
	if err != nil {
		t.Fatal(err)
	}
	rdb := mustClient(t, mustServer(t, mustNodeOn(t, e), Config{}), nil)
	num := func(fields map[string]string, k string) int64 {
		t.Helper()
		v, err := strconv.ParseInt(fields[k], 10, 64)
		if err != nil {
			t.Fatalf("INFO engine %s = %q: %v", k, fields[k], err)
		}
		return v
	}
	st := mustInfo(t, rdb, "engine").fields["engine"]
	for k, want := range map[string]string{
		"engine_write_behind": "1", "engine_write_behind_window_bytes": "4096",
		"engine_write_behind_buffered_bytes": "0", "engine_write_behind_queued_windows": "0",
		"engine_write_behind_flushes": "0", "engine_write_behind_last_flush_usec": "0",
		"engine_write_behind_stalls": "0", "engine_write_behind_stalled_usec": "0",
		"engine_write_behind_urgent_flushes": "0", "engine_write_behind_status": "ok",
		"engine_read_cache":           "1",
		"engine_read_cache_max_bytes": "1048576", "engine_read_cache_complete": "1",
	} {
		if st[k] != want {
			t.Errorf("fresh INFO engine %s = %q, want %q", k, st[k], want)
		}
	}
	ctx := testContext(t)
	for i := 0; num(st, "engine_write_behind_flushes") == 0; i++ {
		if i == 1000 {
			t.Fatalf("no window written after %d SETs: %v", i, st)
		}
		if err := rdb.Set(ctx, fmt.Sprintf("key:%d", i), strings.Repeat("v", 64), 0).Err(); err != nil {
			t.Fatal(err)
		}
		st = mustInfo(t, rdb, "engine").fields["engine"]
		if i == 0 && num(st, "engine_write_behind_buffered_bytes") == 0 {
			t.Fatalf("a SET buffered nothing: %v", st)
		}
	}
	if num(st, "engine_read_cache_bytes") == 0 || st["engine_read_cache_complete"] != "1" {
		t.Errorf("after a window was written: %v", st)
	}
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

func TestInfoClientsAndStats(t *testing.T) {
	s := mustServer(t, mustNode(t), Config{MaxClients: 50})
	a := mustRawConn(t, s.Addr())
	// Unknown commands and arity errors are not counted, as in Redis; the
	// counters restart at RESETSTAT, which counts itself.
	a.send(t, "PING\r\nPING\r\nNOSUCH\r\nGET\r\nCONFIG RESETSTAT\r\nPING\r\n")
	a.expect(t, "+PONG\r\n+PONG\r\n-ERR unknown command 'NOSUCH', with args beginning with: \r\n"+
		"-ERR wrong number of arguments for 'get' command\r\n+OK\r\n+PONG\r\n")
	stats := func(want map[string]map[string]string) {
		t.Helper()
		a.send(t, "INFO clients stats\r\n")
		in := parseInfo(t, readBulk(t, a))
		for sec, fields := range want {
			for k, v := range fields {
				if got := in.fields[sec][k]; got != v {
					t.Errorf("INFO %s %s = %q, want %q", sec, k, got, v)
				}
			}
		}
	}
	// INFO does not count itself.
	stats(map[string]map[string]string{
		"clients": {"connected_clients": "1", "maxclients": "50", "blocked_clients": "0"},
		"stats":   {"total_commands_processed": "2", "total_connections_received": "0", "rejected_connections": "0"},
	})
	b := mustRawConn(t, s.Addr())
	b.send(t, "PING\r\n")
	b.expect(t, "+PONG\r\n")
	stats(map[string]map[string]string{
		"clients": {"connected_clients": "2"},
		"stats":   {"total_commands_processed": "4", "total_connections_received": "1"},
	})
}

func TestInfoKeyspaceAndDBSize(t *testing.T) {
	n := mustNode(t)
	s := mustServer(t, n, Config{})
	rdb := mustClient(t, s, nil)
	ctx := testContext(t)
	if got := mustInfo(t, rdb, "keyspace").fields["keyspace"]; len(got) != 0 {
		t.Fatalf("INFO keyspace of an empty database = %v, want no db line", got)
	}
	if got, err := rdb.DBSize(ctx).Result(); err != nil || got != 0 {
		t.Fatalf("DBSIZE = %d, %v; want 0", got, err)
	}
	for _, k := range []string{"a", "b", "c"} {
		if err := rdb.Set(ctx, k, "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := rdb.Set(ctx, "ttl", "v", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	if got := mustInfo(t, rdb, "keyspace").fields["keyspace"]["db0"]; got != "keys=4,expires=1,avg_ttl=0" {
		t.Errorf("INFO keyspace db0 = %q, want keys=4,expires=1,avg_ttl=0", got)
	}
	n.set(func(n *testNode) { n.consist = cluster.Lease })
	if got, err := rdb.DBSize(ctx).Result(); err != nil || got != 4 {
		t.Fatalf("DBSIZE = %d, %v; want 4", got, err)
	}
	if lvl, _ := n.lastRead(); lvl != cluster.Lease {
		t.Errorf("DBSIZE read at %v, want the connection's level (lease)", lvl)
	}
	n.set(func(n *testNode) { n.readErr = cluster.ErrNoLeader })
	if err := rdb.DBSize(ctx).Err(); err == nil || err.Error() != ErrTextClusterDown {
		t.Errorf("DBSIZE without a leader = %v, want %q", err, ErrTextClusterDown)
	}
}

func TestInfoReplicationAndRole(t *testing.T) {
	n := mustNode(t)
	s := mustServer(t, n, Config{})
	rdb := mustClient(t, s, nil)
	ctx := testContext(t)
	for i := range 3 {
		if err := rdb.Incr(ctx, "n").Err(); err != nil {
			t.Fatalf("INCR %d: %v", i, err)
		}
	}

	// The leader, alone.
	in := mustInfo(t, rdb, "replication", "raft")
	repl := in.fields["replication"]
	if repl["role"] != "master" || repl["connected_slaves"] != "0" || repl["master_repl_offset"] != "3" {
		t.Errorf("INFO replication of a lone leader = %v", repl)
	}
	role, err := rdb.Do(ctx, "ROLE").Slice()
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(role) != "[master 3 []]" {
		t.Errorf("ROLE of a lone leader = %v, want [master 3 []]", role)
	}

	// The leader with two followers; one has no RESP address yet and is left
	// out until its metadata is replicated.
	n.set(func(n *testNode) {
		n.members = append(n.members,
			cluster.Member{ID: "n2", RESPAddr: "127.0.0.1:7001", Role: cluster.RoleFollower, Voter: true},
			cluster.Member{ID: "n3", Role: cluster.RoleFollower, Voter: true},
			cluster.Member{ID: "n4", RESPAddr: "10.0.0.4:7003", Role: cluster.RoleFollower})
	})
	repl = mustInfo(t, rdb, "replication").fields["replication"]
	for k, v := range map[string]string{
		"role": "master", "connected_slaves": "2",
		"slave0": "ip=127.0.0.1,port=7001,state=online,offset=0,lag=0",
		"slave1": "ip=10.0.0.4,port=7003,state=online,offset=0,lag=0",
	} {
		if repl[k] != v {
			t.Errorf("INFO replication %s = %q, want %q", k, repl[k], v)
		}
	}
	role, err = rdb.Do(ctx, "ROLE").Slice()
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(role) != "[master 3 [[127.0.0.1 7001 0] [10.0.0.4 7003 0]]]" {
		t.Errorf("ROLE of a leader = %v", role)
	}

	// A follower of n2.
	n.set(func(n *testNode) {
		n.role = cluster.RoleFollower
		n.members[0].Role = cluster.RoleFollower
		n.members[1].Role = cluster.RoleLeader
	})
	in = mustInfo(t, rdb, "replication", "raft")
	for k, v := range map[string]string{
		"role": "slave", "master_host": "127.0.0.1", "master_port": "7001", "master_link_status": "up",
		"slave_repl_offset": "3", "master_repl_offset": "3", "connected_slaves": "0", "slave_read_only": "0",
	} {
		if got := in.fields["replication"][k]; got != v {
			t.Errorf("INFO replication of a follower: %s = %q, want %q", k, got, v)
		}
	}
	for k, v := range map[string]string{
		"raft_node_id": "n1", "raft_state": "follower", "raft_leader_id": "n2",
		"raft_leader_resp_addr": "127.0.0.1:7001", "raft_applied_index": "3", "raft_members": "4",
	} {
		if got := in.fields["raft"][k]; got != v {
			t.Errorf("INFO raft of a follower: %s = %q, want %q", k, got, v)
		}
	}
	role, err = rdb.Do(ctx, "ROLE").Slice()
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(role) != "[slave 127.0.0.1 7001 connected 3]" {
		t.Errorf("ROLE of a follower = %v", role)
	}

	// A follower that knows no leader.
	n.set(func(n *testNode) { n.noLeader = true })
	repl = mustInfo(t, rdb, "replication").fields["replication"]
	if repl["role"] != "slave" || repl["master_link_status"] != "down" || repl["master_host"] != "" {
		t.Errorf("INFO replication without a leader = %v", repl)
	}
	role, err = rdb.Do(ctx, "ROLE").Slice()
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(role) != "[slave  0 connect 3]" {
		t.Errorf("ROLE without a leader = %q", fmt.Sprint(role))
	}
}

func TestInfoReadConsistency(t *testing.T) {
	n := mustNode(t)
	n.consist = cluster.Lease
	s := mustServer(t, n, Config{})
	rdb := mustClient(t, s, &redis.Options{PoolSize: 1})
	ctx := testContext(t)
	raft := mustInfo(t, rdb, "raft").fields["raft"]
	if raft["read_consistency"] != "lease" || raft["connection_read_consistency"] != "lease" {
		t.Errorf("INFO raft read levels = %q, %q; want lease, lease", raft["read_consistency"], raft["connection_read_consistency"])
	}
	if err := rdb.ReadOnly(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	raft = mustInfo(t, rdb, "raft").fields["raft"]
	if raft["read_consistency"] != "lease" || raft["connection_read_consistency"] != "stale" {
		t.Errorf("after READONLY: %q, %q; want lease, stale", raft["read_consistency"], raft["connection_read_consistency"])
	}
	if got, err := rdb.ConfigGet(ctx, "read-consistency").Result(); err != nil || got["read-consistency"] != "lease" {
		t.Errorf("CONFIG GET read-consistency = %v, %v; want lease", got, err)
	}
}

func TestConfigGetValues(t *testing.T) {
	s := mustServer(t, mustNode(t), Config{MaxValueSize: 1 << 20, MaxClients: 123})
	rdb := mustClient(t, s, nil)
	ctx := testContext(t)
	all, err := rdb.ConfigGet(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(s.Addr())
	for k, v := range map[string]string{
		"port": port, "bind": host, "proto-max-bulk-len": "1048576", "maxclients": "123",
		"save": "", "appendonly": "yes", "databases": "1", "maxmemory": "0", "timeout": "0",
		"replica-read-only": "no", "slave-read-only": "no", "read-consistency": "linearizable",
	} {
		if got, ok := all[k]; !ok || got != v {
			t.Errorf("CONFIG GET * %s = %q (present %v), want %q", k, got, ok, v)
		}
	}
	if len(all) != len(configParams)+1 { // + the alias
		t.Errorf("CONFIG GET * returned %d parameters, want %d", len(all), len(configParams)+1)
	}
	got, err := rdb.Do(ctx, "CONFIG", "GET", "max*", "maxclients", "port").StringSlice()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"maxclients", "123", "maxmemory", "0", "maxmemory-policy", "noeviction", "port", port}
	if !slices.Equal(got, want) {
		t.Errorf("CONFIG GET max* maxclients port = %q, want %q (no duplicates)", got, want)
	}
	if err := rdb.ConfigSet(ctx, "maxmemory", "1gb").Err(); err == nil || err.Error() != errTextConfigSet {
		t.Errorf("CONFIG SET maxmemory = %v, want %q", err, errTextConfigSet)
	}
}

func TestGlobMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		nocase     bool
		want       bool
	}{
		{"*", "", false, true},
		{"*", "anything", false, true},
		{"max*", "maxmemory", false, true},
		{"*mem*", "maxmemory-policy", false, true},
		{"*-policy", "maxmemory-policy", false, true},
		{"*-policy", "maxmemory", false, false},
		{"m?x*", "maxclients", false, true},
		{"m?x", "maxclients", false, false},
		{"[ab]*", "bind", false, true},
		{"[^ab]*", "bind", false, false},
		{"[a-c]ind", "bind", false, true},
		{"[c-a]ind", "bind", false, true},
		{"[a-c]ind", "Bind", false, false},
		{"[a-c]ind", "Bind", true, true},
		{"MAX*", "maxclients", true, true},
		{"MAX*", "maxclients", false, false},
		{`a\*b`, "a*b", false, true},
		{`a\*b`, "axb", false, false},
		{`ab\`, `ab\`, false, true},
		{"a*b*c", "aXbYbZc", false, true},
		{"a*b*c", "aXbYbZ", false, false},
		{"[abc", "a", false, true},
		{"", "", false, true},
		{"", "a", false, false},
	}
	for _, tc := range tests {
		if got := globMatch(tc.pattern, tc.s, tc.nocase); got != tc.want {
			t.Errorf("globMatch(%q, %q, %v) = %v, want %v", tc.pattern, tc.s, tc.nocase, got, tc.want)
		}
	}
}

func TestTime(t *testing.T) {
	s := mustServer(t, mustNode(t), Config{})
	rdb := mustClient(t, s, nil)
	before := time.Now().Truncate(time.Microsecond)
	got, err := rdb.Time(testContext(t)).Result()
	after := time.Now()
	if err != nil {
		t.Fatal(err)
	}
	if got.Before(before) || got.After(after) {
		t.Errorf("TIME = %v, want between %v and %v", got, before, after)
	}
	raw, err := rdb.Do(testContext(t), "TIME").Slice()
	if err != nil || len(raw) != 2 {
		t.Fatalf("TIME = %v, %v", raw, err)
	}
	for _, v := range raw {
		if _, ok := v.(string); !ok {
			t.Errorf("TIME element %v is %T, want a bulk string", v, v)
		}
	}
}

func TestMaxClients(t *testing.T) {
	s := mustServer(t, mustNode(t), Config{MaxClients: 2})
	a := mustRawConn(t, s.Addr())
	b := mustRawConn(t, s.Addr())
	for _, c := range []*rawConn{a, b} {
		c.send(t, "PING\r\n")
		c.expect(t, "+PONG\r\n")
	}
	c := mustRawConn(t, s.Addr())
	c.expect(t, "-"+errTextMaxClients+"\r\n")
	c.expectClosed(t)
	a.send(t, "INFO stats\r\n")
	reply := readBulk(t, a)
	if st := parseInfo(t, reply).fields["stats"]; st["rejected_connections"] != "1" || st["total_connections_received"] != "2" {
		t.Errorf("INFO stats after a refused connection = %v", st)
	}
	// A closed connection frees its slot.
	b.Close()
	eventually(t, func() error {
		conn, err := net.DialTimeout("tcp", s.Addr(), time.Second)
		if err != nil {
			return err
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := conn.Write([]byte("PING\r\n")); err != nil {
			return err
		}
		buf := make([]byte, 7)
		n, err := conn.Read(buf)
		if string(buf[:n]) != "+PONG\r\n" {
			return fmt.Errorf("read %q, %v", buf[:n], err)
		}
		return nil
	})
}

// readBulk reads one bulk string reply from c.
func readBulk(t testing.TB, c *rawConn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	header, err := c.rd.ReadString('\n')
	if err != nil || !strings.HasPrefix(header, "$") {
		t.Fatalf("read bulk header %q: %v", header, err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(header[1:]))
	if err != nil {
		t.Fatalf("bulk header %q: %v", header, err)
	}
	buf := make([]byte, n+2)
	if _, err := io.ReadFull(c.rd, buf); err != nil {
		t.Fatalf("read bulk: %v", err)
	}
	return string(buf[:n])
}

func TestReset(t *testing.T) {
	n := mustNode(t)
	n.consist = cluster.Lease
	var hooks atomic.Int32
	s := mustServerWith(t, n, Config{}, func(s *Server) {
		s.cmds.onReset(func(c *client) { hooks.Add(1) })
	})
	rdb := mustClient(t, s, &redis.Options{PoolSize: 1, Protocol: 2, DisableIdentity: true})
	ctx := testContext(t)
	id, err := rdb.ClientID(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, cmd := range [][]any{{"CLIENT", "SETNAME", "named"}, {"READONLY"}} {
		if err := rdb.Do(ctx, cmd...).Err(); err != nil {
			t.Fatalf("%v: %v", cmd, err)
		}
	}
	if got, err := rdb.Do(ctx, "RESET").Text(); err != nil || got != "RESET" {
		t.Fatalf("RESET = %q, %v; want RESET", got, err)
	}
	if hooks.Load() != 1 {
		t.Errorf("reset hooks ran %d times, want 1", hooks.Load())
	}
	if got, err := rdb.ClientGetName(ctx).Result(); !errors.Is(err, redis.Nil) {
		t.Errorf("CLIENT GETNAME after RESET = %q, %v; want nil", got, err)
	}
	if err := rdb.Get(ctx, "k").Err(); !errors.Is(err, redis.Nil) {
		t.Fatal(err)
	}
	if lvl, _ := n.lastRead(); lvl != cluster.Lease {
		t.Errorf("read after RESET at %v, want the server default (lease): READONLY is cleared", lvl)
	}
	if got, err := rdb.ClientID(ctx).Result(); err != nil || got != id {
		t.Errorf("CLIENT ID after RESET = %d, %v; want %d (same connection)", got, err, id)
	}
	info, err := rdb.Do(ctx, "CLIENT", "INFO").Text()
	if err != nil {
		t.Fatal(err)
	}
	if line := parseClientList(t, info)[0]; line["flags"] != "N" || line["name"] != "" {
		t.Errorf("CLIENT INFO after RESET = %v; want flags=N, no name", line)
	}
}

func TestCommandIntrospection(t *testing.T) {
	s := mustServer(t, mustNode(t), Config{})
	rdb := mustClient(t, s, nil)
	ctx := testContext(t)

	// go-redis parses COMMAND (its cluster client relies on it).
	cmds, err := rdb.Command(ctx).Result()
	if err != nil {
		t.Fatalf("COMMAND through go-redis: %v", err)
	}
	get := cmds["get"]
	if get == nil || !get.ReadOnly || get.FirstKeyPos != 1 || get.LastKeyPos != 1 || !slices.Contains(get.ACLFlags, "@read") {
		t.Errorf("COMMAND get = %+v", get)
	}
	if set := cmds["set"]; set == nil || set.ReadOnly || !slices.Contains(set.Flags, "write") {
		t.Errorf("COMMAND set = %+v", set)
	}
	count, err := rdb.Do(ctx, "COMMAND", "COUNT").Int64()
	if err != nil || count != int64(len(cmds)) || count != int64(len(s.cmds.order)) {
		t.Errorf("COMMAND COUNT = %d, %v; COMMAND lists %d, the table has %d", count, err, len(cmds), len(s.cmds.order))
	}
	names, err := rdb.CommandList(ctx, nil).Result()
	if err != nil {
		t.Fatal(err)
	}
	top, subs := 0, 0
	for _, name := range names {
		if strings.Contains(name, "|") {
			subs++
		} else {
			top++
		}
	}
	if top != int(count) || subs == 0 || !slices.Contains(names, "client|list") {
		t.Errorf("COMMAND LIST has %d commands and %d subcommands; want %d and client|list among them", top, subs, count)
	}
	dangerous, err := rdb.CommandList(ctx, &redis.FilterBy{ACLCat: "dangerous"}).Result()
	if err != nil || !slices.Contains(dangerous, "config|get") || !slices.Contains(dangerous, "cluster|join") || slices.Contains(dangerous, "get") {
		t.Errorf("COMMAND LIST FILTERBY ACLCAT dangerous = %v, %v", dangerous, err)
	}
	keys, err := rdb.CommandGetKeys(ctx, "set", "k", "v").Result()
	if err != nil || !slices.Equal(keys, []string{"k"}) {
		t.Errorf("COMMAND GETKEYS set k v = %v, %v", keys, err)
	}

	// COMMAND DOCS documents every command, with its group.
	docs, err := rdb.Do(ctx, "COMMAND", "DOCS").Slice()
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 2*int(count) {
		t.Fatalf("COMMAND DOCS has %d elements, want %d", len(docs), 2*count)
	}
	for i := 0; i < len(docs); i += 2 {
		doc, ok := docs[i+1].([]any)
		if !ok || !slices.Contains(doc, any("group")) {
			t.Errorf("COMMAND DOCS %v = %v, want a map with a group", docs[i], docs[i+1])
		}
	}
}

// TestGoRedisLogsNothing connects go-redis with its defaults (HELLO 3, the
// fallback to RESP2, CLIENT SETINFO, the maintenance-notification probe) and
// with RESP2, runs the introspection commands, and checks that go-redis
// logged nothing: a handshake problem would show up there.
func TestGoRedisLogsNothing(t *testing.T) {
	logs := &captureLogger{}
	redis.SetLogger(logs)
	t.Cleanup(func() { redis.SetLogger(stderrLogger{}) })
	s := mustServer(t, mustNode(t), Config{})
	ctx := testContext(t)
	for _, opt := range []*redis.Options{{ClientName: "probe"}, {Protocol: 2}, {Protocol: 3, PoolSize: 4}} {
		rdb := mustClient(t, s, opt)
		if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			p.Ping(ctx)
			p.Set(ctx, "k", "v", 0)
			p.Get(ctx, "k")
			p.Info(ctx)
			p.ClientList(ctx)
			p.ClientInfo(ctx)
			p.ConfigGet(ctx, "*")
			p.DBSize(ctx)
			p.Time(ctx)
			p.Command(ctx)
			return nil
		}); err != nil {
			t.Fatalf("pipeline with %+v: %v", opt, err)
		}
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rdb.Ping(ctx)
			}()
		}
		wg.Wait()
		rdb.Close()
	}
	if got := logs.String(); got != "" {
		t.Errorf("go-redis logged:\n%s", got)
	}
}

type captureLogger struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (l *captureLogger) Printf(_ context.Context, format string, v ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(&l.buf, format+"\n", v...)
}

func (l *captureLogger) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// stderrLogger is what go-redis logs through after the test: standard error.
type stderrLogger struct{}

func (stderrLogger) Printf(_ context.Context, format string, v ...any) {
	fmt.Fprintf(os.Stderr, "redis: "+format+"\n", v...)
}
