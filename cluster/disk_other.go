//go:build !unix

package cluster

// freeBytes is not implemented here: the floor is never reached.
func freeBytes(string) (uint64, bool) { return 0, false }
