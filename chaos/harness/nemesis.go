package harness

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riot-kv/riot-redis/internal/diskfault"
)

// Env is what a nemesis acts on.
type Env struct {
	T   testing.TB
	C   *Cluster
	Rnd *rand.Rand
}

// Nemesis injects one kind of fault and heals it.
type Nemesis interface {
	// Name is a short name for logs and schedules.
	Name() string
	// Start injects the fault.
	Start(e *Env)
	// Stop heals what Start did.
	Stop(e *Env)
}

// Target selects the node a nemesis acts on.
type Target int

// Targets.
const (
	AnyNode    Target = iota // leader or follower at random
	LeaderNode               // the current leader (a random node when none is known)
	Follower                 // a node that is not the leader
)

func (tg Target) String() string {
	return [...]string{"any", "leader", "follower"}[tg]
}

// pick returns the index of the node tg selects among running nodes.
func (e *Env) pick(tg Target) int {
	c := e.C
	var running []int
	for i, n := range c.Nodes {
		if n.Running() && !n.Paused() {
			running = append(running, i)
		}
	}
	if len(running) == 0 {
		return e.Rnd.Intn(len(c.Nodes))
	}
	l, ok := c.Leader()
	switch {
	case tg == LeaderNode && ok:
		return l.Index
	case tg == Follower && ok:
		var f []int
		for _, i := range running {
			if i != l.Index {
				f = append(f, i)
			}
		}
		if len(f) > 0 {
			return f[e.Rnd.Intn(len(f))]
		}
	}
	return running[e.Rnd.Intn(len(running))]
}

// IsolateNode cuts one node (by default the leader) from every other node;
// clients still reach it.
type IsolateNode struct{ Target Target }

func (n IsolateNode) Name() string { return "isolate-" + n.Target.String() }

func (n IsolateNode) Start(e *Env) {
	i := e.pick(n.Target)
	e.C.Net.Isolate(i)
	e.C.Events.Instant("partition", e.C.Nodes[i].ID, "isolated: "+e.C.Net.Cuts())
}

func (n IsolateNode) Stop(e *Env) { healNet(e) }

func healNet(e *Env) {
	if e.C.Net.Cuts() != "" {
		e.C.Net.Heal()
		e.C.Events.Instant("heal-net", "", "")
	}
}

// SplitMajority splits the nodes at random into a minority and a majority.
type SplitMajority struct{}

func (SplitMajority) Name() string { return "split" }

func (SplitMajority) Start(e *Env) {
	perm := e.Rnd.Perm(len(e.C.Nodes))
	k := (len(perm) - 1) / 2
	if k == 0 {
		k = 1
	}
	minority, majority := perm[:k], perm[k:]
	e.C.Net.Partition(minority, majority)
	e.C.Events.Instant("partition", "", fmt.Sprintf("minority %s | majority %s", ids(e.C, minority), ids(e.C, majority)))
}

func (SplitMajority) Stop(e *Env) { healNet(e) }

// Bridge picks a bridge node that sees everyone and splits the others into
// two halves that cannot see each other (but each sees the bridge).
type Bridge struct{}

func (Bridge) Name() string { return "bridge" }

func (Bridge) Start(e *Env) {
	perm := e.Rnd.Perm(len(e.C.Nodes))
	b, rest := perm[0], perm[1:]
	left, right := rest[:len(rest)/2], rest[len(rest)/2:]
	e.C.Net.Partition(left, right)
	e.C.Events.Instant("partition", e.C.Nodes[b].ID, fmt.Sprintf("bridge between %s and %s", ids(e.C, left), ids(e.C, right)))
}

func (Bridge) Stop(e *Env) { healNet(e) }

func ids(c *Cluster, idx []int) string {
	var s []string
	for _, i := range idx {
		s = append(s, c.Nodes[i].ID)
	}
	return "{" + strings.Join(s, ",") + "}"
}

// Kill kills one node with SIGKILL; Stop restarts it on its data.
type Kill struct {
	Target Target
	mu     sync.Mutex
	killed []*Node
}

func (k *Kill) Name() string { return "kill-" + k.Target.String() }

