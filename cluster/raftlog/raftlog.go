// Package raftlog is the Raft log store: an append-only, segmented
// write-ahead log that makes each StoreLogs call durable with one fdatasync.
//
// raft-boltdb commits a B+tree transaction per append, which costs two
// fdatasyncs (data pages, then the meta page) and rewrites pages; an
// append-only file needs one, and writing into a segment that was zero-filled
// when it was created lets fdatasync skip file-size metadata. See DESIGN.md.
//
// Layout: the directory holds segment files named by the index of their first
// entry (%020d.wal). A segment starts with a 16-byte header (magic, base index)
// followed by records:
//
//	u32 payload length | u32 crc32c(payload) | payload
//	payload: u64 index | u64 term | u8 type | i64 appended-at (unix ns)
//	         | uvarint len(extensions) | extensions | data
//
// Everything after the last record of a segment is zero. A zero length marks
// the end; a torn record at the end of the last segment (some sector of it
// not written, or not to its end) is cut off (and zeroed) when the log is
// opened, so after a crash the log is always a prefix of what was appended,
// and everything StoreLogs returned for is in it. A record damaged after it
// was written whole stops Open with ErrCorrupt.
package raftlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// DefaultSegmentSize is the size a segment file is zero-filled to when it is
// created. A batch larger than that gets a segment of its own size.
const DefaultSegmentSize = 16 << 20

const (
	headerSize    = 16
	recHeaderSize = 8
	// fixedPayload is the payload size without extensions and data.
	fixedPayload = 8 + 8 + 1 + 8
	segmentExt   = ".wal"
	spareName    = "spare.tmp"
)

var magic = [8]byte{'R', 'I', 'O', 'T', 'L', 'O', 'G', '1'}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Errors returned by the log.
var (
	// ErrClosed is returned by operations on a closed log.
	ErrClosed = errors.New("raftlog: closed")
	// ErrCorrupt is returned by Open when a segment other than the last one
	// is damaged, or a record of the last one that was written whole (see
	// torn): that cannot come from a crash during an append, so the log
	// refuses to start rather than drop committed entries.
	ErrCorrupt = errors.New("raftlog: corrupt log")
	// ErrOutOfOrder is returned by StoreLogs for entries that do not follow
	// the last stored entry (a gap or an overwrite without DeleteRange).
	ErrOutOfOrder = errors.New("raftlog: entries out of order")
	// ErrUnsupportedRange is returned by DeleteRange for a range that is
	// neither a prefix nor a suffix of the log.
	ErrUnsupportedRange = errors.New("raftlog: delete range must be a prefix or a suffix")
)

// Options configures a Log.
type Options struct {
	// SegmentSize is the size new segment files are zero-filled to
	// (DefaultSegmentSize when 0).
	SegmentSize int64
	// DeferSync makes StoreLogs return once the entries are written, and
	// syncs them in a background goroutine (one fdatasync for everything
	// written meanwhile). The caller must not treat an entry as durable before
	// Durable reaches its index (WaitDurable). Without it StoreLogs syncs
	// before it returns.
	DeferSync bool
}

// Log is a raft.LogStore. It is safe for concurrent use; writes (StoreLogs,
// DeleteRange) are serialised, reads run alongside them.
type Log struct {
	dir  string
	opts Options

	wmu sync.Mutex // serialises StoreLogs, DeleteRange and Close

	mu     sync.RWMutex // guards the fields below
	segs   []*segment   // ordered by base; the last one takes appends
	first  uint64       // 0 when empty
	last   uint64       // 0 when empty
	closed bool

	// failed is set, under wmu, when a write failed part way: what is on
	// disk is then unknown (after a failed fdatasync even a retry can lie),
	// so later writes are refused and the log must be reopened.
	failed error

	gen uint64 // bumped (under mu) when entries that may be unsynced are deleted

	syncMu   sync.Mutex // guards durable and syncErr; syncCond signals changes
	syncCond *sync.Cond
	durable  uint64
	syncErr  error
	kick     chan struct{} // wakes the syncer (DeferSync)
	quit     chan struct{}
	syncDone chan struct{}

	spareMu    sync.Mutex
	spareReady bool
	spareSize  int64
	spareWG    sync.WaitGroup
	buf        []byte // encode buffer, under wmu

	syncs syncHist // the syncs that made entries durable (SyncStats)
}

