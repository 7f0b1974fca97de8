package fsm

import (
	"encoding/binary"
	"unsafe"

	"github.com/riot-kv/riot-redis/storage"
)

// Namespaces: the first byte of every engine key the state machine writes.
const (
	nsData   byte = 'k' // 'k' + user key -> value record
	nsExpire byte = 'e' // 'e' + 8-byte big-endian expireAt + user key -> empty
	nsNode   byte = 'n' // 'n' + node ID -> node metadata record
)

// Value types, the low seven bits of a value record's first byte. Values are
// part of the on-disk layout: never renumber or reuse one.
const (
	typeString byte = 1
	// Reserved for the types still to come; records of these types already
	// decode, so string commands answer WRONGTYPE for them.
	typeHash byte = 2
	typeList byte = 3
	typeSet  byte = 4
	typeZSet byte = 5
)

// recHasExpiry is set in a value record's first byte when an 8-byte
// big-endian expireAt follows it.
const recHasExpiry byte = 0x80

// recHasVersion is set in a value record's first byte when an 8-byte
// big-endian version (the Raft index of the write, for WATCH) follows the
// expiry, if any. Every write sets it (txn.writeRaw); records written before
// versions moved into the record lack it and have a 'v' key instead.
const recHasVersion byte = 0x40

// recTypeMask selects the value type from a record's first byte.
const recTypeMask byte = 0x3f

// dataKey returns 'k' + key in a new slice with extra bytes of spare capacity.
func dataKey(key []byte, extra int) []byte {
	b := make([]byte, 1+len(key), 1+len(key)+extra)
	b[0] = nsData
	copy(b[1:], key)
	return b
}

// expireKey returns 'e' + expireAt + key in a new slice.
func expireKey(at int64, key []byte) []byte {
	b := make([]byte, 9+len(key))
	b[0] = nsExpire
	binary.BigEndian.PutUint64(b[1:9], uint64(at))
	copy(b[9:], key)
	return b
}

// nodeKey returns 'n' + id in a new slice.
func nodeKey(id []byte) []byte {
	b := make([]byte, 1+len(id))
	b[0] = nsNode
	copy(b[1:], id)
	return b
}

// maxRecordHeader is the longest value record header: type, expiry and
// version. The read cache keeps at least that much of a value it drops
// (storage.HeadBytes).
const maxRecordHeader = 17

var _ [storage.HeadBytes - maxRecordHeader]struct{} // maxRecordHeader <= storage.HeadBytes

// recordLen is the length of a value record with the given expiry and
// payload, version included.
func recordLen(expireAt int64, payload int) int {
	if expireAt != 0 {
		return 17 + payload
	}
	return 9 + payload
}

// appendRecordHeader appends a value record header to dst; the payload follows.
// The version field is left zero; txn.writeRaw stamps it.
func appendRecordHeader(dst []byte, typ byte, expireAt int64) []byte {
	if expireAt == 0 {
		dst = append(dst, typ|recHasVersion)
	} else {
		dst = append(dst, typ|recHasExpiry|recHasVersion)
		dst = binary.BigEndian.AppendUint64(dst, uint64(expireAt))
	}
	return append(dst, 0, 0, 0, 0, 0, 0, 0, 0)
}

// record is a decoded value record. payload aliases the stored bytes.
type record struct {
	typ      byte
	expireAt int64  // unix ms, 0 = no expiry
	version  uint64 // Raft index of the last write; 0 when the record has none
	payload  []byte
}

// decodeRecord decodes a value record.
func decodeRecord(b []byte) (record, bool) {
	if len(b) == 0 {
		return record{}, false
	}
	r := record{typ: b[0] & recTypeMask}
	if r.typ < typeString || r.typ > typeZSet {
		return record{}, false
	}
	rest := b[1:]
	if b[0]&recHasExpiry != 0 {
		if len(rest) < 8 {
			return record{}, false
		}
		r.expireAt = int64(binary.BigEndian.Uint64(rest))
		if r.expireAt <= 0 {
			return record{}, false
		}
		rest = rest[8:]
	}
	if b[0]&recHasVersion != 0 {
		if len(rest) < 8 {
			return record{}, false
		}
		r.version = binary.BigEndian.Uint64(rest)
		rest = rest[8:]
	}
	r.payload = rest
	return r, true
}

// withVersion returns the record b stamped with version idx: in place when b
// has a version field (records built by appendRecordHeader, which the txn
// owns), else in a copy. A record too short to hold its header is returned as
// it is.
func withVersion(b []byte, idx uint64) []byte {
	if len(b) == 0 {
		return b
	}
	off := 1
	if b[0]&recHasExpiry != 0 {
		off += 8
	}
	if len(b) < off {
		return b
	}
	if b[0]&recHasVersion != 0 {
		if len(b) < off+8 {
			return b
		}
		binary.BigEndian.PutUint64(b[off:], idx)
		return b
	}
	out := make([]byte, 0, len(b)+8)
	out = append(out, b[0]|recHasVersion)
	out = append(out, b[1:off]...)
	out = binary.BigEndian.AppendUint64(out, idx)
	return append(out, b[off:]...)
}

// expired reports whether a record with this expiry is gone at now.
func expired(expireAt, now int64) bool {
	return expireAt != 0 && expireAt <= now
}

const nodeMetaVersion byte = 1

// encodeNodeMeta encodes m: a version byte, then each field as a uvarint
// length and bytes.
func encodeNodeMeta(m NodeMeta) []byte {
	fields := [...]string{m.ID, m.RaftAddr, m.RESPAddr, m.RPCAddr, m.HTTPAddr}
	n := 1
	for _, f := range fields {
		n += uvarintLen(uint64(len(f))) + len(f)
	}
	b := make([]byte, 1, n)
	b[0] = nodeMetaVersion
	for _, f := range fields {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	return b
}

// decodeNodeMeta decodes a record written by encodeNodeMeta.
func decodeNodeMeta(b []byte) (NodeMeta, bool) {
	if len(b) == 0 || b[0] != nodeMetaVersion {
		return NodeMeta{}, false
	}
	b = b[1:]
	var fields [5]string
	for i := range fields {
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return NodeMeta{}, false
		}
		fields[i] = string(b[n : n+int(l)])
		b = b[n+int(l):]
	}
	if len(b) != 0 {
		return NodeMeta{}, false
	}
	return NodeMeta{ID: fields[0], RaftAddr: fields[1], RESPAddr: fields[2], RPCAddr: fields[3], HTTPAddr: fields[4]}, true
}

// bstr views b as a string without copying. Only for bytes that are never
// modified afterwards (keys the transaction built itself).
func bstr(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}
