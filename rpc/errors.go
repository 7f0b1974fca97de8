package rpc

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/riot-kv/riot-redis/cluster"
)

// errorTable is the one place where cluster sentinel errors meet gRPC status codes.
// The server turns an error that matches a row (errors.Is) into a status with the
// row's code and the error's text as message; the client turns a status back into
// the row's sentinel when both the code matches and the message contains the
// sentinel's text. Several sentinels may share a code: the text tells them apart.
// Rows are tried in order on both sides.
//
//	cluster.ErrNotLeader      FailedPrecondition  the node is not the leader; find the leader, retry
//	cluster.ErrNoLeader       Unavailable         no known leader; retry later
//	cluster.ErrNotReady       Unavailable         new leader has not applied its own term yet
//	cluster.ErrClosed         Unavailable         the node is shutting down
//	cluster.ErrUnknownOutcome Unknown             proposed, outcome unknown: may have been applied
//	cluster.ErrTimeout        DeadlineExceeded    timed out before anything was proposed
//	cluster.ErrUnknownNode    NotFound            no member with that ID
//	cluster.ErrDiskFull       ResourceExhausted   the leader's disk is below its floor; nothing proposed
var errorTable = []struct {
	err  error
	code codes.Code
}{
	{cluster.ErrNotLeader, codes.FailedPrecondition},
	{cluster.ErrNoLeader, codes.Unavailable},
	{cluster.ErrNotReady, codes.Unavailable},
	{cluster.ErrClosed, codes.Unavailable},
	{cluster.ErrUnknownOutcome, codes.Unknown},
	{cluster.ErrTimeout, codes.DeadlineExceeded},
	{cluster.ErrUnknownNode, codes.NotFound},
	{cluster.ErrDiskFull, codes.ResourceExhausted},
}

// toStatus translates an error returned by the local node into the error a gRPC
// handler returns. Sentinels go through errorTable; context errors become
// Canceled or DeadlineExceeded; anything else becomes Unknown with its text.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	for _, row := range errorTable {
		if errors.Is(err, row.err) {
			return status.Error(row.code, err.Error())
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err).Err()
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Error(codes.Unknown, err.Error())
}

// remoteError is a sentinel answered by the remote node with more text than the
// sentinel itself (the node wrapped it). It reads as the remote text and matches
// the sentinel with errors.Is.
type remoteError struct {
	msg      string
	sentinel error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.sentinel }

// sentinelFromStatus returns the cluster sentinel a status stands for, or nil when
// the status matches no row of errorTable.
func sentinelFromStatus(st *status.Status) error {
	msg := st.Message()
	for _, row := range errorTable {
		if st.Code() != row.code || !strings.Contains(msg, row.err.Error()) {
			continue
		}
		if msg == row.err.Error() {
			return row.err
		}
		return &remoteError{msg: msg, sentinel: row.err}
	}
	return nil
}

// callKind says whether a failed call may have changed the cluster's state.
type callKind int

const (
	// readCall has no effect on the cluster (ReadIndex).
	readCall callKind = iota
	// writeCall may change the cluster's state once received (Propose, Join,
	// Remove, Transfer): a transport failure after sending is an unknown outcome.
	writeCall
)

// rejected lists the codes that mean the request was refused before anything acted
// on it; gRPC does not report a lost connection or a timeout with them.
var rejected = map[codes.Code]bool{
	codes.InvalidArgument:  true,
	codes.Unimplemented:    true,
	codes.PermissionDenied: true,
	codes.Unauthenticated:  true,
}

// fromCallError translates the error of a failed call back into a cluster error.
//
// A status that matches errorTable becomes its sentinel: the remote node answered.
// Any other failure is judged by whether the request may have reached the server
// (sent: a transport stream was opened for it) and by the call's kind:
//
//	not sent, deadline reached          cluster.ErrTimeout (and context.DeadlineExceeded)
//	not sent, cancelled                 context.Canceled
//	not sent, otherwise                 cluster.ErrNoLeader: could not reach the node
//	sent, write call                    cluster.ErrUnknownOutcome: it may have been applied
//	sent, read call, deadline reached   cluster.ErrTimeout
//	sent, read call, Unavailable        cluster.ErrNoLeader
//	sent, read call, otherwise          the status error, unmapped
//
// A status whose code says the server turned the request down without acting on it
// (InvalidArgument, Unimplemented, PermissionDenied, Unauthenticated) is returned
// unmapped, wrapped, whatever the call's kind.
//
// A context error of the call (deadline or cancellation) stays reachable with
// errors.Is as well.
func fromCallError(ctx context.Context, err error, sent bool, kind callKind, method, addr string) error {
	st, _ := status.FromError(err)
	if s := sentinelFromStatus(st); s != nil {
		return s
	}
	if rejected[st.Code()] {
		return fmt.Errorf("rpc %s to %s: %w", method, addr, err)
	}
	ctxErr := ctx.Err()
	if ctxErr == nil && st.Code() == codes.DeadlineExceeded {
		// The server's copy of the deadline can run out a moment before ours.
		ctxErr = context.DeadlineExceeded
	}
	where := fmt.Sprintf("rpc %s to %s", method, addr)
	var sentinel error
	switch {
	case !sent && errors.Is(ctxErr, context.DeadlineExceeded):
		sentinel = cluster.ErrTimeout
	case !sent && ctxErr != nil:
		return fmt.Errorf("%s: %w", where, ctxErr)
	case !sent:
		sentinel = cluster.ErrNoLeader
	case kind == writeCall:
		sentinel = cluster.ErrUnknownOutcome
	case errors.Is(ctxErr, context.DeadlineExceeded):
		sentinel = cluster.ErrTimeout
	case st.Code() == codes.Unavailable:
		sentinel = cluster.ErrNoLeader
	case ctxErr != nil:
		return fmt.Errorf("%s: %w", where, ctxErr)
	default:
		return fmt.Errorf("%s: %w", where, err)
	}
	if ctxErr != nil {
		return fmt.Errorf("%w: %s: %w", sentinel, where, ctxErr)
	}
	return fmt.Errorf("%w: %s: %s", sentinel, where, st.Message())
}
