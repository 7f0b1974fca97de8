package powerfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// pageSize is the unit of buffering and of loss.
const pageSize = 4096

// Rand is the source of PowerFail's choices (math/rand's and
// math/rand/v2's Rand both are one).
type Rand interface{ Float64() float64 }

// FS is a mounted powerfs.
type FS struct {
	backing, mountpoint string

	mu  sync.Mutex // serializes PowerFail and Close
	cur *gen
}

// gen is one mount of an FS: a FUSE connection and the page cache of its
// files. A power failure ends it and mounts a new one.
type gen struct {
	mountpoint string
	server     *fuse.Server
	conn       uint64 // the FUSE connection's number (the mount's device minor)

	mu    sync.Mutex
	files map[uint64]*file // by inode number, while open or dirty
}

// Mount mounts a powerfs at mountpoint over the directory backing. Both
// must exist.
func Mount(backing, mountpoint string) (*FS, error) {
	f := &FS{backing: backing, mountpoint: mountpoint}
	g, err := mountGen(backing, mountpoint)
	if err != nil {
		return nil, err
	}
	f.cur = g
	return f, nil
}

func mountGen(backing, mountpoint string) (*gen, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(backing, &st); err != nil {
		return nil, err
	}
	g := &gen{mountpoint: mountpoint, files: map[uint64]*file{}}
	root := &fs.LoopbackRoot{Path: backing, Dev: uint64(st.Dev)}
	rn := &node{LoopbackNode: fs.LoopbackNode{RootData: root}, g: g}
	root.RootNode = rn
	opts := &fs.Options{MountOptions: fuse.MountOptions{
		FsName: "powerfs", Name: "powerfs", DirectMount: true, DirectMountStrict: true,
		DisableXAttrs: true, MaxBackground: 64,
	}}
	srv, err := fs.Mount(mountpoint, rn, opts)
	if err != nil {
		return nil, fmt.Errorf("powerfs: mount %s: %w", mountpoint, err)
	}
	g.server = srv
	if err := syscall.Stat(mountpoint, &st); err != nil {
		g.unmount()
		return nil, err
	}
	g.conn = uint64(unix.Minor(st.Dev))
	if err := g.noFlush(); err != nil {
		g.unmount()
		return nil, err
	}
	return g, nil
}

// noFlush closes a file on the new mount once, so that the kernel hears
// Flush's ENOSYS and sends no flush at close from then on (see Flush).
func (g *gen) noFlush() error {
	probe := filepath.Join(g.mountpoint, ".powerfs-flush-probe")
	fh, err := os.Create(probe)
	if err != nil {
		return fmt.Errorf("powerfs: %w", err)
	}
	fh.Close()
	if err := os.Remove(probe); err != nil {
		return fmt.Errorf("powerfs: %w", err)
	}
	return nil
}

// Dirty returns the number of pages written and not yet synced.
func (f *FS) Dirty() int {
	f.mu.Lock()
	g := f.cur
	f.mu.Unlock()
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, fl := range g.files {
		n += len(fl.pages)
	}
	return n
}

// PowerFail simulates a power failure: it unmounts the file system, which
// no process may be using any more (kill them first), writes each dirty
// page back to the backing directory with probability keep (0 loses every
// unsynced write, 1 loses none), drops the others, and mounts the file
// system again. It returns how many dirty pages were lost and how many
// written back.
func (f *FS) PowerFail(rng Rand, keep float64) (lost, kept int, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cur == nil {
		return 0, 0, errors.New("powerfs: closed")
	}
	g := f.cur
	f.cur = nil
	if err := g.unmount(); err != nil {
		return 0, 0, err
	}
	if lost, kept, err = g.drop(rng, keep); err != nil {
		return lost, kept, err
	}
	f.cur, err = mountGen(f.backing, f.mountpoint)
	return lost, kept, err
}

// Close unmounts the file system, losing every unsynced write.
func (f *FS) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	g := f.cur
	if g == nil {
		return nil
	}
	f.cur = nil
	err := g.unmount()
	g.drop(nil, 0)
	return err
}

// drop writes each dirty page of an unmounted gen back with probability
// keep (none when rng is nil), drops the others and closes the files.
func (g *gen) drop(rng Rand, keep float64) (lost, kept int, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for ino, fl := range g.files {
		if rng != nil {
			l, k, werr := fl.crash(rng, keep)
			lost += l
			kept += k
			if werr != nil && err == nil {
				err = werr
			}
		}
		fl.close()
		delete(g.files, ino)
	}
	return lost, kept, err
}

