package fsm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"sync"

	"github.com/golang/snappy"
	"github.com/hashicorp/raft"

	"github.com/riot-kv/riot-redis/internal/background"
	"github.com/riot-kv/riot-redis/storage"
)

// Snapshot stream format (see DESIGN.md): a fixed header, then a snappy framed
// stream of entries, each a uvarint key length, the key, a uvarint value
// length and the value.
const (
	snapMagic       = "RIOTSNAP"
	snapVersion     = 1
	snapCodecSnappy = 1
	snapHeaderLen   = 36
	snapMaxKeyLen   = 1 << 32
	snapMaxValueLen = 1 << 40
	snapReadChunk   = 1 << 20 // large fields are read in pieces of this size
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// snapHeader is the fixed-size header of a snapshot stream.
type snapHeader struct {
	version uint16
	codec   uint8
	applied uint64
	count   uint64
	sum     uint32 // crc32 Castagnoli of the uncompressed entry stream
}

func (h snapHeader) marshal() []byte {
	b := make([]byte, 0, snapHeaderLen)
	b = append(b, snapMagic...)
	b = binary.BigEndian.AppendUint16(b, h.version)
	b = append(b, h.codec, 0)
	b = binary.BigEndian.AppendUint64(b, h.applied)
	b = binary.BigEndian.AppendUint64(b, h.count)
	b = binary.BigEndian.AppendUint32(b, h.sum)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func readSnapHeader(r io.Reader) (snapHeader, error) {
	var b [snapHeaderLen]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return snapHeader{}, fmt.Errorf("%w: header: %w", ErrBadSnapshot, err)
	}
	if string(b[:8]) != snapMagic {
		return snapHeader{}, fmt.Errorf("%w: bad magic", ErrBadSnapshot)
	}
	if crc32.Checksum(b[:32], castagnoli) != binary.BigEndian.Uint32(b[32:]) {
		return snapHeader{}, fmt.Errorf("%w: header checksum mismatch", ErrBadSnapshot)
	}
	h := snapHeader{
		version: binary.BigEndian.Uint16(b[8:10]),
		codec:   b[10],
		applied: binary.BigEndian.Uint64(b[12:20]),
		count:   binary.BigEndian.Uint64(b[20:28]),
		sum:     binary.BigEndian.Uint32(b[28:32]),
	}
	if h.version != snapVersion {
		return snapHeader{}, fmt.Errorf("%w: version %d", ErrSnapshotVersion, h.version)
	}
	if h.codec != snapCodecSnappy || b[11] != 0 {
		return snapHeader{}, fmt.Errorf("%w: unknown codec %d", ErrBadSnapshot, h.codec)
	}
	return h, nil
}

// Snapshot returns a point-in-time snapshot of the state machine. It takes an
// engine snapshot and returns at once; the work happens in Persist, which may
// run concurrently with Apply.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.eng.Snapshot()
	if err != nil {
		return nil, fmt.Errorf("fsm: snapshot: %w", err)
	}
	return &fsmSnapshot{snap: s}, nil
}

// fsmSnapshot implements raft.FSMSnapshot over an engine snapshot.
type fsmSnapshot struct {
	snap    storage.Snapshot
	release sync.Once
}

// Persist streams the snapshot into sink and closes it. On any error it
// cancels the sink and returns the error.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	// Reading, compressing and writing the whole state runs at a lower
	// priority than the commit path (see package background).
	if err := background.Run(func() error { return writeSnapshot(sink, s.snap) }); err != nil {
		_ = sink.Cancel()
		return err
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("fsm: close snapshot sink: %w", err)
	}
	return nil
}

// Release releases the engine snapshot. It is safe to call more than once.
func (s *fsmSnapshot) Release() {
	s.release.Do(s.snap.Release)
}

// writeSnapshot writes the whole content of snap to w. It makes two passes over
// the point-in-time snapshot: one for the header's count and checksum, one to
// write the entries.
func writeSnapshot(w io.Writer, snap storage.Snapshot) error {
	var e entryEncoder
	var count uint64
	var sum uint32
	err := scanSnapshot(snap, func(k, v []byte) error {
		sum = e.sum(sum, k, v)
		count++
		return nil
	})
	if err != nil {
		return err
	}
	h := snapHeader{version: snapVersion, codec: snapCodecSnappy, applied: snap.AppliedIndex(), count: count, sum: sum}
	if _, err := w.Write(h.marshal()); err != nil {
		return fmt.Errorf("fsm: write snapshot: %w", err)
	}
	sw := snappy.NewBufferedWriter(w)
	var n uint64
	var sum2 uint32
	err = scanSnapshot(snap, func(k, v []byte) error {
		n++
		var err error
		sum2, err = e.write(sw, sum2, k, v)
		return err
	})
	if err == nil {
		err = sw.Close()
	}
	if err != nil {
		return fmt.Errorf("fsm: write snapshot: %w", err)
	}
	if n != count || sum2 != sum {
		return fmt.Errorf("fsm: write snapshot: engine snapshot changed between passes (%d then %d entries)", count, n)
	}
	return nil
}

// snapSmallEntry is the size up to which an entry is encoded in one piece.
const snapSmallEntry = 32 << 10

// entryEncoder encodes snapshot entries. Small entries are assembled in one
// buffer so that checksumming and compressing them costs one call each.
type entryEncoder struct {
	buf []byte
}

// encode returns the encoding of a small entry (valid until the next call),
// or nil for a large one.
func (e *entryEncoder) encode(k, v []byte) []byte {
	if len(k)+len(v) > snapSmallEntry {
		return nil
	}
	b := binary.AppendUvarint(e.buf[:0], uint64(len(k)))
	b = append(b, k...)
	b = binary.AppendUvarint(b, uint64(len(v)))
	b = append(b, v...)
	e.buf = b
	return b
}

