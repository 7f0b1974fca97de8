package harness

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/anishathalye/porcupine"
)

// Infinity is the return time of an operation whose outcome is unknown: it
// may take effect at any point after its call, or never (at the very end of
// the history it is unobservable).
const Infinity int64 = 1 << 62

// Op is one recorded client operation.
type Op struct {
	Proc   int    `json:"proc"` // logical client; a client whose op ends unknown gets a new one
	Node   string `json:"node"` // the node the client talked to
	Input  Input  `json:"input"`
	Output Output `json:"output"`
	Call   int64  `json:"call"`
	Return int64  `json:"return"` // Infinity for unknown outcomes
	Err    string `json:"err,omitempty"`
}

// Tally counts operations by outcome.
type Tally struct {
	OK      atomic.Int64 // definite result (including INCR's not-an-integer error)
	Fail    atomic.Int64 // definitely not applied: CLUSTERDOWN, TRYAGAIN, refused connection; or a read with no result
	Unknown atomic.Int64 // writes whose outcome is unknown
	Odd     atomic.Int64 // errors outside the documented set
}

// Recorder collects the history of a run. Safe for concurrent use.
type Recorder struct {
	mu     sync.Mutex
	ops    []Op
	failed []Op // writes that failed with "not applied" (kept for post-mortems, not checked)
	procs  atomic.Int64
	values atomic.Int64 // source of unique written values
	Tally  Tally

	oddMu sync.Mutex
	odd   map[string]int // unexpected error texts and their counts
}

// NewRecorder returns an empty recorder.
func NewRecorder() *Recorder { return &Recorder{odd: map[string]int{}} }

// NewProc returns a fresh logical client id.
func (r *Recorder) NewProc() int { return int(r.procs.Add(1) - 1) }

// Add records an operation with a known or unknown outcome.
func (r *Recorder) Add(op Op) {
	if op.Output.Kind == OutUnknown {
		op.Return = Infinity
		r.Tally.Unknown.Add(1)
	} else {
		r.Tally.OK.Add(1)
	}
	r.mu.Lock()
	r.ops = append(r.ops, op)
	r.mu.Unlock()
}

// AddFailed records a write that failed without effect (CLUSTERDOWN,
// TRYAGAIN, refused connection). It is not part of the checked history; if
// such a write did take effect, its unique value makes the history fail.
func (r *Recorder) AddFailed(op Op) {
	r.Tally.Fail.Add(1)
	r.mu.Lock()
	r.failed = append(r.failed, op)
	r.mu.Unlock()
}

// Failed returns the writes recorded with AddFailed.
func (r *Recorder) Failed() []Op {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Op(nil), r.failed...)
}

// NoteOdd counts an error text outside the documented set.
func (r *Recorder) NoteOdd(text string) {
	r.Tally.Odd.Add(1)
	r.oddMu.Lock()
	r.odd[text]++
	r.oddMu.Unlock()
}

// Odd returns the unexpected error texts seen, with counts.
func (r *Recorder) Odd() map[string]int {
	r.oddMu.Lock()
	defer r.oddMu.Unlock()
	out := map[string]int{}
	for k, v := range r.odd {
		out[k] = v
	}
	return out
}

// Ops returns a copy of the history, sorted by call time.
func (r *Recorder) Ops() []Op {
	r.mu.Lock()
	ops := append([]Op(nil), r.ops...)
	r.mu.Unlock()
	sort.SliceStable(ops, func(i, j int) bool { return ops[i].Call < ops[j].Call })
	return ops
}

// Porcupine converts ops to porcupine operations.
func Porcupine(ops []Op) []porcupine.Operation {
	out := make([]porcupine.Operation, len(ops))
	for i, op := range ops {
		out[i] = porcupine.Operation{
			ClientId: op.Proc, Input: op.Input, Output: op.Output,
			Call: op.Call, Return: op.Return, Metadata: op.Node,
		}
	}
	return out
}

// WriteJSON writes the history, one operation per line.
func WriteJSON(path string, ops []Op) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(f)
	for _, op := range ops {
		if err := enc.Encode(op); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// Summary is a one-line account of the tally.
func (r *Recorder) Summary() string {
	return fmt.Sprintf("%d ops: %d ok, %d unknown outcome, %d failed (not applied / no result), %d unexpected errors",
		r.Tally.OK.Load()+r.Tally.Unknown.Load()+r.Tally.Fail.Load(), r.Tally.OK.Load(), r.Tally.Unknown.Load(),
		r.Tally.Fail.Load(), r.Tally.Odd.Load())
}