type segment struct {
	base uint64
	path string
	f    *os.File
	offs []int64 // offs[i] is the offset of entry base+i
	end  int64   // offset after the last record
	size int64   // file size
}

func (s *segment) lastIndex() uint64 { return s.base + uint64(len(s.offs)) - 1 }

// Open opens (creating if needed) the log in dir and recovers it: a torn
// record at the end of the last segment is cut off.
func Open(dir string, opts Options) (*Log, error) {
	if opts.SegmentSize <= 0 {
		opts.SegmentSize = DefaultSegmentSize
	}
	if opts.SegmentSize < headerSize+recHeaderSize+fixedPayload {
		return nil, fmt.Errorf("raftlog: segment size %d too small", opts.SegmentSize)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("raftlog: create dir: %w", err)
	}
	l := &Log{dir: dir, opts: opts, kick: make(chan struct{}, 1), quit: make(chan struct{}), syncDone: make(chan struct{})}
	l.syncCond = sync.NewCond(&l.syncMu)
	if err := l.recover(); err != nil {
		l.closeFiles()
		return nil, err
	}
	// What was read back may be only in the page cache (a crashed process
	// wrote it); sync it before calling it durable.
	if s := l.tail(); s != nil {
		if err := fdatasync(s.f); err != nil {
			l.closeFiles()
			return nil, err
		}
	}
	l.durable = l.last
	if opts.DeferSync {
		go l.syncLoop()
	} else {
		close(l.syncDone)
	}
	return l, nil
}

func segmentName(base uint64) string { return fmt.Sprintf("%020d%s", base, segmentExt) }

func (l *Log) recover() error {
	_ = os.Remove(filepath.Join(l.dir, spareName))
	names, err := os.ReadDir(l.dir)
	if err != nil {
		return fmt.Errorf("raftlog: read dir: %w", err)
	}
	var bases []uint64
	for _, e := range names {
		name := e.Name()
		if !strings.HasSuffix(name, segmentExt) {
			continue
		}
		b, err := strconv.ParseUint(strings.TrimSuffix(name, segmentExt), 10, 64)
		if err != nil || segmentName(b) != name {
			return fmt.Errorf("%w: unexpected file %s", ErrCorrupt, name)
		}
		bases = append(bases, b)
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	for i, b := range bases {
		isLast := i == len(bases)-1
		s, err := l.openSegment(b, isLast)
		if err != nil {
			return err
		}
		if n := len(l.segs); n > 0 {
			prev := l.segs[n-1]
			if len(prev.offs) == 0 || s.base != prev.lastIndex()+1 {
				s.f.Close()
				return fmt.Errorf("%w: segment %s does not follow %s", ErrCorrupt, filepath.Base(s.path), filepath.Base(prev.path))
			}
		}
		l.segs = append(l.segs, s)
	}
	// An empty last segment (created, crash before its first record) is
	// dropped; the next append creates a segment for its own index.
	if n := len(l.segs); n > 0 && len(l.segs[n-1].offs) == 0 {
		s := l.segs[n-1]
		s.f.Close()
		if err := os.Remove(s.path); err != nil {
			return fmt.Errorf("raftlog: remove empty segment: %w", err)
		}
		l.segs = l.segs[:n-1]
		if err := syncDir(l.dir); err != nil {
			return err
		}
	}
	if len(l.segs) > 0 {
		l.first = l.segs[0].base
		l.last = l.segs[len(l.segs)-1].lastIndex()
	}
	return nil
}

// openSegment scans a segment. In the last segment a torn record (see torn)
// ends the log: the rest of the file is zeroed so later appends never sit in
// front of stale bytes. Any other bad record is corruption.
func (l *Log) openSegment(base uint64, isLast bool) (*segment, error) {
	path := filepath.Join(l.dir, segmentName(base))
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("raftlog: open segment: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("raftlog: stat segment: %w", err)
	}
	s := &segment{base: base, path: path, f: f, size: st.Size()}
	data, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("raftlog: read segment %s: %w", filepath.Base(path), err)
	}
	if len(data) < headerSize || !bytes.Equal(data[:8], magic[:]) || binary.LittleEndian.Uint64(data[8:16]) != base {
		if isLast && allZero(data[:min(len(data), headerSize)]) {
			// Created but its header never reached the disk. Records written
			// behind it may have (writeback does not go in file order), but
			// none was acknowledged: the first fdatasync writes the header.
			return s, nil
		}
		f.Close()
		return nil, fmt.Errorf("%w: segment %s: bad header", ErrCorrupt, filepath.Base(path))
	}
	off := int64(headerSize)
	var lastTerm uint64
	for {
		idx := base + uint64(len(s.offs))
		n, term, ok := checkRecord(data, off, idx)
		if !ok || term < lastTerm {
			break
		}
		lastTerm = term
		s.offs = append(s.offs, off)
		off += int64(recHeaderSize + n)
	}
	s.end = off
	if off < int64(len(data)) && !allZero(data[off:]) {
		if !isLast || !torn(data, off) {
			f.Close()
			return nil, fmt.Errorf("%w: segment %s: bad record at offset %d", ErrCorrupt, filepath.Base(path), off)
		}
		if err := zeroRange(f, off, int64(len(data))); err != nil {
			f.Close()
			return nil, err
		}
	}
	return s, nil
}

