package fsm

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/riot-kv/riot-redis/storage"
)

// checkInvariants fails the test unless the TTL index, the hash index and the
// key statistics all agree with the 'k' records.
func checkInvariants(t testing.TB, f *FSM) {
	t.Helper()
	checkExpireIndex(t, f.eng)
	var keys, expires int64
	want := map[string]bool{}
	got := map[string]bool{}
	var stats []byte
	for _, p := range mustDump(t, f.eng) {
		switch p.k[0] {
		case nsData:
			keys++
			if recordHasExpiry([]byte(p.v)) {
				expires++
			}
			want[string(hashKey([]byte(p.k[1:])))] = true
		case nsHash:
			got[p.k] = true
		case nsMeta:
			if p.k == string(statsKey) {
				stats = []byte(p.v)
			}
		}
	}
	for k := range want {
		if !got[k] {
			t.Errorf("hash index misses %q", k)
		}
	}
	for k := range got {
		if !want[k] {
			t.Errorf("hash index has stale entry %q", k)
		}
	}
	if keys == 0 {
		if stats != nil {
			t.Errorf("statistics record %x left in an empty keyspace", stats)
		}
	} else if k, e, ok := decodeStats(stats); !ok || k != keys || e != expires {
		t.Errorf("statistics record says %d keys, %d expires (ok=%v); records: %d, %d", k, e, ok, keys, expires)
	}
	if k, e := f.KeyStats(); k != keys || e != expires {
		t.Errorf("KeyStats() = %d, %d; records: %d, %d", k, e, keys, expires)
	}
}

// apply runs steps like runSteps and checks every invariant after each.
func apply(t *testing.T, f *FSM, steps []step) {
	t.Helper()
	for i, s := range steps {
		s.cmd.Now = s.now
		before := mustDump(t, f.eng)
		got := mustApply(t, f, f.AppliedIndex()+1, s.cmd)
		if got.String() != s.want {
			t.Fatalf("step %d (%v %q): got %s, want %s", i, s.cmd.Op, s.cmd.Args, got, s.want)
		}
		if after := mustDump(t, f.eng); got.IsError() && !sameDump(before, after) {
			t.Fatalf("step %d (%v): a failing command changed the state", i, s.cmd.Op)
		}
		checkInvariants(t, f)
	}
}

func b(s string) []byte { return []byte(s) }

func TestAppendAndSetRange(t *testing.T) {
	f := mustMemFSM(t)
	apply(t, f, []step{
		{1, NewAppend(b("a"), b("hello")), "(integer) 5"},
		{2, NewAppend(b("a"), b(" world")), "(integer) 11"},
		{3, NewAppend(b("e"), b("")), "(integer) 0"},
		{4, set("t", "x", SetOptions{TTL: 100}), "OK"},
		{5, NewAppend(b("t"), b("y")), "(integer) 2"},
		{200, NewAppend(b("t"), b("z")), "(integer) 1"}, // expired: starts over, no TTL
		{201, NewSetRange(b("a"), 6, b("Redis")), "(integer) 11"},
		{202, NewSetRange(b("n"), 3, b("x")), "(integer) 4"},
		{203, NewSetRange(b("none"), 3, b("")), "(integer) 0"},
		{204, NewSetRange(b("a"), 0, b("")), "(integer) 11"},
		{205, NewSetRange(b("a"), -1, b("x")), "(error) " + ErrTextOffsetRange},
		{206, NewSetRange(b("a"), MaxStringLen, b("x")), "(error) " + ErrTextStringTooLong},
		{207, NewSetRange(b("a"), math.MaxInt64, b("x")), "(error) " + ErrTextStringTooLong},
		{208, NewSetRange(b("a"), 20, b("!")), "(integer) 21"},
	})
	checkProbes(t, f, []probe{
		{key: "a", now: 300, val: "hello Redis\x00\x00\x00\x00\x00\x00\x00\x00\x00!"},
		{key: "e", now: 300, val: ""},
		{key: "t", now: 300, val: "z"},
		{key: "n", now: 300, val: "\x00\x00\x00x"},
		{key: "none", now: 300, absent: true},
	})
	// APPEND and SETRANGE keep a live key's expiry.
	apply(t, f, []step{
		{1000, set("k", "ab", SetOptions{TTL: 500}), "OK"},
		{1001, NewAppend(b("k"), b("c")), "(integer) 3"},
		{1002, NewSetRange(b("k"), 0, b("A")), "(integer) 3"},
	})
	checkProbes(t, f, []probe{{key: "k", now: 1400, val: "Abc", expireAt: 1500}})
}

