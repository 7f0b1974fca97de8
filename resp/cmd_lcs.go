package resp

import (
	"errors"
	"time"

	"github.com/riot-kv/riot-redis/fsm"
)

// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN], as in Redis
// 7.0: the keys are read first (a missing key is an empty string, another
// type an error), then the options are parsed.

const (
	errTextLCSType   = "ERR The specified keys must contain string values"
	errTextLCSLenIdx = "ERR If you want both the length and indexes, please just use IDX."
	errTextLCSMemory = "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"
)

// txLCS is LCS inside a transaction: both values read by one OpGetStrings.
var txLCS = txRead{
	build: func(a [][]byte) (*fsm.Command, string) { return fsm.NewGetStrings(a[1], a[2]), "" },
	reply: func(c *client, a [][]byte, r fsm.Result) {
		answerLCS(c, a, func() (x, y []byte, ok bool) {
			if r.Kind != fsm.ResultArray || len(r.Array) != 2 {
				writeResult(c.conn, r)
				return nil, nil, false
			}
			for _, e := range r.Array {
				if e.IsError() {
					if e.Err == fsm.ErrTextWrongType {
						e.Err = errTextLCSType
					}
					c.conn.WriteError(e.Err)
					return nil, nil, false
				}
			}
			return r.Array[0].Bulk, r.Array[1].Bulk, true
		})
	},
}

func cmdLCS(c *client, args [][]byte) {
	answerLCS(c, args, func() (x, y []byte, ok bool) {
		err := c.read(func(f *fsm.FSM) error {
			now := time.Now().UnixMilli()
			var err error
			if x, _, err = f.Get(args[1], now); err != nil {
				return err
			}
			y, _, err = f.Get(args[2], now)
			return err
		})
		switch {
		case errors.Is(err, fsm.ErrWrongType):
			c.conn.WriteError(errTextLCSType)
			return nil, nil, false
		case err != nil:
			c.writeError(err, false)
			return nil, nil, false
		}
		return x, y, true
	})
}

// answerLCS answers LCS with the two values read (read writes the reply
// and returns ok false when they cannot be).
func answerLCS(c *client, args [][]byte, read func() (x, y []byte, ok bool)) {
	a, b, ok := read()
	if !ok {
		return
	}
	var getLen, getIdx, withLen bool
	var minLen int64
	for j := 3; j < len(args); j++ {
		switch opt := args[j]; {
		case equalFold(opt, "idx"):
			getIdx = true
		case equalFold(opt, "len"):
			getLen = true
		case equalFold(opt, "withmatchlen"):
			withLen = true
		case equalFold(opt, "minmatchlen") && j+1 < len(args):
			n, ok := parseInt(args[j+1])
			if !ok {
				c.conn.WriteError(errTextNotInteger)
				return
			}
			minLen = max(n, 0)
			j++
		default:
			c.conn.WriteError(errTextSyntax)
			return
		}
	}
	if getIdx && getLen {
		c.conn.WriteError(errTextLCSLenIdx)
		return
	}
	cells := (uint64(len(a)) + 1) * (uint64(len(b)) + 1)
	if cells*4 > uint64(c.srv.cfg.MaxValueSize) {
		c.conn.WriteError(errTextLCSMemory)
		return
	}
	l := newLCS(a, b)
	switch {
	case getLen:
		c.conn.WriteInt64(int64(l.length()))
	case !getIdx:
		c.conn.WriteBulk(l.common())
	default:
		ranges := l.matches(uint32(min(minLen, 1<<32-1)))
		c.conn.WriteArray(4)
		c.conn.WriteBulkString("matches")
		c.conn.WriteArray(len(ranges))
		for _, r := range ranges {
			if withLen {
				c.conn.WriteArray(3)
			} else {
				c.conn.WriteArray(2)
			}
			c.conn.WriteArray(2)
			c.conn.WriteInt64(int64(r.a0))
			c.conn.WriteInt64(int64(r.a1))
			c.conn.WriteArray(2)
			c.conn.WriteInt64(int64(r.b0))
			c.conn.WriteInt64(int64(r.b1))
			if withLen {
				c.conn.WriteInt64(int64(r.a1 - r.a0 + 1))
			}
		}
		c.conn.WriteBulkString("len")
		c.conn.WriteInt64(int64(l.length()))
	}
}

// lcs is the dynamic-programming table of the longest common subsequence of
// a and b: at(i, j) is the LCS length of a[:i] and b[:j].
type lcs struct {
	a, b []byte
	dp   []uint32
}

func newLCS(a, b []byte) *lcs {
	l := &lcs{a: a, b: b, dp: make([]uint32, (len(a)+1)*(len(b)+1))}
	w := len(b) + 1
	for i := 1; i <= len(a); i++ {
		row, prev := l.dp[i*w:(i+1)*w], l.dp[(i-1)*w:i*w]
		for j := 1; j <= len(b); j++ {
			if a[i-1] == b[j-1] {
				row[j] = prev[j-1] + 1
			} else {
				row[j] = max(prev[j], row[j-1])
			}
		}
	}
	return l
}

func (l *lcs) at(i, j int) uint32 { return l.dp[i*(len(l.b)+1)+j] }

func (l *lcs) length() uint32 { return l.at(len(l.a), len(l.b)) }

// common returns one longest common subsequence: the one Redis returns,
// walking back from the ends and preferring to drop a byte of b on a tie.
func (l *lcs) common() []byte {
	out := make([]byte, l.length())
	n := len(out)
	for i, j := len(l.a), len(l.b); i > 0 && j > 0; {
		switch {
		case l.a[i-1] == l.b[j-1]:
			n--
			out[n] = l.a[i-1]
			i, j = i-1, j-1
		case l.at(i-1, j) > l.at(i, j-1):
			i--
		default:
			j--
		}
	}
	return out
}

// lcsRange is one run of consecutive matching bytes: a[a0..a1] equals
// b[b0..b1].
type lcsRange struct{ a0, a1, b0, b1 int }

// matches returns the runs of the common subsequence common walks, last
// first, each at least minLen bytes long.
func (l *lcs) matches(minLen uint32) []lcsRange {
	var out []lcsRange
	var cur lcsRange
	open := false
	emit := func() {
		if uint32(cur.a1-cur.a0+1) >= minLen {
			out = append(out, cur)
		}
		open = false
	}
	for i, j := len(l.a), len(l.b); i > 0 && j > 0; {
		if l.a[i-1] == l.b[j-1] {
			if open && cur.a0 == i && cur.b0 == j {
				cur.a0, cur.b0 = i-1, j-1 // the run goes on backwards
			} else {
				if open {
					emit()
				}
				cur, open = lcsRange{a0: i - 1, a1: i - 1, b0: j - 1, b1: j - 1}, true
			}
			i, j = i-1, j-1
			if cur.a0 == 0 || cur.b0 == 0 {
				emit()
			}
			continue
		}
		if l.at(i-1, j) > l.at(i, j-1) {
			i--
		} else {
			j--
		}
		if open {
			emit()
		}
	}
	return out
}
