package resp

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Per-command and per-error counters, as Redis reports them in INFO
// commandstats and INFO errorstats (and monitoring tools read them there).
// CONFIG RESETSTAT zeroes them.

// cmdStats counts one command's calls.
type cmdStats struct {
	calls    atomic.Int64 // handled
	usec     atomic.Int64 // time from dispatch to reply, in µs
	rejected atomic.Int64 // refused before the handler ran (arity, not allowed in MULTI)
	failed   atomic.Int64 // handled, with an error reply
}

// done records a handled call that took d.
func (s *cmdStats) done(d time.Duration, failed bool) {
	s.calls.Add(1)
	s.usec.Add(d.Microseconds())
	if failed {
		s.failed.Add(1)
	}
}

func (s *cmdStats) reset() {
	s.calls.Store(0)
	s.usec.Store(0)
	s.rejected.Store(0)
	s.failed.Store(0)
}

// maxErrorCodes bounds the error codes errorstats tracks, as Redis does: a
// client could otherwise make up codes without end (other codes still count
// in total_error_replies).
const maxErrorCodes = 128

// errorStats counts error replies by their code (the first word: ERR,
// WRONGTYPE, ...).
type errorStats struct {
	total atomic.Int64
	mu    sync.Mutex
	codes map[string]int64
}

func (e *errorStats) count(msg string) {
	e.total.Add(1)
	code := msg
	for i := 0; i < len(msg); i++ {
		if msg[i] == ' ' {
			code = msg[:i]
			break
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.codes == nil {
		e.codes = make(map[string]int64)
	}
	if _, ok := e.codes[code]; ok || len(e.codes) < maxErrorCodes {
		e.codes[code]++
	}
}

func (e *errorStats) reset() {
	e.total.Store(0)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.codes = nil
}

// forEachCommand calls f for every command and subcommand of t.
func forEachCommand(t *table, f func(*command)) {
	for _, c := range t.order {
		f(c)
		if c.subs != nil {
			forEachCommand(c.subs, f)
		}
	}
}

func (s *Server) resetCommandStats() {
	forEachCommand(s.cmds, func(c *command) { c.stats.reset() })
	s.errors.reset()
}

// INFO commandstats: one line per command that has run or been refused,
// ordered by name.
func infoCommandStats(c *client, b *infoBuilder) {
	var cmds []*command
	forEachCommand(c.srv.cmds, func(cmd *command) {
		if cmd.stats.calls.Load() > 0 || cmd.stats.rejected.Load() > 0 {
			cmds = append(cmds, cmd)
		}
	})
	slices.SortFunc(cmds, func(a, b *command) int { return strings.Compare(a.fullName, b.fullName) })
	for _, cmd := range cmds {
		calls, usec := cmd.stats.calls.Load(), cmd.stats.usec.Load()
		perCall := 0.0
		if calls > 0 {
			perCall = float64(usec) / float64(calls)
		}
		b.str("cmdstat_"+cmd.fullName, "calls="+strconv.FormatInt(calls, 10)+
			",usec="+strconv.FormatInt(usec, 10)+
			",usec_per_call="+strconv.FormatFloat(perCall, 'f', 2, 64)+
			",rejected_calls="+strconv.FormatInt(cmd.stats.rejected.Load(), 10)+
			",failed_calls="+strconv.FormatInt(cmd.stats.failed.Load(), 10))
	}
}

// INFO errorstats: one line per error code, ordered by code.
func infoErrorStats(c *client, b *infoBuilder) {
	e := &c.srv.errors
	e.mu.Lock()
	codes := make([]string, 0, len(e.codes))
	for code := range e.codes {
		codes = append(codes, code)
	}
	slices.Sort(codes)
	counts := make([]int64, len(codes))
	for i, code := range codes {
		counts[i] = e.codes[code]
	}
	e.mu.Unlock()
	for i, code := range codes {
		b.str("errorstat_"+code, "count="+strconv.FormatInt(counts[i], 10))
	}
}
