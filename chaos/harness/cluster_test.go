package harness

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recordingTB records Errorf instead of failing the test it wraps.
type recordingTB struct {
	testing.TB
	errs []string
}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recordingTB) Helper() {}

// TestCheckNoCrashFindsRaceReports checks that a data race a race-built node
// printed to its log fails the round, and that clean logs do not.
func TestCheckNoCrashFindsRaceReports(t *testing.T) {
	dir := t.TempDir()
	rec := &recordingTB{TB: t}
	c := &Cluster{t: rec}
	var nodes []*Node
	for i, text := range []string{
		"level=INFO msg=started\n",
		"level=INFO msg=started\n==================\nWARNING: DATA RACE\nWrite at 0x00c000 by goroutine 7:\n",
	} {
		n := &Node{ID: fmt.Sprintf("n%d", i+1), Log: filepath.Join(dir, fmt.Sprintf("n%d.log", i+1))}
		if err := os.WriteFile(n.Log, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, n)
	}

	c.Nodes = nodes[:1]
	c.CheckNoCrash()
	if len(rec.errs) != 0 {
		t.Fatalf("clean logs: %v", rec.errs)
	}
	c.Nodes = nodes
	c.CheckNoCrash()
	if len(rec.errs) != 1 || !strings.Contains(rec.errs[0], "1 data race report") {
		t.Fatalf("a log with a race report: errors %q, want one naming 1 data race report", rec.errs)
	}
}
