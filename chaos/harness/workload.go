package harness

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The reply text of INCR on a value that is not an integer (Redis's own).
const errTextNotInteger = "ERR value is not an integer or out of range"

// Workload drives go-redis clients against every node: GET, SET and INCR on a
// few register keys (SET writes unique values, mostly integers, sometimes
// not, so INCR's error path is exercised), INCR and GET on counter keys, and
// a WATCH/MULTI/EXEC compare-and-set on register keys when the server
// supports transactions (see DetectCAS).
type Workload struct {
	Prefix          string        // key prefix, so runs on one cluster never share keys
	RegisterKeys    int           // default 5
	CounterKeys     int           // default 2
	WorkersPerNode  int           // default 2
	MaxThink        time.Duration // a worker waits uniformly in [0, MaxThink) between ops; default 10ms
	MaxOpsPerWorker int           // bound on each worker's loop; default 100000
	Timeout         time.Duration // client read timeout; default 5s
	CAS             bool          // include compare-and-set (set by DetectCAS)
	Seed            int64
}

func (w *Workload) defaults() {
	if w.RegisterKeys == 0 {
		w.RegisterKeys = 5
	}
	if w.CounterKeys == 0 {
		w.CounterKeys = 2
	}
	if w.WorkersPerNode == 0 {
		w.WorkersPerNode = 2
	}
	if w.MaxThink == 0 {
		w.MaxThink = 10 * time.Millisecond
	}
	if w.MaxOpsPerWorker == 0 {
		w.MaxOpsPerWorker = 100000
	}
	if w.Timeout == 0 {
		w.Timeout = 5 * time.Second
	}
}

// RegisterKey returns the i-th register key.
func (w *Workload) RegisterKey(i int) string { return fmt.Sprintf("%sreg:%d", w.Prefix, i) }

// CounterKey returns the i-th counter key.
func (w *Workload) CounterKey(i int) string { return fmt.Sprintf("%sctr:%d", w.Prefix, i) }

// Keys returns every key the workload touches.
func (w *Workload) Keys() []string {
	w.defaults()
	var keys []string
	for i := 0; i < w.RegisterKeys; i++ {
		keys = append(keys, w.RegisterKey(i))
	}
	for i := 0; i < w.CounterKeys; i++ {
		keys = append(keys, w.CounterKey(i))
	}
	return keys
}

// IsCounter reports whether key is a counter key (only ever incremented).
func (w *Workload) IsCounter(key string) bool { return strings.HasPrefix(key, w.Prefix+"ctr:") }

// DetectCAS enables the compare-and-set workload if the server accepts MULTI.
func (w *Workload) DetectCAS(t testing.TB, c *Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cli := c.NewClient(0, false) // MULTI changes the connection's state: not the pooled admin client
	defer cli.Close()
	err := cli.Do(ctx, "MULTI").Err()
	if err == nil {
		cli.Do(ctx, "DISCARD")
		w.CAS = true
		t.Logf("chaos: MULTI accepted: WATCH/MULTI/EXEC compare-and-set workload enabled")
		return
	}
	t.Logf("chaos: compare-and-set workload disabled (MULTI: %v)", err)
}

// NewClient returns a client of node n as the workload uses them: RESP2, no
// retries (a retried write could apply twice), one connection.
func (w *Workload) NewClient(n *Node) *redis.Client {
	w.defaults()
	return redis.NewClient(&redis.Options{
		Addr: n.RESP, Protocol: 2, MaxRetries: -1, DisableIdentity: true,
		DialTimeout: time.Second, ReadTimeout: w.Timeout, WriteTimeout: 2 * time.Second,
		PoolSize: 1, PoolTimeout: w.Timeout + time.Second, MinIdleConns: 0,
	})
}

// Run runs the workers until ctx ends (or each reached MaxOpsPerWorker) and
// records every operation in rec.
func (w *Workload) Run(ctx context.Context, c *Cluster, rec *Recorder) {
	w.defaults()
	var wg sync.WaitGroup
	seed := w.Seed
	for _, n := range c.Nodes {
		for k := 0; k < w.WorkersPerNode; k++ {
			seed++
			wk := &worker{w: w, c: c, rec: rec, node: n, cli: w.NewClient(n), rnd: rand.New(rand.NewSource(seed))}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer wk.cli.Close()
				wk.run(ctx)
			}()
		}
	}
	wg.Wait()
}

