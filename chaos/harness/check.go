package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/redis/go-redis/v9"
)

// CheckTimeout bounds the porcupine search for one key's history.
var CheckTimeout = 2 * time.Minute

// ByKey splits a history by key, keys sorted.
func ByKey(ops []Op) ([]string, map[string][]Op) {
	m := map[string][]Op{}
	for _, op := range ops {
		m[op.Input.Key] = append(m[op.Input.Key], op)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys, m
}

// CheckLinearizable checks every key's history with porcupine. For a key
// whose history is not linearizable it writes porcupine's visualisation
// (with the nemesis timeline as annotations) to the artifacts directory and
// fails the test; a search that runs out of time fails it too.
func CheckLinearizable(t testing.TB, c *Cluster, ops []Op) {
	t.Helper()
	for _, v := range Linearizability(c, ops, c.OutDir) {
		t.Errorf("chaos: %s", v)
	}
}

// Linearizability checks every key's history with porcupine and describes
// each key that is not linearizable (or whose check ran out of time). For a
// violation it writes the visualisation into the directory outDir returns.
func Linearizability(c *Cluster, ops []Op, outDir func() string) []string {
	var bad []string
	keys, byKey := ByKey(ops)
	for _, key := range keys {
		hist := Porcupine(byKey[key])
		start := time.Now()
		res := porcupine.CheckOperationsTimeout(Model, hist, CheckTimeout)
		took := time.Since(start).Round(time.Millisecond)
		switch res {
		case porcupine.Ok:
			continue
		case porcupine.Unknown:
			bad = append(bad, fmt.Sprintf("linearizability check of %s (%d ops) gave no answer within %s", key, len(hist), CheckTimeout))
			continue
		}
		_, info := porcupine.CheckOperationsVerbose(Model, hist, CheckTimeout)
		info.AddAnnotations(Annotations(c))
		path := filepath.Join(outDir(), "linearizability-"+sanitize(key)+".html")
		if err := porcupine.VisualizePath(Model, info, path); err != nil {
			path = fmt.Sprintf("(visualisation failed: %v)", err)
		}
		bad = append(bad, fmt.Sprintf("history of key %s (%d ops) is NOT linearizable (checked in %s); visualisation: %s", key, len(hist), took, path))
	}
	return bad
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == ':' || r == ' ' {
			return '_'
		}
		return r
	}, s)
}

// Annotations turns the cluster's timeline into porcupine annotations.
func Annotations(c *Cluster) []porcupine.Annotation {
	var out []porcupine.Annotation
	for _, ev := range c.Events.All() {
		tag := "nemesis"
		color := "#f8d7da"
		if ev.Kind == "leader" {
			tag, color = "leader", "#d1e7dd"
		}
		out = append(out, porcupine.Annotation{
			Tag: tag, Start: ev.Start, End: ev.End,
			Description: strings.TrimSpace(ev.Kind + " " + ev.Target), Details: ev.Detail,
			BackgroundColor: color,
		})
	}
	return out
}

// finalInt reads a final value as a counter (absent is 0).
func finalInt(o Output) (int64, error) {
	switch o.Kind {
	case OutNil:
		return 0, nil
	case OutValue:
		return strconv.ParseInt(o.Val, 10, 64)
	}
	return 0, fmt.Errorf("no final value (%s)", o.Kind)
}

// CheckCounters checks each counter key: its final value is at least the
// number of acknowledged increments, at most that plus the increments whose
// outcome is unknown, and at least every value an acknowledged INCR returned.
func CheckCounters(t testing.TB, w *Workload, ops []Op, final map[string]Output) {
	t.Helper()
	for i := 0; i < w.CounterKeys; i++ {
		key := w.CounterKey(i)
		var acked, unknown, maxSeen int64
		for _, op := range ops {
			if op.Input.Key != key || op.Input.Kind != OpIncr {
				continue
			}
			switch op.Output.Kind {
			case OutInt:
				acked++
				maxSeen = max(maxSeen, op.Output.Int)
			case OutUnknown:
				unknown++
			}
		}
		got, err := finalInt(final[key])
		if err != nil {
			t.Errorf("chaos: counter %s: %v", key, err)
			continue
		}
		if got < acked || got > acked+unknown || got < maxSeen {
			t.Errorf("chaos: counter %s = %d after %d acknowledged and %d unknown-outcome increments (highest acknowledged result %d): want %d..%d",
				key, got, acked, unknown, maxSeen, acked, acked+unknown)
		} else {
			t.Logf("chaos: counter %s = %d (%d acknowledged, %d unknown-outcome increments)", key, got, acked, unknown)
		}
	}
}

