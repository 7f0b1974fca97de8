package server_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

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
