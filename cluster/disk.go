package cluster

import (
	"sync/atomic"
	"time"

	"github.com/riot-kv/riot-redis/fsm"
)

// A floor under the free space of the node's disk. Raft cannot refuse to
// apply a committed entry: a replica whose disk fills up while it applies
// one stops (the engine's write fails), and replicas of one cluster, holding
// the same data, fill up together. So with Config.MinFreeDisk set, the node
// checks the free space of the file system holding its data directory every
// diskCheckEvery, and while it is below the floor the leader refuses new
// writes with ErrDiskFull, before they reach the log, except the ones that
// free space (deletes, FLUSHALL, the expiry sweep, node metadata). Reads go
// on. Once space is freed the writes are taken again. The check is the
// leader's own disk: a follower whose disk fills first, with nothing else
// on the leader's, is not protected by it.

// diskCheckEvery is how often the free space is read.
const diskCheckEvery = 250 * time.Millisecond

// diskGuard is the state of the floor: whether the disk is below it, and
// the free bytes last read.
type diskGuard struct {
	low  atomic.Bool
	free atomic.Uint64
}

// watchDisk reads the free space of the data directory every every until the
// node stops, and logs when it crosses the floor.
func (n *Node) watchDisk(every time.Duration) {
	defer n.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		n.checkDisk()
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
	}
}

func (n *Node) checkDisk() {
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
		n.log.Warn("disk almost full: the leader refuses writes other than deletes until space is freed",
			"dir", n.cfg.Dir, "free_mb", free>>20, "min_free_mb", n.cfg.MinFreeDisk>>20)
	} else {
		n.log.Info("disk space freed: writes are taken again", "dir", n.cfg.Dir, "free_mb", free>>20)
	}
}

// DiskFree returns the free bytes of the data directory's file system as last
// read, and whether that is below Config.MinFreeDisk (false when the floor
// is off).
func (n *Node) DiskFree() (free uint64, low bool) {
	return n.disk.free.Load(), n.disk.low.Load()
}

// refuseForDisk returns ErrDiskFull for a command that adds data while the
// disk is below the floor.
func (n *Node) refuseForDisk(c *fsm.Command) error {
	if !n.disk.low.Load() {
		return nil
	}
	switch c.Op {
	case fsm.OpNoop, fsm.OpDel, fsm.OpGetDel, fsm.OpFlush, fsm.OpExpireSweep, fsm.OpSetNode, fsm.OpRemoveNode:
		return nil
	}
	return ErrDiskFull
}