type worker struct {
	w    *Workload
	c    *Cluster
	rec  *Recorder
	node *Node
	cli  *redis.Client
	rnd  *rand.Rand
	proc int
}

func (wk *worker) run(ctx context.Context) {
	wk.proc = wk.rec.NewProc()
	paced(ctx, wk.rnd, wk.w.MaxThink, wk.w.MaxOpsPerWorker, func(int) { wk.op() })
}

// paced calls op with 0, 1, 2... until ctx ends (or n times, when n > 0),
// waiting a uniformly random time in [0, maxThink] between calls.
func paced(ctx context.Context, rnd *rand.Rand, maxThink time.Duration, n int, op func(i int)) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := 0; n <= 0 || i < n; i++ {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		op(i)
		timer.Reset(time.Duration(rnd.Int63n(int64(maxThink) + 1)))
	}
}

// choose picks the next operation.
func (wk *worker) choose() Input {
	w := wk.w
	r := wk.rnd
	if w.CounterKeys > 0 && r.Intn(4) == 0 {
		in := Input{Key: w.CounterKey(r.Intn(w.CounterKeys)), Kind: OpIncr}
		if r.Intn(4) == 0 {
			in.Kind = OpGet
		}
		return in
	}
	in := Input{Key: w.RegisterKey(r.Intn(w.RegisterKeys))}
	p := r.Intn(100)
	switch {
	case w.CAS && p < 10:
		in.Kind = OpCAS
		in.Arg = wk.value(r)
	case p < 45:
		in.Kind = OpGet
	case p < 80:
		in.Kind = OpSet
		in.Arg = wk.value(r)
	default:
		in.Kind = OpIncr
	}
	return in
}

// value returns a value no other write of the run uses: mostly integers (so
// INCR applies), one in ten not (so INCR fails).
func (wk *worker) value(r *rand.Rand) string {
	u := wk.rec.values.Add(1)
	if r.Intn(10) == 0 {
		return "v" + strconv.FormatInt(u, 10)
	}
	return strconv.FormatInt(1000000*u, 10)
}

// op runs one operation and records it.
func (wk *worker) op() {
	in := wk.choose()
	ctx := context.Background()
	clock := wk.c.Clock
	op := Op{Proc: wk.proc, Node: wk.node.ID, Input: in}
	op.Call = clock.Now()
	var err error
	switch in.Kind {
	case OpGet:
		var v string
		v, err = wk.cli.Get(ctx, in.Key).Result()
		switch {
		case err == nil:
			op.Output = Output{Kind: OutValue, Val: v}
		case errors.Is(err, redis.Nil):
			op.Output, err = Output{Kind: OutNil}, nil
		}
	case OpSet:
		err = wk.cli.Set(ctx, in.Key, in.Arg, 0).Err()
		op.Output = Output{Kind: OutOK}
	case OpIncr:
		var n int64
		n, err = wk.cli.Incr(ctx, in.Key).Result()
		op.Output = Output{Kind: OutInt, Int: n}
	case OpCAS:
		err = wk.cas(ctx, &op)
	}
	op.Return = clock.Now()
	if err == nil {
		wk.rec.Add(op)
		return
	}
	op.Err = err.Error()
	switch cls := classify(err); {
	case cls == clsNotInt && in.Kind == OpIncr:
		op.Output = Output{Kind: OutNotInt}
		wk.rec.Add(op)
	case cls == clsOdd:
		wk.rec.NoteOdd(fmt.Sprintf("%s on %s: %s", in.Kind, wk.node.ID, err))
		fallthrough
	case cls == clsUnknown || cls == clsNotInt:
		if !in.Kind.IsWrite() {
			wk.rec.Tally.Fail.Add(1) // a read that failed tells nothing
			return
		}
		op.Output = Output{Kind: OutUnknown}
		wk.rec.Add(op)
		// This client's later operations must not be ordered after an
		// operation that may still be pending: continue as a new client.
		wk.proc = wk.rec.NewProc()
	default: // clsFail: certainly not applied
		if in.Kind.IsWrite() {
			wk.rec.AddFailed(op)
		} else {
			wk.rec.Tally.Fail.Add(1)
		}
	}
}

