//go:build !linux

package raftlog

import (
	"fmt"
	"os"
)

func fdatasync(f *os.File) error {
	if err := f.Sync(); err != nil {
		return fmt.Errorf("raftlog: fsync: %w", err)
	}
	return nil
}
