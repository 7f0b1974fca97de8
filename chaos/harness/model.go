package harness

import (
	"fmt"
	"hash/fnv"
	"strconv"

	"github.com/anishathalye/porcupine"
)

// OpKind is the kind of a client operation.
type OpKind uint8

// Operation kinds.
const (
	OpGet  OpKind = iota // GET key
	OpSet                // SET key value
	OpIncr               // INCR key
	OpCAS                // WATCH key, GET key, MULTI, SET key new, EXEC
)

func (k OpKind) String() string {
	switch k {
	case OpGet:
		return "get"
	case OpSet:
		return "set"
	case OpIncr:
		return "incr"
	case OpCAS:
		return "cas"
	}
	return "?"
}

// IsWrite reports whether the operation may change the key.
func (k OpKind) IsWrite() bool { return k != OpGet }

// OutKind is the kind of an operation's result.
type OutKind uint8

// Result kinds.
const (
	OutOK      OutKind = iota // SET: OK; CAS: EXEC applied the SET
	OutValue                  // GET: a value
	OutNil                    // GET: no such key
	OutInt                    // INCR: the new value
	OutNotInt                 // INCR: ERR value is not an integer or out of range
	OutAborted                // CAS: EXEC returned nil because the key changed after WATCH
	OutUnknown                // a write whose outcome is unknown: it may or may not have happened
)

func (k OutKind) String() string {
	return [...]string{"ok", "value", "nil", "int", "notint", "aborted", "unknown"}[k]
}

// Input is what a client asked.
type Input struct {
	Key  string
	Kind OpKind
	Arg  string // SET: the value; CAS: the new value
	// CAS: the value read after WATCH (Exp), and whether the key existed.
	Exp   string
	ExpOK bool
}

// Output is what the client got back.
type Output struct {
	Kind OutKind
	Val  string // OutValue
	Int  int64  // OutInt
}

// regState is the model's state of one key: absent, or a string value.
type regState struct {
	ok bool
	v  string
}

// asInt returns the state as an integer the way INCR sees it: an absent key
// is 0; a value that is not a canonical 64-bit integer is not an integer.
func (s regState) asInt() (int64, bool) {
	if !s.ok {
		return 0, true
	}
	n, err := strconv.ParseInt(s.v, 10, 64)
	if err != nil || strconv.FormatInt(n, 10) != s.v {
		return 0, false
	}
	return n, true
}

// step applies one operation to the state of its key and says whether the
// result is possible. An unknown outcome accepts the operation happening
// (the checker places the operation at the end of the history, where it is
// indistinguishable from not happening, when that fits better).
func step(s regState, in Input, out Output) (bool, regState) {
	unknown := out.Kind == OutUnknown
	switch in.Kind {
	case OpGet:
		switch out.Kind {
		case OutNil:
			return !s.ok, s
		case OutValue:
			return s.ok && s.v == out.Val, s
		}
		return false, s
	case OpSet:
		return unknown || out.Kind == OutOK, regState{ok: true, v: in.Arg}
	case OpIncr:
		n, isInt := s.asInt()
		if !isInt {
			return unknown || out.Kind == OutNotInt, s
		}
		next := regState{ok: true, v: strconv.FormatInt(n+1, 10)}
		if unknown {
			return true, next
		}
		return out.Kind == OutInt && out.Int == n+1, next
	case OpCAS:
		match := s.ok == in.ExpOK && (!s.ok || s.v == in.Exp)
		next := regState{ok: true, v: in.Arg}
		switch out.Kind {
		case OutOK:
			return match, next
		case OutAborted:
			// Nothing written; the GET after WATCH is a read of Exp.
			return match, s
		case OutUnknown:
			if match {
				return true, next
			}
			return true, s
		}
		return false, s
	}
	return false, s
}

// Model is the porcupine model of the key space: independent registers
// holding strings, with GET, SET, INCR and a WATCH/MULTI/EXEC compare-and-set.
// Histories are partitioned by key.
var Model = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Input.(Input).Key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return regState{} },
	Step: func(state, input, output any) (bool, any) {
		ok, next := step(state.(regState), input.(Input), output.(Output))
		return ok, next
	},
	Hash: func(state any) uint64 {
		s := state.(regState)
		h := fnv.New64a()
		if s.ok {
			h.Write([]byte{1})
			h.Write([]byte(s.v))
		}
		return h.Sum64()
	},
	DescribeOperation: func(input, output any) string {
		return describe(input.(Input), output.(Output))
	},
	DescribeState: func(state any) string {
		s := state.(regState)
		if !s.ok {
			return "(absent)"
		}
		return strconv.Quote(s.v)
	},
}

func describe(in Input, out Output) string {
	var res string
	switch out.Kind {
	case OutValue:
		res = strconv.Quote(out.Val)
	case OutInt:
		res = strconv.FormatInt(out.Int, 10)
	default:
		res = out.Kind.String()
	}
	switch in.Kind {
	case OpSet:
		return fmt.Sprintf("set(%s, %q) -> %s", in.Key, in.Arg, res)
	case OpCAS:
		exp := "(absent)"
		if in.ExpOK {
			exp = strconv.Quote(in.Exp)
		}
		return fmt.Sprintf("cas(%s, %s -> %q) -> %s", in.Key, exp, in.Arg, res)
	}
	return fmt.Sprintf("%s(%s) -> %s", in.Kind, in.Key, res)
}
