package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/anishathalye/porcupine"
	"github.com/redis/go-redis/v9"
)

func op(proc int, call, ret int64, in Input, out Output) Op {
	if out.Kind == OutUnknown {
		ret = Infinity
	}
	return Op{Proc: proc, Input: in, Output: out, Call: call, Return: ret}
}

var (
	get    = func(v string) (Input, Output) { return Input{Key: "k", Kind: OpGet}, Output{Kind: OutValue, Val: v} }
	getNil = func() (Input, Output) { return Input{Key: "k", Kind: OpGet}, Output{Kind: OutNil} }
	set    = func(v string, out OutKind) (Input, Output) {
		return Input{Key: "k", Kind: OpSet, Arg: v}, Output{Kind: out}
	}
	incr = func(n int64) (Input, Output) { return Input{Key: "k", Kind: OpIncr}, Output{Kind: OutInt, Int: n} }
)

// redisErr is an error reply as go-redis returns it.
type redisErr string

func (e redisErr) Error() string { return string(e) }
func (redisErr) RedisError()     {}

// The checker must reject what a broken server could do, or it proves nothing.
func TestModelRejectsViolations(t *testing.T) {
	type tc struct {
		name string
		ops  []Op
		ok   bool
	}
	mk := func(proc int, call, ret int64, in Input, out Output) Op { return op(proc, call, ret, in, out) }
	var cases []tc
	{
		i1, o1 := set("1", OutOK)
		i2, o2 := getNil()
		cases = append(cases, tc{"read misses an acknowledged write", []Op{mk(0, 0, 10, i1, o1), mk(1, 20, 30, i2, o2)}, false})
	}
	{
		i1, o1 := set("1", OutOK)
		i2, o2 := set("2", OutOK)
		i3, o3 := get("1")
		cases = append(cases, tc{"stale read after a newer write", []Op{mk(0, 0, 10, i1, o1), mk(0, 20, 30, i2, o2), mk(1, 40, 50, i3, o3)}, false})
	}
	{
		i1, o1 := set("1", OutOK)
		i2, o2 := set("2", OutOK)
		i3, o3 := get("1")
		cases = append(cases, tc{"concurrent writes, either order", []Op{mk(0, 0, 30, i1, o1), mk(1, 5, 25, i2, o2), mk(2, 40, 50, i3, o3)}, true})
	}
	{
		i1, o1 := set("1", OutUnknown)
		i2, o2 := getNil()
		i3, o3 := get("1")
		cases = append(cases, tc{"unknown write may apply late", []Op{mk(0, 0, 0, i1, o1), mk(1, 20, 30, i2, o2), mk(1, 40, 50, i3, o3)}, true})
	}
	{
		i1, o1 := set("1", OutUnknown)
		i2, o2 := get("1")
		i3, o3 := getNil()
		cases = append(cases, tc{"unknown write cannot be undone", []Op{mk(0, 0, 0, i1, o1), mk(1, 20, 30, i2, o2), mk(1, 40, 50, i3, o3)}, false})
	}
	{
		i1, o1 := set("1", OutUnknown)
		i2, o2 := getNil()
		cases = append(cases, tc{"unknown write may never apply", []Op{mk(0, 0, 0, i1, o1), mk(1, 20, 30, i2, o2)}, true})
	}
	{
		i1, o1 := incr(1)
		i2, o2 := incr(2)
		i3, o3 := incr(2)
		cases = append(cases, tc{"an increment counted twice", []Op{mk(0, 0, 10, i1, o1), mk(0, 20, 30, i2, o2), mk(1, 40, 50, i3, o3)}, false})
	}
	{
		i1, o1 := set("v1", OutOK)
		i2, o2 := incr(1)
		cases = append(cases, tc{"INCR of a non-integer must fail", []Op{mk(0, 0, 10, i1, o1), mk(0, 20, 30, i2, o2)}, false})
	}
	{
		i1, o1 := set("v1", OutOK)
		i2 := Input{Key: "k", Kind: OpIncr}
		cases = append(cases, tc{"INCR of a non-integer fails", []Op{mk(0, 0, 10, i1, o1), mk(0, 20, 30, i2, Output{Kind: OutNotInt})}, true})
	}
	{
		i1, o1 := set("7", OutOK)
		i2 := Input{Key: "k", Kind: OpIncr}
		cases = append(cases, tc{"INCR of an integer cannot fail", []Op{mk(0, 0, 10, i1, o1), mk(0, 20, 30, i2, Output{Kind: OutNotInt})}, false})
	}
	{
		i1, o1 := set("1", OutOK)
		cas := Input{Key: "k", Kind: OpCAS, Arg: "2", Exp: "1", ExpOK: true}
		i3, o3 := get("1")
		cases = append(cases,
			tc{"CAS applied", []Op{mk(0, 0, 10, i1, o1), mk(1, 20, 30, cas, Output{Kind: OutOK}), mk(2, 40, 50, i3, o3)}, false},
			tc{"CAS aborted", []Op{mk(0, 0, 10, i1, o1), mk(1, 20, 30, cas, Output{Kind: OutAborted}), mk(2, 40, 50, i3, o3)}, true})
	}
	{
		i1, o1 := set("1", OutOK)
		cas := Input{Key: "k", Kind: OpCAS, Arg: "2", Exp: "0", ExpOK: true}
		cases = append(cases, tc{"CAS on a value that was not there", []Op{mk(0, 0, 10, i1, o1), mk(1, 20, 30, cas, Output{Kind: OutOK})}, false})
	}
	{
		i1, o1 := set("1", OutOK)
		i2, o2 := Input{Key: "other", Kind: OpGet}, Output{Kind: OutNil}
		cases = append(cases, tc{"keys are independent", []Op{mk(0, 0, 10, i1, o1), mk(1, 20, 30, i2, o2)}, true})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := porcupine.CheckOperations(Model, Porcupine(c.ops))
			if got != c.ok {
				t.Fatalf("linearizable = %v, want %v", got, c.ok)
			}
		})
	}
}

