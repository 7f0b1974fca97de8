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
