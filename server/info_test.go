package server_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/riot-kv/riot-redis/internal/testcluster"
)

// parseInfo returns an INFO reply's fields by lower-case section name.
func parseInfo(t *testing.T, text string) map[string]map[string]string {
	t.Helper()
	out := make(map[string]map[string]string)
	var cur map[string]string
	for _, line := range strings.Split(text, "\r\n") {
		switch {
		case strings.HasPrefix(line, "# "):
			cur = make(map[string]string)
			out[strings.ToLower(line[2:])] = cur
		case line == "":
		default:
			k, v, ok := strings.Cut(line, ":")
			if !ok || cur == nil {
				t.Fatalf("INFO line %q is not field:value inside a section", line)
			}
			cur[k] = v
		}
	}
	return out
}

// raftCounters reads the named counters of c's INFO raft section, failing
// the test if one is missing or not a number.
func raftCounters(t *testing.T, ctx context.Context, c *redis.Client, fields ...string) []uint64 {
	t.Helper()
	in := parseInfo(t, c.Info(ctx, "raft").Val())["raft"]
	out := make([]uint64, len(fields))
	for i, f := range fields {
		v, err := strconv.ParseUint(in[f], 10, 64)
		if err != nil {
			t.Fatalf("INFO raft %s: %v (section %v)", f, err, in)
		}
		out[i] = v
	}
	return out
}

