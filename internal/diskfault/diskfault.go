// Package diskfault damages files the way a failing disk or a power failure
// can, for tests of recovery code.
package diskfault

import (
	"os"
	"testing"
)

// Zero overwrites path[from:to] with zeros: the pages a power failure did
// not write back, or a sector that reads back empty.
func Zero(t testing.TB, path string, from, to int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(make([]byte, to-from), from); err != nil {
		t.Fatal(err)
	}
}
