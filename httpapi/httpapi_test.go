package httpapi_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/riot-kv/riot-redis/httpapi"
	"github.com/riot-kv/riot-redis/internal/testcluster"
	"github.com/riot-kv/riot-redis/server"
)

// TestHTTPAPI runs every endpoint against one in-process 3-node cluster
// (real nodes, real TCP, real disk). The last subtest breaks the cluster.
func TestHTTPAPI(t *testing.T) {
	c := testcluster.New(t, 3, testcluster.Options{})
	leader := c.WaitForLeader(20 * time.Second)
	followers := c.MustFollowers(2)
	f := followers[0]

	t.Run("OriginalRiot", func(t *testing.T) {
		e := mustEnvelope(t, mustDo(t, "POST", httpAddr(f), "/riot?key=orig", []byte("v1")), "POST /riot on a follower")
		if e.Results != "OK" {
			t.Fatalf("POST /riot results %v, want OK", e.Results)
		}
		for _, n := range c.Nodes {
			r := mustDo(t, "GET", httpAddr(n), "/riot?key=orig", nil)
			mustStatus(t, r, http.StatusOK, "GET /riot on "+n.Cfg.ID)
			if string(r.body) != "v1" {
				t.Fatalf("GET /riot on %s = %q, want v1", n.Cfg.ID, r.body)
			}
		}
		bin := []byte("a\x00b\xffc\r\n")
		mustEnvelope(t, mustDo(t, "POST", httpAddr(leader), "/riot?key=bin", bin), "POST binary value")
		if r := mustDo(t, "GET", httpAddr(f), "/riot?key=bin", nil); string(r.body) != string(bin) {
			t.Fatalf("binary value round trip: got %q, want %q", r.body, bin)
		}

		for _, path := range []string{"/riot", "/riot?key="} {
			mustError(t, mustDo(t, "GET", httpAddr(f), path, nil), http.StatusBadRequest, httpapi.CodeInvalidKey, "invalid_key", "GET "+path)
			mustError(t, mustDo(t, "POST", httpAddr(f), path, []byte("x")), http.StatusBadRequest, httpapi.CodeInvalidKey, "invalid_key", "POST "+path)
			mustError(t, mustDo(t, "DELETE", httpAddr(f), path, nil), http.StatusBadRequest, httpapi.CodeInvalidKey, "invalid_key", "DELETE "+path)
		}

		e = mustEnvelope(t, mustDo(t, "DELETE", httpAddr(f), "/riot?key=orig", nil), "DELETE /riot")
		if e.Results != float64(1) {
			t.Fatalf("DELETE /riot results %v, want 1", e.Results)
		}
		mustError(t, mustDo(t, "GET", httpAddr(leader), "/riot?key=orig", nil), http.StatusNotFound, httpapi.CodeNotFound, "not_found", "GET deleted key")
		e = mustEnvelope(t, mustDo(t, "DELETE", httpAddr(f), "/riot?key=orig", nil), "DELETE /riot again")
		if e.Results != float64(0) {
			t.Fatalf("second DELETE /riot results %v, want 0", e.Results)
		}
	})

	t.Run("Admin", func(t *testing.T) {
		want := map[*testcluster.Node]string{leader: "Leader", followers[0]: "Follower", followers[1]: "Follower"}
		for n, role := range want {
			if e := mustEnvelope(t, mustDo(t, "GET", httpAddr(n), "/admin/status", nil), "status"); e.Results != role {
				t.Fatalf("/admin/status on %s = %v, want %s", n.Cfg.ID, e.Results, role)
			}
		}
		e := mustEnvelope(t, mustDo(t, "GET", httpAddr(f), "/admin/peer", nil), "peer")
		var got []string
		for _, p := range e.Results.([]any) {
			got = append(got, p.(string))
		}
		var wantPeers []string
		for _, n := range c.Nodes {
			wantPeers = append(wantPeers, n.Cfg.RaftAddr)
		}
		slices.Sort(got)
		slices.Sort(wantPeers)
		if !slices.Equal(got, wantPeers) {
			t.Fatalf("/admin/peer = %v, want %v", got, wantPeers)
		}
		if e := mustEnvelope(t, mustDo(t, "GET", httpAddr(f), "/admin/leader", nil), "leader"); e.Results != leader.Cfg.RaftAddr {
			t.Fatalf("/admin/leader = %v, want %s", e.Results, leader.Cfg.RaftAddr)
		}
		if e := mustEnvelope(t, mustDo(t, "GET", httpAddr(f), "/admin/snapshot", nil), "snapshot"); e.Results != "OK" {
			t.Fatalf("/admin/snapshot = %v, want OK", e.Results)
		}
		mustError(t, mustDo(t, "POST", httpAddr(f), "/admin/join", []byte(`{"raft_addr":"127.0.0.1:1"}`)),
			http.StatusBadRequest, httpapi.CodeOperation, "bad_request", "join without id")
		mustError(t, mustDo(t, "POST", httpAddr(f), "/admin/join", []byte(`{not json`)),
			http.StatusBadRequest, httpapi.CodeOperation, "bad_request", "join with a bad body")
		mustError(t, mustDo(t, "DELETE", httpAddr(f), "/admin/remove", nil),
			http.StatusBadRequest, httpapi.CodeOperation, "bad_request", "remove without id")
		mustError(t, mustDo(t, "DELETE", httpAddr(f), "/admin/remove?id=nobody", nil),
			http.StatusNotFound, httpapi.CodeNotFound, "unknown_node", "remove unknown id")
	})

	t.Run("KV", func(t *testing.T) {
		const path = "/v1/kv/dir/sub%20key"
		mustStatus(t, mustDo(t, "PUT", httpAddr(f), path, []byte("hello")), http.StatusNoContent, "PUT on a follower")
		for _, n := range c.Nodes {
			// Linearizable first: once it has returned, this node has applied
			// the write, so the lease and stale reads after it see it too.
			for _, q := range []string{"?consistency=linearizable", "?consistency=lease", "?consistency=stale", ""} {
				r := mustDo(t, "GET", httpAddr(n), path+q, nil)
				mustStatus(t, r, http.StatusOK, "GET "+path+q+" on "+n.Cfg.ID)
				if string(r.body) != "hello" {
					t.Fatalf("GET %s%s on %s = %q, want hello", path, q, n.Cfg.ID, r.body)
				}
			}
		}
		// The key is the unescaped rest of the path; /riot sees the same key.
		if r := mustDo(t, "GET", httpAddr(leader), "/riot?key=dir/sub+key", nil); string(r.body) != "hello" {
			t.Fatalf("GET /riot of a /v1/kv key = %v, want hello", r)
		}
		mustError(t, mustDo(t, "GET", httpAddr(f), path+"?consistency=sometimes", nil),
			http.StatusBadRequest, httpapi.CodeOperation, "bad_request", "bad consistency")
		mustError(t, mustDo(t, "GET", httpAddr(f), "/v1/kv/", nil),
			http.StatusBadRequest, httpapi.CodeInvalidKey, "invalid_key", "empty key")

		var del struct{ Deleted int64 }
		r := mustDo(t, "DELETE", httpAddr(f), path, nil)
		mustStatus(t, r, http.StatusOK, "DELETE")
		if mustJSON(t, r, &del); del.Deleted != 1 {
			t.Fatalf("DELETE = %v, want deleted 1", r)
		}
		mustError(t, mustDo(t, "GET", httpAddr(f), path, nil), http.StatusNotFound, httpapi.CodeNotFound, "not_found", "GET deleted")
		if mustJSON(t, mustDo(t, "DELETE", httpAddr(f), path, nil), &del); del.Deleted != 0 {
			t.Fatalf("second DELETE deleted %d, want 0", del.Deleted)
		}
	})

	t.Run("Cluster", func(t *testing.T) {
		var cs httpapi.ClusterStatus
		r := mustDo(t, "GET", httpAddr(f), "/v1/cluster", nil)
		mustStatus(t, r, http.StatusOK, "/v1/cluster")
		mustJSON(t, r, &cs)
		if len(cs.Members) != 3 || cs.Leader != leader.Cfg.ID || cs.ID != f.Cfg.ID || cs.Term == 0 || cs.CommitIndex == 0 {
			t.Fatalf("/v1/cluster = %s; want 3 members, leader %s, answered by %s", r.body, leader.Cfg.ID, f.Cfg.ID)
		}
		leaders := 0
		for _, m := range cs.Members {
			if m.Role == "leader" {
				leaders++
				if m.ID != leader.Cfg.ID {
					t.Fatalf("member %s has role leader; the leader is %s", m.ID, leader.Cfg.ID)
				}
			}
			if !m.Reachable || m.AppliedIndex == nil || *m.AppliedIndex == 0 || m.Lag == nil || m.CommitIndex == nil || m.HTTPAddr == "" {
				t.Fatalf("member %+v: want reachable, with applied index, lag and addresses", m)
			}
		}
		if leaders != 1 {
			t.Fatalf("/v1/cluster lists %d leaders, want 1: %s", leaders, r.body)
		}

		var st httpapi.Status
		mustJSON(t, mustDo(t, "GET", httpAddr(f), "/v1/status", nil), &st)
		if st.ID != f.Cfg.ID || st.Role != "follower" || st.Term == 0 || st.CommitIndex == 0 || st.AppliedIndex == 0 ||
			st.Leader == nil || st.Leader.ID != leader.Cfg.ID || st.Leader.HTTPAddr != leader.Cfg.HTTPAddr {
			t.Fatalf("/v1/status on %s = %+v", f.Cfg.ID, st)
		}
		var ms []httpapi.MemberInfo
		mustJSON(t, mustDo(t, "GET", httpAddr(leader), "/v1/cluster/members", nil), &ms)
		if len(ms) != 3 {
			t.Fatalf("/v1/cluster/members = %+v, want 3", ms)
		}
	})

	t.Run("Metrics", func(t *testing.T) {
		// The follower served the writes and reads above, through HTTP.
		r := mustDo(t, "GET", httpAddr(f), "/metrics", nil)
		mustStatus(t, r, http.StatusOK, "/metrics")
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
			t.Fatalf("/metrics Content-Type %q, want the text format", ct)
		}
		for _, m := range []struct {
			series string
			min    float64
		}{
			{`riot_commands_total{command="set"}`, 2},
			{`riot_commands_total{command="get"}`, 1},
			{`riot_command_duration_seconds_count{command="del"}`, 1},
			{`riot_command_duration_seconds_bucket{command="get",le="+Inf"}`, 1},
			{`riot_connected_clients`, 0},
			{`riot_node_term`, 1},
			{`riot_node_applied_index`, 1},
			{`riot_node_role{role="follower"}`, 1},
			{`riot_raft_commitTime_count`, 1},
			{`riot_raft_log_fsync_duration_seconds_count`, 1},
			{`riot_raft_log_fsync_duration_seconds_bucket{le="+Inf"}`, 1},
			{`riot_raft_log_fsync_duration_seconds_bucket{le="10"}`, 1},
			{`riot_raft_state_leader`, 1},
			{`go_goroutines`, 1},
		} {
			if v := mustMetric(t, r.body, m.series); v < m.min {
				t.Errorf("%s = %v, want >= %v", m.series, v, m.min)
			}
		}
		lr := mustDo(t, "GET", httpAddr(leader), "/metrics", nil)
		if v := mustMetric(t, lr.body, "riot_node_is_leader"); v != 1 {
			t.Errorf("riot_node_is_leader on the leader = %v, want 1", v)
		}
		if v := mustMetric(t, r.body, "riot_node_is_leader"); v != 0 {
			t.Errorf("riot_node_is_leader on a follower = %v, want 0", v)
		}
		// Replication series name the peer in a label; Raft's legacy copies
		// with the peer in the series name are off.
		if v := mustMetric(t, lr.body, `riot_raft_replication_appendEntries_logs{peer_id="`+f.Cfg.ID+`"}`); v < 1 {
			t.Errorf("entries replicated to %s = %v, want >= 1", f.Cfg.ID, v)
		}
		for _, line := range strings.Split(string(lr.body), "\n") {
			if strings.HasPrefix(line, "riot_raft_replication_appendEntries_logs_") {
				t.Errorf("legacy per-peer series on the leader: %s", line)
			}
		}
		// riot_keys comes from the state machine's key statistics when it
		// keeps them; keys written above ("bin") are still there.
		ks, hasStats := any(f.Raft().FSM()).(interface{ KeyStats() (keys, expires int64) })
		switch exported := strings.Contains(string(r.body), "\nriot_keys "); {
		case hasStats && !exported:
			t.Errorf("riot_keys not exported, but the state machine keeps key statistics")
		case hasStats:
			keys, _ := ks.KeyStats()
			if v := mustMetric(t, r.body, "riot_keys "); v < 1 || keys < 1 {
				t.Errorf("riot_keys = %v (state machine: %d), want >= 1", v, keys)
			}
			mustMetric(t, r.body, "riot_keys_with_expiry ")
		case exported:
			t.Errorf("riot_keys exported without a key count")
		}

		// With a key count: riot_keys, counted at most once per interval.
		counted := 0
		s := mustServer(t, httpapi.Config{Addr: "127.0.0.1:0", KeyCountInterval: time.Hour,
			KeyCount: func() (uint64, error) { counted++; return 42, nil }}, f)
		for range 2 {
			kr := mustDo(t, "GET", s.Addr(), "/metrics", nil)
			if v := mustMetric(t, kr.body, "riot_keys "); v != 42 {
				t.Fatalf("riot_keys = %v, want 42", v)
			}
		}
		if counted != 1 {
			t.Fatalf("two scrapes counted keys %d times, want once", counted)
		}
	})

	t.Run("Health", func(t *testing.T) {
		for _, n := range c.Nodes {
			var h httpapi.Health
			r := mustDo(t, "GET", httpAddr(n), "/healthz", nil)
			mustStatus(t, r, http.StatusOK, "/healthz")
			r = mustDo(t, "GET", httpAddr(n), "/readyz", nil)
			mustStatus(t, r, http.StatusOK, "/readyz on "+n.Cfg.ID)
			if mustJSON(t, r, &h); h.Status != "ok" || h.Reason != "" || h.Leader != leader.Cfg.ID {
				t.Fatalf("/readyz on %s = %+v", n.Cfg.ID, h)
			}
		}
	})

	t.Run("Pprof", func(t *testing.T) {
		mustError(t, mustDo(t, "GET", httpAddr(f), "/debug/pprof/", nil), http.StatusNotFound, httpapi.CodeNotFound, "not_found", "pprof off by default")
		s := mustServer(t, httpapi.Config{Addr: "127.0.0.1:0", EnablePprof: true}, f)
		r := mustDo(t, "GET", s.Addr(), "/debug/pprof/", nil)
		mustStatus(t, r, http.StatusOK, "pprof index")
		if !strings.Contains(string(r.body), "goroutine") {
			t.Fatalf("pprof index does not list goroutine: %.200s", r.body)
		}
		mustStatus(t, mustDo(t, "GET", s.Addr(), "/debug/pprof/goroutine?debug=1", nil), http.StatusOK, "goroutine profile")
	})

	t.Run("BodyLimit", func(t *testing.T) {
		if httpapi.DefaultMaxBodyBytes != 512<<20 {
			t.Fatalf("DefaultMaxBodyBytes = %d, want 512 MiB", httpapi.DefaultMaxBodyBytes)
		}
		// The default limit, on a node: a declared length over it is refused
		// before any of the body is read.
		head := fmt.Sprintf("PUT /v1/kv/huge HTTP/1.1\r\nHost: riot\r\nContent-Length: %d\r\n\r\n", httpapi.DefaultMaxBodyBytes+1)
		r := rawRequest(t, httpAddr(f), head)
		mustError(t, r, http.StatusRequestEntityTooLarge, httpapi.CodeOperation, "body_too_large", "declared body over the default limit")

		// A small limit, with bodies that are really sent.
		s := mustServer(t, httpapi.Config{Addr: "127.0.0.1:0", MaxBodyBytes: 1024}, f)
		big := []byte(strings.Repeat("x", 4096))
		mustError(t, mustDo(t, "POST", s.Addr(), "/riot?key=big", big), http.StatusRequestEntityTooLarge, httpapi.CodeOperation, "body_too_large", "POST over the limit")
		// Chunked: no Content-Length, so the limit applies while reading.
		req, err := http.NewRequest("PUT", "http://"+s.Addr()+"/v1/kv/big", io.MultiReader(strings.NewReader(string(big))))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatalf("chunked PUT: %v", err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		mustError(t, reply{status: resp.StatusCode, header: resp.Header, body: b}, http.StatusRequestEntityTooLarge, httpapi.CodeOperation, "body_too_large", "chunked PUT over the limit")
		mustStatus(t, mustDo(t, "PUT", s.Addr(), "/v1/kv/big", big[:1024]), http.StatusNoContent, "PUT at the limit")
	})

	t.Run("Errors", func(t *testing.T) {
		r := mustDo(t, "PATCH", httpAddr(f), "/riot?key=a", nil)
		mustError(t, r, http.StatusMethodNotAllowed, httpapi.CodeOperation, "method_not_allowed", "PATCH /riot")
		if allow := r.header.Get("Allow"); !strings.Contains(allow, "GET") || !strings.Contains(allow, "POST") {
			t.Fatalf("Allow header %q, want GET and POST", allow)
		}
		mustError(t, mustDo(t, "POST", httpAddr(f), "/v1/status", nil), http.StatusMethodNotAllowed, httpapi.CodeOperation, "method_not_allowed", "POST /v1/status")
		mustError(t, mustDo(t, "GET", httpAddr(f), "/no/such/path", nil), http.StatusNotFound, httpapi.CodeNotFound, "not_found", "unknown path")
	})

	t.Run("Membership", func(t *testing.T) {
		// A node added through /admin/join (query-free JSON body) and removed
		// through the REST API, then one added through the REST API and
		// removed through /admin/remove. Each joins no one by itself.
		for _, step := range []struct {
			id, join, remove string
		}{
			{"node4", "/admin/join", "DELETE /v1/cluster/members/node4"},
			{"node5", "/v1/cluster/members", "DELETE /admin/remove?id=node5"},
		} {
			cfg := mustExtraNode(t, step.id)
			body, _ := json.Marshal(httpapi.JoinRequest{ID: cfg.ID, RaftAddr: cfg.RaftAddr, RESPAddr: cfg.RESPAddr,
				RPCAddr: cfg.RPCAddr, HTTPAddr: cfg.HTTPAddr})
			r := mustDo(t, "POST", httpAddr(f), step.join, body)
			if step.join == "/admin/join" {
				mustEnvelope(t, r, step.join)
			} else {
				mustStatus(t, r, http.StatusNoContent, step.join)
			}
			waitMembers(t, leader, 4, cfg.ID)
			// The new member replicates: it learns the leader.
			testcluster.Eventually(t, 20*time.Second, func() error {
				var st httpapi.Status
				if err := getJSON(cfg.HTTPAddr, "/v1/status", &st); err != nil {
					return err
				}
				if st.Leader == nil || st.Leader.ID != leader.Cfg.ID {
					return fmt.Errorf("%s does not know the leader yet: %+v", cfg.ID, st)
				}
				return nil
			})
			method, path, _ := strings.Cut(step.remove, " ")
			r = mustDo(t, method, httpAddr(f), path, nil)
			if strings.HasPrefix(path, "/admin/") {
				mustEnvelope(t, r, step.remove)
			} else {
				mustStatus(t, r, http.StatusNoContent, step.remove)
			}
			waitMembers(t, leader, 3, "")
		}
		mustError(t, mustDo(t, "POST", httpAddr(f), "/v1/cluster/members", []byte(`{}`)),
			http.StatusBadRequest, httpapi.CodeOperation, "bad_request", "REST join without id")
		mustError(t, mustDo(t, "DELETE", httpAddr(f), "/v1/cluster/members/nobody", nil),
			http.StatusNotFound, httpapi.CodeNotFound, "unknown_node", "REST remove of an unknown id")
	})

	t.Run("Transfer", func(t *testing.T) {
		old := c.WaitForLeader(20 * time.Second)
		fs := c.Followers()
		target, via := fs[0], fs[1]
		mustError(t, mustDo(t, "POST", httpAddr(via), "/v1/cluster/transfer?id=nobody", nil),
			http.StatusNotFound, httpapi.CodeNotFound, "unknown_node", "transfer to an unknown id")
		mustStatus(t, mustDo(t, "POST", httpAddr(via), "/v1/cluster/transfer?id="+target.Cfg.ID, nil), http.StatusNoContent, "transfer")
		if now := c.WaitForLeader(20 * time.Second); now.Cfg.ID != target.Cfg.ID {
			t.Fatalf("leader after transfer = %s, want %s (was %s)", now.Cfg.ID, target.Cfg.ID, old.Cfg.ID)
		}
		if e := mustEnvelope(t, mustDo(t, "GET", httpAddr(target), "/admin/status", nil), "status"); e.Results != "Leader" {
			t.Fatalf("/admin/status on the new leader = %v", e.Results)
		}
	})

	// Destructive: keep it last.
	t.Run("NotReadyWithoutPeers", func(t *testing.T) {
		survivor := c.Nodes[0]
		for _, n := range c.Nodes[1:] {
			n.Kill()
		}
		var h httpapi.Health
		testcluster.Eventually(t, 20*time.Second, func() error {
			r := mustDo(t, "GET", httpAddr(survivor), "/readyz", nil)
			if r.status != http.StatusServiceUnavailable {
				return fmt.Errorf("/readyz = %v, want 503", r)
			}
			mustJSON(t, r, &h)
			return nil
		})
		if h.Status != "unavailable" || h.Reason == "" {
			t.Fatalf("/readyz body %+v, want status unavailable and a reason", h)
		}
		mustStatus(t, mustDo(t, "GET", httpAddr(survivor), "/healthz", nil), http.StatusOK, "/healthz without peers")
		// A write cannot commit: it fails with the network-timeout code.
		r := mustDo(t, "POST", httpAddr(survivor), "/riot?key=lost", []byte("x"))
		var e httpapi.ErrorBody
		mustJSON(t, r, &e)
		if (r.status != http.StatusServiceUnavailable && r.status != http.StatusGatewayTimeout) || e.ErrCode != httpapi.CodeTimeout {
			t.Fatalf("write without quorum = %v, want 503/504 with errCode %d", r, httpapi.CodeTimeout)
		}
	})
}

