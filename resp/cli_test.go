package resp

import (
	"context"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// runTool runs a Redis command-line tool against s with stdin and returns its
// combined output. `make deps` installs the tools (redis-tools).
func runTool(t *testing.T, s *Server, stdin, tool string, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath(tool)
	if err != nil {
		t.Fatalf("%s is needed (run `make deps`): %v", tool, err)
	}
	host, port, _ := net.SplitHostPort(s.Addr())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"-h", host, "-p", port}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", tool, args, err, out)
	}
	return string(out)
}

// checkOutput fails if out lacks one of want or shows an error.
func checkOutput(t *testing.T, what, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("%s: output lacks %q:\n%s", what, w, out)
		}
	}
	for _, bad := range []string{"ERR", "Error", "error", "Could not", "WARN"} {
		if strings.Contains(out, bad) {
			t.Errorf("%s: output contains %q:\n%s", what, bad, out)
		}
	}
}

// TestRedisCLI drives redis-cli as a person would: an interactive session
// (commands on stdin) and one-shot commands.
func TestRedisCLI(t *testing.T) {
	s := mustServer(t, mustNode(t), Config{})
	session := strings.Join([]string{
		"PING", "SET cli:k hello", "GET cli:k", "DBSIZE", "INFO replication", "CLIENT SETNAME cli",
		"CLIENT LIST", "CONFIG GET save", "COMMAND DOCS get", "COMMAND INFO get", "ROLE", "TIME", "RESET",
	}, "\n") + "\n"
	out := runTool(t, s, session, "redis-cli")
	checkOutput(t, "redis-cli session", out, "PONG", "OK", "hello", "role:master", "name=cli", "cmd=client|list",
		"save", "Get the value of a key", "RESET")

	// (Not the whole INFO: its Errorstats section names the words this
	// check looks for.)
	out = runTool(t, s, "", "redis-cli", "--no-raw", "INFO", "server", "raft")
	checkOutput(t, "redis-cli --no-raw INFO", out, "# Server", "redis_version:", "# Raft", "raft_state:leader")

	out = runTool(t, s, "", "redis-cli", "COMMAND", "DOCS")
	checkOutput(t, "redis-cli COMMAND DOCS", out, "summary", "client|list")

	out = runTool(t, s, "", "redis-cli", "COMMAND")
	checkOutput(t, "redis-cli COMMAND", out, "client|list", "@connection")
}

// TestRedisBenchmark checks that redis-benchmark reads the server's CONFIG
// (it warns "Could not fetch server CONFIG" otherwise) and runs.
func TestRedisBenchmark(t *testing.T) {
	s := mustServer(t, mustNode(t), Config{})
	out := runTool(t, s, "", "redis-benchmark", "-n", "200", "-c", "2", "-t", "ping,set,get", "-q")
	checkOutput(t, "redis-benchmark", out, "PING_INLINE", "SET", "GET")
}
