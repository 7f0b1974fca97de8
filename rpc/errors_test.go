package rpc

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/riot-kv/riot-redis/cluster"
)

func TestToStatus(t *testing.T) {
	tests := []struct {
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
		{fmt.Errorf("apply: %w", cluster.ErrNotLeader), codes.FailedPrecondition},
		{context.DeadlineExceeded, codes.DeadlineExceeded},
		{context.Canceled, codes.Canceled},
		{status.Error(codes.PermissionDenied, "boom"), codes.PermissionDenied},
		{errors.New("boom"), codes.Unknown},
	}
	for _, tt := range tests {
		t.Run(tt.err.Error(), func(t *testing.T) {
			want := tt.err.Error()
			if st, ok := status.FromError(tt.err); ok {
				want = st.Message() // a status passes through as it is
			}
			st := status.Convert(toStatus(tt.err))
			if st.Code() != tt.code || st.Message() != want {
				t.Fatalf("got %v %q, want %v %q", st.Code(), st.Message(), tt.code, want)
			}
		})
	}
	if toStatus(nil) != nil {
		t.Fatal("toStatus(nil) is not nil")
	}
}

func TestEverySentinelHasARow(t *testing.T) {
	for _, s := range sentinels {
		st := status.Convert(toStatus(s))
		if st.Code() == codes.Unknown && s != cluster.ErrUnknownOutcome {
			t.Errorf("%v has no row in errorTable", s)
		}
		if got := sentinelFromStatus(st); got != s {
			t.Errorf("%v comes back as %v", s, got)
		}
	}
}

func TestSentinelFromStatusNeedsCodeAndText(t *testing.T) {
	tests := []struct {
		name string
		st   *status.Status
	}{
		{"TransportUnavailable", status.New(codes.Unavailable, "connection error: desc = \"transport: Error while dialing\"")},
		{"TransportDeadline", status.New(codes.DeadlineExceeded, "context deadline exceeded")},
		{"TextWithWrongCode", status.New(codes.Internal, cluster.ErrNotLeader.Error())},
		{"OK", status.New(codes.OK, "")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sentinelFromStatus(tt.st); got != nil {
				t.Fatalf("got %v, want no sentinel", got)
			}
		})
	}
}

func TestFromCallError(t *testing.T) {
	expired, cancel := context.WithDeadline(context.Background(), time.Unix(1, 0))
	defer cancel()
	canceled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	live := context.Background()
	unavailable := status.Error(codes.Unavailable, "connection reset")
	deadline := status.Error(codes.DeadlineExceeded, "context deadline exceeded")
	internal := status.Error(codes.Internal, "stream terminated")
	tests := []struct {
		name   string
		ctx    context.Context
		err    error
		sent   bool
		kind   callKind
		want   []error
		unwant []error
	}{
		{"NotSentRefused/write", live, unavailable, false, writeCall, []error{cluster.ErrNoLeader}, []error{cluster.ErrUnknownOutcome}},
		{"NotSentRefused/read", live, unavailable, false, readCall, []error{cluster.ErrNoLeader}, nil},
		{"NotSentDeadline", expired, deadline, false, writeCall, []error{cluster.ErrTimeout, context.DeadlineExceeded}, []error{cluster.ErrUnknownOutcome}},
		{"NotSentCanceled", canceled, status.Error(codes.Canceled, "context canceled"), false, writeCall, []error{context.Canceled}, []error{cluster.ErrUnknownOutcome, cluster.ErrNoLeader}},
		{"SentLost/write", live, unavailable, true, writeCall, []error{cluster.ErrUnknownOutcome}, []error{cluster.ErrNoLeader}},
		{"SentDeadline/write", expired, deadline, true, writeCall, []error{cluster.ErrUnknownOutcome, context.DeadlineExceeded}, nil},
		{"SentServerDeadline/write", live, deadline, true, writeCall, []error{cluster.ErrUnknownOutcome, context.DeadlineExceeded}, nil},
		{"SentInternal/write", live, internal, true, writeCall, []error{cluster.ErrUnknownOutcome}, nil},
		{"SentLost/read", live, unavailable, true, readCall, []error{cluster.ErrNoLeader}, nil},
		{"SentDeadline/read", expired, deadline, true, readCall, []error{cluster.ErrTimeout, context.DeadlineExceeded}, nil},
		{"SentInternal/read", live, internal, true, readCall, nil, []error{cluster.ErrNoLeader, cluster.ErrTimeout, cluster.ErrUnknownOutcome}},
		{"Rejected/write", live, status.Error(codes.Unimplemented, "unknown method"), true, writeCall, nil, []error{cluster.ErrUnknownOutcome}},
		{"Sentinel/write", live, status.Error(codes.FailedPrecondition, cluster.ErrNotLeader.Error()), true, writeCall, []error{cluster.ErrNotLeader}, []error{cluster.ErrUnknownOutcome}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := fromCallError(tt.ctx, tt.err, tt.sent, tt.kind, "OpRPC", "127.0.0.1:1")
			if err == nil {
				t.Fatal("got nil")
			}
			for _, w := range tt.want {
				if !errors.Is(err, w) {
					t.Errorf("%v: want errors.Is %v", err, w)
				}
			}
			for _, u := range tt.unwant {
				if errors.Is(err, u) {
					t.Errorf("%v: must not match %v", err, u)
				}
			}
			if tt.want == nil && status.Code(err) != status.Code(tt.err) {
				t.Errorf("%v: want the status (%v) kept", err, status.Code(tt.err))
			}
		})
	}
}