// connections is where the kernel lets a FUSE connection be aborted.
const connections = "/sys/fs/fuse/connections"

// unmount detaches the mount and ends its FUSE connection. A process
// started in a mount namespace of its own (ip netns exec) holds a copy of
// every mount that existed then, which a plain unmount here leaves in
// place, with the connection and this server; aborting the connection
// ends those copies too (they are unused: each node uses only its own
// directory).
func (g *gen) unmount() error {
	if err := unix.Unmount(g.mountpoint, unix.MNT_DETACH); err != nil {
		return fmt.Errorf("powerfs: unmount %s: %w", g.mountpoint, err)
	}
	if _, err := os.Stat(filepath.Join(connections, "0")); err != nil {
		// fusectl not mounted yet: an empty directory until it is.
		unix.Mount("fusectl", connections, "fusectl", 0, "")
	}
	abort := filepath.Join(connections, fmt.Sprint(g.conn), "abort")
	if err := os.WriteFile(abort, []byte("1"), 0); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("powerfs: abort the connection of %s: %w", g.mountpoint, err)
	}
	done := make(chan struct{})
	go func() { g.server.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("powerfs: the server of %s did not stop", g.mountpoint)
	}
}

// open returns the state of inode ino, opening the backing file at path if
// it has none, and counts one more handle on it.
func (g *gen) open(ino uint64, path string) (*file, syscall.Errno) {
	g.mu.Lock()
	defer g.mu.Unlock()
	fl, ok := g.files[ino]
	if !ok {
		bf, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return nil, fs.ToErrno(err)
		}
		st, err := bf.Stat()
		if err != nil {
			bf.Close()
			return nil, fs.ToErrno(err)
		}
		fl = &file{f: bf, size: st.Size(), pages: map[int64][]byte{}}
		g.files[ino] = fl
	}
	fl.handles++
	return fl, 0
}

// release counts a handle of fl closed, and forgets fl if it holds nothing
// unsynced.
func (g *gen) release(ino uint64, fl *file) {
	g.mu.Lock()
	defer g.mu.Unlock()
	fl.handles--
	if fl.handles == 0 && len(fl.pages) == 0 && g.files[ino] == fl {
		fl.close()
		delete(g.files, ino)
	}
}

// forget drops the state of an inode whose last name is gone.
func (g *gen) forget(ino uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if fl, ok := g.files[ino]; ok {
		fl.close()
		delete(g.files, ino)
	}
}

// file is the state of one regular file: its backing file, its size as
// programs see it, and its pages written and not synced. Guarded by gen.mu.
type file struct {
	f       *os.File
	size    int64
	pages   map[int64][]byte // page number -> pageSize bytes
	handles int
}

func (fl *file) close() {
	if fl.f != nil {
		fl.f.Close()
		fl.f = nil
	}
}

// backingPage reads page p from the backing file, zeros past its end.
func (fl *file) backingPage(p int64) ([]byte, error) {
	b := make([]byte, pageSize)
	n, err := fl.f.ReadAt(b, p*pageSize)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	clear(b[n:])
	return b, nil
}

func (fl *file) write(data []byte, off int64) error {
	for len(data) > 0 {
		p := off / pageSize
		in := off % pageSize
		pg, ok := fl.pages[p]
		if !ok {
			var err error
			if pg, err = fl.backingPage(p); err != nil {
				return err
			}
			fl.pages[p] = pg
		}
		n := copy(pg[in:], data)
		data = data[n:]
		off += int64(n)
		fl.size = max(fl.size, off)
	}
	return nil
}

