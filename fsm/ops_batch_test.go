package fsm

import (
	"testing"

	"github.com/hashicorp/raft"

	"github.com/riot-kv/riot-redis/storage"
)

func TestBatchAppliesEachCommandIndependently(t *testing.T) {
	f, err := New(storage.NewMemory())
	if err != nil {
		t.Fatal(err)
	}
	b := NewBatch([]*Command{
		NewSet([]byte("a"), []byte("1"), SetOptions{}),
		NewIncrBy([]byte("a"), 5),
		NewSet([]byte("s"), []byte("x"), SetOptions{}),
		NewIncrBy([]byte("s"), 1), // fails: not an integer; changes nothing
		NewSet([]byte("a"), []byte("z"), SetOptions{NX: true}),
		NewDel([]byte("s"), []byte("missing")),
	})
	b.Now = 1000
	data, _ := b.MarshalBinary()
	res := f.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: data}).(Result)
	if res.Kind != ResultArray || len(res.Array) != 6 {
		t.Fatalf("batch result = %v", res)
	}
	want := []Result{
		{Kind: ResultOK}, {Kind: ResultInt, Int: 6}, {Kind: ResultOK},
		{Kind: ResultError, Err: ErrTextNotInteger}, {Kind: ResultNil}, {Kind: ResultInt, Int: 1},
	}
	for i, w := range want {
		g := res.Array[i]
		if g.Kind != w.Kind || g.Int != w.Int || g.Err != w.Err {
			t.Errorf("sub-command %d: got %v, want %v", i, g, w)
		}
	}
	if v, ok, _ := f.Get([]byte("a"), 1000); !ok || string(v) != "6" {
		t.Fatalf("a = %q, %v; want 6", v, ok)
	}
	if ok, _ := f.Exists([]byte("s"), 1000); ok {
		t.Fatal("s should have been deleted by the batch's DEL")
	}
	if f.AppliedIndex() != 1 {
		t.Fatalf("applied index %d", f.AppliedIndex())
	}
}

func TestBatchWithCorruptSubCommandChangesNothing(t *testing.T) {
	f, err := New(storage.NewMemory())
	if err != nil {
		t.Fatal(err)
	}
	good := NewSet([]byte("k"), []byte("v"), SetOptions{}).AppendBinary(nil)
	nested := NewBatch([]*Command{NewNoop()}).AppendBinary(nil)
	for i, args := range [][][]byte{
		{good, []byte{1, 2, 3}}, // truncated sub-command
		{good, nested},          // nested batch
		{good, (&Command{Op: 250}).AppendBinary(nil)}, // unknown op
	} {
		c := &Command{Op: OpBatch, Args: args}
		data, _ := c.MarshalBinary()
		res := f.Apply(&raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: data}).(Result)
		if res.Kind != ResultError || res.Err != ErrTextCorruptCommand {
			t.Fatalf("case %d: result %v; want corrupt-command error", i, res)
		}
		if ok, _ := f.Exists([]byte("k"), 0); ok {
			t.Fatalf("case %d: a corrupt batch applied its first command", i)
		}
	}
}

// Sub-commands run at the batch's Now, whatever their own Now says.
func TestBatchSubCommandsRunAtBatchTime(t *testing.T) {
	f, err := New(storage.NewMemory())
	if err != nil {
		t.Fatal(err)
	}
	sub := NewSet([]byte("k"), []byte("v"), SetOptions{TTL: 100})
	sub.Now = 1 // stale: would make the key expire at 101
	b := NewBatch([]*Command{sub})
	b.Now = 5000
	data, _ := b.MarshalBinary()
	f.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: data})
	at, ok, err := f.ExpireAt([]byte("k"), 5050)
	if err != nil || !ok || at != 5100 {
		t.Fatalf("expire at = %d, %v, %v; want 5100", at, ok, err)
	}
}
