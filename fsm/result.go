package fsm

import (
	"encoding/binary"
	"fmt"
	"strconv"
)

// ResultKind is the kind of a command's result. Values are part of the
// encoding relayed between nodes: never renumber or reuse one.
type ResultKind uint8

// Result kinds, mirroring RESP replies.
const (
	ResultNil   ResultKind = iota // a nil bulk string
	ResultOK                      // the status reply "OK"
	ResultInt                     // an integer, in Int
	ResultBulk                    // a bulk string, in Bulk
	ResultError                   // an error, full Redis text in Err
	ResultArray                   // an array, in Array
)

// Result is the outcome of applying one command. Apply and ApplyBatch return
// Result values (not pointers).
type Result struct {
	Kind  ResultKind
	Int   int64
	Bulk  []byte
	Err   string // the full Redis error text, e.g. ErrTextNotInteger
	Array []Result
}

// IsError reports whether r is an error result.
func (r Result) IsError() bool { return r.Kind == ResultError }

// String formats r for debugging and test failures.
func (r Result) String() string {
	switch r.Kind {
	case ResultNil:
		return "(nil)"
	case ResultOK:
		return "OK"
	case ResultInt:
		return "(integer) " + strconv.FormatInt(r.Int, 10)
	case ResultBulk:
		return strconv.Quote(string(r.Bulk))
	case ResultError:
		return "(error) " + r.Err
	case ResultArray:
		s := "["
		for i, e := range r.Array {
			if i > 0 {
				s += " "
			}
			s += e.String()
		}
		return s + "]"
	}
	return fmt.Sprintf("result(%d)", uint8(r.Kind))
}

const (
	resultVersion  byte = 1
	maxResultDepth      = 32
)

// MarshalBinary encodes r: a version byte, then the kind and its payload
// (varint for Int, uvarint length and bytes for Bulk and Err, uvarint count and
// elements for Array).
func (r Result) MarshalBinary() ([]byte, error) {
	if err := r.check(0); err != nil {
		return nil, err
	}
	return r.appendBinary([]byte{resultVersion}), nil
}

func (r Result) check(depth int) error {
	if depth >= maxResultDepth {
		return fmt.Errorf("%w: nested deeper than %d", ErrBadResult, maxResultDepth)
	}
	if r.Kind > ResultArray {
		return fmt.Errorf("%w: unknown kind %d", ErrBadResult, r.Kind)
	}
	for _, e := range r.Array {
		if err := e.check(depth + 1); err != nil {
			return err
		}
	}
	return nil
}

func (r Result) appendBinary(dst []byte) []byte {
	dst = append(dst, byte(r.Kind))
	switch r.Kind {
	case ResultInt:
		dst = binary.AppendVarint(dst, r.Int)
	case ResultBulk:
		dst = binary.AppendUvarint(dst, uint64(len(r.Bulk)))
		dst = append(dst, r.Bulk...)
	case ResultError:
		dst = binary.AppendUvarint(dst, uint64(len(r.Err)))
		dst = append(dst, r.Err...)
	case ResultArray:
		dst = binary.AppendUvarint(dst, uint64(len(r.Array)))
		for _, e := range r.Array {
			dst = e.appendBinary(dst)
		}
	}
	return dst
}

// DecodeResult decodes a result encoded by MarshalBinary. Bulk strings of the
// returned result alias b. It returns ErrUnknownVersion or ErrBadResult on
// malformed input and never panics.
func DecodeResult(b []byte) (Result, error) {
	if len(b) == 0 {
		return Result{}, ErrBadResult
	}
	if b[0] != resultVersion {
		return Result{}, ErrUnknownVersion
	}
	r, rest, err := decodeResult(b[1:], 0)
	if err != nil {
		return Result{}, err
	}
	if len(rest) != 0 {
		return Result{}, ErrBadResult
	}
	return r, nil
}

func decodeResult(b []byte, depth int) (Result, []byte, error) {
	if len(b) == 0 || depth >= maxResultDepth {
		return Result{}, nil, ErrBadResult
	}
	r := Result{Kind: ResultKind(b[0])}
	b = b[1:]
	switch r.Kind {
	case ResultNil, ResultOK:
	case ResultInt:
		v, n := binary.Varint(b)
		if n <= 0 {
			return Result{}, nil, ErrBadResult
		}
		r.Int, b = v, b[n:]
	case ResultBulk, ResultError:
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return Result{}, nil, ErrBadResult
		}
		b = b[n:]
		if r.Kind == ResultBulk {
			r.Bulk = b[:l:l]
		} else {
			r.Err = string(b[:l])
		}
		b = b[l:]
	case ResultArray:
		cnt, n := binary.Uvarint(b)
		// Every element takes at least one byte.
		if n <= 0 || cnt > uint64(len(b)-n) {
			return Result{}, nil, ErrBadResult
		}
		b = b[n:]
		r.Array = make([]Result, cnt)
		for i := range r.Array {
			var err error
			r.Array[i], b, err = decodeResult(b, depth+1)
			if err != nil {
				return Result{}, nil, err
			}
		}
	default:
		return Result{}, nil, ErrBadResult
	}
	return r, b, nil
}
