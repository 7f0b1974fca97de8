package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/riot-kv/riot-redis/cluster"
	"github.com/riot-kv/riot-redis/fsm"
)

func TestTranslate(t *testing.T) {
	for _, tc := range []struct {
		err    error
		write  bool
		status int
		code   int
		name   string
	}{
		{ErrInvalidKey, false, http.StatusBadRequest, CodeInvalidKey, "invalid_key"},
		{fmt.Errorf("%w: key %q", ErrNotFound, "k"), false, http.StatusNotFound, CodeNotFound, "not_found"},
		{fmt.Errorf("%w: x", ErrBadRequest), false, http.StatusBadRequest, CodeOperation, "bad_request"},
		{ErrBodyTooLarge, true, http.StatusRequestEntityTooLarge, CodeOperation, "body_too_large"},
		{fmt.Errorf("%w: %s", ErrOperation, fsm.ErrTextNotInteger), true, http.StatusBadRequest, CodeOperation, "operation_error"},
		{cluster.ErrNoLeader, true, http.StatusServiceUnavailable, CodeTimeout, "no_leader"},
		{cluster.ErrDiskFull, true, http.StatusInsufficientStorage, CodeServer, "disk_full"},
		{cluster.ErrNotLeader, false, http.StatusServiceUnavailable, CodeTimeout, "no_leader"},
		{cluster.ErrNotReady, false, http.StatusServiceUnavailable, CodeTimeout, "not_ready"},
		{cluster.ErrTimeout, false, http.StatusGatewayTimeout, CodeTimeout, "timeout"},
		{fmt.Errorf("%w: leadership lost", cluster.ErrUnknownOutcome), true, http.StatusGatewayTimeout, CodeTimeout, "unknown_outcome"},
		{fmt.Errorf("%w: %q", cluster.ErrUnknownNode, "n9"), true, http.StatusNotFound, CodeNotFound, "unknown_node"},
		{cluster.ErrClosed, false, http.StatusServiceUnavailable, CodeServer, "shutting_down"},
		{fsm.ErrWrongType, false, http.StatusBadRequest, CodeOperation, "wrong_type"},
		// A deadline without a classification: unknown outcome for a write,
		// a timeout for a read.
		{context.DeadlineExceeded, true, http.StatusGatewayTimeout, CodeTimeout, "unknown_outcome"},
		{context.DeadlineExceeded, false, http.StatusGatewayTimeout, CodeTimeout, "timeout"},
		{errors.New("disk on fire"), false, http.StatusInternalServerError, CodeServer, "internal"},
	} {
		t.Run(fmt.Sprintf("%v/write=%v", tc.err, tc.write), func(t *testing.T) {
			e, msg := translate(tc.err, tc.write)
			if e.status != tc.status || e.code != tc.code || e.name != tc.name || msg == "" {
				t.Fatalf("translate = %d %d %s %q, want %d %d %s and a message", e.status, e.code, e.name, msg, tc.status, tc.code, tc.name)
			}
		})
	}
	// The state machine's Redis text reaches the client.
	if _, msg := translate(fmt.Errorf("%w: %s", ErrOperation, fsm.ErrTextNotInteger), true); !strings.Contains(msg, fsm.ErrTextNotInteger) {
		t.Fatalf("operation error message %q lacks the Redis text", msg)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, cfg := range []Config{
		{Addr: "no-port"},
		{MaxBodyBytes: -1},
		{RequestTimeout: -time.Second},
		{PeerTimeout: -time.Second},
		{KeyCountInterval: -time.Second},
	} {
		if err := cfg.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("Validate(%+v) = %v, want ErrInvalidConfig", cfg, err)
		}
	}
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("zero Config: %v", err)
	}
	d := Config{}.withDefaults()
	if d.Addr != DefaultAddr || d.MaxBodyBytes != DefaultMaxBodyBytes || d.Metrics == nil || d.Logger == nil {
		t.Errorf("defaults not applied: %+v", d)
	}
	if _, err := New(Config{}, nil); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("New with a nil node = %v, want ErrInvalidConfig", err)
	}
}

func TestMetricsObserve(t *testing.T) {
	var nilMetrics *Metrics
	nilMetrics.Observe("get", time.Millisecond, false) // must not panic
	nilMetrics.SetConnectedClients(3)
	nilMetrics.AddConnectedClients(1)

	m := NewMetrics()
	m.Observe("GET", time.Millisecond, false)
	m.Observe("get", 2*time.Millisecond, true)
	if got := value(t, m.calls.WithLabelValues("get")); got != 2 {
		t.Errorf("calls{get} = %v, want 2 (names fold case)", got)
	}
	if got := value(t, m.failures.WithLabelValues("get")); got != 1 {
		t.Errorf("failures{get} = %v, want 1", got)
	}
	if got := series(m.duration); got != 1 {
		t.Errorf("duration series = %d, want 1", got)
	}
	m.SetConnectedClients(5)
	m.AddConnectedClients(-2)
	if got := value(t, m.clients); got != 3 {
		t.Errorf("connected clients = %v, want 3", got)
	}

	// Past maxCommandNames distinct names, commands count as "other".
	for i := range maxCommandNames + 10 {
		m.Observe(fmt.Sprintf("cmd%d", i), time.Microsecond, false)
	}
	if got := value(t, m.calls.WithLabelValues(otherCommand)); got < 10 {
		t.Errorf("calls{other} = %v, want >= 10", got)
	}
	if got := series(m.calls); got > maxCommandNames+1 {
		t.Errorf("%d command series, want at most %d", got, maxCommandNames+1)
	}
}

func TestParseLastContact(t *testing.T) {
	for in, want := range map[string]time.Duration{"0": 0, "12.5ms": 12500 * time.Microsecond, "2s": 2 * time.Second} {
		if d, ok := parseLastContact(in); !ok || d != want {
			t.Errorf("parseLastContact(%q) = %v, %v; want %v", in, d, ok, want)
		}
	}
	for _, in := range []string{"never", "", "soon"} {
		if _, ok := parseLastContact(in); ok {
			t.Errorf("parseLastContact(%q) ok, want not", in)
		}
	}
}

func TestKeyCounterCaches(t *testing.T) {
	calls := 0
	k := &keyCounter{every: time.Hour, count: func() (uint64, error) {
		calls++
		if calls == 1 {
			return 0, errors.New("busy")
		}
		return 7, nil
	}}
	if _, ok := k.get(); ok {
		t.Fatal("a failed first count reported a value")
	}
	if _, ok := k.get(); ok || calls != 1 {
		t.Fatalf("recounted within the interval (calls %d)", calls)
	}
	k.at = time.Now().Add(-2 * time.Hour)
	if n, ok := k.get(); !ok || n != 7 || calls != 2 {
		t.Fatalf("after the interval: %d, %v (calls %d); want 7 from a second count", n, ok, calls)
	}
}

// value reads a counter's or gauge's current value.
func value(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		t.Fatalf("read metric: %v", err)
	}
	switch {
	case d.Counter != nil:
		return d.Counter.GetValue()
	case d.Gauge != nil:
		return d.Gauge.GetValue()
	}
	t.Fatalf("metric %v is neither a counter nor a gauge", m.Desc())
	return 0
}

// series counts the series a collector exports.
func series(c prometheus.Collector) int {
	ch := make(chan prometheus.Metric)
	go func() {
		c.Collect(ch)
		close(ch)
	}()
	n := 0
	for range ch {
		n++
	}
	return n
}
