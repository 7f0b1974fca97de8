package background

import (
	"errors"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
)

func TestRunReturnsTheError(t *testing.T) {
	want := errors.New("boom")
	if err := Run(func() error { return want }); err != want {
		t.Fatalf("Run = %v, want %v", err, want)
	}
	if err := Run(func() error { return nil }); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
}

func TestBackgroundThreadsRunAtNice(t *testing.T) {
	if runtime.GOOS != "linux" {
		if _, err := threadNice(); !errors.Is(err, errors.ErrUnsupported) {
			t.Fatalf("threadNice off Linux = %v", err)
		}
		return
	}
	// Run at nice 19 already, the test sees the background threads at 19
	// too, which the checks below accept; anywhere else they are apart.
	base := lockedNice(t)
	want := backgroundNice(base)
	for range 20 {
		var got int
		if err := Run(func() (err error) { got, err = threadNice(); return err }); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("background thread at nice %d, want %d (the process runs at %d)", got, want, base)
		}
	}
	// The lowered threads ended with their goroutines: no other goroutine
	// runs on one. Many goroutines at once, so the runtime has to use
	// whatever idle threads it has.
	var wg sync.WaitGroup
	nices := make([]int, 64)
	for i := range nices {
		wg.Go(func() { nices[i] = lockedNice(t) })
	}
	wg.Wait()
	for i, n := range nices {
		if n != base {
			t.Fatalf("goroutine %d ran at nice %d, want %d", i, n, base)
		}
	}
}

// Urgent work runs on a thread of its own at the process's priority, while
// Go's threads still run lower.
func TestUrgentThreadsRunAtTheProcessPriority(t *testing.T) {
	if runtime.GOOS != "linux" {
		return
	}
	base := lockedNice(t)
	for range 20 {
		got := make(chan int, 1)
		Urgent(func() {
			n, err := threadNice()
			if err != nil {
				t.Error(err)
			}
			got <- n
		})
		if n := <-got; n != base {
			t.Fatalf("urgent thread at nice %d, want the process's %d", n, base)
		}
		var low int
		if err := Run(func() (err error) { low, err = threadNice(); return err }); err != nil {
			t.Fatal(err)
		}
		if low != backgroundNice(base) {
			t.Fatalf("background thread after an urgent one at nice %d, want %d", low, backgroundNice(base))
		}
	}
}

func TestBackgroundNiceIsRelative(t *testing.T) {
	for base, want := range map[int]int{-20: -10, -5: 5, 0: 10, 5: 15, 9: 19, 12: 19, 19: 19} {
		if got := backgroundNice(base); got != want {
			t.Errorf("backgroundNice(%d) = %d, want %d", base, got, want)
		}
	}
}

// lockedNice returns the nice value of the calling goroutine's thread.
func lockedNice(t *testing.T) int {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	n, err := threadNice()
	if err != nil {
		t.Error(err)
	}
	return n
}

// procsSettle waits until no background thread holds an extra processor and
// returns GOMAXPROCS then. A thread gives its processor back after fn
// returns, so after Run has returned.
func procsSettle(t *testing.T) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		procs.mu.Lock()
		running := procs.running
		procs.mu.Unlock()
		if running == 0 {
			return runtime.GOMAXPROCS(0)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d background threads still counted as running", running)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestBackgroundThreadsGetProcessorsOfTheirOwn(t *testing.T) {
	for _, base := range []int{1, 3} {
		procsSettle(t) // threads of other tests may still be ending
		prev := runtime.GOMAXPROCS(base)
		t.Setenv("GOMAXPROCS", strconv.Itoa(base)) // an explicit setting, restored as it was
		// Two threads at once: each adds one while it runs.
		started := make(chan struct{}, 2)
		release := make(chan struct{})
		var wg sync.WaitGroup
		for range 2 {
			wg.Add(1)
			Go(func() {
				defer wg.Done()
				started <- struct{}{}
				<-release
			})
		}
		<-started
		<-started
		if n := runtime.GOMAXPROCS(0); n != base+2 {
			t.Errorf("base %d: GOMAXPROCS %d while two background threads run, want %d", base, n, base+2)
		}
		close(release)
		wg.Wait()
		if got := procsSettle(t); got != base {
			t.Errorf("GOMAXPROCS after = %d, want %d restored", got, base)
		}
		runtime.GOMAXPROCS(prev)
	}
}

// Without a GOMAXPROCS variable the count comes back to the runtime's
// default. (Whether the runtime is back in its default mode, following CPU
// limits, cannot be read; the value can.)
func TestBackgroundThreadsWithoutAVariable(t *testing.T) {
	procsSettle(t)
	if v, ok := os.LookupEnv("GOMAXPROCS"); ok {
		os.Unsetenv("GOMAXPROCS")
		t.Cleanup(func() { os.Setenv("GOMAXPROCS", v) })
	}
	prev := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	runtime.SetDefaultGOMAXPROCS()
	dflt := runtime.GOMAXPROCS(0)
	var during int
	if err := Run(func() error { during = runtime.GOMAXPROCS(0); return nil }); err != nil {
		t.Fatal(err)
	}
	if during != dflt+1 {
		t.Errorf("GOMAXPROCS %d while a background thread runs, want %d", during, dflt+1)
	}
	if got := procsSettle(t); got != dflt {
		t.Errorf("GOMAXPROCS after = %d, want the default %d", got, dflt)
	}
}
