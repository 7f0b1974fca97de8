//go:build linux

package background

import "syscall"

// lower raises the calling thread's nice value by Nice (to at most 19). On
// Linux the nice value belongs to a thread: PRIO_PROCESS with a thread ID
// changes that thread only. The thread starts at the value of the thread that
// created it, the process's. A failure (a sandbox refusing the call) leaves
// the thread as it was.
func lower() {
	base, err := threadNice()
	if err != nil {
		return
	}
	_ = syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), backgroundNice(base))
}

// threadNice returns the calling thread's nice value.
func threadNice() (int, error) {
	// The raw system call returns 20 - nice, so that it is never negative.
	p, err := syscall.Getpriority(syscall.PRIO_PROCESS, syscall.Gettid())
	return 20 - p, err
}