func (k *Kill) Start(e *Env) { k.kill(e.C.Nodes[e.pick(k.Target)]) }

// kill SIGKILLs n and remembers it for Stop to restart.
func (k *Kill) kill(n *Node) { k.killAll([]*Node{n}) }

// killAll SIGKILLs nodes at once and remembers them for Stop to restart.
func (k *Kill) killAll(nodes []*Node) {
	KillAll(nodes)
	k.mu.Lock()
	k.killed = append(k.killed, nodes...)
	k.mu.Unlock()
}

func (k *Kill) Stop(e *Env) {
	k.mu.Lock()
	killed := k.killed
	k.killed = nil
	k.mu.Unlock()
	for _, n := range killed {
		if !n.Running() {
			n.Start()
		}
	}
}

// DamageEngine kills a node with SIGKILL and zeroes a 32 KiB block in the
// middle of its storage engine's newest journal, as a power failure does
// that wrote a later page of the unsynced journal back but not an earlier
// one; Stop restarts it. The node must find the damage, start its engine
// empty and rebuild it from Raft (a snapshot and the log). A journal of
// fewer than three blocks is left whole (event "damage-engine-skipped");
// run the nodes with --engine-write-behind-mb 0 so that every applied entry
// reaches the journal at once.
type DamageEngine struct {
	Target Target
	kill   Kill
}

func (d *DamageEngine) Name() string { return "damage-engine-" + d.Target.String() }

// JournalBlock is the block size of the engine's (goleveldb's) journal.
const JournalBlock = 32 << 10

func (d *DamageEngine) Start(e *Env) {
	n := e.C.Nodes[e.pick(d.Target)]
	d.kill.kill(n)
	journals, err := filepath.Glob(filepath.Join(n.Dir, "engine", "data-*", "*.log"))
	if err != nil || len(journals) == 0 {
		e.C.Events.Instant("damage-engine-skipped", n.ID, fmt.Sprintf("no journal: %v", err))
		return
	}
	slices.Sort(journals) // goleveldb numbers them with leading zeros
	j := journals[len(journals)-1]
	fi, err := os.Stat(j)
	if err != nil || fi.Size() < 3*JournalBlock {
		e.C.Events.Instant("damage-engine-skipped", n.ID, fmt.Sprintf("journal %s too short: %v", filepath.Base(j), err))
		return
	}
	b := fi.Size() / JournalBlock / 2 // not the first block, and full blocks follow
	diskfault.Zero(e.T, j, b*JournalBlock, (b+1)*JournalBlock)
	e.C.Events.Instant("damage-engine", n.ID, fmt.Sprintf("%s: block %d of %d zeroed", filepath.Base(j), b, (fi.Size()+JournalBlock-1)/JournalBlock))
}

func (d *DamageEngine) Stop(e *Env) { d.kill.Stop(e) }

// KillAllNodes kills every node at once with SIGKILL; Stop restarts them all.
type KillAllNodes struct{}

func (KillAllNodes) Name() string { return "kill-all" }

func (KillAllNodes) Start(e *Env) { KillAll(e.C.Nodes) }

func (KillAllNodes) Stop(e *Env) {
	for _, n := range e.C.Nodes {
		if !n.Running() {
			n.Start()
		}
	}
}

// Pause stops one node with SIGSTOP; Stop continues it. Hold it longer than
// the election timeout so the others move on without it.
type Pause struct {
	Target Target
	mu     sync.Mutex
	paused []*Node
}

func (p *Pause) Name() string { return "pause-" + p.Target.String() }

func (p *Pause) Start(e *Env) {
	n := e.C.Nodes[e.pick(p.Target)]
	if n.Pause() {
		p.mu.Lock()
		p.paused = append(p.paused, n)
		p.mu.Unlock()
	}
}

func (p *Pause) Stop(e *Env) {
	p.mu.Lock()
	paused := p.paused
	p.paused = nil
	p.mu.Unlock()
	for _, n := range paused {
		n.Resume()
	}
}

