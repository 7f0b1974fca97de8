package resp

import (
	"net"

	"github.com/riot-kv/riot-redis/cluster"
)

func registerClusterCommands(t *table) {
	sub := newTable("cluster")
	sub.register(&command{name: "join", arity: -4, maxArgs: 8, flags: flagAdmin, handler: cmdClusterJoin})
	sub.register(&command{name: "remove", arity: 3, flags: flagAdmin, handler: cmdClusterRemove})
	sub.register(&command{name: "transfer", arity: -2, maxArgs: 3, flags: flagAdmin, handler: cmdClusterTransfer})
	sub.register(&command{name: "peers", arity: 2, handler: cmdClusterPeers})
	sub.register(&command{name: "leader", arity: 2, flags: flagFast, handler: cmdClusterLeader})
	sub.register(&command{name: "role", arity: 2, flags: flagFast, handler: cmdClusterRole})
	sub.register(&command{name: "help", arity: 2, handler: cmdClusterHelp})
	t.register(&command{name: "cluster", arity: -2, subs: sub})
}

// CLUSTER JOIN id raft-addr [resp-addr rpc-addr http-addr] [VOTER|NONVOTER]
func cmdClusterJoin(c *client, args [][]byte) {
	rest := args[2:]
	m := cluster.Member{ID: string(rest[0]), RaftAddr: string(rest[1]), Voter: true}
	rest = rest[2:]
	if len(rest) == 1 || len(rest) == 4 {
		switch last := rest[len(rest)-1]; {
		case equalFold(last, "voter"):
		case equalFold(last, "nonvoter"):
			m.Voter = false
		default:
			c.conn.WriteError(errTextSyntax)
			return
		}
		rest = rest[:len(rest)-1]
	}
	switch len(rest) {
	case 0:
	case 3:
		m.RESPAddr, m.RPCAddr, m.HTTPAddr = string(rest[0]), string(rest[1]), string(rest[2])
	default:
		c.conn.WriteError(errTextSyntax)
		return
	}
	if m.ID == "" {
		c.conn.WriteError("ERR node id must not be empty")
		return
	}
	for _, a := range []struct{ name, addr string }{
		{"raft", m.RaftAddr}, {"resp", m.RESPAddr}, {"rpc", m.RPCAddr}, {"http", m.HTTPAddr},
	} {
		if a.addr == "" && a.name != "raft" {
			continue
		}
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			c.conn.WriteError("ERR invalid " + a.name + " address '" + string(truncate([]byte(a.addr), 128)) + "'")
			return
		}
	}
	ctx, cancel := c.commandContext()
	err := c.srv.node.Join(ctx, m)
	cancel()
	c.writeOKOrError(err)
}

// CLUSTER REMOVE id
func cmdClusterRemove(c *client, args [][]byte) {
	ctx, cancel := c.commandContext()
	err := c.srv.node.Remove(ctx, string(args[2]))
	cancel()
	c.writeOKOrError(err)
}

// CLUSTER TRANSFER [id]
func cmdClusterTransfer(c *client, args [][]byte) {
	id := ""
	if len(args) == 3 {
		id = string(args[2])
	}
	ctx, cancel := c.commandContext()
	err := c.srv.node.Transfer(ctx, id)
	cancel()
	c.writeOKOrError(err)
}

func (c *client) writeOKOrError(err error) {
	if err != nil {
		c.writeError(err, false)
		return
	}
	c.conn.WriteString("OK")
}

// CLUSTER PEERS: one entry per member, see writeMember.
func cmdClusterPeers(c *client, _ [][]byte) {
	ctx, cancel := c.commandContext()
	members, err := c.srv.node.Members(ctx)
	cancel()
	if err != nil {
		c.writeError(err, false)
		return
	}
	c.conn.WriteArray(len(members))
	for _, m := range members {
		writeMember(c, m)
	}
}

// CLUSTER LEADER: the leader as one member entry, or CLUSTERDOWN.
func cmdClusterLeader(c *client, _ [][]byte) {
	m, ok := c.srv.node.Leader()
	if !ok {
		c.conn.WriteError(ErrTextClusterDown)
		return
	}
	m.Role = cluster.RoleLeader
	writeMember(c, m)
}

// CLUSTER ROLE: this node's Raft role.
func cmdClusterRole(c *client, _ [][]byte) {
	c.conn.WriteBulkString(string(c.srv.node.Role()))
}

// writeMember writes a member as a flat array of field/value bulk strings:
// id, raft-addr, resp-addr, rpc-addr, http-addr, suffrage (voter|nonvoter)
// and role (leader|follower). Unknown addresses are empty strings.
func writeMember(c *client, m cluster.Member) {
	suffrage := "voter"
	if !m.Voter {
		suffrage = "nonvoter"
	}
	role := m.Role
	if role == "" {
		role = cluster.RoleFollower
	}
	c.conn.WriteArray(14)
	for _, kv := range [7][2]string{
		{"id", m.ID},
		{"raft-addr", m.RaftAddr},
		{"resp-addr", m.RESPAddr},
		{"rpc-addr", m.RPCAddr},
		{"http-addr", m.HTTPAddr},
		{"suffrage", suffrage},
		{"role", string(role)},
	} {
		c.conn.WriteBulkString(kv[0])
		c.conn.WriteBulkString(kv[1])
	}
}

var clusterHelp = []string{
	"CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
	"JOIN <id> <raft-addr> [<resp-addr> <rpc-addr> <http-addr>] [VOTER|NONVOTER]",
	"    Add a node to the cluster, as a voter unless NONVOTER is given.",
	"LEADER",
	"    Return the leader's id, addresses, suffrage and role.",
	"PEERS",
	"    Return every member's id, addresses, suffrage and role.",
	"REMOVE <id>",
	"    Remove a node from the cluster.",
	"ROLE",
	"    Return this node's Raft role: leader, follower or candidate.",
	"TRANSFER [<id>]",
	"    Hand leadership to the given node, or to the most up-to-date voter.",
	"HELP",
	"    Print this help.",
}

// CLUSTER HELP
func cmdClusterHelp(c *client, _ [][]byte) { writeHelp(c, clusterHelp) }