func TestGetDelAndGetEx(t *testing.T) {
	f := mustMemFSM(t)
	apply(t, f, []step{
		{1, NewGetDel(b("k")), "(nil)"},
		{1, set("k", "v", SetOptions{}), "OK"},
		{2, NewGetDel(b("k")), `"v"`},
		{3, NewGetDel(b("k")), "(nil)"},
		{4, set("g", "v", SetOptions{}), "OK"},
		{5, NewGetEx(b("g"), GetExOptions{}), `"v"`},
		{10, NewGetEx(b("g"), GetExOptions{TTL: 100}), `"v"`},
	})
	checkProbes(t, f, []probe{{key: "g", now: 50, val: "v", expireAt: 110}})
	apply(t, f, []step{
		{20, NewGetEx(b("g"), GetExOptions{ExpireAt: 5000}), `"v"`},
	})
	checkProbes(t, f, []probe{{key: "g", now: 50, val: "v", expireAt: 5000}})
	apply(t, f, []step{
		{30, NewGetEx(b("g"), GetExOptions{Persist: true}), `"v"`},
		{31, NewGetEx(b("g"), GetExOptions{Persist: true}), `"v"`},
		{32, NewGetEx(b("g"), GetExOptions{TTL: math.MaxInt64}), "(error) " + ErrTextInvalidGetEx},
		{33, NewGetEx(b("g"), GetExOptions{TTL: -5}), "(error) " + ErrTextInvalidGetEx},
		{34, NewGetEx(b("g"), GetExOptions{ExpireAt: -5}), "(error) " + ErrTextInvalidGetEx},
		{35, NewGetEx(b("g"), GetExOptions{TTL: 5, Persist: true}), "(error) " + ErrTextSyntax},
		{36, NewGetEx(b("g"), GetExOptions{TTL: 5, ExpireAt: 5}), "(error) " + ErrTextSyntax},
		{37, NewGetEx(b("missing"), GetExOptions{TTL: 5}), "(nil)"},
		// A bad expiry answers as the key is, and changes nothing.
		{38, NewGetEx(b("g"), GetExOptions{NotInteger: true}), "(error) " + ErrTextNotInteger},
		{38, NewGetEx(b("missing"), GetExOptions{NotInteger: true}), "(nil)"},
		{38, NewGetEx(b("missing"), GetExOptions{TTL: -1}), "(nil)"},
	})
	checkProbes(t, f, []probe{{key: "g", now: 50, val: "v"}})
	apply(t, f, []step{
		{40, NewGetEx(b("g"), GetExOptions{ExpireAt: 40}), `"v"`}, // at or before now: deleted
	})
	checkProbes(t, f, []probe{{key: "g", now: 41, absent: true}})
}

func TestMSetAndMSetNX(t *testing.T) {
	f := mustMemFSM(t)
	apply(t, f, []step{
		{1, set("t", "old", SetOptions{TTL: 100}), "OK"},
		{2, NewMSet(b("a"), b("1"), b("t"), b("2"), b("a"), b("3")), "OK"},
		{3, NewMSetNX(b("x"), b("1"), b("a"), b("2")), "(integer) 0"},
		{4, NewMSetNX(b("x"), b("1"), b("y"), b("2")), "(integer) 1"},
		{5, set("e", "v", SetOptions{TTL: 1}), "OK"},
		{10, NewMSetNX(b("e"), b("new")), "(integer) 1"}, // expired keys do not exist
	})
	checkProbes(t, f, []probe{
		{key: "a", now: 20, val: "3"},
		{key: "t", now: 200, val: "2"}, // MSET drops the expiry
		{key: "x", now: 20, val: "1"},
		{key: "y", now: 20, val: "2"},
		{key: "e", now: 20, val: "new"},
	})
}

func TestIncrByFloat(t *testing.T) {
	f := mustMemFSM(t)
	apply(t, f, []step{
		{1, set("f", "10.50", SetOptions{TTL: 1000}), "OK"},
		{2, NewIncrByFloat(b("f"), b("0.1")), `"10.6"`},
		{3, NewIncrByFloat(b("f"), b("-5")), `"5.6"`},
		{4, NewIncrByFloat(b("f"), b("2.0e2")), `"205.60000000000000001"`},
		{5, NewIncrByFloat(b("n"), b("5.0e3")), `"5000"`},
		{6, NewIncrByFloat(b("n"), b("abc")), "(error) " + ErrTextNotFloat},
		{7, NewIncrByFloat(b("n"), b("inf")), "(error) " + ErrTextNaNOrInfinity},
		{8, set("s", "x", SetOptions{}), "OK"},
		{9, NewIncrByFloat(b("s"), b("1")), "(error) " + ErrTextNotFloat},
		{10, set("big", "1e4932", SetOptions{}), "OK"},
		{11, NewIncrByFloat(b("big"), b("1e4932")), "(error) " + ErrTextNaNOrInfinity},
	})
	checkProbes(t, f, []probe{{key: "f", now: 500, val: "205.60000000000000001", expireAt: 1001}})
}