// sectorSize is the unit a disk writes: after a power failure each 512-byte
// sector of an unsynced write holds its new bytes, its old ones, or (a write
// shorn by the failure) new bytes up to some point and old ones after it.
const sectorSize = 512

// torn reports whether the bad record at off in the last segment can be a
// write that a crash or a power failure cut short, rather than damage to a
// record that was written whole. Every byte of a segment after its last
// synced record is zero on disk (segments are zero-filled and synced before
// their first record, and a tail cut off is zeroed and synced), so in a
// record the failure cut short, the share of some sector ends in old bytes,
// zeros: a sector never written back (in whatever order the kernel wrote
// the others), or one written only in part. A bad record whose every share
// of a sector ends in a non-zero byte was written whole and damaged since (a
// flipped bit, garbage written over it), and this node may have acknowledged
// it: corruption. A record whose own last byte in a sector happens to be
// zero counts as torn: the check can miss damage, never take a power
// failure's tail for corruption. The record's extent is read from its
// length field, clipped to the file.
func torn(data []byte, off int64) bool {
	end := int64(len(data))
	if off+recHeaderSize <= end {
		end = min(end, off+recHeaderSize+int64(binary.LittleEndian.Uint32(data[off:])))
	}
	for lo := off; lo < end; {
		hi := min(end, (lo/sectorSize+1)*sectorSize)
		if data[hi-1] == 0 {
			return true
		}
		lo = hi
	}
	return false
}

// checkRecord validates the record at off holding entry idx and returns its
// payload length and term.
func checkRecord(data []byte, off int64, idx uint64) (int, uint64, bool) {
	if off+recHeaderSize > int64(len(data)) {
		return 0, 0, false
	}
	n := int64(binary.LittleEndian.Uint32(data[off:]))
	if n < fixedPayload || off+recHeaderSize+n > int64(len(data)) {
		return 0, 0, false
	}
	p := data[off+recHeaderSize : off+recHeaderSize+n]
	if crc32.Checksum(p, castagnoli) != binary.LittleEndian.Uint32(data[off+4:]) {
		return 0, 0, false
	}
	if binary.LittleEndian.Uint64(p) != idx {
		return 0, 0, false
	}
	return int(n), binary.LittleEndian.Uint64(p[8:]), true
}

func allZero(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b) != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

var zeros = make([]byte, 1<<20)

// zeroRange overwrites [from, to) of f with zeros and fdatasyncs it.
func zeroRange(f *os.File, from, to int64) error {
	for off := from; off < to; {
		n := min(int64(len(zeros)), to-off)
		if _, err := f.WriteAt(zeros[:n], off); err != nil {
			return fmt.Errorf("raftlog: zero segment tail: %w", err)
		}
		off += n
	}
	return fdatasync(f)
}

// FirstIndex returns the first index in the log, 0 when empty.
func (l *Log) FirstIndex() (uint64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return 0, ErrClosed
	}
	return l.first, nil
}

// LastIndex returns the last index in the log, 0 when empty.
func (l *Log) LastIndex() (uint64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return 0, ErrClosed
	}
	return l.last, nil
}

// Bytes returns the size of the records of the entries in the log, first
// to last. The files take more: each segment is zero-filled to its size, and
// the first may still hold entries deleted before first.
func (l *Log) Bytes() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed || l.last == 0 {
		return 0
	}
	var n int64
	for _, s := range l.segs {
		if len(s.offs) == 0 || s.lastIndex() < l.first {
			continue
		}
		start := int64(headerSize)
		if s.base <= l.first {
			start = s.offs[l.first-s.base]
		}
		n += s.end - start
	}
	return n
}

