//go:build unix

package cluster

import "golang.org/x/sys/unix"

// freeBytes returns the bytes available to the process on the file system
// holding dir.
func freeBytes(dir string) (uint64, bool) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, false
	}
	return st.Bavail * uint64(st.Bsize), true
}