// TestLongDouble checks parsing and formatting against replies recorded from
// redis-server 7.0 on x86-64 (INCRBYFLOAT of a missing key, or of the value
// given).
func TestLongDouble(t *testing.T) {
	tests := []struct {
		value, incr string
		want        string // the reply, or the error text
	}{
		{"0", "1e-4950", "0"},
		{"0", "1e-4951", ErrTextNotFloat},
		{"0", "3.6e-4951", "0"},
		{"0", "1.9e-4951", "0"},
		{"0", "1.8e-4951", ErrTextNotFloat},
		{"0", "1e-4952", ErrTextNotFloat},
		{"0", "1.19e4932", ErrTextNotFloat},
		{"0", "1.2e4932", ErrTextNotFloat},
		{"0", "0x1p16384", ErrTextNotFloat},
		{"0", "0x1p-16445", "0"},
		{"0", "0x1p-16446", ErrTextNotFloat},
		{"0", "0x1.8p-16446", "0"},
		{"0", "0X1P3", "8"},
		{"0", "0x.8", "0.5"},
		{"0", "0x", ErrTextNotFloat},
		{"0", "0x1p", ErrTextNotFloat},
		{"0", "1e+5", "100000"},
		{"0", "1E-2", "0.01"},
		{"0", ".e1", ErrTextNotFloat},
		{"0", ".", ErrTextNotFloat},
		{"0", "-.5", "-0.5"},
		{"0", "+0", "0"},
		{"0", "-0", "0"},
		{"0", "00012", "12"},
		{"0", "1_0", ErrTextNotFloat},
		{"0", "0x1.8p1", "3"},
		{"0", "infinity", ErrTextNaNOrInfinity},
		{"0", "INF", ErrTextNaNOrInfinity},
		{"0", "-Inf", ErrTextNaNOrInfinity},
		{"0", "nan1", ErrTextNotFloat},
		{"0", "infx", ErrTextNotFloat},
		{"0", "123456789012345678901234567890", "123456789012345678899921813504"},
		{"0", "0.1e-1", "0.01"},
		{"0", "1e0000000000000000000000010", "10000000000"},
		{"0", "1e-99999999999999999999", ErrTextNotFloat},
		{"0", "0e99999999999999999999", "0"},
		{"0", "5\x00junk", ErrTextNotFloat}, // a NUL ends strtold early: not all parsed
		{"0", "\x00", ErrTextNotFloat},
		{"0", " 1", ErrTextNotFloat},
		{"0", "1 ", ErrTextNotFloat},
		{"0", "", ErrTextNotFloat},
		{"0", strings.Repeat("1", maxLongDoubleChars), ErrTextNotFloat},
		{"1.1e4932", "-1.1e4932", "0"},
		{"0.1", "0.7", "0.8"},
		{"0.8", "1e-17", "0.80000000000000001"},
		{"2.5", "0.000000000000000005", "2.5"},
		{"0", "0.000000000000000015", "0.00000000000000002"},
		{"0.00000000000000002", "-0.000000000000000025", "0"},
		{"0", "0x1p-18", "0.00000381469726562"},
		{"0.00000381469726562", "9007199254740993", "9007199254740993"},
		{"9007199254740993", "1e25", "10000000009007199254740992"},
		{"abc", "1", ErrTextNotFloat},
		{"inf", "1", ErrTextNaNOrInfinity},
	}
	for _, tc := range tests {
		out, errText := incrByFloat(b(tc.value), b(tc.incr))
		got := string(out)
		if errText != "" {
			got = errText
		}
		if got != tc.want {
			t.Errorf("%q + %q = %q, want %q", tc.value, tc.incr, got, tc.want)
		}
	}
	// Long outputs, by digest.
	for _, tc := range []struct{ incr, sum string }{
		{"1.18e4932", "c9fb919511e23feeeb328fba5a5d442f724eee273008dc23058ec372cf677358"},
		{"0x1p16383", "f472c41010f0b23fc115cd238c0de02dcbab892c2fc438bd8d826bcc4d739591"},
		{"0x1.fffffffffffffffep16383", "39319dad6400899a3385cef1c62991c21106f7f12a7dea6f3849a857ad9131a6"},
	} {
		out, errText := incrByFloat(b("0"), b(tc.incr))
		sum := sha256.Sum256(out)
		if errText != "" || hex.EncodeToString(sum[:]) != tc.sum {
			t.Errorf("0 + %s = %d bytes (%s), not Redis's", tc.incr, len(out), errText)
		}
	}
}

func TestRenameAndCopy(t *testing.T) {
	f := mustMemFSM(t)
	apply(t, f, []step{
		{1, NewRename(b("missing"), b("x"), false), "(error) " + ErrTextNoSuchKey},
		{1, NewRename(b("missing"), b("missing"), true), "(error) " + ErrTextNoSuchKey},
		{1, set("a", "1", SetOptions{TTL: 100}), "OK"},
		{1, set("b", "2", SetOptions{TTL: 50}), "OK"},
		{2, NewRename(b("a"), b("a"), false), "OK"},
		{2, NewRename(b("a"), b("a"), true), "(integer) 0"},
		{3, NewRename(b("a"), b("b"), true), "(integer) 0"},
		{4, NewRename(b("a"), b("b"), false), "OK"},
		{5, NewRename(b("b"), b("c"), true), "(integer) 1"},
		{6, NewCopy(b("c"), b("c"), false), "(error) " + ErrTextSameObject},
		{6, NewCopy(b("c"), b("d"), false), "(integer) 1"},
		{7, set("e", "other", SetOptions{}), "OK"},
		{7, NewCopy(b("c"), b("e"), false), "(integer) 0"},
		{8, NewCopy(b("c"), b("e"), true), "(integer) 1"},
		{8, NewCopy(b("missing"), b("e"), true), "(integer) 0"},
		{9, set("x", "v", SetOptions{TTL: 1}), "OK"},
		{20, NewRename(b("x"), b("y"), false), "(error) " + ErrTextNoSuchKey}, // expired
		{20, NewCopy(b("x"), b("y"), false), "(integer) 0"},
	})
	checkProbes(t, f, []probe{
		{key: "a", now: 50, absent: true},
		{key: "b", now: 50, absent: true},
		{key: "c", now: 50, val: "1", expireAt: 101},
		{key: "d", now: 50, val: "1", expireAt: 101},
		{key: "e", now: 50, val: "1", expireAt: 101},
	})
}

