package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/riot-kv/riot-redis/cluster"
	"github.com/riot-kv/riot-redis/fsm"
)

// Riot error codes, as the original Riot's HTTP interface sent them in the
// errCode field of an error reply.
const (
	CodeOperation  = 40001 // the operation failed (bad request, rejected command)
	CodeTimeout    = 40002 // the cluster did not answer in time (no leader, timeout)
	CodeInvalidKey = 40003 // the key is missing or empty
	CodeNotFound   = 40004 // the key (or node, or path) does not exist
	CodeServer     = 50000 // an internal server error
)

// ErrorBody is the JSON body of every error reply. ErrCode and Msg are the
// original Riot fields; Error is a stable machine-readable name of the error
// (for example "no_leader" or "unknown_outcome").
type ErrorBody struct {
	ErrCode int    `json:"errCode"`
	Msg     string `json:"msg"`
	Error   string `json:"error"`
}

// apiError is one row of the error table.
type apiError struct {
	err    error
	status int
	code   int
	name   string
	// msg replaces the error's own text when set.
	msg string
}

// errorTable translates errors into replies. The first row whose error
// matches (errors.Is) wins, so an unknown outcome is recognized even when it
// wraps something else.
var errorTable = []apiError{
	{ErrInvalidKey, http.StatusBadRequest, CodeInvalidKey, "invalid_key", "invalid key: the key is missing or empty"},
	{ErrNotFound, http.StatusNotFound, CodeNotFound, "not_found", ""},
	{ErrBadRequest, http.StatusBadRequest, CodeOperation, "bad_request", ""},
	{ErrMethodNotAllowed, http.StatusMethodNotAllowed, CodeOperation, "method_not_allowed", ""},
	{ErrBodyTooLarge, http.StatusRequestEntityTooLarge, CodeOperation, "body_too_large", ""},
	{ErrOperation, http.StatusBadRequest, CodeOperation, "operation_error", ""},
	{cluster.ErrUnknownOutcome, http.StatusGatewayTimeout, CodeTimeout, "unknown_outcome",
		"write outcome unknown: leadership changed after the write was proposed; it may or may not have been applied"},
	{cluster.ErrNoLeader, http.StatusServiceUnavailable, CodeTimeout, "no_leader", "the cluster has no leader; nothing was applied"},
	{cluster.ErrNotLeader, http.StatusServiceUnavailable, CodeTimeout, "no_leader", "the cluster has no leader; nothing was applied"},
	{cluster.ErrNotReady, http.StatusServiceUnavailable, CodeTimeout, "not_ready", "the leader is not ready to serve reads yet"},
	{cluster.ErrTimeout, http.StatusGatewayTimeout, CodeTimeout, "timeout", "the cluster did not answer in time; nothing was applied"},
	{cluster.ErrUnknownNode, http.StatusNotFound, CodeNotFound, "unknown_node", ""},
	{cluster.ErrClosed, http.StatusServiceUnavailable, CodeServer, "shutting_down", "the node is shutting down"},
	{cluster.ErrDiskFull, http.StatusInsufficientStorage, CodeServer, "disk_full",
		"disk almost full on a cluster node: writes that add data are refused until every node's data directory has --min-free-disk-mb free; nothing was applied"},
	{fsm.ErrWrongType, http.StatusBadRequest, CodeOperation, "wrong_type", fsm.ErrTextWrongType},
}

// internalError is the translation of an error no row matches.
var internalError = apiError{status: http.StatusInternalServerError, code: CodeServer, name: "internal"}

// translate returns the reply for err. write says whether err came from a
// proposal: a write cut short by its deadline or by shutdown, without a
// classification from the node, may already be in the log, so it is an
// unknown outcome; a read in the same situation is only a timeout.
func translate(err error, write bool) (apiError, string) {
	for _, e := range errorTable {
		if errors.Is(err, e.err) {
			if e.msg != "" {
				return e, e.msg
			}
			return e, err.Error()
		}
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		if write {
			return translate(cluster.ErrUnknownOutcome, true)
		}
		return translate(cluster.ErrTimeout, false)
	}
	return internalError, err.Error()
}

// writeError sends the error reply for err and returns whether err was an
// internal error (worth logging).
func writeError(w http.ResponseWriter, err error, write bool) bool {
	e, msg := translate(err, write)
	writeJSON(w, e.status, ErrorBody{ErrCode: e.code, Msg: msg, Error: e.name})
	return e.code == CodeServer && e.name == internalError.name
}

// writeJSON sends v as a JSON reply with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(ErrorBody{ErrCode: CodeServer, Msg: "encode reply: " + err.Error(), Error: internalError.name})
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
