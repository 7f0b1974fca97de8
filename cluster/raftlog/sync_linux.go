package raftlog

import (
	"fmt"
	"os"
	"syscall"
)

// fdatasync flushes f's data, and only the metadata needed to read it back.
// It holds a reference on the descriptor while it runs, so a concurrent Close
// waits instead of racing it.
func fdatasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("raftlog: fdatasync: %w", err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = syscall.Fdatasync(int(fd)) }); err != nil {
		return fmt.Errorf("raftlog: fdatasync: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("raftlog: fdatasync: %w", serr)
	}
	return nil
}
