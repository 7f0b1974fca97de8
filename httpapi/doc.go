// Package httpapi owns Riot's HTTP interface, served beside the RESP port: the
// original Riot endpoints (/riot for keys, /admin/* for the cluster), a REST
// API under /v1 (keys with a per-request read consistency, cluster status,
// membership and leadership transfer), Prometheus metrics on /metrics, the
// health probes /healthz and /readyz, and, when enabled, /debug/pprof.
//
// The package declares the small Node interface it calls; cluster.Node
// provides it. Every error is translated once, through one table, into an
// HTTP status and a JSON body carrying the original Riot errCode. Command
// semantics stay in fsm and cluster: this package only parses requests,
// calls the node and writes replies. See DESIGN.md.
package httpapi

import "errors"

// Errors returned by the package. Callers test them with errors.Is; the
// request errors are also what the error table translates into replies.
var (
	// ErrInvalidConfig is returned by New for a configuration it cannot use.
	ErrInvalidConfig = errors.New("httpapi: invalid config")
	// ErrStarted is returned by Start on a server that was already started.
	ErrStarted = errors.New("httpapi: server already started")
	// ErrClosed is returned by Start on a server that was closed.
	ErrClosed = errors.New("httpapi: server closed")
	// ErrInvalidKey is the error of a request whose key is missing or empty.
	ErrInvalidKey = errors.New("httpapi: invalid key")
	// ErrNotFound is the error of a read of a key that does not exist, and of a
	// request for a path that does not exist.
	ErrNotFound = errors.New("httpapi: not found")
	// ErrBadRequest is the error of a request with a malformed parameter or body.
	ErrBadRequest = errors.New("httpapi: bad request")
	// ErrMethodNotAllowed is the error of a request with a method the path
	// does not serve.
	ErrMethodNotAllowed = errors.New("httpapi: method not allowed")
	// ErrBodyTooLarge is the error of a request whose body exceeds the limit
	// (Config.MaxBodyBytes).
	ErrBodyTooLarge = errors.New("httpapi: request body too large")
	// ErrOperation is the error of a command the state machine rejected (its
	// Redis error text follows).
	ErrOperation = errors.New("httpapi: operation error")
)
