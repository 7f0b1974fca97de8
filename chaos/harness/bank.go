package harness

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Bank is the atomic-transfer workload: a fixed set of account keys, each set
// to Initial before the faults start; transfer clients on every node run
// MULTI / DECRBY a n / INCRBY b n / EXEC (balances may go negative), reader
// clients on every node read all accounts atomically (MULTI / GET ... / EXEC,
// and with MGet also MGET) and every successful read must sum to the initial
// total. A
// transfer with an unknown outcome is harmless: applied or not, it keeps the
// total.
type Bank struct {
	Prefix         string
	Accounts       int           // default 5
	Initial        int64         // default 100
	WorkersPerNode int           // transfer clients per node; default 1
	ReadersPerNode int           // reader clients per node; default 1
	MaxThink       time.Duration // default 10ms
	Timeout        time.Duration // client read timeout; default 5s
	MGet           bool          // half of the reads use MGET instead of MULTI / GET... / EXEC
	Seed           int64

	Transfers, TransfersUnknown, TransfersFailed atomic.Int64
	Reads, ReadsFailed                           atomic.Int64

	mu  sync.Mutex
	bad []string // reads whose sum was not the total
}

func (b *Bank) defaults() {
	if b.Accounts == 0 {
		b.Accounts = 5
	}
	if b.Initial == 0 {
		b.Initial = 100
	}
	if b.WorkersPerNode == 0 {
		b.WorkersPerNode = 1
	}
	if b.ReadersPerNode == 0 {
		b.ReadersPerNode = 1
	}
	if b.MaxThink == 0 {
		b.MaxThink = 10 * time.Millisecond
	}
	if b.Timeout == 0 {
		b.Timeout = 5 * time.Second
	}
}

// Key returns the i-th account key.
func (b *Bank) Key(i int) string { return fmt.Sprintf("%sbank:%d", b.Prefix, i) }

// Keys returns every account key.
func (b *Bank) Keys() []string {
	b.defaults()
	keys := make([]string, b.Accounts)
	for i := range keys {
		keys[i] = b.Key(i)
	}
	return keys
}

// Total is the sum every read must see.
func (b *Bank) Total() int64 { b.defaults(); return int64(b.Accounts) * b.Initial }

func (b *Bank) newClient(n *Node) *redis.Client { return oneConnClient(n, b.Timeout) }

// oneConnClient is a client of node n with one connection, no retries and
// the given read timeout.
func oneConnClient(n *Node, timeout time.Duration) *redis.Client {
	return redis.NewClient(&redis.Options{
		Addr: n.RESP, Protocol: 2, MaxRetries: -1, DisableIdentity: true,
		DialTimeout: time.Second, ReadTimeout: timeout, WriteTimeout: 2 * time.Second,
		PoolSize: 1, PoolTimeout: timeout + time.Second,
	})
}

// Init sets every account to Initial (SET is idempotent: retried until it
// succeeds) while the cluster is healthy.
func (b *Bank) Init(t testing.TB, c *Cluster) {
	t.Helper()
	b.defaults()
	for ki, key := range b.Keys() {
		attempt := 0
		c.Poll(30*time.Second, "initialising "+key, func() error {
			i := (ki + attempt) % len(c.Nodes)
			attempt++
			return c.Do(i, 5*time.Second, "SET", key, b.Initial).Err()
		})
	}
}

// Run runs transfer and reader clients on every node until ctx ends. Errors
// outside the documented set are noted in rec.
func (b *Bank) Run(ctx context.Context, c *Cluster, rec *Recorder) {
	b.defaults()
	var wg sync.WaitGroup
	seed := b.Seed
	for _, n := range c.Nodes {
		for k := 0; k < b.WorkersPerNode+b.ReadersPerNode; k++ {
			seed++
			reader := k >= b.WorkersPerNode
			cli := b.newClient(n)
			rnd := rand.New(rand.NewSource(seed))
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer cli.Close()
				paced(ctx, rnd, b.MaxThink, 0, func(int) {
					if reader {
						b.read(c, n, cli, rnd, rec)
					} else {
						b.transfer(n, cli, rnd, rec)
					}
				})
			}()
		}
	}
	wg.Wait()
}

func (b *Bank) transfer(n *Node, cli *redis.Client, rnd *rand.Rand, rec *Recorder) {
	from := rnd.Intn(b.Accounts)
	to := (from + 1 + rnd.Intn(b.Accounts-1)) % b.Accounts
	amount := int64(1 + rnd.Intn(50))
	ctx := context.Background()
	_, err := cli.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.DecrBy(ctx, b.Key(from), amount)
		p.IncrBy(ctx, b.Key(to), amount)
		return nil
	})
	if err == nil {
		b.Transfers.Add(1)
		return
	}
	if writeOutcome(err, rec, "bank transfer on "+n.ID) == clsFail {
		b.TransfersFailed.Add(1)
	} else {
		b.TransfersUnknown.Add(1)
	}
}

