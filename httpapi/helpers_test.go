package httpapi_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/riot-kv/riot-redis/httpapi"
	"github.com/riot-kv/riot-redis/internal/testcluster"
)

// httpClient is shared by the tests; its timeout bounds every request.
var httpClient = &http.Client{Timeout: 20 * time.Second}

// reply is one HTTP response with its body read.
type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) String() string { return fmt.Sprintf("%d %s", r.status, bytes.TrimSpace(r.body)) }

// mustDo sends a request to a node's HTTP address and reads the reply.
func mustDo(t *testing.T, method, addr, path string, body []byte) reply {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://"+addr+path, rd)
	if err != nil {
		t.Fatalf("new request %s %s: %v", method, path, err)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

// mustStatus fails the test unless the reply has the wanted status.
func mustStatus(t *testing.T, r reply, want int, what string) {
	t.Helper()
	if r.status != want {
		t.Fatalf("%s: got %v, want status %d", what, r, want)
	}
}

// mustJSON decodes a reply body.
func mustJSON(t *testing.T, r reply, v any) {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json (reply %v)", ct, r)
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %v: %v", r, err)
	}
}

// mustEnvelope decodes an original Riot success envelope.
func mustEnvelope(t *testing.T, r reply, what string) httpapi.Envelope {
	t.Helper()
	mustStatus(t, r, http.StatusOK, what)
	var e httpapi.Envelope
	mustJSON(t, r, &e)
	if e.Error != 0 || e.Time < 0 {
		t.Fatalf("%s: envelope %+v, want error 0 and time >= 0", what, e)
	}
	return e
}

// mustError checks an error reply: status, errCode and error name.
func mustError(t *testing.T, r reply, status, code int, name, what string) httpapi.ErrorBody {
	t.Helper()
	mustStatus(t, r, status, what)
	var e httpapi.ErrorBody
	mustJSON(t, r, &e)
	if e.ErrCode != code || e.Error != name || e.Msg == "" {
		t.Fatalf("%s: error body %+v, want errCode %d, error %q and a message", what, e, code, name)
	}
	return e
}

// mustMetric returns the value of the first sample in a Prometheus text
// exposition whose series (name and labels) starts with prefix.
func mustMetric(t *testing.T, text []byte, prefix string) float64 {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || !strings.HasPrefix(line, prefix) {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		return v
	}
	t.Fatalf("no metric %s in /metrics", prefix)
	return 0
}

// httpAddr is the HTTP address of a test cluster node.
func httpAddr(n *testcluster.Node) string { return n.Cfg.HTTPAddr }
