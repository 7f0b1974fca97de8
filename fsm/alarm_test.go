package fsm

import (
	"slices"
	"testing"
)

// Disk alarms are replicated state: raised and cleared per node, kept by
// FLUSHALL, carried by snapshots, and cleared with the node's metadata.
// Bad arguments change nothing.
func TestDiskAlarms(t *testing.T) {
	f := mustMemFSM(t)
	alarms := func(f *FSM, want ...string) {
		t.Helper()
		got, err := f.DiskAlarms()
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("DiskAlarms = %q, %v; want %q", got, err, want)
		}
	}
	alarms(f)
	for _, c := range []*Command{NewDiskAlarm("n2", true), NewDiskAlarm("n1", true), NewDiskAlarm("n1", true)} {
		if r := applyNext(t, f, 1, c); r.String() != "OK" {
			t.Fatalf("%v: %s", c.Args, r)
		}
	}
	alarms(f, "n1", "n2")
	for _, c := range []*Command{
		NewDiskAlarm("", true),
		{Op: OpDiskAlarm, Args: [][]byte{[]byte("n3"), []byte("yes")}},
		{Op: OpDiskAlarm, Args: [][]byte{[]byte("n3")}},
	} {
		if r := applyNext(t, f, 1, c); r.Kind != ResultError {
			t.Fatalf("%v: %s, want an error", c.Args, r)
		}
	}
	if r := applyNext(t, f, 1, &Command{Op: OpMulti, Args: [][]byte{nil, must(NewDiskAlarm("n3", true).MarshalBinary())}}); r.Kind == ResultArray {
		t.Fatalf("a disk alarm inside MULTI was applied: %s", r)
	}
	applyNext(t, f, 1, NewFlush())
	alarms(f, "n1", "n2")

	dst := mustMemFSM(t)
	mustRestore(t, dst, mustPersist(t, f))
	alarms(dst, "n1", "n2")

	applyNext(t, f, 1, NewDiskAlarm("n1", false))
	applyNext(t, f, 1, NewDiskAlarm("n1", false)) // already clear: still OK
	alarms(f, "n2")
	applyNext(t, f, 1, NewRemoveNode("n2"))
	alarms(f)
}
