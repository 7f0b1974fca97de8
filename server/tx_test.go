package server_test

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/riot-kv/riot-redis/internal/testcluster"
)

// TestClusterTransactions runs MULTI/EXEC and WATCH through clients connected
// to different nodes of one cluster: the leader and both followers (whose
// transactions are relayed to the leader as one command).
func TestClusterTransactions(t *testing.T) {
	c := testcluster.New(t, 3, testcluster.Options{})
	c.WaitForLeader(20 * time.Second)

	// Optimistic increments with WATCH from every node must not lose one:
	// a conflict anywhere in the cluster makes EXEC fail, and the client
	// retries.
	t.Run("watch increments", func(t *testing.T) {
		ctx := ctxT(t, 2*time.Minute)
		const perClient = 50
		var (
			wg      sync.WaitGroup
			retries atomic.Int64
			errs    = make(chan error, len(c.Nodes))
		)
		for _, n := range c.Nodes {
			rdb := n.Client()
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range perClient {
					for {
						err := rdb.Watch(ctx, func(tx *redis.Tx) error {
							v, err := tx.Get(ctx, "tx:counter").Int()
							if err != nil && !errors.Is(err, redis.Nil) {
								return err
							}
							_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
								p.Set(ctx, "tx:counter", strconv.Itoa(v+1), 0)
								return nil
							})
							return err
						}, "tx:counter")
						if errors.Is(err, redis.TxFailedErr) {
							retries.Add(1)
							continue
						}
						if err != nil {
							errs <- fmt.Errorf("%s: %w", n.Cfg.ID, err)
							return
						}
						break
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		mustGetAll(t, c, "tx:counter", strconv.Itoa(perClient*len(c.Nodes)))
		t.Logf("%d optimistic transactions retried after a conflict", retries.Load())
	})

	// Transfers between two keys in MULTI/EXEC from every node, while a
	// client on a follower reads both keys in MULTI/EXEC: every read sees
	// the same total.
	t.Run("atomic transfers", func(t *testing.T) {
		ctx := ctxT(t, 2*time.Minute)
		const total, transfers = 2000, 40
		setup := c.Nodes[0].Client()
		if err := setup.MSet(ctx, "tx:a", total/2, "tx:b", total/2).Err(); err != nil {
			t.Fatal(err)
		}
		var (
			wg    sync.WaitGroup
			done  = make(chan struct{})
			errs  = make(chan error, len(c.Nodes)+1)
			reads atomic.Int64
		)
		for i, n := range c.Nodes {
			rdb := n.Client()
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range transfers {
					amount := int64(i*7 + j + 1)
					from, to := "tx:a", "tx:b"
					if j%2 == 1 {
						from, to = to, from
					}
					cmds, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
						p.DecrBy(ctx, from, amount)
						p.IncrBy(ctx, to, amount)
						return nil
					})
					if err != nil || len(cmds) != 2 {
						errs <- fmt.Errorf("transfer on %s: %v, %v", n.Cfg.ID, cmds, err)
						return
					}
				}
			}()
		}
		reader := c.Followers()[0].Client()
		var readerWG sync.WaitGroup
		readerWG.Add(1)
		go func() {
			defer readerWG.Done()
			for {
				var a, b *redis.StringCmd
				_, err := reader.TxPipelined(ctx, func(p redis.Pipeliner) error {
					a = p.Get(ctx, "tx:a")
					b = p.Get(ctx, "tx:b")
					return nil
				})
				if err != nil {
					errs <- fmt.Errorf("reader: %w", err)
					return
				}
				av, _ := a.Int64()
				bv, _ := b.Int64()
				if av+bv != total {
					errs <- fmt.Errorf("reader saw a=%d b=%d: total %d, want %d", av, bv, av+bv, total)
					return
				}
				reads.Add(1)
				select {
				case <-done:
					return
				default:
				}
			}
		}()
		wg.Wait()
		close(done)
		readerWG.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if reads.Load() == 0 {
			t.Fatal("the reader completed no transaction")
		}
		a, errA := setup.Get(ctx, "tx:a").Int64()
		b, errB := setup.Get(ctx, "tx:b").Int64()
		if errA != nil || errB != nil || a+b != total {
			t.Fatalf("final a=%d (%v) b=%d (%v), total want %d", a, errA, b, errB, total)
		}
		t.Logf("%d transactional reads during %d transfers", reads.Load(), transfers*len(c.Nodes))
	})
}