// fakeTB records errors instead of failing.
type fakeTB struct {
	testing.TB
	errs []string
}

func (f *fakeTB) Helper()                   {}
func (f *fakeTB) Logf(string, ...any)       {}
func (f *fakeTB) Errorf(s string, a ...any) { f.errs = append(f.errs, fmt.Sprintf(s, a...)) }

func TestCheckCounters(t *testing.T) {
	w := &Workload{Prefix: "p:", CounterKeys: 1}
	key := w.CounterKey(0)
	in := Input{Key: key, Kind: OpIncr}
	ops := []Op{
		op(0, 0, 10, in, Output{Kind: OutInt, Int: 1}),
		op(0, 20, 30, in, Output{Kind: OutInt, Int: 2}),
		op(1, 25, 0, in, Output{Kind: OutUnknown}),
	}
	for final, ok := range map[string]bool{"1": false, "2": true, "3": true, "4": false} {
		f := &fakeTB{TB: t}
		CheckCounters(f, w, ops, map[string]Output{key: {Kind: OutValue, Val: final}})
		if (len(f.errs) == 0) != ok {
			t.Errorf("final %s: errors %q, want ok=%v", final, f.errs, ok)
		}
	}
	f := &fakeTB{TB: t}
	CheckAckedKeysExist(f, ops, map[string]Output{key: {Kind: OutNil}})
	if len(f.errs) != 1 {
		t.Errorf("a key with acknowledged writes that vanished: errors %q", f.errs)
	}
}

func TestClassify(t *testing.T) {
	cases := []struct {
		err  error
		want class
	}{
		{redisErr("CLUSTERDOWN The cluster is down: no leader elected"), clsFail},
		{redisErr("TRYAGAIN the cluster did not answer in time; nothing was applied"), clsFail},
		{redisErr("UNKNOWN write outcome unknown: ..."), clsUnknown},
		{redisErr(errTextNotInteger), clsNotInt},
		{redisErr("ERR internal error"), clsOdd},
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, clsFail},
		{&net.OpError{Op: "read", Err: errors.New("i/o timeout")}, clsUnknown},
		{io.EOF, clsUnknown},
		{context.DeadlineExceeded, clsUnknown},
		{redis.ErrPoolTimeout, clsFail},
		{fmt.Errorf("%w (x)", errCertainFail), clsFail},
	}
	for _, c := range cases {
		if got := classify(c.err); got != c.want {
			t.Errorf("classify(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}