// IsMonotonic tells Raft that StoreLogs never takes a gap: after installing a
// snapshot Raft deletes the whole log instead of leaving one.
func (l *Log) IsMonotonic() bool { return true }

// GetLog reads entry idx into out.
func (l *Log) GetLog(idx uint64, out *raft.Log) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	s, off, end, err := l.locate(idx)
	if err != nil {
		return err
	}
	rec := make([]byte, end-off)
	if _, err := s.f.ReadAt(rec, off); err != nil {
		return fmt.Errorf("raftlog: read entry %d: %w", idx, err)
	}
	if _, _, ok := checkRecord(rec, 0, idx); !ok {
		return fmt.Errorf("%w: entry %d fails its checksum", ErrCorrupt, idx)
	}
	return decodePayload(rec[recHeaderSize:], out)
}

// locate returns the segment and byte range of entry idx. Called under mu.
func (l *Log) locate(idx uint64) (s *segment, off, end int64, err error) {
	if l.closed {
		return nil, 0, 0, ErrClosed
	}
	if l.last == 0 || idx < l.first || idx > l.last {
		return nil, 0, 0, raft.ErrLogNotFound
	}
	s = l.segs[sort.Search(len(l.segs), func(i int) bool { return l.segs[i].lastIndex() >= idx })]
	pos := idx - s.base
	off, end = s.offs[pos], s.end
	if int(pos)+1 < len(s.offs) {
		end = s.offs[pos+1]
	}
	return s, off, end, nil
}

func decodePayload(p []byte, out *raft.Log) error {
	out.Index = binary.LittleEndian.Uint64(p)
	out.Term = binary.LittleEndian.Uint64(p[8:])
	out.Type = raft.LogType(p[16])
	out.AppendedAt = time.Time{}
	if at := int64(binary.LittleEndian.Uint64(p[17:])); at != 0 {
		out.AppendedAt = time.Unix(0, at)
	}
	rest := p[fixedPayload:]
	n, k := binary.Uvarint(rest)
	if k <= 0 || uint64(len(rest)-k) < n {
		return fmt.Errorf("%w: entry %d: bad extensions length", ErrCorrupt, out.Index)
	}
	rest = rest[k:]
	out.Extensions = nil
	if n > 0 {
		out.Extensions = rest[:n:n]
	}
	out.Data = rest[n:]
	return nil
}