func (fl *file) read(dest []byte, off int64) ([]byte, error) {
	if off >= fl.size {
		return dest[:0], nil
	}
	dest = dest[:min(int64(len(dest)), fl.size-off)]
	n, err := fl.f.ReadAt(dest, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	clear(dest[n:])
	for p := off / pageSize; p*pageSize < off+int64(len(dest)); p++ {
		pg, ok := fl.pages[p]
		if !ok {
			continue
		}
		start := max(p*pageSize, off)
		end := min((p+1)*pageSize, off+int64(len(dest)))
		copy(dest[start-off:end-off], pg[start-p*pageSize:end-p*pageSize])
	}
	return dest, nil
}

// writeBack writes page p to the backing file, up to the file's size.
func (fl *file) writeBack(p int64) error {
	pg := fl.pages[p]
	end := min(int64(pageSize), fl.size-p*pageSize)
	if end <= 0 {
		return nil
	}
	_, err := fl.f.WriteAt(pg[:end], p*pageSize)
	return err
}

// sync writes every dirty page back, in order.
func (fl *file) sync() error {
	ps := make([]int64, 0, len(fl.pages))
	for p := range fl.pages {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	for _, p := range ps {
		if err := fl.writeBack(p); err != nil {
			return err
		}
		delete(fl.pages, p)
	}
	return nil
}

// crash writes back each dirty page with probability keep and drops the
// rest.
func (fl *file) crash(rng Rand, keep float64) (lost, kept int, err error) {
	for p := range fl.pages {
		if rng.Float64() < keep {
			if werr := fl.writeBack(p); werr != nil && err == nil {
				err = werr
			}
			kept++
		} else {
			lost++
		}
	}
	clear(fl.pages)
	return lost, kept, err
}

// truncate sets the size after the backing file was truncated to size.
func (fl *file) truncate(size int64) {
	for p, pg := range fl.pages {
		switch {
		case p*pageSize >= size:
			delete(fl.pages, p)
		case (p+1)*pageSize > size:
			clear(pg[size-p*pageSize:])
		}
	}
	fl.size = size
}

// node is a loopback node whose regular files are powerfs files.
type node struct {
	fs.LoopbackNode
	g *gen
}

var (
	_ fs.NodeWrapChilder = (*node)(nil)
	_ fs.NodeOpener      = (*node)(nil)
	_ fs.NodeCreater     = (*node)(nil)
	_ fs.NodeGetattrer   = (*node)(nil)
	_ fs.NodeSetattrer   = (*node)(nil)
	_ fs.NodeUnlinker    = (*node)(nil)
	_ fs.NodeRenamer     = (*node)(nil)
)

// WrapChild makes every node below the root a powerfs node.
func (n *node) WrapChild(ctx context.Context, ops fs.InodeEmbedder) fs.InodeEmbedder {
	if ln, ok := ops.(*fs.LoopbackNode); ok {
		return &node{LoopbackNode: fs.LoopbackNode{RootData: ln.RootData}, g: n.g}
	}
	return ops
}

func (n *node) backingPath() string {
	return filepath.Join(n.RootData.Path, n.Path(n.Root()))
}

func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	fh, ff, errno := n.LoopbackNode.Open(ctx, flags)
	if errno != 0 {
		return nil, 0, errno
	}
	return n.wrap(ctx, n.StableAttr().Ino, n.backingPath(), fh, ff, flags)
}

func (n *node) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	ch, fh, ff, errno := n.LoopbackNode.Create(ctx, name, flags, mode, out)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	h, ff, errno := n.wrap(ctx, ch.StableAttr().Ino, filepath.Join(n.backingPath(), name), fh, ff, flags)
	return ch, h, ff, errno
}

// wrap turns the loopback handle of inode ino, whose backing file is at
// path, into a powerfs handle.
func (n *node) wrap(ctx context.Context, ino uint64, path string, fh fs.FileHandle, ff uint32, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	fl, errno := n.g.open(ino, path)
	if errno != 0 {
		if r, ok := fh.(fs.FileReleaser); ok {
			r.Release(ctx)
		}
		return nil, 0, errno
	}
	if flags&syscall.O_TRUNC != 0 {
		n.g.mu.Lock()
		fl.truncate(0)
		n.g.mu.Unlock()
	}
	return &handle{inner: fh.(*fs.LoopbackFile), g: n.g, ino: ino, fl: fl}, ff, 0
}

func (n *node) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if h, ok := f.(*handle); ok {
		return h.Getattr(ctx, out)
	}
	if errno := n.LoopbackNode.Getattr(ctx, nil, out); errno != 0 {
		return errno
	}
	n.g.adjustSize(n.StableAttr().Ino, &out.Attr.Size)
	return 0
}

// Statx answers as Getattr does: the kernel then asks Getattr.
func (n *node) Statx(ctx context.Context, f fs.FileHandle, flags uint32, mask uint32, out *fuse.StatxOut) syscall.Errno {
	return syscall.ENOSYS
}