func TestExpireOps(t *testing.T) {
	exp := func(key string, when int64, rel bool, opts string) *Command {
		o := ExpireOptions{When: when, Relative: rel, Seconds: strings.Contains(opts, "s"),
			NX: strings.Contains(opts, "N"), XX: strings.Contains(opts, "X"),
			GT: strings.Contains(opts, "G"), LT: strings.Contains(opts, "L")}
		return NewExpire(b(key), o)
	}
	f := mustMemFSM(t)
	apply(t, f, []step{
		{1000, exp("missing", 100, true, ""), "(integer) 0"},
		{1000, set("k", "v", SetOptions{}), "OK"},
		{1000, NewPersist(b("k")), "(integer) 0"},
		{1000, exp("k", 100, true, "X"), "(integer) 0"},
		{1000, exp("k", 100, true, "G"), "(integer) 0"}, // no expiry is an infinite TTL
		{1000, exp("k", 500, true, "N"), "(integer) 1"}, // expires at 1500
		{1000, exp("k", 100, true, "N"), "(integer) 0"},
		{1000, exp("k", 400, true, "G"), "(integer) 0"},
		{1000, exp("k", 600, true, "G"), "(integer) 1"}, // 1600
		{1000, exp("k", 700, true, "L"), "(integer) 0"},
		{1000, exp("k", 300, true, "XL"), "(integer) 1"}, // 1300
		{1000, exp("k", 5000, false, ""), "(integer) 1"},
		{1000, exp("k", 5000, false, "NX"), "(error) " + ErrTextExpireNXCombo},
		{1000, exp("k", 5000, false, "NG"), "(error) " + ErrTextExpireNXCombo},
		{1000, exp("k", 5000, false, "GL"), "(error) " + ErrTextExpireGTAndLT},
		{1000, exp("k", math.MaxInt64, true, "s"), "(error) " + ErrTextInvalidExpireS},
		{1000, exp("k", math.MaxInt64, true, ""), "(error) " + ErrTextInvalidPExpire},
		{1000, exp("k", math.MaxInt64, false, ""), "(integer) 1"},
		{1000, exp("k", 5000, false, ""), "(integer) 1"},
	})
	checkProbes(t, f, []probe{{key: "k", now: 4999, val: "v", expireAt: 5000}})
	apply(t, f, []step{
		{1000, NewPersist(b("k")), "(integer) 1"},
		{1000, NewPersist(b("k")), "(integer) 0"},
	})
	checkProbes(t, f, []probe{{key: "k", now: 9999, val: "v"}})
	apply(t, f, []step{
		{1000, exp("k", 0, true, ""), "(integer) 1"}, // now: deleted
		{1000, set("k", "v", SetOptions{}), "OK"},
		{1000, exp("k", -10, true, "L"), "(integer) 1"},
		{1000, set("k", "v", SetOptions{}), "OK"},
		{1000, exp("k", 999, false, ""), "(integer) 1"},
	})
	checkProbes(t, f, []probe{{key: "k", now: 1000, absent: true}})
}

func TestExpireSweep(t *testing.T) {
	f := mustMemFSM(t)
	apply(t, f, []step{
		{1000, set("a", "1", SetOptions{TTL: 10}), "OK"},
		{1000, set("b", "2", SetOptions{TTL: 10}), "OK"},
		{1000, set("c", "3", SetOptions{TTL: 1000}), "OK"},
		{1000, set("d", "4", SetOptions{}), "OK"},
	})
	keys, err := f.ExpiredKeys(1010, 10)
	if err != nil || !slices.EqualFunc(keys, [][]byte{b("a"), b("b")}, bytes.Equal) {
		t.Fatalf("ExpiredKeys(1010) = %q, %v", keys, err)
	}
	if keys, _ := f.ExpiredKeys(1010, 1); len(keys) != 1 {
		t.Fatalf("ExpiredKeys with limit 1 = %q", keys)
	}
	if keys, _ := f.ExpiredKeys(1009, 10); len(keys) != 0 {
		t.Fatalf("ExpiredKeys(1009) = %q", keys)
	}
	// b is set again before the sweep applies: it survives. c and d are
	// live; a is swept.
	apply(t, f, []step{
		{1011, set("b", "new", SetOptions{}), "OK"},
		{1012, NewExpireSweep(b("a"), b("b"), b("c"), b("d"), b("missing")), "(integer) 1"},
		{1013, NewExpireSweep(b("a")), "(integer) 0"},
	})
	if k, e := f.KeyStats(); k != 3 || e != 1 {
		t.Fatalf("KeyStats after sweep = %d, %d; want 3, 1", k, e)
	}
	if ok, _ := f.Exists(b("a"), 0); ok {
		t.Fatal("the swept record is still stored")
	}
	checkProbes(t, f, []probe{{key: "b", now: 5000, val: "new"}, {key: "d", now: 5000, val: "4"}})

	// A TTL index entry that does not match its key's record is never
	// offered to the sweep (it could not delete it).
	var bt storage.Batch
	bt.Put(expireKey(1001, b("d")), emptyValue)       // d has no expiry
	bt.Put(expireKey(1002, b("nothing")), emptyValue) // no record
	if err := f.eng.Write(&bt, f.AppliedIndex()); err != nil {
		t.Fatal(err)
	}
	keys, err = f.ExpiredKeys(3000, 10)
	if err != nil || !slices.EqualFunc(keys, [][]byte{b("c")}, bytes.Equal) {
		t.Fatalf("ExpiredKeys with stale index entries = %q, %v; want [c]", keys, err)
	}
}

