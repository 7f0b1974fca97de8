package resp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/riot-kv/riot-redis/cluster"
	"github.com/riot-kv/riot-redis/fsm"
)

func TestErrorText(t *testing.T) {
	tests := []struct {
		name  string
		err   error
		write bool
		want  string
	}{
		{"no leader", cluster.ErrNoLeader, true, ErrTextClusterDown},
		{"not leader", cluster.ErrNotLeader, false, ErrTextClusterDown},
		{"unknown outcome", cluster.ErrUnknownOutcome, true, ErrTextUnknownOutcome},
		{"wrapped unknown outcome", fmt.Errorf("relay: %w", cluster.ErrUnknownOutcome), true, ErrTextUnknownOutcome},
		{"unknown outcome wrapping not leader", fmt.Errorf("%w: %w", cluster.ErrUnknownOutcome, cluster.ErrNotLeader), true, ErrTextUnknownOutcome},
		{"timeout", cluster.ErrTimeout, true, ErrTextTimeout},
		{"not ready", cluster.ErrNotReady, false, ErrTextNotReady},
		{"closed", cluster.ErrClosed, false, ErrTextShuttingDown},
		{"unknown node", fmt.Errorf("%w: n9", cluster.ErrUnknownNode), false, ErrTextUnknownNode},
		{"disk full", cluster.ErrDiskFull, true, ErrTextDiskFull},
		{"wrong type", fsm.ErrWrongType, false, fsm.ErrTextWrongType},
		{"corrupt value", fsm.ErrCorruptValue, false, fsm.ErrTextCorruptValue},
		{"write deadline", context.DeadlineExceeded, true, ErrTextUnknownOutcome},
		{"write cancelled", fmt.Errorf("rpc: %w", context.Canceled), true, ErrTextUnknownOutcome},
		{"read deadline", context.DeadlineExceeded, false, ErrTextTimeout},
		{"other", errors.New("boom"), true, "ERR boom"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := errorText(tc.err, tc.write); got != tc.want {
				t.Fatalf("errorText = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestUnknownOutcomePrefix checks that the unknown-outcome reply cannot be
// mistaken for any reply that means "not applied".
func TestUnknownOutcomePrefix(t *testing.T) {
	code := func(s string) string { return strings.Fields(s)[0] }
	unknown := code(ErrTextUnknownOutcome)
	others := []string{ErrTextClusterDown, ErrTextTimeout, ErrTextNotReady, ErrTextShuttingDown,
		ErrTextUnknownNode, ErrTextInternal, errTextSyntax, errTextNotInteger, fsm.ErrTextWrongType}
	for _, e := range errorTable {
		if e.text != ErrTextUnknownOutcome {
			others = append(others, e.text)
		}
	}
	for _, o := range others {
		if code(o) == unknown {
			t.Errorf("%q shares the code %s with the unknown-outcome reply", o, unknown)
		}
	}
}
