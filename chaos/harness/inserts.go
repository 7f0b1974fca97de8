package harness

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Inserts is the write-once workload: a client on every node SETs fresh
// keys that are never written again. The register and counter keys are
// overwritten and incremented all the time, so a replica that lost an old
// write hides it behind a newer one; a lost insert stays missing to the end.
// At the end every replica, read locally (READONLY), must hold every
// acknowledged insert, and all replicas the same inserts of unknown outcome.
type Inserts struct {
	Prefix         string
	WorkersPerNode int           // default 1
	MaxThink       time.Duration // default 5ms
	Timeout        time.Duration // client read timeout; default 5s
	Seed           int64

	mu      sync.Mutex
	acked   []string // keys whose SET was acknowledged (value = key)
	unknown []string // keys whose SET may or may not have been applied
	failed  int      // SETs certainly not applied
}

func (in *Inserts) defaults() {
	in.WorkersPerNode = cmp.Or(in.WorkersPerNode, 1)
	in.MaxThink = cmp.Or(in.MaxThink, 5*time.Millisecond)
	in.Timeout = cmp.Or(in.Timeout, 5*time.Second)
}

// Run inserts through every node until ctx ends.
func (in *Inserts) Run(ctx context.Context, c *Cluster, rec *Recorder) {
	in.defaults()
	var wg sync.WaitGroup
	seed := in.Seed
	for _, n := range c.Nodes {
		for k := 0; k < in.WorkersPerNode; k++ {
			seed++
			cli := oneConnClient(n, in.Timeout)
			rnd := rand.New(rand.NewSource(seed))
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer cli.Close()
				paced(ctx, rnd, in.MaxThink, 0, func(i int) {
					in.insert(n, cli, fmt.Sprintf("%sins:%s:%d:%d", in.Prefix, n.ID, k, i), rec)
				})
			}()
		}
	}
	wg.Wait()
}

func (in *Inserts) insert(n *Node, cli *redis.Client, key string, rec *Recorder) {
	err := cli.Set(context.Background(), key, key, 0).Err()
	in.mu.Lock()
	defer in.mu.Unlock()
	switch {
	case err == nil:
		in.acked = append(in.acked, key)
	case writeOutcome(err, rec, "insert on "+n.ID) == clsFail:
		in.failed++
	default:
		in.unknown = append(in.unknown, key)
	}
}

// Check reads every insert on every node with READONLY reads (each node's
// own state) until they agree: every acknowledged key present with its
// value on every node, and each key of unknown outcome present on all nodes
// or on none.
func (in *Inserts) Check(t testing.TB, c *Cluster) {
	t.Helper()
	in.mu.Lock()
	acked, unknown, failed := in.acked, in.unknown, in.failed
	in.mu.Unlock()
	t.Logf("chaos: inserts: %d acknowledged, %d unknown outcome, %d not applied", len(acked), len(unknown), failed)
	if len(acked) == 0 {
		t.Errorf("chaos: inserts: none acknowledged: the workload proves nothing")
		return
	}
	clis := make([]*redis.Client, len(c.Nodes))
	for i := range c.Nodes {
		clis[i] = c.NewClient(i, true)
		defer clis[i].Close()
	}
	c.Poll(30*time.Second, "every replica to hold every acknowledged insert", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		var problems []string
		var absent0 map[string]bool // node 0's inserts of unknown outcome that are absent
		for i, cli := range clis {
			missing, err := mgetMissing(ctx, cli, acked)
			if err != nil {
				return fmt.Errorf("%s: %w", c.Nodes[i].ID, err)
			}
			if len(missing) > 0 {
				problems = append(problems, fmt.Sprintf("%s lacks %d acknowledged inserts (first %s)", c.Nodes[i].ID, len(missing), missing[0]))
			}
			gone, err := mgetMissing(ctx, cli, unknown)
			if err != nil {
				return fmt.Errorf("%s: %w", c.Nodes[i].ID, err)
			}
			absent := map[string]bool{}
			for _, k := range gone {
				absent[k] = true
			}
			if i == 0 {
				absent0 = absent
				continue
			}
			for _, k := range unknown {
				if absent[k] != absent0[k] {
					problems = append(problems, fmt.Sprintf("insert %s of unknown outcome present on %s: %v, on %s: %v",
						k, c.Nodes[0].ID, !absent0[k], c.Nodes[i].ID, !absent[k]))
					break
				}
			}
		}
		if len(problems) > 0 {
			return errors.New(fmt.Sprint(problems))
		}
		return nil
	})
}

// mgetMissing reads keys (each holding itself as value) in batches and
// returns those absent; a present key with another value is an error.
func mgetMissing(ctx context.Context, cli *redis.Client, keys []string) ([]string, error) {
	var missing []string
	for start := 0; start < len(keys); start += 500 {
		batch := keys[start:min(start+500, len(keys))]
		vals, err := cli.MGet(ctx, batch...).Result()
		if err != nil {
			return nil, err
		}
		for j, v := range vals {
			switch s, ok := v.(string); {
			case v == nil:
				missing = append(missing, batch[j])
			case !ok || s != batch[j]:
				return nil, fmt.Errorf("insert %s holds %v", batch[j], v)
			}
		}
	}
	return missing, nil
}
