package fsm

import (
	"strconv"
	"sync"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/riot-kv/riot-redis/storage"
)

// A read of several keys under View never sees half of a batch: transfers
// between two keys, each one Raft entry, keep the sum constant in every View.
func TestViewIsAtomicWithApply(t *testing.T) {
	f, err := New(storage.NewMemory())
	if err != nil {
		t.Fatal(err)
	}
	apply := func(idx uint64, c *Command) {
		data, _ := c.MarshalBinary()
		f.Apply(&raft.Log{Index: idx, Type: raft.LogCommand, Data: data})
	}
	apply(1, NewBatch([]*Command{
		NewSet([]byte("a"), []byte("1000"), SetOptions{}),
		NewSet([]byte("b"), []byte("1000"), SetOptions{}),
	}))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := uint64(2); i < 2000; i++ {
			apply(i, NewBatch([]*Command{NewIncrBy([]byte("a"), -7), NewIncrBy([]byte("b"), 7)}))
		}
		close(stop)
	}()
	reads := 0
	for done := false; !done; {
		select {
		case <-stop:
			done = true
		default:
		}
		err := f.View(func(f *FSM) error {
			va, _, _ := f.Get([]byte("a"), 0)
			vb, _, _ := f.Get([]byte("b"), 0)
			a, _ := strconv.Atoi(string(va))
			b, _ := strconv.Atoi(string(vb))
			if a+b != 2000 {
				t.Errorf("View saw a=%d b=%d (sum %d), want sum 2000", a, b, a+b)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		reads++
	}
	wg.Wait()
	if reads == 0 {
		t.Fatal("no reads ran")
	}
}
