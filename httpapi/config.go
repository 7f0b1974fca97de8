package httpapi

import (
	"fmt"
	"log/slog"
	"net"
	"time"
)

// Defaults and limits.
const (
	// DefaultAddr is the listen address when Config.Addr is empty.
	DefaultAddr = "127.0.0.1:8080"
	// DefaultMaxBodyBytes is the largest request body accepted, like Redis's
	// default proto-max-bulk-len (512 MiB): a value that RESP accepts, HTTP
	// accepts too.
	DefaultMaxBodyBytes int64 = 512 << 20
	// DefaultRequestTimeout bounds every call a request makes on the node (a
	// proposal, a consistent read, a membership change).
	DefaultRequestTimeout = 10 * time.Second
	// DefaultPeerTimeout bounds the fetch of one member's /v1/status when
	// /v1/cluster reports the members' applied indexes.
	DefaultPeerTimeout = time.Second
	// DefaultMaxReadyLag is how many entries this node's applied index may
	// trail the commit index it knows before /readyz reports it not ready.
	DefaultMaxReadyLag uint64 = 1000
	// DefaultKeyCountInterval is the shortest time between two key counts
	// (Config.KeyCount): scrapes in between report the last count.
	DefaultKeyCountInterval = 30 * time.Second

	// maxJSONBody bounds the JSON bodies of the administrative endpoints.
	maxJSONBody = 1 << 20
	// readHeaderTimeout bounds reading a request's headers (slowloris).
	readHeaderTimeout = 10 * time.Second
	// idleTimeout closes keep-alive connections idle for longer.
	idleTimeout = 2 * time.Minute
	// shutdownTimeout bounds the graceful part of Close.
	shutdownTimeout = 5 * time.Second
)

// Config configures a Server. The zero value listens on DefaultAddr with the
// defaults above, pprof off, and no logging.
type Config struct {
	// Addr is the TCP address to listen on, host:port. Port 0 picks a free
	// port (see Server.Addr).
	Addr string
	// EnablePprof serves net/http/pprof under /debug/pprof/. Off by default:
	// profiles reveal internals and cost CPU.
	EnablePprof bool
	// MaxBodyBytes is the largest request body (a value) accepted; larger ones
	// are answered 413. Zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// RequestTimeout bounds each call a request makes on the node. Zero means
	// DefaultRequestTimeout.
	RequestTimeout time.Duration
	// PeerTimeout bounds the fetch of one member's status. Zero means
	// DefaultPeerTimeout.
	PeerTimeout time.Duration
	// MaxReadyLag is the readiness bound on applied-index lag. Zero means
	// DefaultMaxReadyLag.
	MaxReadyLag uint64
	// Metrics holds the per-command and client metrics. Nil means New makes
	// one (see Server.Metrics); pass one to share it with the RESP layer.
	Metrics *Metrics
	// KeyCount, if set, returns the number of keys for the riot_keys gauge. It
	// may be expensive: it runs at most once per KeyCountInterval, during a
	// scrape. When nil, the state machine's own counts are exported if it keeps
	// them (a KeyStats() (keys, expires int64) method, read at each scrape);
	// otherwise riot_keys is not exported.
	KeyCount func() (uint64, error)
	// KeyCountInterval is the shortest time between two key counts. Zero means
	// DefaultKeyCountInterval.
	KeyCountInterval time.Duration
	// Logger receives server-side events (internal errors, unreachable peers,
	// the HTTP server's own errors). Nil discards them.
	Logger *slog.Logger
}

// Validate reports the first problem with c, naming the field. Zero fields
// are valid: they take their defaults.
func (c Config) Validate() error {
	if c.Addr != "" {
		if _, _, err := net.SplitHostPort(c.Addr); err != nil {
			return fmt.Errorf("%w: Addr %q: %v", ErrInvalidConfig, c.Addr, err)
		}
	}
	for _, f := range []struct {
		name string
		neg  bool
	}{
		{"MaxBodyBytes", c.MaxBodyBytes < 0},
		{"RequestTimeout", c.RequestTimeout < 0},
		{"PeerTimeout", c.PeerTimeout < 0},
		{"KeyCountInterval", c.KeyCountInterval < 0},
	} {
		if f.neg {
			return fmt.Errorf("%w: %s must not be negative", ErrInvalidConfig, f.name)
		}
	}
	return nil
}

// withDefaults returns a copy of c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.PeerTimeout == 0 {
		c.PeerTimeout = DefaultPeerTimeout
	}
	if c.MaxReadyLag == 0 {
		c.MaxReadyLag = DefaultMaxReadyLag
	}
	if c.KeyCountInterval == 0 {
		c.KeyCountInterval = DefaultKeyCountInterval
	}
	if c.Metrics == nil {
		c.Metrics = NewMetrics()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}