func appendRecord(buf []byte, e *raft.Log) []byte {
	start := len(buf)
	buf = append(buf, make([]byte, recHeaderSize+fixedPayload)...)
	p := buf[start+recHeaderSize:]
	binary.LittleEndian.PutUint64(p, e.Index)
	binary.LittleEndian.PutUint64(p[8:], e.Term)
	p[16] = byte(e.Type)
	var at int64
	if !e.AppendedAt.IsZero() {
		at = e.AppendedAt.UnixNano()
	}
	binary.LittleEndian.PutUint64(p[17:], uint64(at))
	buf = binary.AppendUvarint(buf, uint64(len(e.Extensions)))
	buf = append(buf, e.Extensions...)
	buf = append(buf, e.Data...)
	payload := buf[start+recHeaderSize:]
	binary.LittleEndian.PutUint32(buf[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(buf[start+4:], crc32.Checksum(payload, castagnoli))
	return buf
}

// StoreLog appends one entry.
func (l *Log) StoreLog(e *raft.Log) error { return l.StoreLogs([]*raft.Log{e}) }

// StoreLogs appends entries, which must follow the last stored entry (any
// index when the log is empty) and each other, and returns once they are on
// disk (with DeferSync: once they are written; see Durable).
func (l *Log) StoreLogs(logs []*raft.Log) (err error) {
	if len(logs) == 0 {
		return nil
	}
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.mu.RLock()
	closed, last := l.closed, l.last
	l.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	if l.failed != nil {
		return l.failed
	}
	if err := l.syncError(); err != nil {
		return err
	}
	for i, e := range logs {
		want := last + 1
		if i > 0 {
			want = logs[i-1].Index + 1
		} else if last == 0 {
			want = e.Index
		}
		if e.Index != want {
			return fmt.Errorf("%w: entry %d after %d", ErrOutOfOrder, e.Index, want-1)
		}
	}
	defer l.failOn(&err)
	if last == 0 && len(l.segs) > 0 {
		// Emptied by DeleteRange; start over at the new index.
		if err := l.removeSegments(0); err != nil {
			return err
		}
	}
	for i := 0; i < len(logs); {
		s := l.tail()
		if s == nil {
			var err error
			if s, err = l.addSegment(logs[i].Index, l.recordsSize(logs[i:i+1])); err != nil {
				return err
			}
		}
		// Encode as many records as fit in s.
		buf := l.buf[:0]
		var offs []int64
		j := i
		for ; j < len(logs); j++ {
			before := len(buf)
			buf = appendRecord(buf, logs[j])
			if s.end+int64(len(buf)) > s.size {
				buf = buf[:before]
				break
			}
			offs = append(offs, s.end+int64(before))
		}
		l.buf = buf
		if j == i {
			// Nothing fits: the current segment is full.
			if _, err := l.addSegment(logs[i].Index, l.recordsSize(logs[i:i+1])); err != nil {
				return err
			}
			continue
		}
		if _, err := s.f.WriteAt(buf, s.end); err != nil {
			return fmt.Errorf("raftlog: write: %w", err)
		}
		// If the batch continues in a new segment, addSegment syncs s first.
		l.mu.Lock()
		s.offs = append(s.offs, offs...)
		s.end += int64(len(buf))
		l.mu.Unlock()
		i = j
	}
	if !l.opts.DeferSync {
		// Only the segment the batch ended in can hold unsynced records.
		if err := l.syncTimed(l.tail().f); err != nil {
			return err
		}
	}
	l.mu.Lock()
	if l.first == 0 {
		l.first = logs[0].Index
	}
	l.last = logs[len(logs)-1].Index
	l.mu.Unlock()
	if l.opts.DeferSync {
		select {
		case l.kick <- struct{}{}:
		default:
		}
	} else {
		l.setDurable(logs[len(logs)-1].Index, false)
	}
	return nil
}

// setDurable records that the log is on disk through idx. With lower set it
// may also move durable down (entries were deleted).
func (l *Log) setDurable(idx uint64, lower bool) {
	l.syncMu.Lock()
	if idx > l.durable || lower {
		l.durable = idx
	}
	l.syncCond.Broadcast()
	l.syncMu.Unlock()
}

func (l *Log) syncError() error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	return l.syncErr
}

// syncLoop is the DeferSync syncer. Each round takes the end of the log,
// syncs the segment holding it (earlier segments were synced when the next
// one was made) and publishes that end as durable, unless entries were
// deleted meanwhile (the generation changed): then the next round decides.
// syncHold, set by tests, makes the DeferSync syncer wait for the channel
// to close before its next sync, so that entries written meanwhile stay
// unsynced (the power-failure test needs a tail that is certainly not on
// disk).
var syncHold atomic.Pointer[chan struct{}]

func (l *Log) syncLoop() {
	defer close(l.syncDone)
	for {
		select {
		case <-l.kick:
		case <-l.quit:
			return
		}
		if hold := syncHold.Load(); hold != nil {
			<-*hold // tests: entries stay unsynced until the channel closes
		}
		l.mu.RLock()
		s, target, gen := l.tail(), l.last, l.gen
		l.mu.RUnlock()
		if s == nil {
			continue
		}
		err := l.syncTimed(s.f)
		l.syncMu.Lock()
		l.mu.RLock()
		same := l.gen == gen
		l.mu.RUnlock()
		if same {
			if err != nil {
				l.syncErr = err
			} else if target > l.durable {
				l.durable = target
			}
		}
		l.syncCond.Broadcast()
		l.syncMu.Unlock()
	}
}

// Term returns the term of entry idx, reading only its header.
func (l *Log) Term(idx uint64) (uint64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	s, off, _, err := l.locate(idx)
	if err != nil {
		return 0, err
	}
	var b [recHeaderSize + 16]byte
	if _, err := s.f.ReadAt(b[:], off); err != nil {
		return 0, fmt.Errorf("raftlog: read entry %d: %w", idx, err)
	}
	if binary.LittleEndian.Uint64(b[recHeaderSize:]) != idx {
		return 0, fmt.Errorf("%w: entry %d: index mismatch", ErrCorrupt, idx)
	}
	return binary.LittleEndian.Uint64(b[recHeaderSize+8:]), nil
}

// Durable returns the index through which the log is on disk. Without
// DeferSync it is the last index.
func (l *Log) Durable() uint64 {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	return l.durable
}

// WaitDurable blocks until the log is on disk through idx. It fails if a
// background sync failed or the log is closed first.
func (l *Log) WaitDurable(idx uint64) error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	for l.durable < idx && l.syncErr == nil {
		l.mu.RLock()
		closed := l.closed
		l.mu.RUnlock()
		if closed {
			return ErrClosed
		}
		l.syncCond.Wait()
	}
	if l.durable >= idx {
		return nil
	}
	return l.syncErr
}