func TestFlush(t *testing.T) {
	f := mustMemFSM(t)
	apply(t, f, []step{
		{1, NewSetNode(NodeMeta{ID: "n1", RaftAddr: "127.0.0.1:1"}), "OK"},
		{1, set("a", "1", SetOptions{TTL: 10}), "OK"},
		{1, NewMSet(b("b"), b("2"), b("c"), b("3")), "OK"},
	})
	// FLUSHALL in the same batch as the writes it removes.
	out := mustResults(t, f.ApplyBatch([]*raft.Log{
		logOf(t, f.AppliedIndex()+1, &Command{Op: OpSet, Now: 2, Args: [][]byte{b("d"), b("4")}}),
		logOf(t, f.AppliedIndex()+2, &Command{Op: OpFlush, Now: 2}),
		logOf(t, f.AppliedIndex()+3, &Command{Op: OpSet, Now: 2, Args: [][]byte{b("e"), b("5")}}),
	}))
	if out[1].Kind != ResultOK {
		t.Fatalf("FLUSH = %v", out[1])
	}
	checkInvariants(t, f)
	if k, e := f.KeyStats(); k != 1 || e != 0 {
		t.Fatalf("KeyStats = %d, %d; want 1, 0", k, e)
	}
	keys, _ := f.Keys(b("*"), 3)
	if len(keys) != 1 || string(keys[0]) != "e" {
		t.Fatalf("keys after FLUSH = %q", keys)
	}
	if nodes, err := f.Nodes(); err != nil || len(nodes) != 1 {
		t.Fatalf("FLUSH removed node metadata: %v, %v", nodes, err)
	}
	apply(t, f, []step{{3, NewFlush(), "OK"}})
	for _, p := range mustDump(t, f.eng) {
		if p.k == string(clockKey) {
			continue // the replicated clock survives FLUSHALL
		}
		switch p.k[0] {
		case nsData, nsExpire, nsHash, nsMeta, nsVersion:
			t.Fatalf("engine after FLUSH holds %q", p.k)
		}
	}
}

// TestKeyOpsWrongTypeAndCorrupt runs every new write against a key of
// another type and against a record that does not decode: each answers
// WRONGTYPE (or overwrites, as Redis does) or the corrupt-value error, and a
// failure changes nothing. The records are written before the FSM opens, so
// this also covers building the statistics and hash index of an old layout.
func TestKeyOpsWrongTypeAndCorrupt(t *testing.T) {
	e := storage.NewMemory()
	t.Cleanup(func() { e.Close() })
	var bt storage.Batch
	bt.Put(dataKey(b("h"), 0), appendRecordHeader(nil, typeHash, 0))
	bt.Put(dataKey(b("hx"), 0), appendRecordHeader(nil, typeHash, 99999))
	bt.Put(expireKey(99999, b("hx")), emptyValue)
	bt.Put(dataKey(b("bad"), 0), []byte{0x7f})
	if err := e.Write(&bt, 7); err != nil {
		t.Fatal(err)
	}
	f := mustNew(t, e)
	checkInvariants(t, f)
	if k, x := f.KeyStats(); k != 3 || x != 1 {
		t.Fatalf("rebuilt KeyStats = %d, %d", k, x)
	}
	if typ, err := f.Type(b("h"), 1); err != nil || typ != "hash" {
		t.Fatalf("Type(h) = %q, %v", typ, err)
	}
	wt, cv := "(error) "+ErrTextWrongType, "(error) "+ErrTextCorruptValue
	apply(t, f, []step{
		{1, NewAppend(b("h"), b("x")), wt},
		{1, NewSetRange(b("h"), 0, b("x")), wt},
		{1, NewGetDel(b("h")), wt},
		{1, NewGetEx(b("h"), GetExOptions{TTL: 5}), wt},
		{1, NewIncrByFloat(b("h"), b("1")), wt},
		{1, NewAppend(b("bad"), b("x")), cv},
		{1, NewSetRange(b("bad"), 0, b("x")), cv},
		{1, NewGetDel(b("bad")), cv},
		{1, NewGetEx(b("bad"), GetExOptions{}), cv},
		{1, NewIncrByFloat(b("bad"), b("1")), cv},
		{1, NewMSet(b("ok"), b("1"), b("bad"), b("x")), cv},
		{1, NewMSetNX(b("ok"), b("1"), b("bad"), b("x")), cv},
		{1, NewRename(b("bad"), b("x"), false), cv},
		{1, NewCopy(b("h"), b("bad"), true), cv},
		{1, NewExpire(b("bad"), ExpireOptions{When: 5, Relative: true}), cv},
		{1, NewPersist(b("bad")), cv},
		{1, NewExpireSweep(b("bad"), b("h")), "(integer) 0"},
		// Type-agnostic commands move or copy any type.
		{1, NewRename(b("hx"), b("h2"), false), "OK"},
		{1, NewCopy(b("h2"), b("h3"), false), "(integer) 1"},
		{1, NewExpire(b("h"), ExpireOptions{When: 50, Relative: true}), "(integer) 1"},
		{1, NewMSet(b("h3"), b("now a string")), "OK"},
	})
	if typ, _ := f.Type(b("h2"), 2); typ != "hash" {
		t.Fatalf("RENAME changed the type to %q", typ)
	}
	if at, _, _ := f.ExpireAt(b("h2"), 2); at != 99999 {
		t.Fatalf("RENAME lost the expiry: %d", at)
	}
}

