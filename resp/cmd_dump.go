package resp

import (
	"errors"
	"math"

	"github.com/riot-kv/riot-redis/fsm"
	"github.com/riot-kv/riot-redis/internal/rdb"
)

// DUMP and RESTORE carry string values in Redis's serialization format
// (internal/rdb), so values move between Riot and Redis with the usual tools.

const (
	errTextDumpPayload = "ERR DUMP payload version or checksum are wrong"
	errTextBadFormat   = "ERR Bad data format"
	errTextRestoreTTL  = "ERR Invalid TTL value, must be >= 0"
	errTextIdleTime    = "ERR Invalid IDLETIME value, must be >= 0"
	errTextFreq        = "ERR Invalid FREQ value, must be >= 0 and <= 255"
	errTextRestoreType = "ERR DUMP payload holds a value of another type than string, which this server cannot store"
)

func registerDumpCommands(t *table) {
	key1 := func(c *command) *command { c.firstKey, c.lastKey, c.keyStep = 1, 1, 1; return c }
	t.register(key1(&command{name: "dump", arity: 2, flags: flagRead, handler: cmdDump}))
	t.register(key1(&command{name: "restore", arity: -4, flags: flagWrite, handler: cmdRestore}))
}

// DUMP key
func cmdDump(c *client, args [][]byte) { answerDump(c, args, c.stringReader(args[1])) }

func answerDump(c *client, _ [][]byte, read stringRead) {
	switch val, found, ok := read(); {
	case !ok:
	case !found:
		c.conn.WriteNull()
	default:
		c.conn.WriteBulk(rdb.Encode(val))
	}
}

// restoreHint checks a RESTORE IDLETIME or FREQ value: an integer from 0 to
// most, else it answers errText (or Redis's not-an-integer error).
func (c *client) restoreHint(b []byte, most int64, errText string) bool {
	n, ok := parseInt(b)
	switch {
	case !ok:
		c.conn.WriteError(errTextNotInteger)
	case n < 0 || n > most:
		c.conn.WriteError(errText)
	default:
		return true
	}
	return false
}

// RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds]
// [FREQ frequency]. IDLETIME and FREQ are checked and ignored: Riot keeps
// no access times or frequencies.
func cmdRestore(c *client, args [][]byte) {
	var flags byte
	idle, freq := false, false
	for j := 4; j < len(args); j++ {
		more := len(args) - j - 1
		switch opt := args[j]; {
		case equalFold(opt, "replace"):
			flags |= fsm.RestoreReplace
		case equalFold(opt, "absttl"):
			flags |= fsm.RestoreAbsTTL
		case equalFold(opt, "idletime") && more >= 1 && !freq:
			if !c.restoreHint(args[j+1], math.MaxInt64, errTextIdleTime) {
				return
			}
			idle = true
			j++
		case equalFold(opt, "freq") && more >= 1 && !idle:
			if !c.restoreHint(args[j+1], 255, errTextFreq) {
				return
			}
			freq = true
			j++
		default:
			c.conn.WriteError(errTextSyntax)
			return
		}
	}
	// The TTL and the payload are checked here, but Redis reports their
	// errors only once the key is known to be free: the state machine
	// answers them after its BUSYKEY check.
	var errText string
	var val []byte
	ttl, ok := parseInt(args[2])
	switch {
	case !ok:
		errText = errTextNotInteger
	case ttl < 0:
		errText = errTextRestoreTTL
	default:
		var err error
		val, err = rdb.Decode(args[3], int(min(c.srv.cfg.MaxValueSize, fsm.MaxStringLen)))
		var te rdb.TypeError
		switch {
		case errors.Is(err, rdb.ErrChecksum):
			errText = errTextDumpPayload
		case errors.As(err, &te):
			errText = errTextRestoreType
		case err != nil:
			errText = errTextBadFormat
		}
	}
	if errText != "" {
		ttl, val = 0, nil
	}
	c.propose(fsm.NewRestore(args[1], val, flags, ttl, errText))
}