func (n *node) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if h, ok := f.(*handle); ok {
		return h.Setattr(ctx, in, out)
	}
	if errno := n.LoopbackNode.Setattr(ctx, nil, in, out); errno != 0 {
		return errno
	}
	ino := n.StableAttr().Ino
	if sz, ok := in.GetSize(); ok {
		n.g.mu.Lock()
		if fl := n.g.files[ino]; fl != nil {
			fl.truncate(int64(sz))
		}
		n.g.mu.Unlock()
	}
	n.g.adjustSize(ino, &out.Attr.Size)
	return 0
}

func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	ch := n.GetChild(name)
	if errno := n.LoopbackNode.Unlink(ctx, name); errno != 0 {
		return errno
	}
	if ch != nil {
		n.g.forget(ch.StableAttr().Ino)
	}
	return 0
}

func (n *node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	var replaced *fs.Inode
	if np, ok := newParent.(*node); ok {
		replaced = np.GetChild(newName)
		newParent = &np.LoopbackNode
	}
	if errno := n.LoopbackNode.Rename(ctx, name, newParent, newName, flags); errno != 0 {
		return errno
	}
	if replaced != nil && flags&unix.RENAME_EXCHANGE == 0 {
		n.g.forget(replaced.StableAttr().Ino)
	}
	return 0
}

// adjustSize replaces a size read from the backing file with the size
// programs see, for an inode with unsynced writes.
func (g *gen) adjustSize(ino uint64, size *uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if fl := g.files[ino]; fl != nil {
		*size = uint64(fl.size)
	}
}

// handle is an open powerfs file.
type handle struct {
	inner *fs.LoopbackFile
	g     *gen
	ino   uint64
	fl    *file
}

var (
	_ fs.FileReader    = (*handle)(nil)
	_ fs.FileWriter    = (*handle)(nil)
	_ fs.FileFsyncer   = (*handle)(nil)
	_ fs.FileFlusher   = (*handle)(nil)
	_ fs.FileReleaser  = (*handle)(nil)
	_ fs.FileGetattrer = (*handle)(nil)
	_ fs.FileSetattrer = (*handle)(nil)
	_ fs.FileAllocater = (*handle)(nil)
)

func (h *handle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	h.g.mu.Lock()
	defer h.g.mu.Unlock()
	b, err := h.fl.read(dest, off)
	if err != nil {
		return nil, fs.ToErrno(err)
	}
	return fuse.ReadResultData(b), 0
}

func (h *handle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	h.g.mu.Lock()
	defer h.g.mu.Unlock()
	if err := h.fl.write(data, off); err != nil {
		return 0, fs.ToErrno(err)
	}
	return uint32(len(data)), 0
}

func (h *handle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	h.g.mu.Lock()
	defer h.g.mu.Unlock()
	return fs.ToErrno(h.fl.sync())
}

// Flush answers ENOSYS, after which the kernel sends no flush on close to
// this mount again. A close then never waits for the server, so a process
// that serves its own powerfs (a test) and exits, or panics, with files open
// on it does not hang at exit waiting for itself. Nothing is lost: the
// backing files stay open until release, and writes are kept until fsync
// or a power failure either way.
func (h *handle) Flush(ctx context.Context) syscall.Errno { return syscall.ENOSYS }

func (h *handle) Release(ctx context.Context) syscall.Errno {
	errno := h.inner.Release(ctx)
	h.g.release(h.ino, h.fl)
	return errno
}

func (h *handle) Getattr(ctx context.Context, out *fuse.AttrOut) syscall.Errno {
	if errno := h.inner.Getattr(ctx, out); errno != 0 {
		return errno
	}
	h.g.mu.Lock()
	out.Attr.Size = uint64(h.fl.size)
	h.g.mu.Unlock()
	return 0
}

func (h *handle) Setattr(ctx context.Context, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if errno := h.inner.Setattr(ctx, in, out); errno != 0 {
		return errno
	}
	h.g.mu.Lock()
	defer h.g.mu.Unlock()
	if sz, ok := in.GetSize(); ok {
		h.fl.truncate(int64(sz))
	}
	out.Attr.Size = uint64(h.fl.size)
	return 0
}

func (h *handle) Allocate(ctx context.Context, off uint64, size uint64, mode uint32) syscall.Errno {
	if errno := h.inner.Allocate(ctx, off, size, mode); errno != 0 {
		return errno
	}
	if mode&unix.FALLOC_FL_KEEP_SIZE == 0 {
		h.g.mu.Lock()
		h.fl.size = max(h.fl.size, int64(off+size))
		h.g.mu.Unlock()
	}
	return 0
}
