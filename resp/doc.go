// Package resp is Riot's Redis protocol front door: the redcon listener, the
// per-connection state, and the command table that parses a command's
// arguments, validates them completely, calls the node (a write is proposed, a
// read runs at the connection's consistency level) and writes a reply whose
// type and text match Redis's. It never opens storage: everything goes through
// the Node interface it declares. See DESIGN.md for the command table, the
// error table and the per-connection state.
package resp

import "errors"

// Errors returned by the server's lifecycle methods. Callers test them with
// errors.Is. Errors sent to clients are not Go errors: they are RESP error
// replies, produced by the table in errors.go.
var (
	// ErrInvalidConfig is returned by New for a configuration it rejects; the
	// wrapped message names the field.
	ErrInvalidConfig = errors.New("resp: invalid config")
	// ErrStarted is returned by Start on a server that was already started.
	ErrStarted = errors.New("resp: already started")
	// ErrClosed is returned by Start on a closed server.
	ErrClosed = errors.New("resp: server closed")
)
