package harness

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/riot-kv/riot-redis/internal/powerfs"
)

// Fixed ports: every node has its own address, so all use the defaults.
const (
	respPort = 6379
	raftPort = 12000
	rpcPort  = 32123
	httpPort = 8080
)

// Node is one riot-redis process in its own namespace, with its own data
// directory and log file. It can be killed (SIGKILL), paused (SIGSTOP),
// resumed, wiped and restarted on the same addresses.
type Node struct {
	c     *Cluster
	Index int
	ID    string
	Host  *Host
	RESP  string
	Raft  string
	RPC   string
	HTTP  string
	Dir   string
	Log   string
	// Disk is the powerfs mounted on Dir when the cluster has
	// Options.PowerFS, else nil.
	Disk *powerfs.FS

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
	expect  bool // the running process is being stopped by the harness
	paused  bool
	starts  int
	joined  bool // started once; later starts always pass --join
	exitErr error
}

func (n *Node) String() string { return n.ID }

// Running reports whether the process is up (possibly paused).
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd != nil
}

// Paused reports whether the process is stopped with SIGSTOP.
func (n *Node) Paused() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.paused
}

// Pid returns the process id, or 0 when not running.
func (n *Node) Pid() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return 0
	}
	return n.cmd.Process.Pid
}

// args returns the command line. Every start but the very first of the
// bootstrap node passes --join with the other nodes (a node with Raft state
// ignores it; a wiped node needs it, or it would bootstrap a second cluster).
func (n *Node) args(bootstrap bool) []string {
	a := []string{
		"--id", n.ID, "--dir", n.Dir,
		"--resp-addr", n.RESP, "--raft-addr", n.Raft, "--rpc-addr", n.RPC, "--http-addr", n.HTTP,
	}
	if n.c.opts.ReadConsistency != "" {
		a = append(a, "--read-consistency", n.c.opts.ReadConsistency)
	}
	if n.c.opts.Engine != "" {
		a = append(a, "--engine", n.c.opts.Engine)
	}
	a = append(a, n.c.opts.NodeFlags...)
	if !bootstrap {
		var join []string
		for _, o := range n.c.Nodes {
			if o != n {
				join = append(join, o.RESP)
			}
		}
		a = append(a, "--join", strings.Join(join, ","))
	}
	return a
}

// Start starts the process in the node's namespace (ip netns exec execs the
// binary, so the pid is riot-redis's own).
func (n *Node) Start() {
	t := n.c.t
	t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		t.Fatalf("chaos: %s already running", n.ID)
	}
	bootstrap := n.Index == 0 && !n.joined
	n.joined = true
	logf, err := os.OpenFile(n.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatalf("chaos: %v", err)
	}
	n.starts++
	fmt.Fprintf(logf, "===== chaos: start #%d of %s at t=%s (%s) =====\n", n.starts, n.ID, n.c.Clock.Since(),
		time.Now().UTC().Format("15:04:05.000"))
	args := append([]string{"netns", "exec", n.Host.NS, n.c.bin}, n.args(bootstrap)...)
	cmd := exec.Command("ip", args...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	// If the test process dies, its nodes die with it; a sweep removes the rest.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("chaos: start %s: %v", n.ID, err)
	}
	done := make(chan struct{})
	n.cmd, n.done, n.expect, n.paused = cmd, done, false, false
	go func() {
		err := cmd.Wait()
		logf.Close()
		n.mu.Lock()
		expected := n.expect
		n.exitErr = err
		if n.cmd == cmd {
			n.cmd = nil
			n.paused = false
		}
		n.mu.Unlock()
		close(done)
		if !expected {
			n.c.unexpectedExit(n, err)
		}
	}()
	n.c.Events.Instant("start", n.ID, "")
}

// signal sends sig to the running process and reports whether it was running.
func (n *Node) signal(sig syscall.Signal, expectExit bool) (chan struct{}, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return nil, false
	}
	if expectExit {
		n.expect = true
	}
	n.cmd.Process.Signal(sig)
	return n.done, true
}

// Kill sends SIGKILL and waits for the process to exit.
func (n *Node) Kill() { n.killAsync()() }

// killAsync sends SIGKILL and returns a func that waits for the exit and
// records it; a node that is not running returns a no-op.
func (n *Node) killAsync() func() {
	t := n.c.t
	done, ok := n.signal(syscall.SIGKILL, true)
	if !ok {
		return func() {}
	}
	return func() {
		t.Helper()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatalf("chaos: %s did not exit after SIGKILL", n.ID)
		}
		n.c.Events.Instant("kill", n.ID, "SIGKILL")
	}
}

// KillAll kills nodes at once (SIGKILL to all, then waits for each).
func KillAll(nodes []*Node) {
	var waits []func()
	for _, n := range nodes {
		waits = append(waits, n.killAsync())
	}
	for _, w := range waits {
		w()
	}
}

// Terminate sends SIGTERM (graceful shutdown, leadership handover) and waits.
func (n *Node) Terminate() {
	t := n.c.t
	t.Helper()
	done, ok := n.signal(syscall.SIGTERM, true)
	if !ok {
		return
	}
	n.signal(syscall.SIGCONT, false)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Errorf("chaos: %s did not exit within 30s of SIGTERM; killing it", n.ID)
		n.Kill()
	}
	n.c.Events.Instant("terminate", n.ID, "SIGTERM")
}

// Pause stops the process with SIGSTOP.
func (n *Node) Pause() bool {
	if _, ok := n.signal(syscall.SIGSTOP, false); !ok {
		return false
	}
	n.mu.Lock()
	n.paused = true
	n.mu.Unlock()
	n.c.Events.Instant("pause", n.ID, "SIGSTOP")
	return true
}

// Resume continues a paused process with SIGCONT.
func (n *Node) Resume() {
	n.mu.Lock()
	was := n.paused
	n.paused = false
	n.mu.Unlock()
	if _, ok := n.signal(syscall.SIGCONT, false); ok && was {
		n.c.Events.Instant("resume", n.ID, "SIGCONT")
	}
}

// QueuedConns returns how many connections to the node's RESP port hold
// bytes the process has not read yet (ss's Recv-Q in its namespace): a
// paused node's pending requests.
func (n *Node) QueuedConns() int {
	out, err := run("ip", "netns", "exec", n.Host.NS, "ss", "-Htn", "state", "established", fmt.Sprintf("( sport = :%d )", respPort))
	if err != nil {
		return 0
	}
	k := 0
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 1 && f[0] != "0" {
			k++
		}
	}
	return k
}

// Wipe deletes the node's data directory; the node must not be running.
func (n *Node) Wipe() {
	t := n.c.t
	t.Helper()
	if n.Running() {
		t.Fatalf("chaos: wipe of running node %s", n.ID)
	}
	// On a powerfs the directory is the mount point: empty it instead.
	dirs := []string{n.Dir}
	if n.Disk != nil {
		dirs, _ = filepath.Glob(filepath.Join(n.Dir, "*"))
	}
	for _, d := range dirs {
		if err := os.RemoveAll(d); err != nil {
			t.Fatalf("chaos: wipe %s: %v", n.ID, err)
		}
	}
	n.c.Events.Instant("wipe", n.ID, n.Dir)
}
