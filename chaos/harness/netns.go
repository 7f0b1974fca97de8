package harness

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
)

// The harness's private address range: 10.77.X.0/24, one /24 per network,
// X chosen free under a file lock. The bridge holds .1 (the test process
// reaches the nodes through it), node i holds .(10+i).
const (
	subnetA, subnetB = 10, 77
	hostBase         = 10
	chainName        = "RIOTCHAOS"
)

var (
	networkSeq atomic.Int64
	vethSeq    atomic.Int64
)

// Network is a bridge in the root namespace with one namespace per host, each
// connected to the bridge by a veth pair. Links between hosts are cut with
// iptables DROP rules inside the hosts' namespaces (chain RIOTCHAOS, jumped to
// from INPUT and OUTPUT), so traffic between the test process and every host
// keeps flowing while hosts cannot reach each other.
type Network struct {
	t      testing.TB
	Run    string // "<pid>-<n>", part of every name
	Bridge string
	Subnet string // e.g. "10.77.3"
	hosts  []*Host

	mu   sync.Mutex
	cuts map[[2]int]bool // i<j: the link between hosts i and j is cut
}

// Host is one network namespace on the bridge.
type Host struct {
	Index int
	NS    string
	IP    string
	veth  string
}

// NewNetwork creates the bridge and n namespaces, and removes them all at
// cleanup.
func NewNetwork(t testing.TB, n int) *Network {
	t.Helper()
	setup(t)
	nw := &Network{
		t:    t,
		Run:  fmt.Sprintf("%d-%d", os.Getpid(), networkSeq.Add(1)),
		cuts: make(map[[2]int]bool),
	}
	nw.Bridge = bridgePrefix + nw.Run
	t.Cleanup(nw.Close)
	nw.Subnet = allocSubnet(t, nw.Bridge)
	for i := 0; i < n; i++ {
		nw.AddHost()
	}
	return nw
}

// allocSubnet creates the bridge and gives it the first free 10.77.X.1/24,
// holding a lock file so that concurrent runs never pick the same X.
func allocSubnet(t testing.TB, bridge string) string {
	t.Helper()
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "riot-chaos-net.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatalf("chaos: subnet lock: %v", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatalf("chaos: subnet lock: %v", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	used := map[int]bool{}
	if ifaces, err := net.Interfaces(); err == nil {
		for _, ifc := range ifaces {
			addrs, _ := ifc.Addrs()
			for _, a := range addrs {
				if ipn, ok := a.(*net.IPNet); ok {
					if ip4 := ipn.IP.To4(); ip4 != nil && ip4[0] == subnetA && ip4[1] == subnetB {
						used[int(ip4[2])] = true
					}
				}
			}
		}
	}
	x := -1
	for i := 0; i < 255; i++ {
		if !used[i] {
			x = i
			break
		}
	}
	if x < 0 {
		t.Fatalf("chaos: no free %d.%d.X.0/24 subnet", subnetA, subnetB)
	}
	subnet := fmt.Sprintf("%d.%d.%d", subnetA, subnetB, x)
	mustRun(t, "ip", "link", "add", bridge, "type", "bridge")
	// Bridged frames must not traverse the root namespace's iptables (with
	// br_netfilter loaded they would): the host's firewall is not ours to rely on.
	run("ip", "link", "set", bridge, "type", "bridge", "nf_call_iptables", "0")
	mustRun(t, "ip", "addr", "add", subnet+".1/24", "dev", bridge)
	mustRun(t, "ip", "link", "set", bridge, "up")
	return subnet
}

