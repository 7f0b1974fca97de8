package fsm

import (
	"bytes"
	"fmt"
)

// OpDiskAlarm records or clears a node's disk alarm: the node's data
// directory has less free space than its floor (--min-free-disk-mb). The
// alarms are replicated state, so the leader refuses writes that add data
// while any member's disk is low, not only its own. Args: node ID, then "1"
// (raise) or "0" (clear). Part of the replicated log format: never renumber.
const OpDiskAlarm Op = 30

// nsAlarm holds the raised disk alarms: 'a' + node ID -> empty. Like node
// metadata, FLUSHALL leaves them, snapshots carry them, and removing a node
// clears its alarm.
const nsAlarm byte = 'a'

func init() {
	register(OpDiskAlarm, handler{minArgs: 2, maxArgs: 2, apply: applyDiskAlarm})
	opNames[OpDiskAlarm] = "diskalarm"
}

// NewDiskAlarm returns a command that raises (low) or clears node id's disk
// alarm.
func NewDiskAlarm(id string, low bool) *Command {
	flag := []byte{'0'}
	if low {
		flag[0] = '1'
	}
	return &Command{Op: OpDiskAlarm, Args: [][]byte{[]byte(id), flag}}
}

func alarmKey(id []byte) []byte { return append([]byte{nsAlarm}, id...) }

func applyDiskAlarm(t *txn, c *Command) Result {
	if len(c.Args[0]) == 0 {
		return errResult(ErrTextInvalidNode)
	}
	k := alarmKey(c.Args[0])
	switch string(c.Args[1]) {
	case "1":
		t.put(k, []byte{})
	case "0":
		if _, found := t.get(k); found {
			t.del(k)
		}
	default:
		return errResult(ErrTextSyntax)
	}
	return resOK
}

// DiskAlarms returns the IDs of the nodes whose disk alarm is raised, in
// ascending order.
func (f *FSM) DiskAlarms() ([]string, error) {
	it := f.eng.NewIterator([]byte{nsAlarm}, []byte{nsAlarm + 1})
	var ids []string
	for it.Next() {
		ids = append(ids, string(bytes.Clone(it.Key()[1:])))
	}
	err := it.Err()
	if cerr := it.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("fsm: read disk alarms: %w", err)
	}
	return ids, nil
}
