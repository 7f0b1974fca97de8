//go:build linux

package background

import "syscall"

// lower sets the calling thread's nice value to Nice. On Linux the nice value
// belongs to a thread: PRIO_PROCESS with a thread ID changes that thread only.
// A failure (a sandbox refusing the call) leaves the thread as it was.
func lower() {
	_ = syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), Nice)
}

// threadNice returns the calling thread's nice value.
func threadNice() (int, error) {
	// The raw system call returns 20 - nice, so that it is never negative.
	p, err := syscall.Getpriority(syscall.PRIO_PROCESS, syscall.Gettid())
	return 20 - p, err
}
