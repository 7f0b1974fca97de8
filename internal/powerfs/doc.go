// Package powerfs is a file system for power-failure tests: a FUSE
// pass-through to a directory that keeps every write in memory until the
// file is synced, as the page cache of a real machine does, and that can
// lose what was not synced, as a machine losing power does.
//
// Damaging files after the fact (internal/diskfault) shows what a program
// does with a damage someone chose; powerfs shows what it does with the
// state a power failure really leaves: every write acknowledged to it by a
// completed fsync or fdatasync is there, every other write may or may not
// be, page by page, in any combination (the kernel writes dirty pages back
// in no order a program can rely on). A test starts the program on the
// mount, kills it, calls PowerFail and starts it again on the same mount.
//
// The model, and what it leaves out:
//
//   - File contents are buffered per 4 KiB page; fsync and fdatasync on any
//     open file of an inode write all of that inode's dirty pages to the
//     backing directory (in the model, the disk).
//   - PowerFail writes back each dirty page with a given probability and
//     drops the rest, then mounts the file system again, so no cached page
//     of the old mount survives.
//   - Names and sizes set explicitly are durable at once: creating,
//     renaming and removing files and directories, truncate and fallocate
//     reach the backing directory immediately. A real file system may lose
//     a recent rename or create if its directory was not synced; powerfs
//     does not test that. A file grown by writes keeps only the pages
//     written back.
//   - Pages are whole: a power failure never tears a page in two.
//   - Closing a file sends the server nothing to wait for (flush is not
//     implemented, which the kernel learns from a probe file at mount), so
//     a process that serves its own mount can exit with files open on it.
//
// It needs Linux, /dev/fuse and the right to mount (root). A process must not
// mmap files on a mount it serves itself: a page fault there can wait for ever
// for server goroutines that a stop-the-world collection has stopped (bbolt
// does this; tests run such programs in processes of their own).
package powerfs
