package resp

import (
	"strconv"
	"sync"
)

// SAVE, BGSAVE and LASTSAVE map Redis's point-in-time saves onto Raft
// snapshots: SAVE takes one and answers when it is written, BGSAVE takes
// one in the background, LASTSAVE answers when the newest was taken. Every
// acknowledged write is durable in the Raft log whether or not a snapshot
// is taken; a snapshot lets the node drop the log it covers. Riot writes no
// dump.rdb: DUMP moves values to Redis.

const (
	errTextBGSaveRunning = "ERR Background save already in progress"
	textBGSaveStarted    = "Background saving started"
	textBGSaveScheduled  = "Background saving scheduled"
)

// bgsaveState is the background snapshot: at most one runs, and one more
// may be scheduled behind it (BGSAVE SCHEDULE).
type bgsaveState struct {
	mu        sync.Mutex
	running   bool
	scheduled bool
	lastOK    bool // the last background snapshot succeeded (or none ran)
	ran       bool
}

func registerSaveCommands(t *table) {
	t.register(&command{name: "save", arity: 1, flags: flagAdmin | flagNoMulti, handler: cmdSave})
	t.register(&command{name: "bgsave", arity: -1, flags: flagAdmin, handler: cmdBGSave})
	t.register(&command{name: "lastsave", arity: 1, flags: flagFast, handler: cmdLastSave})
}

// SAVE
func cmdSave(c *client, _ [][]byte) {
	b := &c.srv.bgsave
	b.mu.Lock()
	running := b.running
	b.mu.Unlock()
	if running {
		c.conn.WriteError(errTextBGSaveRunning)
		return
	}
	if err := c.srv.node.Snapshot(); err != nil {
		c.conn.WriteError("ERR " + err.Error())
		return
	}
	c.conn.WriteString("OK")
}

// BGSAVE [SCHEDULE]
func cmdBGSave(c *client, args [][]byte) {
	schedule := false
	if len(args) > 1 {
		if len(args) > 2 || !equalFold(args[1], "schedule") {
			c.conn.WriteError(errTextSyntax)
			return
		}
		schedule = true
	}
	b := &c.srv.bgsave
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.running && schedule:
		b.scheduled = true
		c.conn.WriteString(textBGSaveScheduled)
	case b.running:
		c.conn.WriteError(errTextBGSaveRunning)
	default:
		b.running = true
		go c.srv.runBGSave()
		c.conn.WriteString(textBGSaveStarted)
	}
}

// runBGSave takes snapshots until none is scheduled.
func (s *Server) runBGSave() {
	b := &s.bgsave
	for {
		err := s.node.Snapshot()
		if err != nil {
			s.log.Warn("BGSAVE: snapshot failed", "err", err)
		}
		b.mu.Lock()
		b.ran, b.lastOK = true, err == nil
		if !b.scheduled {
			b.running = false
			b.mu.Unlock()
			return
		}
		b.scheduled = false
		b.mu.Unlock()
	}
}

// LASTSAVE: the unix time of the newest snapshot, or of the server's start
// when there is none (as Redis answers its start time before a first save).
func cmdLastSave(c *client, _ [][]byte) {
	at, _, ok := c.srv.node.LastSnapshot()
	if !ok {
		at = c.srv.started
	}
	c.conn.WriteInt64(at.Unix())
}

// infoSaves writes INFO persistence's save fields.
func infoSaves(c *client, b *infoBuilder) {
	s := c.srv
	at, index, ok := s.node.LastSnapshot()
	if !ok {
		at = s.started
	}
	applied, _ := strconv.ParseUint(s.node.Stats()["fsm_applied_index"], 10, 64)
	b.int("rdb_changes_since_last_save", int64(applied-min(index, applied)))
	bg := &s.bgsave
	bg.mu.Lock()
	running, lastOK, ran := bg.running, bg.lastOK, bg.ran
	bg.mu.Unlock()
	b.flag("rdb_bgsave_in_progress", running)
	b.int("rdb_last_save_time", at.Unix())
	if !ran || lastOK {
		b.str("rdb_last_bgsave_status", "ok")
	} else {
		b.str("rdb_last_bgsave_status", "err")
	}
}
