package server_test

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/riot-kv/riot-redis/fsm"
	"github.com/riot-kv/riot-redis/internal/testcluster"
)

// Client-built batches (a connection's pipelined writes) and single commands,
// proposed concurrently on the leader and on followers, share Raft entries;
// every proposer gets exactly its own results, and every increment counts once.
func TestClusterBatchedProposals(t *testing.T) {
	c := testcluster.New(t, 3, testcluster.Options{})
	c.WaitForLeader(20 * time.Second)
	ctx := ctxT(t, time.Minute)

	const workers, rounds, perBatch = 12, 20, 8
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		nd := c.Nodes[w%len(c.Nodes)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			node := nd.Raft()
			for r := 0; r < rounds; r++ {
				if w%3 == 0 { // a single command
					res, err := node.Propose(ctx, fsm.NewIncrBy([]byte("total"), perBatch))
					if err != nil || res.Kind != fsm.ResultInt {
						errs <- fmt.Errorf("single INCRBY: %v, %v", res, err)
						return
					}
					continue
				}
				cmds := make([]*fsm.Command, 0, perBatch+1)
				for i := 0; i < perBatch; i++ {
					cmds = append(cmds, fsm.NewIncrBy([]byte("total"), 1))
				}
				own := []byte(fmt.Sprintf("w%d-r%d", w, r))
				cmds = append(cmds, fsm.NewSet(own, own, fsm.SetOptions{}))
				res, err := node.Propose(ctx, fsm.NewBatch(cmds))
				if err != nil {
					errs <- fmt.Errorf("batch: %w", err)
					return
				}
				if res.Kind != fsm.ResultArray || len(res.Array) != perBatch+1 {
					errs <- fmt.Errorf("batch result %v", res)
					return
				}
				for i := 0; i < perBatch; i++ {
					if res.Array[i].Kind != fsm.ResultInt {
						errs <- fmt.Errorf("batch INCRBY result %v", res.Array[i])
						return
					}
				}
				if res.Array[perBatch].Kind != fsm.ResultOK {
					errs <- fmt.Errorf("batch SET result %v", res.Array[perBatch])
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	want := fmt.Sprint(workers * rounds * perBatch)
	mustGetAll(t, c, "total", want)
	mustGetAll(t, c, "w1-r19", "w1-r19")

	// A malformed client batch is refused alone and changes nothing.
	bad := &fsm.Command{Op: fsm.OpBatch, Args: [][]byte{fsm.NewIncrBy([]byte("total"), 1).AppendBinary(nil), {9, 9}}}
	res, err := c.Leader().Raft().Propose(ctx, bad)
	if err != nil || res.Kind != fsm.ResultError {
		t.Fatalf("malformed batch = %v, %v; want an error result", res, err)
	}
	mustGetAll(t, c, "total", want)
}

// Writes sent to a follower by many clients at once are relayed to the leader
// in shared calls (INFO raft_relay_calls against raft_relayed_writes); every
// client still gets its own reply, and every increment counts once.
func TestFollowerRelaysConcurrentWritesTogether(t *testing.T) {
	c := testcluster.New(t, 3, testcluster.Options{})
	c.WaitForLeader(20 * time.Second)
	f := c.MustFollowers(2)[0]
	ctx := ctxT(t, 2*time.Minute)
	fc := f.Client()
	relayed := func() (writes, calls uint64) {
		v := raftCounters(t, ctx, fc, "raft_relayed_writes", "raft_relay_calls")
		return v[0], v[1]
	}
	w0, c0 := relayed()

	const clients, incrs, piped = 32, 25, 4
	var wg sync.WaitGroup
	replies := make(chan int64, clients*(incrs+piped))
	errs := make(chan error, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := redis.NewClient(&redis.Options{Addr: f.Cfg.RESPAddr, PoolSize: 1, MaxRetries: -1})
			defer cl.Close()
			for range incrs {
				v, err := cl.Incr(ctx, "counter").Result()
				if err != nil {
					errs <- fmt.Errorf("INCR: %w", err)
					return
				}
				replies <- v
			}
			// A pipeline travels as one batch inside the shared call.
			p := cl.Pipeline()
			incr := make([]*redis.IntCmd, piped)
			for j := range incr {
				incr[j] = p.Incr(ctx, "counter")
			}
			own := fmt.Sprintf("client-%d", i)
			set := p.Set(ctx, own, own, 0)
			if _, err := p.Exec(ctx); err != nil {
				errs <- fmt.Errorf("pipeline: %w", err)
				return
			}
			for _, r := range incr {
				replies <- r.Val()
			}
			if set.Val() != "OK" {
				errs <- fmt.Errorf("pipelined SET: %q", set.Val())
			}
		}()
	}
	wg.Wait()
	close(errs)
	close(replies)
	for err := range errs {
		t.Fatal(err)
	}
	// Each INCR saw a value of its own: 1..total, each once.
	total := clients * (incrs + piped)
	seen := make(map[int64]bool, total)
	for v := range replies {
		if v < 1 || v > int64(total) || seen[v] {
			t.Fatalf("INCR reply %d: out of 1..%d or seen twice", v, total)
		}
		seen[v] = true
	}
	if len(seen) != total {
		t.Fatalf("%d distinct INCR replies, want %d", len(seen), total)
	}
	mustGetAll(t, c, "counter", strconv.Itoa(total))
	mustGetAll(t, c, "client-7", "client-7")

	w1, c1 := relayed()
	writes, calls := w1-w0, c1-c0
	if want := uint64(clients * (incrs + piped + 1)); writes != want {
		t.Fatalf("relayed %d writes, want %d", writes, want)
	}
	if calls == 0 || calls >= writes {
		t.Fatalf("%d writes relayed in %d calls: none shared a call", writes, calls)
	}
	t.Logf("%d writes relayed in %d calls", writes, calls)
}