// randomKeyCommand returns a random command of the keyspace families over a
// small set of keys.
func randomKeyCommand(rng *rand.Rand, now int64) *Command {
	k := func() []byte { return fmt.Appendf(nil, "k%d", rng.IntN(12)) }
	switch rng.IntN(18) {
	case 0:
		return NewAppend(k(), b("ab"))
	case 1:
		return NewSetRange(k(), int64(rng.IntN(6)), b("xy"))
	case 2:
		return NewGetDel(k())
	case 3:
		return NewGetEx(k(), GetExOptions{TTL: int64(rng.IntN(40) + 1)})
	case 4:
		return NewGetEx(k(), GetExOptions{Persist: true})
	case 5:
		return NewMSet(k(), b("1.5"), k(), b("2"))
	case 6:
		return NewMSetNX(k(), b("3"), k(), b("x"))
	case 7:
		return NewIncrByFloat(k(), b("0.25"))
	case 8:
		return NewRename(k(), k(), rng.IntN(2) == 0)
	case 9:
		return NewCopy(k(), k(), rng.IntN(2) == 0)
	case 10:
		if rng.IntN(8) == 0 {
			return NewFlush()
		}
		return NewDel(k())
	case 11:
		return NewExpire(k(), ExpireOptions{When: int64(rng.IntN(60) - 10), Relative: true,
			GT: rng.IntN(3) == 0, XX: rng.IntN(3) == 0})
	case 12:
		return NewExpire(k(), ExpireOptions{When: now + int64(rng.IntN(60)), LT: rng.IntN(2) == 0})
	case 13:
		return NewPersist(k())
	case 14:
		return NewExpireSweep(k(), k(), k())
	case 15:
		return NewSet(k(), b("7"), SetOptions{TTL: int64(rng.IntN(30) + 1)})
	case 16:
		return NewIncrBy(k(), 1)
	default:
		return NewSet(k(), b("v"), SetOptions{KeepTTL: true})
	}
}

// TestKeyOpsSameLogSameState applies one random log of every new op to two
// state machines, batched differently: results, engine content and
// statistics must be identical, and the invariants hold throughout.
func TestKeyOpsSameLogSameState(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	var logs []*raft.Log
	now := int64(1_000_000)
	for i := range 2000 {
		now += int64(rng.IntN(5))
		c := randomKeyCommand(rng, now)
		c.Now = now
		logs = append(logs, logOf(t, uint64(i+1), c))
	}
	a, c := mustMemFSM(t), mustMemFSM(t)
	var ra []Result
	for start := 0; start < len(logs); {
		end := min(len(logs), start+1+rng.IntN(64))
		ra = append(ra, mustResults(t, a.ApplyBatch(logs[start:end]))...)
		checkInvariants(t, a)
		start = end
	}
	worked := map[byte]bool{} // ops that changed something at least once
	for i, l := range logs {
		r := c.Apply(l).(Result)
		if r.String() != ra[i].String() {
			t.Fatalf("entry %d (%v): %v batched, %v alone", i+1, l.Data[1], ra[i], r)
		}
		if !r.IsError() && r.Kind != ResultNil && !(r.Kind == ResultInt && r.Int == 0) {
			worked[l.Data[1]] = true
		}
	}
	if len(worked) < 16 {
		t.Fatalf("only %d ops had an effect; the log does not exercise them all", len(worked))
	}
	checkInvariants(t, c)
	if da, dc := mustDump(t, a.eng), mustDump(t, c.eng); !sameDump(da, dc) {
		t.Fatalf("states differ (%d vs %d pairs)", len(da), len(dc))
	}
	ka, ea := a.KeyStats()
	kc, ec := c.KeyStats()
	if ka != kc || ea != ec {
		t.Fatalf("KeyStats differ: %d/%d vs %d/%d", ka, ea, kc, ec)
	}
}

// TestKeyStatsSurviveRestartAndRestore checks the statistics after a restart
// on the same directory, after a snapshot restore over different content,
// and after FLUSHALL.
func TestKeyStatsSurviveRestartAndRestore(t *testing.T) {
	dir := t.TempDir()
	f, e := mustLevelDBFSM(t, dir)
	var steps []step
	for i := range 50 {
		o := SetOptions{}
		if i%5 == 0 {
			o.TTL = 1_000_000
		}
		steps = append(steps, step{1, set(fmt.Sprint("k", i), "v", o), "OK"})
	}
	steps = append(steps, step{1, del("k1", "k2"), "(integer) 2"})
	apply(t, f, steps)
	if k, x := f.KeyStats(); k != 48 || x != 10 {
		t.Fatalf("KeyStats = %d, %d; want 48, 10", k, x)
	}
	mustClose(t, e)
	f, e = mustLevelDBFSM(t, dir)
	defer mustClose(t, e)
	if k, x := f.KeyStats(); k != 48 || x != 10 {
		t.Fatalf("KeyStats after restart = %d, %d; want 48, 10", k, x)
	}
	checkInvariants(t, f)

	stream := mustPersist(t, f)
	dst := mustMemFSM(t)
	apply(t, dst, []step{{1, NewMSet(b("other"), b("1"), b("k1"), b("x")), "OK"}})
	mustRestore(t, dst, stream)
	if k, x := dst.KeyStats(); k != 48 || x != 10 {
		t.Fatalf("KeyStats after restore = %d, %d; want 48, 10", k, x)
	}
	checkInvariants(t, dst)

	// A restore of an empty state machine resets the statistics.
	mustRestore(t, dst, mustPersist(t, mustMemFSM(t)))
	if k, x := dst.KeyStats(); k != 0 || x != 0 {
		t.Fatalf("KeyStats after restoring an empty snapshot = %d, %d", k, x)
	}

	apply(t, f, []step{{2, NewFlush(), "OK"}})
	if k, x := f.KeyStats(); k != 0 || x != 0 {
		t.Fatalf("KeyStats after FLUSHALL = %d, %d", k, x)
	}
}

