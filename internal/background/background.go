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
// priority. On idle cores the priority changes nothing. While it runs, a
// background thread also counts one more Go processor for the process (see
// procs), so it never takes one from client work. Work that clients are
// about to wait for after all (a flush the writes are catching up with) runs
// the same way at the process's own priority (Urgent).
package background

import (
	"os"
	"runtime"
	"sync"
)

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
func Go(fn func()) { start(fn, true) }

// Urgent runs fn like Go, on a thread of its own with a Go processor of its
// own, but at the process's priority: background work that clients are about
// to wait for (a flush that has fallen behind the writes filling the next
// window). A thread's priority can be lowered but, without privileges, not
// raised again, so the choice is made when the thread starts.
func Urgent(fn func()) { start(fn, false) }

func start(fn func(), low bool) {
	go func() {
		// Changing GOMAXPROCS stops the world; a thread at a lower priority
		// could keep it stopped while other processes hold the cores, so the
		// changes are made at the normal priority: before lower, and after
		// fn from another goroutine.
		procs.add(1)
		defer func() { go procs.add(-1) }()
		runtime.LockOSThread()
		// No UnlockOSThread: the thread must end with the goroutine.
		if low {
			lower()
		}
		fn()
	}()
}

// procs gives each running background thread a Go processor of its own.
//
// A goroutine holds a processor (one of GOMAXPROCS) while its thread runs Go
// code, and the Go scheduler, not the kernel, decides which goroutine gets
// one: the thread's nice value cannot make it yield a processor to client
// work. With GOMAXPROCS=1 (a node given one core's share of a host it shares
// with other nodes) a flush of the write-behind buffer would hold the only
// processor for up to hundreds of milliseconds, giving it up only when the
// runtime preempts it every 10 ms. So while background threads run, the
// process has that many more processors than configured; the kernel then
// shares the cores between the threads by their nice values.
var procs extraProcs

type extraProcs struct {
	mu      sync.Mutex
	running int
	base    int  // GOMAXPROCS before the first running thread raised it
	dflt    bool // base was the runtime's own choice (no GOMAXPROCS variable)
}

func (p *extraProcs) add(d int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.running == 0 {
		p.base = runtime.GOMAXPROCS(0)
		p.dflt = os.Getenv("GOMAXPROCS") == ""
	}
	p.running += d
	switch {
	case p.running > 0:
		runtime.GOMAXPROCS(p.base + p.running)
	case p.dflt:
		// Hand the choice back to the runtime, which follows the CPU limit.
		runtime.SetDefaultGOMAXPROCS()
	default:
		runtime.GOMAXPROCS(p.base)
	}
}

// Run runs fn on a background thread and returns its error.
func Run(fn func() error) error {
	done := make(chan error, 1)
	Go(func() { done <- fn() })
	return <-done
}
