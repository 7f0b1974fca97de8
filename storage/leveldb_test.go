package storage

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// crashHelperEnv makes the test binary run crashHelper instead of the tests.
const crashHelperEnv = "RIOT_STORAGE_CRASH_HELPER_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashHelperEnv); dir != "" {
		os.Exit(crashHelper(dir))
	}
	os.Exit(m.Run())
}

func mustOpenLevelDB(t *testing.T, dir string) *LevelDB {
	t.Helper()
	e, err := OpenLevelDB(dir)
	if err != nil {
		t.Fatalf("OpenLevelDB: %v", err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

// genDirs lists the generation directories in dir.
func genDirs(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ent := range entries {
		if _, ok := parseGen(ent.Name()); ok {
			out = append(out, ent.Name())
		}
	}
	sort.Strings(out)
	return out
}

func mustDirs(t *testing.T, dir string, want ...string) {
	t.Helper()
	if got := genDirs(t, dir); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("generation dirs = %q, want %q", got, want)
	}
}

func mustExist(t *testing.T, path string, want bool) {
	t.Helper()
	_, err := os.Stat(path)
	if got := err == nil; got != want {
		t.Fatalf("%s exists = %v, want %v (%v)", path, got, want, err)
	}
}

func TestLevelDBLayoutOnDisk(t *testing.T) {
	dir := t.TempDir()
	e := mustOpenLevelDB(t, dir)
	mustWrite(t, e, 1, "k", "v")
	mustDirs(t, dir, "data-1")
	live, err := os.ReadFile(filepath.Join(dir, ldbLiveFile))
	if err != nil || string(live) != "data-1\n" {
		t.Fatalf("LIVE = %q, %v", live, err)
	}
	if err := e.Replace(newSource(-1, kv{"r", "1"}), 2); err != nil {
		t.Fatal(err)
	}
	mustDirs(t, dir, "data-2")
	if err := e.Replace(newSource(1, kv{"a", "1"}, kv{"b", "2"}), 3); !errors.Is(err, errSource) {
		t.Fatalf("Replace = %v, want source error", err)
	}
	mustDirs(t, dir, "data-2") // the failed staging generation is gone
}

func TestLevelDBRetiredGenerationOutlivesSnapshot(t *testing.T) {
	dir := t.TempDir()
	e := mustOpenLevelDB(t, dir)
	mustWrite(t, e, 1, "old", "1")
	snap, err := e.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	it := snap.NewIterator(nil, nil)
	if err := e.Replace(newSource(-1, kv{"new", "2"}), 2); err != nil {
		t.Fatal(err)
	}
	mustDirs(t, dir, "data-1", "data-2")
	snap.Release()
	mustDirs(t, dir, "data-1", "data-2") // the iterator still uses data-1
	if !it.Next() || string(it.Key()) != "old" {
		t.Fatalf("iterator on retired generation: %v", it.Err())
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	mustDirs(t, dir, "data-2")
	mustContent(t, e, kv{"new", "2"})
}

// TestLevelDBOpenRecovers simulates the states a crash can leave behind.
func TestLevelDBOpenRecovers(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) // dir holds a committed data-2 after a Replace
	}{
		{"uncommitted staging generation", func(t *testing.T, dir string) {
			mustCopyDir(t, filepath.Join(dir, "data-2"), filepath.Join(dir, "data-3"))
		}},
		{"half-written staging generation", func(t *testing.T, dir string) {
			if err := os.MkdirAll(filepath.Join(dir, "data-3"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "data-3", "000001.log"), []byte("torn"), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"old generation not yet removed", func(t *testing.T, dir string) {
			mustCopyDir(t, filepath.Join(dir, "data-2"), filepath.Join(dir, "data-1"))
		}},
		{"temporary LIVE file", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, ldbLiveFile+".tmp"), []byte("data-3\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			e, err := OpenLevelDB(dir)
			if err != nil {
				t.Fatal(err)
			}
			mustWrite(t, e, 1, "before", "x")
			if err := e.Replace(newSource(-1, kv{"after", "y"}), 2); err != nil {
				t.Fatal(err)
			}
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
			tt.setup(t, dir)
			e = mustOpenLevelDB(t, dir)
			mustContent(t, e, kv{"after", "y"})
			mustApplied(t, e, 2)
			mustDirs(t, dir, "data-2")
			mustExist(t, filepath.Join(dir, ldbLiveFile+".tmp"), false)
			// The next Replace can reuse the generation number of the debris.
			if err := e.Replace(newSource(-1, kv{"third", "z"}), 3); err != nil {
				t.Fatal(err)
			}
			mustContent(t, e, kv{"third", "z"})
		})
	}
}

func TestLevelDBOpenRefusesMissingGeneration(t *testing.T) {
	dir := t.TempDir()
	e, err := OpenLevelDB(dir)
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, e, 1, "k", "v")
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, "data-1")); err != nil {
		t.Fatal(err)
	}
	if e, err := OpenLevelDB(dir); err == nil {
		_ = e.Close()
		t.Fatal("Open with LIVE naming a missing generation succeeded (would silently lose data)")
	}
}