// TestInfoAndRoleInCluster checks that INFO replication, INFO raft and ROLE
// name each node's role and the leader's address, on the leader and on the
// followers of a 3-node cluster.
func TestInfoAndRoleInCluster(t *testing.T) {
	c := testcluster.New(t, 3, testcluster.Options{})
	leader := c.WaitForLeader(20 * time.Second)
	followers := c.MustFollowers(2)
	ctx := ctxT(t, 30*time.Second)
	for i := range 5 {
		if err := followers[0].Client().Set(ctx, fmt.Sprintf("info:%d", i), "v", 0).Err(); err != nil {
			t.Fatalf("SET on follower: %v", err)
		}
	}
	leaderHost, leaderPort, _ := net.SplitHostPort(leader.Cfg.RESPAddr)
	var followerAddrs []string
	for _, f := range followers {
		followerAddrs = append(followerAddrs, f.Cfg.RESPAddr)
	}
	slices.Sort(followerAddrs)

	// The leader.
	text, err := leader.Client().Info(ctx, "replication", "raft", "keyspace").Result()
	if err != nil {
		t.Fatal(err)
	}
	in := parseInfo(t, text)
	repl, raft := in["replication"], in["raft"]
	if repl["role"] != "master" || repl["connected_slaves"] != "2" {
		t.Errorf("INFO replication on the leader = %v; want role:master, connected_slaves:2", repl)
	}
	var listed []string
	for i := range 2 {
		fields := make(map[string]string)
		for _, kv := range strings.Split(repl["slave"+strconv.Itoa(i)], ",") {
			k, v, _ := strings.Cut(kv, "=")
			fields[k] = v
		}
		listed = append(listed, net.JoinHostPort(fields["ip"], fields["port"]))
		if fields["state"] != "online" {
			t.Errorf("slave%d = %q, want state=online", i, repl["slave"+strconv.Itoa(i)])
		}
	}
	slices.Sort(listed)
	if !slices.Equal(listed, followerAddrs) {
		t.Errorf("INFO replication on the leader lists %v, want the followers %v", listed, followerAddrs)
	}
	for k, v := range map[string]string{
		"raft_node_id": leader.Cfg.ID, "raft_state": "leader", "raft_leader_id": leader.Cfg.ID,
		"raft_leader_resp_addr": leader.Cfg.RESPAddr, "raft_leader_raft_addr": leader.Cfg.RaftAddr,
		"raft_num_peers": "2", "raft_members": "3", "read_consistency": "linearizable",
	} {
		if raft[k] != v {
			t.Errorf("INFO raft on the leader: %s = %q, want %q", k, raft[k], v)
		}
	}
	// The leader has applied the acknowledged writes.
	if got := in["keyspace"]["db0"]; got != "keys=5,expires=0,avg_ttl=0" {
		t.Errorf("INFO keyspace on the leader = %q, want keys=5,expires=0,avg_ttl=0", got)
	}
	commit, err1 := strconv.ParseUint(raft["raft_commit_index"], 10, 64)
	applied, err2 := strconv.ParseUint(raft["raft_applied_index"], 10, 64)
	if err1 != nil || err2 != nil || applied == 0 || applied > commit {
		t.Errorf("INFO raft on the leader: commit_index %q, applied_index %q", raft["raft_commit_index"], raft["raft_applied_index"])
	}

	role, err := leader.Client().Do(ctx, "ROLE").Slice()
	if err != nil {
		t.Fatal(err)
	}
	if len(role) != 3 || role[0] != "master" {
		t.Fatalf("ROLE on the leader = %v, want [master offset replicas]", role)
	}
	if off, ok := role[1].(int64); !ok || off < int64(applied) {
		t.Errorf("ROLE offset on the leader = %v, want the last log index (>= %d)", role[1], applied)
	}
	replicas, ok := role[2].([]any)
	if !ok || len(replicas) != 2 {
		t.Fatalf("ROLE replicas on the leader = %v, want 2", role[2])
	}
	listed = nil
	for _, r := range replicas {
		e, ok := r.([]any)
		if !ok || len(e) != 3 {
			t.Fatalf("ROLE replica entry %v, want [ip port offset]", r)
		}
		host, _ := e[0].(string)
		port, _ := e[1].(string)
		if _, ok := e[2].(string); !ok {
			t.Errorf("ROLE replica offset %v is %T, want a bulk string", e[2], e[2])
		}
		listed = append(listed, net.JoinHostPort(host, port))
	}
	slices.Sort(listed)
	if !slices.Equal(listed, followerAddrs) {
		t.Errorf("ROLE on the leader lists %v, want %v", listed, followerAddrs)
	}

	// The followers.
	for _, f := range followers {
		text, err := f.Client().Info(ctx, "replication", "raft").Result()
		if err != nil {
			t.Fatal(err)
		}
		in := parseInfo(t, text)
		for k, v := range map[string]string{
			"role": "slave", "master_host": leaderHost, "master_port": leaderPort,
			"master_link_status": "up", "connected_slaves": "0",
		} {
			if got := in["replication"][k]; got != v {
				t.Errorf("INFO replication on follower %s: %s = %q, want %q", f.Cfg.ID, k, got, v)
			}
		}
		for k, v := range map[string]string{
			"raft_node_id": f.Cfg.ID, "raft_state": "follower", "raft_leader_id": leader.Cfg.ID,
			"raft_leader_resp_addr": leader.Cfg.RESPAddr, "raft_members": "3",
		} {
			if got := in["raft"][k]; got != v {
				t.Errorf("INFO raft on follower %s: %s = %q, want %q", f.Cfg.ID, k, got, v)
			}
		}
		// Each follower synced the entries it acknowledged.
		if v := raftCounters(t, ctx, f.Client(), "raft_log_fsyncs", "raft_log_fsync_usec", "raft_log_fsync_last_usec"); v[0] == 0 || v[1] == 0 || v[2] > v[1] {
			t.Errorf("INFO raft on follower %s: fsyncs %d, fsync_usec %d, fsync_last_usec %d", f.Cfg.ID, v[0], v[1], v[2])
		}
		// It holds the entries, well under the byte bound.
		if v := raftCounters(t, ctx, f.Client(), "raft_log_bytes", "raft_log_bound_snapshots"); v[0] == 0 || v[1] != 0 {
			t.Errorf("INFO raft on follower %s: log_bytes %d, log_bound_snapshots %d", f.Cfg.ID, v[0], v[1])
		}
		role, err := f.Client().Do(ctx, "ROLE").Slice()
		if err != nil {
			t.Fatal(err)
		}
		if len(role) != 5 || role[0] != "slave" || role[1] != leaderHost || fmt.Sprint(role[2]) != leaderPort || role[3] != "connected" {
			t.Errorf("ROLE on follower %s = %v, want [slave %s %s connected offset]", f.Cfg.ID, role, leaderHost, leaderPort)
		}
		if _, ok := role[4].(int64); !ok {
			t.Errorf("ROLE offset on follower %s = %v (%T), want an integer", f.Cfg.ID, role[4], role[4])
		}
		// DBSIZE reads at the default (linearizable) level, so it sees
		// every acknowledged write, on followers too.
		if n, err := f.Client().DBSize(ctx).Result(); err != nil || n != 5 {
			t.Errorf("DBSIZE on follower %s = %d, %v; want 5", f.Cfg.ID, n, err)
		}
	}
}
