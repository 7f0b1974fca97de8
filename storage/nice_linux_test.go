//go:build linux

package storage

import "syscall"

// threadNice returns the calling thread's nice value (-1 if unknown).
func threadNice() int {
	// The raw system call returns 20 - nice, so that it is never negative.
	p, err := syscall.Getpriority(syscall.PRIO_PROCESS, syscall.Gettid())
	if err != nil {
		return -1
	}
	return 20 - p
}
