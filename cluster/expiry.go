package cluster

import (
	"time"

	"github.com/hashicorp/raft"

	"github.com/riot-kv/riot-redis/fsm"
)

// Background expiry. Expired keys are invisible to every read from the moment
// they expire, but their records stay until a write removes them. The leader
// removes them through the log: every expirySweepInterval it asks its state
// machine for up to expirySweepMaxKeys keys whose expiry has passed (oldest
// first, from the TTL index) and proposes one fsm.OpExpireSweep with them.
// Each replica deletes a listed key only if it is still expired at the
// command's time, so a key set again meanwhile survives. One proposal per
// tick keeps the sweep gentle: at most expirySweepMaxKeys keys every
// expirySweepInterval, which leaves the log to client writes.
const (
	expirySweepInterval = 100 * time.Millisecond
	expirySweepMaxKeys  = 500
	// expirySweepTimeout bounds one sweep proposal.
	expirySweepTimeout = 5 * time.Second
)

// expiryLoop runs for the node's lifetime and sweeps while it leads.
func (n *Node) expiryLoop() {
	defer n.wg.Done()
	tick := time.NewTicker(expirySweepInterval)
	defer tick.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-tick.C:
		}
		if n.closing.Load() || !n.sweepReady() {
			continue
		}
		if _, err := n.sweepExpired(time.Now().UnixMilli()); err != nil {
			n.log.Debug("expiry sweep failed", "err", err)
		}
	}
}

// sweepReady reports whether this node leads and has applied an entry of its
// current term, so its state machine is current enough to pick keys.
func (n *Node) sweepReady() bool {
	return n.raft.State() == raft.Leader && n.readyTerm.Load() == n.raft.CurrentTerm()
}

// sweepExpired proposes the deletion of up to expirySweepMaxKeys keys that
// have expired at nowMs and returns how many were deleted.
func (n *Node) sweepExpired(nowMs int64) (int64, error) {
	keys, err := n.fsm.ExpiredKeys(nowMs, expirySweepMaxKeys)
	if err != nil || len(keys) == 0 {
		return 0, err
	}
	res, err := n.applyLocal(fsm.NewExpireSweep(keys...), expirySweepTimeout)
	if err != nil {
		return 0, err
	}
	return res.Int, nil
}
