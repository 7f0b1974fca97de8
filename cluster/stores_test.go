package cluster

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/riot-kv/riot-redis/fsm"
	"github.com/riot-kv/riot-redis/storage"
)

// A data directory from a version that kept the Raft log in raft.db opens
// with its entries moved into the log, once; the term and vote stay.
func TestStoresMigrateBoltLog(t *testing.T) {
	dir := t.TempDir()
	old, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "raft.db")})
	if err != nil {
		t.Fatal(err)
	}
	entry := func(i uint64) *raft.Log {
		return &raft.Log{Index: i, Term: 1 + i/50, Type: raft.LogCommand, Data: []byte(fmt.Sprintf("entry-%d", i))}
	}
	var logs []*raft.Log
	for i := uint64(20); i <= 600; i++ {
		logs = append(logs, entry(i))
	}
	if err := old.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	if err := old.SetUint64([]byte("CurrentTerm"), 13); err != nil {
		t.Fatal(err)
	}
	old.Close()

	for round := 0; round < 2; round++ {
		s, err := openStores(dir, 0)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		first, _ := s.log.FirstIndex()
		last, _ := s.log.LastIndex()
		if first != 20 || last != 600 {
			t.Fatalf("round %d: log holds %d..%d, want 20..600", round, first, last)
		}
		for i := first; i <= last; i++ {
			var got raft.Log
			if err := s.log.GetLog(i, &got); err != nil {
				t.Fatalf("round %d: entry %d: %v", round, i, err)
			}
			if want := entry(i); got.Term != want.Term || !bytes.Equal(got.Data, want.Data) {
				t.Fatalf("round %d: entry %d = term %d %q", round, i, got.Term, got.Data)
			}
		}
		if bl, _ := s.stable.LastIndex(); bl != 0 {
			t.Fatalf("round %d: raft.db still holds entries up to %d", round, bl)
		}
		if term, err := s.stable.GetUint64([]byte("CurrentTerm")); err != nil || term != 13 {
			t.Fatalf("round %d: current term %d, %v; want 13", round, term, err)
		}
		if err := s.close(); err != nil {
			t.Fatal(err)
		}
	}
}

// The state machine as Raft sees it applies an entry only once the local log
// is durable through it.
func TestDurableFSMWaitsForTheLog(t *testing.T) {
	f := mustTestFSM(t)
	log := newFakeDurable(0)
	d := durableFSM{FSM: f, log: log}
	cmd := fsm.Command{Op: fsm.OpSet, Args: [][]byte{[]byte("k"), []byte("v")}}
	data, err := cmd.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan []any, 1)
	go func() { done <- d.ApplyBatch([]*raft.Log{{Index: 1, Term: 1, Type: raft.LogCommand, Data: data}}) }()
	select {
	case <-done:
		t.Fatal("applied before the entry was durable")
	case <-time.After(50 * time.Millisecond):
	}
	if got := f.AppliedIndex(); got != 0 {
		t.Fatalf("applied index %d before the entry was durable", got)
	}
	log.set(1, nil)
	select {
	case out := <-done:
		if r, ok := out[0].(fsm.Result); !ok || r.Kind == fsm.ResultError {
			t.Fatalf("apply result %v", out[0])
		}
	case <-time.After(5 * time.Second):
		t.Fatal("not applied after the entry became durable")
	}
	if v, ok, err := f.Get([]byte("k"), time.Now().UnixMilli()); err != nil || !ok || string(v) != "v" {
		t.Fatalf("k = %q %v %v", v, ok, err)
	}
}

func mustTestFSM(t *testing.T) *fsm.FSM {
	t.Helper()
	f, err := fsm.New(storage.NewMemory())
	if err != nil {
		t.Fatal(err)
	}
	return f
}
