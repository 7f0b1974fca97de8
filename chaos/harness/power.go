package harness

import (
	"fmt"
	"math/rand"
	"os"
	"slices"
	"testing"

	"github.com/riot-kv/riot-redis/internal/powerfs"
)

// mountDisk mounts a powerfs at dir over the directory backing, creating
// both.
func mountDisk(t testing.TB, backing, dir string) *powerfs.FS {
	t.Helper()
	for _, d := range []string{backing, dir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatalf("chaos: %v", err)
		}
	}
	fs, err := powerfs.Mount(backing, dir)
	if err != nil {
		t.Fatalf("chaos: %v (power-failure rounds need /dev/fuse and root)", err)
	}
	return fs
}

// unmountDisks unmounts the nodes' powerfs mounts (their unsynced writes
// are lost, as at a power failure). The processes must be gone.
func (c *Cluster) unmountDisks() {
	for _, n := range c.Nodes {
		if n.Disk != nil {
			if err := n.Disk.Close(); err != nil {
				c.t.Errorf("chaos: %s: %v", n.ID, err)
			}
		}
	}
}

// PowerFail cuts the power of one node, or of every node at once (All): it
// kills the processes with SIGKILL, and on each node's powerfs writes back
// each page written and not synced with probability Keep (0: none), in no
// order, and drops the rest; Stop starts the nodes again on what is left.
// Every write the cluster acknowledged must survive: it was synced on a
// majority of the nodes before the client heard of it. The cluster must
// run with Options.PowerFS.
type PowerFail struct {
	Target Target
	All    bool
	Keep   float64
	kill   Kill
}

func (p *PowerFail) Name() string {
	if p.All {
		return "power-fail-all"
	}
	return "power-fail-" + p.Target.String()
}

func (p *PowerFail) Start(e *Env) {
	nodes := e.C.Nodes
	if !p.All {
		nodes = []*Node{nodes[e.pick(p.Target)]}
	}
	p.kill.killAll(nodes)
	for _, n := range nodes {
		if n.Disk == nil {
			e.T.Fatalf("chaos: power failure of %s without a powerfs (Options.PowerFS)", n.ID)
		}
		lost, kept, err := n.Disk.PowerFail(e.Rnd, p.Keep)
		if err != nil {
			e.T.Fatalf("chaos: power failure of %s: %v", n.ID, err)
		}
		e.C.Events.Instant("power-fail", n.ID, fmt.Sprintf("unsynced pages: %d lost, %d written back", lost, kept))
	}
}

func (p *PowerFail) Stop(e *Env) { p.kill.Stop(e) }

// PowerFailures turns every kill in s into a power failure of the same
// nodes: Kill into PowerFail of its target, KillAllNodes into PowerFail of
// all, each writing back a random share of the unsynced pages (none, a
// quarter, half or three quarters). The cluster must run with
// Options.PowerFS.
func PowerFailures(rnd *rand.Rand, s Schedule) Schedule {
	keep := func() float64 { return float64(rnd.Intn(4)) / 4 }
	out := make(Schedule, len(s))
	for i, st := range s {
		st.Nemeses = slices.Clone(st.Nemeses)
		for j, n := range st.Nemeses {
			switch k := n.(type) {
			case *Kill:
				st.Nemeses[j] = &PowerFail{Target: k.Target, Keep: keep()}
			case KillAllNodes:
				st.Nemeses[j] = &PowerFail{All: true, Keep: keep()}
			}
		}
		out[i] = st
	}
	return out
}
