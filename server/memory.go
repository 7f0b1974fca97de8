package server

import (
	"bufio"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/riot-kv/riot-redis/storage"
)

// The engine's read cache is sized, by default, to the memory the process
// may use: an eighth of it, between the storage package's 64 MiB and
// maxDefaultCacheMB. A dataset that fits is then read from memory, as
// Redis reads it, where a fixed 64 MiB sent reads of 1 KiB values to
// leveldb's tables once 100,000 of them were stored; the cache takes only
// what the data needs, so a small dataset costs no more than before. Three
// nodes on one host take up to three eighths between them; set
// --engine-cache-mb to choose.

const (
	// cacheMemoryShare is the part of the memory the default cache may take.
	cacheMemoryShare = 8
	// maxDefaultCacheMB caps the default cache.
	maxDefaultCacheMB = 4096
)

// Files that tell how much memory the process may use, on Linux.
var (
	memInfoFile  = "/proc/meminfo"
	cgroupLimits = []string{
		"/sys/fs/cgroup/memory.max",                   // cgroup v2
		"/sys/fs/cgroup/memory/memory.limit_in_bytes", // cgroup v1
	}
)

// defaultCacheMB is the read cache size, in MiB, for this machine.
func defaultCacheMB() int { return cacheMBFor(memoryLimit()) }

// cacheMBFor is the default cache for a process that may use limit bytes
// (0: unknown).
func cacheMBFor(limit uint64) int {
	floor := storage.DefaultCacheBytes >> 20
	mb := limit >> 20 / cacheMemoryShare
	return int(min(max(mb, uint64(floor)), maxDefaultCacheMB))
}

// memoryLimit returns the machine's memory, or the process's cgroup limit
// when that is lower, in bytes; 0 when neither is known (not Linux).
func memoryLimit() uint64 {
	var limit uint64
	if f, err := os.Open(memInfoFile); err == nil {
		limit, _ = parseMemTotal(f)
		f.Close()
	}
	for _, path := range cgroupLimits {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		if v, ok := parseCgroupLimit(string(b)); ok && (limit == 0 || v < limit) {
			limit = v
		}
	}
	return limit
}

// parseMemTotal reads MemTotal from /proc/meminfo's text, in bytes.
func parseMemTotal(r io.Reader) (uint64, bool) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, false
		}
		kb, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil || kb == 0 || kb > 1<<44 {
			return 0, false
		}
		return kb << 10, true
	}
	return 0, false
}

// parseCgroupLimit reads a cgroup memory limit file: a number of bytes, or
// "max" (no limit; cgroup v1 writes a huge number instead, which the
// machine's memory then bounds).
func parseCgroupLimit(s string) (uint64, bool) {
	v, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
	if err != nil || v == 0 {
		return 0, false
	}
	return v, true
}