// readAll reads every account atomically, with MGET or with MULTI / GET... /
// EXEC, and returns the balances.
func (b *Bank) readAll(ctx context.Context, cli *redis.Client, multi bool) ([]int64, error) {
	keys := b.Keys()
	vals := make([]any, len(keys))
	if multi {
		cmds, err := cli.TxPipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range keys {
				p.Get(ctx, k)
			}
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, err
		}
		for i, cmd := range cmds {
			v, err := cmd.(*redis.StringCmd).Result()
			if err != nil {
				return nil, fmt.Errorf("account %s: %w", keys[i], err)
			}
			vals[i] = v
		}
	} else {
		var err error
		if vals, err = cli.MGet(ctx, keys...).Result(); err != nil {
			return nil, err
		}
	}
	out := make([]int64, len(keys))
	for i, v := range vals {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("account %s is missing (%v)", keys[i], v)
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("account %s = %q: %w", keys[i], s, err)
		}
		out[i] = n
	}
	return out, nil
}

func sum(vals []int64) int64 {
	var s int64
	for _, v := range vals {
		s += v
	}
	return s
}

func (b *Bank) violation(format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.bad = append(b.bad, fmt.Sprintf(format, args...))
}

func (b *Bank) read(c *Cluster, n *Node, cli *redis.Client, rnd *rand.Rand, rec *Recorder) {
	multi := !b.MGet || rnd.Intn(2) == 0
	call := c.Clock.Now()
	vals, err := b.readAll(context.Background(), cli, multi)
	if err != nil {
		var rerr redis.Error
		if errors.As(err, &rerr) && classify(err) == clsOdd {
			rec.NoteOdd(fmt.Sprintf("bank read on %s: %s", n.ID, err))
		} else if errors.Is(err, redis.Nil) || strings.Contains(err.Error(), "is missing") || errors.Is(err, strconv.ErrSyntax) {
			b.violation("read on %s at %s: %v", n.ID, time.Duration(call), err)
		}
		b.ReadsFailed.Add(1)
		return
	}
	b.Reads.Add(1)
	if s := sum(vals); s != b.Total() {
		b.violation("read on %s at %s (multi=%v) saw %v, sum %d, want %d", n.ID, time.Duration(call), multi, vals, s, b.Total())
	}
}

// Check fails t if any read saw a wrong total, or if the workload did no
// transfers or no reads (it would prove nothing). Then it reads every node
// with a linearizable read, and with READONLY until its local state equals
// that: every one of these reads must sum to the total.
func (b *Bank) Check(t testing.TB, c *Cluster) {
	t.Helper()
	b.mu.Lock()
	bad := b.bad
	b.mu.Unlock()
	for i, v := range bad {
		if i == 20 {
			t.Errorf("chaos: bank: ... and %d more wrong reads", len(bad)-i)
			break
		}
		t.Errorf("chaos: bank: %s", v)
	}
	t.Logf("chaos: bank: %d transfers applied, %d unknown outcome, %d not applied; %d reads, %d failed reads",
		b.Transfers.Load(), b.TransfersUnknown.Load(), b.TransfersFailed.Load(), b.Reads.Load(), b.ReadsFailed.Load())
	if b.Transfers.Load() == 0 || b.Reads.Load() == 0 {
		t.Errorf("chaos: bank: %d transfers and %d reads succeeded: the workload proves nothing", b.Transfers.Load(), b.Reads.Load())
	}
	for i, n := range c.Nodes {
		cli := b.newClient(n)
		var lin []int64
		c.Poll(60*time.Second, "a final linearizable bank read on "+n.ID, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			vals, err := b.readAll(ctx, cli, !b.MGet || i%2 == 0)
			lin = vals
			return err
		})
		cli.Close()
		if s := sum(lin); s != b.Total() {
			t.Errorf("chaos: bank: final linearizable read on %s saw %v, sum %d, want %d", n.ID, lin, s, b.Total())
		}
		ro := c.NewClient(i, true)
		c.Poll(30*time.Second, "the READONLY bank read on "+n.ID+" to match the linearizable one", func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			vals, err := b.readAll(ctx, ro, !b.MGet)
			if err != nil {
				return err
			}
			if s := sum(vals); s != b.Total() {
				t.Errorf("chaos: bank: final READONLY read on %s saw %v, sum %d, want %d", n.ID, vals, s, b.Total())
				return nil
			}
			if fmt.Sprint(vals) != fmt.Sprint(lin) {
				return fmt.Errorf("READONLY read %v, linearizable read %v", vals, lin)
			}
			return nil
		})
		ro.Close()
	}
	t.Logf("chaos: bank: final reads on every node sum to %d", b.Total())
}
