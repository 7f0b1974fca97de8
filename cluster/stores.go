package cluster

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/riot-kv/riot-redis/cluster/raftlog"
)

// stores holds the Raft log (raftlog: one fdatasync per append) and the
// stable store (raft-boltdb: the current term and vote, written rarely).
type stores struct {
	log    *raftlog.Log
	stable *raftboltdb.BoltStore
}

// openStores opens the stores in raftDir; segmentSize is the log's (0: its
// default).
func openStores(raftDir string, segmentSize int64) (*stores, error) {
	stable, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(raftDir, "raft.db")})
	if err != nil {
		return nil, fmt.Errorf("cluster: open raft stable store: %w", err)
	}
	log, err := raftlog.Open(filepath.Join(raftDir, "log"), raftlog.Options{DeferSync: true, SegmentSize: segmentSize})
	if err != nil {
		stable.Close()
		return nil, fmt.Errorf("cluster: open raft log: %w", err)
	}
	s := &stores{log: log, stable: stable}
	if err := s.migrate(); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// migrate moves log entries a data directory of an earlier version kept in
// raft.db into the log, once: they are copied and synced first, then deleted
// from raft.db, so a crash in between leaves them in both (and the log wins).
func (s *stores) migrate() error {
	last, err := s.log.LastIndex()
	if err != nil {
		return err
	}
	first, err := s.stable.FirstIndex()
	if err != nil {
		return fmt.Errorf("cluster: read raft.db: %w", err)
	}
	oldLast, err := s.stable.LastIndex()
	if err != nil {
		return fmt.Errorf("cluster: read raft.db: %w", err)
	}
	if oldLast == 0 {
		return nil
	}
	if last == 0 {
		const chunk = 256
		for i := first; i <= oldLast; {
			var batch []*raft.Log
			for ; i <= oldLast && len(batch) < chunk; i++ {
				e := new(raft.Log)
				if err := s.stable.GetLog(i, e); err != nil {
					return fmt.Errorf("cluster: migrate raft log entry %d: %w", i, err)
				}
				batch = append(batch, e)
			}
			if err := s.log.StoreLogs(batch); err != nil {
				return fmt.Errorf("cluster: migrate raft log: %w", err)
			}
		}
	}
	if err := s.stable.DeleteRange(first, oldLast); err != nil {
		return fmt.Errorf("cluster: drop migrated entries from raft.db: %w", err)
	}
	return nil
}

func (s *stores) close() error {
	return errors.Join(s.log.Close(), s.stable.Close())
}
