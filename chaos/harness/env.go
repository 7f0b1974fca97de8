package harness

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Name prefixes of everything the harness creates. Each name carries the
// creating test process's pid so that a sweep can tell leftovers of a dead run
// from the resources of a live one.
const (
	nsPrefix     = "riot-"      // network namespaces: riot-<pid>-<cluster>-n<i>
	bridgePrefix = "rb"         // bridges: rb<pid>-<cluster>
	vethPrefix   = "rv"         // host ends of veth pairs: rv<pid>-<seq>
	dirPrefix    = "riot-chaos" // temp dirs: riot-chaos-<pid>-*
)

var (
	setupOnce sync.Once
	setupErr  error
	ipt       string // the iptables binary that works in a fresh namespace
)

// setup installs the tools when missing, checks privileges, picks an
// iptables flavour and sweeps leftovers of dead runs. It runs once per process.
func setup(t testing.TB) {
	t.Helper()
	setupOnce.Do(func() { setupErr = doSetup() })
	if setupErr != nil {
		t.Fatalf("chaos: %v", setupErr)
	}
}

func doSetup() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("the fault-injection suite creates network namespaces, bridges and iptables rules and must run as root (uid 0); it runs as uid %d", os.Geteuid())
	}
	if err := ensureTools(); err != nil {
		return err
	}
	Sweep()
	probe := fmt.Sprintf("%s%d-probe", nsPrefix, os.Getpid())
	if out, err := run("ip", "netns", "add", probe); err != nil {
		return fmt.Errorf("cannot create a network namespace (ip netns add): %v: %s", err, out)
	}
	defer run("ip", "netns", "del", probe)
	for _, cand := range []string{"iptables", "iptables-legacy", "iptables-nft"} {
		if _, err := exec.LookPath(cand); err != nil {
			continue
		}
		if _, err := run("ip", "netns", "exec", probe, cand, "-w", "-N", "RIOTPROBE"); err == nil {
			ipt = cand
			return nil
		}
	}
	return fmt.Errorf("no working iptables (tried iptables, iptables-legacy, iptables-nft inside a namespace)")
}

// ensureTools installs iproute2 and iptables from Debian when ip or iptables
// is missing.
func ensureTools() error {
	_, errIP := exec.LookPath("ip")
	_, errIPT := exec.LookPath("iptables")
	if errIP == nil && errIPT == nil {
		return nil
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return fmt.Errorf("ip or iptables is missing and apt-get is not available; install iproute2 and iptables")
	}
	env := append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	for _, args := range [][]string{{"update", "-qq"}, {"install", "-y", "-qq", "iproute2", "iptables"}} {
		cmd := exec.Command("apt-get", args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("apt-get %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	for _, tool := range []string{"ip", "iptables"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s still missing after apt-get install iproute2 iptables", tool)
		}
	}
	return nil
}

// run runs a command with a bounded time and returns its combined output.
func run(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return strings.TrimSpace(out.String()), err
}

// mustRun runs a command and fails the test if it fails.
func mustRun(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := run(name, args...)
	if err != nil {
		t.Fatalf("chaos: %v: %s", err, out)
	}
	return out
}

var (
	nsRe   = regexp.MustCompile(`^` + nsPrefix + `(\d+)-\S+`)
	linkRe = regexp.MustCompile(`^(?:` + bridgePrefix + `|` + vethPrefix + `)(\d+)-\d+$`)
	dirRe  = regexp.MustCompile(`^` + dirPrefix + `-(\d+)-`)
)

// ownerAlive reports whether pid is a live test process (a go test binary).
// A pid reused by an unrelated program counts as dead.
func ownerAlive(pid int) bool {
	if pid == os.Getpid() {
		return true
	}
	if err := syscall.Kill(pid, 0); err != nil && err != syscall.EPERM {
		return false
	}
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return false
	}
	return strings.HasSuffix(strings.TrimSuffix(exe, " (deleted)"), ".test")
}

// Sweep removes what dead runs left: processes in their namespaces, the
// namespaces (and with them their iptables rules and veth ends), their bridges
// and veths in the root namespace, and their temp directories.
func Sweep() {
	if out, err := run("ip", "netns", "list"); err == nil {
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if len(f) == 0 {
				continue
			}
			m := nsRe.FindStringSubmatch(f[0])
			if m == nil {
				continue
			}
			if pid, _ := strconv.Atoi(m[1]); !ownerAlive(pid) {
				deleteNamespace(f[0])
			}
		}
	}
	if out, err := run("ip", "-o", "link", "show"); err == nil {
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
			m := linkRe.FindStringSubmatch(name)
			if m == nil {
				continue
			}
			if pid, _ := strconv.Atoi(m[1]); !ownerAlive(pid) {
				run("ip", "link", "del", name)
			}
		}
	}
	entries, _ := os.ReadDir(os.TempDir())
	for _, e := range entries {
		m := dirRe.FindStringSubmatch(e.Name())
		if m == nil || !e.IsDir() {
			continue
		}
		if pid, _ := strconv.Atoi(m[1]); !ownerAlive(pid) {
			os.RemoveAll(filepath.Join(os.TempDir(), e.Name()))
		}
	}
}

// deleteNamespace kills every process in the namespace and deletes it.
func deleteNamespace(ns string) {
	for attempt := 0; attempt < 50; attempt++ {
		out, _ := run("ip", "netns", "pids", ns)
		pids := strings.Fields(out)
		if len(pids) == 0 {
			break
		}
		for _, p := range pids {
			if pid, err := strconv.Atoi(p); err == nil {
				syscall.Kill(pid, syscall.SIGCONT)
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		time.Sleep(20 * time.Millisecond) // the kernel reaps killed processes asynchronously
	}
	run("ip", "netns", "del", ns)
}

// TempDir makes a directory under os.TempDir() named after this process, so a
// sweep can remove it if the process dies before its cleanup.
func TempDir(t testing.TB, what string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", fmt.Sprintf("%s-%d-%s-", dirPrefix, os.Getpid(), what))
	if err != nil {
		t.Fatalf("chaos: %v", err)
	}
	return dir
}
