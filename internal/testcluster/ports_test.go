package testcluster

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// Ports handed out are distinct, across block boundaries too, and each
// block they come from is locked against other test binaries.
func TestFreeAddrClaimsBlocks(t *testing.T) {
	if ephemeralLow() < minTestPort+blockSize {
		t.Fatalf("this test needs a Linux ephemeral range above %d; got %d", minTestPort+blockSize, ephemeralLow())
	}
	seen := map[string]bool{}
	for range 3 * blockSize {
		addr := FreeAddr(t)
		if seen[addr] {
			t.Fatalf("FreeAddr returned %s twice", addr)
		}
		seen[addr] = true
		_, ps, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := strconv.Atoi(ps)
		if p < minTestPort || p >= ephemeralLow() {
			t.Fatalf("port %d outside [%d, %d)", p, minTestPort, ephemeralLow())
		}
		// Another binary opening the block's lock file cannot lock it:
		// flock locks belong to the open file, so a second open conflicts
		// even within this process.
		b := (p - minTestPort) / blockSize
		f, err := os.Open(filepath.Join(os.TempDir(), "riot-redis-test-ports", strconv.Itoa(b)))
		if err != nil {
			t.Fatalf("lock file of block %d: %v", b, err)
		}
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		f.Close()
		if err == nil {
			t.Fatalf("block %d of port %d is not locked", b, p)
		}
	}
}
