package resp

// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]: the node shuts down as on
// SIGTERM (a leader hands leadership over first). Every acknowledged write
// is already in the fsynced Raft log, so SAVE and NOSAVE change nothing, and
// there is nothing for NOW or FORCE to skip. As in Redis, the connection is
// closed without a reply once the shutdown has begun.

const (
	errTextNoShutdown  = "ERR No shutdown in progress."
	errTextShutdownOff = "ERR SHUTDOWN is not available on this server"
)

func registerShutdownCommand(t *table) {
	t.register(&command{name: "shutdown", arity: -1, flags: flagAdmin | flagNoMulti, handler: cmdShutdown})
}

func cmdShutdown(c *client, args [][]byte) {
	var save, nosave, other, abort bool
	for _, a := range args[1:] {
		switch {
		case equalFold(a, "nosave"):
			nosave = true
		case equalFold(a, "save"):
			save = true
		case equalFold(a, "now"), equalFold(a, "force"):
			other = true
		case equalFold(a, "abort"):
			abort = true
		default:
			c.conn.WriteError(errTextSyntax)
			return
		}
	}
	if (abort && (save || nosave || other)) || (save && nosave) {
		c.conn.WriteError(errTextSyntax) // as Redis 7.0 words a bad combination
		return
	}
	if abort {
		// A shutdown, once begun, runs to its end: there is never one to
		// abort in the meantime.
		c.conn.WriteError(errTextNoShutdown)
		return
	}
	if c.srv.cfg.Shutdown == nil {
		c.conn.WriteError(errTextShutdownOff)
		return
	}
	if c.srv.shuttingDown.CompareAndSwap(false, true) {
		c.srv.log.Warn("SHUTDOWN received; shutting down", "client", c.info.addr)
		go c.srv.cfg.Shutdown()
	}
	c.quit = true
	c.conn.Close()
}