// sum extends the checksum sum with one entry.
func (e *entryEncoder) sum(sum uint32, k, v []byte) uint32 {
	if b := e.encode(k, v); b != nil {
		return crc32.Update(sum, castagnoli, b)
	}
	var hdr [binary.MaxVarintLen64]byte
	sum = crc32.Update(sum, castagnoli, binary.AppendUvarint(hdr[:0], uint64(len(k))))
	sum = crc32.Update(sum, castagnoli, k)
	sum = crc32.Update(sum, castagnoli, binary.AppendUvarint(hdr[:0], uint64(len(v))))
	return crc32.Update(sum, castagnoli, v)
}

// write writes one entry to w and returns the extended checksum.
func (e *entryEncoder) write(w io.Writer, sum uint32, k, v []byte) (uint32, error) {
	if b := e.encode(k, v); b != nil {
		_, err := w.Write(b)
		return crc32.Update(sum, castagnoli, b), err
	}
	var hdr [binary.MaxVarintLen64]byte
	for _, p := range [][]byte{binary.AppendUvarint(hdr[:0], uint64(len(k))), k} {
		if _, err := w.Write(p); err != nil {
			return sum, err
		}
		sum = crc32.Update(sum, castagnoli, p)
	}
	for _, p := range [][]byte{binary.AppendUvarint(hdr[:0], uint64(len(v))), v} {
		if _, err := w.Write(p); err != nil {
			return sum, err
		}
		sum = crc32.Update(sum, castagnoli, p)
	}
	return sum, nil
}

func scanSnapshot(snap storage.Snapshot, fn func(k, v []byte) error) error {
	it := snap.NewIterator(nil, nil)
	var err error
	for err == nil && it.Next() {
		err = fn(it.Key(), it.Value())
	}
	if err == nil {
		err = it.Err()
	}
	if cerr := it.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fsm: read engine snapshot: %w", err)
	}
	return nil
}

// Restore replaces the whole state with the snapshot read from rc, atomically:
// on any error (truncation, bad header, unknown version, wrong count, checksum
// mismatch) the previous content and applied index stay as they were. After a
// successful Restore the applied index is the snapshot's. It closes rc.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	f.mu.Lock()
	defer f.mu.Unlock()
	h, err := readSnapHeader(rc)
	if err != nil {
		return err
	}
	src := &snapSource{r: snappy.NewReader(rc), left: h.count, want: h.sum}
	if err := f.eng.Replace(src, h.applied); err != nil {
		if src.err != nil {
			return src.err
		}
		return fmt.Errorf("fsm: restore: %w", err)
	}
	if !src.done {
		// The engine stopped reading early yet reported success.
		return fmt.Errorf("%w: engine did not read the whole snapshot", ErrBadSnapshot)
	}
	f.applied.Store(h.applied)
	err = errors.Join(f.loadStats(), f.loadClock())
	f.setApplied(h.applied)
	return err
}

// snapSource decodes a snapshot body as a storage.Source. It verifies the entry
// count, the strictly ascending key order and the checksum; a failure ends the
// iteration with an error, so the engine keeps its old content.
type snapSource struct {
	r         *snappy.Reader
	left      uint64 // entries still to read
	want, sum uint32
	key, prev []byte
	val       []byte
	scratch   [binary.MaxVarintLen64]byte
	started   bool
	done      bool
	err       error
}

func (s *snapSource) Next() bool {
	if s.err != nil || s.done {
		return false
	}
	if s.left == 0 {
		if _, err := s.r.ReadByte(); err != io.EOF {
			if err == nil {
				return s.fail(errors.New("more entries than the header counts"))
			}
			return s.fail(err)
		}
		if s.sum != s.want {
			return s.fail(errors.New("checksum mismatch"))
		}
		s.done = true
		return false
	}
	s.prev, s.key = s.key, s.prev
	var err error
	if s.key, err = s.field(s.key, snapMaxKeyLen); err != nil {
		return s.fail(err)
	}
	if s.started && bytes.Compare(s.key, s.prev) <= 0 {
		return s.fail(errors.New("keys out of order"))
	}
	if s.val, err = s.field(s.val, snapMaxValueLen); err != nil {
		return s.fail(err)
	}
	s.started = true
	s.left--
	return true
}

// field reads one length-prefixed field into buf, checksumming what it reads.
// Large fields are read in pieces, so a corrupt length cannot allocate more
// memory than the stream actually holds.
func (s *snapSource) field(buf []byte, limit uint64) ([]byte, error) {
	n, err := binary.ReadUvarint(s.r)
	if err != nil {
		return buf, err
	}
	if n > limit {
		return buf, fmt.Errorf("field of %d bytes", n)
	}
	s.sum = crc32.Update(s.sum, castagnoli, binary.AppendUvarint(s.scratch[:0], n))
	buf = buf[:0]
	for n > 0 {
		chunk := int(min(n, snapReadChunk))
		l := len(buf)
		buf = slices.Grow(buf, chunk)[:l+chunk]
		if _, err := io.ReadFull(s.r, buf[l:]); err != nil {
			return buf, err
		}
		n -= uint64(chunk)
	}
	s.sum = crc32.Update(s.sum, castagnoli, buf)
	return buf, nil
}

func (s *snapSource) fail(err error) bool {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	s.err = fmt.Errorf("%w: %w", ErrBadSnapshot, err)
	return false
}

func (s *snapSource) Key() []byte   { return s.key }
func (s *snapSource) Value() []byte { return s.val }
func (s *snapSource) Err() error    { return s.err }