// errNoRead marks a CAS that failed before its read: nothing happened.
var errNoRead = errors.New("chaos: cas read failed")

// cas runs WATCH key; GET key; MULTI; SET key new; EXEC.
func (wk *worker) cas(ctx context.Context, op *Op) error {
	read := false
	err := wk.cli.Watch(ctx, func(tx *redis.Tx) error {
		v, err := tx.Get(ctx, op.Input.Key).Result()
		switch {
		case errors.Is(err, redis.Nil):
			op.Input.ExpOK = false
		case err != nil:
			return fmt.Errorf("%w: %w", errNoRead, err)
		default:
			op.Input.Exp, op.Input.ExpOK = v, true
		}
		read = true
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, op.Input.Key, op.Input.Arg, 0)
			return nil
		})
		return err
	}, op.Input.Key)
	switch {
	case err == nil:
		op.Output = Output{Kind: OutOK}
		return nil
	case errors.Is(err, redis.TxFailedErr):
		op.Output = Output{Kind: OutAborted}
		return nil
	case !read:
		// WATCH or the GET failed: no EXEC was sent, nothing was written.
		return fmt.Errorf("%w (%v)", errCertainFail, err)
	}
	return err
}

var errCertainFail = errors.New("chaos: not applied")

type class int

const (
	clsFail    class = iota // certainly not applied
	clsUnknown              // may have been applied
	clsNotInt               // INCR on a value that is not an integer
	clsOdd                  // an error outside the documented set: treated as unknown and reported
)

// classify sorts an error by what it says about the operation's effect.
func classify(err error) class {
	if errors.Is(err, errCertainFail) {
		return clsFail
	}
	var rerr redis.Error
	if errors.As(err, &rerr) {
		msg := rerr.Error()
		switch {
		case strings.HasPrefix(msg, "CLUSTERDOWN"), strings.HasPrefix(msg, "TRYAGAIN"):
			return clsFail
		case strings.HasPrefix(msg, "UNKNOWN"):
			return clsUnknown
		case msg == errTextNotInteger:
			return clsNotInt
		}
		return clsOdd
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return clsFail // never connected: nothing was sent
	}
	if errors.Is(err, redis.ErrPoolTimeout) {
		return clsFail
	}
	// Timeouts, resets and EOF after the request may have been sent.
	return clsUnknown
}

// writeOutcome sorts the error of a write whose reply the workload does not
// model: certainly not applied (clsFail) or perhaps applied (clsUnknown). An
// error outside the documented set counts as unknown and is noted in rec.
func writeOutcome(err error, rec *Recorder, what string) class {
	switch classify(err) {
	case clsFail:
		return clsFail
	case clsOdd, clsNotInt:
		rec.NoteOdd(fmt.Sprintf("%s: %s", what, err))
	}
	return clsUnknown
}

// FinalReads reads every key with a linearizable GET, retrying until one
// succeeds, records the reads in rec, and returns the values.
func (w *Workload) FinalReads(t testing.TB, c *Cluster, rec *Recorder) map[string]Output {
	t.Helper()
	w.defaults()
	out := map[string]Output{}
	clis := make([]*redis.Client, len(c.Nodes))
	for i, n := range c.Nodes {
		clis[i] = w.NewClient(n)
		defer clis[i].Close()
	}
	for ki, key := range w.Keys() {
		attempt := 0
		c.Poll(60*time.Second, "a final read of "+key, func() error {
			i := (ki + attempt) % len(c.Nodes)
			attempt++
			op := Op{Proc: rec.NewProc(), Node: c.Nodes[i].ID, Input: Input{Key: key, Kind: OpGet}}
			op.Call = c.Clock.Now()
			v, err := clis[i].Get(context.Background(), key).Result()
			op.Return = c.Clock.Now()
			switch {
			case err == nil:
				op.Output = Output{Kind: OutValue, Val: v}
			case errors.Is(err, redis.Nil):
				op.Output = Output{Kind: OutNil}
			default:
				return fmt.Errorf("GET on %s: %w", c.Nodes[i].ID, err)
			}
			rec.Add(op)
			out[key] = op.Output
			return nil
		})
	}
	return out
}
