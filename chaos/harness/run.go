package harness

import (
	"context"
	"fmt"
	"math/rand"
	"testing"
	"time"
)

// Scenario is one fault-injection run: a cluster, a workload on every node, a
// nemesis schedule, and the checks at the end of every round.
type Scenario struct {
	Nodes           int
	ReadConsistency string
	NodeFlags       []string // extra flags for every node (Options.NodeFlags)
	PowerFS         bool     // data directories on powerfs (Options.PowerFS)
	Seed            int64
	Rounds          int           // default 1; each round has its own keys and checks
	Duration        time.Duration // workload time per round
	// Schedule returns the round's nemesis schedule.
	Schedule func(rnd *rand.Rand) Schedule
	Workload Workload
	// Bank also runs the atomic-transfer workload (see Bank) in every round.
	Bank bool
	// BankMGet makes half of the bank workload's reads MGET.
	BankMGet bool
	// Inserts also runs the write-once workload (see Inserts) in every round.
	Inserts bool
	// MinOK is the fewest successful operations a round must have (default 50):
	// a workload that did nothing proves nothing.
	MinOK int64
	// Expect checks that the nemeses really acted in the round (a leader
	// changed, requests failed, processes restarted...).
	Expect func(r *Round) error
}

// Round is what a round did, for Expect.
type Round struct {
	C             *Cluster
	Rec           *Recorder
	Since, Until  int64 // clock times the round's workload started and ended
	LeaderChanges int64
	Bank          *Bank    // the round's transfer workload, when the scenario has one
	Inserts       *Inserts // the round's write-once workload, when the scenario has one
}

// Count returns how many events of kind happened while the round's workload
// ran (the heal and the restart at its end are not counted).
func (r *Round) Count(kind string) int {
	n := 0
	for _, ev := range r.C.Events.All() {
		if ev.Kind == kind && ev.Start >= r.Since && ev.Start <= r.Until {
			n++
		}
	}
	return n
}

// Errors returns the operations that did not succeed: failed plus unknown.
func (r *Round) Errors() int64 { return r.Rec.Tally.Fail.Load() + r.Rec.Tally.Unknown.Load() }

// Run runs the scenario and fails t on any violation. It returns the cluster
// for further checks.
func Run(t *testing.T, sc Scenario) *Cluster {
	t.Helper()
	if sc.Rounds == 0 {
		sc.Rounds = 1
	}
	if sc.MinOK == 0 {
		sc.MinOK = 50
	}
	t.Logf("chaos: seed %d (replay with -chaos.seed %d)", sc.Seed, sc.Seed)
	rnd := rand.New(rand.NewSource(sc.Seed))
	c := NewCluster(t, Options{Nodes: sc.Nodes, ReadConsistency: sc.ReadConsistency, NodeFlags: sc.NodeFlags, PowerFS: sc.PowerFS})
	w := sc.Workload
	w.DetectCAS(t, c)
	for round := 1; round <= sc.Rounds; round++ {
		w.Prefix = fmt.Sprintf("r%d:", round)
		w.Seed = rnd.Int63()
		var sched Schedule
		if sc.Schedule != nil {
			sched = sc.Schedule(rnd)
		}
		t.Logf("chaos: round %d/%d, %s, schedule:\n%s", round, sc.Rounds, sc.Duration, sched)
		runRound(t, c, &w, sched, rnd, sc)
		if t.Failed() {
			t.Logf("chaos: stopping after the failed round %d (seed %d)", round, sc.Seed)
			break
		}
	}
	return c
}

func runRound(t *testing.T, c *Cluster, w *Workload, sched Schedule, rnd *rand.Rand, sc Scenario) {
	t.Helper()
	rec := NewRecorder()
	WriteHistory(c, rec)
	var bank *Bank
	if sc.Bank {
		bank = &Bank{Prefix: w.Prefix, Seed: w.Seed ^ 0x5bd1e995, MGet: sc.BankMGet}
		bank.Init(t, c)
	}
	var inserts *Inserts
	if sc.Inserts {
		inserts = &Inserts{Prefix: w.Prefix, Seed: w.Seed ^ 0x2545f491}
	}
	r := &Round{C: c, Rec: rec, Since: c.Clock.Now(), Bank: bank, Inserts: inserts}
	changes := c.LeaderChanges.Load()

	ctx, cancel := context.WithTimeout(context.Background(), sc.Duration)
	defer cancel()
	obsDone := make(chan struct{})
	go func() {
		defer close(obsDone)
		c.Observe(ctx)
	}()
	schedDone := make(chan struct{})
	env := &Env{T: t, C: c, Rnd: rand.New(rand.NewSource(rnd.Int63()))}
	go func() {
		defer close(schedDone)
		RunSchedule(ctx, env, sched)
	}()
	bankDone := make(chan struct{})
	go func() {
		defer close(bankDone)
		if bank != nil {
			bank.Run(ctx, c, rec)
		}
	}()
	insertsDone := make(chan struct{})
	go func() {
		defer close(insertsDone)
		if inserts != nil {
			inserts.Run(ctx, c, rec)
		}
	}()
	w.Run(ctx, c, rec)
	<-insertsDone
	<-bankDone
	<-schedDone
	<-obsDone
	r.LeaderChanges = c.LeaderChanges.Load() - changes
	r.Until = c.Clock.Now()
	t.Logf("chaos: workload done: %s; %d leader changes", rec.Summary(), r.LeaderChanges)

	// Heal everything, then crash and restart every node: acknowledged
	// writes must survive both.
	phase := time.Now()
	c.HealAll()
	healed := time.Now()
	c.RestartAll()
	restarted := time.Now()
	final := w.FinalReads(t, c, rec)
	CheckConvergence(t, c, w.Keys(), final)
	if bank != nil {
		bank.Check(t, c)
	}
	if inserts != nil {
		inserts.Check(t, c)
	}
	converged := time.Now()

	ops := rec.Ops()
	if w.CAS {
		byOut := map[OutKind]int{}
		for _, op := range ops {
			if op.Input.Kind == OpCAS {
				byOut[op.Output.Kind]++
			}
		}
		t.Logf("chaos: compare-and-set: %d applied, %d aborted by WATCH, %d unknown outcome",
			byOut[OutOK], byOut[OutAborted], byOut[OutUnknown])
		if byOut[OutOK] == 0 {
			t.Errorf("chaos: the compare-and-set workload never applied: it proves nothing")
		}
	}
	CheckLinearizable(t, c, ops)
	t.Logf("chaos: heal %s, restart %s, final reads and convergence %s, checks %s",
		healed.Sub(phase).Round(time.Millisecond), restarted.Sub(healed).Round(time.Millisecond),
		converged.Sub(restarted).Round(time.Millisecond), time.Since(converged).Round(time.Millisecond))
	CheckCounters(t, w, ops, final)
	CheckAckedKeysExist(t, ops, final)
	c.CheckNoCrash()
	for text, n := range rec.Odd() {
		t.Errorf("chaos: %d× an error outside the documented set (CLUSTERDOWN, TRYAGAIN, UNKNOWN, Redis's own): %s", n, text)
	}
	if ok := rec.Tally.OK.Load(); ok < sc.MinOK {
		t.Errorf("chaos: only %d operations succeeded (want at least %d): the workload proves nothing", ok, sc.MinOK)
	}
	if sc.Expect != nil {
		if err := sc.Expect(r); err != nil {
			t.Errorf("chaos: the nemesis did not demonstrably act: %v\ntimeline:\n%s", err, c.Events)
		}
	}
}
