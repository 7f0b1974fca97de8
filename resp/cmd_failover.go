package resp

import (
	"context"
	"net"
	"strconv"
	"time"

	"github.com/riot-kv/riot-redis/cluster"
)

// FAILOVER [TO host port [FORCE]] [ABORT] [TIMEOUT ms]: Redis's coordinated
// failover, mapped onto a Raft leadership transfer (CLUSTER TRANSFER). Its
// checks and errors are Redis 7.0's; unlike Redis, the reply comes once the
// transfer is done (or has failed), and there is never one left in progress
// to abort. A replica is a voting member with a RESP address; TO names it by
// that address. FORCE changes nothing: a Raft transfer goes to an
// up-to-date member or fails.

const (
	errTextNoFailover       = "ERR No failover in progress."
	errTextFailoverTimeout  = "ERR FAILOVER timeout must be greater than 0"
	errTextFailoverRunning  = "ERR FAILOVER already in progress."
	errTextFailoverReplica  = "ERR FAILOVER is not valid when server is a replica."
	errTextFailoverNoRepl   = "ERR FAILOVER requires connected replicas."
	errTextFailoverForce    = "ERR FAILOVER with force option requires both a timeout and target HOST and IP."
	errTextFailoverNotRepl  = "ERR FAILOVER target HOST and PORT is not a replica."
	errTextFailoverNotVoter = "ERR FAILOVER target replica is not online."
)

func registerFailoverCommand(t *table) {
	t.register(&command{name: "failover", arity: -1, flags: flagAdmin | flagNoMulti, handler: cmdFailover})
}

func cmdFailover(c *client, args [][]byte) {
	if len(args) == 2 && equalFold(args[1], "abort") {
		c.conn.WriteError(errTextNoFailover)
		return
	}
	var timeout int64
	var host string
	var port int64
	force := false
	for j := 1; j < len(args); j++ {
		switch a := args[j]; {
		case equalFold(a, "timeout") && j+1 < len(args) && timeout == 0:
			n, ok := parseInt(args[j+1])
			if !ok {
				c.conn.WriteError(errTextNotInteger)
				return
			}
			if n <= 0 {
				c.conn.WriteError(errTextFailoverTimeout)
				return
			}
			timeout = n
			j++
		case equalFold(a, "to") && j+2 < len(args) && host == "":
			n, ok := parseInt(args[j+2])
			if !ok {
				c.conn.WriteError(errTextNotInteger)
				return
			}
			host, port = string(args[j+1]), n
			j += 2
		case equalFold(a, "force") && !force:
			force = true
		default:
			c.conn.WriteError(errTextSyntax)
			return
		}
	}
	if !c.srv.failingOver.CompareAndSwap(false, true) {
		c.conn.WriteError(errTextFailoverRunning)
		return
	}
	defer c.srv.failingOver.Store(false)
	ctx, cancel := c.commandContext()
	if timeout > 0 {
		cancel()
		ctx, cancel = context.WithTimeout(c.ctx, time.Duration(timeout)*time.Millisecond)
	}
	defer cancel()
	if c.srv.node.Role() != cluster.RoleLeader {
		c.conn.WriteError(errTextFailoverReplica)
		return
	}
	members, err := c.srv.node.Members(ctx)
	if err != nil {
		c.writeError(err, false)
		return
	}
	// The replicas: the other members with a RESP address (INFO replication
	// lists the same).
	var replicas []cluster.Member
	for _, m := range members {
		if m.ID != c.srv.node.ID() && m.RESPAddr != "" {
			replicas = append(replicas, m)
		}
	}
	switch {
	case len(replicas) == 0:
		c.conn.WriteError(errTextFailoverNoRepl)
		return
	case force && (timeout == 0 || host == ""):
		c.conn.WriteError(errTextFailoverForce)
		return
	}
	id := ""
	if host != "" {
		target := net.JoinHostPort(host, strconv.FormatInt(port, 10))
		for _, m := range replicas {
			if m.RESPAddr == target {
				if !m.Voter {
					c.conn.WriteError(errTextFailoverNotVoter)
					return
				}
				id = m.ID
			}
		}
		if id == "" {
			c.conn.WriteError(errTextFailoverNotRepl)
			return
		}
	}
	c.srv.log.Info("FAILOVER requested", "client", c.info.addr, "to", id)
	c.writeOKOrError(c.srv.node.Transfer(ctx, id))
}
