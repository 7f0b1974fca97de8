package fsm

import (
	"math"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/riot-kv/riot-redis/storage"
)

// A command stamped earlier than the one before it (a new leader whose clock
// is behind) runs at the later time: expiry never goes backwards, on every
// replica, across restarts and snapshots.
func TestClockNeverGoesBackwards(t *testing.T) {
	e := storage.NewMemory()
	f, err := New(e)
	if err != nil {
		t.Fatal(err)
	}
	idx := uint64(0)
	apply := func(f *FSM, now int64, c *Command) Result {
		idx++
		c.Now = now
		data, _ := c.MarshalBinary()
		return f.Apply(&raft.Log{Index: idx, Type: raft.LogCommand, Data: data}).(Result)
	}
	apply(f, 10_000, NewSet([]byte("a"), []byte("1"), SetOptions{TTL: 100})) // expires at 10100
	apply(f, 10_200, NewSet([]byte("other"), []byte("1"), SetOptions{}))     // the log reaches 10200: a has expired
	// The next leader's clock is 9 s behind: "a" must stay expired for the log.
	if r := apply(f, 1_000, NewIncrBy([]byte("a"), 1)); r.Kind != ResultInt || r.Int != 1 {
		t.Fatalf("INCR a at a backwards clock = %v; want 1 (a expired at 10100, the log is at 10200)", r)
	}
	apply(f, 1_000, NewSet([]byte("b"), []byte("x"), SetOptions{TTL: 50}))
	if at, ok, _ := f.ExpireAt([]byte("b"), 0); !ok || at != 10_250 {
		t.Fatalf("b expires at %d, %v; want 10250 (relative TTL from the log's time)", at, ok)
	}
	// A failed command does not move the clock.
	apply(f, 1_000, NewSet([]byte("s"), []byte("text"), SetOptions{}))
	if r := apply(f, 50_000, NewIncrBy([]byte("s"), 1)); r.Kind != ResultError {
		t.Fatalf("INCR of a string = %v", r)
	}
	if f.clock != 10_200 {
		t.Fatalf("clock %d after a failed command; want 10200", f.clock)
	}
	// Reopened on the same engine, and restored from a snapshot, the clock holds.
	g, err := New(e)
	if err != nil {
		t.Fatal(err)
	}
	if g.clock != 10_200 {
		t.Fatalf("clock after reopen %d; want 10200", g.clock)
	}
	h, err := New(storage.NewMemory())
	if err != nil {
		t.Fatal(err)
	}
	mustRestore(t, h, mustPersist(t, g))
	if h.clock != 10_200 {
		t.Fatalf("clock after restore %d; want 10200", h.clock)
	}
}

func TestMillisToSeconds(t *testing.T) {
	for _, c := range []struct{ ms, want int64 }{
		{0, 0}, {499, 0}, {500, 1}, {1499, 1}, {1500, 2}, {4102444800555, 4102444801},
		{math.MaxInt64 - 308, 9223372036854775}, // ...775499
		{math.MaxInt64, 9223372036854776},       // ...775807: Redis's reply, no overflow
	} {
		if got := MillisToSeconds(c.ms); got != c.want {
			t.Errorf("MillisToSeconds(%d) = %d, want %d", c.ms, got, c.want)
		}
	}
}
