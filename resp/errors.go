package resp

import (
	"context"
	"errors"

	"github.com/riot-kv/riot-redis/cluster"
	"github.com/riot-kv/riot-redis/fsm"
)

// Error replies that are not Redis's own. Each starts with an error code that
// clients can test. The codes for "not applied, retry" (CLUSTERDOWN,
// TRYAGAIN) differ from the code for a write whose outcome is unknown
// (UNKNOWN), which a client must not retry blindly.
const (
	ErrTextClusterDown    = "CLUSTERDOWN The cluster is down: no leader elected"
	ErrTextUnknownOutcome = "UNKNOWN write outcome unknown: leadership changed after the write was proposed; it may or may not have been applied"
	ErrTextTimeout        = "TRYAGAIN the cluster did not answer in time; nothing was applied"
	ErrTextNotReady       = "TRYAGAIN the leader is not ready to serve reads yet"
	ErrTextShuttingDown   = "ERR the node is shutting down"
	ErrTextUnknownNode    = "ERR unknown node"
	ErrTextDiskFull       = "MISCONF Disk almost full on a cluster node: writes that add data are refused until every node's data directory has --min-free-disk-mb free; reads and deletes still work"
	ErrTextInternal       = "ERR internal error"
)

// Redis's own error texts used by this package (the fsm defines the ones its
// results carry).
const (
	errTextNotInteger    = fsm.ErrTextNotInteger
	errTextSyntax        = fsm.ErrTextSyntax
	errTextInvalidExpire = "ERR invalid expire time in 'set' command"
	errTextDecrOverflow  = "ERR decrement would overflow"
	errTextValueTooBig   = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
	errTextDBIndex       = "ERR DB index is out of range"
	errTextNoProto       = "NOPROTO unsupported protocol version"
	errTextProtoNotInt   = "ERR Protocol version is not an integer or out of range"
	errTextWrongPass     = "WRONGPASS invalid username-password pair or user is disabled."
	errTextBadClientName = "ERR Client names cannot contain spaces, newlines or special characters."
)

// errorTable translates errors from the node (and from the state machine's
// reads) into RESP error replies. The first entry the error matches with
// errors.Is wins, so an unknown outcome is recognized even when it wraps
// something else.
var errorTable = []struct {
	err  error
	text string
}{
	{cluster.ErrUnknownOutcome, ErrTextUnknownOutcome},
	{cluster.ErrNoLeader, ErrTextClusterDown},
	{cluster.ErrNotLeader, ErrTextClusterDown},
	{cluster.ErrTimeout, ErrTextTimeout},
	{cluster.ErrNotReady, ErrTextNotReady},
	{cluster.ErrClosed, ErrTextShuttingDown},
	{cluster.ErrUnknownNode, ErrTextUnknownNode},
	{cluster.ErrDiskFull, ErrTextDiskFull},
	{fsm.ErrWrongType, fsm.ErrTextWrongType},
	{fsm.ErrCorruptValue, fsm.ErrTextCorruptValue},
	// A proposal recorded for a transaction; its reply is discarded.
	{errTxPlanned, ErrTextInternal},
}

// errorText returns the RESP error reply for err. write says whether err came
// from a proposal: a write cut short by its deadline or by shutdown without a
// classification from the node may already be in the log, so it is reported as
// an unknown outcome; a read in the same situation is simply retryable.
func errorText(err error, write bool) string {
	for _, e := range errorTable {
		if errors.Is(err, e.err) {
			return e.text
		}
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		if write {
			return ErrTextUnknownOutcome
		}
		return ErrTextTimeout
	}
	return "ERR " + err.Error()
}

// knownError reports whether err is one the table (or the context rule)
// translates; other errors are unexpected and worth logging.
func knownError(err error) bool {
	for _, e := range errorTable {
		if errors.Is(err, e.err) {
			return true
		}
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}