// Transfer asks for a leadership transfer (CLUSTER TRANSFER, sent to a
// random node and relayed to the leader), to a random other node or, one
// time in three, to the node the leader picks.
type Transfer struct{}

func (Transfer) Name() string { return "transfer" }

func (Transfer) Start(e *Env) {
	c := e.C
	via := e.pick(AnyNode)
	target := ""
	if e.Rnd.Intn(3) != 0 {
		if l, ok := c.Leader(); ok {
			others := []string{}
			for _, n := range c.Nodes {
				if n != l && n.Running() && !n.Paused() {
					others = append(others, n.ID)
				}
			}
			if len(others) > 0 {
				target = others[e.Rnd.Intn(len(others))]
			}
		}
	}
	if err := c.Transfer(via, target); err != nil {
		c.Events.Instant("transfer-failed", target, err.Error())
	}
}

func (Transfer) Stop(*Env) {}

// Membership removes a member under load (CLUSTER REMOVE) and, when it
// stops, puts it back: with Wipe the node is killed, its data directory
// deleted and it is restarted with --join (joining as a new, empty member);
// without, it keeps running and is re-added with CLUSTER JOIN.
type Membership struct {
	Target Target
	Wipe   bool

	mu      sync.Mutex
	removed *Node
}

func (m *Membership) Name() string {
	if m.Wipe {
		return "remove-wipe-rejoin-" + m.Target.String()
	}
	return "remove-rejoin-" + m.Target.String()
}

func (m *Membership) Start(e *Env) {
	c := e.C
	victim := c.Nodes[e.pick(m.Target)]
	var via int
	err := PollErr(15*time.Second, func() error {
		via = e.pick(AnyNode)
		if c.Nodes[via] == victim {
			via = (via + 1) % len(c.Nodes)
		}
		err := c.Remove(via, victim.ID)
		if err != nil && strings.Contains(err.Error(), "unknown node") {
			// An earlier attempt whose reply was lost (unknown outcome)
			// already removed it; the check below confirms it is gone.
			return nil
		}
		return err
	})
	if err != nil {
		c.Events.Instant("remove-failed", victim.ID, err.Error())
		return
	}
	m.mu.Lock()
	m.removed = victim
	m.mu.Unlock()
	// The removal is acknowledged once the leader applied it: the victim must
	// be gone from the leader's member list.
	err = PollErr(15*time.Second, func() error {
		l, ok := c.Leader()
		if !ok || l == victim {
			return errors.New("no leader among the remaining members")
		}
		peers, err := c.Peers(l.Index, time.Second)
		if err != nil {
			return err
		}
		if contains(peers, victim.ID) {
			return fmt.Errorf("leader %s still lists %s: %q", l.ID, victim.ID, peers)
		}
		return nil
	})
	if err != nil {
		e.T.Errorf("chaos: %s was removed (CLUSTER REMOVE said OK) but: %v", victim.ID, err)
	} else {
		c.Events.Instant("removed", victim.ID, "gone from the leader's CLUSTER PEERS")
	}
	if m.Wipe {
		victim.Kill()
		victim.Wipe()
	}
}

func (m *Membership) Stop(e *Env) {
	m.mu.Lock()
	victim := m.removed
	m.removed = nil
	m.mu.Unlock()
	if victim == nil {
		return
	}
	c := e.C
	if m.Wipe {
		victim.Start() // an empty node with --join asks the members to add it
	} else if err := PollErr(15*time.Second, func() error { return c.Rejoin(victim) }); err != nil {
		c.Events.Instant("join-failed", victim.ID, err.Error())
	}
	err := PollErr(30*time.Second, func() error {
		l, ok := c.Leader()
		if !ok {
			return errors.New("no leader")
		}
		peers, err := c.Peers(l.Index, time.Second)
		if err != nil {
			return err
		}
		if !contains(peers, victim.ID) {
			return fmt.Errorf("leader %s lists %q", l.ID, peers)
		}
		// Listed is not enough: the member must follow the leader again.
		if v := c.LeaderView(victim.Index, time.Second); v != l.ID {
			return fmt.Errorf("%s is listed by leader %s but names leader %q", victim.ID, l.ID, v)
		}
		return nil
	})
	if err == nil {
		c.Events.Instant("rejoined", victim.ID, "listed by the leader's CLUSTER PEERS and following it")
	} else {
		c.Events.Instant("rejoin-pending", victim.ID, err.Error())
	}
}

