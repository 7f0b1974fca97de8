// Package fsm owns Riot's replicated state machine: the binary encoding of the
// commands proposed through Raft, the data model built on a storage.Engine
// (strings with expiry today; hashes, lists, sets and sorted sets later), the
// deterministic application of committed log entries (Apply and ApplyBatch), and
// the streaming of the whole engine content into and out of Raft snapshots.
//
// The state machine never reads the wall clock, touches the network or logs:
// every input that must be identical on all replicas, including the time used
// for expiry, travels inside the command. See DESIGN.md for the key layout and
// the snapshot format.
package fsm

import "errors"

// Errors returned by the package. Callers test them with errors.Is.
var (
	// ErrBadCommand is returned by DecodeCommand for bytes that are not a
	// well-formed command (truncated, trailing bytes, impossible lengths).
	ErrBadCommand = errors.New("fsm: bad command")
	// ErrUnknownVersion is returned by DecodeCommand and DecodeResult when the
	// encoding version byte is not one this build understands.
	ErrUnknownVersion = errors.New("fsm: unknown encoding version")
	// ErrBadResult is returned by DecodeResult for bytes that are not a
	// well-formed result.
	ErrBadResult = errors.New("fsm: bad result")
	// ErrBadSnapshot is returned by Restore for a snapshot stream that is
	// truncated, has a corrupt header or body, a wrong entry count, or a checksum
	// mismatch. The state machine keeps its previous content.
	ErrBadSnapshot = errors.New("fsm: bad snapshot")
	// ErrSnapshotVersion is returned by Restore for a snapshot written in a
	// format version this build does not understand.
	ErrSnapshotVersion = errors.New("fsm: unknown snapshot format version")
	// ErrWrongType is returned by reads of a key that holds a value of another
	// type than the one asked for.
	ErrWrongType = errors.New("fsm: wrong type")
	// ErrCorruptValue is returned by reads when a stored record cannot be decoded.
	ErrCorruptValue = errors.New("fsm: corrupt stored value")
)

// Redis error texts carried by ResultError results. They are exactly Redis's,
// so the RESP layer can send them to clients unchanged.
const (
	ErrTextNotInteger    = "ERR value is not an integer or out of range"
	ErrTextOverflow      = "ERR increment or decrement would overflow"
	ErrTextWrongType     = "WRONGTYPE Operation against a key holding the wrong kind of value"
	ErrTextSyntax        = "ERR syntax error"
	ErrTextInvalidExpire = "ERR invalid expire time in 'set' command"
)

// Error texts of the state machine itself.
const (
	// ErrTextAlreadyApplied is the result of a log entry at or below the applied
	// index: it was applied before (for example before a restart) and is skipped.
	ErrTextAlreadyApplied = "ERR entry already applied"
	// ErrTextCorruptCommand is the result of a log entry that does not decode to
	// a known, well-formed command. Every replica produces it and nothing changes.
	ErrTextCorruptCommand = "ERR unknown or corrupt command"
	// ErrTextCorruptValue is the result of a command that met a stored record it
	// cannot decode. Nothing changes.
	ErrTextCorruptValue = "ERR corrupt value in storage"
	// ErrTextInvalidNode is the result of a node metadata command with an empty
	// node ID.
	ErrTextInvalidNode = "ERR invalid node id"
)