// CheckAckedKeysExist checks that every key with an acknowledged write still
// exists after the final restart (keys are never deleted by the workload).
// The full check that no acknowledged write was lost is the linearizability
// check over the history including the final reads.
func CheckAckedKeysExist(t testing.TB, ops []Op, final map[string]Output) {
	t.Helper()
	acked := map[string]int{}
	for _, op := range ops {
		if op.Input.Kind.IsWrite() && (op.Output.Kind == OutOK || op.Output.Kind == OutInt) {
			acked[op.Input.Key]++
		}
	}
	for key, n := range acked {
		if final[key].Kind != OutValue {
			t.Errorf("chaos: key %s had %d acknowledged writes but is %s after the final restart", key, n, final[key].Kind)
		}
	}
}

// CheckConvergence polls every node's local state (READONLY reads) until it
// holds exactly the final values of every key, and, when the server reports
// an applied index in INFO, until every node reports the same one and the
// same key count (INFO keyspace).
func CheckConvergence(t testing.TB, c *Cluster, keys []string, final map[string]Output) {
	t.Helper()
	clis := make([]*redis.Client, len(c.Nodes))
	for i := range c.Nodes {
		clis[i] = c.NewClient(i, true)
		defer clis[i].Close()
	}
	want := 0
	for _, k := range keys {
		if final[k].Kind == OutValue {
			want++
		}
	}
	args := make([]any, 0, len(keys)+1)
	args = append(args, "EXISTS")
	for _, k := range keys {
		args = append(args, k)
	}
	c.Poll(30*time.Second, "every replica to converge on the final values", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var diffs []string
		for i, cli := range clis {
			for _, k := range keys {
				v, err := cli.Get(ctx, k).Result()
				var got Output
				switch {
				case err == nil:
					got = Output{Kind: OutValue, Val: v}
				case errors.Is(err, redis.Nil):
					got = Output{Kind: OutNil}
				default:
					return fmt.Errorf("stale GET %s on %s: %w", k, c.Nodes[i].ID, err)
				}
				if got != final[k] {
					diffs = append(diffs, fmt.Sprintf("%s holds %s=%s", c.Nodes[i].ID, k, describeOut(got)))
				}
			}
			n, err := cli.Do(ctx, args...).Int()
			if err != nil {
				return fmt.Errorf("EXISTS on %s: %w", c.Nodes[i].ID, err)
			}
			if n != want {
				diffs = append(diffs, fmt.Sprintf("%s has %d of the workload's keys, want %d", c.Nodes[i].ID, n, want))
			}
		}
		if len(diffs) > 0 {
			var fin []string
			for _, k := range keys {
				fin = append(fin, k+"="+describeOut(final[k]))
			}
			return fmt.Errorf("%s; the final linearizable reads gave %s", strings.Join(diffs, ", "), strings.Join(fin, " "))
		}
		return appliedIndexesEqual(ctx, c)
	})
}

func describeOut(o Output) string {
	if o.Kind == OutValue {
		return strconv.Quote(o.Val)
	}
	return o.Kind.String()
}

// appliedIndexesEqual compares the applied index each node reports in INFO
// (any field whose name ends in applied_index). A server without INFO, or
// without such a field, is not compared.
func appliedIndexesEqual(ctx context.Context, c *Cluster) error {
	var first string
	for i := range c.Nodes {
		info, err := c.Admin(i).Do(ctx, "INFO").Text()
		if err != nil {
			return nil
		}
		idx, keyspace := "", "db0:none"
		for _, line := range strings.Split(info, "\n") {
			k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
			if ok && (k == "raft_applied_index" || idx == "" && strings.HasSuffix(k, "applied_index")) {
				idx = k + "=" + v
			}
			if ok && k == "db0" {
				keyspace = k + ":" + v
			}
		}
		if idx == "" {
			return nil
		}
		// At the same applied index the key counts must agree too.
		idx += " " + keyspace
		if i == 0 {
			first = idx
		} else if idx != first {
			return fmt.Errorf("applied index differs: %s reports %s, %s reports %s", c.Nodes[0].ID, first, c.Nodes[i].ID, idx)
		}
	}
	return nil
}

// WriteHistory registers the history (and the tally) as a failure artifact.
func WriteHistory(c *Cluster, rec *Recorder) {
	c.AddArtifact(func(dir string) {
		WriteJSON(filepath.Join(dir, "history.jsonl"), rec.Ops())
		WriteJSON(filepath.Join(dir, "not-applied.jsonl"), rec.Failed())
		var b strings.Builder
		b.WriteString(rec.Summary() + "\n")
		for text, n := range rec.Odd() {
			fmt.Fprintf(&b, "%6d × %s\n", n, text)
		}
		os.WriteFile(filepath.Join(dir, "summary.txt"), []byte(b.String()), 0o644)
	})
}
