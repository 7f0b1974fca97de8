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

// Sub-commands share one encoding buffer (EncodeAll) and, when applied, one
// array of argument slices; neither may let one sub-command's arguments
// overwrite another's, whatever their counts.
func TestBatchSharedBuffersKeepSubCommandsApart(t *testing.T) {
	var pairs [][]byte
	for i := range 10 {
		pairs = append(pairs, []byte{'m', byte('0' + i)}, []byte{'v', byte('0' + i)})
	}
	cmds := []*Command{
		NewSet([]byte("a"), []byte("1"), SetOptions{}),
		NewMSet(pairs...), // more arguments than the arena holds per command
		NewDel([]byte("x"), []byte("y"), []byte("z"), []byte("m9")),
		NewSet([]byte("b"), []byte("2"), SetOptions{KeepTTL: true}),
		NewNoop(), // no arguments
		NewSet([]byte("c"), []byte("3"), SetOptions{}),
	}
	enc := EncodeAll(cmds)
	for i, e := range enc {
		if cap(e) != len(e) {
			t.Fatalf("encoding %d has spare capacity %d: an append would overwrite the next", i, cap(e)-len(e))
		}
		got, err := DecodeCommand(e)
		if err != nil || got.Op != cmds[i].Op || len(got.Args) != len(cmds[i].Args) {
			t.Fatalf("encoding %d decodes to %v, %v; want op %d with %d args", i, got, err, cmds[i].Op, len(cmds[i].Args))
		}
		for j := range got.Args {
			if string(got.Args[j]) != string(cmds[i].Args[j]) {
				t.Fatalf("encoding %d arg %d = %q, want %q", i, j, got.Args[j], cmds[i].Args[j])
			}
		}
	}

	f, err := New(storage.NewMemory())
	if err != nil {
		t.Fatal(err)
	}
	b := &Command{Op: OpBatch, Now: 1000, Args: enc}
	data, _ := b.MarshalBinary()
	res := f.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: data}).(Result)
	if res.Kind != ResultArray || len(res.Array) != len(cmds) {
		t.Fatalf("batch result = %v", res)
	}
	if d := res.Array[2]; d.Kind != ResultInt || d.Int != 1 {
		t.Fatalf("DEL x y z m9 = %v; want 1 (only m9 existed)", d)
	}
	want := map[string]string{"a": "1", "b": "2", "c": "3", "m0": "v0", "m8": "v8"}
	for k, v := range want {
		if got, ok, _ := f.Get([]byte(k), 1000); !ok || string(got) != v {
			t.Errorf("%s = %q, %v; want %q", k, got, ok, v)
		}
	}
	if ok, _ := f.Exists([]byte("m9"), 1000); ok {
		t.Error("m9 should have been deleted")
	}
}
