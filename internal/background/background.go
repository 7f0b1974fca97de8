// Package background runs work that no client waits for (the engine's
// write-behind flush, writing a Raft snapshot) on threads of its own at a lower
// CPU priority.
//
// A node's client-facing work (reading commands, the Raft commit cycle,
// replies) and its background work share the machine's cores. When the cores
// are busy, a flush that holds one for hundreds of milliseconds delays every
// wake-up on the commit path behind it; the kernel's scheduler cannot tell the
// two apart unless the threads say so. Background work therefore runs on an
// OS thread locked to its goroutine, with a higher nice value. The thread is
// never handed back to the Go scheduler: when the goroutine returns, the
// runtime ends the thread with it, so no other goroutine inherits the lower
// priority. On idle cores the priority changes nothing.
package background

import "runtime"

// Nice is how much higher than the rest of the process a background thread's
// nice value is (0 is the default; 19 the lowest priority, where it stops). At
// 10 the kernel gives a busy background thread about a tenth of the CPU share
// of one of the process's other threads competing for the same core.
const Nice = 10

// maxNice is the highest (least favoured) nice value.
const maxNice = 19

// backgroundNice is the nice value for a background thread of a process
// running at base.
func backgroundNice(base int) int { return min(base+Nice, maxNice) }

// Go runs fn in a new goroutine on a background thread.
func Go(fn func()) {
	go func() {
		runtime.LockOSThread()
		// No UnlockOSThread: the thread must end with the goroutine.
		lower()
		fn()
	}()
}

// Run runs fn on a background thread and returns its error.
func Run(fn func() error) error {
	done := make(chan error, 1)
	Go(func() { done <- fn() })
	return <-done
}
