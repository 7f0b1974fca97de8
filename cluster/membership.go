package cluster

import (
	"context"
	"fmt"

	"github.com/hashicorp/raft"

	"github.com/riot-kv/riot-redis/fsm"
)

// Join adds m to the cluster (as a voter if m.Voter, else as a non-voter) and
// records its metadata. On a follower the request is relayed to the leader.
func (n *Node) Join(ctx context.Context, m Member) error {
	return n.leaderDo(ctx, func() error { return n.JoinLocal(ctx, m) },
		func(addr string) error { return n.cfg.Relay.Join(ctx, addr, m) })
}

// Remove removes the member with the given ID and its metadata.
func (n *Node) Remove(ctx context.Context, id string) error {
	return n.leaderDo(ctx, func() error { return n.RemoveLocal(ctx, id) },
		func(addr string) error { return n.cfg.Relay.Remove(ctx, addr, id) })
}

// Transfer hands leadership to the member with the given ID, or to the most
// up-to-date follower when id is empty.
func (n *Node) Transfer(ctx context.Context, id string) error {
	return n.leaderDo(ctx, func() error { return n.TransferLocal(ctx, id) },
		func(addr string) error { return n.cfg.Relay.Transfer(ctx, addr, id) })
}

// leaderDo runs local on the leader or relay(leaderRPC) on a follower.
func (n *Node) leaderDo(ctx context.Context, local func() error, relay func(addr string) error) error {
	if n.closing.Load() {
		return ErrClosed
	}
	if n.IsLeader() {
		return local()
	}
	addr, err := n.leaderRPC()
	if err != nil {
		return err
	}
	return relay(addr)
}

// JoinLocal adds a member; this node must be the leader. Joining again with
// the same ID and address is a no-op apart from refreshing metadata; the same
// ID at a new address replaces the old entry.
func (n *Node) JoinLocal(ctx context.Context, m Member) error {
	if m.ID == "" || m.RaftAddr == "" {
		return fmt.Errorf("cluster: join needs an id and a raft address")
	}
	if _, err := routableAddr(m.RaftAddr); err != nil {
		return err
	}
	if n.raft.State() != raft.Leader {
		return ErrNotLeader
	}
	defer n.changingMembership()()
	cf := n.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return translateRaftErr(err, false)
	}
	timeout := timeoutFrom(ctx, n.cfg.LeaderWait)
	present := false
	for _, s := range cf.Configuration().Servers {
		idMatch, addrMatch := string(s.ID) == m.ID, string(s.Address) == m.RaftAddr
		switch {
		case idMatch && addrMatch && (s.Suffrage == raft.Voter) == m.Voter:
			present = true
		case idMatch || addrMatch:
			// Same ID at a new address, or the address reused by a new ID: drop the old entry.
			if err := n.raft.RemoveServer(s.ID, 0, timeout).Error(); err != nil {
				return translateRaftErr(err, true)
			}
		}
	}
	if !present {
		var f raft.IndexFuture
		if m.Voter {
			f = n.raft.AddVoter(raft.ServerID(m.ID), raft.ServerAddress(m.RaftAddr), 0, timeout)
		} else {
			f = n.raft.AddNonvoter(raft.ServerID(m.ID), raft.ServerAddress(m.RaftAddr), 0, timeout)
		}
		if err := f.Error(); err != nil {
			return translateRaftErr(err, true)
		}
	}
	meta := fsm.NodeMeta{ID: m.ID, RaftAddr: m.RaftAddr, RESPAddr: m.RESPAddr, RPCAddr: m.RPCAddr, HTTPAddr: m.HTTPAddr}
	if have, ok, err := n.fsm.Node(m.ID); err == nil && ok && have == meta {
		return nil
	}
	_, err := n.applyLocal(fsm.NewSetNode(meta), timeout)
	return err
}

// RemoveLocal removes a member; this node must be the leader. The metadata is
// removed first so no node keeps relaying to a removed member.
func (n *Node) RemoveLocal(ctx context.Context, id string) error {
	if n.raft.State() != raft.Leader {
		return ErrNotLeader
	}
	defer n.changingMembership()()
	cf := n.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return translateRaftErr(err, false)
	}
	found := false
	for _, s := range cf.Configuration().Servers {
		if string(s.ID) == id {
			found = true
		}
	}
	if !found {
		return fmt.Errorf("%w: %q", ErrUnknownNode, id)
	}
	timeout := timeoutFrom(ctx, n.cfg.LeaderWait)
	if _, err := n.applyLocal(fsm.NewRemoveNode(id), timeout); err != nil {
		return err
	}
	if err := n.raft.RemoveServer(raft.ServerID(id), 0, timeout).Error(); err != nil {
		return translateRaftErr(err, true)
	}
	return nil
}

// TransferLocal transfers leadership away from this node, which must lead.
func (n *Node) TransferLocal(ctx context.Context, id string) error {
	if n.raft.State() != raft.Leader {
		return ErrNotLeader
	}
	var f raft.Future
	if id == "" {
		f = n.raft.LeadershipTransfer()
	} else {
		cf := n.raft.GetConfiguration()
		if err := cf.Error(); err != nil {
			return translateRaftErr(err, false)
		}
		var addr raft.ServerAddress
		for _, s := range cf.Configuration().Servers {
			if string(s.ID) == id {
				addr = s.Address
			}
		}
		if addr == "" {
			return fmt.Errorf("%w: %q", ErrUnknownNode, id)
		}
		if id == n.cfg.ID {
			return nil // already the leader
		}
		f = n.raft.LeadershipTransferToServer(raft.ServerID(id), addr)
	}
	// The lease must not outlive a transfer: the target may win at once.
	n.lease.Store(0)
	if err := f.Error(); err != nil {
		return translateRaftErr(err, false)
	}
	return nil
}

// changingMembership marks a membership change of this node as in flight
// until the function it returns is called: leadership confirmations for reads
// fall back to Raft's round meanwhile, and count quorums over a fresh copy of
// the configuration afterwards (confirm.go). Changes run one at a time.
func (n *Node) changingMembership() (done func()) {
	n.membershipMu.Lock()
	n.membershipGen.Add(1) // odd: in flight
	return func() {
		n.membershipGen.Add(1)
		n.membershipMu.Unlock()
	}
}