// TestLevelDBReplaceLarge replaces with more than one staging chunk.
func TestLevelDBReplaceLarge(t *testing.T) {
	e := mustOpenLevelDB(t, t.TempDir())
	mustWrite(t, e, 1, "stale", "x")
	big := bytes.Repeat([]byte{0xab}, 4<<20)
	var kvs []kv
	for i := 0; i < 5; i++ {
		kvs = append(kvs, kv{fmt.Sprintf("big%d", i), string(big)})
	}
	for i := 0; i < 5000; i++ {
		kvs = append(kvs, kv{fmt.Sprintf("k%05d", i), strconv.Itoa(i)})
	}
	if err := e.Replace(newSource(-1, kvs...), 7); err != nil {
		t.Fatal(err)
	}
	got := collect(t, e, nil, nil)
	if len(got) != len(kvs) {
		t.Fatalf("%d pairs after Replace, want %d", len(got), len(kvs))
	}
	for i := range got {
		if got[i] != kvs[i] {
			t.Fatalf("pair %d = %q (%d bytes), want %q", i, got[i].k, len(got[i].v), kvs[i].k)
		}
	}
	mustMissing(t, e, "stale")
	mustApplied(t, e, 7)
}

func mustCopyDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.CopyFS(to, os.DirFS(from)); err != nil {
		t.Fatal(err)
	}
}

// Crash test: a child process alternates Write and Replace on one engine and
// reports each acknowledged operation; the parent kills it with SIGKILL at
// varying points and checks that the reopened engine holds exactly one
// complete state at or after the last acknowledged one.

const (
	crashKeys  = 100
	crashPadMB = 5 // two pad values of this size make Replace span chunks
)

// crashState returns the content after operation n: every key k000.. holds n.
func crashState(n uint64) []kv {
	kvs := make([]kv, 0, crashKeys+2)
	for i := 0; i < crashKeys; i++ {
		kvs = append(kvs, kv{fmt.Sprintf("k%03d", i), strconv.FormatUint(n, 10)})
	}
	pad := strings.Repeat("p", crashPadMB<<20)
	return append(kvs, kv{"pad0", pad}, kv{"pad1", pad})
}

func crashHelper(dir string) int {
	e, err := OpenLevelDB(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	n, err := e.AppliedIndex()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	for {
		n++
		if n%2 == 1 { // Replace, also the first operation on a new directory
			err = e.Replace(newSource(-1, crashState(n)...), n)
		} else {
			var b Batch
			for _, p := range crashState(n)[:crashKeys] {
				b.Put([]byte(p.k), []byte(p.v))
			}
			err = e.Write(&b, n)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		fmt.Printf("ack %d\n", n)
	}
}

func TestLevelDBCrashDuringWriteAndReplace(t *testing.T) {
	dir := t.TempDir()
	var acked uint64
	for round := 0; round < 4; round++ {
		// Even rounds kill while a Replace runs (odd n), odd rounds during a Write.
		killDuringReplace := round%2 == 0
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashHelperEnv+"="+dir)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			n, err := strconv.ParseUint(strings.TrimPrefix(sc.Text(), "ack "), 10, 64)
			if err != nil {
				t.Fatalf("helper said %q", sc.Text())
			}
			acked = n
			if nextIsReplace := (n+1)%2 == 1; nextIsReplace == killDuringReplace {
				break
			}
		}
		_ = cmd.Process.Kill() // SIGKILL, most likely in the middle of the next operation
		_ = cmd.Wait()
		if acked == 0 {
			t.Fatalf("round %d: helper acknowledged nothing; stderr: %s", round, stderr.String())
		}

		t.Logf("round %d: killed after ack %d; generation dirs %q", round, acked, genDirs(t, dir))
		e, err := OpenLevelDB(dir)
		if err != nil {
			t.Fatalf("round %d: reopen after kill: %v", round, err)
		}
		applied, err := e.AppliedIndex()
		if err != nil {
			t.Fatal(err)
		}
		if applied < acked {
			t.Fatalf("round %d: applied index %d, but %d was acknowledged", round, applied, acked)
		}
		got := collect(t, e, nil, nil)
		want := crashState(applied)
		if len(got) != len(want) {
			t.Fatalf("round %d: %d keys after recovery, want %d", round, len(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("round %d: key %q = %.20q, want %.20q (applied %d)", round, got[i].k, got[i].v, want[i].v, applied)
			}
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		if d := genDirs(t, dir); len(d) != 1 {
			t.Fatalf("round %d: generation dirs after recovery: %q", round, d)
		}
	}
}
