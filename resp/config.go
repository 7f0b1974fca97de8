package resp

import (
	"fmt"
	"log/slog"
	"net"
	"time"
)

// Defaults and limits.
const (
	// DefaultAddr is the RESP listen address when Config.Addr is empty.
	DefaultAddr = "127.0.0.1:6379"
	// DefaultMaxValueSize is the largest bulk string a client may send, like
	// Redis's default proto-max-bulk-len (512 MiB).
	DefaultMaxValueSize int64 = 512 << 20
	// DefaultSlowlogSlowerThan and DefaultSlowlogMaxLen are Redis's
	// slow log defaults.
	DefaultSlowlogSlowerThan = 10 * time.Millisecond
	DefaultSlowlogMaxLen     = 128
	// DefaultMaxClients is the most connections served at once when
	// Config.MaxClients is zero, like Redis's default maxclients.
	DefaultMaxClients = 10000
	// CommandTimeout bounds every call a command makes on the node (a proposal,
	// a membership change). Reads are bounded by the node itself when they
	// wait (cluster.Node.Read), so a read served at once needs no timer.
	CommandTimeout = 10 * time.Second
	// maxInlineSize is the longest inline (telnet-style) command line, like
	// Redis's PROTO_INLINE_MAX_SIZE.
	maxInlineSize = 64 << 10
	// maxMultibulkLen is the largest argument count of one command, like
	// Redis's INT_MAX limit.
	maxMultibulkLen = 1<<31 - 1
)

// Config configures a Server. The zero value listens on DefaultAddr with
// DefaultMaxValueSize and no logging.
type Config struct {
	// Addr is the TCP address to listen on, host:port. Port 0 picks a free port
	// (see Server.Addr).
	Addr string
	// MaxValueSize is the largest bulk string (key, value or any argument) a
	// client may send, in bytes; larger ones are a protocol error, as with
	// Redis's proto-max-bulk-len. Zero means DefaultMaxValueSize.
	MaxValueSize int64
	// MaxClients is the most client connections served at once; one more is
	// answered with Redis's "max number of clients reached" error and closed.
	// Zero means DefaultMaxClients.
	MaxClients int
	// Logger receives connection-level events (accept failures, protocol
	// errors, internal errors). Nil discards them.
	Logger *slog.Logger
	// SlowlogSlowerThan is the time from a command's dispatch to its reply
	// from which the slow log records it (Redis's slowlog-log-slower-than);
	// zero: 10 ms; negative: the slow log records nothing.
	SlowlogSlowerThan time.Duration
	// SlowlogMaxLen is how many entries the slow log keeps (Redis's
	// slowlog-max-len); zero: 128; negative: none.
	SlowlogMaxLen int
	// Shutdown, if set, is called (once, on its own goroutine) when a client
	// sends SHUTDOWN: it should stop the process as SIGTERM does. Nil refuses
	// SHUTDOWN with an error.
	Shutdown func()
	// Observer, if set, receives one measurement per command and the change
	// in connected clients (the HTTP /metrics endpoint implements it).
	Observer Observer
	// EventLoop serves the connections from one epoll loop (Linux only)
	// instead of a goroutine per connection: commands that can answer at
	// once (fast reads the node serves without waiting, PING) run in the
	// loop, the others on a goroutine per command run (loop_linux.go).
	EventLoop bool
}

// Observer receives per-command measurements.
type Observer interface {
	// Observe records one command: its name (lower case, "container|sub" for
	// a subcommand), how long it took, and whether its reply was an error.
	Observe(command string, d time.Duration, failed bool)
	// AddConnectedClients changes the connected-clients count by delta.
	AddConnectedClients(delta int)
}

// withDefaults returns a copy of c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.MaxValueSize == 0 {
		c.MaxValueSize = DefaultMaxValueSize
	}
	if c.SlowlogSlowerThan == 0 {
		c.SlowlogSlowerThan = DefaultSlowlogSlowerThan
	}
	if c.SlowlogMaxLen == 0 {
		c.SlowlogMaxLen = DefaultSlowlogMaxLen
	}
	if c.MaxClients == 0 {
		c.MaxClients = DefaultMaxClients
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports the first problem with c, naming the field. Zero fields are
// valid: they take their defaults.
func (c Config) Validate() error {
	if c.Addr != "" {
		if _, _, err := net.SplitHostPort(c.Addr); err != nil {
			return fmt.Errorf("%w: Addr %q: %v", ErrInvalidConfig, c.Addr, err)
		}
	}
	if c.MaxValueSize < 0 {
		return fmt.Errorf("%w: MaxValueSize %d is negative", ErrInvalidConfig, c.MaxValueSize)
	}
	if c.MaxClients < 0 {
		return fmt.Errorf("%w: MaxClients %d is negative", ErrInvalidConfig, c.MaxClients)
	}
	if c.EventLoop && !loopSupported {
		return fmt.Errorf("%w: EventLoop needs Linux", ErrInvalidConfig)
	}
	return nil
}
