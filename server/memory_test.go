package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCacheMBFor(t *testing.T) {
	for _, c := range []struct {
		limit uint64
		want  int
	}{
		{0, 64},           // unknown: the storage default
		{256 << 20, 64},   // a small container: never below 64 MiB
		{2 << 30, 256},    // an eighth
		{24 << 30, 3072},  // the benchmark machine
		{1 << 40, 4096},   // capped
		{1<<64 - 1, 4096}, // cgroup v1's "no limit"
	} {
		if got := cacheMBFor(c.limit); got != c.want {
			t.Errorf("cacheMBFor(%d) = %d, want %d", c.limit, got, c.want)
		}
	}
}

func TestParseMemoryFiles(t *testing.T) {
	meminfo := "MemTotal:       24570484 kB\nMemFree:         1234567 kB\n"
	if v, ok := parseMemTotal(strings.NewReader(meminfo)); !ok || v != 24570484<<10 {
		t.Errorf("parseMemTotal = %d, %v", v, ok)
	}
	for _, bad := range []string{"", "MemFree: 12 kB\n", "MemTotal: lots kB\n", "MemTotal: 12 MB\n", "MemTotal: 0 kB\n"} {
		if v, ok := parseMemTotal(strings.NewReader(bad)); ok {
			t.Errorf("parseMemTotal(%q) = %d, want no value", bad, v)
		}
	}
	if v, ok := parseCgroupLimit("1073741824\n"); !ok || v != 1<<30 {
		t.Errorf("parseCgroupLimit = %d, %v", v, ok)
	}
	for _, bad := range []string{"max\n", "", "0\n", "-1\n", "1.5G"} {
		if v, ok := parseCgroupLimit(bad); ok {
			t.Errorf("parseCgroupLimit(%q) = %d, want no value", bad, v)
		}
	}
}

// memoryLimit takes the lower of the machine's memory and the cgroup's
// limit, and the machine's when the cgroup has none.
func TestMemoryLimit(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	oldInfo, oldLimits := memInfoFile, cgroupLimits
	t.Cleanup(func() { memInfoFile, cgroupLimits = oldInfo, oldLimits })

	memInfoFile = write("meminfo", "MemTotal: 8388608 kB\n") // 8 GiB
	cgroupLimits = []string{write("v2", "max\n"), filepath.Join(dir, "absent")}
	if got := memoryLimit(); got != 8<<30 {
		t.Errorf("no cgroup limit: %d, want 8 GiB", got)
	}
	cgroupLimits = []string{write("v2b", "2147483648\n")}
	if got := memoryLimit(); got != 2<<30 {
		t.Errorf("2 GiB cgroup limit: %d, want 2 GiB", got)
	}
	cgroupLimits = []string{write("v1", "9223372036854771712\n")}
	if got := memoryLimit(); got != 8<<30 {
		t.Errorf("cgroup v1 without a limit: %d, want 8 GiB", got)
	}
	memInfoFile = filepath.Join(dir, "absent")
	cgroupLimits = nil
	if got := memoryLimit(); got != 0 {
		t.Errorf("nothing known: %d, want 0", got)
	}
	if got := cacheMBFor(memoryLimit()); got != 64 {
		t.Errorf("cache with nothing known: %d MiB, want 64", got)
	}
}