func (l *Log) recordsSize(logs []*raft.Log) int64 {
	var n int64
	for _, e := range logs {
		n += recHeaderSize + fixedPayload + binary.MaxVarintLen64 + int64(len(e.Extensions)+len(e.Data))
	}
	return n
}

func (l *Log) tail() *segment {
	if len(l.segs) == 0 {
		return nil
	}
	return l.segs[len(l.segs)-1]
}

// addSegment makes a new last segment for entries from base, big enough for
// need bytes of records. The file is zero-filled and synced, named, and the
// directory synced before any record goes in.
func (l *Log) addSegment(base uint64, need int64) (*segment, error) {
	size := max(l.opts.SegmentSize, headerSize+need)
	path := filepath.Join(l.dir, segmentName(base))
	if s := l.tail(); s != nil {
		// Everything in the current segment reaches the disk before a
		// later segment exists, so a torn record is only ever at the end
		// of the last one.
		if err := l.syncTimed(s.f); err != nil {
			return nil, err
		}
	}
	l.spareWG.Wait()
	l.spareMu.Lock()
	useSpare := l.spareReady && l.spareSize >= size
	l.spareReady = false
	l.spareMu.Unlock()
	spare := filepath.Join(l.dir, spareName)
	if useSpare {
		size = l.opts.SegmentSize
	} else if err := prepareFile(spare, size, size == l.opts.SegmentSize); err != nil {
		return nil, err
	}
	if err := os.Rename(spare, path); err != nil {
		return nil, fmt.Errorf("raftlog: name segment: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("raftlog: open segment: %w", err)
	}
	var hdr [headerSize]byte
	copy(hdr[:], magic[:])
	binary.LittleEndian.PutUint64(hdr[8:], base)
	if _, err := f.WriteAt(hdr[:], 0); err != nil {
		f.Close()
		return nil, fmt.Errorf("raftlog: write segment header: %w", err)
	}
	// The header reaches the disk with the first records' fdatasync; the
	// name must be durable before them.
	if err := syncDir(l.dir); err != nil {
		f.Close()
		return nil, err
	}
	s := &segment{base: base, path: path, f: f, end: headerSize, size: size}
	l.mu.Lock()
	l.segs = append(l.segs, s)
	l.mu.Unlock()
	l.prepareSpare()
	return s, nil
}

// prepareSpare zero-fills the next segment file in the background, so a
// segment switch does not stall appends for the zero-fill.
func (l *Log) prepareSpare() {
	l.spareWG.Add(1)
	go func() {
		defer l.spareWG.Done()
		size := l.opts.SegmentSize
		err := prepareFile(filepath.Join(l.dir, spareName), size, true)
		l.spareMu.Lock()
		l.spareReady, l.spareSize = err == nil, size
		l.spareMu.Unlock()
	}()
}

// prepareFile creates a segment file of size zero bytes and syncs it. dense
// writes the zeros (later overwrites then sync without allocating); a segment
// made for one oversized batch is sparse instead, so a huge entry is not
// written twice.
func prepareFile(path string, size int64, dense bool) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("raftlog: create segment: %w", err)
	}
	defer f.Close()
	if !dense {
		if err := f.Truncate(size); err != nil {
			return fmt.Errorf("raftlog: size segment: %w", err)
		}
	} else if err := zeroRange(f, 0, size); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("raftlog: sync segment: %w", err)
	}
	return nil
}