func TestKeyCommandsCorruptEncodings(t *testing.T) {
	f := mustMemFSM(t)
	apply(t, f, []step{{1, set("k", "v", SetOptions{}), "OK"}})
	corrupt := "(error) " + ErrTextCorruptCommand
	apply(t, f, []step{
		{1, &Command{Op: OpSetRange, Args: [][]byte{b("k"), {0x80}, b("x")}}, corrupt},
		{1, &Command{Op: OpGetEx, Args: [][]byte{b("k"), {0xf0}}}, corrupt},
		{1, &Command{Op: OpGetEx, Args: [][]byte{b("k"), {getexTTL}}}, corrupt},
		{1, &Command{Op: OpMSet, Args: [][]byte{b("k"), b("v"), b("j")}}, corrupt},
		{1, &Command{Op: OpMSetNX, Args: [][]byte{b("k")}}, corrupt},
		{1, &Command{Op: OpCopy, Args: [][]byte{b("k"), b("j"), {0x02}}}, corrupt},
		{1, &Command{Op: OpCopy, Args: [][]byte{b("k"), b("j"), nil}}, corrupt},
		{1, &Command{Op: OpExpire, Args: [][]byte{b("k"), nil}}, corrupt},
		{1, &Command{Op: OpExpire, Args: [][]byte{b("k"), {0x80, 0x02}}}, corrupt},
		{1, &Command{Op: OpFlush, Args: [][]byte{b("k")}}, corrupt},
		{1, &Command{Op: OpExpireSweep}, corrupt},
		{1, &Command{Op: OpRename, Args: [][]byte{b("k")}}, corrupt},
	})
	checkProbes(t, f, []probe{{key: "k", now: 2, val: "v"}})
	for op := OpAppend; op <= OpExpireSweep; op++ {
		if strings.HasPrefix(op.String(), "op(") {
			t.Errorf("op %d has no name", op)
		}
	}
}

func TestTypeKeysAndRandomKey(t *testing.T) {
	f := mustMemFSM(t)
	if _, ok, err := f.RandomKey(1, 1); ok || err != nil {
		t.Fatalf("RandomKey on an empty keyspace: ok=%v err=%v", ok, err)
	}
	apply(t, f, []step{
		{1, NewMSet(b(""), b("empty"), b("user:1"), b("a"), b("user:2"), b("b"), b("user:10"), b("c"), b("usr"), b("d"), b("\xff\xff"), b("e")), "OK"},
		{1, set("user:gone", "x", SetOptions{TTL: 5}), "OK"},
	})
	for _, tc := range []struct {
		pattern string
		now     int64
		want    []string
	}{
		{"*", 2, []string{"", "user:1", "user:10", "user:2", "user:gone", "usr", "\xff\xff"}},
		{"*", 6, []string{"", "user:1", "user:10", "user:2", "usr", "\xff\xff"}},
		{"**", 6, []string{"user:1", "user:10", "user:2", "usr", "\xff\xff"}},
		{"", 6, []string{""}},
		{"user:*", 2, []string{"user:1", "user:10", "user:2", "user:gone"}},
		{"user:1", 2, []string{"user:1"}},
		{"user:1*", 2, []string{"user:1", "user:10"}},
		{"us?x*", 2, nil},
		{"\xff*", 2, []string{"\xff\xff"}},
		{"\xff\xff", 2, []string{"\xff\xff"}},
		{`user\:1`, 2, []string{"user:1"}},
	} {
		keys, err := f.Keys(b(tc.pattern), tc.now)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, k := range keys {
			got = append(got, string(k))
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("Keys(%q, %d) = %q, want %q", tc.pattern, tc.now, got, tc.want)
		}
	}
	if typ, _ := f.Type(b("user:gone"), 6); typ != "none" {
		t.Fatalf("Type of an expired key = %q", typ)
	}
	seen := map[string]bool{}
	for seed := range uint64(300) {
		k, ok, err := f.RandomKey(seed*0x9e3779b97f4a7c15, 6)
		if err != nil || !ok {
			t.Fatalf("RandomKey: %v, %v", ok, err)
		}
		if string(k) == "user:gone" {
			t.Fatal("RandomKey returned an expired key")
		}
		seen[string(k)] = true
	}
	if len(seen) != 6 {
		t.Fatalf("RandomKey over 300 seeds found %d of 6 keys", len(seen))
	}
	// Only expired keys left: nothing to return.
	g := mustMemFSM(t)
	apply(t, g, []step{{1, set("x", "1", SetOptions{TTL: 1}), "OK"}})
	if _, ok, _ := g.RandomKey(42, 5); ok {
		t.Fatal("RandomKey returned a key when every key has expired")
	}
}

