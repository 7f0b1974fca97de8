package fsm

import (
	"math"
	"testing"
)

func TestRestore(t *testing.T) {
	f := mustMemFSM(t)
	restore := func(k, v string, flags byte, ttl int64, errText string) *Command {
		return NewRestore(b(k), b(v), flags, ttl, errText)
	}
	busy := "(error) " + ErrTextBusyKey
	apply(t, f, []step{
		{1, set("k", "old", SetOptions{TTL: 50}), "OK"},
		{2, restore("k", "new", 0, 0, ""), busy},
		{2, restore("k", "new", 0, 0, "ERR Bad data format"), busy}, // the key is checked first
		{2, restore("free", "new", 0, 0, "ERR Bad data format"), "(error) ERR Bad data format"},
		{2, restore("k", "new", RestoreReplace, 100, ""), "OK"},
		{2, restore("abs", "v", RestoreAbsTTL, 500, ""), "OK"},
		{2, restore("past", "v", RestoreAbsTTL, 2, ""), "OK"},               // expired at once: not created
		{2, restore("abs", "v", RestoreAbsTTL|RestoreReplace, 1, ""), "OK"}, // and the old one deleted
		{2, restore("far", "v", 0, math.MaxInt64, ""), "OK"},                // past every clock, as in Redis
		{1, set("gone", "x", SetOptions{TTL: 1}), "OK"},
		{3, restore("gone", "back", 0, 0, ""), "OK"}, // an expired key is free
	})
	checkProbes(t, f, []probe{
		{key: "k", now: 3, val: "new", expireAt: 102},
		{key: "free", now: 3, absent: true},
		{key: "abs", now: 3, absent: true},
		{key: "past", now: 3, absent: true},
		{key: "far", now: 3, absent: true},
		{key: "gone", now: 3, val: "back"},
	})
	corrupt := "(error) " + ErrTextCorruptCommand
	apply(t, f, []step{
		{3, &Command{Op: OpRestore, Args: [][]byte{b("x"), b("v"), {4}, {0}, nil}}, corrupt},
		{3, &Command{Op: OpRestore, Args: [][]byte{b("x"), b("v"), nil, {0}, nil}}, corrupt},
		{3, &Command{Op: OpRestore, Args: [][]byte{b("x"), b("v"), {0}, {1}, nil}}, corrupt}, // TTL -1
		{3, &Command{Op: OpRestore, Args: [][]byte{b("x"), b("v"), {0}, {0x80}, nil}}, corrupt},
		{3, &Command{Op: OpRestore, Args: [][]byte{b("x"), b("v"), {0}, {0}}}, corrupt},
	})
}