// DeleteRange removes entries min..max, which must be a prefix (compaction
// after a snapshot) or a suffix (a follower dropping entries a new leader
// overwrites) of the log, or all of it.
func (l *Log) DeleteRange(min, max uint64) (err error) {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.mu.RLock()
	closed, first, last := l.closed, l.first, l.last
	l.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	if l.failed != nil {
		return l.failed
	}
	if last == 0 || min > max || max < first || min > last {
		return nil
	}
	switch {
	case min <= first && max >= last:
		defer l.failOn(&err)
		l.syncMu.Lock()
		l.mu.Lock()
		l.first, l.last = 0, 0
		l.gen++
		l.durable = 0
		l.mu.Unlock()
		l.syncMu.Unlock()
		return l.removeSegments(0)
	case min <= first:
		// Compaction: whole segments up to max go; entries of a partly
		// covered segment stay on disk (they are committed and match the
		// snapshot) and are hidden until that segment goes.
		keep := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].lastIndex() > max })
		l.mu.Lock()
		gone := l.segs[:keep]
		l.segs = append([]*segment(nil), l.segs[keep:]...)
		l.first = max + 1
		l.mu.Unlock()
		return removeFiles(l.dir, gone, false)
	case max >= last:
		// Truncate the suffix from min: later segments go first, then the
		// tail of the segment holding min is zeroed, so a crash leaves
		// either the old log or a prefix of it, never old entries after
		// new ones.
		// The in-memory log is cut first, so that a failure below cannot
		// leave l.last pointing into removed segments.
		defer l.failOn(&err)
		i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].lastIndex() >= min })
		s := l.segs[i]
		pos := min - s.base
		cut, end := s.offs[pos], s.end
		gone := append([]*segment(nil), l.segs[i+1:]...)
		// Lock order: syncMu, then mu (as the syncer takes them).
		l.syncMu.Lock()
		l.mu.Lock()
		l.segs = l.segs[:i+1]
		s.offs = s.offs[:pos]
		s.end = cut
		l.last = min - 1
		if pos == 0 {
			l.segs = l.segs[:i]
		}
		if len(l.segs) == 0 {
			l.first, l.last = 0, 0
		}
		l.gen++
		newLast := l.last
		if l.durable > newLast {
			l.durable = newLast
		}
		l.mu.Unlock()
		l.syncMu.Unlock()
		if err := removeFiles(l.dir, gone, true); err != nil {
			return err
		}
		if pos == 0 {
			err = removeFiles(l.dir, []*segment{s}, true)
		} else {
			err = zeroRange(s.f, cut, end)
		}
		if err != nil {
			return err
		}
		// Earlier segments were synced when the next one was made and
		// zeroRange synced this one: everything left is durable.
		l.setDurable(newLast, false)
		return nil
	default:
		return fmt.Errorf("%w: %d..%d of %d..%d", ErrUnsupportedRange, min, max, first, last)
	}
}

// failOn disables writes if *err is set (see Log.failed). Called under wmu.
func (l *Log) failOn(err *error) {
	if *err != nil && l.failed == nil {
		l.failed = fmt.Errorf("raftlog: a write failed, reopen the log: %w", *err)
	}
}

// removeSegments deletes the segments from position i on.
func (l *Log) removeSegments(i int) error {
	l.mu.Lock()
	gone := append([]*segment(nil), l.segs[i:]...)
	l.segs = l.segs[:i]
	l.mu.Unlock()
	return removeFiles(l.dir, gone, true)
}

// removeFiles closes and deletes segs' files and syncs dir. A suffix goes
// newest first and a prefix oldest first, so that a crash or an error part
// way leaves the remaining segments contiguous.
func removeFiles(dir string, segs []*segment, newestFirst bool) error {
	for _, s := range segs {
		s.f.Close()
	}
	for k := range segs {
		j := k
		if newestFirst {
			j = len(segs) - 1 - k
		}
		if err := os.Remove(segs[j].path); err != nil {
			return fmt.Errorf("raftlog: remove segment: %w", err)
		}
	}
	return syncDir(dir)
}

// Close closes the segment files. Further calls fail with ErrClosed.
func (l *Log) Close() error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.spareWG.Wait()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	close(l.quit)
	<-l.syncDone
	l.syncMu.Lock()
	l.syncCond.Broadcast()
	l.syncMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closeFiles()
}

func (l *Log) closeFiles() error {
	var first error
	for _, s := range l.segs {
		if err := s.f.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("raftlog: open dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("raftlog: sync dir: %w", err)
	}
	return nil
}
