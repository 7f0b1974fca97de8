package harness

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// Clock is the one monotonic clock of a run: operation call and return times,
// nemesis events and leader observations are all nanoseconds since its start.
type Clock struct{ start time.Time }

// NewClock starts a clock.
func NewClock() *Clock { return &Clock{start: time.Now()} }

// Now returns the nanoseconds since the clock started (monotonic).
func (c *Clock) Now() int64 { return int64(time.Since(c.start)) }

// Wall returns the wall-clock time of clock time t (nanoseconds since the
// start), to match the timeline with the nodes' own log lines.
func (c *Clock) Wall(t int64) time.Time { return c.start.Add(time.Duration(t)) }

// Since returns the time since the clock started, rounded for logs.
func (c *Clock) Since() time.Duration { return time.Since(c.start).Round(time.Millisecond) }

// Event is something the harness did or saw: a nemesis starting or ending, a
// process killed or started, a leader observed.
type Event struct {
	Start, End int64 // clock times; End == Start for instants
	Kind       string
	Target     string
	Detail     string
}

func (e Event) String() string {
	s := fmt.Sprintf("%9s", time.Duration(e.Start).Round(time.Millisecond))
	if e.End > e.Start {
		s += fmt.Sprintf("-%s", time.Duration(e.End).Round(time.Millisecond))
	}
	s += " " + e.Kind
	if e.Target != "" {
		s += " " + e.Target
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Events is the run's timeline.
type Events struct {
	t     testing.TB
	clock *Clock
	mu    sync.Mutex
	evs   []Event
	quiet bool
}

// NewEvents returns an empty timeline on clock.
func NewEvents(t testing.TB, clock *Clock) *Events { return &Events{t: t, clock: clock} }

// Instant records an event without duration and logs it.
func (e *Events) Instant(kind, target, detail string) {
	now := e.clock.Now()
	e.add(Event{Start: now, End: now, Kind: kind, Target: target, Detail: detail})
}

// Begin records the start of an interval event; the returned func ends it.
func (e *Events) Begin(kind, target, detail string) func() {
	now := e.clock.Now()
	i := e.add(Event{Start: now, End: now, Kind: kind, Target: target, Detail: detail})
	return func() {
		e.mu.Lock()
		e.evs[i].End = e.clock.Now()
		e.mu.Unlock()
	}
}

func (e *Events) add(ev Event) int {
	e.mu.Lock()
	e.evs = append(e.evs, ev)
	i := len(e.evs) - 1
	quiet := e.quiet
	e.mu.Unlock()
	if !quiet {
		e.t.Logf("chaos: %s", ev)
	}
	return i
}

// All returns a copy of the timeline.
func (e *Events) All() []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Event(nil), e.evs...)
}

// Count returns how many events of kind were recorded.
func (e *Events) Count(kind string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, ev := range e.evs {
		if ev.Kind == kind {
			n++
		}
	}
	return n
}

// String renders the timeline, one event a line, each with its wall-clock
// time (UTC, as the nodes' logs print it).
func (e *Events) String() string {
	var b strings.Builder
	for _, ev := range e.All() {
		b.WriteString(e.clock.Wall(ev.Start).UTC().Format("15:04:05.000 "))
		b.WriteString(ev.String())
		b.WriteByte('\n')
	}
	return b.String()
}
