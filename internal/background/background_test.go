package background

import (
	"errors"
	"runtime"
	"sync"
	"testing"
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
	base := lockedNice(t)
	if base >= Nice {
		t.Fatalf("the test runs at nice %d already; cannot tell a lowered thread apart", base)
	}
	for range 20 {
		var got int
		if err := Run(func() (err error) { got, err = threadNice(); return err }); err != nil {
			t.Fatal(err)
		}
		if got != Nice {
			t.Fatalf("background thread at nice %d, want %d", got, Nice)
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
