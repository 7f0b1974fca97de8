package resp

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestShutdown: SHUTDOWN calls Config.Shutdown once and closes the
// connection without a reply; its flags are checked as Redis checks them;
// without a Shutdown function it is refused.
func TestShutdown(t *testing.T) {
	var calls atomic.Int32
	called := make(chan struct{}, 4)
	s := mustServer(t, mustNode(t), Config{Shutdown: func() { calls.Add(1); called <- struct{}{} }})
	rdb := mustClient(t, s, &redis.Options{Protocol: 2, MaxRetries: -1})
	ctx := testContext(t)

	for _, tc := range []struct{ args []any }{
		{[]any{"SHUTDOWN", "ABORT"}},
		{[]any{"SHUTDOWN", "SAVE", "NOSAVE"}},
		{[]any{"SHUTDOWN", "NOW", "ABORT"}},
		{[]any{"SHUTDOWN", "LATER"}},
	} {
		if err := rdb.Do(ctx, tc.args...).Err(); err == nil || !strings.HasPrefix(err.Error(), "ERR ") {
			t.Errorf("%v: %v, want an error", tc.args, err)
		}
	}
	if _, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Do(ctx, "SHUTDOWN")
		return nil
	}); err == nil || !strings.HasPrefix(err.Error(), "EXECABORT") {
		t.Errorf("SHUTDOWN inside MULTI: %v, want EXECABORT", err)
	}
	if calls.Load() != 0 {
		t.Fatalf("Shutdown called %d times by refused SHUTDOWNs", calls.Load())
	}

	if err := rdb.Do(ctx, "SHUTDOWN", "NOSAVE", "NOW").Err(); err == nil || strings.HasPrefix(err.Error(), "ERR") {
		t.Fatalf("SHUTDOWN NOSAVE NOW: %v, want the connection closed without a reply", err)
	}
	select {
	case <-called:
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown was not called")
	}
	other := mustClient(t, s, &redis.Options{Protocol: 2, MaxRetries: -1})
	other.Do(ctx, "SHUTDOWN")
	time.Sleep(50 * time.Millisecond) // a second call would have been started by now
	if n := calls.Load(); n != 1 {
		t.Errorf("Shutdown called %d times, want once", n)
	}

	off := mustClient(t, mustServer(t, mustNode(t), Config{}), &redis.Options{Protocol: 2})
	if err := off.Do(ctx, "SHUTDOWN").Err(); err == nil || err.Error() != errTextShutdownOff {
		t.Errorf("SHUTDOWN without a Shutdown function: %v", err)
	}
}