func TestScan(t *testing.T) {
	f := mustMemFSM(t)
	const n = 3000
	var logs []*raft.Log
	for i := range n {
		o := SetOptions{}
		if i%10 == 0 {
			o.TTL = 5 // expired when scanning at now=10
		}
		c := set(fmt.Sprint("key:", i), "v", o)
		c.Now = 1
		logs = append(logs, logOf(t, uint64(i+1), c))
	}
	f.ApplyBatch(logs)
	checkInvariants(t, f)
	for _, count := range []int{1, 7, 100, 10_000} {
		seen := map[string]int{}
		var cursor uint64
		calls := 0
		for {
			next, keys, err := f.Scan(cursor, ScanOptions{Count: count}, 10)
			if err != nil {
				t.Fatal(err)
			}
			calls++
			if len(keys) > count+1 {
				t.Fatalf("COUNT %d: a page of %d keys", count, len(keys))
			}
			for _, k := range keys {
				seen[string(k)]++
			}
			if next != 0 && next <= cursor {
				t.Fatalf("cursor went from %d to %d", cursor, next)
			}
			if cursor = next; cursor == 0 {
				break
			}
		}
		if len(seen) != n-n/10 {
			t.Fatalf("COUNT %d: %d keys, want %d", count, len(seen), n-n/10)
		}
		for k, c := range seen {
			if c != 1 {
				t.Fatalf("COUNT %d: %q returned %d times", count, k, c)
			}
			var i int
			fmt.Sscanf(k, "key:%d", &i)
			if i%10 == 0 {
				t.Fatalf("expired key %q returned", k)
			}
		}
		if count == 10_000 && calls != 1 {
			t.Fatalf("COUNT 10000 took %d calls", calls)
		}
	}
	_, keys, _ := f.Scan(0, ScanOptions{Count: n, Match: b("key:12?")}, 10)
	if len(keys) != 9 {
		t.Fatalf("MATCH key:12? found %d keys, want 9", len(keys))
	}
	for _, typ := range []string{"string", "STRING"} {
		if _, keys, _ := f.Scan(0, ScanOptions{Count: n, Type: typ}, 10); len(keys) != n-n/10 {
			t.Fatalf("TYPE %s found %d keys", typ, len(keys))
		}
	}
	if _, keys, _ := f.Scan(0, ScanOptions{Count: n, Type: "hash"}, 10); len(keys) != 0 {
		t.Fatalf("TYPE hash found %d keys", len(keys))
	}
	// A cursor from the middle of the hash space continues from there.
	if next, keys, err := f.Scan(math.MaxUint64, ScanOptions{Count: 10}, 10); err != nil || next != 0 || len(keys) > 1 {
		t.Fatalf("Scan from the last cursor = %d, %d keys, %v", next, len(keys), err)
	}
}

func TestGlobMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", false}, // KEYS and SCAN treat a lone "*" specially
		{"**", "", false},
		{"", "", true},
		{"", "a", false},
		{"*", "anything", true},
		{"a*", "a", true},
		{"a*b", "axxb", true},
		{"a*b", "axxbx", false},
		{"a**b", "ab", true},
		{"?", "", false},
		{"?", "x", true},
		{"a?c", "abc", true},
		{"[abc]", "b", true},
		{"[abc]", "d", false},
		{"[^abc]", "d", true},
		{"[^abc]", "a", false},
		{"[a-c]x", "bx", true},
		{"[c-a]x", "bx", true},
		{"[a-c]x", "dx", false},
		{`[\]]`, "]", true},
		{`[\-]`, "-", true},
		{"[a-]", "]", true},  // "a-]" is a range up to ']', the class is unterminated
		{"[a-]", "-", false}, // '-' is below 'a'
		{"k:thre[e", "k:three", true},
		{"tw[o", "two", true},
		{"tw[^", "twx", true},
		{`two\`, "two", false},
		{`two\`, `two\`, true},
		{`\*`, "*", true},
		{`\*`, "a", false},
		{`a\?`, "ab", false},
		{"[", "x", false},
		{"[", "", false},
		{"[]", "x", false},
		{"*[!]", "x!", true},
		{"[--z]", "a", true},
		{"[\x80-\xff]", "\x90", true}, // signed chars: -128..-1
		{"[a-\xff]", "b", false},      // 'a'..-1 swaps to -1..'a': 'b' is outside
		{"[\x01-\xff]", "\x00", true}, // -1..1
		{"*a*a*a*a*a*a*a*a*b", strings.Repeat("a", 60), false},
		{strings.Repeat("*a", 2000), strings.Repeat("a", 2000), false}, // deeper than Redis allows
	}
	for _, tc := range tests {
		if got := globMatch(b(tc.pattern), b(tc.s)); got != tc.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

func TestKeyHashIsStable(t *testing.T) {
	// The hash orders the 'h' index on disk and the SCAN cursors clients
	// hold: it must never change.
	for key, want := range map[string]uint64{
		"":          0xefd01f60ba992926,
		"a":         0x82a2a958a9bece5b,
		"riot":      0x29216e566ab3d179,
		"user:1000": 0x71fc27d040be722c,
	} {
		if got := keyHash(b(key)); got != want {
			t.Errorf("keyHash(%q) = %#x, want %#x", key, got, want)
		}
	}
	if hk := hashKey(b("k")); hk[0] != nsHash || len(hk) != 10 || hk[9] != 'k' {
		t.Fatalf("hashKey layout: %x", hk)
	}
}
