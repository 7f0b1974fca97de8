//go:build linux

package powerfs

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// mount mounts a powerfs over a temporary directory and unmounts it at the
// end of the test.
func mount(t *testing.T) (*FS, string) {
	t.Helper()
	backing, mnt := t.TempDir(), t.TempDir()
	f, err := Mount(backing, mnt)
	if err != nil {
		t.Fatalf("mount: %v (powerfs needs /dev/fuse and root)", err)
	}
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return f, mnt
}

func fill(c byte, n int) []byte { return bytes.Repeat([]byte{c}, n) }

func writeAt(t *testing.T, fh *os.File, b []byte, off int64) {
	t.Helper()
	if _, err := fh.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func TestPowerFailLosesUnsyncedWrites(t *testing.T) {
	f, mnt := mount(t)
	path := filepath.Join(mnt, "log")
	fh, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	writeAt(t, fh, fill('a', 10000), 0)
	if err := fh.Sync(); err != nil {
		t.Fatal(err)
	}
	// Unsynced: an overwrite inside the synced part and an append.
	writeAt(t, fh, fill('b', 100), 50)
	writeAt(t, fh, fill('c', 5000), 10000)
	want := append(fill('a', 10000), fill('c', 5000)...)
	copy(want[50:], fill('b', 100))
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("before the failure the file reads %d bytes, not the %d written", len(got), len(want))
	}
	if st, _ := fh.Stat(); st.Size() != 15000 {
		t.Fatalf("size before the failure %d, want 15000", st.Size())
	}
	if f.Dirty() == 0 {
		t.Fatal("no dirty pages after unsynced writes")
	}
	fh.Close()

	lost, kept, err := f.PowerFail(rand.New(rand.NewPCG(1, 2)), 0)
	if err != nil {
		t.Fatal(err)
	}
	if lost == 0 || kept != 0 {
		t.Fatalf("lost %d kept %d pages, want some lost and none kept", lost, kept)
	}
	got, err = os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, fill('a', 10000)) {
		t.Fatalf("after the failure the file reads %d bytes (%q...), want the 10000 synced bytes of 'a'", len(got), got[:min(len(got), 60)])
	}
}

func TestPowerFailKeepsSomePages(t *testing.T) {
	f, mnt := mount(t)
	path := filepath.Join(mnt, "journal")
	fh, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	const pages = 64
	for p := 0; p < pages; p++ {
		writeAt(t, fh, fill(byte('A'+p%26), pageSize), int64(p)*pageSize)
	}
	fh.Close()
	lost, kept, err := f.PowerFail(rand.New(rand.NewPCG(3, 4)), 0.5)
	if err != nil {
		t.Fatal(err)
	}
	if lost+kept != pages || lost == 0 || kept == 0 {
		t.Fatalf("lost %d kept %d of %d pages", lost, kept, pages)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Every page is either what was written or zeros (never written back,
	// below a page that was); nothing past the last page kept.
	n := 0
	for p := 0; p*pageSize < len(got); p++ {
		pg := got[p*pageSize : min(len(got), (p+1)*pageSize)]
		switch {
		case bytes.Equal(pg, fill(byte('A'+p%26), pageSize)):
			n++
		case bytes.Equal(pg, make([]byte, len(pg))):
		default:
			t.Fatalf("page %d holds neither its data nor zeros", p)
		}
	}
	if n != kept {
		t.Fatalf("%d pages survived, PowerFail reported %d kept", n, kept)
	}
}

func TestNamesAndTruncateAreDurable(t *testing.T) {
	f, mnt := mount(t)
	if err := os.MkdirAll(filepath.Join(mnt, "d", "e"), 0o755); err != nil {
		t.Fatal(err)
	}
	a, b := filepath.Join(mnt, "d", "a"), filepath.Join(mnt, "d", "e", "b")
	if err := os.WriteFile(a, fill('x', 9000), 0o644); err != nil {
		t.Fatal(err)
	}
	fh, err := os.OpenFile(a, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := fh.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := fh.Truncate(5000); err != nil {
		t.Fatal(err)
	}
	fh.Close()
	if err := os.Rename(a, b); err != nil {
		t.Fatal(err)
	}
	gone := filepath.Join(mnt, "gone")
	if err := os.WriteFile(gone, fill('y', 100), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(gone); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.PowerFail(rand.New(rand.NewPCG(5, 6)), 0); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, fill('x', 5000)) {
		t.Fatalf("renamed, truncated file reads %d bytes, want 5000 of 'x'", len(got))
	}
	if _, err := os.Stat(a); !os.IsNotExist(err) {
		t.Fatalf("old name: %v, want not exist", err)
	}
	if _, err := os.Stat(gone); !os.IsNotExist(err) {
		t.Fatalf("removed file: %v, want not exist", err)
	}
}

func TestUnsyncedWritesSurviveClose(t *testing.T) {
	// Closing a file, or the process exiting, loses nothing: the page
	// cache keeps the data until the power fails.
	f, mnt := mount(t)
	path := filepath.Join(mnt, "f")
	if err := os.WriteFile(path, fill('z', 3*pageSize+7), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, fill('z', 3*pageSize+7)) {
		t.Fatalf("reopened file reads %d bytes", len(got))
	}
	if d := f.Dirty(); d != 4 {
		t.Fatalf("%d dirty pages, want 4", d)
	}
}

// A process that serves its own powerfs and exits (or panics) with a file
// open on it must end: the kernel's flush at close would wait for a server
// that is gone. The test runs itself as that process.
func TestExitWithFilesOpen(t *testing.T) {
	if mnt := os.Getenv("POWERFS_EXIT_MNT"); mnt != "" {
		if _, err := Mount(os.Getenv("POWERFS_EXIT_BACKING"), mnt); err != nil {
			t.Fatal(err)
		}
		fh, err := os.Create(filepath.Join(mnt, "open"))
		if err != nil {
			t.Fatal(err)
		}
		writeAt(t, fh, fill('x', 100), 0)
		os.Exit(3) // fh still open
	}
	backing, mnt := t.TempDir(), t.TempDir()
	t.Cleanup(func() { unix.Unmount(mnt, unix.MNT_DETACH) })
	cmd := exec.Command(os.Args[0], "-test.run=^TestExitWithFilesOpen$")
	cmd.Env = append(os.Environ(), "POWERFS_EXIT_MNT="+mnt, "POWERFS_EXIT_BACKING="+backing)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 3 {
			t.Fatalf("child: %v, want exit status 3", err)
		}
	case <-time.After(20 * time.Second):
		// Free the child: abort its connection, as PowerFail does (found
		// in mountinfo: a stat of the mount would wait for the server).
		if mi, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
			for _, line := range strings.Split(string(mi), "\n") {
				// id parent major:minor root mountpoint ...
				if f := strings.Fields(line); len(f) > 4 && f[4] == mnt {
					_, minor, _ := strings.Cut(f[2], ":")
					os.WriteFile(filepath.Join(connections, minor, "abort"), []byte("1"), 0)
				}
			}
		}
		<-done
		t.Fatal("the child hung at exit with a file open on its own powerfs")
	}
}
