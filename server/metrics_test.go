package server_test

import (
	"bufio"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/riot-kv/riot-redis/internal/testcluster"
)

// metricValue returns the value of the first sample whose line starts with series.
func metricValue(t *testing.T, body, series string) float64 {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				t.Fatalf("metric %s: %v", line, err)
			}
			return v
		}
	}
	t.Fatalf("metric %s not found", series)
	return 0
}

// Commands served over RESP show up in the node's /metrics: counts, errors,
// latency histograms and connected clients.
func TestRESPCommandsInMetrics(t *testing.T) {
	c := testcluster.New(t, 1, testcluster.Options{})
	nd := c.WaitForLeader(20 * time.Second)
	ctx := ctxT(t, 30*time.Second)
	cl := nd.Client()
	if err := cl.Set(ctx, "s", "text", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := cl.Incr(ctx, "n").Err(); err != nil {
		t.Fatal(err)
	}
	if err := cl.Incr(ctx, "s").Err(); err == nil { // not an integer: an error reply
		t.Fatal("INCR of a string succeeded")
	}
	resp, err := http.Get("http://" + nd.Cfg.HTTPAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	body := string(b)
	for _, m := range []struct {
		series string
		min    float64
	}{
		{`riot_commands_total{command="incr"}`, 2},
		{`riot_commands_total{command="set"}`, 1},
		{`riot_command_errors_total{command="incr"}`, 1},
		{`riot_command_duration_seconds_count{command="incr"}`, 2},
		{`riot_connected_clients`, 1},
	} {
		if v := metricValue(t, body, m.series); v < m.min {
			t.Errorf("%s = %v, want >= %v", m.series, v, m.min)
		}
	}
	if strings.Contains(body, `riot_command_errors_total{command="set"} `) {
		if v := metricValue(t, body, `riot_command_errors_total{command="set"}`); v != 0 {
			t.Errorf("SET errors = %v, want 0", v)
		}
	}
}