// Step is one episode of a schedule: after Gap, the nemeses start together,
// hold for Hold, and stop in reverse order.
type Step struct {
	Gap     time.Duration
	Nemeses []Nemesis
	Hold    time.Duration
}

func (s Step) String() string {
	var names []string
	for _, n := range s.Nemeses {
		names = append(names, n.Name())
	}
	return fmt.Sprintf("after %s: %s for %s", s.Gap, strings.Join(names, "+"), s.Hold)
}

// Schedule is a sequence of episodes, repeated until the run ends.
type Schedule []Step

func (s Schedule) String() string {
	var b strings.Builder
	for i, st := range s {
		fmt.Fprintf(&b, "  %2d. %s\n", i+1, st)
	}
	return b.String()
}

// RunSchedule runs the episodes in order, starting over at the end, until
// ctx ends; the episode in progress is healed before it returns.
func RunSchedule(ctx context.Context, e *Env, s Schedule) {
	if len(s) == 0 {
		return
	}
	for i := 0; ; i++ {
		st := s[i%len(s)]
		select {
		case <-ctx.Done():
			return
		case <-time.After(st.Gap):
		}
		end := e.C.Events.Begin("nemesis", "", st.String())
		for _, n := range st.Nemeses {
			n.Start(e)
		}
		select {
		case <-ctx.Done():
		case <-time.After(st.Hold):
		}
		for j := len(st.Nemeses) - 1; j >= 0; j-- {
			st.Nemeses[j].Stop(e)
		}
		end()
		if ctx.Err() != nil {
			return
		}
	}
}

// RandomSchedule draws n episodes from seed: single faults of every kind and
// compatible combinations (a partition with a kill or a pause, a transfer
// with a kill), holds of 2-8 s (pauses at least 2.5 s, beyond the election
// timeout) and gaps of 1-4 s.
func RandomSchedule(rnd *rand.Rand, n int) Schedule {
	targets := []Target{AnyNode, LeaderNode, Follower}
	tg := func() Target { return targets[rnd.Intn(len(targets))] }
	partition := func() Nemesis {
		switch rnd.Intn(3) {
		case 0:
			return IsolateNode{Target: tg()}
		case 1:
			return SplitMajority{}
		}
		return Bridge{}
	}
	var s Schedule
	for i := 0; i < n; i++ {
		st := Step{
			Gap:  time.Duration(1000+rnd.Intn(3000)) * time.Millisecond,
			Hold: time.Duration(2000+rnd.Intn(6000)) * time.Millisecond,
		}
		switch rnd.Intn(9) {
		case 0, 1:
			st.Nemeses = []Nemesis{partition()}
		case 2:
			st.Nemeses = []Nemesis{&Kill{Target: tg()}}
		case 3:
			st.Nemeses = []Nemesis{&Pause{Target: tg()}}
			st.Hold = max(st.Hold, 2500*time.Millisecond)
		case 4:
			st.Nemeses = []Nemesis{Transfer{}}
			st.Hold = time.Second
		case 5:
			st.Nemeses = []Nemesis{&Membership{Target: tg(), Wipe: rnd.Intn(2) == 0}}
		case 6:
			st.Nemeses = []Nemesis{KillAllNodes{}}
			st.Hold = time.Duration(500+rnd.Intn(2500)) * time.Millisecond
		case 7:
			st.Nemeses = []Nemesis{partition(), &Kill{Target: tg()}}
		default:
			if rnd.Intn(2) == 0 {
				st.Nemeses = []Nemesis{partition(), &Pause{Target: tg()}}
				st.Hold = max(st.Hold, 2500*time.Millisecond)
			} else {
				st.Nemeses = []Nemesis{Transfer{}, &Kill{Target: tg()}}
			}
		}
		s = append(s, st)
	}
	return s
}
