package cluster

// Role is a node's Raft role as seen by that node.
type Role string

// Roles.
const (
	RoleLeader    Role = "leader"
	RoleFollower  Role = "follower"
	RoleCandidate Role = "candidate"
	RoleShutdown  Role = "shutdown"
)

// Member describes one cluster member: its stable ID, the addresses it serves, and
// whether it votes. The addresses come from node metadata replicated through the
// Raft log; RaftAddr also comes from the Raft configuration.
type Member struct {
	ID       string
	RaftAddr string
	RESPAddr string
	RPCAddr  string
	HTTPAddr string
	Voter    bool
	// Role is RoleLeader for the current leader and RoleFollower for the others,
	// as far as the answering node knows.
	Role Role
}