// AddHost creates one more namespace on the bridge.
func (nw *Network) AddHost() *Host {
	t := nw.t
	t.Helper()
	i := len(nw.hosts)
	h := &Host{
		Index: i,
		NS:    fmt.Sprintf("%s%s-n%d", nsPrefix, nw.Run, i+1),
		IP:    fmt.Sprintf("%s.%d", nw.Subnet, hostBase+i+1),
		veth:  fmt.Sprintf("%s%d-%d", vethPrefix, os.Getpid(), vethSeq.Add(1)),
	}
	nw.hosts = append(nw.hosts, h)
	mustRun(t, "ip", "netns", "add", h.NS)
	mustRun(t, "ip", "link", "add", h.veth, "type", "veth", "peer", "name", "eth0", "netns", h.NS)
	mustRun(t, "ip", "link", "set", h.veth, "master", nw.Bridge)
	mustRun(t, "ip", "link", "set", h.veth, "up")
	mustRun(t, "ip", "-n", h.NS, "addr", "add", h.IP+"/24", "dev", "eth0")
	mustRun(t, "ip", "-n", h.NS, "link", "set", "eth0", "up")
	mustRun(t, "ip", "-n", h.NS, "link", "set", "lo", "up")
	nw.ipt(h, "-N", chainName)
	nw.ipt(h, "-A", "INPUT", "-j", chainName)
	nw.ipt(h, "-A", "OUTPUT", "-j", chainName)
	return h
}

// Hosts returns the hosts in index order.
func (nw *Network) Hosts() []*Host { return nw.hosts }

func (nw *Network) ipt(h *Host, args ...string) {
	nw.t.Helper()
	mustRun(nw.t, "ip", append([]string{"netns", "exec", h.NS, ipt, "-w"}, args...)...)
}

// Cut drops all traffic between hosts a and b, both directions, in both
// namespaces.
func (nw *Network) Cut(a, b int) {
	nw.t.Helper()
	if a == b {
		return
	}
	if a > b {
		a, b = b, a
	}
	nw.mu.Lock()
	defer nw.mu.Unlock()
	if nw.cuts[[2]int{a, b}] {
		return
	}
	ha, hb := nw.hosts[a], nw.hosts[b]
	nw.ipt(ha, "-A", chainName, "-s", hb.IP, "-j", "DROP")
	nw.ipt(ha, "-A", chainName, "-d", hb.IP, "-j", "DROP")
	nw.ipt(hb, "-A", chainName, "-s", ha.IP, "-j", "DROP")
	nw.ipt(hb, "-A", chainName, "-d", ha.IP, "-j", "DROP")
	nw.cuts[[2]int{a, b}] = true
}

// Partition cuts every link between hosts of different groups.
func (nw *Network) Partition(groups ...[]int) {
	nw.t.Helper()
	for gi, g := range groups {
		for _, h := range groups[gi+1:] {
			for _, a := range g {
				for _, b := range h {
					nw.Cut(a, b)
				}
			}
		}
	}
}

// Isolate cuts host i from every other host.
func (nw *Network) Isolate(i int) {
	nw.t.Helper()
	for j := range nw.hosts {
		nw.Cut(i, j)
	}
}

// Heal removes every cut.
func (nw *Network) Heal() {
	nw.t.Helper()
	nw.mu.Lock()
	defer nw.mu.Unlock()
	if len(nw.cuts) == 0 {
		return
	}
	for _, h := range nw.hosts {
		nw.ipt(h, "-F", chainName)
	}
	nw.cuts = make(map[[2]int]bool)
}

// Cuts describes the current cuts, e.g. "n1-n2 n1-n3".
func (nw *Network) Cuts() string {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	var s []string
	for k := range nw.cuts {
		s = append(s, fmt.Sprintf("n%d-n%d", k[0]+1, k[1]+1))
	}
	sort.Strings(s)
	return strings.Join(s, " ")
}

// Rules returns the iptables rules of host i's chain (for assertions and
// failure reports).
func (nw *Network) Rules(i int) string {
	out, _ := run("ip", "netns", "exec", nw.hosts[i].NS, ipt, "-w", "-S", chainName)
	return out
}

// Close kills every process in the namespaces and deletes them and the bridge.
func (nw *Network) Close() {
	for _, h := range nw.hosts {
		deleteNamespace(h.NS)
		run("ip", "link", "del", h.veth)
	}
	run("ip", "link", "del", nw.Bridge)
}
