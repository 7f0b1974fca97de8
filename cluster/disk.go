package cluster

import (
	"context"
	"slices"
	"sync/atomic"
	"time"

	"github.com/riot-kv/riot-redis/fsm"
)

// A floor under the free space of the nodes' disks. Raft cannot refuse to
// apply a committed entry: a replica whose disk fills up while it applies
// one stops (the engine's write fails), and replicas of one cluster, holding
// the same data, fill up together. So with Config.MinFreeDisk set, the node
// checks the free space of the file system holding its data directory every
// diskCheckEvery. When it falls below the floor the node raises its disk
// alarm, replicated state (fsm.OpDiskAlarm, proposed like a write and
// relayed by a follower), and clears it once space is freed. While its own
// disk is low or any member's alarm is raised, the leader refuses new
// writes with ErrDiskFull, before they reach the log, except the ones that
// free space (deletes, FLUSHALL, the expiry sweep) and the cluster's own
// bookkeeping (node metadata, alarms). Reads go on. A follower's alarm
// takes effect on the leader within about two checks.

// diskCheckEvery is how often the free space is read.
const diskCheckEvery = 250 * time.Millisecond

// diskGuard is the state of the floor: whether this node's disk is below
// it, the free bytes last read, and the members whose alarm is raised.
type diskGuard struct {
	low    atomic.Bool
	free   atomic.Uint64
	alarm  atomic.Bool              // some member's alarm is raised
	alarms atomic.Pointer[[]string] // their IDs (INFO)
}

// watchDisk checks the disk and the alarms every every until the node stops.
func (n *Node) watchDisk(every time.Duration) {
	defer n.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		n.checkDisk()
		n.syncAlarm(every)
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
	}
}

// syncAlarm reads the raised alarms from the state machine, and raises or
// clears this node's own when it disagrees with the disk (a proposal that
// failed is tried again at the next check).
func (n *Node) syncAlarm(timeout time.Duration) {
	ids, err := n.fsm.DiskAlarms()
	if err != nil {
		return
	}
	n.disk.alarms.Store(&ids)
	n.disk.alarm.Store(len(ids) > 0)
	raised := slices.Contains(ids, n.cfg.ID)
	low := n.cfg.MinFreeDisk > 0 && n.disk.low.Load()
	if raised == low || n.closing.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), max(timeout, time.Second))
	defer cancel()
	if _, err := n.Propose(ctx, fsm.NewDiskAlarm(n.cfg.ID, low)); err != nil {
		n.log.Debug("disk alarm not recorded yet", "raise", low, "err", err)
	}
}

func (n *Node) checkDisk() {
	if n.cfg.MinFreeDisk <= 0 {
		return
	}
	free, ok := freeBytes(n.cfg.Dir)
	if !ok {
		return
	}
	n.disk.free.Store(free)
	low := free < uint64(n.cfg.MinFreeDisk)
	if n.disk.low.Swap(low) == low {
		return
	}
	if low {
		n.log.Warn("disk almost full: raising this node's disk alarm; the cluster refuses writes other than deletes until space is freed",
			"dir", n.cfg.Dir, "free_mb", free>>20, "min_free_mb", n.cfg.MinFreeDisk>>20)
	} else {
		n.log.Info("disk space freed: clearing this node's disk alarm", "dir", n.cfg.Dir, "free_mb", free>>20)
	}
}

// DiskFree returns the free bytes of the data directory's file system as last
// read, and whether that is below Config.MinFreeDisk (false when the floor
// is off).
func (n *Node) DiskFree() (free uint64, low bool) {
	return n.disk.free.Load(), n.disk.low.Load()
}

// DiskAlarms returns the members whose disk alarm is raised, as last read.
func (n *Node) DiskAlarms() []string {
	if p := n.disk.alarms.Load(); p != nil {
		return *p
	}
	return nil
}

// diskLow reports whether writes that add data are refused: this node's
// disk is below its floor, or a member's alarm is raised.
func (n *Node) diskLow() bool { return n.disk.low.Load() || n.disk.alarm.Load() }

// refuseForDisk returns ErrDiskFull for a command that adds data while
// diskLow.
func (n *Node) refuseForDisk(c *fsm.Command) error {
	if !n.diskLow() {
		return nil
	}
	switch c.Op {
	case fsm.OpNoop, fsm.OpDel, fsm.OpGetDel, fsm.OpFlush, fsm.OpExpireSweep, fsm.OpSetNode, fsm.OpRemoveNode, fsm.OpDiskAlarm:
		return nil
	}
	return ErrDiskFull
}
