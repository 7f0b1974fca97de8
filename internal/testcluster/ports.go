package testcluster

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// Test binaries run in parallel (go test runs one per package) and every
// one starts nodes on loopback ports. A port that was free when it was
// picked must stay ours: a node binds it only later, and a stopped node
// binds it again when it restarts. Picking at random from a shared range
// let two binaries pick the same port, and the second one's node could not
// start. So each binary claims whole blocks of ports with an advisory lock
// on a file per block, held until the binary exits (the kernel drops the
// lock even when it is killed), and hands out ports only from its blocks.
//
// The blocks lie below the kernel's ephemeral range when there is room: a
// port from the ephemeral range may meanwhile become the source port of an
// outgoing connection (the tests make thousands) and stay busy. Ports below
// the range are only ever taken by a listener.

const (
	minTestPort = 10000 // lowest port a block starts at
	blockSize   = 64    // ports per claimed block
)

var ports struct {
	mu    sync.Mutex
	next  int // next port to try in the current block
	end   int // end of the current block (exclusive); 0 when none
	files []*os.File
}

// FreeAddr returns a loopback address on a port that is free and that no
// other test binary on this machine will hand out.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ports.mu.Lock()
	defer ports.mu.Unlock()
	for tries := 0; tries < 4*blockSize; tries++ {
		if ports.next >= ports.end {
			if err := claimBlock(); err != nil {
				return kernelPort(t, err)
			}
		}
		p := ports.next
		ports.next++
		addr := fmt.Sprintf("127.0.0.1:%d", p)
		if l, err := net.Listen("tcp", addr); err == nil {
			l.Close()
			return addr
		}
	}
	return kernelPort(t, fmt.Errorf("no free port in %d tries", 4*blockSize))
}

// claimBlock locks a free block of ports and makes it current.
func claimBlock() error {
	lo := ephemeralLow()
	if lo < minTestPort+blockSize {
		return fmt.Errorf("ephemeral range starts at %d", lo)
	}
	n := (lo - minTestPort) / blockSize
	dir := filepath.Join(os.TempDir(), "riot-redis-test-ports")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return err
	}
	start := rand.IntN(n)
	for i := range n {
		b := (start + i) % n
		f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(b)), os.O_CREATE|os.O_RDWR, 0o666)
		if err != nil {
			return err
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			continue // another test binary holds it
		}
		ports.files = append(ports.files, f) // kept open: the lock lives as long as the binary
		ports.next = minTestPort + b*blockSize
		ports.end = ports.next + blockSize
		return nil
	}
	return fmt.Errorf("all %d port blocks are claimed", n)
}

// kernelPort is the fallback when no block can be claimed: a port the
// kernel picks, free a moment ago.
func kernelPort(t testing.TB, why error) string {
	t.Helper()
	t.Logf("testcluster: no claimed port block (%v); using a kernel-chosen port", why)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

// ephemeralLow returns the first port of the kernel's ephemeral range, or 0
// when it is unknown (not Linux). It is read once per test binary.
var ephemeralLow = sync.OnceValue(func() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	lo, err := strconv.Atoi(f[0])
	if err != nil {
		return 0
	}
	return lo
})