// mustServer starts an extra HTTP interface on a cluster node, closed at test end.
func mustServer(t *testing.T, cfg httpapi.Config, n *testcluster.Node) *httpapi.Server {
	t.Helper()
	s, err := httpapi.New(cfg, n.Raft())
	if err != nil {
		t.Fatalf("httpapi.New: %v", err)
	}
	if err := s.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// mustExtraNode starts a node that is not a member and does not join by
// itself (its --join names a listener that refuses every request), for tests
// that add it through the HTTP API. It is killed at test end.
func mustExtraNode(t *testing.T, id string) server.Config {
	t.Helper()
	cfg := testcluster.NodeConfig(t, id, []string{mustRefusingRESP(t)}, testcluster.Options{})
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatalf("start %s: %v", id, err)
	}
	t.Cleanup(func() { srv.Kill() })
	return cfg
}

// mustRefusingRESP listens on a loopback port and answers every request
// with a RESP error, so a node told to join through it keeps retrying
// quietly. It returns the address; the listener closes at test end.
func mustRefusingRESP(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	// Connections end by themselves within a second of going idle.
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				buf := make([]byte, 4096)
				for {
					conn.SetReadDeadline(time.Now().Add(time.Second))
					if _, err := conn.Read(buf); err != nil {
						return
					}
					if _, err := io.WriteString(conn, "-ERR not a member\r\n"); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// waitMembers waits until n lists want members over /v1/cluster/members, with
// metadata (an HTTP address) for each and, if must is set, including it.
func waitMembers(t *testing.T, n *testcluster.Node, want int, must string) {
	t.Helper()
	testcluster.Eventually(t, 30*time.Second, func() error {
		var ms []httpapi.MemberInfo
		if err := getJSON(httpAddr(n), "/v1/cluster/members", &ms); err != nil {
			return err
		}
		found := must == ""
		for _, m := range ms {
			if m.HTTPAddr == "" {
				return fmt.Errorf("no metadata for %s yet", m.ID)
			}
			found = found || m.ID == must
		}
		if len(ms) != want || !found {
			return fmt.Errorf("members %+v, want %d including %q", ms, want, must)
		}
		return nil
	})
}

// getJSON fetches and decodes a JSON reply, for polling (no t.Fatal).
func getJSON(addr, path string, v any) error {
	resp, err := httpClient.Get("http://" + addr + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// rawRequest writes a request by hand (for headers no client would send)
// and reads the reply.
func rawRequest(t *testing.T, addr, req string) reply {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatalf("write request: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}
