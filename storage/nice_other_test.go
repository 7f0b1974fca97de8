//go:build !linux

package storage

// threadNice returns -1: the nice value is not per thread here.
func threadNice() int { return -1 }
